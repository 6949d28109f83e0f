//! Jobs: typed work items and the table that queues them (and serves as the outbox).

mod job;
mod outbox;
mod queue;

pub use job::{Job, Priority};
pub use queue::{ClaimedJob, Enqueue, JobRow, backoff, status};
