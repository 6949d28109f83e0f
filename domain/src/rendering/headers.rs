//! The headers Mailroom writes itself, and the rules for headers an account adds.
//!
//! A transactional send may carry custom headers. They must not break the message
//! (a CR/LF in a value would let a request inject headers or a body) and must not
//! replace a header Mailroom is responsible for: the addresses, the unsubscribe
//! headers that promise 1 requires, the ids bounces are matched on.

use serde::{Deserialize, Serialize};

/// RFC 5322's line limit; lettre also refuses longer header names than 76 bytes.
const MAX_VALUE_CHARS: usize = 998;
const MAX_NAME_LEN: usize = 76;

/// Headers an account may not set, compared case-insensitively.
const OWNED: [&str; 14] = [
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
];
/// Prefixes of header families an account may not set.
const OWNED_PREFIXES: [&str; 3] = ["content-", "list-", "x-mailroom-"];

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
    if OWNED.contains(&lower.as_str())
        || OWNED_PREFIXES
            .iter()
            .any(|prefix| lower.starts_with(prefix))
    {
        return Err(format!(
            "header '{name}' is set by Mailroom and cannot be overridden"
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
        ] {
            assert!(
                validate_custom_header(name, "x").is_err(),
                "{name} should be refused"
            );
        }
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
