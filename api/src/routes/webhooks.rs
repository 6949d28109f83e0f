//! Webhook endpoints: where the account's events are delivered, their signing secrets,
//! their delivery log, and test deliveries.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use mailroom_domain::accounts::Scope;
use mailroom_domain::pagination::Page;
use mailroom_domain::webhooks::{
    AllowPrivate, DeliveryStatus, NewWebhook, Webhook, WebhookChanges, WebhookDelivery,
    WebhookWithSecret,
};
use mailroom_domain::{Id, Timestamp, clock};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::api_keys::PageQuery;
use crate::auth::Principal;
use crate::extract::{ApiJson, ApiQuery};
use crate::problem::ApiError;
use crate::state::AppState;

/// An event type an endpoint can subscribe to, or `*` for every type (including types
/// added later).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // documents the accepted strings in the OpenAPI document
pub enum WebhookEventType {
    Sent,
    Deferred,
    Bounce,
    Blocked,
    Open,
    Click,
    Unsub,
    Spam,
    /// A sending domain's status changed at its periodic check (see `SendingDomainView`).
    #[serde(rename = "domain.status_changed")]
    DomainStatusChanged,
    #[serde(rename = "*")]
    All,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookView {
    pub id: Id,
    pub url: String,
    /// The event types delivered, or `["*"]` for all.
    #[schema(value_type = Vec<WebhookEventType>)]
    pub event_types: Vec<String>,
    pub enabled: bool,
    /// Why Mailroom disabled the endpoint (its receiver answered `410 Gone`); `null`
    /// otherwise. Enabling the endpoint again clears it.
    pub disabled_reason: Option<String>,
    /// After a rotation: until when the previous secret still signs deliveries (beside the
    /// new one); `null` when only one secret signs.
    pub previous_secret_expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// An endpoint with the secret just made for it: the only answers that carry it (create
/// and rotate).
#[derive(Serialize, ToSchema)]
pub struct WebhookWithSecretView {
    pub id: Id,
    pub url: String,
    #[schema(value_type = Vec<WebhookEventType>)]
    pub event_types: Vec<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub previous_secret_expires_at: Option<Timestamp>,
    /// `whsec_…` (Standard Webhooks): verify deliveries with it. Store it now: it is never
    /// shown again.
    pub secret: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<&Webhook> for WebhookView {
    fn from(w: &Webhook) -> Self {
        WebhookView {
            id: w.id,
            url: w.url.clone(),
            event_types: w.event_type_names(),
            enabled: w.enabled,
            disabled_reason: w.disabled_reason.clone(),
            previous_secret_expires_at: w.previous_secret_expires_at(clock::now()),
            created_at: w.created_at,
            updated_at: w.updated_at,
        }
    }
}

impl From<WebhookWithSecret> for WebhookWithSecretView {
    fn from(made: WebhookWithSecret) -> Self {
        let view = WebhookView::from(&made.webhook);
        WebhookWithSecretView {
            id: view.id,
            url: view.url,
            event_types: view.event_types,
            enabled: view.enabled,
            disabled_reason: view.disabled_reason,
            previous_secret_expires_at: view.previous_secret_expires_at,
            secret: made.secret.to_string(),
            created_at: view.created_at,
            updated_at: view.updated_at,
        }
    }
}

/// One event's delivery to one endpoint.
#[derive(Serialize, ToSchema)]
pub struct WebhookDeliveryView {
    /// Also the `webhook-id` header of every attempt: the same on retries.
    pub id: Id,
    pub webhook_id: Id,
    pub event_id: Id,
    /// The event's type, or `test` for a test delivery.
    pub event_type: String,
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: i32,
    /// The HTTP status of the last attempt; `null` when it got no answer (timeout,
    /// connection refused, address refused).
    pub response_code: Option<i32>,
    /// How long the last attempt took, in milliseconds.
    pub latency_ms: Option<i32>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the next attempt is due (`pending` deliveries).
    pub next_attempt_at: Option<Timestamp>,
    /// The body sent: `{"type", "timestamp", "data"}`.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<WebhookDelivery> for WebhookDeliveryView {
    fn from(d: WebhookDelivery) -> Self {
        WebhookDeliveryView {
            status: d.status(),
            id: d.id,
            webhook_id: d.webhook_id,
            event_id: d.event_id,
            event_type: d.event_type,
            attempts: d.attempts,
            response_code: d.response_code,
            latency_ms: d.latency_ms,
            last_error: d.last_error,
            next_attempt_at: d.next_attempt_at,
            payload: d.payload.0,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// An `http` or `https` URL on a public address (at most 2048 characters, no user
    /// name or password). Redirects are not followed. The pattern admits host names; the
    /// server also takes IP literals of public addresses, and refuses `localhost`.
    // The same pattern on `UpdateWebhook::url`: utoipa takes only a literal.
    #[schema(
        max_length = 2048,
        pattern = r"^[Hh][Tt][Tt][Pp][Ss]?://([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}(:[0-9]{1,4})?(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?(\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?$"
    )]
    pub url: String,
    /// The event types to deliver (at least one), or `["*"]` for all.
    #[schema(value_type = Vec<WebhookEventType>, min_items = 1)]
    pub event_types: Vec<String>,
    /// Default true.
    pub enabled: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    /// As for `POST /v1/webhooks`.
    #[schema(
        max_length = 2048,
        pattern = r"^[Hh][Tt][Tt][Pp][Ss]?://([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}(:[0-9]{1,4})?(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?(\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?$"
    )]
    pub url: Option<String>,
    #[schema(value_type = Option<Vec<WebhookEventType>>, min_items = 1)]
    pub event_types: Option<Vec<String>>,
    /// Enabling an endpoint Mailroom disabled clears `disabled_reason`; events that
    /// happened while it was disabled are not delivered.
    pub enabled: Option<bool>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// Only deliveries in this state.
    pub status: Option<DeliveryStatus>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

fn allow_private(state: &AppState) -> AllowPrivate {
    AllowPrivate(state.settings.webhooks.allow_private)
}

/// Creates an endpoint. The answer holds its signing secret, shown this once.
#[utoipa::path(
    tag = "webhooks",
    request_body = CreateWebhook,
    responses((status = 201, description = "Endpoint created", body = WebhookWithSecretView))
)]
#[post("/webhooks")]
pub async fn create_webhook(
    principal: Principal,
    state: web::Data<AppState>,
    body: ApiJson<CreateWebhook>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::WebhooksWrite)?;
    let CreateWebhook {
        url,
        event_types,
        enabled,
    } = body.0;
    let new = NewWebhook {
        url,
        event_types,
        enabled: enabled.unwrap_or(true),
    };
    let (account, allow) = (principal.account_id, allow_private(&state));
    let sealer = state.secret_box.clone();
    let made = state
        .db(move |conn| Webhook::create(conn, account, new, allow, &sealer))
        .await?;
    Ok(HttpResponse::Created().json(WebhookWithSecretView::from(made)))
}

