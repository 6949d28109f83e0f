//! The sandbox mailbox: what would have been sent, when no `SMTP_URL` is configured.

use actix_web::{HttpResponse, get, web};
use mailroom_domain::messages::{SandboxMessage, visible_kinds};
use mailroom_domain::pagination::Page;

use super::api_keys::PageQuery;
use crate::auth::Principal;
use crate::extract::ApiQuery;
use crate::problem::ApiError;
use crate::state::AppState;

/// Lists the messages the sandbox mailbox caught, oldest first, with their full MIME.
/// Each shows its recipient, so a token sees the mail it could otherwise read: with
/// `contacts:read` all of it; else campaign and test mail with `campaigns:read`, and
/// transactional mail with `send` (403 with none of the three).
#[utoipa::path(tag = "send", params(PageQuery), responses((status = 200, description = "A page of captured messages", body = Page<SandboxMessage>)))]
#[get("/sandbox/messages")]
pub async fn list_sandbox_messages(
    principal: Principal,
    state: web::Data<AppState>,
    query: ApiQuery<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    // Support staff read lists and contacts, not mail.
    let kinds = if principal.is_support() {
        Vec::new()
    } else {
        visible_kinds(&principal.scopes)
    };
    if kinds.is_empty() {
        return Err(ApiError::Forbidden(
            "the sandbox mailbox needs `contacts:read`, `campaigns:read` or `send`".into(),
        ));
    }
    let page = query.page()?;
    let account = principal.account_id;
    let messages = state
        .db(move |conn| SandboxMessage::list(conn, account, &kinds, &page))
        .await?;
    Ok(HttpResponse::Ok().json(messages))
}
