//! The events worker: records batches of events (`events.record` jobs) — deduplicated,
//! counted in campaign statistics, fanned out to webhooks — in one transaction per batch.

use std::sync::Arc;
use std::time::Duration;

use mailroom_domain::events::{NewEvent, record_batch};
use mailroom_domain::jobs::backoff;

use crate::bus::Delivery;
use crate::context::WorkerContext;
use crate::runner::JobOutcome;

pub async fn run(ctx: &Arc<WorkerContext>, events: &[NewEvent], job: &Delivery) -> JobOutcome {
    let events = events.to_vec();
    let repeat_window = ctx.settings.limits.tracking_repeat_window;
    match ctx
        .db(move |conn| record_batch(conn, &events, repeat_window))
        .await
    {
        Ok(recorded) => {
            tracing::debug!(recorded = recorded.len(), "events recorded");
            JobOutcome::Done
        }
        Err(e) => JobOutcome::RetryAfter(
            backoff(
                Duration::from_secs(1),
                job.attempt,
                Duration::from_secs(300),
            ),
            e.to_string(),
        ),
    }
}
