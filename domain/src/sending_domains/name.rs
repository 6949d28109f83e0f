//! A domain name as an account gives it: Unicode or ASCII, any case, maybe with a trailing
//! dot. Stored as lower-case ASCII (IDNA), the form DNS and DKIM's `d=` use.

use crate::error::{Error, Result};

/// Longest name DNS carries (RFC 1035), less the room `<selector>._domainkey.` needs.
const MAX_LEN: usize = 200;

/// The domain in its stored form, or why it is not one (as an error on `field`).
pub fn parse_domain(field: &str, raw: &str) -> Result<String> {
    let invalid = |why: &str| Error::invalid(field, why.to_owned());
    let trimmed = raw.trim().trim_end_matches('.');
    if trimmed.is_empty() {
        return Err(invalid("must be a domain name, e.g. example.com"));
    }
    let ascii = idna::domain_to_ascii(trimmed)
        .map_err(|_| invalid("is not a valid domain name"))?
        .to_ascii_lowercase();
    if ascii.len() > MAX_LEN {
        return Err(invalid("is too long for a domain name"));
    }
    let labels: Vec<&str> = ascii.split('.').collect();
    if labels.len() < 2 {
        return Err(invalid(
            "must be a registered domain or a subdomain of one (e.g. example.com)",
        ));
    }
    for label in &labels {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            return Err(invalid("is not a valid domain name"));
        }
    }
    if labels
        .last()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(invalid("must be a domain name, not an IP address"));
    }
    Ok(ascii)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_stored_as_lower_case_ascii() {
        assert_eq!(
            parse_domain("domain", " News.Example.COM. ").unwrap(),
            "news.example.com"
        );
        assert_eq!(
            parse_domain("domain", "bücher.example").unwrap(),
            "xn--bcher-kva.example"
        );
    }

    #[test]
    fn what_is_not_a_sending_domain_is_refused() {
        for bad in [
            "",
            "localhost",
            "127.0.0.1",
            "exa mple.com",
            "-a.example.com",
            "a..example.com",
            "user@example.com",
            "example.com/path",
        ] {
            assert!(parse_domain("domain", bad).is_err(), "{bad}");
        }
    }
}
