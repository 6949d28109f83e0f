//! Acting on a report: finding the message it is about — in the caller's account only —
//! reading what it says (a failure, a delay or a complaint), having
//! [`outcomes::record`](crate::outcomes::record) do what that means for the message, its
//! address and its campaign, and keeping the report (without its raw text), all in one
//! transaction.

use diesel::prelude::*;

use super::dsn::{DeliveryStatusReport, DsnAction, RecipientStatus};
use super::feedback::FeedbackReport;
use super::report::InboundReport;
use super::stored::{
    MatchedBy, RecipientSummary, ReportKind, ReportOutcome, ReportSummary, StoredReport,
};
use crate::clock;
use crate::contacts::email::{mask_email, mask_emails_in};
use crate::error::Result;
use crate::events;
use crate::messages::Message;
use crate::outcomes::{self, AnswerClass, Outcome, OutcomePolicy};
use crate::rendering::message_id_from_verp;
use crate::schema::messages;
use crate::store::DbConnection;
use crate::store::sql_types::Id;

/// Message ids tried per report: a `To:` with thousands of addresses costs no more.
const MAX_CANDIDATES: usize = 8;
/// Recipient entries kept per report.
const MAX_RECIPIENTS: usize = 50;
const MAX_DIAGNOSTIC_CHARS: usize = 1000;
const MAX_TOKEN_CHARS: usize = 64;
const MAX_NAME_CHARS: usize = 255;

/// Feedback types that are not a recipient's complaint: a report that a message was
/// wrongly filtered (RFC 6430) and an authentication failure report (RFC 6591).
const NOT_COMPLAINTS: [&str; 2] = ["not-spam", "auth-failure"];

/// Processes a parsed report for `account_id` and keeps it. A report about no message of
/// the account (another account's, or none at all) is kept unmatched and changes nothing
/// else.
pub fn process_report(
    conn: &mut DbConnection,
    account_id: Id,
    policy: &OutcomePolicy,
    report: &InboundReport,
) -> Result<StoredReport> {
    conn.write_transaction(|conn| {
        let matched = find_message(conn, account_id, &candidates(report))?;
        let verdict = verdict(report, matched.as_ref().map(|(m, _)| m.to_email.as_str()));
        let mut summary = summarize(report, verdict.outcome);
        if let Some((message, matched_by)) = &matched {
            summary.matched_by = Some(*matched_by);
            act(conn, policy, message, &verdict, &mut summary)?;
        }
        let stored = StoredReport {
            id: Id::new(),
            account_id,
            kind: kind_of(report),
            message_id: matched.map(|(message, _)| message.id),
            summary,
            created_at: clock::now(),
        };
        stored.insert(conn)?;
        tracing::info!(
            report_id = %stored.id,
            kind = stored.kind.as_str(),
            matched = stored.matched(),
            outcome = ?stored.summary.outcome,
            event_recorded = stored.summary.event_recorded,
            "inbound report processed"
        );
        Ok(stored)
    })
}

/// The ids a report may be about, most reliable first: the VERP address it was sent to
/// (for a complaint also the envelope sender it quotes), then the returned message's
/// `X-Mailroom-Message-Id`, then its `Message-ID` (`<uuid@domain>`, see
/// [`build_mime`](crate::rendering::build_mime)).
fn candidates(report: &InboundReport) -> Vec<(Id, MatchedBy)> {
    let (report_to, mail_from, returned) = match report {
        InboundReport::Dsn(dsn) => (&dsn.report_to, None, &dsn.returned),
        InboundReport::Feedback(arf) => (
            &arf.report_to,
            arf.original_mail_from.as_deref(),
            &arf.returned,
        ),
        InboundReport::Unrecognized { .. } => return Vec::new(),
    };
    let verp = report_to
        .iter()
        .map(String::as_str)
        .chain(mail_from)
        .filter_map(message_id_from_verp)
        .map(|id| (id, MatchedBy::Verp));
    let mailroom = returned
        .mailroom_message_id
        .as_deref()
        .and_then(|value| uuid::Uuid::try_parse(value.trim()).ok())
        .map(|uuid| (Id(uuid), MatchedBy::MailroomMessageId));
    let header = returned
        .message_id
        .as_deref()
        .and_then(id_in_message_id)
        .map(|id| (id, MatchedBy::MessageId));
    let mut found: Vec<(Id, MatchedBy)> = Vec::new();
    for (id, by) in verp.chain(mailroom).chain(header) {
        if found.len() == MAX_CANDIDATES {
            break;
        }
        if !found.iter().any(|(seen, _)| *seen == id) {
            found.push((id, by));
        }
    }
    found
}

