//! The job bus: how workers receive work and say what became of it.
//!
//! Its contract is RabbitMQ-shaped — receive a delivery under a lease (an unacked
//! message); then ack, retry after a delay (a TTL retry queue), defer without counting the attempt, hold (a paused campaign's
//! work, released by resume) or dead-letter (a parking queue). Two implementations:
//! [`JobTable`], the database's job table (embedded mode), and [`amqp::AmqpBus`], RabbitMQ.
//!
//! Work is *written* through the transactional outbox, never published directly: a handler
//! that causes more work (a dispatch creating deliveries, an API request sending a
//! campaign) inserts the job rows in the same transaction as the business rows
//! ([`mailroom_domain::jobs::JobRow::enqueue`]). With the job table as the bus those rows
//! are the queue itself; with RabbitMQ, [`amqp::relay`] publishes them with confirms.

use std::future::Future;
use std::time::Duration;

use mailroom_domain::Id;
use mailroom_domain::jobs::Job;

pub mod amqp;
mod job_table;

pub use job_table::JobTable;

/// A job handed to a worker, until it is acked, retried, held or dead-lettered.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: Id,
    pub job: Job,
    /// 1 on the first delivery.
    pub attempt: i32,
    pub max_attempts: i32,
    /// The bus's own handle on this delivery (a broker delivery, a claimed row).
    pub receipt: u64,
}

pub trait Bus: Send + Sync + 'static {
    /// The next due job, if any. It stays ours until acked or its lease runs out.
    fn receive(&self) -> impl Future<Output = mailroom_domain::Result<Option<Delivery>>> + Send;
    /// Done with it.
    fn ack(&self, delivery: &Delivery) -> impl Future<Output = mailroom_domain::Result<()>> + Send;
    /// Deliver it again after `delay`; the attempt counts.
    fn retry(
        &self,
        delivery: &Delivery,
        delay: Duration,
        reason: &str,
    ) -> impl Future<Output = mailroom_domain::Result<()>> + Send;
    /// Deliver it again after `delay`; the attempt does not count (its account waits for
    /// its next sending window).
    fn defer(
        &self,
        delivery: &Delivery,
        delay: Duration,
        reason: &str,
    ) -> impl Future<Output = mailroom_domain::Result<()>> + Send;
    /// Keep it aside with its group until the group is released (a paused campaign).
    fn hold(&self, delivery: &Delivery)
    -> impl Future<Output = mailroom_domain::Result<()>> + Send;
    /// Give up on it: it is parked for an operator to inspect.
    fn dead_letter(
        &self,
        delivery: &Delivery,
        reason: &str,
    ) -> impl Future<Output = mailroom_domain::Result<()>> + Send;
    /// Stop receiving (a worker shutting down): jobs received but not started go back.
    fn close(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
}
