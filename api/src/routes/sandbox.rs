//! The sandbox mailbox: what would have been sent, when no `SMTP_URL` is configured.

use actix_web::{HttpResponse, get, web};
use mailroom_domain::accounts::Scope;
use mailroom_domain::messages::SandboxMessage;
use mailroom_domain::pagination::Page;

use super::api_keys::PageQuery;
use crate::auth::Principal;
use crate::extract::ApiQuery;
use crate::problem::ApiError;
use crate::state::AppState;

/// Lists the messages the sandbox mailbox caught, oldest first, with their full MIME.
#[utoipa::path(tag = "send", params(PageQuery), responses((status = 200, description = "A page of captured messages", body = Page<SandboxMessage>)))]
#[get("/sandbox/messages")]
pub async fn list_sandbox_messages(
    principal: Principal,
    state: web::Data<AppState>,
    query: ApiQuery<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::CampaignsRead)?;
    let page = query.page()?;
    let account = principal.account_id;
    let messages = state
        .db(move |conn| SandboxMessage::list(conn, account, &page))
        .await?;
    Ok(HttpResponse::Ok().json(messages))
}
