//! What an inbound report is, once read: a delivery status notification, a complaint,
//! or something Mailroom does not act on (and why).

use super::dsn::DeliveryStatusReport;
use super::feedback::FeedbackReport;

/// A message received at the bounce address, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundReport {
    /// A bounce or delay notice (RFC 3464).
    Dsn(DeliveryStatusReport),
    /// A complaint (RFC 5965 ARF).
    Feedback(FeedbackReport),
    /// Anything else: an auto-reply, a report of another kind, a broken message.
    Unrecognized { reason: UnrecognizedReason },
}

impl InboundReport {
    /// Adds the address the report was delivered to (an SMTP envelope recipient) ahead of
    /// those its headers name: the envelope is the surest link to the message.
    pub fn delivered_to(&mut self, address: &str) {
        let report_to = match self {
            InboundReport::Dsn(dsn) => &mut dsn.report_to,
            InboundReport::Feedback(arf) => &mut arf.report_to,
            InboundReport::Unrecognized { .. } => return,
        };
        if !report_to.iter().any(|a| a.eq_ignore_ascii_case(address)) {
            report_to.insert(0, address.to_owned());
        }
    }
}

/// Why a message is not a report Mailroom acts on. Messages never echo more of the
/// input than a report type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnrecognizedReason {
    #[error("the message is empty or has no headers")]
    Unparseable,
    #[error("the message is not a multipart/report")]
    NotAReport,
    #[error("the report type {0:?} is neither delivery-status nor feedback-report")]
    UnsupportedReportType(String),
    #[error("the report has no {0} part")]
    MissingReportPart(&'static str),
    #[error("the delivery status notification names no recipient")]
    NoRecipients,
}

/// Headers of the message a report is about, read from the report's third part
/// (`message/rfc822` or `text/rfc822-headers`). Servers often leave that part out or cut
/// it short, so each is optional; the VERP address in the report's `report_to` is the
/// reliable link.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReturnedHeaders {
    /// `Message-ID`, without angle brackets.
    pub message_id: Option<String>,
    /// `X-Mailroom-Message-Id`, Mailroom's id of the message.
    pub mailroom_message_id: Option<String>,
    /// The first address of `To:`.
    pub to: Option<String>,
}
