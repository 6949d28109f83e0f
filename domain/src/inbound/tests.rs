//! What the bounce processor learns from the reports real servers send back.

use proptest::prelude::*;

use super::*;
use crate::Id;
use crate::outcomes::AnswerClass;
use crate::rendering::message_id_from_verp;

const POSTFIX_HARD_BOUNCE: &[u8] =
    include_bytes!("../../tests/fixtures/inbound/postfix_hard_bounce.eml");
const GMAIL_HARD_BOUNCE: &[u8] =
    include_bytes!("../../tests/fixtures/inbound/gmail_hard_bounce.eml");
const DELAYED: &[u8] = include_bytes!("../../tests/fixtures/inbound/delayed.eml");
const TWO_RECIPIENTS: &[u8] = include_bytes!("../../tests/fixtures/inbound/two_recipients.eml");
const ARF_ABUSE: &[u8] = include_bytes!("../../tests/fixtures/inbound/arf_abuse.eml");
const AUTO_REPLY: &[u8] = include_bytes!("../../tests/fixtures/inbound/auto_reply.eml");
const TRUNCATED_MULTIPART: &[u8] =
    include_bytes!("../../tests/fixtures/inbound/truncated_multipart.eml");
const NO_STATUS_PART: &[u8] = include_bytes!("../../tests/fixtures/inbound/no_status_part.eml");
const RANDOM_BYTES: &[u8] = include_bytes!("../../tests/fixtures/inbound/random_bytes.eml");
const EMPTY: &[u8] = include_bytes!("../../tests/fixtures/inbound/empty.eml");

const FIXTURES: [&[u8]; 10] = [
    POSTFIX_HARD_BOUNCE,
    GMAIL_HARD_BOUNCE,
    DELAYED,
    TWO_RECIPIENTS,
    ARF_ABUSE,
    AUTO_REPLY,
    TRUNCATED_MULTIPART,
    NO_STATUS_PART,
    RANDOM_BYTES,
    EMPTY,
];

fn dsn(raw: &[u8]) -> DeliveryStatusReport {
    match parse_report(raw) {
        InboundReport::Dsn(report) => report,
        other => panic!("expected a DSN, got {other:?}"),
    }
}

fn unrecognized(raw: &[u8]) -> UnrecognizedReason {
    match parse_report(raw) {
        InboundReport::Unrecognized { reason } => reason,
        other => panic!("expected an unrecognized message, got {other:?}"),
    }
}

fn with_crlf(raw: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(raw.to_vec()).unwrap();
    text.replace('\n', "\r\n").into_bytes()
}

#[test]
fn a_postfix_hard_bounce_names_the_recipient_and_the_reason() {
    let report = dsn(POSTFIX_HARD_BOUNCE);
    assert_eq!(
        report.reporting_mta.as_deref(),
        Some("mail.mailroom.example")
    );
    assert_eq!(
        report.recipients,
        vec![RecipientStatus {
            final_recipient: "x@example.net".into(),
            original_recipient: Some("X@Example.net".into()),
            action: DsnAction::Failed,
            status: "5.1.1".into(),
            class: Some(AnswerClass::HardBounce),
            diagnostic_code: Some(
                "smtp; 550 5.1.1 <x@example.net>: Recipient address rejected: User unknown".into()
            ),
            remote_mta: Some("mx1.example.net".into()),
        }]
    );
    assert_eq!(
        report.returned,
        ReturnedHeaders {
            message_id: Some("0190a3f4-c2b8-7d5e-9a1b-2c3d4e5f6a7b@mail.mailroom.example".into()),
            mailroom_message_id: Some("0190a3f4-c2b8-7d5e-9a1b-2c3d4e5f6a7b".into()),
            to: Some("x@example.net".into()),
        }
    );
    assert_eq!(
        report.report_to,
        vec!["bounces+0190a3f4c2b87d5e9a1b2c3d4e5f6a7b@bounces.mailroom.example"]
    );
}

#[test]
fn the_bounce_address_and_the_returned_headers_lead_to_the_same_message() {
    let report = dsn(POSTFIX_HARD_BOUNCE);
    let from_verp = message_id_from_verp(&report.report_to[0]).unwrap();
    let from_header: Id = report
        .returned
        .mailroom_message_id
        .unwrap()
        .parse::<uuid::Uuid>()
        .map(Id)
        .unwrap();
    assert_eq!(from_verp, from_header);
}

#[test]
fn line_endings_do_not_matter() {
    assert_eq!(
        parse_report(&with_crlf(POSTFIX_HARD_BOUNCE)),
        parse_report(POSTFIX_HARD_BOUNCE)
    );
    assert_eq!(parse_report(&with_crlf(ARF_ABUSE)), parse_report(ARF_ABUSE));
}

