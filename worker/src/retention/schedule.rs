//! Queues recurring work once per interval: the retention purge, and the check of every
//! sending domain. Every process that runs the scheduler writes the same period's job
//! under the same id (`schedule_periodic`), so several replicas queue it once; a purge
//! that runs twice anyway removes nothing the second time, and a second check finds
//! what the first did.

use std::time::Duration;

use mailroom_domain::clock;
use mailroom_domain::jobs::{Job, schedule_periodic};
use mailroom_domain::store::{Pool, checkout};
use tokio::sync::watch;

/// Queues this period's `job` at once, then at each period's start, until `stopped`.
pub async fn run(pool: Pool, job: Job, every: Duration, mut stopped: watch::Receiver<bool>) {
    let kind = job.kind();
    tracing::info!(kind, every_secs = every.as_secs(), "periodic job scheduled");
    while !*stopped.borrow() {
        let (conn_pool, job) = (pool.clone(), job.clone());
        let queued = tokio::task::spawn_blocking(move || {
            let mut conn = checkout(&conn_pool)?;
            schedule_periodic(&mut conn, &job, every, clock::now())
        })
        .await;
        match queued {
            Ok(Ok(true)) => tracing::debug!(kind, "periodic job queued"),
            Ok(Ok(false)) => {}
            Ok(Err(e)) => tracing::warn!(kind, error = %e, "queueing a periodic job failed"),
            Err(e) => tracing::warn!(kind, error = %e, "queueing a periodic job failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(until_next_period(every)) => {}
            _ = stopped.changed() => {}
        }
    }
}

/// How long until the next period starts (at least a second, so a clock at a period's
/// edge does not spin).
fn until_next_period(every: Duration) -> Duration {
    let every_ms = (every.as_millis() as u64).max(1);
    let now_ms = clock::now().0.timestamp_millis().max(0) as u64;
    Duration::from_millis(every_ms - now_ms % every_ms).max(Duration::from_secs(1))
}
