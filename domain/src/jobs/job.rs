//! The typed jobs Mailroom runs outside the request, and how they are stored.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::events::NewEvent;
use crate::store::sql_types::{Id, Json, Timestamp};

/// Work that leaves the request. Each kind has a name (its queue, in RabbitMQ terms) and
/// a payload of ids — except events, which carry what they record (a click's URL, a
/// tracking hit's IP and user agent, a bounce's diagnostic), never the recipient's address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload")]
pub enum Job {
    /// Expand a campaign's audience into messages and their delivery jobs.
    #[serde(rename = "campaign.dispatch")]
    DispatchCampaign { campaign_id: Id },
    /// Render and deliver one message.
    #[serde(rename = "message.deliver")]
    DeliverMessage { message_id: Id },
    /// Record events (deduplicated by id), count them, and fan them out to webhooks.
    #[serde(rename = "events.record")]
    RecordEvents { events: Vec<NewEvent> },
    /// Deliver one event to one webhook endpoint.
    #[serde(rename = "webhook.deliver")]
    DeliverWebhook { delivery_id: Id },
    /// Run (or carry on with) a list import.
    #[serde(rename = "list.import")]
    ImportList { import_id: Id },
    /// Carry out a verified data-subject request.
    #[serde(rename = "data_subject_request.execute")]
    ExecuteDataSubjectRequest { request_id: Id },
    /// Purge what is past every account's retention, erase the accounts whose deletion is
    /// due, and delete old finished job rows — as of `as_of` (unset: when it runs).
    #[serde(rename = "retention.purge")]
    PurgeRetention {
        #[serde(default)]
        as_of: Option<Timestamp>,
    },
    /// Check every sending domain's records again, and tell each account whose domain's
    /// status changed.
    #[serde(rename = "sending_domains.check")]
    CheckSendingDomains {},
}

/// How urgent a job is; higher runs first. Test and transactional messages jump ahead of
/// campaign work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Priority(pub i32);

impl Priority {
    pub const BULK: Priority = Priority(0);
    pub const DISPATCH: Priority = Priority(5);
    pub const URGENT: Priority = Priority(10);
}

impl Job {
    pub fn kind(&self) -> &'static str {
        match self {
            Job::DispatchCampaign { .. } => "campaign.dispatch",
            Job::DeliverMessage { .. } => "message.deliver",
            Job::RecordEvents { .. } => "events.record",
            Job::DeliverWebhook { .. } => "webhook.deliver",
            Job::ImportList { .. } => "list.import",
            Job::ExecuteDataSubjectRequest { .. } => "data_subject_request.execute",
            Job::PurgeRetention { .. } => "retention.purge",
            Job::CheckSendingDomains {} => "sending_domains.check",
        }
    }

    pub fn payload(&self) -> Json {
        let value = serde_json::to_value(self).unwrap_or_default();
        Json(value.get("payload").cloned().unwrap_or_default())
    }

    pub fn from_parts(kind: &str, payload: &Json) -> Result<Job> {
        serde_json::from_value(serde_json::json!({"kind": kind, "payload": payload.0}))
            .map_err(|e| Error::Internal(format!("job {kind} has an unreadable payload: {e}")))
    }

    /// From a kind and its payload as JSON text (a bus message's), read straight into the
    /// job rather than through a JSON tree: an `events.record` payload holds a thousand
    /// events.
    pub fn from_text_parts(kind: &str, payload: &str) -> Result<Job> {
        let kind_text = serde_json::to_string(kind).map_err(|e| Error::Internal(e.to_string()))?;
        serde_json::from_str(&format!(r#"{{"kind":{kind_text},"payload":{payload}}}"#))
            .map_err(|e| Error::Internal(format!("job {kind} has an unreadable payload: {e}")))
    }

    /// All kinds, for declaring queues.
    pub const KINDS: [&'static str; 8] = [
        "campaign.dispatch",
        "message.deliver",
        "events.record",
        "webhook.deliver",
        "list.import",
        "data_subject_request.execute",
        "retention.purge",
        "sending_domains.check",
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_round_trip_through_kind_and_payload() {
        let job = Job::DeliverMessage {
            message_id: Id::new(),
        };
        let back = Job::from_parts(job.kind(), &job.payload()).unwrap();
        assert_eq!(back, job);
        let text = serde_json::to_string(&job.payload().0).unwrap();
        assert_eq!(Job::from_text_parts(job.kind(), &text).unwrap(), job);
        let check = Job::CheckSendingDomains {};
        assert_eq!(
            Job::from_parts(check.kind(), &check.payload()).unwrap(),
            check
        );
        assert_eq!(Job::from_text_parts(check.kind(), "{}").unwrap(), check);
        assert!(Job::from_text_parts("message.deliver", r#"{"nope": 1}"#).is_err());
        assert!(Job::from_text_parts("message.deliver\",\"x", &text).is_err());
        assert!(
            Job::from_parts("campaign.dispatch", &Json(serde_json::json!({"nope": 1}))).is_err()
        );
    }
}
