//! The hand-off of events born on public request paths (tracking hits) to the bus.
//!
//! A hit is verified and answered without touching the database: its event goes into a
//! bounded channel, and a background task writes what has gathered as `events.record`
//! outbox jobs, up to 500 events per job and one transaction per batch. A full channel
//! makes requests wait rather than drop events; a database outage makes the task retry the
//! batch it holds. Stopping the API drains the channel first.

use std::time::Duration;

use mailroom_domain::events::{self, NewEvent};
use mailroom_domain::store::{Pool, checkout};
use tokio::sync::mpsc;

const CAPACITY: usize = 20_000;
const BATCH: usize = 500;

#[derive(Clone)]
pub struct EventSink {
    events: mpsc::Sender<NewEvent>,
}

impl EventSink {
    /// Starts the writer on the current runtime; it ends when every sink is dropped and
    /// the channel is drained.
    pub fn start(pool: Pool) -> (EventSink, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(CAPACITY);
        let task = tokio::spawn(write_batches(pool, rx));
        (EventSink { events: tx }, task)
    }

    /// Hands an event on; waits only while the channel is full.
    pub async fn submit(&self, event: NewEvent) {
        if let Err(e) = self.events.send(event).await {
            tracing::error!(event = %e.0.id, "the event writer has stopped; event dropped");
        }
    }
}

async fn write_batches(pool: Pool, mut rx: mpsc::Receiver<NewEvent>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(event) => batch.push(event),
                Err(_) => break,
            }
        }
        let mut delay = Duration::from_millis(100);
        loop {
            let (pool, events) = (pool.clone(), batch.clone());
            let written = tokio::task::spawn_blocking(move || {
                let mut conn = checkout(&pool)?;
                conn.write_transaction(|conn| events::enqueue(conn, events))
            })
            .await;
            match written {
                Ok(Ok(())) => break,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, events = batch.len(), "writing tracking events failed; retrying")
                }
                Err(e) => tracing::warn!(error = %e, "the event writer task failed; retrying"),
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }
}
