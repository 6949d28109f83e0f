//! HTML character references in the text derived from an HTML part.
//!
//! Only the references email HTML actually uses: the five markup escapes, `&nbsp;`,
//! typographic punctuation editors insert, and numeric references. Anything else is
//! left as written, which reads better in a text part than a guess.

use std::borrow::Cow;

/// Decodes the entities mail HTML actually uses; unknown ones are left as written.
pub(crate) fn decode_entities(text: &str) -> Cow<'_, str> {
    decode_references(text, 12, decode_entity)
}

/// Replaces each `&name;` whose name (at most `max_name` bytes) `lookup` knows by its
/// character; anything else is left as written. The scan for `;` is bounded, so text full
/// of `&` stays linear. Text parts and attribute values share this loop with their own
/// tables.
pub(crate) fn decode_references(
    text: &str,
    max_name: usize,
    lookup: impl Fn(&str) -> Option<char>,
) -> Cow<'_, str> {
    if !text.contains('&') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = rest.as_bytes()[1..]
            .iter()
            .take(max_name)
            .position(|&b| b == b';')
            .and_then(|semi| lookup(&rest[1..semi + 1]).map(|c| (c, semi + 2)));
        match decoded {
            Some((c, consumed)) => {
                out.push(c);
                rest = &rest[consumed..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

fn decode_entity(name: &str) -> Option<char> {
    let numeric = |digits: &str, radix| {
        u32::from_str_radix(digits, radix)
            .ok()
            .and_then(char::from_u32)
    };
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        // A text part has no use for non-breaking spaces: they would defeat wrapping.
        "nbsp" => Some(' '),
        "copy" => Some('©'),
        "reg" => Some('®'),
        "trade" => Some('™'),
        "hellip" => Some('…'),
        "mdash" => Some('—'),
        "ndash" => Some('–'),
        "lsquo" => Some('‘'),
        "rsquo" => Some('’'),
        "ldquo" => Some('“'),
        "rdquo" => Some('”'),
        "euro" => Some('€'),
        _ => match name.strip_prefix('#') {
            Some(hex) if hex.starts_with(['x', 'X']) => numeric(&hex[1..], 16),
            Some(decimal) => numeric(decimal, 10),
            None => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_references_are_decoded_and_others_kept() {
        assert_eq!(
            decode_entities("&amp;&lt;&gt;&quot;&#39;&apos;&nbsp;&#x263A;&#8364;&hellip;"),
            "&<>\"'' ☺€…"
        );
        assert_eq!(
            decode_entities("&unknown; &amp &#xZZ; a & b"),
            "&unknown; &amp &#xZZ; a & b"
        );
        assert!(matches!(decode_entities("no references"), Cow::Borrowed(_)));
    }
}
