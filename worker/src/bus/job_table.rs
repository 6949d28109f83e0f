//! The embedded bus: the database's job table, one lane of it per [`JobTable`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailroom_domain::Id;
use mailroom_domain::jobs::{JobRow, Lane, Turn};
use mailroom_domain::store::{DbConnection, Pool};

use super::{Bus, Delivery};
use crate::context::on_pool;

/// One lane of the database's job table as the bus. Any number of workers share it (on
/// PostgreSQL, claims use `FOR UPDATE SKIP LOCKED`); a claim is a lease, so the jobs of a
/// worker that dies are delivered again when their lease runs out.
///
/// Claims go round the accounts with due work ([`JobRow::claim_in`]); an account that
/// holds `account_slots` of this lane's jobs already is passed over until one finishes,
/// so that work which waits on others (a webhook receiver that never answers) occupies
/// at most that account's share of the lane.
#[derive(Clone)]
pub struct JobTable {
    pool: Pool,
    lease: Duration,
    lane: Lane,
    account_slots: usize,
    turns: Arc<Mutex<Turns>>,
}

/// The lane's turn: the account served last and the jobs each account has under way.
#[derive(Default)]
struct Turns {
    last_served: Option<Id>,
    under_way: HashMap<Id, usize>,
    /// Job id → its account, to give the slot back whatever becomes of the job.
    accounts: HashMap<Id, Id>,
}

impl Turns {
    fn next(&self, account_slots: usize) -> Turn {
        Turn {
            last_served: self.last_served,
            skip: self
                .under_way
                .iter()
                .filter(|(_, n)| **n >= account_slots)
                .map(|(account, _)| *account)
                .collect(),
        }
    }

    fn started(&mut self, job: Id, account: Id) {
        self.last_served = Some(account);
        *self.under_way.entry(account).or_default() += 1;
        self.accounts.insert(job, account);
    }

    fn finished(&mut self, job: Id) {
        let Some(account) = self.accounts.remove(&job) else {
            return;
        };
        if let Some(n) = self.under_way.get_mut(&account) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.under_way.remove(&account);
            }
        }
    }
}

impl JobTable {
    /// How long a worker may hold a job before another may take it.
    pub const DEFAULT_LEASE: Duration = Duration::from_secs(300);

    /// The lane `lane`, where one account holds at most `account_slots` jobs at once.
    pub fn new(pool: Pool, lane: Lane, account_slots: usize) -> Self {
        JobTable {
            pool,
            lease: Self::DEFAULT_LEASE,
            lane,
            account_slots: account_slots.max(1),
            turns: Arc::new(Mutex::new(Turns::default())),
        }
    }

    fn finished(&self, delivery: &Delivery) {
        if let Ok(mut turns) = self.turns.lock() {
            turns.finished(delivery.id);
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
        let (lease, lane) = (self.lease, self.lane);
        let turn = match self.turns.lock() {
            Ok(turns) => turns.next(self.account_slots),
            Err(_) => Turn::default(),
        };
        let claimed = self
            .with_conn(move |conn| JobRow::claim_in(conn, lane, &turn, lease))
            .await?;
        if let (Some(c), Ok(mut turns)) = (&claimed, self.turns.lock()) {
            turns.started(c.id, c.account_id);
        }
        Ok(claimed.map(|c| Delivery {
            id: c.id,
            job: c.job,
            attempt: c.attempt,
            max_attempts: c.max_attempts,
            receipt: 0,
        }))
    }

    async fn ack(&self, delivery: &Delivery) -> mailroom_domain::Result<()> {
        self.finished(delivery);
        let id = delivery.id;
        self.with_conn(move |conn| JobRow::complete(conn, id)).await
    }

    async fn retry(
        &self,
        delivery: &Delivery,
        delay: Duration,
        reason: &str,
    ) -> mailroom_domain::Result<()> {
        self.finished(delivery);
        let (id, reason) = (delivery.id, reason.to_owned());
        self.with_conn(move |conn| JobRow::retry(conn, id, delay, &reason))
            .await
    }

    async fn defer(
        &self,
        delivery: &Delivery,
        delay: Duration,
        reason: &str,
    ) -> mailroom_domain::Result<()> {
        self.finished(delivery);
        let (id, reason) = (delivery.id, reason.to_owned());
        self.with_conn(move |conn| JobRow::defer(conn, id, delay, &reason))
            .await
    }

    async fn hold(&self, delivery: &Delivery) -> mailroom_domain::Result<()> {
        self.finished(delivery);
        let id = delivery.id;
        self.with_conn(move |conn| JobRow::hold(conn, id)).await
    }

    async fn dead_letter(&self, delivery: &Delivery, reason: &str) -> mailroom_domain::Result<()> {
        self.finished(delivery);
        let (id, reason) = (delivery.id, reason.to_owned());
        self.with_conn(move |conn| JobRow::dead(conn, id, &reason))
            .await
    }
}
