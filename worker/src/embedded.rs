//! Workers inside the API process (embedded mode): a thread of their own with a small
//! tokio runtime, running the job loop over the database's job table and the retention
//! purge's scheduler.

use std::sync::Arc;
use std::thread::JoinHandle;

use mailroom_domain::config::Settings;
use mailroom_domain::store::Pool;
use tokio::sync::watch;

use crate::bus::JobTable;
use crate::context::WorkerContext;
use crate::retention;
use crate::runner::Runner;

pub struct EmbeddedWorkers {
    shutdown: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl EmbeddedWorkers {
    pub fn start(pool: Pool, settings: Arc<Settings>) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("mailroom-worker")
            .enable_all()
            .build()?;
        let slots = settings.delivery.concurrency;
        let settings_interval = settings.retention.interval;
        let pool_for_bus = pool.clone();
        let ctx = {
            let _entered = runtime.enter();
            WorkerContext::new(pool, settings)?
        };
        let (shutdown, receiver) = watch::channel(false);
        let (scheduler_pool, every) = (pool_for_bus.clone(), settings_interval);
        let thread = std::thread::Builder::new()
            .name("mailroom-workers".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let runner = Arc::new(
                        Runner::new(Arc::new(ctx), JobTable::new(pool_for_bus))
                            .with_idle_wait(std::time::Duration::from_millis(100)),
                    );
                    tokio::spawn(retention::schedule::run(
                        scheduler_pool,
                        every,
                        receiver.clone(),
                    ));
                    tracing::info!(slots, "embedded workers started");
                    runner.run(slots, receiver).await;
                    tracing::info!("embedded workers stopped");
                });
            })?;
        Ok(EmbeddedWorkers {
            shutdown,
            thread: Some(thread),
        })
    }

    /// Stops taking jobs, lets jobs under way finish, and waits for the thread.
    pub fn stop(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for EmbeddedWorkers {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}
