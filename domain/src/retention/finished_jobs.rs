//! Job rows outlive their work only as a short operational record: a job's payload can
//! hold what an event recorded (a click's IP and user agent), so finished rows — done,
//! published to the broker, or parked as dead — are deleted once older than the
//! installation's setting (`MAILROOM_FINISHED_JOB_RETENTION_DAYS`).

use diesel::prelude::*;

use crate::error::Result;
use crate::jobs::status;
use crate::schema::jobs;
use crate::store::DbConnection;
use crate::store::sql_types::{Id, Timestamp};

const BATCH: i64 = 1000;

/// Deletes job rows that finished (last changed) before `before`; answers how many.
pub fn purge_finished_jobs(conn: &mut DbConnection, before: Timestamp) -> Result<usize> {
    let mut total = 0;
    loop {
        let n = conn.write_transaction(|conn| {
            let ids: Vec<Id> = jobs::table
                .filter(jobs::status.eq_any([status::DONE, status::PUBLISHED, status::DEAD]))
                .filter(jobs::updated_at.lt(before))
                .select(jobs::id)
                .limit(BATCH)
                .load(conn)?;
            if ids.is_empty() {
                return Ok(0);
            }
            Ok::<_, crate::Error>(
                diesel::delete(jobs::table.filter(jobs::id.eq_any(&ids))).execute(conn)?,
            )
        })?;
        total += n;
        if n < BATCH as usize {
            return Ok(total);
        }
    }
}
