//! The job table as the transactional outbox of the RabbitMQ bus.
//!
//! With a broker, a job row is written exactly as in embedded mode — in the transaction of
//! the change that causes it — and a relay moves it to the broker: it takes a batch of due
//! rows under a lease (`relaying`), publishes them with publisher confirms, and marks them
//! `published`. A relay that dies mid-batch loses its lease and the rows are relayed again;
//! consumers are idempotent, so a second copy of a job does no second piece of work.

use std::time::Duration;

use diesel::prelude::*;

use super::queue::{JobRow, status};
use crate::clock;
use crate::error::Result;
use crate::schema::jobs;
use crate::store::DbConnection;
use crate::store::sql_types::{Id, Timestamp};

impl JobRow {
    /// Takes up to `limit` due rows for publishing, most urgent first, under a lease.
    pub fn take_for_relay(
        conn: &mut DbConnection,
        limit: i64,
        lease: Duration,
    ) -> Result<Vec<JobRow>> {
        let now = clock::now();
        let due = jobs::status
            .eq(status::PENDING)
            .and(jobs::run_at.le(now))
            .or(jobs::status
                .eq(status::RELAYING)
                .and(jobs::locked_until.lt(now)));
        conn.write_transaction(|conn| {
            let ids: Vec<Id> = match conn {
                DbConnection::Postgres(pg) => jobs::table
                    .filter(super::queue::active())
                    .filter(due)
                    .order((jobs::priority.desc(), jobs::run_at.asc()))
                    .select(jobs::id)
                    .limit(limit)
                    .for_update()
                    .skip_locked()
                    .load(pg)?,
                DbConnection::Sqlite(_) => jobs::table
                    .filter(super::queue::active())
                    .filter(due)
                    .order((jobs::priority.desc(), jobs::run_at.asc()))
                    .select(jobs::id)
                    .limit(limit)
                    .load(conn)?,
            };
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            let until = Timestamp::from(
                now.0 + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::zero()),
            );
            diesel::update(jobs::table.filter(jobs::id.eq_any(&ids)))
                .set((
                    jobs::status.eq(status::RELAYING),
                    jobs::locked_until.eq(Some(until)),
                    jobs::updated_at.eq(now),
                ))
                .execute(conn)?;
            Ok(jobs::table
                .filter(jobs::id.eq_any(&ids))
                .order((jobs::priority.desc(), jobs::run_at.asc()))
                .select(JobRow::as_select())
                .load(conn)?)
        })
    }

    /// The broker confirmed these rows: they are its now.
    pub fn mark_published(conn: &mut DbConnection, ids: &[Id]) -> Result<usize> {
        Ok(diesel::update(
            jobs::table
                .filter(jobs::id.eq_any(ids))
                .filter(jobs::status.eq(status::RELAYING)),
        )
        .set((
            jobs::status.eq(status::PUBLISHED),
            jobs::locked_until.eq(None::<Timestamp>),
            jobs::updated_at.eq(clock::now()),
        ))
        .execute(conn)?)
    }

    /// Hands rows back to the outbox (the broker refused them, or the relay is stopping).
    pub fn return_to_outbox(conn: &mut DbConnection, ids: &[Id]) -> Result<usize> {
        Ok(diesel::update(
            jobs::table
                .filter(jobs::id.eq_any(ids))
                .filter(jobs::status.eq(status::RELAYING)),
        )
        .set((
            jobs::status.eq(status::PENDING),
            jobs::locked_until.eq(None::<Timestamp>),
            jobs::updated_at.eq(clock::now()),
        ))
        .execute(conn)?)
    }

    /// Rows waiting for the relay (due now, or whose relay lease ran out).
    pub fn unrelayed(conn: &mut DbConnection) -> Result<i64> {
        Ok(jobs::table
            .filter(jobs::status.eq_any([status::PENDING, status::RELAYING]))
            .filter(jobs::run_at.le(clock::now()))
            .count()
            .get_result(conn)?)
    }

    /// Marks a job parked (dead) or published again (redriven from the parking queue).
    pub fn set_parked(conn: &mut DbConnection, id: Id, reason: Option<&str>) -> Result<()> {
        let (new_status, error) = match reason {
            Some(reason) => (status::DEAD, Some(reason.chars().take(2000).collect())),
            None => (status::PUBLISHED, None::<String>),
        };
        diesel::update(jobs::table.find(id))
            .set((
                jobs::status.eq(new_status),
                jobs::last_error.eq(error),
                jobs::updated_at.eq(clock::now()),
            ))
            .execute(conn)?;
        Ok(())
    }
}

impl JobRow {
    /// Scale-out: a published job found its campaign paused or its account suspended. Its
    /// row holds it (the broker forgets it) until resume moves it back to the outbox; a
    /// resume that came since the job looked sends it back to the outbox at once (see
    /// `hold`).
    pub fn hold_in_outbox(conn: &mut DbConnection, id: Id) -> Result<()> {
        conn.write_transaction(|conn| {
            let waits = super::hold::still_waits(conn, id)?;
            let now = clock::now();
            diesel::update(jobs::table.find(id))
                .set((
                    jobs::status.eq(if waits { status::HELD } else { status::PENDING }),
                    jobs::run_at.eq(now),
                    jobs::locked_until.eq(None::<Timestamp>),
                    jobs::updated_at.eq(now),
                ))
                .execute(conn)?;
            Ok(())
        })
    }
}
