//! The retention worker: runs `retention.purge` jobs (see `mailroom_domain::retention`)
//! and, in [`schedule`], queues one per `MAILROOM_RETENTION_INTERVAL_SECS`.

pub mod schedule;

use std::sync::Arc;
use std::time::Duration;

use mailroom_domain::Timestamp;
use mailroom_domain::clock;
use mailroom_domain::jobs::backoff;
use mailroom_domain::retention::run_purge;

use crate::bus::Delivery;
use crate::context::WorkerContext;
use crate::runner::JobOutcome;

/// Runs a purge as of `as_of` (the job's own time travel, for operators and tests), or
/// as of now.
pub async fn run(ctx: &Arc<WorkerContext>, as_of: Option<Timestamp>, job: &Delivery) -> JobOutcome {
    let as_of = as_of.unwrap_or_else(clock::now);
    let kept = ctx.settings.retention.finished_jobs_kept();
    match ctx.db(move |conn| run_purge(conn, as_of, kept)).await {
        Ok(summary) => {
            tracing::info!(
                %as_of,
                erased_accounts = summary.erased.len(),
                purged_accounts = summary.purged.len(),
                removed = summary.purged.iter().map(|p| p.total()).sum::<usize>(),
                finished_jobs = summary.finished_jobs,
                "retention purge done"
            );
            JobOutcome::Done
        }
        Err(e) => JobOutcome::RetryAfter(
            backoff(
                Duration::from_secs(30),
                job.attempt,
                Duration::from_secs(1800),
            ),
            e.to_string(),
        ),
    }
}
