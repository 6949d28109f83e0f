//! The job bus: how workers receive work and say what became of it.
//!
//! Its contract is RabbitMQ-shaped — publish with confirmation; receive a delivery under a
//! lease (an unacked message); then ack, retry after a delay (a TTL retry queue), hold (a
//! paused campaign's work, released by resume) or dead-letter (a parking queue) — so that a
//! broker implementation can stand beside [`JobTable`], the embedded one.
//!
//! Work is *written* through the transactional outbox, not published directly: a handler
//! that causes more work (a dispatch creating deliveries, an API request sending a
//! campaign) inserts the job rows in the same transaction as the business rows
//! ([`mailroom_domain::jobs::JobRow::enqueue`]). With the job table as the bus those rows
//! are the queue itself; a broker implementation relays them and publishes with confirms.

use std::future::Future;
use std::time::Duration;

use mailroom_domain::Id;
use mailroom_domain::jobs::{Enqueue, Job, JobRow};
use mailroom_domain::store::{DbConnection, Pool, checkout};

/// A job handed to a worker, until it is acked, retried, held or dead-lettered.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: Id,
    pub job: Job,
    /// 1 on the first delivery.
    pub attempt: i32,
    pub max_attempts: i32,
}

pub trait Bus: Send + Sync + 'static {
    /// Publishes a job; resolves once the bus holds it durably (a committed row, a broker's
    /// publisher confirm).
    fn publish(
        &self,
        job: Job,
        options: Enqueue,
    ) -> impl Future<Output = mailroom_domain::Result<Id>> + Send;
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
    /// Keep it aside with its group until the group is released (a paused campaign).
    fn hold(&self, delivery: &Delivery)
    -> impl Future<Output = mailroom_domain::Result<()>> + Send;
    /// Give up on it: it is parked for an operator to inspect.
    fn dead_letter(
        &self,
        delivery: &Delivery,
        reason: &str,
    ) -> impl Future<Output = mailroom_domain::Result<()>> + Send;
}

/// The embedded bus: the database's job table. Any number of workers share it (on
/// PostgreSQL, claims use `FOR UPDATE SKIP LOCKED`); a claim is a lease, so the jobs of a
/// worker that dies are delivered again when their lease runs out.
#[derive(Clone)]
pub struct JobTable {
    pool: Pool,
    lease: Duration,
}

impl JobTable {
    /// How long a worker may hold a job before another may take it.
    pub const DEFAULT_LEASE: Duration = Duration::from_secs(300);

    pub fn new(pool: Pool) -> Self {
        JobTable {
            pool,
            lease: Self::DEFAULT_LEASE,
        }
    }

    async fn with_conn<T, F>(&self, work: F) -> mailroom_domain::Result<T>
    where
        F: FnOnce(&mut DbConnection) -> mailroom_domain::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || work(&mut *checkout(&pool)?))
            .await
            .map_err(|e| mailroom_domain::Error::Internal(format!("blocking task failed: {e}")))?
    }
}

impl Bus for JobTable {
    async fn publish(&self, job: Job, options: Enqueue) -> mailroom_domain::Result<Id> {
        self.with_conn(move |conn| JobRow::enqueue(conn, &job, options))
            .await
    }

    async fn receive(&self) -> mailroom_domain::Result<Option<Delivery>> {
        let lease = self.lease;
        let claimed = self
            .with_conn(move |conn| JobRow::claim(conn, lease))
            .await?;
        Ok(claimed.map(|c| Delivery {
            id: c.id,
            job: c.job,
            attempt: c.attempt,
            max_attempts: c.max_attempts,
        }))
    }

    async fn ack(&self, delivery: &Delivery) -> mailroom_domain::Result<()> {
        let id = delivery.id;
        self.with_conn(move |conn| JobRow::complete(conn, id)).await
    }

    async fn retry(
        &self,
        delivery: &Delivery,
        delay: Duration,
        reason: &str,
    ) -> mailroom_domain::Result<()> {
        let (id, reason) = (delivery.id, reason.to_owned());
        self.with_conn(move |conn| JobRow::retry(conn, id, delay, &reason))
            .await
    }

    async fn hold(&self, delivery: &Delivery) -> mailroom_domain::Result<()> {
        let id = delivery.id;
        self.with_conn(move |conn| JobRow::hold(conn, id)).await
    }

    async fn dead_letter(&self, delivery: &Delivery, reason: &str) -> mailroom_domain::Result<()> {
        let (id, reason) = (delivery.id, reason.to_owned());
        self.with_conn(move |conn| JobRow::dead(conn, id, &reason))
            .await
    }
}
