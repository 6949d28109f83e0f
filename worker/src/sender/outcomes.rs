//! Recording delivery outcomes in group commits.
//!
//! A delivery's outcome must be durable before its job is acknowledged: that commit is what
//! keeps a redelivered job from sending a second copy. Deliveries finishing together hand
//! their outcomes to one recorder per process, which writes whatever has gathered — up to
//! `BATCH` outcomes — in one transaction, with one `events.record` job for all their
//! events, and then answers each delivery. Under load a commit (and its WAL flush) serves
//! many messages; alone, a delivery is recorded at once, as before. If a group's
//! transaction fails, each outcome is tried again in a transaction of its own, so one bad
//! outcome does not hold back the others.

use std::sync::{Arc, OnceLock};

use mailroom_domain::events::{self, NewEvent};
use mailroom_domain::messages::Message;
use mailroom_domain::store::DbConnection;
use tokio::sync::{mpsc, oneshot};

use super::compose::Composed;
use super::deliver::record;
use crate::context::WorkerContext;
use crate::runner::JobOutcome;
use crate::transport::DeliveryOutcome;

/// The most outcomes one transaction records.
const BATCH: usize = 64;

/// A delivery's outcome, to record.
pub struct Recording {
    pub message: Message,
    pub composed: Composed,
    pub outcome: DeliveryOutcome,
    /// The job's attempt.
    pub attempt: i32,
    /// The campaign had relay failures in a row when the message was prepared (a success
    /// resets the count).
    pub relay_failing: bool,
}

struct Pending {
    recording: Recording,
    answer: oneshot::Sender<mailroom_domain::Result<JobOutcome>>,
}

#[derive(Default)]
pub struct OutcomeRecorder {
    queue: OnceLock<mpsc::UnboundedSender<Pending>>,
}

impl OutcomeRecorder {
    /// Records an outcome (with others gathered meanwhile); answers once it is committed.
    pub async fn record(
        ctx: &Arc<WorkerContext>,
        recording: Recording,
    ) -> mailroom_domain::Result<JobOutcome> {
        let queue = ctx.outcomes.queue.get_or_init(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            tokio::spawn(run(ctx.clone(), receiver));
            sender
        });
        let (answer, answered) = oneshot::channel();
        queue.send(Pending { recording, answer }).map_err(|_| {
            mailroom_domain::Error::Internal("the outcome recorder has stopped".into())
        })?;
        answered.await.map_err(|_| {
            mailroom_domain::Error::Internal("the outcome recorder dropped an outcome".into())
        })?
    }
}

async fn run(ctx: Arc<WorkerContext>, mut queue: mpsc::UnboundedReceiver<Pending>) {
    while let Some(first) = queue.recv().await {
        let mut group = vec![first];
        while group.len() < BATCH {
            match queue.try_recv() {
                Ok(pending) => group.push(pending),
                Err(_) => break,
            }
        }
        let (recordings, answers): (Vec<Recording>, Vec<_>) =
            group.into_iter().map(|p| (p.recording, p.answer)).unzip();
        let worker = ctx.clone();
        let results = ctx
            .db(move |conn| Ok(record_group(conn, &worker, recordings)))
            .await;
        match results {
            Ok(results) => {
                for (answer, result) in answers.into_iter().zip(results) {
                    let _ = answer.send(result);
                }
            }
            Err(e) => {
                for answer in answers {
                    let _ = answer.send(Err(mailroom_domain::Error::Unavailable(e.to_string())));
                }
            }
        }
    }
}

/// Records the group in one transaction, or else each outcome in its own.
fn record_group(
    conn: &mut DbConnection,
    ctx: &WorkerContext,
    recordings: Vec<Recording>,
) -> Vec<mailroom_domain::Result<JobOutcome>> {
    let together = conn.write_transaction(|conn| {
        let mut events = Vec::new();
        let outcomes = recordings
            .iter()
            .map(|r| record(conn, ctx, r, &mut events))
            .collect::<mailroom_domain::Result<Vec<_>>>()?;
        events::enqueue(conn, events)?;
        Ok::<_, mailroom_domain::Error>(outcomes)
    });
    match together {
        Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
        Err(e) if recordings.len() == 1 => vec![Err(e)],
        Err(e) => {
            tracing::warn!(error = %e, outcomes = recordings.len(), "recording a group of delivery outcomes failed; recording them one by one");
            recordings
                .iter()
                .map(|r| {
                    conn.write_transaction(|conn| {
                        let mut events: Vec<NewEvent> = Vec::new();
                        let outcome = record(conn, ctx, r, &mut events)?;
                        events::enqueue(conn, events)?;
                        Ok(outcome)
                    })
                })
                .collect()
        }
    }
}
