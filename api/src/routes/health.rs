//! Probes: `/healthz` (the process is up) and `/readyz` (it can reach its database; a
//! broker outage degrades the API but does not stop it taking requests).

use std::time::Duration;

use actix_web::{HttpResponse, get, web};
use diesel::connection::SimpleConnection;
use serde::Serialize;

use crate::state::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`, `ready` or `unavailable`.
    pub status: String,
    /// Per dependency: `ok`, or why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// Scale-out only: `ok`, or `degraded: <why>` while RabbitMQ is unreachable. Requests
    /// are still accepted then; their jobs wait in the outbox until the broker is back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker: Option<String>,
}

/// The process is up.
#[utoipa::path(tag = "operations", responses((status = 200, description = "Alive", body = Health)), security(()))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok".into(),
        database: None,
        broker: None,
    })
}

/// Ready for traffic: 200 while the database answers, 503 when it does not. An unreachable
/// broker is reported as `degraded` but keeps the answer 200: jobs wait in the outbox.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "A dependency is unreachable", body = Health),
    ),
    security(())
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let pool = state.pool.clone();
    let check = web::block(move || {
        let mut conn = pool
            .get_timeout(Duration::from_secs(2))
            .map_err(|e| format!("unreachable: {e}"))?;
        conn.batch_execute("SELECT 1")
            .map_err(|e| format!("error: {e}"))
    })
    .await;
    let broker = state.broker.as_ref().map(|b| b.borrow().describe());
    match check {
        Ok(Ok(())) => HttpResponse::Ok().json(Health {
            status: "ready".into(),
            database: Some("ok".into()),
            broker,
        }),
        Ok(Err(reason)) => {
            tracing::warn!(%reason, "readiness check failed");
            HttpResponse::ServiceUnavailable().json(Health {
                status: "unavailable".into(),
                database: Some(reason),
                broker,
            })
        }
        Err(_) => HttpResponse::ServiceUnavailable().json(Health {
            status: "unavailable".into(),
            database: Some("check failed".into()),
            broker,
        }),
    }
}
