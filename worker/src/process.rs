//! What every worker binary does: read the settings, connect the bus they name (RabbitMQ
//! with `AMQP_URL`, else the database's job table), relay the outbox, run the job loops,
//! serve probes where `MAILROOM_WORKER_ADDR` says (never on the API's address), queue the
//! retention purge and the sending domains' check where they run, and on SIGTERM stop taking jobs, finish the ones under
//! way, and exit.

use std::sync::Arc;

use mailroom_domain::config::Settings;
use mailroom_domain::jobs::{Job, Lane};
use mailroom_domain::store::{Pool, build_pool, checkout, run_migrations};
use secrecy::ExposeSecret;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::bus::amqp::AmqpBus;
use crate::bus::amqp::broker::{Broker, BrokerOptions};
use crate::bus::amqp::relay::OutboxRelay;
use crate::bus::amqp::topology::{lane_routes, work_queue};
use crate::context::WorkerContext;
use crate::lanes::run_lanes;
use crate::lifecycle;
use crate::operator_alerts;
use crate::probes::Probes;
use crate::retention;
use crate::runner::Runner;

/// Runs the worker `role` (e.g. `sender`) over the lanes it handles, until SIGTERM: on
/// RabbitMQ, each lane's queues on a connection, prefetch and slots of their own
/// ([`Settings::lane_slots`]); on the job table, every lane, whichever worker this is.
pub async fn run(role: &str, lanes: &[Lane]) -> anyhow::Result<()> {
    let settings = Arc::new(lifecycle::start(role)?);
    let pool = build_pool(&settings.database_url, &settings.pool);
    let migrate_pool = pool.clone();
    tokio::task::spawn_blocking(move || run_migrations(&mut *checkout(&migrate_pool)?)).await??;
    let ctx = Arc::new(WorkerContext::new(pool.clone(), settings.clone())?);
    let (stop_jobs, jobs_stopped) = watch::channel(false);
    let (stop_link, link_stopped) = watch::channel(false);
    // On the job table every worker takes every kind, so every one schedules the purge and the domains' check
    // (one job per period whoever writes it); on RabbitMQ, the one that consumes it.
    if settings.bus.amqp_url.is_none() || lanes.contains(&Lane::Jobs) {
        tokio::spawn(retention::schedule::run(
            pool.clone(),
            Job::PurgeRetention { as_of: None },
            settings.retention.interval,
            jobs_stopped.clone(),
        ));
        tokio::spawn(retention::schedule::run(
            pool.clone(),
            Job::CheckSendingDomains {},
            settings.sending_domains.check_interval,
            jobs_stopped.clone(),
        ));
        let (alert_pool, alert_settings, alerts_stopped) =
            (pool.clone(), settings.clone(), jobs_stopped.clone());
        tokio::spawn(async move {
            operator_alerts::run(alert_pool, &alert_settings, alerts_stopped).await
        });
    }
    let mut broker_link = None;
    let job_loops: Vec<JoinHandle<()>> = match &settings.bus.amqp_url {
        None => vec![tokio::spawn(run_lanes(
            ctx,
            pool.clone(),
            std::time::Duration::from_millis(250),
            jobs_stopped,
        ))],
        Some(url) => {
            let mut loops = Vec::new();
            for lane in lanes {
                let (broker, bus) = connect_lane(
                    role,
                    *lane,
                    url.expose_secret(),
                    &settings,
                    &pool,
                    link_stopped.clone(),
                );
                if broker_link.is_none() {
                    // One relay per process is enough: relays share the outbox.
                    tokio::spawn(
                        OutboxRelay::new(pool.clone(), broker.clone()).run(link_stopped.clone()),
                    );
                    broker_link = Some(broker);
                }
                let runner = Arc::new(Runner::new(ctx.clone(), bus));
                loops.push(tokio::spawn(
                    runner.run(settings.lane_slots(*lane), jobs_stopped.clone()),
                ));
            }
            loops
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
    for job_loop in job_loops {
        job_loop.await?;
    }
    // The broker links close last, after every job under way has been acknowledged.
    let _ = stop_link.send(true);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    tracing::info!("worker stopped");
    Ok(())
}

/// A lane's link to RabbitMQ: its own connection consuming the lane's queues, so that its
/// prefetch window is its own; one account's jobs hold at most that account's share of the
/// lane's slots ([`Settings::lane_account_slots`]).
fn connect_lane(
    role: &str,
    lane: Lane,
    url: &str,
    settings: &Settings,
    pool: &Pool,
    stopped: watch::Receiver<bool>,
) -> (Arc<Broker>, AmqpBus) {
    let slots = settings.lane_slots(lane);
    let (broker, deliveries) = Broker::start(
        BrokerOptions {
            url: url.to_owned(),
            quorum: settings.bus.quorum,
            // Never fewer unacknowledged jobs than slots, or slots would sit idle.
            prefetch: settings
                .bus
                .prefetch
                .max(u16::try_from(slots).unwrap_or(u16::MAX)),
            consume: lane_routes(lane).map(work_queue).collect(),
            connection_name: format!("mailroom-{role}-{}", lane.as_str()),
        },
        stopped,
    );
    let bus = AmqpBus::new(broker.clone(), deliveries, pool.clone())
        .with_account_slots(settings.lane_account_slots(lane));
    (broker, bus)
}
