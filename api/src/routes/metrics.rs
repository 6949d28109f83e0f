//! `/metrics`: Prometheus text for operators — the data-subject requests open, due within
//! 7 days and overdue across the installation (the deadline a data protection officer
//! watches), jobs by kind and status, the tracking events this API process handed to the
//! bus, and its requests rendering templates. Counts only, never personal data. With
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
    out
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
    let (requests, jobs) = state
        .db(move |conn| {
            let requests = DataSubjectRequest::summary(conn, None, now)?;
            let jobs = jobs::table
                .group_by((jobs::kind, jobs::status))
                .select((jobs::kind, jobs::status, count_star()))
                .order((jobs::kind, jobs::status))
                .load::<(String, String, i64)>(conn)?;
            Ok((requests, jobs))
        })
        .await?;
    let gauges = Gauges {
        requests,
        jobs,
        tracking: state.events.handed_on().snapshot(),
        renders: state.renderer.load().snapshot(),
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
        });
        assert!(text.contains("mailroom_data_subject_requests{state=\"overdue\"} 2\n"));
        assert!(text.contains("mailroom_jobs{kind=\"message.deliver\",status=\"pending\"} 7\n"));
        assert!(text.contains("# TYPE mailroom_jobs gauge\n"));
        assert!(text.contains("mailroom_tracking_events_total{via=\"broker\"} 2500\n"));
        assert!(text.contains("mailroom_tracking_jobs_total{via=\"outbox\"} 1\n"));
        assert!(text.contains("# TYPE mailroom_tracking_jobs_total counter\n"));
        assert!(text.contains("mailroom_render_requests{state=\"running\"} 2\n"));
        assert!(text.contains("mailroom_render_requests{state=\"waiting\"} 5\n"));
    }
}