/// The message id of a `Message-ID` Mailroom wrote: `uuid@domain`, brackets removed.
fn id_in_message_id(value: &str) -> Option<Id> {
    let (local, domain) = value.trim().rsplit_once('@')?;
    if domain.trim().is_empty() {
        return None;
    }
    uuid::Uuid::try_parse(local.trim()).ok().map(Id)
}

/// The first candidate that is a message of the account, locked (on PostgreSQL) so that
/// two reports about one message are processed one after the other.
fn find_message(
    conn: &mut DbConnection,
    account_id: Id,
    candidates: &[(Id, MatchedBy)],
) -> Result<Option<(Message, MatchedBy)>> {
    for &(id, matched_by) in candidates {
        // `as_select` is typed by backend, hence the query once per arm.
        macro_rules! of_account {
            () => {
                messages::table
                    .find(id)
                    .filter(messages::account_id.eq(account_id))
                    .select(Message::as_select())
            };
        }
        let found = match conn {
            DbConnection::Postgres(pg) => of_account!().for_update().first(pg).optional()?,
            DbConnection::Sqlite(lite) => of_account!().first(lite).optional()?,
        };
        if let Some(message) = found {
            return Ok(Some((message, matched_by)));
        }
    }
    Ok(None)
}

/// What a report means for its message.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Verdict {
    outcome: ReportOutcome,
    /// A failure's class.
    class: Option<AnswerClass>,
    /// The evidence: a failure's or delay's diagnostic (or status code), addresses masked.
    diagnostic: Option<String>,
    /// A complaint's feedback type.
    source: Option<String>,
}

impl Verdict {
    fn nothing() -> Self {
        Verdict {
            outcome: ReportOutcome::None,
            class: None,
            diagnostic: None,
            source: None,
        }
    }
}

fn verdict(report: &InboundReport, recipient: Option<&str>) -> Verdict {
    match report {
        InboundReport::Dsn(dsn) => bounce_verdict(dsn, recipient),
        InboundReport::Feedback(arf) => complaint_verdict(arf),
        InboundReport::Unrecognized { .. } => Verdict::nothing(),
    }
}

/// A report may list several recipients (a forwarding address, a relay that batched):
/// the entries about the message's recipient decide when there are any. A failure
/// outweighs a delay; among failures a hard bounce outweighs a soft one, which outweighs
/// a blocked answer.
fn bounce_verdict(dsn: &DeliveryStatusReport, recipient: Option<&str>) -> Verdict {
    let is_about = |entry: &&RecipientStatus| {
        recipient.is_some_and(|to| {
            entry.final_recipient.eq_ignore_ascii_case(to)
                || entry
                    .original_recipient
                    .as_deref()
                    .is_some_and(|original| original.eq_ignore_ascii_case(to))
        })
    };
    let about: Vec<&RecipientStatus> = dsn.recipients.iter().filter(is_about).collect();
    let relevant: Vec<&RecipientStatus> = if about.is_empty() {
        dsn.recipients.iter().collect()
    } else {
        about
    };
    let failure = AnswerClass::ALL.into_iter().find_map(|class| {
        relevant
            .iter()
            .find(|e| e.action == DsnAction::Failed && e.class == Some(class))
    });
    let (deciding, outcome) = match failure {
        Some(entry) => (
            *entry,
            match entry.class {
                Some(AnswerClass::HardBounce) => ReportOutcome::HardBounce,
                Some(AnswerClass::SoftBounce) => ReportOutcome::SoftBounce,
                _ => ReportOutcome::Blocked,
            },
        ),
        None => match relevant.iter().find(|e| e.action == DsnAction::Delayed) {
            Some(entry) => (*entry, ReportOutcome::Delayed),
            None => return Verdict::nothing(),
        },
    };
    Verdict {
        outcome,
        class: deciding.class,
        diagnostic: Some(
            deciding
                .diagnostic_code
                .as_deref()
                .map(|code| clean(&mask_emails_in(code), MAX_DIAGNOSTIC_CHARS))
                .filter(|code| !code.is_empty())
                .unwrap_or_else(|| deciding.status.clone()),
        ),
        source: None,
    }
}

