//! The operator's audit log: every action of the operator on an account, and every
//! automatic suspension, across the installation.

use actix_web::{HttpResponse, get, web};
use mailroom_domain::Id;
use mailroom_domain::audit::AuditQuery;
use mailroom_domain::pagination::Page;
use serde::Serialize;
use utoipa::ToSchema;

use super::api_keys::PageQuery;
use super::audit::AuditEventView;
use crate::auth::Operator;
use crate::extract::ApiQuery;
use crate::problem::ApiError;
use crate::state::AppState;

/// An entry of the operator's audit log: the account it concerns, and the entry.
#[derive(Serialize, ToSchema)]
pub struct OperatorAuditEventView {
    pub account_id: Id,
    #[serde(flatten)]
    pub entry: AuditEventView,
}

/// The operator's audit log, oldest first: `account.created`, `account.listed` (the
/// account was on a page of `GET /v1/admin/accounts`), `account.read`,
/// `account.limits_changed`, `account.suspended`, `account.resumed`, and
/// `account.suspended_automatically` (the automatic protection).
#[utoipa::path(
    tag = "admin",
    params(PageQuery),
    responses((status = 200, description = "A page of audit entries", body = Page<OperatorAuditEventView>)),
    security(("admin_token" = []))
)]
#[get("/admin/audit-events")]
pub async fn list_operator_audit_events(
    _operator: Operator,
    state: web::Data<AppState>,
    query: ApiQuery<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let entries = state
        .db(move |conn| AuditQuery::operator_log(conn, &page))
        .await?;
    Ok(
        HttpResponse::Ok().json(entries.map(|e| OperatorAuditEventView {
            account_id: e.account_id,
            entry: AuditEventView::from(e),
        })),
    )
}
