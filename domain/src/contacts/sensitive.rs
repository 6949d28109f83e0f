//! Guard against storing payment card numbers and US Social Security
//! numbers in contact data: Mailroom must not become a PCI/PII store by
//! accident. Detection is heuristic, tuned to catch the common shapes while
//! keeping false positives (phone numbers, dates, order numbers) rare.
//!
//! Nothing here logs or returns the inspected value.

/// Card numbers are 13–19 digits (ISO/IEC 7812).
const CARD_DIGITS: std::ops::RangeInclusive<usize> = 13..=19;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SensitiveKind {
    PaymentCard,
    NationalId,
}

impl SensitiveKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::PaymentCard => "payment_card",
            Self::NationalId => "national_id",
        }
    }
}

/// Returns what kind of sensitive data `value` appears to contain, if any.
pub fn detect(value: &str) -> Option<SensitiveKind> {
    // Scanning bytes is safe for UTF-8: ASCII digits, spaces and dashes never
    // occur inside multi-byte sequences.
    let bytes = value.as_bytes();
    if is_formatted_card(bytes) || contains_card_run(bytes) {
        Some(SensitiveKind::PaymentCard)
    } else if contains_ssn(bytes) || is_bare_ssn(value.trim().as_bytes()) {
        Some(SensitiveKind::NationalId)
    } else {
        None
    }
}

/// [`detect`] over a JSON value: strings, numbers (a card number may arrive
/// as a JSON number) and, recursively, array elements and object values.
pub fn detect_json(value: &serde_json::Value) -> Option<SensitiveKind> {
    use serde_json::Value;
    match value {
        Value::String(s) => detect(s),
        Value::Number(n) => detect(&n.to_string()),
        Value::Array(items) => items.iter().find_map(detect_json),
        Value::Object(map) => map.values().find_map(detect_json),
        Value::Null | Value::Bool(_) => None,
    }
}

/// The whole value is a card number with any spacing/dashing, e.g.
/// `4111--1111 1111 1111`.
fn is_formatted_card(bytes: &[u8]) -> bool {
    let only_card_chars = bytes
        .iter()
        .all(|&b| b.is_ascii_digit() || b == b' ' || b == b'-');
    let digits: Vec<u8> = bytes.iter().copied().filter(u8::is_ascii_digit).collect();
    only_card_chars && CARD_DIGITS.contains(&digits.len()) && luhn_valid(&digits)
}

/// Free text containing a card number whose digit groups are separated by
/// single spaces or dashes. Groups are combined but never split, so a long
/// unbroken number (a tracking or account id) cannot yield a false match
/// from some 16-digit slice of it.
fn contains_card_run(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let mut groups: Vec<&[u8]> = Vec::new();
        loop {
            let start = i;
            while bytes.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            groups.push(&bytes[start..i]);
            let single_separator = matches!(bytes.get(i), Some(b' ' | b'-'))
                && bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
            if !single_separator {
                break;
            }
            i += 1;
        }
        if groups_contain_card(&groups) {
            return true;
        }
    }
    false
}

/// Tries every run of consecutive groups holding 13–19 digits; stops
/// extending a run once it is too long, so scanning stays linear.
fn groups_contain_card(groups: &[&[u8]]) -> bool {
    for start in 0..groups.len() {
        let mut digits: Vec<u8> = Vec::with_capacity(*CARD_DIGITS.end());
        for group in &groups[start..] {
            digits.extend_from_slice(group);
            if digits.len() > *CARD_DIGITS.end() {
                break;
            }
            if CARD_DIGITS.contains(&digits.len()) && luhn_valid(&digits) {
                return true;
            }
        }
    }
    false
}

