//! Finding the report in a raw message and reading each of its parts.

use mail_parser::{MessageParser, MessagePart, MimeHeaders};

use super::dsn::{self, DeliveryStatusReport};
use super::feedback::FeedbackReport;
use super::fields::field_groups;
use super::report::{InboundReport, ReturnedHeaders, UnrecognizedReason};
use super::returned::{returned_headers, to_addresses};

/// A report type is a short token; anything longer is cut before it reaches a log line.
const MAX_REPORT_TYPE_CHARS: usize = 40;

/// A media type and the subtypes that count as it.
type MediaType = (&'static str, &'static [&'static str]);

/// The machine-readable part of each supported report (RFC 6533 adds the `global` one).
const DELIVERY_STATUS: MediaType = ("message", &["delivery-status", "global-delivery-status"]);
const FEEDBACK_REPORT: MediaType = ("message", &["feedback-report"]);
/// The parts that quote the original message, whole or headers only.
const RETURNED: [MediaType; 2] = [
    (
        "message",
        &["rfc822", "global", "rfc822-headers", "global-headers"],
    ),
    ("text", &["rfc822-headers"]),
];

/// Reads a message received at the bounce address: a delivery status notification, a
/// complaint, or [`InboundReport::Unrecognized`] for anything else. Never fails and never
/// panics, whatever the bytes.
pub fn parse_report(raw: &[u8]) -> InboundReport {
    read_report(raw).unwrap_or_else(|reason| InboundReport::Unrecognized { reason })
}

#[derive(Debug, Clone, Copy)]
enum ReportKind {
    DeliveryStatus,
    Feedback,
}

fn read_report(raw: &[u8]) -> Result<InboundReport, UnrecognizedReason> {
    let message = MessageParser::default()
        .parse(raw)
        .filter(|message| !message.parts.is_empty())
        .ok_or(UnrecognizedReason::Unparseable)?;
    // Usually the whole message; a gateway may have wrapped it in multipart/mixed.
    let report = message
        .parts
        .iter()
        .find(|part| has_type(part, ("multipart", &["report"])))
        .ok_or(UnrecognizedReason::NotAReport)?;
    let parts: Vec<&MessagePart<'_>> = report
        .sub_parts()
        .unwrap_or_default()
        .iter()
        .filter_map(|&id| message.parts.get(usize::try_from(id).ok()?))
        .collect();
    let returned = RETURNED
        .iter()
        .find_map(|&kind| find_part(&parts, kind))
        .map(returned_headers)
        .unwrap_or_default();
    let report_to = to_addresses(&message);

    match report_kind(report, &parts)? {
        ReportKind::DeliveryStatus => {
            let part = find_part(&parts, DELIVERY_STATUS).ok_or(
                UnrecognizedReason::MissingReportPart("message/delivery-status"),
            )?;
            delivery_status(part, returned, report_to).map(InboundReport::Dsn)
        }
        ReportKind::Feedback => {
            let part = find_part(&parts, FEEDBACK_REPORT).ok_or(
                UnrecognizedReason::MissingReportPart("message/feedback-report"),
            )?;
            let groups = field_groups(&String::from_utf8_lossy(part.contents()));
            Ok(InboundReport::Feedback(FeedbackReport {
                returned,
                report_to,
                ..FeedbackReport::from_fields(&groups)
            }))
        }
    }
}

/// The `report-type` parameter decides; without one, the parts do.
fn report_kind(
    report: &MessagePart<'_>,
    parts: &[&MessagePart<'_>],
) -> Result<ReportKind, UnrecognizedReason> {
    let stated = report
        .content_type()
        .and_then(|content_type| content_type.attribute("report-type"))
        .map(str::trim);
    match stated {
        Some(kind) if kind.eq_ignore_ascii_case("delivery-status") => {
            Ok(ReportKind::DeliveryStatus)
        }
        Some(kind) if kind.eq_ignore_ascii_case("feedback-report") => Ok(ReportKind::Feedback),
        Some(other) => Err(UnrecognizedReason::UnsupportedReportType(
            other.chars().take(MAX_REPORT_TYPE_CHARS).collect(),
        )),
        None if find_part(parts, DELIVERY_STATUS).is_some() => Ok(ReportKind::DeliveryStatus),
        None if find_part(parts, FEEDBACK_REPORT).is_some() => Ok(ReportKind::Feedback),
        None => Err(UnrecognizedReason::MissingReportPart(
            "message/delivery-status or message/feedback-report",
        )),
    }
}

fn delivery_status(
    part: &MessagePart<'_>,
    returned: ReturnedHeaders,
    report_to: Vec<String>,
) -> Result<DeliveryStatusReport, UnrecognizedReason> {
    let groups = field_groups(&String::from_utf8_lossy(part.contents()));
    let recipients = dsn::recipients(&groups);
    if recipients.is_empty() {
        return Err(UnrecognizedReason::NoRecipients);
    }
    Ok(DeliveryStatusReport {
        reporting_mta: dsn::reporting_mta(&groups),
        recipients,
        returned,
        report_to,
    })
}

/// The first of `parts` of type `kind`.
fn find_part<'m, 'x>(
    parts: &[&'m MessagePart<'x>],
    kind: MediaType,
) -> Option<&'m MessagePart<'x>> {
    parts.iter().copied().find(|part| has_type(part, kind))
}

/// Whether `part` is `ctype/<one of subtypes>`, in any case.
fn has_type(part: &MessagePart<'_>, (ctype, subtypes): MediaType) -> bool {
    part.content_type().is_some_and(|content_type| {
        content_type.ctype().eq_ignore_ascii_case(ctype)
            && content_type
                .subtype()
                .is_some_and(|subtype| subtypes.iter().any(|s| subtype.eq_ignore_ascii_case(s)))
    })
}
