//! The delivery log: one row per (endpoint, event), written with its `webhook.deliver` job
//! in the transaction that records the event, and updated by the webhook worker after each
//! attempt. The payload is built from the event when the row is written, so every attempt
//! sends the same bytes, and the row's id is the `webhook-id` receivers deduplicate by.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::endpoint::Webhook;
use crate::clock;
use crate::config::WebhookSettings;
use crate::error::{Error, Result};
use crate::events::{Event, EventType};
use crate::jobs::{Enqueue, Job, JobRow, Priority};
use crate::pagination::{Page, PageRequest};
use crate::schema::webhook_deliveries;
use crate::store::DbConnection;
use crate::store::sql_types::{Id, Json, Timestamp};

/// The `type` of the deliveries `POST /v1/webhooks/{id}/test` makes.
pub const TEST_EVENT_TYPE: &str = "test";

/// Longest `last_error` kept.
const MAX_ERROR_LEN: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Queued, or waiting for its next attempt (`next_attempt_at`).
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Given up on: the last attempt failed, or the receiver answered `410 Gone`.
    Failed,
    /// Not sent: the endpoint was disabled before its turn came.
    Disabled,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Disabled => "disabled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            DeliveryStatus::Pending,
            DeliveryStatus::Delivered,
            DeliveryStatus::Failed,
            DeliveryStatus::Disabled,
        ]
        .into_iter()
        .find(|status| status.as_str() == s)
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_deliveries)]
pub struct WebhookDelivery {
    pub id: Id,
    pub account_id: Id,
    pub webhook_id: Id,
    pub event_id: Id,
    pub event_type: String,
    /// The JSON body sent: `{"type", "timestamp", "data"}`.
    pub payload: Json,
    pub status: String,
    /// Attempts made (requests sent or tried).
    pub attempts: i32,
    /// The last attempt's HTTP status; `None` when it got no answer.
    pub response_code: Option<i32>,
    /// How long the last attempt took, in milliseconds.
    pub latency_ms: Option<i32>,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What one attempt came to.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub status: DeliveryStatus,
    pub response_code: Option<i32>,
    pub latency_ms: Option<i32>,
    pub error: Option<String>,
    pub next_attempt_at: Option<Timestamp>,
}

/// The body of an event's delivery. `data` always carries the event id and the
/// recipient's details (`null` where unknown); the rest depends on the type: the `url`
/// (click), `ip` and `user_agent` (open, click, unsub — as stored, so truncated when the
/// account truncates IPs), `bounce` with its `class` and `diagnostic`, the `diagnostic`
/// of a deferral or block, and the `source` (spam: the report's feedback type; unsub: how).
pub fn event_payload(event: &Event) -> Value {
    let mut data = serde_json::Map::new();
    data.insert("event_id".into(), json!(event.id));
    data.insert("email".into(), json!(event.email));
    data.insert("contact_id".into(), json!(event.contact_id));
    data.insert("campaign_id".into(), json!(event.campaign_id));
    data.insert("message_id".into(), json!(event.message_id));
    data.insert("custom_id".into(), json!(event.custom_id));
    for (key, value) in [
        ("url", &event.url),
        ("ip", &event.ip),
        ("user_agent", &event.user_agent),
        ("source", &event.source),
    ] {
        if let Some(value) = value {
            data.insert(key.into(), json!(value));
        }
    }
    match event.event_type() {
        Some(EventType::Bounce) => {
            data.insert(
                "bounce".into(),
                json!({"class": event.bounce_class, "diagnostic": event.diagnostic}),
            );
        }
        Some(EventType::Deferred | EventType::Blocked) => {
            if let Some(diagnostic) = &event.diagnostic {
                data.insert("diagnostic".into(), json!(diagnostic));
            }
        }
        _ => {}
    }
    json!({"type": event.event_type, "timestamp": event.occurred_at, "data": data})
}

/// The body of a test delivery: the shape of a real one, with nothing real in it.
fn test_payload(event_id: Id, at: Timestamp) -> Value {
    json!({
        "type": TEST_EVENT_TYPE,
        "timestamp": at,
        "data": {
            "event_id": event_id,
            "email": null,
            "contact_id": null,
            "campaign_id": null,
            "message_id": null,
            "custom_id": null,
        }
    })
}

fn truncate(error: &str) -> String {
    error.chars().take(MAX_ERROR_LEN).collect()
}