/// Luhn checksum over ASCII digits.
fn luhn_valid(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                if d > 4 { d * 2 - 9 } else { d * 2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// `AAA-GG-SSSS` or `AAA GG SSSS` not embedded in a longer run of digit
/// groups (so it is not a slice of a phone or card number).
fn contains_ssn(bytes: &[u8]) -> bool {
    const SHAPE: &[u8; 11] = b"ddd-dd-dddd";
    bytes
        .windows(SHAPE.len())
        .enumerate()
        .any(|(start, window)| {
            let sep = window[3];
            let shaped = (sep == b'-' || sep == b' ')
                && window.iter().zip(SHAPE).all(|(&b, &s)| {
                    if s == b'd' {
                        b.is_ascii_digit()
                    } else {
                        b == sep
                    }
                });
            let before = start.checked_sub(1).and_then(|j| bytes.get(j));
            let before2 = start.checked_sub(2).and_then(|j| bytes.get(j));
            let after = bytes.get(start + SHAPE.len());
            let after2 = bytes.get(start + SHAPE.len() + 1);
            let continues = |next: Option<&u8>, beyond: Option<&u8>| {
                next.is_some_and(u8::is_ascii_digit)
                    || (next == Some(&sep) && beyond.is_some_and(u8::is_ascii_digit))
            };
            shaped
                && !continues(before, before2)
                && !continues(after, after2)
                && ssn_valid(&window[0..3], &window[4..6], &window[7..11])
        })
}

/// A whole value of exactly nine digits that satisfies the SSN rules.
fn is_bare_ssn(bytes: &[u8]) -> bool {
    bytes.len() == 9
        && bytes.iter().all(u8::is_ascii_digit)
        && ssn_valid(&bytes[0..3], &bytes[3..5], &bytes[5..9])
}

/// SSA rules: numbers that are never issued cannot be SSNs, which filters
/// out many ordinary nine-digit values.
fn ssn_valid(area: &[u8], group: &[u8], serial: &[u8]) -> bool {
    area != b"000" && area != b"666" && area[0] != b'9' && group != b"00" && serial != b"0000"
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    const CARD: Option<SensitiveKind> = Some(SensitiveKind::PaymentCard);
    const SSN: Option<SensitiveKind> = Some(SensitiveKind::NationalId);

    #[test]
    fn detects_test_card_numbers() {
        for value in [
            "4111111111111111",
            "5500 0000 0000 0004",
            "3400-000000-00009",
            "6011000000000004",
            " 4111 1111  1111--1111 ",
            "my card is 4111 1111 1111 1111 thanks",
            "card:4111-1111-1111-1111, exp 12/30",
            "4111111111111111 2030",
        ] {
            assert_eq!(detect(value), CARD, "{value}");
        }
    }

    #[test]
    fn ignores_non_card_numbers() {
        for value in [
            "4111111111111112",
            "+1 415 555 0100",
            "1234567890123",
            "order 1234567890123 shipped",
            "tracking 94001111111111111111111",
            "",
            "hello",
        ] {
            assert_ne!(detect(value), CARD, "{value}");
        }
        assert_eq!(detect("tracking 94001111111111111111111"), None);
        // Long digit-group soup must be scanned quickly (no quadratic windows).
        assert_eq!(detect(&"1 ".repeat(200_000)), None);
    }

    #[test]
    fn detects_ssns_by_ssa_rules() {
        for value in [
            "078-05-1120",
            "078 05 1120",
            "SSN: 078-05-1120.",
            "078051120",
            " 078051120 ",
        ] {
            assert_eq!(detect(value), SSN, "{value}");
        }
        for value in [
            "000-12-3456",
            "666-12-3456",
            "900-12-3456",
            "078-00-1120",
            "078-05-0000",
            "2024-01-15",
            "078-05 1120",
            "1078-05-1120",
            "078-05-11201",
            "1-078-05-1120",
            "078-05-1120-7",
            "000123456",
            "07805112",
        ] {
            assert_eq!(detect(value), None, "{value}");
        }
    }

    #[test]
    fn detects_inside_json() {
        assert_eq!(detect_json(&json!(4111111111111111_u64)), CARD);
        assert_eq!(
            detect_json(&json!({"notes": ["ok", {"ssn": "078-05-1120"}]})),
            SSN
        );
        assert_eq!(
            detect_json(&json!({"n": 42, "b": true, "x": null, "d": "2024-01-15"})),
            None
        );
    }

    #[test]
    fn kind_names() {
        assert_eq!(SensitiveKind::PaymentCard.as_str(), "payment_card");
        assert_eq!(SensitiveKind::NationalId.as_str(), "national_id");
    }

    fn with_check_digit(mut digits: Vec<u8>) -> Vec<u8> {
        let check = (b'0'..=b'9').find(|&c| luhn_valid(&[digits.as_slice(), &[c]].concat()));
        digits.push(check.unwrap_or(b'0'));
        digits
    }

    proptest! {
        #[test]
        fn detects_any_luhn_valid_grouped_card(body in proptest::collection::vec(0u8..10, 15)) {
            let digits = with_check_digit(body.iter().map(|d| b'0' + d).collect());
            let groups: Vec<String> =
                digits.chunks(4).map(|g| g.iter().map(|&b| char::from(b)).collect()).collect();
            let formatted = groups.join(" ");
            prop_assert_eq!(detect(&formatted), CARD);
            prop_assert_eq!(detect(&format!("paid with {formatted} today")), CARD);
        }

        #[test]
        fn detect_never_panics(value in any::<String>()) {
            let _ = detect(&value);
        }

        #[test]
        fn detect_never_panics_on_digit_soup(value in "[0-9 -]{0,40}") {
            let _ = detect(&value);
        }
    }
}
