//! The job table: the embedded queue, and the transactional outbox of the scale-out bus.
//!
//! A job row is written in the same transaction as the business rows that cause it, so the
//! work exists exactly when the change does. Embedded workers claim rows directly (on
//! PostgreSQL with `FOR UPDATE SKIP LOCKED`, so any number of workers share the table); a
//! claimed row carries a lease, and a worker that dies loses its lease and the job is
//! claimed again.

use std::time::Duration;

use diesel::prelude::*;

use super::job::{Job, Priority};
use super::lane::{Lane, NO_ACCOUNT};
use crate::clock;
use crate::error::{Error, Result};
use crate::schema::jobs;
use crate::store::DbConnection;
use crate::store::sql_types::{Id, Json, Timestamp};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = jobs)]
pub struct JobRow {
    pub id: Id,
    pub kind: String,
    pub group_id: Option<Id>,
    pub payload: Json,
    pub priority: i32,
    pub status: String,
    pub run_at: Timestamp,
    pub attempts: i32,
    pub max_attempts: i32,
    pub locked_until: Option<Timestamp>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The lane it runs in ([`Lane::as_str`]).
    pub lane: String,
    /// The account it works for ([`NO_ACCOUNT`] for installation-wide work).
    pub account_id: Id,
}

/// A job a worker holds under lease.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub id: Id,
    pub job: Job,
    /// 1 on the first run.
    pub attempt: i32,
    pub max_attempts: i32,
    /// Whose turn it was: the account the job works for.
    pub account_id: Id,
}

pub mod status {
    pub const PENDING: &str = "pending";
    pub const RUNNING: &str = "running";
    /// Paused with its group (a paused campaign); released by resume.
    pub const HELD: &str = "held";
    pub const DONE: &str = "done";
    /// Failed its last attempt: parked for an operator.
    pub const DEAD: &str = "dead";
    /// Scale-out: taken by the outbox relay, being published to the broker.
    pub const RELAYING: &str = "relaying";
    /// Scale-out: confirmed by the broker, which holds the job from now on.
    pub const PUBLISHED: &str = "published";

    /// The states of `jobs_active_idx` (still to run or to relay), as its SQL predicate:
    /// written out literally, not bound, so that both backends' planners can use it.
    pub(crate) const ACTIVE_SQL: &str = "jobs.status IN ('pending', 'running', 'relaying')";
}

/// A job still to run or to relay (see `status::ACTIVE_SQL`).
pub(crate) fn active() -> diesel::expression::SqlLiteral<diesel::sql_types::Bool> {
    diesel::dsl::sql::<diesel::sql_types::Bool>(status::ACTIVE_SQL)
}

/// Options of a new job.
#[derive(Debug, Clone, Copy)]
pub struct Enqueue {
    pub priority: Priority,
    pub run_at: Option<Timestamp>,
    pub group: Option<Id>,
    pub max_attempts: i32,
    /// The account the job works for: it waits for that account's turn in its lane.
    /// `None` for installation-wide work.
    pub account: Option<Id>,
}

impl Default for Enqueue {
    fn default() -> Self {
        Enqueue {
            priority: Priority::BULK,
            run_at: None,
            group: None,
            max_attempts: 8,
            account: None,
        }
    }
}

/// Where a lane's claim starts: after the account served last, passing over the accounts
/// that hold their whole share of the lane's slots already.
#[derive(Debug, Clone, Default)]
pub struct Turn {
    pub last_served: Option<Id>,
    pub skip: Vec<Id>,
}

fn add(at: Timestamp, by: Duration) -> Timestamp {
    Timestamp::from(at.0 + chrono::Duration::from_std(by).unwrap_or(chrono::Duration::zero()))
}

impl JobRow {
    /// Writes a job; call it inside the transaction of the change that causes it.
    pub fn enqueue(conn: &mut DbConnection, job: &Job, options: Enqueue) -> Result<Id> {
        Self::enqueue_as(conn, Id::new(), job, options)
    }

    /// Writes a job under an id the caller chose; a second job with the same id is a
    /// `Conflict`.
    pub fn enqueue_as(conn: &mut DbConnection, id: Id, job: &Job, options: Enqueue) -> Result<Id> {
        let row = Self::new_row(id, job, &options, clock::now());
        diesel::insert_into(jobs::table)
            .values(&row)
            .execute(conn)?;
        Ok(row.id)
    }

