//! `Idempotency-Key` on POSTs that create or send: the first answer is stored and a retry
//! with the same key and body gets it again (with `Idempotent-Replayed: true`) instead of
//! doing the work twice. The same key with another body is a 422; a retry while the first
//! request still runs is a 409.

use std::future::Future;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use mailroom_domain::idempotency::{self, Reservation, StoredResponse};
use serde::Serialize;

use crate::auth::Principal;
use crate::extract::BodyDigest;
use crate::problem::{ApiError, PROBLEM_JSON};
use crate::state::AppState;

pub const HEADER: &str = "idempotency-key";

/// The JSON answer of a handler that may be replayed.
pub struct Answer {
    pub status: StatusCode,
    pub body: serde_json::Value,
}

impl Answer {
    pub fn new(status: StatusCode, body: &impl Serialize) -> Result<Self, ApiError> {
        let body = serde_json::to_value(body).map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(Answer { status, body })
    }
}

/// Runs `work` at most once per `Idempotency-Key` (when the request has one).
pub async fn once<F, Fut>(
    state: &AppState,
    req: &HttpRequest,
    principal: &Principal,
    digest: &BodyDigest,
    work: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Answer, ApiError>>,
{
    let Some(key) = req.headers().get(HEADER) else {
        return work().await.map(respond);
    };
    let key = key
        .to_str()
        .map_err(|_| ApiError::invalid("Idempotency-Key", "must be visible ASCII"))?
        .to_owned();
    idempotency::validate_key(&key)?;
    let endpoint = format!(
        "{} {}",
        req.method(),
        req.match_pattern().unwrap_or_else(|| req.path().to_owned())
    );
    let scoped_hash = format!("{}:{}", req.path(), digest.0);
    let account = principal.account_id;
    let (e1, k1, h1) = (endpoint.clone(), key.clone(), scoped_hash.clone());
    match state
        .db(move |conn| idempotency::reserve(conn, account, &e1, &k1, &h1))
        .await?
    {
        Reservation::Fresh => {}
        Reservation::Replay(stored) => {
            let status = StatusCode::from_u16(stored.status_code).unwrap_or(StatusCode::OK);
            let content_type = if status.is_success() {
                "application/json"
            } else {
                PROBLEM_JSON
            };
            return Ok(HttpResponse::build(status)
                .content_type(content_type)
                .insert_header(("idempotent-replayed", "true"))
                .json(stored.body));
        }
        Reservation::InProgress => {
            return Err(ApiError::Conflict(
                "a request with this Idempotency-Key is still being processed".into(),
            ));
        }
        Reservation::Mismatch => {
            return Err(ApiError::invalid(
                "Idempotency-Key",
                "was already used for a different request",
            ));
        }
    }
    let outcome = work().await;
    let stored = match &outcome {
        Ok(answer) => Some(StoredResponse {
            status_code: answer.status.as_u16(),
            body: answer.body.clone(),
        }),
        // A client error is the answer to this request; a server error may pass on retry.
        Err(e) if actix_web::ResponseError::status_code(e).is_client_error() => {
            Some(StoredResponse {
                status_code: actix_web::ResponseError::status_code(e).as_u16(),
                body: serde_json::to_value(e.problem()).unwrap_or_default(),
            })
        }
        Err(_) => None,
    };
    let saved = state
        .db(move |conn| match stored {
            Some(response) => idempotency::store(conn, account, &endpoint, &key, &response),
            None => idempotency::release(conn, account, &endpoint, &key),
        })
        .await;
    if let Err(e) = saved {
        tracing::warn!(error = %e, "storing an idempotent response failed");
    }
    outcome.map(respond)
}

fn respond(answer: Answer) -> HttpResponse {
    HttpResponse::build(answer.status).json(answer.body)
}