fn complaint_verdict(arf: &FeedbackReport) -> Verdict {
    let feedback_type = arf
        .feedback_type
        .as_deref()
        .map(|t| clean(t, MAX_TOKEN_CHARS))
        .filter(|t| !t.is_empty());
    let complaint = feedback_type
        .as_deref()
        .is_none_or(|t| !NOT_COMPLAINTS.contains(&t));
    Verdict {
        outcome: if complaint {
            ReportOutcome::Complaint
        } else {
            ReportOutcome::None
        },
        class: None,
        diagnostic: None,
        // RFC 5965 requires a type; a report without one is still an ARF complaint.
        source: Some(feedback_type.unwrap_or_else(|| "arf".into())),
    }
}

/// Has the verdict recorded for the matched message. A failure moves the message once
/// (a repeated report finds it closed); a delay notice or a complaint repeated (by the
/// remote server or by whoever forwards reports) records no second event.
fn act(
    conn: &mut DbConnection,
    policy: &OutcomePolicy,
    message: &Message,
    verdict: &Verdict,
    summary: &mut ReportSummary,
) -> Result<()> {
    let diagnostic = verdict.diagnostic.as_deref().unwrap_or("5.0.0");
    let repeated = |conn: &mut DbConnection| -> Result<bool> {
        let earlier = StoredReport::recorded_outcomes(conn, message.account_id, message.id)?;
        Ok(earlier.contains(&verdict.outcome))
    };
    let outcome = match (verdict.outcome, verdict.class) {
        (ReportOutcome::None, _) => return Ok(()),
        (ReportOutcome::Delayed, _) => Outcome::ReportedDelay {
            diagnostic,
            repeated: repeated(conn)?,
        },
        (ReportOutcome::Complaint, _) => Outcome::Complaint {
            feedback_type: verdict.source.as_deref().unwrap_or("arf"),
            repeated: repeated(conn)?,
        },
        (_, class) => Outcome::ReportedFailure {
            class: class.unwrap_or(AnswerClass::Blocked),
            diagnostic,
        },
    };
    let mut raised = Vec::new();
    let recorded = outcomes::record(conn, policy, message, &outcome, &mut raised)?;
    events::enqueue(conn, raised)?;
    summary.suppressed = recorded.suppressed;
    summary.event_recorded = recorded.event_recorded;
    Ok(())
}

fn kind_of(report: &InboundReport) -> ReportKind {
    match report {
        InboundReport::Dsn(_) => ReportKind::Dsn,
        InboundReport::Feedback(_) => ReportKind::Arf,
        InboundReport::Unrecognized { .. } => ReportKind::Unrecognized,
    }
}