impl WebhookDelivery {
    fn pending(webhook: &Webhook, event_id: Id, event_type: &str, payload: Value) -> Self {
        let now = clock::now();
        WebhookDelivery {
            id: Id::new(),
            account_id: webhook.account_id,
            webhook_id: webhook.id,
            event_id,
            event_type: event_type.to_owned(),
            payload: Json(payload),
            status: DeliveryStatus::Pending.as_str().to_owned(),
            attempts: 0,
            response_code: None,
            latency_ms: None,
            last_error: None,
            next_attempt_at: Some(now),
            created_at: now,
            updated_at: now,
        }
    }

    /// The delivery to `webhook` of an event about the account rather than a message
    /// (`domain.status_changed`), with its body; not yet written.
    pub fn for_account_event(
        webhook: &Webhook,
        event_id: Id,
        event_type: &str,
        payload: Value,
    ) -> Self {
        Self::pending(webhook, event_id, event_type, payload)
    }

    /// The delivery of `event` to `webhook`, not yet written.
    pub fn for_event(webhook: &Webhook, event: &Event) -> Self {
        Self::pending(webhook, event.id, &event.event_type, event_payload(event))
    }

    pub fn status(&self) -> DeliveryStatus {
        DeliveryStatus::parse(&self.status).unwrap_or(DeliveryStatus::Pending)
    }

    /// Writes the delivery and its job, unless the endpoint already has this event (a
    /// replayed batch); answers whether it was new.
    pub fn queue(&self, conn: &mut DbConnection, priority: Priority) -> Result<bool> {
        Ok(Self::queue_many(conn, std::slice::from_ref(self), priority)? == 1)
    }

    /// Writes deliveries and the jobs of those that are new — a delivery is unique per
    /// (endpoint, event), so a replayed batch queues nothing twice — in a few statements;
    /// answers how many were new.
    pub fn queue_many(
        conn: &mut DbConnection,
        deliveries: &[WebhookDelivery],
        priority: Priority,
    ) -> Result<usize> {
        /// Rows per INSERT, well inside both backends' limits on bound parameters.
        const ROWS_PER_INSERT: usize = 500;
        let mut queued = 0;
        for chunk in deliveries.chunks(ROWS_PER_INSERT) {
            let new: Vec<Id> = match conn {
                DbConnection::Postgres(pg) => diesel::insert_into(webhook_deliveries::table)
                    .values(chunk)
                    .on_conflict_do_nothing()
                    .returning(webhook_deliveries::id)
                    .get_results(pg)?,
                DbConnection::Sqlite(lite) => {
                    diesel::insert_or_ignore_into(webhook_deliveries::table)
                        .values(chunk)
                        .returning(webhook_deliveries::id)
                        .get_results(lite)?
                }
            };
            let accounts: std::collections::HashMap<Id, Id> =
                chunk.iter().map(|d| (d.id, d.account_id)).collect();
            let jobs: Vec<(Id, Job)> = new
                .iter()
                .filter_map(|&delivery_id| {
                    let account = *accounts.get(&delivery_id)?;
                    Some((account, Job::DeliverWebhook { delivery_id }))
                })
                .collect();
            JobRow::enqueue_many(
                conn,
                &jobs,
                Enqueue {
                    priority,
                    max_attempts: WebhookSettings::JOB_MAX_ATTEMPTS,
                    ..Enqueue::default()
                },
            )?;
            queued += new.len();
        }
        Ok(queued)
    }

    /// Queues a test delivery to one of the account's endpoints — enabled or not, whatever
    /// types it subscribed to.
    pub fn queue_test(conn: &mut DbConnection, account_id: Id, webhook_id: Id) -> Result<Self> {
        conn.write_transaction(|conn| {
            let webhook = Webhook::find(conn, account_id, webhook_id)?;
            let event_id = Id::new();
            let delivery = Self::pending(
                &webhook,
                event_id,
                TEST_EVENT_TYPE,
                test_payload(event_id, clock::now()),
            );
            delivery.queue(conn, Priority::URGENT)?;
            Ok(delivery)
        })
    }

    pub fn find_any(conn: &mut DbConnection, id: Id) -> Result<Option<Self>> {
        Ok(webhook_deliveries::table
            .find(id)
            .select(WebhookDelivery::as_select())
            .first(conn)
            .optional()?)
    }

