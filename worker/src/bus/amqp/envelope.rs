//! The body of a job message on RabbitMQ: the job row's id (which makes redeliveries and
//! relayed copies recognisable), its kind and payload (ids only, never personal data), and
//! the attempt it is on. Parked jobs also carry why and when they were parked.

use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable};
use mailroom_domain::Id;
use mailroom_domain::jobs::{Enqueue, Job, JobRow, NO_ACCOUNT};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::topology::route_of;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    pub id: Id,
    pub kind: String,
    /// Kept as the text it arrived as: read into its job once, copied as is into a retry.
    pub payload: Box<RawValue>,
    /// 1 on the first delivery.
    pub attempt: i32,
    pub max_attempts: i32,
    #[serde(default)]
    pub priority: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<Id>,
    /// The account the job works for; messages queued before jobs named it read as the
    /// installation's.
    #[serde(default = "no_account")]
    pub account_id: Id,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parked_at: Option<String>,
}

fn no_account() -> Id {
    NO_ACCOUNT
}

impl Envelope {
    pub fn from_row(row: &JobRow) -> Envelope {
        Envelope {
            id: row.id,
            kind: row.kind.clone(),
            payload: serde_json::value::to_raw_value(&row.payload.0).unwrap_or_default(),
            attempt: 1,
            max_attempts: row.max_attempts,
            priority: row.priority,
            group_id: row.group_id,
            account_id: row.account_id,
            last_error: None,
            parked_at: None,
        }
    }

    pub fn parse(body: &[u8]) -> Result<Envelope, String> {
        serde_json::from_slice(body).map_err(|e| format!("unreadable job message: {e}"))
    }

    /// The routing key of its work queue ([`route_of`]).
    pub fn route(&self) -> String {
        route_of(&self.kind, self.priority)
    }

    pub fn job(&self) -> mailroom_domain::Result<Job> {
        Job::from_text_parts(&self.kind, self.payload.get())
    }

    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn properties(&self) -> BasicProperties {
        properties(self.id, &self.kind, self.attempt, self.priority)
    }
}

/// The body and properties of a job's first attempt, for a job published without a row
/// (see `direct`). The body reads back as an [`Envelope`]; the job is serialized in place,
/// not built into a JSON tree first.
pub fn first_attempt(id: Id, job: &Job, options: &Enqueue) -> (Vec<u8>, BasicProperties) {
    #[derive(Serialize)]
    struct FirstAttempt<'a> {
        id: Id,
        #[serde(flatten)]
        job: &'a Job,
        attempt: i32,
        max_attempts: i32,
        priority: i32,
        #[serde(skip_serializing_if = "Option::is_none")]
        group_id: Option<Id>,
        account_id: Id,
    }
    let body = serde_json::to_vec(&FirstAttempt {
        id,
        job,
        attempt: 1,
        max_attempts: options.max_attempts,
        priority: options.priority.0,
        group_id: options.group,
        account_id: options.account.unwrap_or(NO_ACCOUNT),
    })
    .unwrap_or_default();
    let properties = properties(id, job.kind(), 1, options.priority.0);
    (body, properties)
}

/// Persistent, typed, and carrying its id and attempt where tools show them.
fn properties(id: Id, kind: &str, attempt: i32, priority: i32) -> BasicProperties {
    let mut headers = FieldTable::default();
    headers.insert("x-mailroom-attempt".into(), AMQPValue::LongInt(attempt));
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
        .with_message_id(id.to_string().into())
        .with_type(kind.to_owned().into())
        .with_priority(priority.clamp(0, 10) as u8)
        .with_headers(headers)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use mailroom_domain::events::{EventData, EventType, NewEvent};
    use mailroom_domain::jobs::Priority;

    use super::*;

    #[test]
    fn a_first_attempt_reads_back_as_the_envelope_of_its_job() {
        let job = Job::RecordEvents {
            events: vec![NewEvent::new(
                EventType::Click,
                Id::new(),
                EventData {
                    url: Some("https://example.com/".into()),
                    ..EventData::default()
                },
            )],
        };
        let options = Enqueue {
            priority: Priority::DISPATCH,
            max_attempts: 20,
            ..Enqueue::default()
        };
        let id = Id::new();
        let (body, properties) = first_attempt(id, &job, &options);
        let envelope = Envelope::parse(&body).unwrap();
        assert_eq!(envelope.id, id);
        assert_eq!(envelope.kind, "events.record");
        assert_eq!((envelope.attempt, envelope.max_attempts), (1, 20));
        assert_eq!(envelope.priority, Priority::DISPATCH.0);
        assert_eq!(envelope.group_id, None);
        assert_eq!(envelope.job().unwrap(), job);
        assert_eq!(
            properties.kind().as_ref().unwrap().as_str(),
            "events.record"
        );
        assert_eq!(
            properties.message_id().as_ref().unwrap().as_str(),
            id.to_string()
        );
    }
}
