//! What a consent record must look like before it is written.

use std::net::IpAddr;

use serde_json::{Map, Value};

use super::record::NewConsent;
use crate::error::{Error, FieldError, Result};

/// Purposes Mailroom itself acts on. Integrators may record others (any identifier).
pub mod purposes {
    /// Receiving marketing email (campaigns). Campaign audiences are filtered on it.
    pub const MARKETING_EMAIL: &str = "marketing_email";
    /// Open and click tracking: without it, no pixel and no rewritten links.
    pub const TRACKING: &str = "tracking";
    pub const WELL_KNOWN: &[&str] = &[MARKETING_EMAIL, TRACKING];
}

/// Ways consent is commonly obtained or withdrawn. Others are accepted (any identifier).
pub mod methods {
    /// Recorded by an integration through the API.
    pub const API: &str = "api";
    /// A sign-up or preference form.
    pub const FORM: &str = "form";
    /// Confirmed by clicking the link of a double opt-in email.
    pub const DOUBLE_OPT_IN: &str = "double_opt_in";
    /// Part of an imported list.
    pub const IMPORT: &str = "import";
    /// The unsubscribe link or RFC 8058 one-click unsubscribe of an email.
    pub const UNSUBSCRIBE_LINK: &str = "unsubscribe_link";
    pub const WELL_KNOWN: &[&str] = &[API, FORM, DOUBLE_OPT_IN, IMPORT, UNSUBSCRIBE_LINK];
}

pub const MAX_IDENTIFIER_LEN: usize = 64;
pub const MAX_SOURCE_LEN: usize = 500;
pub const MAX_USER_AGENT_LEN: usize = 1000;
pub const MAX_POLICY_VERSION_LEN: usize = 100;
pub const MAX_EVIDENCE_BYTES: usize = 16 * 1024;

/// A purpose or method name: 1–64 of lower-case ASCII letters, digits and `_`.
pub fn is_identifier(s: &str) -> bool {
    (1..=MAX_IDENTIFIER_LEN).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

pub(crate) fn check_identifier(field: &str, value: &str) -> Result<(), FieldError> {
    if is_identifier(value) {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            "must be 1 to 64 lower-case letters, digits or underscores (e.g. marketing_email)",
        ))
    }
}

/// Rewrites the field names of a validation error as members of `parent`
/// (`purpose` → `consent.purpose`), for a consent that arrives inside another request.
pub fn nested_fields(parent: &str, error: Error) -> Error {
    match error {
        Error::Invalid(errors) => Error::Invalid(
            errors
                .into_iter()
                .map(|e| FieldError::new(format!("{parent}.{}", e.field), e.message))
                .collect(),
        ),
        other => other,
    }
}