/// Lists the account's endpoints, oldest first (never their secrets).
#[utoipa::path(tag = "webhooks", params(PageQuery), responses((status = 200, description = "A page of endpoints", body = Page<WebhookView>)))]
#[get("/webhooks")]
pub async fn list_webhooks(
    principal: Principal,
    state: web::Data<AppState>,
    query: ApiQuery<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::WebhooksRead)?;
    let page = query.page()?;
    let account = principal.account_id;
    let webhooks = state
        .db(move |conn| Webhook::list(conn, account, &page))
        .await?;
    Ok(HttpResponse::Ok().json(webhooks.map(|w| WebhookView::from(&w))))
}

/// Shows an endpoint.
#[utoipa::path(tag = "webhooks", params(("id" = Id, Path)), responses((status = 200, description = "The endpoint", body = WebhookView)))]
#[get("/webhooks/{id}")]
pub async fn get_webhook(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Id>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::WebhooksRead)?;
    let (account, id) = (principal.account_id, id.into_inner());
    let webhook = state
        .db(move |conn| Webhook::find(conn, account, id))
        .await?;
    Ok(HttpResponse::Ok().json(WebhookView::from(&webhook)))
}

/// Changes an endpoint's URL, event types, or whether it is enabled.
#[utoipa::path(tag = "webhooks", params(("id" = Id, Path)), request_body = UpdateWebhook, responses((status = 200, description = "The updated endpoint", body = WebhookView)))]
#[patch("/webhooks/{id}")]
pub async fn update_webhook(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Id>,
    body: ApiJson<UpdateWebhook>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::WebhooksWrite)?;
    let UpdateWebhook {
        url,
        event_types,
        enabled,
    } = body.0;
    let changes = WebhookChanges {
        url,
        event_types,
        enabled,
    };
    let (account, id, allow) = (principal.account_id, id.into_inner(), allow_private(&state));
    let webhook = state
        .db(move |conn| Webhook::update(conn, account, id, changes, allow))
        .await?;
    Ok(HttpResponse::Ok().json(WebhookView::from(&webhook)))
}

