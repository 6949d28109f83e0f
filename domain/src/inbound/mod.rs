//! Asynchronous bounces and complaints: the reports remote servers send back to the
//! envelope sender (Mailroom's VERP bounce address) hours or days after a message left.
//!
//! [`parse_report`] reads a raw RFC 5322 message into an [`InboundReport`]:
//! - a delivery status notification (RFC 3464) lists, per recipient, the action the
//!   server took and a status code, classified by the table in
//!   [`outcomes`](crate::outcomes) (hard bounce, soft bounce or blocked);
//! - a feedback report (RFC 5965, "ARF") is a recipient's spam complaint;
//! - anything else is [`InboundReport::Unrecognized`], with the reason, and is not an
//!   error: auto-replies and junk reach a bounce address every day.
//!
//! Both reports carry the headers of the message they are about, when quoted, and the
//! addresses they were sent to, which hold the message id
//! ([`message_id_from_verp`](crate::rendering::message_id_from_verp)).
//!
//! [`process_report`] acts on a parsed report for one account — through
//! [`outcomes::record`](crate::outcomes::record), as the sender does for the relay's
//! answers — and keeps it as a [`StoredReport`] (its findings, never the raw message).
//!
//! Reports arrive over HTTP (`POST /v1/inbound/messages`, with the account's token) or
//! over SMTP at the bounce address, whose account [`account_of_bounce_address`] finds.

mod bounce_address;
mod dsn;
mod feedback;
mod fields;
mod parse;
mod process;
mod report;
mod returned;
mod stored;

#[cfg(test)]
mod tests;

pub use bounce_address::account_of_bounce_address;
pub use dsn::{DeliveryStatusReport, DsnAction, RecipientStatus};
pub use feedback::FeedbackReport;
pub use parse::parse_report;
pub use process::process_report;
pub use report::{InboundReport, ReturnedHeaders, UnrecognizedReason};
pub use stored::{
    MatchedBy, RecipientSummary, ReportCounts, ReportFilter, ReportKind, ReportOutcome,
    ReportSummary, StoredReport,
};