    /// The delivery log of one of the account's endpoints, newest first.
    pub fn list(
        conn: &mut DbConnection,
        account_id: Id,
        webhook_id: Id,
        status: Option<DeliveryStatus>,
        page: &PageRequest,
    ) -> Result<Page<Self>> {
        Webhook::find(conn, account_id, webhook_id)?;
        let mut query = webhook_deliveries::table
            .filter(webhook_deliveries::webhook_id.eq(webhook_id))
            .filter(webhook_deliveries::account_id.eq(account_id))
            .select(WebhookDelivery::as_select())
            .order(webhook_deliveries::id.desc())
            .limit(page.fetch_limit())
            .into_boxed();
        if let Some(status) = status {
            query = query.filter(webhook_deliveries::status.eq(status.as_str()));
        }
        if let Some(after) = page.after {
            query = query.filter(webhook_deliveries::id.lt(after));
        }
        Ok(Page::from_rows(query.load(conn)?, page, |d| d.id))
    }

    /// Writes down an attempt and what it came to.
    pub fn record_attempt(conn: &mut DbConnection, id: Id, attempt: &AttemptRecord) -> Result<()> {
        diesel::update(webhook_deliveries::table.find(id))
            .set((
                webhook_deliveries::status.eq(attempt.status.as_str()),
                webhook_deliveries::attempts.eq(webhook_deliveries::attempts + 1),
                webhook_deliveries::response_code.eq(attempt.response_code),
                webhook_deliveries::latency_ms.eq(attempt.latency_ms),
                webhook_deliveries::last_error.eq(attempt.error.as_deref().map(truncate)),
                webhook_deliveries::next_attempt_at.eq(attempt.next_attempt_at),
                webhook_deliveries::updated_at.eq(clock::now()),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Closes a delivery without an attempt (its endpoint was disabled meanwhile).
    pub fn close(
        conn: &mut DbConnection,
        id: Id,
        status: DeliveryStatus,
        reason: &str,
    ) -> Result<()> {
        if status == DeliveryStatus::Pending {
            return Err(Error::Internal(
                "a delivery cannot be closed as pending".into(),
            ));
        }
        diesel::update(webhook_deliveries::table.find(id))
            .set((
                webhook_deliveries::status.eq(status.as_str()),
                webhook_deliveries::last_error.eq(Some(truncate(reason))),
                webhook_deliveries::next_attempt_at.eq(None::<Timestamp>),
                webhook_deliveries::updated_at.eq(clock::now()),
            ))
            .execute(conn)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(event_type: EventType) -> Event {
        let now = clock::now();
        Event {
            id: Id::new(),
            account_id: Id::new(),
            event_type: event_type.as_str().into(),
            message_id: Some(Id::new()),
            campaign_id: None,
            contact_id: Some(Id::new()),
            email: Some("ada@example.com".into()),
            custom_id: Some("order-17".into()),
            url: None,
            ip: None,
            user_agent: None,
            bounce_class: None,
            diagnostic: None,
            source: None,
            occurred_at: now,
            created_at: now,
        }
    }

    #[test]
    fn every_payload_names_the_event_and_its_recipient() {
        let e = event(EventType::Sent);
        let p = event_payload(&e);
        assert_eq!(p["type"], "sent");
        assert_eq!(p["timestamp"], json!(e.occurred_at));
        let data = p["data"].as_object().unwrap();
        for key in [
            "event_id",
            "email",
            "contact_id",
            "campaign_id",
            "message_id",
            "custom_id",
        ] {
            assert!(data.contains_key(key), "{key} missing: {p}");
        }
        assert_eq!(data["email"], "ada@example.com");
        assert_eq!(data["campaign_id"], Value::Null);
        assert_eq!(data.len(), 6, "{p}");
    }

    #[test]
    fn payloads_carry_what_their_type_adds() {
        let mut click = event(EventType::Click);
        click.url = Some("https://shop.example/sale".into());
        click.ip = Some("203.0.113.0".into());
        click.user_agent = Some("Mozilla/5.0".into());
        let p = event_payload(&click);
        assert_eq!(p["data"]["url"], "https://shop.example/sale");
        assert_eq!(p["data"]["ip"], "203.0.113.0");
        assert_eq!(p["data"]["user_agent"], "Mozilla/5.0");

        let mut bounce = event(EventType::Bounce);
        bounce.bounce_class = Some("hard".into());
        bounce.diagnostic = Some("550 5.1.1 user unknown".into());
        let p = event_payload(&bounce);
        assert_eq!(
            p["data"]["bounce"],
            json!({"class": "hard", "diagnostic": "550 5.1.1 user unknown"})
        );

        let mut spam = event(EventType::Spam);
        spam.source = Some("abuse".into());
        assert_eq!(event_payload(&spam)["data"]["source"], "abuse");
    }
}
