//! The body of a job message on RabbitMQ: the job row's id (which makes redeliveries and
//! relayed copies recognisable), its kind and payload (ids only, never personal data), and
//! the attempt it is on. Parked jobs also carry why and when they were parked.

use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable};
use mailroom_domain::jobs::{Job, JobRow};
use mailroom_domain::{Id, Json};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    pub id: Id,
    pub kind: String,
    pub payload: serde_json::Value,
    /// 1 on the first delivery.
    pub attempt: i32,
    pub max_attempts: i32,
    #[serde(default)]
    pub priority: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parked_at: Option<String>,
}

impl Envelope {
    pub fn from_row(row: &JobRow) -> Envelope {
        Envelope {
            id: row.id,
            kind: row.kind.clone(),
            payload: row.payload.0.clone(),
            attempt: 1,
            max_attempts: row.max_attempts,
            priority: row.priority,
            group_id: row.group_id,
            last_error: None,
            parked_at: None,
        }
    }

    pub fn parse(body: &[u8]) -> Result<Envelope, String> {
        serde_json::from_slice(body).map_err(|e| format!("unreadable job message: {e}"))
    }

    pub fn job(&self) -> mailroom_domain::Result<Job> {
        Job::from_parts(&self.kind, &Json(self.payload.clone()))
    }

    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Persistent, typed, and carrying its id and attempt where tools show them.
    pub fn properties(&self) -> BasicProperties {
        let mut headers = FieldTable::default();
        headers.insert(
            "x-mailroom-attempt".into(),
            AMQPValue::LongInt(self.attempt),
        );
        BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into())
            .with_message_id(self.id.to_string().into())
            .with_type(self.kind.clone().into())
            .with_priority(self.priority.clamp(0, 10) as u8)
            .with_headers(headers)
    }
}