/// What is kept of a report: its findings, addresses masked, never the raw message.
fn summarize(report: &InboundReport, outcome: ReportOutcome) -> ReportSummary {
    fn text(value: Option<&str>, max_chars: usize) -> Option<String> {
        value
            .map(|value| clean(value, max_chars))
            .filter(|value| !value.is_empty())
    }
    let mut summary = ReportSummary::new(outcome);
    match report {
        InboundReport::Dsn(dsn) => {
            summary.reporting_mta = text(dsn.reporting_mta.as_deref(), MAX_NAME_CHARS);
            summary.recipients = dsn
                .recipients
                .iter()
                .take(MAX_RECIPIENTS)
                .map(|entry| RecipientSummary {
                    email: clean(&mask_email(&entry.final_recipient), MAX_NAME_CHARS),
                    action: entry.action.as_str().to_owned(),
                    status: clean(&entry.status, MAX_TOKEN_CHARS),
                    class: entry.class.map(|class| class.short_name().to_owned()),
                    diagnostic: text(
                        entry
                            .diagnostic_code
                            .as_deref()
                            .map(mask_emails_in)
                            .as_deref(),
                        MAX_DIAGNOSTIC_CHARS,
                    ),
                })
                .collect();
        }
        InboundReport::Feedback(arf) => {
            summary.feedback_type = text(arf.feedback_type.as_deref(), MAX_TOKEN_CHARS);
            summary.user_agent = text(arf.user_agent.as_deref(), MAX_NAME_CHARS);
            summary.reported_domain = text(arf.reported_domain.as_deref(), MAX_NAME_CHARS);
        }
        InboundReport::Unrecognized { reason } => {
            summary.reason = text(Some(reason.to_string().as_str()), MAX_NAME_CHARS);
        }
    }
    summary
}

