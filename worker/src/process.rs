//! What every worker binary does: read the settings, connect the bus they name (RabbitMQ
//! with `AMQP_URL`, else the database's job table), relay the outbox, run the job loop,
//! serve probes where `MAILROOM_WORKER_ADDR` says (never on the API's address), queue the
//! retention purge where it runs, and on SIGTERM stop taking jobs, finish the ones under
//! way, and exit.

use std::sync::Arc;

use mailroom_domain::config::Settings;
use mailroom_domain::store::{build_pool, checkout, run_migrations};
use secrecy::ExposeSecret;
use tokio::sync::watch;

use crate::bus::amqp::AmqpBus;
use crate::bus::amqp::broker::{Broker, BrokerOptions};
use crate::bus::amqp::relay::OutboxRelay;
use crate::bus::amqp::topology::work_queue;
use crate::bus::{Bus, JobTable};
use crate::context::WorkerContext;
use crate::lifecycle;
use crate::probes::Probes;
use crate::retention;
use crate::runner::Runner;

/// Runs the worker `role` (e.g. `sender`) over the job kinds it handles, until SIGTERM,
/// with as many jobs in flight as `slots` reads from the settings.
pub async fn run(role: &str, kinds: &[&str], slots: fn(&Settings) -> usize) -> anyhow::Result<()> {
    let settings = Arc::new(lifecycle::start(role)?);
    let pool = build_pool(&settings.database_url, &settings.pool);
    let migrate_pool = pool.clone();
    tokio::task::spawn_blocking(move || run_migrations(&mut *checkout(&migrate_pool)?)).await??;
    let slots = slots(&settings);
    let ctx = Arc::new(WorkerContext::new(pool.clone(), settings.clone())?);
    let (stop_jobs, jobs_stopped) = watch::channel(false);
    let (stop_link, link_stopped) = watch::channel(false);
    // On the job table every worker takes every kind, so every one schedules the purge
    // (one job per period whoever writes it); on RabbitMQ, the one that consumes it.
    if settings.bus.amqp_url.is_none() || kinds.contains(&"retention.purge") {
        tokio::spawn(retention::schedule::run(
            pool.clone(),
            settings.retention.interval,
            jobs_stopped.clone(),
        ));
    }
    let mut broker_link = None;
    let job_loop = match &settings.bus.amqp_url {
        None => tokio::spawn(run_loop(
            ctx,
            JobTable::new(pool.clone()),
            slots,
            jobs_stopped,
        )),
        Some(url) => {
            let (broker, deliveries) = Broker::start(
                BrokerOptions {
                    url: url.expose_secret().to_owned(),
                    quorum: settings.bus.quorum,
                    // Never fewer unacknowledged jobs than slots, or slots would sit idle.
                    prefetch: settings
                        .bus
                        .prefetch
                        .max(u16::try_from(slots).unwrap_or(u16::MAX)),
                    consume: kinds.iter().map(|kind| work_queue(kind)).collect(),
                    connection_name: format!("mailroom-{role}"),
                },
                link_stopped.clone(),
            );
            tokio::spawn(OutboxRelay::new(pool.clone(), broker.clone()).run(link_stopped.clone()));
            broker_link = Some(broker.clone());
            let bus = AmqpBus::new(broker, deliveries, pool.clone());
            tokio::spawn(run_loop(ctx, bus, slots, jobs_stopped))
        }
    };
    if let Some(addr) = &settings.worker_addr {
        Probes {
            pool,
            broker: broker_link,
        }
        .serve(addr, link_stopped)
        .await?;
    }
    let signal = lifecycle::shutdown_signal().await?;
    tracing::info!(signal, "worker stopping: finishing the jobs under way");
    let _ = stop_jobs.send(true);
    job_loop.await?;
    // The broker link closes last, after every job under way has been acknowledged.
    let _ = stop_link.send(true);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    tracing::info!("worker stopped");
    Ok(())
}

async fn run_loop<B: Bus>(
    ctx: Arc<WorkerContext>,
    bus: B,
    slots: usize,
    stopped: watch::Receiver<bool>,
) {
    Arc::new(Runner::new(ctx, bus)).run(slots, stopped).await;
}
