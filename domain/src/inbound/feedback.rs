//! Complaint reports in the Abuse Reporting Format (RFC 5965): a mailbox provider
//! telling the sender that a recipient marked a message as spam.

use super::fields::{FieldGroup, bare_address};
use super::report::ReturnedHeaders;

/// A parsed `multipart/report; report-type=feedback-report` message.
///
/// Every field is optional: providers leave out even the ones RFC 5965 requires, and a
/// complaint is worth recording with whatever it carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedbackReport {
    /// `abuse`, `fraud`, `virus`, `not-spam`, `auth-failure`, …, lower-cased.
    pub feedback_type: Option<String>,
    /// The software that generated the report.
    pub user_agent: Option<String>,
    /// The envelope sender of the reported message, without `<>`.
    pub original_mail_from: Option<String>,
    /// The envelope recipient of the reported message, without `<>`.
    pub original_rcpt_to: Option<String>,
    /// When the reported message arrived, as the report wrote it.
    pub arrival_date: Option<String>,
    /// The IP address the reported message came from.
    pub source_ip: Option<String>,
    /// The domain the reporter holds responsible for the message.
    pub reported_domain: Option<String>,
    /// Headers of the message complained about, as far as the report quotes them.
    pub returned: ReturnedHeaders,
    /// The addresses in the report's own `To:`.
    pub report_to: Vec<String>,
}

impl FeedbackReport {
    /// The report's fields; `returned` and `report_to` are left for the caller.
    pub(crate) fn from_fields(groups: &[FieldGroup]) -> Self {
        // RFC 5965 has a single group, but a stray blank line must not hide fields.
        let field = |name: &str| groups.iter().find_map(|group| group.get(name));
        let text = |name: &str| field(name).map(str::to_owned);
        FeedbackReport {
            feedback_type: field("feedback-type").map(str::to_ascii_lowercase),
            user_agent: text("user-agent"),
            original_mail_from: field("original-mail-from").and_then(bare_address),
            original_rcpt_to: field("original-rcpt-to").and_then(bare_address),
            // `Received-Date` is what drafts before RFC 5965 called it.
            arrival_date: text("arrival-date").or_else(|| text("received-date")),
            source_ip: text("source-ip"),
            reported_domain: text("reported-domain"),
            returned: ReturnedHeaders::default(),
            report_to: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fields::field_groups;
    use super::*;

    #[test]
    fn fields_are_read_in_any_case_and_addresses_lose_their_brackets() {
        let report = FeedbackReport::from_fields(&field_groups(
            "FEEDBACK-TYPE: Abuse\nuser-agent: Yahoo!-Mail-Feedback/2.0\n\
             original-mail-from: <bounces+x@b.example>\nOriginal-Rcpt-To: r@y.example\n\n\
             Received-Date: Thu, 13 Jun 2024 14:00:00 +0000\nSource-IP: 2001:db8::1",
        ));
        assert_eq!(report.feedback_type.as_deref(), Some("abuse"));
        assert_eq!(
            report.user_agent.as_deref(),
            Some("Yahoo!-Mail-Feedback/2.0")
        );
        assert_eq!(
            report.original_mail_from.as_deref(),
            Some("bounces+x@b.example")
        );
        assert_eq!(report.original_rcpt_to.as_deref(), Some("r@y.example"));
        assert_eq!(
            report.arrival_date.as_deref(),
            Some("Thu, 13 Jun 2024 14:00:00 +0000")
        );
        assert_eq!(report.source_ip.as_deref(), Some("2001:db8::1"));
        assert_eq!(report.reported_domain, None);
    }
}
