//! Exchanging an API key for an access token.

use actix_web::{HttpResponse, post, web};
use mailroom_domain::Id;
use mailroom_domain::accounts::ApiKey;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::extract::ApiJson;
use crate::problem::ApiError;
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
    ),
    security(())
)]
#[post("/auth/token")]
pub async fn issue_token(
    state: web::Data<AppState>,
    body: ApiJson<TokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let TokenRequest { key_id, secret } = body.0;
    let verified = state
        .db(move |conn| ApiKey::verify(conn, key_id, &secret))
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
