//! Deleting the calling account: a request starts a grace period
//! (`MAILROOM_ACCOUNT_DELETION_GRACE_DAYS`) in which the account sends nothing and can
//! cancel; after it, the retention purge erases the account and every row of it.

use actix_web::{HttpResponse, delete, web};
use mailroom_domain::accounts::{Account, Scope};
use mailroom_domain::audit::AuditRecord;
use mailroom_domain::{Id, Timestamp};
use serde::Serialize;
use utoipa::ToSchema;

use super::account::AccountView;
use crate::auth::Principal;
use crate::problem::ApiError;
use crate::state::AppState;

/// A pending deletion of the account.
#[derive(Serialize, ToSchema)]
pub struct AccountDeletion {
    pub account_id: Id,
    /// Always `pending`: until `due_at` the deletion can be cancelled.
    pub status: String,
    pub requested_at: Timestamp,
    /// When the account, its contacts, lists, consent ledger, campaigns, messages, events,
    /// webhooks, suppressions, imports, audit log and API keys are erased for good.
    pub due_at: Timestamp,
}

/// Asks for the account to be deleted. Nothing is sent from now on (sending campaigns
/// pause; new sends answer 409); after the grace period everything is erased. Asking
/// again answers the deletion already pending.
#[utoipa::path(
    tag = "account",
    responses(
        (status = 202, description = "Deletion scheduled", body = AccountDeletion),
    )
)]
#[delete("/account")]
pub async fn delete_account(
    principal: Principal,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::AccountWrite)?;
    let id = principal.account_id;
    let grace = state.settings.retention.deletion_grace();
    let account = state
        .db_audited(
            &principal,
            move |_: &Account| AuditRecord::new("account.deletion_requested", "account", Some(id)),
            move |conn| Account::request_deletion(conn, id, grace),
        )
        .await?;
    let (Some(requested_at), Some(due_at)) =
        (account.deletion_requested_at, account.deletion_due_at)
    else {
        return Err(ApiError::Internal(
            "a requested deletion has no due time".into(),
        ));
    };
    tracing::info!(account_id = %id, %due_at, "account deletion requested");
    Ok(HttpResponse::Accepted().json(AccountDeletion {
        account_id: id,
        status: "pending".into(),
        requested_at,
        due_at,
    }))
}

/// Cancels the pending deletion. Campaigns it paused stay paused until resumed.
#[utoipa::path(
    tag = "account",
    responses(
        (status = 200, description = "The account, no longer to be deleted", body = AccountView),
        (status = 404, description = "No deletion is pending"),
    )
)]
#[delete("/account/deletion")]
pub async fn cancel_account_deletion(
    principal: Principal,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::AccountWrite)?;
    let id = principal.account_id;
    let account = state
        .db_audited(
            &principal,
            move |_: &Account| AuditRecord::new("account.deletion_cancelled", "account", Some(id)),
            move |conn| Account::cancel_deletion(conn, id),
        )
        .await?;
    tracing::info!(account_id = %id, "account deletion cancelled");
    let defaults = &state.settings.operator.default_limits;
    Ok(HttpResponse::Ok().json(AccountView::new(account, defaults)?))
}
