//! Guard against storing payment card numbers and US Social Security
//! numbers in contact data: Mailroom must not become a PCI/PII store by
//! accident. Detection is heuristic, tuned to catch the common shapes while
//! keeping false positives (phone numbers, dates, order numbers) rare.
//!
//! Values are normalised before they are scanned, so that the shape a number is written in
//! does not hide it: NFKC folds full-width and other compatibility digits and punctuation
//! to ASCII (`４１１１` is `4111`), and every separator a card number is written with —
//! any whitespace, dashes, dots, slashes, underscores, bullets — counts as one space.
//!
//! Nothing here logs or returns the inspected value.

use std::borrow::Cow;

use icu_normalizer::ComposingNormalizerBorrowed;

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
    let folded = nfkc(value);
    let card_text = card_separators_as_spaces(&folded);
    let bytes = card_text.as_bytes();
    if is_formatted_card(bytes) || contains_card_run(bytes) {
        return Some(SensitiveKind::PaymentCard);
    }
    // SSNs keep their own separators: only `-` or a space, the same one twice.
    let bytes = folded.as_bytes();
    if contains_ssn(bytes) || is_bare_ssn(folded.trim().as_bytes()) {
        Some(SensitiveKind::NationalId)
    } else {
        None
    }
}

/// Unicode compatibility folding: full-width digits, non-breaking and other spaces,
/// full-width dashes and dots become their ASCII selves. ASCII is its own NFKC.
fn nfkc(value: &str) -> Cow<'_, str> {
    if value.is_ascii() {
        Cow::Borrowed(value)
    } else {
        ComposingNormalizerBorrowed::new_nfkc().normalize(value)
    }
}

/// Whether `c` is something a card number's digit groups are separated by. A dot is one
/// only where the value has more than one (a single dot is a decimal point).
fn is_card_separator(c: char, dots_separate: bool) -> bool {
    match c {
        '.' => dots_separate,
        '-' | '/' | '\\' | '_' | '\u{00B7}' | '\u{2022}' | '\u{2027}' | '\u{2219}' | '\u{2212}' => {
            true
        }
        // Hyphens and dashes (U+2010–U+2015).
        '\u{2010}'..='\u{2015}' => true,
        c => c.is_whitespace(),
    }
}

/// The value with every run of card separators turned into one space.
fn card_separators_as_spaces(value: &str) -> String {
    let dots_separate = value.bytes().filter(|&b| b == b'.').count() > 1;
    let mut out = String::with_capacity(value.len());
    let mut in_separator = false;
    for c in value.chars() {
        if is_card_separator(c, dots_separate) {
            if !in_separator {
                out.push(' ');
            }
            in_separator = true;
        } else {
            out.push(c);
            in_separator = false;
        }
    }
    out
}

/// [`detect`] over a JSON value: strings, numbers (a card number may arrive
/// as a JSON number) and, recursively, array elements and object values.
pub fn detect_json(value: &serde_json::Value) -> Option<SensitiveKind> {
    use serde_json::Value;
    match value {
        Value::String(s) => detect(s),
        // A card number sent as a number is an integer: only its integer digits are read,
        // so a decimal's point never joins its two halves into a "card".
        Value::Number(n) => {
            let text = n.to_string();
            detect(text.split(['.', 'e', 'E']).next().unwrap_or_default())
        }
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

    #[test]
    fn detects_cards_written_with_any_separator_or_in_full_width_digits() {
        for value in [
            "4111.1111.1111.1111",
            "4111/1111/1111/1111",
            "4111_1111_1111_1111",
            "4111 \u{2013} 1111 \u{2013} 1111 \u{2013} 1111",
            "4111\u{00A0}1111\u{00A0}1111\u{00A0}1111",
            "4111\u{2009}1111\u{2009}1111\u{2009}1111",
            "4111\u{2022}1111\u{2022}1111\u{2022}1111",
            "\u{FF14}\u{FF11}\u{FF11}\u{FF11}\u{FF11}\u{FF11}\u{FF11}\u{FF11}\u{FF11}\u{FF11}\u{FF11}\u{FF11}\u{FF11}\u{FF11}\u{FF11}\u{FF11}",
            "\u{FF14}\u{FF11}\u{FF11}\u{FF11}\u{FF0D}\u{FF11}\u{FF11}\u{FF11}\u{FF11}\u{FF0D}\u{FF11}\u{FF11}\u{FF11}\u{FF11}\u{FF0D}\u{FF11}\u{FF11}\u{FF11}\u{FF11}",
            "paid with 4111.1111.1111.1111 on Monday",
            "card 4111 - 1111 - 1111 - 1111, thanks",
        ] {
            assert_eq!(detect(value), CARD, "{value}");
        }
        assert_eq!(
            detect("\u{FF10}\u{FF17}\u{FF18}-\u{FF10}\u{FF15}-\u{FF11}\u{FF11}\u{FF12}\u{FF10}"),
            SSN
        );
    }

    #[test]
    fn a_decimal_point_does_not_join_numbers_into_a_card() {
        // 41111111.11111111 would be a Luhn-valid 16-digit run if the point separated.
        assert_eq!(detect("41111111.11111111"), None);
        assert_eq!(detect_json(&json!(41111111.11111111_f64)), None);
        assert_eq!(detect("2024.01.15"), None);
        assert_eq!(detect("v1.2.3"), None);
    }

    proptest! {
        #[test]
        fn detects_any_luhn_valid_card_whatever_its_separator(
            body in proptest::collection::vec(0u8..10, 15),
            separator in prop::sample::select(vec![" ", "-", ".", "/", "_", " - ", "\u{2013}", "\u{00A0}", "\u{3000}", "\u{FF0E}"]),
            full_width in any::<bool>(),
        ) {
            let digits = with_check_digit(body.iter().map(|d| b'0' + d).collect());
            let groups: Vec<String> = digits
                .chunks(4)
                .map(|g| {
                    g.iter()
                        .map(|&b| if full_width {
                            char::from_u32(0xFF10 + u32::from(b - b'0')).unwrap_or('0')
                        } else {
                            char::from(b)
                        })
                        .collect()
                })
                .collect();
            let formatted = groups.join(separator);
            prop_assert_eq!(detect(&formatted), CARD);
            prop_assert_eq!(detect(&format!("paid with {formatted} today")), CARD);
        }

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
