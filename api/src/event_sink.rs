//! The hand-off of events born on public request paths (tracking hits) to the bus.
//!
//! A hit is verified and answered without touching the database: its event goes into a
//! bounded channel, and a background task hands what has gathered on as one
//! `events.record` job: up to 1,000 events, or what arrived within 20 ms of the first (a
//! handful of large jobs cost the broker and the events worker far less than many small
//! ones; the hit's answer never waits for this). With a broker (scale-out) the job is
//! published straight to it, with a publisher confirm: these events belong to no database
//! change, so the outbox would only add a write and a relay. Without one, or while the
//! broker is down or refuses the job, it is written to the outbox, retried through a
//! database outage. A full channel makes requests wait rather than drop events. Stopping
//! the API drains the channel first. `/metrics` counts the events and jobs handed on each
//! way (`mailroom_tracking_events_total`, `mailroom_tracking_jobs_total`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use mailroom_domain::events::{self, NewEvent};
use mailroom_domain::jobs::Enqueue;
use mailroom_domain::jobs::{Job, JobRow};
use mailroom_domain::store::Pool;
use mailroom_worker::bus::amqp::direct::DirectPublisher;
use mailroom_worker::context::on_pool;
use tokio::sync::mpsc;

const CAPACITY: usize = 20_000;
const BATCH: usize = 1_000;
const LINGER: Duration = Duration::from_millis(20);

#[derive(Clone)]
pub struct EventSink {
    events: mpsc::Sender<NewEvent>,
    handed_on: Arc<HandedOn>,
}

/// Events and jobs this process handed on, by way.
#[derive(Debug, Default)]
pub struct HandedOn {
    broker_events: AtomicU64,
    broker_jobs: AtomicU64,
    outbox_events: AtomicU64,
    outbox_jobs: AtomicU64,
}

impl HandedOn {
    fn count(&self, via_broker: bool, events: usize) {
        let (jobs, counted) = if via_broker {
            (&self.broker_jobs, &self.broker_events)
        } else {
            (&self.outbox_jobs, &self.outbox_events)
        };
        jobs.fetch_add(1, Ordering::Relaxed);
        counted.fetch_add(events as u64, Ordering::Relaxed);
    }

    /// `[(way, events, jobs)]`, for `/metrics`.
    pub fn snapshot(&self) -> [(&'static str, u64, u64); 2] {
        let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
        [
            ("broker", load(&self.broker_events), load(&self.broker_jobs)),
            ("outbox", load(&self.outbox_events), load(&self.outbox_jobs)),
        ]
    }
}

impl EventSink {
    /// Starts the writer on the current runtime; it ends when every sink is dropped and
    /// the channel is drained.
    pub fn start(
        pool: Pool,
        publisher: Option<DirectPublisher>,
    ) -> (EventSink, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(CAPACITY);
        let handed_on = Arc::new(HandedOn::default());
        let task = tokio::spawn(hand_on_batches(pool, publisher, rx, Arc::clone(&handed_on)));
        (
            EventSink {
                events: tx,
                handed_on,
            },
            task,
        )
    }

    pub fn handed_on(&self) -> &HandedOn {
        &self.handed_on
    }

    /// Hands an event on; waits only while the channel is full.
    pub async fn submit(&self, event: NewEvent) {
        if let Err(e) = self.events.send(event).await {
            tracing::error!(event = %e.0.id, "the event writer has stopped; event dropped");
        }
    }
}

async fn hand_on_batches(
    pool: Pool,
    publisher: Option<DirectPublisher>,
    mut rx: mpsc::Receiver<NewEvent>,
    handed_on: Arc<HandedOn>,
) {
    let queueing = events::record_queueing();
    while let Some(first) = rx.recv().await {
        let batch = gather(first, &mut rx).await;
        let size = batch.len();
        let job = Arc::new(Job::RecordEvents { events: batch });
        if let Some(publisher) = &publisher {
            match publisher.publish(&job, &queueing).await {
                Ok(()) => {
                    handed_on.count(true, size);
                    continue;
                }
                Err(reason) => {
                    tracing::debug!(%reason, "tracking events not published; writing them to the outbox")
                }
            }
        }
        write_to_outbox(&pool, job, &queueing).await;
        handed_on.count(false, size);
    }
}

/// The first event and what follows it within `LINGER`, up to `BATCH`. The writer sleeps
/// through the linger rather than waiting on each event: a hit then costs its request
/// thread no wake-up of this one.
async fn gather(first: NewEvent, rx: &mut mpsc::Receiver<NewEvent>) -> Vec<NewEvent> {
    let mut batch = vec![first];
    take_waiting(rx, &mut batch);
    if batch.len() < BATCH && !rx.is_closed() {
        tokio::time::sleep(LINGER).await;
        take_waiting(rx, &mut batch);
    }
    batch
}

fn take_waiting(rx: &mut mpsc::Receiver<NewEvent>, batch: &mut Vec<NewEvent>) {
    while batch.len() < BATCH {
        match rx.try_recv() {
            Ok(event) => batch.push(event),
            Err(_) => break,
        }
    }
}

/// Writes the job to the outbox, retrying (with backoff) until the database takes it.
async fn write_to_outbox(pool: &Pool, job: Arc<Job>, queueing: &Enqueue) {
    let mut delay = Duration::from_millis(100);
    loop {
        let (job, queueing) = (Arc::clone(&job), *queueing);
        let written = on_pool(pool, move |conn| {
            conn.write_transaction(|conn| JobRow::enqueue(conn, &job, queueing))
        })
        .await;
        match written {
            Ok(_) => return,
            Err(e) => tracing::warn!(error = %e, "writing tracking events failed; retrying"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}