    /// Writes many jobs, each for its account, with the same options otherwise in a few
    /// statements; call it inside the transaction of the change that causes them.
    pub fn enqueue_many(
        conn: &mut DbConnection,
        jobs: &[(Id, Job)],
        options: Enqueue,
    ) -> Result<()> {
        /// Rows per INSERT, well inside both backends' limits on bound parameters.
        const ROWS_PER_INSERT: usize = 500;
        let now = clock::now();
        for chunk in jobs.chunks(ROWS_PER_INSERT) {
            let rows: Vec<JobRow> = chunk
                .iter()
                .map(|(account, job)| {
                    let options = Enqueue {
                        account: Some(*account),
                        ..options
                    };
                    Self::new_row(Id::new(), job, &options, now)
                })
                .collect();
            match conn {
                DbConnection::Postgres(pg) => {
                    diesel::insert_into(jobs::table).values(&rows).execute(pg)?
                }
                DbConnection::Sqlite(lite) => diesel::insert_into(jobs::table)
                    .values(&rows)
                    .execute(lite)?,
            };
        }
        Ok(())
    }

    fn new_row(id: Id, job: &Job, options: &Enqueue, now: Timestamp) -> JobRow {
        JobRow {
            id,
            kind: job.kind().to_owned(),
            group_id: options.group,
            payload: job.payload(),
            priority: options.priority.0,
            status: status::PENDING.to_owned(),
            run_at: options.run_at.unwrap_or(now),
            attempts: 0,
            max_attempts: options.max_attempts,
            locked_until: None,
            last_error: None,
            created_at: now,
            updated_at: now,
            lane: Lane::of_job(job, options.priority).as_str().to_owned(),
            account_id: options.account.unwrap_or(NO_ACCOUNT),
        }
    }

    /// Takes a due job of any lane (or one whose lease ran out), lanes in [`Lane::ALL`]
    /// order, without regard to turns: for tools and tests; workers claim by lane.
    pub fn claim(conn: &mut DbConnection, lease: Duration) -> Result<Option<ClaimedJob>> {
        for lane in Lane::ALL {
            if let Some(job) = Self::claim_in(conn, lane, &Turn::default(), lease)? {
                return Ok(Some(job));
            }
        }
        Ok(None)
    }

    /// Takes the next due job of `lane` (or one whose lease ran out) under a lease: of the
    /// accounts with due work, not `turn.skip`, the next after `turn.last_served` (wrapping
    /// round, [`super::next_turn`]); of that account's jobs, the most urgent.
    pub fn claim_in(
        conn: &mut DbConnection,
        lane: Lane,
        turn: &Turn,
        lease: Duration,
    ) -> Result<Option<ClaimedJob>> {
        let now = clock::now();
        let claimed = conn.write_transaction(|conn| {
            let mut candidate = match turn.last_served {
                Some(last) => Self::next_in_lane(conn, lane, turn, Some(last), now)?,
                None => None,
            };
            if candidate.is_none() {
                candidate = Self::next_in_lane(conn, lane, turn, None, now)?;
            }
            let Some(id) = candidate else {
                return Ok::<_, Error>(None);
            };
            diesel::update(jobs::table.find(id))
                .set((
                    jobs::status.eq(status::RUNNING),
                    jobs::locked_until.eq(Some(add(now, lease))),
                    jobs::attempts.eq(jobs::attempts + 1),
                    jobs::updated_at.eq(now),
                ))
                .execute(conn)?;
            Ok(Some(
                jobs::table
                    .find(id)
                    .select(JobRow::as_select())
                    .first(conn)?,
            ))
        })?;
        let Some(row) = claimed else { return Ok(None) };
        // A job whose workers keep dying never reaches a handler that could give up on it:
        // past its last attempt it is parked here instead of being claimed forever.
        if row.attempts > row.max_attempts {
            Self::dead(
                conn,
                row.id,
                "no worker finished it within its attempts (leases expired)",
            )?;
            return Ok(None);
        }
        let job = match Job::from_parts(&row.kind, &row.payload) {
            Ok(job) => job,
            Err(e) => {
                Self::dead(conn, row.id, &e.to_string())?;
                return Err(e);
            }
        };
        Ok(Some(ClaimedJob {
            id: row.id,
            job,
            attempt: row.attempts,
            max_attempts: row.max_attempts,
            account_id: row.account_id,
        }))
    }

