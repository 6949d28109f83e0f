//! The import worker: runs `list.import` jobs (see `mailroom_domain::imports`). A run
//! works for at most [`SLICE`] and then queues its own continuation, so an import of any
//! size never outlives a job lease; a run that fails is retried with backoff and resumes
//! where the last batch ended; after the last attempt the import is marked failed.

use std::sync::Arc;
use std::time::Duration;

use mailroom_domain::Id;
use mailroom_domain::imports::{Import, RunOutcome, run_import};
use mailroom_domain::jobs::backoff;

use crate::bus::Delivery;
use crate::context::WorkerContext;
use crate::runner::JobOutcome;

/// How long one run works before handing over to a continuation job: inside the job
/// table's 5-minute lease with room for a last batch. A continuation re-reads (but does
/// not write) the rows before it, so a slice should hold a typical import whole: a
/// million rows take about 90 s on the benchmark machine.
pub const SLICE: Duration = Duration::from_secs(180);

pub async fn run(ctx: &Arc<WorkerContext>, import_id: Id, job: &Delivery) -> JobOutcome {
    let (pool, key) = (ctx.pool.clone(), ctx.hash_key.clone());
    let span = tracing::Span::current();
    let ran = tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        run_import(&pool, &key, import_id, SLICE)
    })
    .await
    .unwrap_or_else(|e| {
        Err(mailroom_domain::Error::Internal(format!(
            "import task failed: {e}"
        )))
    });
    match ran {
        Ok(outcome) => {
            if outcome != RunOutcome::Continued {
                tracing::info!(import = %import_id, ?outcome, "import run ended");
            }
            JobOutcome::Done
        }
        Err(e) if job.attempt >= job.max_attempts => {
            tracing::warn!(import = %import_id, error = %e, "import failed for good");
            let reason =
                "the import stopped after repeated errors; the rows counted so far were imported";
            if let Err(e) = ctx
                .db(move |conn| Import::fail(conn, import_id, reason))
                .await
            {
                tracing::warn!(import = %import_id, error = %e, "could not mark the import failed");
            }
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
