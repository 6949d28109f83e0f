//! The headers Mailroom writes itself, and the rules for headers an account adds.
//!
//! A transactional send may carry custom headers. They must not break the message
//! (a CR/LF in a value would let a request inject headers or a body), must not
//! replace a header Mailroom is responsible for (the addresses, the unsubscribe
//! headers that promise 1 requires, the ids bounces are matched on), must not forge
//! what only the servers on the way write (trace fields, authentication results,
//! signatures, resent blocks), and must not ask for read receipts: a receipt tells the
//! sender the message was opened, which promise 2 allows only with tracking consent.

use serde::{Deserialize, Serialize};

/// RFC 5322's line limit; lettre also refuses longer header names than 76 bytes.
const MAX_VALUE_CHARS: usize = 998;
const MAX_NAME_LEN: usize = 76;

/// Headers an account may not set, compared case-insensitively.
const OWNED: [&str; 15] = [
    "from",
    "to",
    "cc",
    "bcc",
    "subject",
    "message-id",
    "date",
    "mime-version",
    "return-path",
    // Set from the send's own `reply_to`, never twice.
    "reply-to",
    "sender",
    // A signature over headers Mailroom writes can only come from Mailroom (or the relay).
    "dkim-signature",
    "received",
    "precedence",
    // Where bounces go is the VERP return path's business (RFC 2076: obsolete, still read).
    "errors-to",
];
/// Prefixes of header families an account may not set.
const OWNED_PREFIXES: [&str; 3] = ["content-", "list-", "x-mailroom-"];

/// Fields only the servers a message passes through write (RFC 5321 §4.4 trace fields,
/// RFC 8601 authentication results, ARC sets, signatures, RFC 5322 §3.6.6 resent blocks):
/// a sender who sets them forges the message's history or its verdicts.
const FORGED: [&str; 9] = [
    "authentication-results",
    "received-spf",
    "domainkey-signature",
    "delivered-to",
    "x-original-to",
    "envelope-to",
    "apparently-to",
    "original-recipient",
    "x-received",
];
const FORGED_PREFIXES: [&str; 2] = ["resent-", "arc-"];

/// Fields that ask the recipient's software to report the message read (RFC 8098 and
/// its predecessors): tracking by another name.
const RECEIPTS: [&str; 5] = [
    "disposition-notification-to",
    "disposition-notification-options",
    "return-receipt-to",
    "x-confirm-reading-to",
    "generate-delivery-report",
];

/// Where a recipient can unsubscribe in one click (RFC 8058) and, optionally, by mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListUnsubscribe {
    /// The one-click endpoint; RFC 8058 requires HTTPS and a POST there to unsubscribe.
    pub https_url: String,
    pub mailto: Option<String>,
}

impl ListUnsubscribe {
    /// The `List-Unsubscribe` value: `<https…>` then, when configured, `<mailto:…>`.
    pub(crate) fn header_value(&self) -> String {
        match &self.mailto {
            Some(mailto) => {
                let mailto = mailto.strip_prefix("mailto:").unwrap_or(mailto);
                format!("<{}>, <mailto:{mailto}>", self.https_url)
            }
            None => format!("<{}>", self.https_url),
        }
    }

    /// Both URLs end up inside `<…>` in a header: a bracket or line break would end it.
    pub(crate) fn validate(&self) -> Result<(), String> {
        for url in std::iter::once(&self.https_url).chain(self.mailto.as_ref()) {
            if url.is_empty()
                || url
                    .chars()
                    .any(|c| c.is_control() || c.is_whitespace() || c == '<' || c == '>')
            {
                return Err("List-Unsubscribe URLs must be non-empty and contain no spaces, controls or angle brackets".into());
            }
        }
        Ok(())
    }
}

