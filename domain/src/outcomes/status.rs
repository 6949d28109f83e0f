//! Enhanced mail system status codes (RFC 3463): `class.subject.detail`, such as `5.1.1`.

use std::fmt;

/// A parsed enhanced status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnhancedStatus {
    /// 2 (success), 4 (persistent transient failure) or 5 (permanent failure).
    pub class: u8,
    /// What the code is about: 1 addressing, 2 mailbox, 3 mail system, 4 network and
    /// routing, 5 mail delivery protocol, 6 message content, 7 security or policy
    /// (0: other or undefined).
    pub subject: u16,
    pub detail: u16,
}

impl EnhancedStatus {
    /// `token` when it is an RFC 3463 code: class 2, 4 or 5, then two numbers of at most
    /// three digits.
    pub fn parse(token: &str) -> Option<Self> {
        let mut parts = token.split('.');
        let class = match parts.next()? {
            "2" => 2,
            "4" => 4,
            "5" => 5,
            _ => return None,
        };
        let mut number = || {
            parts
                .next()
                .filter(|n| (1..=3).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|n| n.parse::<u16>().ok())
        };
        let (subject, detail) = (number()?, number()?);
        if parts.next().is_some() {
            return None;
        }
        Some(EnhancedStatus {
            class,
            subject,
            detail,
        })
    }

    /// The first enhanced status code in a free-text reply (`550-5.1.1 The email …`,
    /// `smtp; 550 5.7.1 …`, `(5.2.2) quota`).
    pub fn find_in(text: &str) -> Option<Self> {
        text.split(|c: char| c.is_whitespace() || c == '-')
            .map(|word| word.trim_matches(|c: char| !c.is_ascii_digit()))
            .find_map(Self::parse)
    }

    /// A permanent failure (5.x.x); 4.x.x is transient.
    pub fn is_permanent(self) -> bool {
        self.class == 5
    }
}

impl fmt::Display for EnhancedStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_are_checked() {
        for valid in ["5.1.1", "4.4.7", "2.0.0", "5.123.999", "5.1.10"] {
            assert_eq!(
                EnhancedStatus::parse(valid)
                    .map(|s| s.to_string())
                    .as_deref(),
                Some(valid)
            );
        }
        for invalid in [
            "", "5", "5.1", "3.1.1", "5.1.1.1", "5.1234.1", "5.a.1", "5..1", "550",
        ] {
            assert_eq!(EnhancedStatus::parse(invalid), None, "{invalid}");
        }
        let found = |text| EnhancedStatus::find_in(text).map(|s| s.to_string());
        assert_eq!(
            found("550 5.7.1: relaying denied.").as_deref(),
            Some("5.7.1")
        );
        assert_eq!(found("(5.2.2) quota").as_deref(), Some("5.2.2"));
        assert_eq!(
            found("550-5.1.1 The email account").as_deref(),
            Some("5.1.1")
        );
        assert_eq!(found("550 no code here"), None);
    }
}
