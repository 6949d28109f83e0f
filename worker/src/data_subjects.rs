//! Runs `data_subject_request.execute` jobs: a verified request is carried out in one
//! transaction (see `mailroom_domain::data_subjects::execute`); a failure is retried with
//! backoff, and the request stays `processing` — visible as such, and overdue in time —
//! until a run succeeds.

use std::sync::Arc;
use std::time::Duration;

use mailroom_domain::Id;
use mailroom_domain::data_subjects::{Execution, execute};
use mailroom_domain::jobs::backoff;

use crate::bus::Delivery;
use crate::context::WorkerContext;
use crate::runner::JobOutcome;

pub async fn run(ctx: &Arc<WorkerContext>, request_id: Id, job: &Delivery) -> JobOutcome {
    let key = ctx.hash_key.clone();
    let ran = ctx
        .db(move |conn| execute(conn, &key, request_id, mailroom_domain::clock::now()))
        .await;
    match ran {
        Ok(Execution::Completed) => {
            tracing::info!(request = %request_id, "data-subject request completed");
            JobOutcome::Done
        }
        Ok(Execution::Skipped(why)) => {
            tracing::info!(request = %request_id, why, "data-subject request not executed");
            JobOutcome::Done
        }
        Err(e) if job.attempt >= job.max_attempts => {
            tracing::error!(request = %request_id, error = %e, "data-subject request failed for good");
            JobOutcome::Fail(e.to_string())
        }
        Err(e) => JobOutcome::RetryAfter(
            backoff(
                Duration::from_secs(5),
                job.attempt,
                Duration::from_secs(600),
            ),
            e.to_string(),
        ),
    }
}
