//! The embedded bus: the database's job table.

use std::time::Duration;

use mailroom_domain::jobs::JobRow;
use mailroom_domain::store::{DbConnection, Pool};

use super::{Bus, Delivery};
use crate::context::on_pool;

/// The database's job table as the bus. Any number of workers share it (on
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
        on_pool(&self.pool, work).await
    }
}

impl Bus for JobTable {
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
            receipt: 0,
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
