//! Probes: `/healthz` (the process is up) and `/readyz` (it can reach its database).

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
}

/// The process is up.
#[utoipa::path(tag = "operations", responses((status = 200, description = "Alive", body = Health)), security(()))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok".into(),
        database: None,
    })
}

/// Ready for traffic: 200 while the database answers, 503 when it does not.
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
    match check {
        Ok(Ok(())) => HttpResponse::Ok().json(Health {
            status: "ready".into(),
            database: Some("ok".into()),
        }),
        Ok(Err(reason)) => {
            tracing::warn!(%reason, "readiness check failed");
            HttpResponse::ServiceUnavailable().json(Health {
                status: "unavailable".into(),
                database: Some(reason),
            })
        }
        Err(_) => HttpResponse::ServiceUnavailable().json(Health {
            status: "unavailable".into(),
            database: Some("check failed".into()),
        }),
    }
}