    /// The first due job of `lane` in turn order (`jobs_lane_turn_idx`): by account, after
    /// `after` when given, then most urgent first; locked against other workers on
    /// PostgreSQL (SQLite's write transaction already serialises claims).
    fn next_in_lane(
        conn: &mut DbConnection,
        lane: Lane,
        turn: &Turn,
        after: Option<Id>,
        now: Timestamp,
    ) -> Result<Option<Id>> {
        let due = jobs::status
            .eq(status::PENDING)
            .and(jobs::run_at.le(now))
            .or(jobs::status
                .eq(status::RUNNING)
                .and(jobs::locked_until.lt(now)));
        // From the account after `after` (ids are fixed-width, so the next id sorts first
        // after it on both backends), or from the start: the nil account sorts first.
        let from = after.map_or(NO_ACCOUNT, |last| {
            Id(uuid::Uuid::from_u128(last.0.as_u128().saturating_add(1)))
        });
        let skip = turn.skip.clone();
        macro_rules! first_in_turn {
            ($conn:expr $(, $lock:ident)*) => {
                jobs::table
                    .filter(active())
                    .filter(jobs::lane.eq(lane.as_str()))
                    .filter(jobs::account_id.ge(from))
                    .filter(jobs::account_id.ne_all(skip))
                    .filter(due)
                    .order((
                        jobs::account_id.asc(),
                        jobs::priority.desc(),
                        jobs::run_at.asc(),
                    ))
                    .select(jobs::id)
                    .limit(1)
                    $(.$lock())*
                    .first($conn)
                    .optional()?
            };
        }
        Ok(match conn {
            DbConnection::Postgres(pg) => first_in_turn!(pg, for_update, skip_locked),
            DbConnection::Sqlite(_) => first_in_turn!(conn),
        })
    }

    /// The job is finished.
    pub fn complete(conn: &mut DbConnection, id: Id) -> Result<()> {
        Self::set_status(conn, id, status::DONE, None)
    }

