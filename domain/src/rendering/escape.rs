//! HTML escaping for the HTML part: of template output and of the footer's URL.
//!
//! minijinja's own HTML escaping also turns `/` into `&#x2f;`, which is valid but makes
//! every URL a template prints (`href="{{ unsubscribe_url }}"`) unreadable in the
//! source, longer on the wire, and harder for link tracking to recognise. Escaping the
//! five characters that matter in text and quoted attributes is just as safe.

use std::fmt::{self, Write};

use minijinja::{AutoEscape, Error, Output, State, Value};

/// The formatter of Mailroom's environments: strings in the HTML template are escaped
/// here, everything else (numbers, `|safe` values, other templates) as minijinja does.
///
/// `none` (a contact without a name, a `null` property) prints nothing: minijinja would
/// print the word "none", and "Hello none," is worse than "Hello ,".
pub(crate) fn html_formatter(
    out: &mut Output,
    state: &mut State,
    value: &Value,
) -> Result<(), Error> {
    if value.is_none() {
        return Ok(());
    }
    if matches!(state.auto_escape(), AutoEscape::Html)
        && !value.is_safe()
        && let Some(text) = value.as_str()
    {
        return write_escaped(out, text).map_err(Error::from);
    }
    minijinja::escape_formatter(out, state, value)
}

/// Escapes `value` for HTML text and double- or single-quoted attributes.
pub(crate) fn escape_html(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    // Writing into a String cannot fail.
    let _ = write_escaped(&mut out, value);
    out
}

/// Writes the unescaped stretches whole; this runs for every variable a template prints.
fn write_escaped(out: &mut impl Write, value: &str) -> fmt::Result {
    let mut written = 0;
    for (i, b) in value.bytes().enumerate() {
        let entity = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        // The escaped bytes are ASCII, so `written..i` is on character boundaries.
        out.write_str(&value[written..i])?;
        out.write_str(entity)?;
        written = i + 1;
    }
    out.write_str(&value[written..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_five_markup_characters_are_escaped_and_urls_stay_readable() {
        assert_eq!(
            escape_html("<a href=\"x\">'Tom' & Jerry</a> https://x.example/a?b=1"),
            "&lt;a href=&quot;x&quot;&gt;&#39;Tom&#39; &amp; Jerry&lt;/a&gt; https://x.example/a?b=1"
        );
    }
}
