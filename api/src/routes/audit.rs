//! The account's audit log (append-only): who did what to which resource, when, from
//! where.

use actix_web::{HttpResponse, get, web};
use mailroom_domain::accounts::Scope;
use mailroom_domain::audit::{ActorKind, AuditEvent, AuditQuery};
use mailroom_domain::pagination::Page;
use mailroom_domain::{Id, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::api_keys::PageQuery;
use crate::auth::Principal;
use crate::extract::ApiQuery;
use crate::problem::ApiError;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct AuditActorView {
    #[serde(rename = "type")]
    pub kind: ActorKind,
    /// The API key's id (`api_key`); absent for the others.
    pub id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditResourceView {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditEventView {
    pub id: Id,
    pub actor: AuditActorView,
    /// `<resource>.<verb>`: `contact.created`, `contact.updated`, `contact.deleted`,
    /// `member.added`, `member.removed`, `member.unsubscribed`, `consent.recorded`,
    /// `suppression.added`, `list.exported`, `account.updated`, `api_key.created`, and the
    /// support reads `contact.read`, `contact.listed`, `list.read`, `list_member.listed`, …
    pub action: String,
    pub resource: AuditResourceView,
    /// Where the request came from.
    pub ip: Option<String>,
    /// What changed, by field name (never by value), and other particulars.
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
    pub created_at: Timestamp,
}

impl From<AuditEvent> for AuditEventView {
    fn from(e: AuditEvent) -> Self {
        AuditEventView {
            id: e.id,
            actor: AuditActorView {
                kind: ActorKind::parse(&e.actor_type).unwrap_or(ActorKind::System),
                id: e.actor_id,
            },
            action: e.action,
            resource: AuditResourceView {
                kind: e.resource_type,
                id: e.resource_id,
            },
            ip: e.ip,
            details: e.details.map(|d| d.0),
            created_at: e.created_at,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    /// `api_key`, `operator`, `support`, `recipient` or `system`.
    pub actor: Option<ActorKind>,
    /// An API key's id.
    pub actor_id: Option<String>,
    /// An action (`contact.updated`) or a family ending in a dot (`contact.`).
    pub action: Option<String>,
    /// A resource type (`contact`, `list`, …).
    pub resource: Option<String>,
    pub resource_id: Option<String>,
    /// Entries at or after this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub since: Option<Timestamp>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The audit log, oldest first, with filters.
#[utoipa::path(
    tag = "audit",
    params(AuditFilter),
    responses((status = 200, description = "A page of audit entries", body = Page<AuditEventView>))
)]
#[get("/audit-events")]
pub async fn list_audit_events(
    principal: Principal,
    state: web::Data<AppState>,
    filter: ApiQuery<AuditFilter>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::AuditRead)?;
    let f = filter.into_inner();
    let page = PageQuery {
        limit: f.limit,
        cursor: f.cursor,
    }
    .page()?;
    let query = AuditQuery {
        actor: f.actor,
        actor_id: f.actor_id,
        action: f.action,
        resource_type: f.resource,
        resource_id: f.resource_id,
        since: f.since,
    };
    let account = principal.account_id;
    let entries = state
        .db(move |conn| query.run(conn, account, &page))
        .await?;
    Ok(HttpResponse::Ok().json(entries.map(AuditEventView::from)))
}
