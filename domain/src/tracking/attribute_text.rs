//! Attribute values in and out: character references decoded on the way in, the five
//! markup characters escaped on the way out.
//!
//! The decoding loop is rendering's (`decode_references`); the table of references is the
//! attribute value's own — a URL keeps `&nbsp;` as written rather than turning it into the
//! plain space a text part wants.

use std::borrow::Cow;

use crate::rendering::html_entities::decode_references;

/// Decodes the character references of an attribute value (`&amp;`, `&#38;`, `&#x26;`,
/// `&quot;`, …). Unknown or malformed references are left as written, as browsers do.
pub(crate) fn decode_attribute(value: &str) -> Cow<'_, str> {
    decode_references(value, 10, reference)
}

/// The character a reference name (between `&` and `;`) stands for.
fn reference(name: &str) -> Option<char> {
    let numeric = |digits: &str, radix| {
        u32::from_str_radix(digits, radix)
            .ok()
            .filter(|&n| n != 0)
            .and_then(char::from_u32)
    };
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => match name.strip_prefix('#')? {
            hex if hex.starts_with(['x', 'X']) => numeric(&hex[1..], 16),
            decimal => numeric(decimal, 10),
        },
    }
}

/// Escapes a value for a quoted attribute (either quote).
pub(crate) fn escape_attribute(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + value.len() / 8);
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_in_urls_are_decoded() {
        assert_eq!(
            decode_attribute("https://x.example/?a=1&amp;b=2&#38;c=3&#x26;d=&quot;4&quot;"),
            "https://x.example/?a=1&b=2&c=3&d=\"4\""
        );
        assert_eq!(decode_attribute("&lt;&gt;&apos;&#X41;"), "<>'A");
    }

    #[test]
    fn bare_ampersands_and_unknown_references_stay_as_written() {
        for value in [
            "?a=1&b=2",
            "&unknown;",
            "&#0;",
            "&#xD800;",
            "&#99999999999;",
            "&;",
            "&",
            "&amp",
            "&#;",
            "&#x;",
            "&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&;",
        ] {
            assert_eq!(decode_attribute(value), value, "{value}");
        }
        assert_eq!(decode_attribute("&&amp;"), "&&");
        assert_eq!(decode_attribute("é&amp;ü"), "é&ü");
    }

    #[test]
    fn escaping_round_trips() {
        let url = "https://x.example/?q=\"<'&'>\"";
        let escaped = escape_attribute(url);
        assert_eq!(
            escaped,
            "https://x.example/?q=&quot;&lt;&#39;&amp;&#39;&gt;&quot;"
        );
        assert_eq!(decode_attribute(&escaped), url);
    }
}