/// Checks a custom header an account asked for. The error says what is wrong in a
/// sentence an API client can show.
pub fn validate_custom_header(name: &str, value: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("header name is empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "header name is longer than {MAX_NAME_LEN} characters"
        ));
    }
    // RFC 5322 §2.2: printable US-ASCII except the colon.
    if !name.bytes().all(|b| (33..=126).contains(&b) && b != b':') {
        return Err(format!(
            "header name '{}' may only contain printable ASCII characters other than ':'",
            name.escape_default()
        ));
    }
    let lower = name.to_ascii_lowercase();
    let is = |names: &[&str], prefixes: &[&str]| {
        names.contains(&lower.as_str()) || prefixes.iter().any(|p| lower.starts_with(p))
    };
    if is(&OWNED, &OWNED_PREFIXES) {
        return Err(format!(
            "header '{name}' is set by Mailroom and cannot be overridden"
        ));
    }
    if is(&FORGED, &FORGED_PREFIXES) {
        return Err(format!(
            "header '{name}' is written by the mail servers a message passes through, never by its sender"
        ));
    }
    if is(&RECEIPTS, &[]) {
        return Err(format!(
            "header '{name}' asks for a read receipt, which would track the recipient without their consent"
        ));
    }
    if value.contains(['\r', '\n']) {
        return Err(format!("header '{name}' must not contain line breaks"));
    }
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(format!(
            "header '{name}' must not contain control characters"
        ));
    }
    if value.chars().count() > MAX_VALUE_CHARS {
        return Err(format!(
            "header '{name}' is longer than {MAX_VALUE_CHARS} characters"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_custom_headers_are_accepted() {
        assert_eq!(validate_custom_header("X-Order-Id", "A-17 ünïcode"), Ok(()));
        assert_eq!(
            validate_custom_header("In-Reply-To", "<a@b.example>"),
            Ok(())
        );
    }

    #[test]
    fn header_injection_and_bad_names_are_refused() {
        assert!(validate_custom_header("X-Order", "1\r\nBcc: victim@example.com").is_err());
        assert!(validate_custom_header("X-Order", "1\nBcc: x").is_err());
        assert!(validate_custom_header("X-Order", "a\0b").is_err());
        assert!(validate_custom_header("X Order", "1").is_err());
        assert!(validate_custom_header("X-Order:", "1").is_err());
        assert!(validate_custom_header("", "1").is_err());
        assert!(validate_custom_header("X-Ördér", "1").is_err());
        assert!(validate_custom_header("X-Long", &"a".repeat(999)).is_err());
    }

    #[test]
    fn headers_mailroom_owns_are_refused_in_any_case() {
        for name in [
            "From",
            "to",
            "CC",
            "Bcc",
            "Subject",
            "Message-ID",
            "Date",
            "MIME-Version",
            "Content-Type",
            "content-transfer-encoding",
            "Return-Path",
            "List-Unsubscribe",
            "List-Unsubscribe-Post",
            "X-Mailroom-Message-Id",
            "x-mailroom-anything",
            "Reply-To",
            "Errors-To",
            "DKIM-Signature",
            "Received",
        ] {
            assert!(
                validate_custom_header(name, "x").is_err(),
                "{name} should be refused"
            );
        }
    }

    #[test]
    fn trace_authentication_and_resent_fields_are_refused() {
        for name in [
            "Resent-From",
            "resent-to",
            "Resent-Message-ID",
            "Authentication-Results",
            "ARC-Seal",
            "arc-authentication-results",
            "ARC-Message-Signature",
            "Received-SPF",
            "DomainKey-Signature",
            "Delivered-To",
            "X-Original-To",
        ] {
            let err = validate_custom_header(name, "x").unwrap_err();
            assert!(err.contains("mail servers"), "{name}: {err}");
        }
    }

    #[test]
    fn read_receipt_requests_are_refused() {
        for name in [
            "Disposition-Notification-To",
            "disposition-notification-options",
            "Return-Receipt-To",
            "X-Confirm-Reading-To",
        ] {
            let err = validate_custom_header(name, "ada@example.com").unwrap_err();
            assert!(err.contains("read receipt"), "{name}: {err}");
        }
        // Names that merely start alike are ordinary headers.
        assert_eq!(validate_custom_header("X-Resent-Count", "2"), Ok(()));
        assert_eq!(validate_custom_header("Archive", "yes"), Ok(()));
    }

    #[test]
    fn list_unsubscribe_value_lists_https_then_mailto() {
        let both = ListUnsubscribe {
            https_url: "https://m.example/u/t".into(),
            mailto: Some("mailto:unsub+t@m.example".into()),
        };
        assert_eq!(
            both.header_value(),
            "<https://m.example/u/t>, <mailto:unsub+t@m.example>"
        );
        assert!(both.validate().is_ok());
        let bad = ListUnsubscribe {
            https_url: "https://m.example/u>\r\nX: y".into(),
            mailto: None,
        };
        assert!(bad.validate().is_err());
    }
}
