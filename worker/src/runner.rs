//! The job loop over a [`Bus`]. `run_one` receives and runs one job (tests can drive it
//! directly); `run` is the loop production runs: up to N jobs at once, until shutdown.
//! [`crate::lanes::run_lanes`] runs one such loop per lane of the job table.

use std::sync::Arc;
use std::time::Duration;

use mailroom_domain::contacts::email::mask_emails_in;
use mailroom_domain::jobs::Job;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::bus::{Bus, Delivery};
use crate::context::WorkerContext;
use crate::{data_subjects, events, imports, retention, sender, sending_domains, webhooks};

/// What a handler asks the queue to do with its job.
#[derive(Debug)]
pub enum JobOutcome {
    Done,
    /// Run again later; the attempt counts.
    RetryAfter(Duration, String),
    /// Run again after the delay without counting the attempt (the account waits for its
    /// next sending window).
    Defer(Duration, String),
    /// Hold the job with its group (a paused campaign, a suspended account); resume
    /// releases it.
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
        self.finish(claimed).await?;
        Ok(true)
    }

    /// Runs a received job and tells the bus what became of it.
    async fn finish(&self, claimed: Delivery) -> mailroom_domain::Result<()> {
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
            JobOutcome::Defer(delay, reason) => {
                tracing::info!(job = %id, kind = claimed.job.kind(), ?delay, %reason, "job deferred");
                self.bus.defer(&claimed, *delay, reason).await?
            }
            JobOutcome::Hold => {
                tracing::info!(job = %id, "job held until its campaign or account is resumed");
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
        Ok(())
    }

    /// Runs until `shutdown` turns true, `slots` jobs at a time: one loop receives a job
    /// whenever a slot is free (so an idle lane costs one poll per idle wait, however many
    /// slots it has) and runs it in a task of its own. Then the bus stops receiving (jobs
    /// received but not started go back) and the jobs under way finish.
    pub async fn run(self: Arc<Self>, slots: usize, mut shutdown: watch::Receiver<bool>) {
        let free = Arc::new(Semaphore::new(slots.max(1)));
        let mut under_way = JoinSet::new();
        while !*shutdown.borrow() {
            while under_way.try_join_next().is_some() {}
            let slot = tokio::select! {
                slot = free.clone().acquire_owned() => match slot {
                    Ok(slot) => slot,
                    Err(_) => break,
                },
                changed = shutdown.changed() => match changed {
                    Ok(()) => continue,
                    Err(_) => break,
                },
            };
            let idle = match self.bus.receive().await {
                Ok(Some(claimed)) => {
                    let runner = self.clone();
                    under_way.spawn(async move {
                        if let Err(e) = runner.finish(claimed).await {
                            tracing::warn!(error = %e, "job loop error");
                        }
                        drop(slot);
                    });
                    false
                }
                Ok(None) => true,
                Err(e) => {
                    tracing::warn!(error = %e, "job loop error");
                    true
                }
            };
            if idle {
                tokio::select! {
                    _ = tokio::time::sleep(self.idle_wait) => {}
                    changed = shutdown.changed() => if changed.is_err() { break },
                }
            }
        }
        self.bus.close().await;
        while under_way.join_next().await.is_some() {}
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
        Job::CheckSendingDomains {} => sending_domains::run(ctx, claimed).await,
    }
}
