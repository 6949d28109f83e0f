//! Exchanging an API key for an access token.
//!
//! Attempts are limited per client address, then per key id (429 `rate_limited` with
//! `Retry-After`); the key's hash is read on a database connection that is given back
//! before the secret is checked, and the check (argon2) runs on one of a few verifier
//! threads (see `limits`).

use actix_web::{HttpRequest, HttpResponse, post, web};
use mailroom_domain::Id;
use mailroom_domain::accounts::ApiKey;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::client::client_addr;
use crate::extract::ApiJson;
use crate::limits::{Verdict, address_key};
use crate::problem::{ApiError, RateLimited};
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub key_id: Id,
    #[schema(value_type = String)]
    pub secret: SecretString,
}

#[derive(Serialize, ToSchema)]
pub struct AccessToken {
    /// A JWT to send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: u64,
    pub scopes: Vec<String>,
}

/// Exchanges an API key id and secret for a short-lived access token.
#[utoipa::path(
    tag = "auth",
    request_body = TokenRequest,
    responses(
        (status = 200, description = "Token issued", body = AccessToken),
        (status = 401, description = "Unknown key id, wrong secret, or revoked key", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts from this client address or for this key id, or too many verifications waiting (`rate_limited`); retry after `Retry-After` seconds"),
    ),
    security(())
)]
#[post("/auth/token")]
pub async fn issue_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: ApiJson<TokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let TokenRequest { key_id, secret } = body.0;
    let limits = &state.limits;
    if let (Some(limiter), Some(ip)) = (&limits.auth_per_address, client_addr(&req)) {
        refuse_over(
            limiter.check(&address_key(ip)),
            "attempts from this client address",
        )?;
    }
    if let Some(limiter) = &limits.auth_per_key {
        refuse_over(limiter.check(&key_id), "attempts for this key id")?;
    }
    let credentials = state
        .db(move |conn| ApiKey::credentials(conn, key_id))
        .await?;
    let verified = limits
        .verifier
        .check(credentials, secret)
        .await?
        .ok_or_else(|| {
            ApiError::Unauthorized("unknown key id, wrong secret, or revoked key".into())
        })?;
    let access_token = state
        .tokens
        .issue(verified.key_id, verified.account_id, &verified.scopes)
        .map_err(|e| ApiError::Internal(format!("signing a token failed: {e}")))?;
    Ok(HttpResponse::Ok().json(AccessToken {
        access_token,
        token_type: "Bearer".into(),
        expires_in: state.tokens.lifetime.as_secs(),
        scopes: verified.scopes.names(),
    }))
}

/// A 429 for an attempt over a limit.
fn refuse_over(verdict: Verdict, limit: &'static str) -> Result<(), ApiError> {
    match verdict {
        Verdict::Allowed { .. } => Ok(()),
        Verdict::Refused { retry_after } => Err(ApiError::RateLimited(RateLimited {
            limit,
            retry_after,
            headers: None,
        })),
    }
}
