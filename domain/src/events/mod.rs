//! Events: everything that happens to a message after it leaves — sent, deferred,
//! bounced, blocked, opened, clicked, unsubscribed, complained — recorded once, counted in
//! campaign statistics, and fanned out to the account's webhooks.
//!
//! Events are born where they happen (the sender, the tracking and unsubscribe endpoints,
//! inbound reports) with an id of their own, travel through the bus as `events.record`
//! jobs, and are written by the events worker in batches ([`record_batch`]). The id makes
//! recording idempotent: a redelivered job records nothing twice.

mod event;
mod ip;
mod query;
mod record;
mod repeats;
mod stats;
mod totals;

pub use event::{Event, EventData, EventType, NewEvent, REPEATED_HIT, REPORTED_AFTER_DELIVERY};
pub use ip::truncate_ip;
pub use query::EventQuery;
pub use record::record_batch;
pub use stats::{CampaignStats, LinkClicks};
pub use totals::outcome_totals;

use crate::error::Result;
use crate::jobs::{Enqueue, Job, JobRow, Priority};
use crate::store::DbConnection;

/// Hands events to the events worker through the outbox (inside the caller's transaction,
/// so an event exists exactly when what it reports does).
pub fn enqueue(conn: &mut DbConnection, events: Vec<NewEvent>) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    JobRow::enqueue(conn, &Job::RecordEvents { events }, record_queueing())?;
    Ok(())
}

/// How `events.record` jobs are queued: ahead of bulk sending, retried for a while.
pub fn record_queueing() -> Enqueue {
    Enqueue {
        priority: Priority::DISPATCH,
        max_attempts: 20,
        ..Enqueue::default()
    }
}
