//! `mailroom-sender`: dispatches campaigns and delivers messages (a long-running worker).
//! Configured by the same environment as the API; SIGTERM stops taking jobs, lets the jobs
//! under way finish, and exits.

use std::sync::Arc;

use mailroom_domain::store::{build_pool, checkout, run_migrations};
use mailroom_worker::bus::JobTable;
use mailroom_worker::context::WorkerContext;
use mailroom_worker::lifecycle;
use mailroom_worker::runner::Runner;
use tokio::sync::watch;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mailroom-sender: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let settings = Arc::new(lifecycle::start("sender")?);
    let pool = build_pool(&settings.database_url, &settings.pool);
    let migrate_pool = pool.clone();
    tokio::task::spawn_blocking(move || run_migrations(&mut *checkout(&migrate_pool)?)).await??;
    let slots = settings.delivery.concurrency;
    let bus = JobTable::new(pool.clone());
    let ctx = Arc::new(WorkerContext::new(pool, settings)?);
    let (stop, stopped) = watch::channel(false);
    let runner = Arc::new(Runner::new(ctx, bus));
    let loop_task = tokio::spawn(runner.run(slots, stopped));
    let signal = lifecycle::shutdown_signal().await?;
    tracing::info!(signal, "worker stopping: finishing the jobs under way");
    let _ = stop.send(true);
    loop_task.await?;
    tracing::info!("worker stopped");
    Ok(())
}
