//! Contact email addresses, validated once at the edge so the rest of the
//! domain can rely on a canonical (trimmed, lower-cased, punycode) form.

use std::fmt;
use std::str::FromStr;

/// RFC 5321 limits (local part, domain, whole forward path).
const MAX_LOCAL_LEN: usize = 64;
const MAX_DOMAIN_LEN: usize = 253;
const MAX_ADDRESS_LEN: usize = 254;
const MAX_LABEL_LEN: usize = 63;

/// A syntactically valid email address in canonical form.
///
/// Both parts are lower-cased because Mailroom treats addresses as
/// case-insensitive; the domain is stored as ASCII (punycode) so that
/// equality and uniqueness checks do not depend on how the IDN was typed.
///
/// `Debug` masks the address, so `?email` in a log line never prints it whole.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EmailAddress(String);

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmailAddress({})", self.masked())
    }
}

/// Why an address was rejected. Messages are phrased to follow the field
/// name in an API error `detail` and never echo the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("is not a valid email address: it is empty")]
    Empty,
    #[error("is not a valid email address: it contains whitespace")]
    Whitespace,
    #[error("is not a valid email address: missing @")]
    MissingAt,
    #[error("is not a valid email address: it contains more than one @")]
    MultipleAt,
    #[error("is not a valid email address: the part before @ is empty")]
    EmptyLocalPart,
    #[error("is not a valid email address: the part before @ is longer than 64 characters")]
    LocalPartTooLong,
    #[error("is not a valid email address: the part before @ contains an invalid character")]
    InvalidLocalCharacter,
    #[error(
        "is not a valid email address: the part before @ must not start or end with a dot or contain two dots in a row"
    )]
    InvalidDot,
    #[error("is not a valid email address: the domain is empty")]
    EmptyDomain,
    #[error("is not a valid email address: the domain is invalid")]
    InvalidDomain,
    #[error("is not a valid email address: the domain has no top-level domain")]
    MissingTld,
    #[error("is not a valid email address: the domain is longer than 253 characters")]
    DomainTooLong,
    #[error("is not a valid email address: it is longer than 254 characters")]
    TooLong,
}

