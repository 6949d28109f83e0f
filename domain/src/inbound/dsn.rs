//! Delivery status notifications (RFC 3464): what a remote server says happened to a
//! message, recipient by recipient, and how each failure or delay is classified (the
//! table in [`outcomes`](crate::outcomes)).

use super::fields::{FieldGroup, bare_address, untyped};
use super::report::ReturnedHeaders;
use crate::outcomes::{AnswerClass, EnhancedStatus, classify_report};

/// A parsed `multipart/report; report-type=delivery-status` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryStatusReport {
    /// The server that wrote the report (`Reporting-MTA`, without its `dns;` type).
    pub reporting_mta: Option<String>,
    /// One entry per recipient the report speaks about; never empty.
    pub recipients: Vec<RecipientStatus>,
    /// Headers of the message the report is about, as far as it quotes them.
    pub returned: ReturnedHeaders,
    /// The addresses in the report's own `To:`, where a VERP return path lands.
    pub report_to: Vec<String>,
}

/// What happened to the message for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientStatus {
    /// The address the reporting server tried (`Final-Recipient`, without `rfc822;`).
    pub final_recipient: String,
    /// The address as the sender gave it, when the server kept it.
    pub original_recipient: Option<String>,
    /// What the reporting server did with the message.
    pub action: DsnAction,
    /// The RFC 3463 enhanced status code, such as `5.1.1`.
    pub status: String,
    /// What the failure or delay means for the address (see
    /// [`classify_report`]); `None` for a delivery that succeeded (`delivered`, `relayed`,
    /// `expanded`).
    pub class: Option<AnswerClass>,
    /// The remote server's reply, verbatim (with its `smtp;` type), folded lines joined.
    pub diagnostic_code: Option<String>,
    /// The server that gave the reply (`Remote-MTA`, without its `dns;` type or comment).
    pub remote_mta: Option<String>,
}

/// The `Action` of a recipient's entry (RFC 3464 §2.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DsnAction {
    /// Delivery failed and will not be retried.
    Failed,
    /// Delivery has not succeeded yet and is still being retried.
    Delayed,
    /// Delivered to the recipient's mailbox (a success report someone asked for).
    Delivered,
    /// Handed to a system that does not report delivery.
    Relayed,
    /// Delivered to a list or alias that forwarded it on.
    Expanded,
}

impl DsnAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Failed => "failed",
            Self::Delayed => "delayed",
            Self::Delivered => "delivered",
            Self::Relayed => "relayed",
            Self::Expanded => "expanded",
        }
    }

    /// Reads an `Action` value, ignoring case and a trailing comment.
    fn parse(value: &str) -> Option<Self> {
        let word = value.split_whitespace().next()?;
        [
            ("failed", Self::Failed),
            ("delayed", Self::Delayed),
            ("delivered", Self::Delivered),
            ("relayed", Self::Relayed),
            ("expanded", Self::Expanded),
        ]
        .into_iter()
        .find(|(name, _)| word.eq_ignore_ascii_case(name))
        .map(|(_, action)| action)
    }

    /// The action a status code implies when a report leaves `Action` out.
    fn implied_by(status: EnhancedStatus) -> Self {
        match status.class {
            5 => Self::Failed,
            4 => Self::Delayed,
            _ => Self::Delivered,
        }
    }

    /// RFC 3463's "other or undefined" code of the action's class, for a report that
    /// gives no status at all.
    fn generic_status(self) -> EnhancedStatus {
        let class = match self {
            Self::Failed => 5,
            Self::Delayed => 4,
            Self::Delivered | Self::Relayed | Self::Expanded => 2,
        };
        EnhancedStatus {
            class,
            subject: 0,
            detail: 0,
        }
    }
}

/// The `Reporting-MTA` of the per-message group.
pub(crate) fn reporting_mta(groups: &[FieldGroup]) -> Option<String> {
    groups
        .iter()
        .find_map(|group| group.get("reporting-mta"))
        .and_then(mta_name)
}

/// Every group with a `Final-Recipient` is a recipient's entry. An entry missing its
/// `Action` or `Status` takes it from the other (or from a status code in the
/// diagnostic); an entry with neither says nothing and is skipped.
pub(crate) fn recipients(groups: &[FieldGroup]) -> Vec<RecipientStatus> {
    groups.iter().filter_map(recipient).collect()
}

