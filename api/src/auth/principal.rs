//! The caller of an account-scoped endpoint: a bearer token, checked on every request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use mailroom_domain::Id;
use mailroom_domain::accounts::{Account, ApiKey, Scope, ScopeSet};
use mailroom_domain::audit::{Actor, ActorKind};

use crate::client::client_ip;

use crate::limits::{Limiter, RateLimitHeaders, Verdict};
use crate::problem::{ApiError, RateLimited};
use crate::state::AppState;

/// How long a replica trusts its last look at whether a key is revoked. A revoked key's
/// tokens stop working within this time (documented in docs/api.md).
pub const KEY_STATUS_TTL: Duration = Duration::from_secs(10);

/// An authenticated API caller: a token of one of the account's API keys, or the
/// operator's support staff under the account's grant.
#[derive(Debug, Clone)]
pub struct Principal {
    pub account_id: Id,
    pub key_id: Id,
    pub scopes: ScopeSet,
    /// Who this is in the audit log (with the request's IP).
    pub actor: Actor,
}

/// The account a support request names.
pub const ACCOUNT_HEADER: &str = "x-mailroom-account";

impl Principal {
    /// The operator's support staff (read-only: lists and contacts).
    pub fn is_support(&self) -> bool {
        self.actor.kind == ActorKind::Support
    }

    /// 403 unless the token carries `scope` (or `*`).
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.scopes.allows(scope) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this token lacks the `{}` scope",
                scope.as_str()
            )))
        }
    }
}

/// Remembers, per key, whether it was active when last checked.
#[derive(Default)]
pub struct KeyStatusCache {
    entries: Mutex<HashMap<Id, (bool, Instant)>>,
}

impl KeyStatusCache {
    fn get(&self, key: Id) -> Option<bool> {
        let entries = self.entries.lock().ok()?;
        entries
            .get(&key)
            .filter(|(_, at)| at.elapsed() < KEY_STATUS_TTL)
            .map(|(active, _)| *active)
    }

    fn put(&self, key: Id, active: bool) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() > 10_000 {
                entries.retain(|_, (_, at)| at.elapsed() < KEY_STATUS_TTL);
            }
            entries.insert(key, (active, Instant::now()));
        }
    }

    /// Forgets a key at once (this replica revoked it).
    pub fn forget(&self, key: Id) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(&key);
        }
    }
}

pub fn bearer_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer_token(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let ip = client_ip(req);
        let request = req.clone();
        let named_account = req
            .headers()
            .get(ACCOUNT_HEADER)
            .map(|v| v.to_str().unwrap_or_default().trim().to_owned());
        Box::pin(async move {
            let state =
                state.ok_or_else(|| ApiError::Internal("application state missing".into()))?;
            let token = token.ok_or_else(|| {
                ApiError::Unauthorized("send an access token: Authorization: Bearer <token>".into())
            })?;
            if state.settings.support_token_matches(&token) {
                return support(&state, named_account, ip).await;
            }
            let subject = state.tokens.verify(&token).ok_or_else(|| {
                ApiError::Unauthorized("the access token is invalid or expired".into())
            })?;
            if let Some(limiter) = &state.limits.per_key {
                let limit = per_key_limit(limiter, subject.key_id)?;
                request.extensions_mut().insert(limit);
            }
            let active = match state.key_status.get(subject.key_id) {
                Some(active) => active,
                None => {
                    let key_id = subject.key_id;
                    let active = state
                        .db(move |conn| ApiKey::is_active(conn, key_id))
                        .await?;
                    state.key_status.put(key_id, active);
                    active
                }
            };
            if !active {
                return Err(ApiError::Unauthorized(
                    "the API key of this token was revoked".into(),
                ));
            }
            tracing::Span::current()
                .record("account_id", tracing::field::display(subject.account_id));
            Ok(Principal {
                account_id: subject.account_id,
                key_id: subject.key_id,
                scopes: subject.scopes,
                actor: Actor {
                    kind: ActorKind::ApiKey,
                    id: Some(subject.key_id.to_string()),
                    ip,
                },
            })
        })
    }
}

/// Counts a request against its key's limit (`MAILROOM_RATE_LIMIT_PER_KEY`): the headers
/// the answer carries, or the 429.
fn per_key_limit(limiter: &Limiter<Id>, key_id: Id) -> Result<RateLimitHeaders, ApiError> {
    let headers = |remaining, reset| RateLimitHeaders {
        policy: "per-key",
        rate: limiter.rate(),
        remaining,
        reset,
    };
    match limiter.check(&key_id) {
        Verdict::Allowed { remaining, reset } => Ok(headers(remaining, reset)),
        Verdict::Refused { retry_after } => Err(ApiError::RateLimited(RateLimited {
            limit: "requests of this API key",
            retry_after,
            headers: Some(headers(0, retry_after)),
        })),
    }
}

/// The support credential: it reads the lists and contacts of the account named by the
/// `X-Mailroom-Account` header while that account's grant lasts, and nothing else.
async fn support(
    state: &AppState,
    named_account: Option<String>,
    ip: Option<String>,
) -> Result<Principal, ApiError> {
    let account_id: Id = named_account
        .as_deref()
        .and_then(|raw| raw.parse().ok())
        .ok_or_else(|| {
            ApiError::Forbidden(format!(
                "support access names the account in the {ACCOUNT_HEADER} header"
            ))
        })?;
    let account = state
        .db(move |conn| match Account::find(conn, account_id) {
            Ok(account) => Ok(Some(account)),
            Err(mailroom_domain::Error::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        })
        .await?;
    match account {
        Some(account) if account.grants_support_access() => {
            tracing::Span::current().record("account_id", tracing::field::display(account_id));
            Ok(Principal {
                account_id,
                key_id: Id::default(),
                scopes: ScopeSet::support(),
                actor: Actor {
                    kind: ActorKind::Support,
                    id: None,
                    ip,
                },
            })
        }
        _ => Err(ApiError::Forbidden(
            "this account grants no support access (or the grant has expired)".into(),
        )),
    }
}