#[test]
fn a_gmail_bounce_is_read_past_its_human_readable_parts() {
    let report = dsn(GMAIL_HARD_BOUNCE);
    assert_eq!(report.reporting_mta.as_deref(), Some("googlemail.com"));
    let [recipient] = report.recipients.as_slice() else {
        panic!("{:?}", report.recipients);
    };
    assert_eq!(recipient.final_recipient, "nobody.here@gmail.com");
    assert_eq!(recipient.original_recipient, None);
    assert_eq!(recipient.action, DsnAction::Failed);
    assert_eq!(recipient.status, "5.1.1");
    assert_eq!(recipient.class, Some(AnswerClass::HardBounce));
    assert_eq!(
        recipient.remote_mta.as_deref(),
        Some("gmail-smtp-in.l.google.com.")
    );
    assert_eq!(
        recipient.diagnostic_code.as_deref(),
        Some(
            "smtp; 550-5.1.1 The email account that you tried to reach does not exist. \
             Please try 550-5.1.1 double-checking the recipient's email address for typos or \
             550-5.1.1 unnecessary spaces. For more information, go to 550 5.1.1  \
             https://support.google.com/mail/?p=NoSuchUser \
             a640c23a62f3a-a6f0e0c1b2asi1234567ejc.312 - gsmtp"
        )
    );
    assert_eq!(
        report.returned,
        ReturnedHeaders {
            message_id: Some("0190a3f5-d1e2-7a4c-8b9d-0e1f2a3b4c5d@mail.mailroom.example".into()),
            mailroom_message_id: Some("0190a3f5-d1e2-7a4c-8b9d-0e1f2a3b4c5d".into()),
            to: Some("nobody.here@gmail.com".into()),
        }
    );
    assert_eq!(
        report.report_to,
        vec!["bounces+0190a3f5d1e27a4c8b9d0e1f2a3b4c5d@bounces.mailroom.example"]
    );
}

#[test]
fn a_delay_warning_is_classified_by_its_status_with_headers_only() {
    let report = dsn(DELAYED);
    let [recipient] = report.recipients.as_slice() else {
        panic!("{:?}", report.recipients);
    };
    assert_eq!(recipient.final_recipient, "slow@example.org");
    assert_eq!(
        recipient.original_recipient.as_deref(),
        Some("slow@example.org")
    );
    assert_eq!(recipient.action, DsnAction::Delayed);
    assert_eq!(recipient.status, "4.4.1");
    // A network problem (x.4.x) on the way: the sending's trouble, not the mailbox's.
    assert_eq!(recipient.class, Some(AnswerClass::Blocked));
    assert_eq!(recipient.remote_mta, None);
    assert_eq!(
        recipient.diagnostic_code.as_deref(),
        Some("X-Postfix; connect to mx.example.org[198.51.100.7]:25: Connection timed out")
    );
    assert_eq!(
        report.returned,
        ReturnedHeaders {
            message_id: Some("0190a3f6-e3f4-7b5d-9cae-1f2a3b4c5d6e@mail.mailroom.example".into()),
            mailroom_message_id: Some("0190a3f6-e3f4-7b5d-9cae-1f2a3b4c5d6e".into()),
            to: Some("slow@example.org".into()),
        }
    );
    assert_eq!(
        report.report_to,
        vec!["bounces+0190a3f6e3f47b5d9cae1f2a3b4c5d6e@bounces.mailroom.example"]
    );
}

#[test]
fn each_recipient_of_a_report_is_classified_on_its_own() {
    let report = dsn(TWO_RECIPIENTS);
    assert_eq!(report.reporting_mta.as_deref(), Some("relay.example.com"));
    let [alice, bob] = report.recipients.as_slice() else {
        panic!("{:?}", report.recipients);
    };
    assert_eq!(alice.final_recipient, "alice@example.com");
    assert_eq!(alice.status, "5.2.1");
    assert_eq!(alice.action, DsnAction::Failed);
    // A disabled mailbox (x.2.x) is a soft bounce: suppressed only if it repeats.
    assert_eq!(alice.class, Some(AnswerClass::SoftBounce));
    assert_eq!(alice.remote_mta.as_deref(), Some("mx.example.com"));
    assert_eq!(
        alice.diagnostic_code.as_deref(),
        Some("smtp; 550 5.2.1 The email account that you tried to reach is disabled.")
    );
    assert_eq!(bob.final_recipient, "bob@example.com");
    assert_eq!(bob.status, "4.2.2");
    assert_eq!(bob.action, DsnAction::Failed);
    assert_eq!(bob.class, Some(AnswerClass::SoftBounce));
    assert_eq!(
        report.returned,
        ReturnedHeaders {
            message_id: Some("0190a3f7-f4a5-7c6e-8dbf-2a3b4c5d6e7f@mail.mailroom.example".into()),
            mailroom_message_id: Some("0190a3f7-f4a5-7c6e-8dbf-2a3b4c5d6e7f".into()),
            to: Some("alice@example.com".into()),
        }
    );
    // A display name around the bounce address does not hide it.
    assert_eq!(
        report.report_to,
        vec!["bounces+0190a3f7f4a57c6e8dbf2a3b4c5d6e7f@bounces.mailroom.example"]
    );
}

