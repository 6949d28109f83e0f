//! The job loop over a [`Bus`]. `run_one` receives and runs one job (tests can drive it
//! directly); `run` is the loop production runs: N concurrent slots, each taking the next
//! job, until shutdown.

use std::sync::Arc;
use std::time::Duration;

use mailroom_domain::contacts::email::mask_emails_in;
use mailroom_domain::jobs::Job;
use tokio::sync::watch;

use crate::bus::{Bus, Delivery};
use crate::context::WorkerContext;
use crate::{data_subjects, events, imports, retention, sender, webhooks};

/// What a handler asks the queue to do with its job.
#[derive(Debug)]
pub enum JobOutcome {
    Done,
    /// Run again later; the attempt counts.
    RetryAfter(Duration, String),
    /// Hold the job with its group (a paused campaign); resume releases it.
    Hold,
    /// Give up: the job is parked for an operator.
    Fail(String),
}

pub struct Runner<B: Bus> {
    ctx: Arc<WorkerContext>,
    bus: Arc<B>,
    idle_wait: Duration,
}

impl<B: Bus> Runner<B> {
    pub fn new(ctx: Arc<WorkerContext>, bus: B) -> Self {
        Runner {
            ctx,
            bus: Arc::new(bus),
            idle_wait: Duration::from_millis(250),
        }
    }

    pub fn with_idle_wait(mut self, idle_wait: Duration) -> Self {
        self.idle_wait = idle_wait;
        self
    }

    /// Receives and runs one job; `false` when none was due.
    pub async fn run_one(&self) -> mailroom_domain::Result<bool> {
        let Some(claimed) = self.bus.receive().await? else {
            return Ok(false);
        };
        let outcome = match execute(&self.ctx, &claimed).await {
            JobOutcome::RetryAfter(_, reason) if claimed.attempt >= claimed.max_attempts => {
                JobOutcome::Fail(format!(
                    "gave up after {} attempts: {reason}",
                    claimed.attempt
                ))
            }
            outcome => outcome,
        };
        let id = claimed.id;
        match &outcome {
            JobOutcome::Done => self.bus.ack(&claimed).await?,
            JobOutcome::RetryAfter(delay, reason) => {
                // Relay answers may quote the recipient: logs get it masked.
                tracing::info!(job = %id, kind = claimed.job.kind(), attempt = claimed.attempt, ?delay,
                    reason = %mask_emails_in(reason), "job retried later");
                self.bus.retry(&claimed, *delay, reason).await?
            }
            JobOutcome::Hold => {
                tracing::info!(job = %id, "job held with its paused campaign");
                self.bus.hold(&claimed).await?
            }
            JobOutcome::Fail(reason) => {
                tracing::warn!(job = %id, kind = claimed.job.kind(), reason = %mask_emails_in(reason), "job failed for good");
                self.bus.dead_letter(&claimed, reason).await?;
                if let Job::DeliverMessage { message_id } = claimed.job {
                    sender::deliver::give_up(&self.ctx, message_id, mask_emails_in(reason)).await?;
                }
            }
        }
        Ok(true)
    }

    /// Runs until `shutdown` turns true: `slots` jobs at a time. Then the bus stops
    /// receiving (jobs received but not started go back) and the jobs under way finish.
    pub async fn run(self: Arc<Self>, slots: usize, mut shutdown: watch::Receiver<bool>) {
        let mut tasks = Vec::with_capacity(slots);
        for _ in 0..slots.max(1) {
            let runner = self.clone();
            let mut shutdown = shutdown.clone();
            tasks.push(tokio::spawn(async move {
                while !*shutdown.borrow() {
                    match runner.run_one().await {
                        Ok(true) => continue,
                        Ok(false) => {}
                        Err(e) => tracing::warn!(error = %e, "job loop error"),
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(runner.idle_wait) => {}
                        _ = shutdown.changed() => {}
                    }
                }
            }));
        }
        while !*shutdown.borrow() {
            if shutdown.changed().await.is_err() {
                break;
            }
        }
        self.bus.close().await;
        for task in tasks {
            let _ = task.await;
        }
        // The last deliveries' campaigns are checked before the process goes.
        self.ctx.settler.drained(Duration::from_secs(5)).await;
    }
}

async fn execute(ctx: &Arc<WorkerContext>, claimed: &Delivery) -> JobOutcome {
    match &claimed.job {
        Job::DispatchCampaign { campaign_id } => sender::dispatch::run(ctx, *campaign_id).await,
        Job::DeliverMessage { message_id } => sender::deliver::run(ctx, *message_id, claimed).await,
        Job::RecordEvents { events } => events::run(ctx, events, claimed).await,
        Job::DeliverWebhook { delivery_id } => webhooks::run(ctx, *delivery_id, claimed).await,
        Job::ImportList { import_id } => imports::run(ctx, *import_id, claimed).await,
        Job::ExecuteDataSubjectRequest { request_id } => {
            data_subjects::run(ctx, *request_id, claimed).await
        }
        Job::PurgeRetention { as_of } => retention::run(ctx, *as_of, claimed).await,
    }
}
