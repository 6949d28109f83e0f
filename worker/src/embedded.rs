//! Workers inside the API process (embedded mode): a thread of their own with a small
//! tokio runtime, running the job table's lanes and the schedulers of the retention purge and the
//! sending domains' check.

use std::sync::Arc;
use std::thread::JoinHandle;

use mailroom_domain::config::Settings;
use mailroom_domain::jobs::Job;
use mailroom_domain::store::Pool;
use tokio::sync::watch;

use crate::context::WorkerContext;
use crate::lanes::run_lanes;
use crate::operator_alerts;
use crate::retention;

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
        let settings_interval = settings.retention.interval;
        let check_interval = settings.sending_domains.check_interval;
        let pool_for_bus = pool.clone();
        let (alert_pool, alert_settings) = (pool.clone(), settings.clone());
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
                    tokio::spawn(retention::schedule::run(
                        scheduler_pool.clone(),
                        Job::PurgeRetention { as_of: None },
                        every,
                        receiver.clone(),
                    ));
                    tokio::spawn(retention::schedule::run(
                        scheduler_pool,
                        Job::CheckSendingDomains {},
                        check_interval,
                        receiver.clone(),
                    ));
                    let alerts_stopped = receiver.clone();
                    tokio::spawn(async move {
                        operator_alerts::run(alert_pool, &alert_settings, alerts_stopped).await
                    });
                    tracing::info!("embedded workers started");
                    let idle_wait = std::time::Duration::from_millis(100);
                    run_lanes(Arc::new(ctx), pool_for_bus, idle_wait, receiver).await;
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
