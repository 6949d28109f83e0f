//! Delivery status notifications (RFC 3464): what a remote server says happened to a
//! message, recipient by recipient, and whether a failure should count as a hard or a
//! soft bounce.

use super::fields::{FieldGroup, bare_address, untyped};
use super::report::ReturnedHeaders;

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
    /// `None` for a delivery that succeeded (`delivered`, `relayed`, `expanded`).
    pub class: Option<BounceClass>,
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
    fn implied_by(status: &str) -> Self {
        match status.as_bytes().first() {
            Some(b'5') => Self::Failed,
            Some(b'4') => Self::Delayed,
            _ => Self::Delivered,
        }
    }

    /// RFC 3463's "other or undefined" code of the action's class, for a report that
    /// gives no status at all.
    fn generic_status(self) -> &'static str {
        match self {
            Self::Failed => "5.0.0",
            Self::Delayed => "4.0.0",
            Self::Delivered | Self::Relayed | Self::Expanded => "2.0.0",
        }
    }
}

/// How a bounce counts against an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BounceClass {
    /// Permanent (5.x.x): the address should not be mailed again.
    Hard,
    /// Temporary (4.x.x, or any delay): the address may work later.
    Soft,
}

impl BounceClass {
    /// The name events and reports use: `hard` or `soft`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hard => "hard",
            Self::Soft => "soft",
        }
    }

    /// A delay is soft whatever its code; a failure is hard only with a permanent code
    /// (a `failed` 4.x.x is a server that gave up retrying a temporary problem).
    fn of(action: DsnAction, status: &str) -> Option<Self> {
        match action {
            DsnAction::Delayed => Some(Self::Soft),
            DsnAction::Failed if status.starts_with('5') => Some(Self::Hard),
            DsnAction::Failed => Some(Self::Soft),
            DsnAction::Delivered | DsnAction::Relayed | DsnAction::Expanded => None,
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
        .and_then(enhanced_status)
        .or_else(|| diagnostic_code.as_deref().and_then(status_in_text));
    let stated_action = group.get("action").and_then(DsnAction::parse);
    let (action, status) = match (stated_action, stated_status) {
        (Some(action), Some(status)) => (action, status),
        (Some(action), None) => (action, action.generic_status()),
        (None, Some(status)) => (DsnAction::implied_by(status), status),
        (None, None) => return None,
    };
    Some(RecipientStatus {
        original_recipient: group
            .get("original-recipient")
            .and_then(|value| bare_address(untyped(value))),
        class: BounceClass::of(action, status),
        action,
        status: status.to_owned(),
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

/// `token` when it is an RFC 3463 code: class 2, 4 or 5, then two numbers of at most
/// three digits.
fn enhanced_status(token: &str) -> Option<&str> {
    let mut parts = token.split('.');
    let class = parts.next()?;
    let numbers_ok = (0..2).all(|_| {
        parts
            .next()
            .is_some_and(|n| (1..=3).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit()))
    });
    (matches!(class, "2" | "4" | "5") && numbers_ok && parts.next().is_none()).then_some(token)
}

/// The first enhanced status code in a free-text reply (`550-5.1.1 The email …`).
fn status_in_text(text: &str) -> Option<&str> {
    text.split(|c: char| c.is_whitespace() || c == '-')
        .map(|word| word.trim_matches(|c: char| !c.is_ascii_digit()))
        .find_map(enhanced_status)
}

#[cfg(test)]
mod tests {
    use super::super::fields::field_groups;
    use super::*;

    fn entry(fields: &str) -> Option<RecipientStatus> {
        recipients(&field_groups(fields)).into_iter().next()
    }

    #[test]
    fn permanent_failures_are_hard_and_temporary_ones_soft() {
        let hard =
            entry("Final-Recipient: rfc822; a@x.example\nAction: failed\nStatus: 5.1.1").unwrap();
        assert_eq!(hard.class, Some(BounceClass::Hard));
        let gave_up =
            entry("Final-Recipient: rfc822; a@x.example\nAction: failed\nStatus: 4.4.7").unwrap();
        assert_eq!(gave_up.class, Some(BounceClass::Soft));
        let delayed =
            entry("Final-Recipient: rfc822; a@x.example\nAction: delayed\nStatus: 5.7.1").unwrap();
        assert_eq!(delayed.class, Some(BounceClass::Soft));
        let delivered = entry(
            "Final-Recipient: rfc822; a@x.example\nAction: Delivered (to mailbox)\nStatus: 2.0.0",
        )
        .unwrap();
        assert_eq!(delivered.action, DsnAction::Delivered);
        assert_eq!(delivered.class, None);
    }

    #[test]
    fn a_missing_action_or_status_is_taken_from_the_other() {
        let from_status = entry("Final-Recipient: rfc822; a@x.example\nStatus: 5.2.2").unwrap();
        assert_eq!(from_status.action, DsnAction::Failed);
        assert_eq!(from_status.class, Some(BounceClass::Hard));
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

    #[test]
    fn status_codes_are_checked() {
        for valid in ["5.1.1", "4.4.7", "2.0.0", "5.123.999"] {
            assert_eq!(enhanced_status(valid), Some(valid));
        }
        for invalid in [
            "", "5", "5.1", "3.1.1", "5.1.1.1", "5.1234.1", "5.a.1", "5..1", "550",
        ] {
            assert_eq!(enhanced_status(invalid), None, "{invalid}");
        }
        assert_eq!(status_in_text("550 5.7.1: relaying denied."), Some("5.7.1"));
        assert_eq!(status_in_text("(5.2.2) quota"), Some("5.2.2"));
        assert_eq!(status_in_text("550 no code here"), None);
    }
}
