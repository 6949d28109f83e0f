//! Jobs that recur (the retention purge): every process that schedules them writes the
//! job of the current period under the same id, derived from the period, so however many
//! replicas schedule it, each period has one job row.

use std::time::Duration;

use super::job::Job;
use super::queue::{Enqueue, JobRow};
use crate::error::{Error, Result};
use crate::store::DbConnection;
use crate::store::sql_types::{Id, Timestamp};

/// The id of `job`'s run for the period of length `every` that holds `now`: a UUIDv7
/// whose time is the period's start and whose remaining bits name the job's kind.
pub fn period_id(job: &Job, every: Duration, now: Timestamp) -> Id {
    let every_ms = (every.as_millis() as u64).max(1);
    let now_ms = now.0.timestamp_millis().max(0) as u64;
    let start = now_ms - now_ms % every_ms;
    let mut tail = [0u8; 10];
    let kind = job.kind().as_bytes();
    for (i, b) in kind.iter().enumerate() {
        tail[i % 10] ^= b.rotate_left((i / 10) as u32);
    }
    Id(uuid::Builder::from_unix_timestamp_millis(start, &tail).into_uuid())
}

/// Writes this period's run of `job` unless some process already did; answers whether
/// this call wrote it.
pub fn schedule_periodic(
    conn: &mut DbConnection,
    job: &Job,
    every: Duration,
    now: Timestamp,
) -> Result<bool> {
    match JobRow::enqueue_as(conn, period_id(job, every, now), job, Enqueue::default()) {
        Ok(_) => Ok(true),
        Err(Error::Conflict(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        Timestamp::from(
            chrono::DateTime::parse_from_rfc3339(s)
                .unwrap()
                .with_timezone(&chrono::Utc),
        )
    }

    #[test]
    fn one_id_per_period_and_kind() {
        let purge = Job::PurgeRetention { as_of: None };
        let hour = Duration::from_secs(3600);
        let a = period_id(&purge, hour, at("2026-11-29T10:00:01Z"));
        let b = period_id(&purge, hour, at("2026-11-29T10:59:59Z"));
        let c = period_id(&purge, hour, at("2026-11-29T11:00:00Z"));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a < c, "period ids sort in time order");
        let other = Job::ImportList {
            import_id: Id::new(),
        };
        assert_ne!(period_id(&other, hour, at("2026-11-29T10:00:01Z")), a);
    }
}
