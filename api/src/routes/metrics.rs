//! `/metrics`: Prometheus text for operators — the data-subject requests open, due within
//! 7 days and overdue across the installation (the deadline a data protection officer
//! watches), jobs by kind and status, the tracking events this API process handed to the
//! bus, its requests rendering templates, the accounts by status, automatic suspensions,
//! the messages admitted to delivery in the current hour and day (per account too with
//! `MAILROOM_PER_ACCOUNT_METRICS`), and what became of the installation's messages
//! (sent, bounced, complained, blocked: counters that only grow). Counts only, never personal data. With
//! `MAILROOM_METRICS_TOKEN` set it asks for that token as a bearer token.

use std::fmt::Write;

use actix_web::{HttpRequest, HttpResponse, get, web};
use diesel::dsl::count_star;
use diesel::prelude::*;
use mailroom_domain::clock;
use mailroom_domain::data_subjects::{DataSubjectRequest, RequestSummary};
use mailroom_domain::schema::jobs;

use crate::auth::bearer_token;
use crate::problem::ApiError;
use crate::state::AppState;

struct Gauges {
    requests: RequestSummary,
    jobs: Vec<(String, String, i64)>,
    /// Tracking events and their `events.record` jobs, by way: `[(via, events, jobs)]`.
    tracking: [(&'static str, u64, u64); 2],
    /// Requests of this API process rendering templates, and waiting to.
    renders: (usize, usize),
    tenants: TenantGauges,
}

/// The accounts and what they send (see `tenant_gauges`).
#[derive(Default)]
struct TenantGauges {
    /// `[(status, suspended_by, accounts)]`.
    accounts: Vec<(String, Option<String>, i64)>,
    /// Automatic suspensions written (alerts raised), ever.
    automatic_suspensions: i64,
    /// Messages handed to delivery in the current hour and UTC day, installation-wide.
    admitted: [(&'static str, i64); 2],
    /// The same per account, when the operator enabled per-account metrics.
    per_account: Vec<(String, &'static str, i64)>,
    /// Messages sent, bounced, complained of and blocked, ever, installation-wide.
    outcomes: Vec<(&'static str, i64)>,
}

fn render(g: &Gauges) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP mailroom_data_subject_requests Open data-subject requests: all open, due within 7 days, past their due date."
    );
    let _ = writeln!(out, "# TYPE mailroom_data_subject_requests gauge");
    for (state, n) in [
        ("open", g.requests.open),
        ("due_soon", g.requests.due_soon),
        ("overdue", g.requests.overdue),
    ] {
        let _ = writeln!(
            out,
            "mailroom_data_subject_requests{{state=\"{state}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP mailroom_jobs Jobs in the job table by kind and status."
    );
    let _ = writeln!(out, "# TYPE mailroom_jobs gauge");
    for (kind, status, n) in &g.jobs {
        let _ = writeln!(
            out,
            "mailroom_jobs{{kind=\"{kind}\",status=\"{status}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP mailroom_tracking_events_total Open and click events this API process handed to the bus, by way (broker: published straight to RabbitMQ; outbox: written to the job table)."
    );
    let _ = writeln!(out, "# TYPE mailroom_tracking_events_total counter");
    for (via, events, _) in &g.tracking {
        let _ = writeln!(
            out,
            "mailroom_tracking_events_total{{via=\"{via}\"}} {events}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP mailroom_tracking_jobs_total The events.record jobs that carried them, by way."
    );
    let _ = writeln!(out, "# TYPE mailroom_tracking_jobs_total counter");
    for (via, _, jobs) in &g.tracking {
        let _ = writeln!(out, "mailroom_tracking_jobs_total{{via=\"{via}\"}} {jobs}");
    }
    let _ = writeln!(
        out,
        "# HELP mailroom_render_requests Requests of this API process rendering templates (sends, previews), and waiting for a render slot."
    );
    let _ = writeln!(out, "# TYPE mailroom_render_requests gauge");
    let (running, waiting) = g.renders;
    let _ = writeln!(
        out,
        "mailroom_render_requests{{state=\"running\"}} {running}"
    );
    let _ = writeln!(
        out,
        "mailroom_render_requests{{state=\"waiting\"}} {waiting}"
    );
    render_tenants(&mut out, &g.tenants);
    out
}

fn render_tenants(out: &mut String, t: &TenantGauges) {
    let _ = writeln!(
        out,
        "# HELP mailroom_accounts Accounts by status (and, suspended, by who suspended them: operator or automatic)."
    );
    let _ = writeln!(out, "# TYPE mailroom_accounts gauge");
    for (status, by, n) in &t.accounts {
        let by = by.as_deref().unwrap_or("");
        let _ = writeln!(
            out,
            "mailroom_accounts{{status=\"{status}\",suspended_by=\"{by}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP mailroom_automatic_suspensions_total Accounts the bounce and complaint protection suspended."
    );
    let _ = writeln!(out, "# TYPE mailroom_automatic_suspensions_total counter");
    let _ = writeln!(
        out,
        "mailroom_automatic_suspensions_total {}",
        t.automatic_suspensions
    );
    let _ = writeln!(
        out,
        "# HELP mailroom_messages_admitted Messages handed to delivery in the current clock hour and UTC day, all accounts."
    );
    let _ = writeln!(out, "# TYPE mailroom_messages_admitted gauge");
    for (period, n) in &t.admitted {
        let _ = writeln!(out, "mailroom_messages_admitted{{period=\"{period}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "# HELP mailroom_message_outcomes_total What became of the installation's messages, all accounts: sent (the relay accepted), bounced, complained (spam reports), blocked (not sent: suppressed, unsubscribed, given up on)."
    );
    let _ = writeln!(out, "# TYPE mailroom_message_outcomes_total counter");
    for (outcome, n) in &t.outcomes {
        let _ = writeln!(
            out,
            "mailroom_message_outcomes_total{{outcome=\"{outcome}\"}} {n}"
        );
    }
    if t.per_account.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "# HELP mailroom_account_messages_admitted Messages handed to delivery in the current clock hour and UTC day, per account (MAILROOM_PER_ACCOUNT_METRICS)."
    );
    let _ = writeln!(out, "# TYPE mailroom_account_messages_admitted gauge");
    for (account, period, n) in &t.per_account {
        let _ = writeln!(
            out,
            "mailroom_account_messages_admitted{{account=\"{account}\",period=\"{period}\"}} {n}"
        );
    }
}

/// Counts the accounts by status and what they were admitted to send in the current
/// windows (only the windows' counter rows are read: cheap at every scrape).
fn tenant_gauges(
    conn: &mut mailroom_domain::store::DbConnection,
    per_account: bool,
) -> mailroom_domain::Result<TenantGauges> {
    use mailroom_domain::accounts::quota::Period;
    use mailroom_domain::schema::{account_send_windows, accounts, operator_alerts};
    let accounts = accounts::table
        .group_by((accounts::status, accounts::suspended_by))
        .select((accounts::status, accounts::suspended_by, count_star()))
        .order((accounts::status, accounts::suspended_by))
        .load::<(String, Option<String>, i64)>(conn)?;
    let automatic_suspensions = operator_alerts::table.count().get_result(conn)?;
    let now = clock::now().0;
    let mut gauges = TenantGauges {
        accounts,
        automatic_suspensions,
        outcomes: mailroom_domain::events::outcome_totals(conn)?,
        ..TenantGauges::default()
    };
    for (i, period) in [Period::Hour, Period::Day].into_iter().enumerate() {
        let current = account_send_windows::table
            .filter(account_send_windows::period.eq(period.as_str()))
            .filter(
                account_send_windows::starts_at
                    .eq(mailroom_domain::Timestamp::from(period.start(now))),
            );
        let rows: Vec<(mailroom_domain::Id, i32)> = current
            .select((account_send_windows::account_id, account_send_windows::sent))
            .load(conn)?;
        gauges.admitted[i] = (
            period.as_str(),
            rows.iter().map(|(_, n)| i64::from(*n)).sum(),
        );
        if per_account {
            gauges.per_account.extend(
                rows.into_iter()
                    .map(|(id, n)| (id.to_string(), period.as_str(), i64::from(n))),
            );
        }
    }
    Ok(gauges)
}

/// Prometheus text exposition (version 0.0.4).
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus metrics", content_type = "text/plain", body = String),
        (status = 401, description = "`MAILROOM_METRICS_TOKEN` is set and the request does not carry it as a bearer token (`unauthorized`)", body = crate::problem::Problem, content_type = "application/problem+json"),
    ),
    security(())
)]
#[get("/metrics")]
pub async fn metrics(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if state.settings.metrics_token.is_some()
        && !bearer_token(&req).is_some_and(|t| state.settings.metrics_token_matches(&t))
    {
        return Err(ApiError::Unauthorized(
            "send the metrics token: Authorization: Bearer <MAILROOM_METRICS_TOKEN>".into(),
        ));
    }
    let now = clock::now();
    let per_account = state.settings.operator.per_account_metrics;
    let (requests, jobs, tenants) = state
        .db(move |conn| {
            let requests = DataSubjectRequest::summary(conn, None, now)?;
            let jobs = jobs::table
                .group_by((jobs::kind, jobs::status))
                .select((jobs::kind, jobs::status, count_star()))
                .order((jobs::kind, jobs::status))
                .load::<(String, String, i64)>(conn)?;
            let tenants = tenant_gauges(conn, per_account)?;
            Ok((requests, jobs, tenants))
        })
        .await?;
    let gauges = Gauges {
        requests,
        jobs,
        tracking: state.events.handed_on().snapshot(),
        renders: state.renderer.load().snapshot(),
        tenants,
    };
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(render(&gauges)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_is_prometheus_exposition() {
        let text = render(&Gauges {
            requests: RequestSummary {
                open: 3,
                due_soon: 1,
                overdue: 2,
            },
            jobs: vec![("message.deliver".into(), "pending".into(), 7)],
            tracking: [("broker", 2_500, 3), ("outbox", 40, 1)],
            renders: (2, 5),
            tenants: TenantGauges {
                accounts: vec![
                    ("active".into(), None, 4),
                    ("suspended".into(), Some("automatic".into()), 1),
                ],
                automatic_suspensions: 1,
                admitted: [("hour", 30), ("day", 120)],
                per_account: Vec::new(),
                outcomes: vec![("sent", 118), ("bounced", 2)],
            },
        });
        assert!(text.contains("mailroom_data_subject_requests{state=\"overdue\"} 2\n"));
        assert!(text.contains("mailroom_jobs{kind=\"message.deliver\",status=\"pending\"} 7\n"));
        assert!(text.contains("# TYPE mailroom_jobs gauge\n"));
        assert!(text.contains("mailroom_tracking_events_total{via=\"broker\"} 2500\n"));
        assert!(text.contains("mailroom_tracking_jobs_total{via=\"outbox\"} 1\n"));
        assert!(text.contains("# TYPE mailroom_tracking_jobs_total counter\n"));
        assert!(text.contains("mailroom_render_requests{state=\"running\"} 2\n"));
        assert!(text.contains("mailroom_render_requests{state=\"waiting\"} 5\n"));
        assert!(
            text.contains("mailroom_accounts{status=\"suspended\",suspended_by=\"automatic\"} 1\n")
        );
        assert!(text.contains("mailroom_messages_admitted{period=\"day\"} 120\n"));
        assert!(text.contains("# TYPE mailroom_message_outcomes_total counter\n"));
        assert!(text.contains("mailroom_message_outcomes_total{outcome=\"bounced\"} 2\n"));
        assert!(
            !text.contains("mailroom_account_messages_admitted"),
            "per-account series only when enabled"
        );
    }
}