/// Text from a remote server, fit for a text column and a JSON document: control
/// characters (NUL included, which PostgreSQL refuses) become spaces, and it is cut short.
fn clean(text: &str, max_chars: usize) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max_chars)
        .collect();
    cleaned.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::super::parse_report;
    use super::*;

    const POSTFIX: &[u8] = include_bytes!("../../tests/fixtures/inbound/postfix_hard_bounce.eml");
    const GMAIL: &[u8] = include_bytes!("../../tests/fixtures/inbound/gmail_hard_bounce.eml");
    const TWO_RECIPIENTS: &[u8] = include_bytes!("../../tests/fixtures/inbound/two_recipients.eml");
    const ARF: &[u8] = include_bytes!("../../tests/fixtures/inbound/arf_abuse.eml");
    const DELAYED: &[u8] = include_bytes!("../../tests/fixtures/inbound/delayed.eml");

    fn id(s: &str) -> Id {
        s.parse().unwrap()
    }

    #[test]
    fn the_verp_address_comes_first_then_the_returned_headers() {
        let report = parse_report(POSTFIX);
        let postfix = id("0190a3f4-c2b8-7d5e-9a1b-2c3d4e5f6a7b");
        // Every link names the same message: it is tried once.
        assert_eq!(candidates(&report), vec![(postfix, MatchedBy::Verp)]);

        let text = String::from_utf8_lossy(POSTFIX)
            .replace("To: bounces+", "To: postmaster+")
            .replace("X-Mailroom-Message-Id: 0190a3f4", "X-Other: 0190a3f4");
        assert_eq!(
            candidates(&parse_report(text.as_bytes())),
            vec![(postfix, MatchedBy::MessageId)]
        );
        let text = String::from_utf8_lossy(POSTFIX).replace("To: bounces+", "To: postmaster+");
        assert_eq!(
            candidates(&parse_report(text.as_bytes())),
            vec![(postfix, MatchedBy::MailroomMessageId)]
        );
    }

    #[test]
    fn a_complaint_is_matched_by_the_envelope_sender_it_quotes() {
        let ids: Vec<(Id, MatchedBy)> = candidates(&parse_report(ARF));
        assert_eq!(
            ids,
            vec![(id("0190a3f8-a5b6-7d7f-9ec0-3b4c5d6e7f80"), MatchedBy::Verp)]
        );
    }

    #[test]
    fn message_ids_of_other_senders_name_no_message() {
        assert_eq!(
            id_in_message_id("66681a31.170a0220.3e1f9.2b7cGMR@mx.google.com"),
            None
        );
        assert_eq!(
            id_in_message_id("0190a3f4-c2b8-7d5e-9a1b-2c3d4e5f6a7b@"),
            None
        );
        assert_eq!(
            id_in_message_id("0190a3f4-c2b8-7d5e-9a1b-2c3d4e5f6a7b"),
            None
        );
        assert_eq!(
            id_in_message_id("0190a3f4-c2b8-7d5e-9a1b-2c3d4e5f6a7b@m.example"),
            Some(id("0190a3f4-c2b8-7d5e-9a1b-2c3d4e5f6a7b"))
        );
    }

    #[test]
    fn failures_and_delays_are_read_with_the_diagnostic_kept_and_masked() {
        let hard = verdict(&parse_report(GMAIL), Some("nobody.here@gmail.com"));
        assert_eq!(hard.outcome, ReportOutcome::HardBounce);
        assert!(
            hard.diagnostic
                .as_deref()
                .unwrap()
                .starts_with("smtp; 550-5.1.1 The email account"),
            "{hard:?}"
        );
        let postfix = verdict(&parse_report(POSTFIX), Some("x@example.net"));
        assert_eq!(
            postfix.diagnostic.as_deref(),
            Some("smtp; 550 5.1.1 <x***@example.net>: Recipient address rejected: User unknown")
        );
        // A delay notice: the remote server is still trying.
        let delayed = verdict(&parse_report(DELAYED), Some("slow@example.org"));
        assert_eq!(delayed.outcome, ReportOutcome::Delayed);
        // A policy refusal reported after the relay took the message.
        let text = String::from_utf8_lossy(POSTFIX)
            .replace("Status: 5.1.1", "Status: 5.7.26")
            .replace("550 5.1.1", "550 5.7.26");
        let blocked = verdict(&parse_report(text.as_bytes()), Some("x@example.net"));
        assert_eq!(blocked.outcome, ReportOutcome::Blocked);
        assert_eq!(blocked.class, Some(AnswerClass::Blocked));
    }

    #[test]
    fn the_entry_about_the_messages_recipient_decides() {
        // alice: 5.1.1 (hard), bob: 4.2.2 (a full mailbox, soft).
        let text = String::from_utf8_lossy(TWO_RECIPIENTS)
            .replace("STATUS: 5.2.1", "STATUS: 5.1.1")
            .replace("550 5.2.1", "550 5.1.1");
        let report = parse_report(text.as_bytes());
        assert_eq!(
            verdict(&report, Some("bob@example.com")).outcome,
            ReportOutcome::SoftBounce
        );
        assert_eq!(
            verdict(&report, Some("ALICE@example.com")).outcome,
            ReportOutcome::HardBounce
        );
        // About nobody in particular: the worst entry.
        assert_eq!(
            verdict(&report, Some("carol@example.com")).outcome,
            ReportOutcome::HardBounce
        );
        // A disabled mailbox (5.2.1) is a soft bounce.
        assert_eq!(
            verdict(&parse_report(TWO_RECIPIENTS), Some("alice@example.com")).outcome,
            ReportOutcome::SoftBounce
        );
    }

    #[test]
    fn not_spam_and_auth_failure_reports_are_not_complaints() {
        let abuse = verdict(&parse_report(ARF), None);
        assert_eq!(abuse.outcome, ReportOutcome::Complaint);
        assert_eq!(abuse.source.as_deref(), Some("abuse"));
        for kind in ["not-spam", "auth-failure"] {
            let text = String::from_utf8_lossy(ARF)
                .replace("Feedback-Type: abuse", &format!("Feedback-Type: {kind}"));
            assert_eq!(
                verdict(&parse_report(text.as_bytes()), None).outcome,
                ReportOutcome::None
            );
        }
    }

    #[test]
    fn summaries_keep_findings_but_no_addresses_or_control_characters() {
        let summary = summarize(&parse_report(POSTFIX), ReportOutcome::HardBounce);
        assert_eq!(
            summary.reporting_mta.as_deref(),
            Some("mail.mailroom.example")
        );
        assert_eq!(summary.recipients.len(), 1);
        assert_eq!(summary.recipients[0].email, "x***@example.net");
        assert_eq!(summary.recipients[0].class.as_deref(), Some("hard"));
        assert!(
            !serde_json::to_string(&summary)
                .unwrap()
                .contains("x@example.net")
        );
        assert_eq!(clean("a\0b\r\nc  ", 10), "a b  c");
        assert_eq!(clean("abcdef", 3), "abc");
    }
}
