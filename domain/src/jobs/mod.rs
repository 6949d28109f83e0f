//! Jobs: typed work items and the table that queues them (and serves as the outbox).

mod job;
mod outbox;
mod ownership;
mod periodic;
mod queue;

pub use job::{Job, Priority};
pub(crate) use ownership::{AccountRows, JobTarget};
pub use periodic::{period_id, schedule_periodic};
pub use queue::{ClaimedJob, Enqueue, JobRow, backoff, status};