impl EmailAddress {
    /// Validates and canonicalises `input`: dot-atom local part (RFC 5322,
    /// plus non-ASCII letters per RFC 6531), hostname-style domain, RFC 5321
    /// length limits. Quoted local parts, comments and IP literals are
    /// rejected: legitimate bulk-mail recipients do not use them.
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(EmailError::Empty);
        }
        if input.chars().any(char::is_whitespace) {
            return Err(EmailError::Whitespace);
        }
        let (local, domain) = input.rsplit_once('@').ok_or(EmailError::MissingAt)?;
        if local.contains('@') {
            return Err(EmailError::MultipleAt);
        }

        // Lower-case before validating so the checks (and lengths) apply to
        // exactly what is stored, which keeps `parse` idempotent even for
        // Unicode whose lower-case form differs in length.
        let local = local.to_lowercase();
        validate_local(&local)?;
        let domain = normalize_domain(domain)?;

        let len = local.chars().count() + 1 + domain.len();
        if len > MAX_ADDRESS_LEN {
            return Err(EmailError::TooLong);
        }
        Ok(Self(format!("{local}@{domain}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The ASCII (punycode) domain, e.g. for per-domain throttling.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, domain)| domain)
    }

    pub fn into_inner(self) -> String {
        self.0
    }

    /// A log-safe rendering such as `j***@example.com`: enough to correlate
    /// log lines without writing the address itself.
    pub fn masked(&self) -> String {
        let first = self.0.chars().next().unwrap_or('*');
        format!("{first}***@{}", self.domain())
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for EmailAddress {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for EmailAddress {
    type Err = EmailError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Masks a possibly invalid address for logging without ever panicking.
///
/// Valid input is masked like [`EmailAddress::masked`]. Otherwise only the
/// first character and a plain-looking domain survive, so arbitrary input
/// can neither leak nor inject control characters into log lines.
pub fn mask_email(raw: &str) -> String {
    if let Ok(email) = EmailAddress::parse(raw) {
        return email.masked();
    }
    let Some((local, domain)) = raw.trim().rsplit_once('@') else {
        return "***".to_owned();
    };
    let first = local
        .chars()
        .next()
        .filter(|c| c.is_alphanumeric())
        .unwrap_or('*');
    let domain_is_plain = !domain.is_empty()
        && domain.len() <= MAX_DOMAIN_LEN
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    let domain = if domain_is_plain { domain } else { "***" };
    format!("{first}***@{domain}")
}

/// RFC 5322 dot-atom, extended with non-ASCII letters per RFC 6531.
fn validate_local(local: &str) -> Result<(), EmailError> {
    if local.is_empty() {
        return Err(EmailError::EmptyLocalPart);
    }
    if local.chars().count() > MAX_LOCAL_LEN {
        return Err(EmailError::LocalPartTooLong);
    }
    let atext = |c: char| {
        c.is_ascii_alphanumeric()
            || "!#$%&'*+/=?^_`{|}~-".contains(c)
            || (!c.is_ascii() && c.is_alphabetic())
    };
    if !local.chars().all(|c| c == '.' || atext(c)) {
        return Err(EmailError::InvalidLocalCharacter);
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(EmailError::InvalidDot);
    }
    Ok(())
}

/// Converts to ASCII via IDNA (which also lower-cases), then applies
/// hostname rules; IP literals fail because of the brackets or the
/// all-numeric TLD.
fn normalize_domain(domain: &str) -> Result<String, EmailError> {
    if domain.is_empty() {
        return Err(EmailError::EmptyDomain);
    }
    let ascii = idna::domain_to_ascii(domain).map_err(|_| EmailError::InvalidDomain)?;
    if ascii.len() > MAX_DOMAIN_LEN {
        return Err(EmailError::DomainTooLong);
    }
    let labels: Vec<&str> = ascii.split('.').collect();
    let valid_label = |label: &str| {
        (1..=MAX_LABEL_LEN).contains(&label.len())
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    if !labels.iter().all(|label| valid_label(label)) {
        return Err(EmailError::InvalidDomain);
    }
    match labels.last() {
        Some(tld) if labels.len() >= 2 && !tld.bytes().all(|b| b.is_ascii_digit()) => Ok(ascii),
        _ => Err(EmailError::MissingTld),
    }
}

/// Masks every address-like word in free text (an SMTP reply quoting the recipient, say)
/// so that the text can be logged: `<bob@x.example>: rejected` → `<b***@x.example>: rejected`.
pub fn mask_emails_in(text: &str) -> String {
    let is_word = |c: char| !(c.is_whitespace() || "<>()[]\",;:'".contains(c));
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('@') {
        let start = rest[..at]
            .rfind(|c: char| !is_word(c))
            .map(|i| i + rest[i..].chars().next().map_or(1, char::len_utf8))
            .unwrap_or(0);
        out.push_str(&rest[..start]);
        let local = &rest[start..at];
        match local.chars().next() {
            Some(first) => {
                out.push(first);
                out.push_str("***@");
            }
            None => out.push('@'),
        }
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn addresses_in_free_text_are_masked() {
        assert_eq!(
            mask_emails_in("550 5.1.1 <bob.smith@x.example>: Recipient address rejected"),
            "550 5.1.1 <b***@x.example>: Recipient address rejected"
        );
        assert_eq!(mask_emails_in("no address here"), "no address here");
        assert_eq!(mask_emails_in("a@b.c and éva@d.e"), "a***@b.c and é***@d.e");
        assert_eq!(mask_emails_in("@ alone"), "@ alone");
    }

    #[test]
    fn debug_output_masks_the_address() {
        let email = EmailAddress::parse("jane.doe@example.com").unwrap();
        let shown = format!("{email:?}");
        assert!(!shown.contains("jane.doe"), "{shown}");
        assert!(shown.contains("j***@example.com"), "{shown}");
    }

    fn parsed(input: &str) -> Result<String, EmailError> {
        EmailAddress::parse(input).map(EmailAddress::into_inner)
    }

    #[test]
    fn accepts_and_canonicalises() {
        let ok = |input: &str, expected: &str| {
            assert_eq!(parsed(input).as_deref(), Ok(expected), "{input}")
        };
        ok("jane@example.com", "jane@example.com");
        ok("  Jane.Doe@Example.COM \n", "jane.doe@example.com");
        ok("jane+newsletter@example.com", "jane+newsletter@example.com");
        ok(
            "o'neil_{x}~!#$%&*/=?^`|-@mail.example.co.uk",
            "o'neil_{x}~!#$%&*/=?^`|-@mail.example.co.uk",
        );
        ok("user@bücher.example", "user@xn--bcher-kva.example");
        ok("user@XN--BCHER-KVA.example", "user@xn--bcher-kva.example");
        ok("Jürgen@example.de", "jürgen@example.de");
        ok(
            "δοκιμή@παράδειγμα.δοκιμή",
            "δοκιμή@xn--hxajbheg2az3al.xn--jxalpdlp",
        );
        ok(
            &format!("{}@example.com", "a".repeat(64)),
            &format!("{}@example.com", "a".repeat(64)),
        );
    }

    #[test]
    fn rejects_invalid() {
        let err =
            |input: &str, expected: EmailError| assert_eq!(parsed(input), Err(expected), "{input}");
        err("", EmailError::Empty);
        err("   ", EmailError::Empty);
        err("jane.example.com", EmailError::MissingAt);
        err("jane doe@example.com", EmailError::Whitespace);
        err("jane@exa mple.com", EmailError::Whitespace);
        err("jane@doe@example.com", EmailError::MultipleAt);
        err("\"jane@doe\"@example.com", EmailError::MultipleAt);
        err("@example.com", EmailError::EmptyLocalPart);
        err("jane@", EmailError::EmptyDomain);
        err("jane..doe@example.com", EmailError::InvalidDot);
        err(".jane@example.com", EmailError::InvalidDot);
        err("jane.@example.com", EmailError::InvalidDot);
        err("\"jane\"@example.com", EmailError::InvalidLocalCharacter);
        err(
            "jane(comment)@example.com",
            EmailError::InvalidLocalCharacter,
        );
        err("jane@localhost", EmailError::MissingTld);
        err("jane@10.0.0.1", EmailError::MissingTld);
        err("jane@[10.0.0.1]", EmailError::InvalidDomain);
        err("jane@example..com", EmailError::InvalidDomain);
        err("jane@-example.com", EmailError::InvalidDomain);
        err("jane@exa_mple.com", EmailError::InvalidDomain);
        err(
            &format!("{}@example.com", "a".repeat(65)),
            EmailError::LocalPartTooLong,
        );
        err(
            &format!("jane@{}.com", "a".repeat(64)),
            EmailError::InvalidDomain,
        );
        let long_domain = [
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61),
        ]
        .join(".");
        err(
            &format!("jane@{long_domain}.com"),
            EmailError::DomainTooLong,
        );
        let domain_250 = [
            "a".repeat(62),
            "b".repeat(62),
            "c".repeat(62),
            "d".repeat(61),
        ]
        .join(".");
        assert_eq!(domain_250.len(), 250);
        assert!(parsed(&format!("abc@{domain_250}")).is_ok());
        err(&format!("abcd@{domain_250}"), EmailError::TooLong);
    }

    #[test]
    fn accessors_and_masking() {
        let email = EmailAddress::parse("Jane@Bücher.example");
        assert_eq!(
            email.as_ref().map(EmailAddress::domain),
            Ok("xn--bcher-kva.example")
        );
        assert_eq!(
            email.as_ref().map(EmailAddress::masked).as_deref(),
            Ok("j***@xn--bcher-kva.example")
        );
        assert_eq!(
            email.as_ref().map(ToString::to_string).as_deref(),
            Ok("jane@xn--bcher-kva.example")
        );
        assert_eq!(mask_email(" John@Example.com"), "j***@example.com");
        assert_eq!(mask_email("not an email"), "***");
        assert_eq!(mask_email("x y@evil\ninjected"), "x***@***");
        assert_eq!(mask_email("@"), "****@***");
    }

    proptest! {
        #[test]
        fn parse_never_panics(input in any::<String>()) {
            let _ = EmailAddress::parse(&input);
            let _ = mask_email(&input);
        }

        #[test]
        fn parse_is_idempotent_and_canonical(
            input in r"\s?[A-Za-z0-9.+_'éÉİßΣǅ-]{1,12}@[A-Za-z0-9üÜ.-]{1,12}\.[A-Za-z]{2,4}\s?",
        ) {
            if let Ok(email) = EmailAddress::parse(&input) {
                prop_assert_eq!(EmailAddress::parse(email.as_str()), Ok(email.clone()));
                prop_assert!(!email.as_str().chars().any(|c| c.is_ascii_uppercase() || c.is_whitespace()));
            }
        }

        #[test]
        fn parse_is_idempotent_on_arbitrary_input(input in any::<String>()) {
            if let Ok(email) = EmailAddress::parse(&input) {
                prop_assert_eq!(EmailAddress::parse(email.as_str()), Ok(email.clone()));
                prop_assert!(!email.as_str().chars().any(|c| c.is_ascii_uppercase() || c.is_whitespace()));
            }
        }
    }
}
