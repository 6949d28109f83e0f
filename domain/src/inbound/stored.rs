//! Reports as Mailroom keeps them: what each said and what was done about it, never the
//! raw message (a report quotes the original email, and that is not Mailroom's to keep).

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::pagination::{Page, PageRequest};
use crate::schema::inbound_reports;
use crate::store::DbConnection;
use crate::store::sql_types::{Id, Json, Timestamp};

/// What kind of message a report was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    /// A delivery status notification (RFC 3464).
    Dsn,
    /// A complaint in the Abuse Reporting Format (RFC 5965).
    Arf,
    /// Neither: an auto-reply, another kind of report, a broken message.
    Unrecognized,
}

impl ReportKind {
    pub const ALL: [ReportKind; 3] = [ReportKind::Dsn, ReportKind::Arf, ReportKind::Unrecognized];

    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::Dsn => "dsn",
            ReportKind::Arf => "arf",
            ReportKind::Unrecognized => "unrecognized",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// How a report was tied to the message it is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MatchedBy {
    /// The VERP return path (`bounces+<id>@…`) the report was sent to.
    Verp,
    /// The `X-Mailroom-Message-Id` header of the returned message.
    MailroomMessageId,
    /// The `Message-ID` header Mailroom wrote on the returned message.
    MessageId,
}

/// What a report says happened to its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportOutcome {
    /// The address does not exist (x.1.x): the message bounced, the address is suppressed.
    HardBounce,
    /// The mailbox is full or disabled (x.2.x): the message failed; the address is
    /// suppressed only once it soft-bounces repeatedly.
    SoftBounce,
    /// Refused for a reason that is not the address's (policy, authentication,
    /// reputation, the network): the message failed, nothing is suppressed.
    Blocked,
    /// A delay notice: the remote server is still trying. Recorded as a `deferred` event.
    Delayed,
    /// The recipient reported the message as spam: the address is suppressed.
    Complaint,
    /// Nothing to act on: a success notice, a `not-spam` or `auth-failure` feedback
    /// report, or an unrecognized message.
    None,
}

/// One recipient's entry of a delivery status notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecipientSummary {
    /// The recipient the report names, masked (`x***@example.net`): the full address is on
    /// the message and its events.
    pub email: String,
    /// `failed`, `delayed`, `delivered`, `relayed` or `expanded` (RFC 3464).
    pub action: String,
    /// The enhanced status code (RFC 3463), such as `5.1.1`.
    pub status: String,
    /// `hard`, `soft` or `blocked` (see the classification table); absent for a delivery
    /// that succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// The remote server's reply, addresses in it masked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnostic: Option<String>,
}

/// What is kept of a report (the `summary` column).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportSummary {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched_by: Option<MatchedBy>,
    pub outcome: ReportOutcome,
    /// An event was recorded for the message by this report (not when an earlier report
    /// or the delivery itself already recorded the same).
    #[serde(default)]
    pub event_recorded: bool,
    /// The message's recipient is on the suppression list after this report.
    #[serde(default)]
    pub suppressed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reporting_mta: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<RecipientSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported_domain: Option<String>,
    /// Why an unrecognized message is not a report Mailroom acts on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ReportSummary {
    pub(crate) fn new(outcome: ReportOutcome) -> Self {
        ReportSummary {
            matched_by: None,
            outcome,
            event_recorded: false,
            suppressed: false,
            reporting_mta: None,
            recipients: Vec::new(),
            feedback_type: None,
            user_agent: None,
            reported_domain: None,
            reason: None,
        }
    }
}

/// A stored row of `inbound_reports`.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = inbound_reports)]
struct ReportRow {
    id: Id,
    account_id: Id,
    kind: String,
    message_id: Option<Id>,
    matched: bool,
    summary: Json,
    created_at: Timestamp,
}

/// A report as kept.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredReport {
    pub id: Id,
    pub account_id: Id,
    pub kind: ReportKind,
    /// The account's message the report is about, when it was matched.
    pub message_id: Option<Id>,
    pub summary: ReportSummary,
    pub created_at: Timestamp,
}

impl StoredReport {
    pub fn matched(&self) -> bool {
        self.message_id.is_some()
    }

