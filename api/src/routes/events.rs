//! The account's event log: what happened to its messages after they left.

use actix_web::{HttpResponse, get, web};
use mailroom_domain::accounts::Scope;
use mailroom_domain::events::{Event, EventQuery, EventType};
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
pub struct EventView {
    pub id: Id,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub occurred_at: Timestamp,
    pub message_id: Option<Id>,
    pub campaign_id: Option<Id>,
    pub contact_id: Option<Id>,
    pub email: Option<String>,
    /// The `custom_id` given to `POST /v1/send`.
    pub custom_id: Option<String>,
    /// `click`: the link's URL.
    pub url: Option<String>,
    /// `open`, `click`, `unsub`: as stored (truncated where the account says so).
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// `bounce`: `hard` or `soft` (see the delivery outcomes table).
    pub bounce_class: Option<String>,
    /// `bounce`, `deferred`, `blocked`: the relay's or report's explanation.
    pub diagnostic: Option<String>,
    /// `spam`: the complaint's feedback type; `unsub`: `link` or `one_click`; `blocked`:
    /// `failed` when the message was given up on or refused; `bounce`, `blocked`: `dsn`
    /// when a report said so after the relay had taken the message (its `sent` came
    /// first); `open`, `click`: `repeat` when the same link was counted within the
    /// tracking repeat window (logged, not counted in the statistics, sent to no webhook).
    pub source: Option<String>,
}

impl From<Event> for EventView {
    fn from(e: Event) -> Self {
        EventView {
            event_type: e.event_type().unwrap_or(EventType::Blocked),
            id: e.id,
            occurred_at: e.occurred_at,
            message_id: e.message_id,
            campaign_id: e.campaign_id,
            contact_id: e.contact_id,
            email: e.email,
            custom_id: e.custom_id,
            url: e.url,
            ip: e.ip,
            user_agent: e.user_agent,
            bounce_class: e.bounce_class,
            diagnostic: e.diagnostic,
            source: e.source,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventFilter {
    /// Only events of this type.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub event_type: Option<EventType>,
    pub campaign_id: Option<Id>,
    pub contact_id: Option<Id>,
    pub message_id: Option<Id>,
    /// Events that happened at or after this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub since: Option<Timestamp>,
    /// Events that happened before this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub until: Option<Timestamp>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Lists events, oldest first, with filters.
#[utoipa::path(
    tag = "events",
    params(EventFilter),
    responses((status = 200, description = "A page of events", body = Page<EventView>))
)]
#[get("/events")]
pub async fn list_events(
    principal: Principal,
    state: web::Data<AppState>,
    filter: ApiQuery<EventFilter>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::EventsRead)?;
    let f = filter.into_inner();
    let page = PageQuery {
        limit: f.limit,
        cursor: f.cursor,
    }
    .page()?;
    let query = EventQuery {
        event_type: f.event_type,
        campaign_id: f.campaign_id,
        contact_id: f.contact_id,
        message_id: f.message_id,
        since: f.since,
        until: f.until,
    };
    let account = principal.account_id;
    let events = state
        .db(move |conn| query.run(conn, account, &page))
        .await?;
    Ok(HttpResponse::Ok().json(events.map(EventView::from)))
}
