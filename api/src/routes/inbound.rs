//! Inbound reports: the bounces (RFC 3464 DSNs) and complaints (RFC 5965 ARF) that reach
//! the bounce address, handed over as raw messages, and the list of those kept.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use mailroom_domain::accounts::Scope;
use mailroom_domain::inbound::{
    self, MatchedBy, RecipientSummary, ReportCounts, ReportFilter, ReportKind, ReportOutcome,
    StoredReport,
};
use mailroom_domain::outcomes::OutcomePolicy;
use mailroom_domain::{Id, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::api_keys::PageQuery;
use crate::auth::Principal;
use crate::extract::{ApiQuery, RawMessage};
use crate::idempotency::{self, Answer};
use crate::problem::ApiError;
use crate::state::AppState;

/// A report as Mailroom kept it: what it said and what was done, never the raw message.
#[derive(Serialize, ToSchema)]
pub struct InboundReportView {
    pub id: Id,
    pub kind: ReportKind,
    /// Whether the report was tied to one of the account's messages.
    pub matched: bool,
    /// The message the report is about (`null` when unmatched).
    pub message_id: Option<Id>,
    /// How it was tied to the message (`null` when unmatched).
    pub matched_by: Option<MatchedBy>,
    /// What the report says happened (also for an unmatched report, which changes nothing).
    pub outcome: ReportOutcome,
    /// This report recorded an event for the message (`bounce`, `blocked`, `deferred` or
    /// `spam`; `false` when an earlier report, or the delivery itself, had already recorded
    /// the same).
    pub event_recorded: bool,
    /// The message's recipient is on the suppression list after this report.
    pub suppressed: bool,
    /// DSN: the server that wrote the report.
    pub reporting_mta: Option<String>,
    /// DSN: one entry per recipient the report names (empty otherwise).
    pub recipients: Vec<RecipientSummary>,
    /// ARF: `abuse`, `fraud`, `virus`, `other`, `not-spam`, `auth-failure`, …
    pub feedback_type: Option<String>,
    /// ARF: the software that wrote the report.
    pub user_agent: Option<String>,
    /// ARF: the domain the reporter holds responsible.
    pub reported_domain: Option<String>,
    /// Unrecognized: why the message is not a report Mailroom acts on.
    pub reason: Option<String>,
    pub created_at: Timestamp,
}

impl From<StoredReport> for InboundReportView {
    fn from(report: StoredReport) -> Self {
        let summary = report.summary;
        InboundReportView {
            id: report.id,
            kind: report.kind,
            matched: report.message_id.is_some(),
            message_id: report.message_id,
            matched_by: summary.matched_by,
            outcome: summary.outcome,
            event_recorded: summary.event_recorded,
            suppressed: summary.suppressed,
            reporting_mta: summary.reporting_mta,
            recipients: summary.recipients,
            feedback_type: summary.feedback_type,
            user_agent: summary.user_agent,
            reported_domain: summary.reported_domain,
            reason: summary.reason,
            created_at: report.created_at,
        }
    }
}

/// A page of reports, and how many the account has kept in all.
#[derive(Serialize, ToSchema)]
pub struct InboundReportPage {
    pub data: Vec<InboundReportView>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
    /// Every report the account has kept (not only this page, and whatever the filters).
    pub counts: ReportCounts,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InboundReportQuery {
    /// Only matched (`true`) or unmatched (`false`) reports.
    pub matched: Option<bool>,
    /// Only reports of this kind.
    pub kind: Option<ReportKind>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A message as a request body: anything but nothing (or only ASCII whitespace).
#[derive(ToSchema)]
#[schema(min_length = 1, pattern = r"[^\t\n\f\r ]")]
#[allow(dead_code)] // a schema only: never built
pub struct RawMessageText(String);

/// Takes a message received at the bounce address — a delivery status notification
/// (RFC 3464) or a feedback report (RFC 5965) — and acts on it as the delivery outcomes
/// table says (docs/sending.md): an unknown address (x.1.x) or a complaint suppresses
/// the recipient and becomes a `bounce` (`hard`) or `spam` event; a full or disabled
/// mailbox (x.2.x) is a `bounce` (`soft`); a policy, network or system refusal is a
/// `blocked` event and suppresses nothing; a delay notice is a `deferred` event. The report is
/// tied to the message through the VERP address it was sent to, else the returned
/// `X-Mailroom-Message-Id` or `Message-ID`, within the caller's account only. A report
/// about no message of the account, or a message that is no report at all, is kept
/// (unmatched, or `unrecognized`) and answered 202 too.
#[utoipa::path(
    tag = "inbound",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry of this request return the first answer instead of doing the work twice")),
    request_body(
        description = "The whole message as received (headers and body), at most `MAILROOM_BODY_LIMIT_BYTES`",
        content(
            (RawMessageText = "message/rfc822"),
            (RawMessageText = "message/global"),
            (RawMessageText = "text/plain"),
            (RawMessageText = "application/octet-stream"),
        ),
    ),
    responses(
        (status = 202, description = "Kept and acted on; what it was and what was done", body = InboundReportView),
        (status = 409, description = "A request with this Idempotency-Key is still being processed", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/inbound/messages")]
pub async fn receive_inbound_message(
    req: HttpRequest,
    principal: Principal,
    state: web::Data<AppState>,
    body: RawMessage,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::InboundWrite)?;
    let RawMessage(raw, digest) = body;
    idempotency::once(&state, &req, &principal, &digest, || async {
        let account = principal.account_id;
        let policy = OutcomePolicy::new(&state.settings.delivery, state.hash_key.clone());
        let stored = state
            .db(move |conn| {
                // Parsing a large message is CPU work: it belongs on the blocking pool too.
                let report = inbound::parse_report(&raw);
                inbound::process_report(conn, account, &policy, &report)
            })
            .await?;
        Answer::new(StatusCode::ACCEPTED, &InboundReportView::from(stored))
    })
    .await
}

/// Lists the reports the account has kept, oldest first, with counts of all of them.
#[utoipa::path(
    tag = "inbound",
    params(InboundReportQuery),
    responses((status = 200, description = "A page of reports and the account's counts", body = InboundReportPage))
)]
#[get("/inbound/reports")]
pub async fn list_inbound_reports(
    principal: Principal,
    state: web::Data<AppState>,
    query: ApiQuery<InboundReportQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::EventsRead)?;
    let query = query.into_inner();
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    }
    .page()?;
    let filter = ReportFilter {
        matched: query.matched,
        kind: query.kind,
    };
    let account = principal.account_id;
    let (reports, counts) = state
        .db(move |conn| {
            let reports = StoredReport::list(conn, account, &filter, &page)?;
            Ok((reports, StoredReport::counts(conn, account)?))
        })
        .await?;
    let reports = reports.map(InboundReportView::from);
    Ok(HttpResponse::Ok().json(InboundReportPage {
        data: reports.data,
        next_cursor: reports.next_cursor,
        counts,
    }))
}