    /// Keeps the report.
    pub(crate) fn insert(&self, conn: &mut DbConnection) -> Result<()> {
        let summary = serde_json::to_value(&self.summary)
            .map_err(|e| crate::Error::Internal(format!("report summary: {e}")))?;
        diesel::insert_into(inbound_reports::table)
            .values(ReportRow {
                id: self.id,
                account_id: self.account_id,
                kind: self.kind.as_str().to_owned(),
                message_id: self.message_id,
                matched: self.matched(),
                summary: Json(summary),
                created_at: self.created_at,
            })
            .execute(conn)?;
        Ok(())
    }

    /// The account's reports, oldest first, optionally only matched (or unmatched) ones
    /// or of one kind.
    pub fn list(
        conn: &mut DbConnection,
        account_id: Id,
        filter: &ReportFilter,
        page: &PageRequest,
    ) -> Result<Page<StoredReport>> {
        let mut query = inbound_reports::table
            .filter(inbound_reports::account_id.eq(account_id))
            .select(ReportRow::as_select())
            .order(inbound_reports::id.asc())
            .limit(page.fetch_limit())
            .into_boxed();
        if let Some(matched) = filter.matched {
            query = query.filter(inbound_reports::matched.eq(matched));
        }
        if let Some(kind) = filter.kind {
            query = query.filter(inbound_reports::kind.eq(kind.as_str()));
        }
        if let Some(after) = page.after {
            query = query.filter(inbound_reports::id.gt(after));
        }
        let rows: Vec<ReportRow> = query.load(conn)?;
        let page = Page::from_rows(rows, page, |r| r.id);
        Ok(page.map(StoredReport::from_row))
    }

    /// How many reports the account has kept, by kind and by whether they matched.
    pub fn counts(conn: &mut DbConnection, account_id: Id) -> Result<ReportCounts> {
        let groups: Vec<(String, bool, i64)> = inbound_reports::table
            .filter(inbound_reports::account_id.eq(account_id))
            .group_by((inbound_reports::kind, inbound_reports::matched))
            .select((
                inbound_reports::kind,
                inbound_reports::matched,
                diesel::dsl::count_star(),
            ))
            .load(conn)?;
        let mut counts = ReportCounts::default();
        for (kind, matched, count) in groups {
            counts.total += count;
            if matched {
                counts.matched += count;
            } else {
                counts.unmatched += count;
            }
            match ReportKind::parse(&kind) {
                Some(ReportKind::Dsn) => counts.dsn += count,
                Some(ReportKind::Arf) => counts.arf += count,
                Some(ReportKind::Unrecognized) | None => counts.unrecognized += count,
            }
        }
        Ok(counts)
    }

    /// The outcomes earlier reports recorded an event for, for one message: a report
    /// sent twice (or a delay notice repeated every few hours) counts once.
    pub(crate) fn recorded_outcomes(
        conn: &mut DbConnection,
        account_id: Id,
        message_id: Id,
    ) -> Result<Vec<ReportOutcome>> {
        let summaries: Vec<Json> = inbound_reports::table
            .filter(inbound_reports::account_id.eq(account_id))
            .filter(inbound_reports::message_id.eq(message_id))
            .select(inbound_reports::summary)
            .load(conn)?;
        Ok(summaries
            .into_iter()
            .filter_map(|json| serde_json::from_value::<ReportSummary>(json.0).ok())
            .filter(|summary| summary.event_recorded)
            .map(|summary| summary.outcome)
            .collect())
    }
}

impl StoredReport {
    fn from_row(row: ReportRow) -> Self {
        // A summary this version cannot read still lists, as what little is known.
        let summary = serde_json::from_value(row.summary.0).unwrap_or_else(|_| {
            let mut summary = ReportSummary::new(ReportOutcome::None);
            summary.reason = Some("the stored summary could not be read".into());
            summary
        });
        StoredReport {
            id: row.id,
            account_id: row.account_id,
            kind: ReportKind::parse(&row.kind).unwrap_or(ReportKind::Unrecognized),
            message_id: row.message_id.filter(|_| row.matched),
            summary,
            created_at: row.created_at,
        }
    }
}

/// Which reports to list.
#[derive(Debug, Clone, Default)]
pub struct ReportFilter {
    pub matched: Option<bool>,
    pub kind: Option<ReportKind>,
}

/// Counts of an account's kept reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ReportCounts {
    pub total: i64,
    pub matched: i64,
    pub unmatched: i64,
    pub dsn: i64,
    pub arf: i64,
    pub unrecognized: i64,
}