/// Trims optional text; blank counts as absent.
fn optional(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

impl NewConsent {
    /// Checks every field, reporting all that are wrong at once, and answers the record
    /// as it will be stored: text trimmed, blank optional text dropped, the IP address in
    /// its canonical form.
    pub fn validated(self) -> Result<NewConsent> {
        let mut errors = Vec::new();
        if let Err(e) = check_identifier("purpose", &self.purpose) {
            errors.push(e);
        }
        if let Err(e) = check_identifier("method", &self.method) {
            errors.push(e);
        }
        let source =
            crate::text::required("source", &self.source, MAX_SOURCE_LEN).unwrap_or_else(|e| {
                errors.push(e);
                String::new()
            });
        let ip = match optional(self.ip).map(|ip| ip.parse::<IpAddr>()) {
            None => None,
            Some(Ok(ip)) => Some(ip.to_string()),
            Some(Err(_)) => {
                errors.push(FieldError::new("ip", "must be an IPv4 or IPv6 address"));
                None
            }
        };
        let mut optional_text = |field: &str, value: Option<String>, max: usize| {
            crate::text::optional(field, value, max).unwrap_or_else(|e| {
                errors.push(e);
                None
            })
        };
        let user_agent = optional_text("user_agent", self.user_agent, MAX_USER_AGENT_LEN);
        let policy_version = optional_text(
            "policy_version",
            self.policy_version,
            MAX_POLICY_VERSION_LEN,
        );
        if let Some(evidence) = &self.evidence {
            check_evidence(evidence, &mut errors);
        }
        if !errors.is_empty() {
            return Err(Error::Invalid(errors));
        }
        // Evidence is personal data too: no card numbers or national identifiers in it.
        let screened = [
            ("source", Some(Value::String(source.clone()))),
            ("policy_version", policy_version.clone().map(Value::String)),
            ("evidence", self.evidence.clone().map(Value::Object)),
        ];
        for (field, value) in screened {
            if let Some(kind) = value
                .as_ref()
                .and_then(crate::contacts::sensitive::detect_json)
            {
                return Err(Error::SensitiveData {
                    field: field.into(),
                    kind,
                });
            }
        }
        Ok(NewConsent {
            source,
            ip,
            user_agent,
            policy_version,
            ..self
        })
    }
}

fn check_evidence(evidence: &Map<String, Value>, errors: &mut Vec<FieldError>) {
    let size = serde_json::to_vec(evidence).map_or(usize::MAX, |bytes| bytes.len());
    if size > MAX_EVIDENCE_BYTES {
        errors.push(FieldError::new(
            "evidence",
            format!("must be at most {MAX_EVIDENCE_BYTES} bytes as JSON"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::ConsentStatus;
    use serde_json::json;

    fn consent() -> NewConsent {
        NewConsent {
            list_id: None,
            purpose: purposes::MARKETING_EMAIL.into(),
            status: ConsentStatus::Granted,
            method: methods::FORM.into(),
            source: " https://example.com/signup ".into(),
            ip: None,
            user_agent: None,
            policy_version: None,
            evidence: None,
        }
    }

    fn invalid_fields(consent: NewConsent) -> Vec<String> {
        match consent.validated() {
            Err(Error::Invalid(errors)) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn purposes_and_methods_are_snake_case_identifiers() {
        for ok in [
            "marketing_email",
            "tracking",
            "a",
            "sms_2",
            "_",
            &"x".repeat(64),
        ] {
            assert!(is_identifier(ok), "{ok}");
        }
        for bad in [
            "",
            "Marketing",
            "marketing-email",
            "marketing email",
            "émail",
            "a.b",
            &"x".repeat(65),
        ] {
            assert!(!is_identifier(bad), "{bad}");
        }
        for known in purposes::WELL_KNOWN.iter().chain(methods::WELL_KNOWN) {
            assert!(is_identifier(known), "{known}");
        }
    }

    #[test]
    fn a_valid_consent_is_cleaned() {
        let clean = NewConsent {
            ip: Some(" 2001:DB8:0::1 ".into()),
            user_agent: Some("  ".into()),
            policy_version: Some(" v3 ".into()),
            ..consent()
        }
        .validated()
        .unwrap();
        assert_eq!(clean.source, "https://example.com/signup");
        assert_eq!(clean.ip.as_deref(), Some("2001:db8::1"));
        assert_eq!(clean.user_agent, None);
        assert_eq!(clean.policy_version.as_deref(), Some("v3"));
    }

    #[test]
    fn every_bad_field_is_named() {
        let fields = invalid_fields(NewConsent {
            purpose: "Marketing Email".into(),
            method: "".into(),
            source: "   ".into(),
            ip: Some("300.1.1.1".into()),
            user_agent: Some("u".repeat(1001)),
            policy_version: Some("v".repeat(101)),
            evidence: Some(
                json!({"blob": "x".repeat(MAX_EVIDENCE_BYTES)})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
            ..consent()
        });
        assert_eq!(
            fields,
            [
                "purpose",
                "method",
                "source",
                "ip",
                "user_agent",
                "policy_version",
                "evidence"
            ]
        );
        assert_eq!(
            invalid_fields(NewConsent {
                source: "s".repeat(501),
                ..consent()
            }),
            ["source"]
        );
    }

    #[test]
    fn nested_consent_errors_name_the_parent() {
        let Err(e) = NewConsent {
            purpose: "BAD".into(),
            ..consent()
        }
        .validated() else {
            panic!("expected an error")
        };
        match nested_fields("consent", e) {
            Error::Invalid(errors) => assert_eq!(errors[0].field, "consent.purpose"),
            other => panic!("{other:?}"),
        }
    }
}