#[test]
fn an_abuse_complaint_is_a_feedback_report() {
    let InboundReport::Feedback(report) = parse_report(ARF_ABUSE) else {
        panic!("expected a feedback report");
    };
    assert_eq!(
        report,
        FeedbackReport {
            feedback_type: Some("abuse".into()),
            user_agent: Some("SomeGenerator/1.0".into()),
            original_mail_from: Some(
                "bounces+0190a3f8a5b67d7f9ec03b4c5d6e7f80@bounces.mailroom.example".into()
            ),
            original_rcpt_to: Some("reader@hotmail.example".into()),
            arrival_date: Some("Thu, 13 Jun 2024 14:00:00 +0000".into()),
            source_ip: Some("203.0.113.9".into()),
            reported_domain: Some("acme.example".into()),
            returned: ReturnedHeaders {
                message_id: Some(
                    "0190a3f8-a5b6-7d7f-9ec0-3b4c5d6e7f80@mail.mailroom.example".into()
                ),
                mailroom_message_id: Some("0190a3f8-a5b6-7d7f-9ec0-3b4c5d6e7f80".into()),
                to: Some("reader@hotmail.example".into()),
            },
            report_to: vec!["fbl@bounces.mailroom.example".into()],
        }
    );
    assert!(message_id_from_verp(&report.original_mail_from.unwrap()).is_some());
}

#[test]
fn messages_that_are_not_reports_are_unrecognized_with_a_reason() {
    assert_eq!(unrecognized(AUTO_REPLY), UnrecognizedReason::NotAReport);
    assert_eq!(unrecognized(EMPTY), UnrecognizedReason::Unparseable);
    assert!(matches!(
        unrecognized(RANDOM_BYTES),
        UnrecognizedReason::Unparseable | UnrecognizedReason::NotAReport
    ));
    assert_eq!(
        unrecognized(TRUNCATED_MULTIPART),
        UnrecognizedReason::NoRecipients
    );
    assert_eq!(
        unrecognized(NO_STATUS_PART),
        UnrecognizedReason::MissingReportPart("message/delivery-status")
    );
}

#[test]
fn other_report_types_are_named_but_not_read() {
    let raw = String::from_utf8(POSTFIX_HARD_BOUNCE.to_vec())
        .unwrap()
        .replace(
            "report-type=delivery-status",
            "report-type=disposition-notification",
        );
    assert_eq!(
        unrecognized(raw.as_bytes()),
        UnrecognizedReason::UnsupportedReportType("disposition-notification".into())
    );
    let long = String::from_utf8(POSTFIX_HARD_BOUNCE.to_vec())
        .unwrap()
        .replace(
            "report-type=delivery-status",
            &format!("report-type={}", "x".repeat(500)),
        );
    let UnrecognizedReason::UnsupportedReportType(kind) = unrecognized(long.as_bytes()) else {
        panic!("expected an unsupported report type");
    };
    assert!(kind.len() <= 40, "{kind}");
}

#[test]
fn a_report_without_a_report_type_is_known_by_its_parts() {
    let raw = String::from_utf8(POSTFIX_HARD_BOUNCE.to_vec())
        .unwrap()
        .replace("report-type=delivery-status;", "");
    assert_eq!(
        parse_report(raw.as_bytes()),
        parse_report(POSTFIX_HARD_BOUNCE)
    );
}

#[test]
fn no_prefix_of_any_fixture_makes_the_parser_panic() {
    for fixture in FIXTURES {
        for len in 0..=fixture.len() {
            let _ = parse_report(&fixture[..len]);
        }
    }
}

#[test]
fn corrupted_bytes_do_not_make_the_parser_panic() {
    // A deterministic walk of single-byte corruptions: boundaries, colons and line
    // breaks replaced by bytes that confuse a MIME parser.
    let noise = [0u8, b'\n', b'-', b':', b';', b'"', b'<', 0xff];
    for fixture in FIXTURES {
        for (i, at) in (0..fixture.len()).step_by(13).enumerate() {
            let mut corrupted = fixture.to_vec();
            corrupted[at] = noise[i % noise.len()];
            let _ = parse_report(&corrupted);
        }
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_are_at_worst_unrecognized(raw in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = parse_report(&raw);
    }

    #[test]
    fn arbitrary_report_bodies_do_not_make_the_parser_panic(
        status in "[ -~\n\t]{0,400}",
        returned in "[ -~\n\t]{0,200}",
    ) {
        let raw = format!(
            "To: bounces+x@b.example\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\n\n\
             --b\nContent-Type: message/delivery-status\n\n{status}\n\
             --b\nContent-Type: text/rfc822-headers\n\n{returned}\n--b--\n"
        );
        let _ = parse_report(raw.as_bytes());
    }
}
