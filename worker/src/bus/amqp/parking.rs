//! The parking queue, for operators: list what was parked and why, and redrive jobs back
//! to their work queues once the cause is fixed (`mailroom-api parking list|redrive`).
//!
//! Listing takes every parked message without acknowledging it and then closes the
//! channel, which returns them all to the queue in their order: nothing is lost by looking.

use std::collections::HashSet;

use lapin::options::{BasicAckOptions, BasicGetOptions, BasicPublishOptions};
use mailroom_domain::Id;

use super::broker::connect_once;
use super::envelope::Envelope;
use super::topology::{JOBS_EXCHANGE, PARKING_QUEUE};

/// A parked job as an operator sees it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ParkedJob {
    pub id: Option<Id>,
    pub kind: String,
    pub attempts: i32,
    pub parked_at: Option<String>,
    pub reason: String,
    pub payload: serde_json::Value,
}

impl ParkedJob {
    fn from_body(body: &[u8]) -> ParkedJob {
        match Envelope::parse(body) {
            Ok(envelope) => ParkedJob {
                id: Some(envelope.id),
                kind: envelope.kind,
                attempts: envelope.attempt,
                parked_at: envelope.parked_at,
                reason: envelope.last_error.unwrap_or_default(),
                payload: serde_json::from_str(envelope.payload.get()).unwrap_or_default(),
            },
            Err(reason) => ParkedJob {
                id: None,
                kind: "unreadable".into(),
                attempts: 0,
                parked_at: None,
                reason,
                payload: serde_json::Value::String(String::from_utf8_lossy(body).into_owned()),
            },
        }
    }
}

/// Every parked job, oldest first; the queue is left as it was.
pub async fn list(url: &str, quorum: bool) -> Result<Vec<ParkedJob>, String> {
    let (connection, channel) = connect_once(url, quorum, "mailroom-api parking list").await?;
    let mut parked = Vec::new();
    while let Some(message) = channel
        .basic_get(PARKING_QUEUE.into(), BasicGetOptions { no_ack: false })
        .await
        .map_err(|e| format!("read the parking queue: {e}"))?
    {
        parked.push(ParkedJob::from_body(&message.delivery.data));
    }
    // Unacknowledged messages return to the queue when their channel closes.
    let _ = connection.close(200, "listed".into()).await;
    Ok(parked)
}

/// Which parked jobs to send back.
pub enum Redrive {
    All,
    Only(HashSet<Id>),
}

/// Publishes parked jobs back to their work queues as fresh jobs (attempt 1), each removed
/// from the parking queue only once the broker confirmed its copy. Returns the jobs
/// redriven; unreadable messages stay parked.
pub async fn redrive(url: &str, quorum: bool, which: &Redrive) -> Result<Vec<Id>, String> {
    let (connection, channel) = connect_once(url, quorum, "mailroom-api parking redrive").await?;
    let mut redriven = Vec::new();
    while let Some(message) = channel
        .basic_get(PARKING_QUEUE.into(), BasicGetOptions { no_ack: false })
        .await
        .map_err(|e| format!("read the parking queue: {e}"))?
    {
        let Ok(mut envelope) = Envelope::parse(&message.delivery.data) else {
            continue;
        };
        if let Redrive::Only(ids) = which
            && !ids.contains(&envelope.id)
        {
            continue;
        }
        envelope.attempt = 1;
        envelope.last_error = None;
        envelope.parked_at = None;
        let confirm = channel
            .basic_publish(
                JOBS_EXCHANGE.into(),
                envelope.route().as_str().into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                &envelope.body(),
                envelope.properties(),
            )
            .await
            .map_err(|e| format!("publish: {e}"))?
            .await
            .map_err(|e| format!("confirm: {e}"))?;
        if !confirm.is_ack() || confirm.take_message().is_some() {
            return Err(format!(
                "the broker did not take job {} back (is its work queue declared?)",
                envelope.id
            ));
        }
        message
            .delivery
            .acker
            .ack(BasicAckOptions::default())
            .await
            .map_err(|e| format!("ack: {e}"))?;
        redriven.push(envelope.id);
    }
    let _ = connection.close(200, "redriven".into()).await;
    Ok(redriven)
}
