//! The event types integrators know (Mailjet's names) and the stored event row.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::schema::events;
use crate::store::sql_types::{Id, Timestamp};

/// What happened to a message: `sent` (the relay accepted it); `deferred` (a temporary
/// failure, retried, or a report's delay notice); `bounce` (`bounce_class` `hard`: the
/// address does not exist and is suppressed; `soft`: the mailbox is full or disabled);
/// `blocked` (not delivered, and never the address's fault: the relay or the receiving
/// server refused the sending — policy, SPF/DKIM/DMARC, a blocklist, the greeting — with
/// `source` `failed` (or `dsn` when a report said so) and `diagnostic` quoting the answer;
/// nothing is suppressed, and these answers count toward pausing the campaign; or
/// Mailroom did not send it: suppressed, unsubscribed, restricted, without consent);
/// `open`; `click`; `unsub`; `spam` (a feedback-loop complaint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    /// The relay accepted the message.
    Sent,
    /// The relay answered with a temporary failure; the message is retried.
    Deferred,
    /// The message bounced (`bounce_class` says hard or soft).
    Bounce,
    /// Not delivered, not the address's fault: the relay refused the sending (a policy,
    /// authentication or protocol answer), or Mailroom did not send it (suppressed,
    /// unsubscribed, restricted, no consent).
    Blocked,
    Open,
    Click,
    Unsub,
    /// The recipient reported it as spam (a feedback loop).
    Spam,
}

impl EventType {
    pub const ALL: [EventType; 8] = [
        EventType::Sent,
        EventType::Deferred,
        EventType::Bounce,
        EventType::Blocked,
        EventType::Open,
        EventType::Click,
        EventType::Unsub,
        EventType::Spam,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Sent => "sent",
            EventType::Deferred => "deferred",
            EventType::Bounce => "bounce",
            EventType::Blocked => "blocked",
            EventType::Open => "open",
            EventType::Click => "click",
            EventType::Unsub => "unsub",
            EventType::Spam => "spam",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// What an event says beyond its type, as it travels through the bus. The recipient's
/// details (email, contact, campaign, custom id) are looked up from the message when the
/// event is recorded, so the public endpoints need no database read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// `hard` or `soft` (bounce).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounce_class: Option<String>,
    /// The relay's or the report's diagnostic (bounce, deferred, blocked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnostic: Option<String>,
    /// Where a complaint came from (`arf`, the feedback-type), how an unsubscribe happened
    /// (`link`, `one_click`), or what a `bounce` or `blocked` event reports: `dsn` (a
    /// report about a message the relay had taken) or, for `blocked`, `failed` (the
    /// message was given up on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// The `source` of a `bounce` or `blocked` event that a report (a DSN) raised about a
/// message the relay had taken: it follows that message's `sent` event, and the campaign's
/// counters move it out of `sent`.
pub const REPORTED_AFTER_DELIVERY: &str = "dsn";

/// The `source` of an open or click that repeats one of the same link counted within the
/// tracking repeat window (`MAILROOM_TRACKING_REPEAT_WINDOW_SECS`): it is kept in the
/// event log, but adds nothing to the campaign's statistics and goes to no webhook.
pub const REPEATED_HIT: &str = "repeat";

/// An event on its way to being recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEvent {
    /// Minted where the event happened: recording the same id twice records it once. It is
    /// time-ordered (UUIDv7) and minted with `occurred_at`: the retention purge reads the
    /// event's age from it.
    pub id: Id,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub message_id: Id,
    pub occurred_at: Timestamp,
    #[serde(default)]
    pub data: EventData,
}

impl NewEvent {
    pub fn new(event_type: EventType, message_id: Id, data: EventData) -> NewEvent {
        NewEvent {
            id: Id::new(),
            event_type,
            message_id,
            occurred_at: crate::clock::now(),
            data,
        }
    }
}

/// A recorded event.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = events)]
// Absent values are NULLs, so that batches can be copied in (`COPY` has no `DEFAULT`).
#[diesel(treat_none_as_default_value = false)]
pub struct Event {
    pub id: Id,
    pub account_id: Id,
    pub event_type: String,
    pub message_id: Option<Id>,
    pub campaign_id: Option<Id>,
    pub contact_id: Option<Id>,
    pub email: Option<String>,
    pub custom_id: Option<String>,
    pub url: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub bounce_class: Option<String>,
    pub diagnostic: Option<String>,
    pub source: Option<String>,
    pub occurred_at: Timestamp,
    pub created_at: Timestamp,
}

impl Event {
    pub fn event_type(&self) -> Option<EventType> {
        EventType::parse(&self.event_type)
    }

    /// An open or click repeating one counted within the window: logged, not counted.
    pub fn is_repeated_hit(&self) -> bool {
        self.source.as_deref() == Some(REPEATED_HIT)
    }
}