fn recipient(group: &FieldGroup) -> Option<RecipientStatus> {
    let final_recipient = bare_address(untyped(group.get("final-recipient")?))?;
    let diagnostic_code = group.get("diagnostic-code").map(str::to_owned);
    let stated_status = group
        .get("status")
        .and_then(|status| status.split_whitespace().next())
        .and_then(EnhancedStatus::parse)
        .or_else(|| diagnostic_code.as_deref().and_then(EnhancedStatus::find_in));
    let stated_action = group.get("action").and_then(DsnAction::parse);
    let (action, status) = match (stated_action, stated_status) {
        (Some(action), Some(status)) => (action, status),
        (Some(action), None) => (action, action.generic_status()),
        (None, Some(status)) => (DsnAction::implied_by(status), status),
        (None, None) => return None,
    };
    let class = match action {
        DsnAction::Failed | DsnAction::Delayed => {
            Some(classify_report(status, diagnostic_code.as_deref()).class)
        }
        DsnAction::Delivered | DsnAction::Relayed | DsnAction::Expanded => None,
    };
    Some(RecipientStatus {
        original_recipient: group
            .get("original-recipient")
            .and_then(|value| bare_address(untyped(value))),
        class,
        action,
        status: status.to_string(),
        diagnostic_code,
        remote_mta: group.get("remote-mta").and_then(mta_name),
        final_recipient,
    })
}

/// An MTA name without its type and trailing comment: `dns; mx.example.net. (…)` →
/// `mx.example.net.`.
fn mta_name(value: &str) -> Option<String> {
    untyped(value).split_whitespace().next().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::super::fields::field_groups;
    use super::*;

    fn entry(fields: &str) -> Option<RecipientStatus> {
        recipients(&field_groups(fields)).into_iter().next()
    }

    #[test]
    fn failures_and_delays_are_classified_by_the_table() {
        let hard =
            entry("Final-Recipient: rfc822; a@x.example\nAction: failed\nStatus: 5.1.1").unwrap();
        assert_eq!(hard.class, Some(AnswerClass::HardBounce));
        let gave_up =
            entry("Final-Recipient: rfc822; a@x.example\nAction: failed\nStatus: 4.4.7").unwrap();
        assert_eq!(gave_up.class, Some(AnswerClass::Blocked));
        let full =
            entry("Final-Recipient: rfc822; a@x.example\nAction: failed\nStatus: 5.2.2").unwrap();
        assert_eq!(full.class, Some(AnswerClass::SoftBounce));
        let delayed =
            entry("Final-Recipient: rfc822; a@x.example\nAction: delayed\nStatus: 4.2.2").unwrap();
        assert_eq!(delayed.class, Some(AnswerClass::SoftBounce));
        let delivered = entry(
            "Final-Recipient: rfc822; a@x.example\nAction: Delivered (to mailbox)\nStatus: 2.0.0",
        )
        .unwrap();
        assert_eq!(delivered.action, DsnAction::Delivered);
        assert_eq!(delivered.class, None);
    }

    #[test]
    fn a_missing_action_or_status_is_taken_from_the_other() {
        let from_status = entry("Final-Recipient: rfc822; a@x.example\nStatus: 5.1.1").unwrap();
        assert_eq!(from_status.action, DsnAction::Failed);
        assert_eq!(from_status.class, Some(AnswerClass::HardBounce));
        let from_diagnostic = entry(
            "Final-Recipient: a@x.example\nAction: failed\nStatus: 5.x\n\
             Diagnostic-Code: smtp; 550-5.1.1 The email account does not exist",
        )
        .unwrap();
        assert_eq!(from_diagnostic.status, "5.1.1");
        let generic = entry("Final-Recipient: rfc822; a@x.example\nAction: delayed").unwrap();
        assert_eq!(generic.status, "4.0.0");
        assert_eq!(entry("Final-Recipient: rfc822; a@x.example"), None);
        assert_eq!(entry("Action: failed\nStatus: 5.1.1"), None);
        assert_eq!(entry("Final-Recipient: rfc822;\nStatus: 5.1.1"), None);
    }
}
