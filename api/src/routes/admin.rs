//! Operator endpoint: creating accounts (the others are in `admin_accounts`).

use actix_web::{HttpResponse, post, web};
use mailroom_domain::accounts::Account;
use mailroom_domain::audit::{self, AuditRecord};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::api_keys::NewApiKeyView;
use crate::auth::Operator;
use crate::extract::ApiJson;
use crate::problem::ApiError;
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccount {
    /// A name for the account (1–200 characters, not blank).
    #[schema(min_length = 1, max_length = 200, example = "Shop")]
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedAccount {
    pub account: Account,
    /// The account's first key, with scope `*`. Its secret is shown only here.
    pub api_key: NewApiKeyView,
}

/// Creates an account and its first API key.
#[utoipa::path(
    tag = "admin",
    request_body = CreateAccount,
    responses((status = 201, description = "Account created", body = CreatedAccount)),
    security(("admin_token" = []))
)]
#[post("/admin/accounts")]
pub async fn create_account(
    operator: Operator,
    state: web::Data<AppState>,
    body: ApiJson<CreateAccount>,
) -> Result<HttpResponse, ApiError> {
    let name = body.0.name;
    let actor = operator.actor();
    let (account, issued) = state
        .db(move |conn| {
            conn.write_transaction(|conn| {
                let (account, issued) = Account::create_with_key(conn, &name)?;
                let record = AuditRecord::new("account.created", "account", Some(account.id));
                audit::record(conn, account.id, &actor, record)?;
                Ok::<_, mailroom_domain::Error>((account, issued))
            })
        })
        .await?;
    tracing::info!(account_id = %account.id, "account created");
    Ok(HttpResponse::Created().json(CreatedAccount {
        account,
        api_key: NewApiKeyView::from(issued),
    }))
}
