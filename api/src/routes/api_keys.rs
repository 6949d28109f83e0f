//! An account's API keys.

use actix_web::{HttpResponse, delete, get, post, web};
use mailroom_domain::accounts::{ApiKey, IssuedApiKey, Scope, ScopeSet};
use mailroom_domain::audit::AuditRecord;
use mailroom_domain::pagination::{Page, PageRequest};
use mailroom_domain::{Id, Timestamp};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Principal;
use crate::extract::{ApiJson, ApiQuery};
use crate::problem::ApiError;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct ApiKeyView {
    pub id: Id,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub created_at: Timestamp,
}

/// A key as created: the only answer that carries its secret.
#[derive(Serialize, ToSchema)]
pub struct NewApiKeyView {
    pub id: Id,
    pub name: String,
    /// Store it now: it is never shown again.
    pub secret: String,
    pub scopes: Vec<Scope>,
    pub created_at: Timestamp,
}

impl From<ApiKey> for ApiKeyView {
    fn from(key: ApiKey) -> Self {
        ApiKeyView {
            scopes: key.scope_set().as_slice().to_vec(),
            id: key.id,
            name: key.name,
            created_at: key.created_at,
        }
    }
}

impl From<IssuedApiKey> for NewApiKeyView {
    fn from(issued: IssuedApiKey) -> Self {
        NewApiKeyView {
            scopes: issued.key.scope_set().as_slice().to_vec(),
            secret: issued.secret.expose_secret().to_owned(),
            id: issued.key.id,
            name: issued.key.name,
            created_at: issued.key.created_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// 1–200 characters, not blank.
    #[schema(min_length = 1, max_length = 200, example = "CRM sync")]
    pub name: String,
    /// At least one; never more than the calling token holds.
    #[schema(min_items = 1, example = json!(["contacts:read", "contacts:write"]))]
    pub scopes: Vec<Scope>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1–500 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        Ok(PageRequest::parse(self.limit, self.cursor.as_deref())?)
    }
}

/// Lists the account's active API keys (never their secrets).
#[utoipa::path(tag = "api_keys", params(PageQuery), responses((status = 200, description = "A page of keys", body = Page<ApiKeyView>)))]
#[get("/api-keys")]
pub async fn list_api_keys(
    principal: Principal,
    state: web::Data<AppState>,
    query: ApiQuery<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::ApiKeysRead)?;
    let page = query.page()?;
    let account = principal.account_id;
    let keys = state
        .db(move |conn| ApiKey::list(conn, account, &page))
        .await?;
    Ok(HttpResponse::Ok().json(keys.map(ApiKeyView::from)))
}

/// Shows one API key.
#[utoipa::path(tag = "api_keys", params(("id" = Id, Path)), responses((status = 200, description = "The key", body = ApiKeyView)))]
#[get("/api-keys/{id}")]
pub async fn get_api_key(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Id>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::ApiKeysRead)?;
    let (account, id) = (principal.account_id, id.into_inner());
    let key = state
        .db(move |conn| ApiKey::find(conn, account, id))
        .await?;
    Ok(HttpResponse::Ok().json(ApiKeyView::from(key)))
}

/// Creates an API key. The answer holds its secret, shown this once.
#[utoipa::path(
    tag = "api_keys",
    request_body = CreateApiKey,
    responses((status = 201, description = "Key created", body = NewApiKeyView))
)]
#[post("/api-keys")]
pub async fn create_api_key(
    principal: Principal,
    state: web::Data<AppState>,
    body: ApiJson<CreateApiKey>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::ApiKeysWrite)?;
    let CreateApiKey { name, scopes } = body.0;
    let scopes = ScopeSet::new(scopes);
    if !principal.scopes.covers(&scopes) {
        return Err(ApiError::Forbidden(
            "a key cannot be given scopes its creator does not hold".into(),
        ));
    }
    let account = principal.account_id;
    let issued = state
        .db_audited(
            &principal,
            |i: &IssuedApiKey| AuditRecord::new("api_key.created", "api_key", Some(i.key.id)),
            move |conn| {
                let issued = ApiKey::prepare(account, &name, scopes)?;
                issued.key.insert(conn)?;
                Ok(issued)
            },
        )
        .await?;
    Ok(HttpResponse::Created().json(NewApiKeyView::from(issued)))
}

/// Revokes an API key: it can mint no more tokens, and its tokens stop working within
/// ten seconds. The calling token needs `api_keys:write` and every scope the key holds
/// (403 `forbidden` otherwise, naming the scopes it lacks).
#[utoipa::path(tag = "api_keys", params(("id" = Id, Path)), responses((status = 204, description = "Key revoked")))]
#[delete("/api-keys/{id}")]
pub async fn revoke_api_key(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Id>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::ApiKeysWrite)?;
    let (account, id) = (principal.account_id, id.into_inner());
    let revoker = principal.scopes.clone();
    state
        .db_audited(
            &principal,
            move |_: &()| AuditRecord::new("api_key.revoked", "api_key", Some(id)),
            move |conn| ApiKey::revoke(conn, account, id, &revoker),
        )
        .await?;
    state.key_status.forget(id);
    Ok(HttpResponse::NoContent().finish())
}
