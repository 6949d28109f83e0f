//! The periodic check of sending domains: runs `sending_domains.check` jobs, queued once
//! per `MAILROOM_DOMAIN_CHECK_INTERVAL_SECS` by [`crate::retention::schedule`]. Each
//! domain's records are looked up again and stored as `verify` stores them; a changed
//! status is announced to the account's webhooks (`domain.status_changed`).

use std::sync::Arc;
use std::time::Duration;

use mailroom_domain::Timestamp;
use mailroom_domain::jobs::backoff;
use mailroom_domain::sending_domains::{
    DnsServers, SendingDomain, all_domain_ids, check_domain, record_periodic_check,
};

use crate::bus::Delivery;
use crate::context::WorkerContext;
use crate::runner::JobOutcome;

/// Checks every domain; a domain whose lookup or write fails is logged, keeps what it had,
/// and the job is retried (checking a domain twice stores the same findings, and announces a change
/// only once: the second check sees the new status).
///
/// A scheduled check covers the domains added before its period began (the period's start
/// is the time in its id): a domain added since is `pending` until its owner verifies it
/// or the next period's check finds its records.
pub async fn run(ctx: &Arc<WorkerContext>, job: &Delivery) -> JobOutcome {
    let period_start = job.id.0.get_timestamp().and_then(|t| {
        let (secs, nanos) = t.to_unix();
        chrono::DateTime::from_timestamp(secs as i64, nanos).map(Timestamp::from)
    });
    let ids = match ctx.db(move |conn| all_domain_ids(conn, period_start)).await {
        Ok(ids) => ids,
        Err(e) => return retry(job, e.to_string()),
    };
    let settings = ctx.settings.sending_domains.clone();
    let servers = DnsServers(settings.dns_servers.clone());
    let (mut changed, mut failed) = (0usize, None);
    for (account, id) in ids {
        let domain = match ctx
            .db(move |conn| SendingDomain::find(conn, account, id))
            .await
        {
            Ok(d) => d,
            Err(mailroom_domain::Error::NotFound(_)) => continue,
            Err(e) => {
                failed = Some(e.to_string());
                continue;
            }
        };
        let check = match check_domain(&servers, domain.records(&settings)).await {
            // A resolver that cannot answer says nothing about what the owner published:
            // the domain keeps its status until a check gets answers.
            Ok(check) if check.lookup_failure().is_some() => {
                let error = check.lookup_failure().unwrap_or_default().to_owned();
                tracing::warn!(%id, %error, "a sending domain's records could not be looked up");
                failed = Some(error);
                continue;
            }
            Ok(check) => check,
            Err(e) => {
                tracing::warn!(%id, error = %e, "checking a sending domain failed");
                failed = Some(e.to_string());
                continue;
            }
        };
        match ctx
            .db(move |conn| record_periodic_check(conn, account, id, &check))
            .await
        {
            Ok(Some(change)) => {
                changed += 1;
                tracing::info!(
                    %id,
                    from = change.from.as_str(),
                    to = change.to.as_str(),
                    "sending domain status changed"
                );
            }
            Ok(None) => {}
            Err(e) => failed = Some(e.to_string()),
        }
    }
    tracing::info!(changed, "sending domains checked");
    match failed {
        None => JobOutcome::Done,
        Some(error) => retry(job, error),
    }
}

fn retry(job: &Delivery, error: String) -> JobOutcome {
    JobOutcome::RetryAfter(
        backoff(
            Duration::from_secs(60),
            job.attempt,
            Duration::from_secs(1800),
        ),
        error,
    )
}
