//! The job table's lanes: one job loop per lane, each with its own slots
//! ([`Settings::lane_slots`]), so one kind of work never waits for another's; inside a lane
//! the accounts take turns ([`JobTable`]).

use std::sync::Arc;
use std::time::Duration;

use mailroom_domain::jobs::Lane;
use mailroom_domain::store::Pool;
use tokio::sync::watch;

use crate::bus::JobTable;
use crate::context::WorkerContext;
use crate::runner::Runner;

/// Runs every lane of the job table until `shutdown` turns true, then lets each lane's
/// jobs under way finish.
pub async fn run_lanes(
    ctx: Arc<WorkerContext>,
    pool: Pool,
    idle_wait: Duration,
    shutdown: watch::Receiver<bool>,
) {
    let settings = ctx.settings.clone();
    let loops: Vec<_> = Lane::ALL
        .into_iter()
        .map(|lane| {
            let bus = JobTable::new(pool.clone(), lane, settings.lane_account_slots(lane));
            let runner = Arc::new(Runner::new(ctx.clone(), bus).with_idle_wait(idle_wait));
            let slots = settings.lane_slots(lane);
            tracing::debug!(lane = lane.as_str(), slots, "lane started");
            tokio::spawn(runner.run(slots, shutdown.clone()))
        })
        .collect();
    for lane in loops {
        let _ = lane.await;
    }
}