    /// Runs the job again after `delay`.
    pub fn retry(conn: &mut DbConnection, id: Id, delay: Duration, error: &str) -> Result<()> {
        let now = clock::now();
        diesel::update(jobs::table.find(id))
            .set((
                jobs::status.eq(status::PENDING),
                jobs::run_at.eq(add(now, delay)),
                jobs::locked_until.eq(None::<Timestamp>),
                jobs::last_error.eq(Some(truncate(error))),
                jobs::updated_at.eq(now),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Gives the job back without counting the attempt (a worker shutting down).
    pub fn release(conn: &mut DbConnection, id: Id) -> Result<()> {
        let now = clock::now();
        diesel::update(jobs::table.find(id))
            .set((
                jobs::status.eq(status::PENDING),
                jobs::attempts.eq(jobs::attempts - 1),
                jobs::locked_until.eq(None::<Timestamp>),
                jobs::updated_at.eq(now),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Holds one job with its group (it found its campaign paused) or its account (it
    /// found it suspended); the attempt does not count. A resume that came since the job
    /// looked has nothing left to hold it for: the job runs again at once instead (see
    /// `hold`).
    pub fn hold(conn: &mut DbConnection, id: Id) -> Result<()> {
        conn.write_transaction(|conn| {
            let waits = super::hold::still_waits(conn, id)?;
            let now = clock::now();
            diesel::update(jobs::table.find(id))
                .set((
                    jobs::status.eq(if waits { status::HELD } else { status::PENDING }),
                    jobs::run_at.eq(now),
                    jobs::attempts.eq(jobs::attempts - 1),
                    jobs::locked_until.eq(None::<Timestamp>),
                    jobs::updated_at.eq(now),
                ))
                .execute(conn)?;
            Ok(())
        })
    }

    /// Parks the job after its last attempt.
    pub fn dead(conn: &mut DbConnection, id: Id, error: &str) -> Result<()> {
        Self::set_status(conn, id, status::DEAD, Some(error))
    }

    fn set_status(
        conn: &mut DbConnection,
        id: Id,
        new_status: &str,
        error: Option<&str>,
    ) -> Result<()> {
        diesel::update(jobs::table.find(id))
            .set((
                jobs::status.eq(new_status),
                jobs::locked_until.eq(None::<Timestamp>),
                jobs::last_error.eq(error.map(truncate)),
                jobs::updated_at.eq(clock::now()),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Holds every pending job of a group (a paused campaign).
    pub fn hold_group(conn: &mut DbConnection, group: Id) -> Result<usize> {
        Self::move_group(conn, group, status::PENDING, status::HELD)
    }

    /// Releases a held group.
    pub fn release_group(conn: &mut DbConnection, group: Id) -> Result<usize> {
        Self::move_group(conn, group, status::HELD, status::PENDING)
    }

    /// Releases the account's held jobs that belong to no group: the transactional mail a
    /// suspension held.
    pub fn release_held_ungrouped(conn: &mut DbConnection, account: Id) -> Result<usize> {
        Ok(diesel::update(
            jobs::table
                .filter(jobs::account_id.eq(account))
                .filter(jobs::group_id.is_null())
                .filter(jobs::status.eq(status::HELD)),
        )
        .set((
            jobs::status.eq(status::PENDING),
            jobs::run_at.eq(clock::now()),
            jobs::updated_at.eq(clock::now()),
        ))
        .execute(conn)?)
    }

    /// Runs the job again after `delay` without counting the attempt (its account waits
    /// for its next sending window).
    pub fn defer(conn: &mut DbConnection, id: Id, delay: Duration, reason: &str) -> Result<()> {
        let now = clock::now();
        diesel::update(jobs::table.find(id))
            .set((
                jobs::status.eq(status::PENDING),
                jobs::run_at.eq(add(now, delay)),
                jobs::attempts.eq(jobs::attempts - 1),
                jobs::locked_until.eq(None::<Timestamp>),
                jobs::last_error.eq(Some(truncate(reason))),
                jobs::updated_at.eq(now),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Drops every waiting job of a group (a cancelled campaign).
    pub fn cancel_group(conn: &mut DbConnection, group: Id) -> Result<usize> {
        let n = Self::move_group(conn, group, status::PENDING, status::DONE)?;
        Ok(n + Self::move_group(conn, group, status::HELD, status::DONE)?)
    }

    fn move_group(conn: &mut DbConnection, group: Id, from: &str, to: &str) -> Result<usize> {
        Ok(diesel::update(
            jobs::table
                .filter(jobs::group_id.eq(group))
                .filter(jobs::status.eq(from)),
        )
        .set((jobs::status.eq(to), jobs::updated_at.eq(clock::now())))
        .execute(conn)?)
    }

    /// How many jobs wait or run (tests use it to know the queue drained).
    pub fn outstanding(conn: &mut DbConnection) -> Result<i64> {
        Ok(jobs::table
            .filter(jobs::status.eq_any([status::PENDING, status::RUNNING]))
            .count()
            .get_result(conn)?)
    }

    pub fn find(conn: &mut DbConnection, id: Id) -> Result<JobRow> {
        jobs::table
            .find(id)
            .select(JobRow::as_select())
            .first(conn)
            .optional()?
            .ok_or(Error::NotFound("job"))
    }
}

fn truncate(error: &str) -> String {
    error.chars().take(2000).collect()
}

/// Exponential backoff: `base * 2^(attempt-1)`, capped.
pub fn backoff(base: Duration, attempt: i32, cap: Duration) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).clamp(0, 20) as u32);
    base.saturating_mul(factor).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let base = Duration::from_secs(60);
        assert_eq!(
            backoff(base, 1, Duration::from_secs(3600)),
            Duration::from_secs(60)
        );
        assert_eq!(
            backoff(base, 3, Duration::from_secs(3600)),
            Duration::from_secs(240)
        );
        assert_eq!(
            backoff(base, 30, Duration::from_secs(3600)),
            Duration::from_secs(3600)
        );
    }
}
