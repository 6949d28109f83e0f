//! Queues the retention purge once per interval. Every process that runs the scheduler
//! writes the same period's job under the same id (`schedule_periodic`), so several
//! replicas queue it once; a purge that runs twice anyway removes nothing the second time.

use std::time::Duration;

use mailroom_domain::clock;
use mailroom_domain::jobs::{Job, schedule_periodic};
use mailroom_domain::store::{Pool, checkout};
use tokio::sync::watch;

/// Queues this period's purge at once, then at each period's start, until `stopped`.
pub async fn run(pool: Pool, every: Duration, mut stopped: watch::Receiver<bool>) {
    tracing::info!(every_secs = every.as_secs(), "retention purge scheduled");
    while !*stopped.borrow() {
        let conn_pool = pool.clone();
        let queued = tokio::task::spawn_blocking(move || {
            let mut conn = checkout(&conn_pool)?;
            schedule_periodic(
                &mut conn,
                &Job::PurgeRetention { as_of: None },
                every,
                clock::now(),
            )
        })
        .await;
        match queued {
            Ok(Ok(true)) => tracing::debug!("retention purge queued"),
            Ok(Ok(false)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "queueing the retention purge failed"),
            Err(e) => tracing::warn!(error = %e, "queueing the retention purge failed"),
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
