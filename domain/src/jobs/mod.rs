//! Jobs: typed work items and the table that queues them (and serves as the outbox).

mod hold;
mod job;
mod lane;
mod outbox;
mod ownership;
mod periodic;
mod queue;

pub use job::{Job, Priority};
pub use lane::{Lane, NO_ACCOUNT, next_turn};
pub(crate) use ownership::{AccountRows, JobTarget};
pub use periodic::{period_id, schedule_periodic};
pub use queue::{ClaimedJob, Enqueue, JobRow, Turn, backoff, status};