/// Deletes an endpoint and its delivery log; deliveries still queued are dropped.
#[utoipa::path(tag = "webhooks", params(("id" = Id, Path)), responses((status = 204, description = "Endpoint deleted")))]
#[delete("/webhooks/{id}")]
pub async fn delete_webhook(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Id>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::WebhooksWrite)?;
    let (account, id) = (principal.account_id, id.into_inner());
    state
        .db(move |conn| Webhook::delete(conn, account, id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Makes a new signing secret, shown this once. The previous secret keeps signing beside
/// it for a grace period (`previous_secret_expires_at`; `MAILROOM_WEBHOOK_SECRET_GRACE_SECS`,
/// default 24 hours): meanwhile every delivery carries both signatures.
#[utoipa::path(tag = "webhooks", params(("id" = Id, Path)), responses((status = 200, description = "The endpoint with its new secret", body = WebhookWithSecretView)))]
#[post("/webhooks/{id}/rotate-secret")]
pub async fn rotate_webhook_secret(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Id>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::WebhooksWrite)?;
    let (account, id) = (principal.account_id, id.into_inner());
    let grace = state.settings.webhooks.secret_grace;
    let sealer = state.secret_box.clone();
    let rotated = state
        .db(move |conn| Webhook::rotate_secret(conn, account, id, grace, &sealer))
        .await?;
    Ok(HttpResponse::Ok().json(WebhookWithSecretView::from(rotated)))
}

/// The endpoint's delivery log, newest first: each delivery's status, attempts, last
/// response code, latency and error.
#[utoipa::path(tag = "webhooks", params(("id" = Id, Path), DeliveryQuery), responses((status = 200, description = "A page of deliveries", body = Page<WebhookDeliveryView>)))]
#[get("/webhooks/{id}/deliveries")]
pub async fn list_webhook_deliveries(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Id>,
    query: ApiQuery<DeliveryQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::WebhooksRead)?;
    let query = query.into_inner();
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    }
    .page()?;
    let (account, id, status) = (principal.account_id, id.into_inner(), query.status);
    let deliveries = state
        .db(move |conn| WebhookDelivery::list(conn, account, id, status, &page))
        .await?;
    Ok(HttpResponse::Ok().json(deliveries.map(WebhookDeliveryView::from)))
}

/// Queues a test delivery: `{"type": "test", "timestamp", "data": {"event_id", …}}` with
/// the recipient fields `null`, signed and retried like any other delivery, and sent
/// whatever types the endpoint subscribed to — even while it is disabled, to check a
/// receiver before enabling it again. Follow it in the delivery log.
#[utoipa::path(tag = "webhooks", params(("id" = Id, Path)), responses((status = 202, description = "Test delivery queued", body = WebhookDeliveryView)))]
#[post("/webhooks/{id}/test")]
pub async fn test_webhook(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Id>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::WebhooksWrite)?;
    let (account, id) = (principal.account_id, id.into_inner());
    let delivery = state
        .db(move |conn| WebhookDelivery::queue_test(conn, account, id))
        .await?;
    Ok(HttpResponse::Accepted().json(WebhookDeliveryView::from(delivery)))
}
