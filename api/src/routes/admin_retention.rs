//! Operator endpoint: queue a retention purge now, optionally "as of" another time (to
//! see what a purge at that time removes, or to test retention without waiting for it).

use actix_web::{HttpResponse, post, web};
use mailroom_domain::jobs::{Enqueue, Job, JobRow, Priority};
use mailroom_domain::{Id, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Operator;
use crate::extract::ApiJson;
use crate::problem::ApiError;
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionPurgeRequest {
    /// Purge as if it were this time (RFC 3339); default: when the purge runs. Records
    /// older than this time minus each account's retention go, and accounts whose deletion
    /// is due by then are erased.
    #[serde(default)]
    pub as_of: Option<Timestamp>,
}

#[derive(Serialize, ToSchema)]
pub struct QueuedRetentionPurge {
    /// The `retention.purge` job.
    pub job_id: Id,
    pub as_of: Option<Timestamp>,
}

/// Queues a retention purge of every account.
#[utoipa::path(
    tag = "admin",
    request_body = RetentionPurgeRequest,
    responses((status = 202, description = "Purge queued", body = QueuedRetentionPurge)),
    security(("admin_token" = []))
)]
#[post("/admin/retention/purge")]
pub async fn purge_retention(
    _operator: Operator,
    state: web::Data<AppState>,
    body: ApiJson<RetentionPurgeRequest>,
) -> Result<HttpResponse, ApiError> {
    let as_of = body.0.as_of;
    let job_id = state
        .db(move |conn| {
            let options = Enqueue {
                priority: Priority::URGENT,
                ..Enqueue::default()
            };
            JobRow::enqueue(conn, &Job::PurgeRetention { as_of }, options)
        })
        .await?;
    tracing::info!(job = %job_id, as_of = ?as_of.map(|t| t.to_string()), "retention purge queued by the operator");
    Ok(HttpResponse::Accepted().json(QueuedRetentionPurge { job_id, as_of }))
}
