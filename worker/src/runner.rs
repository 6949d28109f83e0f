//! The job loop. `run_one` claims and runs one job (tests drive it directly); `run` is the
//! loop production runs: N concurrent slots, each claiming the next job, until shutdown.

use std::sync::Arc;
use std::time::Duration;

use mailroom_domain::jobs::{ClaimedJob, Job, JobRow};
use tokio::sync::watch;

use crate::context::WorkerContext;
use crate::sender;

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

/// How long a claimed job stays ours without finishing before another worker may take it.
const LEASE: Duration = Duration::from_secs(300);

pub struct Runner {
    ctx: Arc<WorkerContext>,
    idle_wait: Duration,
}

impl Runner {
    pub fn new(ctx: Arc<WorkerContext>) -> Self {
        Runner {
            ctx,
            idle_wait: Duration::from_millis(250),
        }
    }

    pub fn with_idle_wait(mut self, idle_wait: Duration) -> Self {
        self.idle_wait = idle_wait;
        self
    }

    /// Claims and runs one job; `false` when none was due.
    pub async fn run_one(&self) -> mailroom_domain::Result<bool> {
        let Some(claimed) = self.ctx.db(|conn| JobRow::claim(conn, LEASE)).await? else {
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
            JobOutcome::Done => {}
            JobOutcome::RetryAfter(delay, reason) => {
                tracing::info!(job = %id, kind = claimed.job.kind(), attempt = claimed.attempt, ?delay, %reason, "job retried later")
            }
            JobOutcome::Hold => tracing::info!(job = %id, "job held with its paused campaign"),
            JobOutcome::Fail(reason) => {
                tracing::warn!(job = %id, kind = claimed.job.kind(), %reason, "job failed for good")
            }
        }
        self.ctx
            .db(move |conn| match outcome {
                JobOutcome::Done => JobRow::complete(conn, id),
                JobOutcome::RetryAfter(delay, reason) => JobRow::retry(conn, id, delay, &reason),
                JobOutcome::Hold => JobRow::hold(conn, id),
                JobOutcome::Fail(reason) => JobRow::dead(conn, id, &reason),
            })
            .await?;
        Ok(true)
    }

    /// Runs until `shutdown` turns true: `slots` jobs at a time; a job under way finishes.
    pub async fn run(self: Arc<Self>, slots: usize, shutdown: watch::Receiver<bool>) {
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
        for task in tasks {
            let _ = task.await;
        }
    }
}

async fn execute(ctx: &Arc<WorkerContext>, claimed: &ClaimedJob) -> JobOutcome {
    match &claimed.job {
        Job::DispatchCampaign { campaign_id } => sender::dispatch::run(ctx, *campaign_id).await,
        Job::DeliverMessage { message_id } => sender::deliver::run(ctx, *message_id, claimed).await,
    }
}
