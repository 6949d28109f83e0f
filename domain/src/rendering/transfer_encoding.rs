//! Content-Transfer-Encoding of the text and HTML parts.
//!
//! lettre picks a transfer encoding well, but converts line endings by inserting one
//! `\r` at a time (quadratic in the number of lines) and runs a general-purpose
//! quoted-printable encoder: together more than a third of the time a 20 KB newsletter
//! took to render and build. The rules for the two encodings mail text needs are short
//! (RFC 2045 §2.7 and §6.7), so the parts are encoded here and handed to lettre
//! pre-encoded.

use lettre::message::Body;
use lettre::message::header::ContentTransferEncoding;

/// RFC 5322 §2.1.1 line limit, excluding the CRLF.
const MAX_7BIT_LINE: usize = 998;
/// RFC 2045 §6.7 rule 5: encoded lines are at most 76 characters, soft-break `=` included.
const MAX_QP_LINE: usize = 76;

/// Encodes a text part: `7bit` when it already is (ASCII, short lines), otherwise
/// quoted-printable. Line breaks become CRLF either way.
pub(crate) fn encode_text_body(text: &str) -> Body {
    if is_seven_bit(text) {
        Body::dangerous_pre_encoded(crlf_lines(text), ContentTransferEncoding::SevenBit)
    } else {
        Body::dangerous_pre_encoded(
            quoted_printable(text),
            ContentTransferEncoding::QuotedPrintable,
        )
    }
}

/// Written as whole-slice checks rather than one branchy loop: this runs over every
/// part of every message, and the compiler vectorises `is_ascii` and the count.
fn is_seven_bit(text: &str) -> bool {
    text.is_ascii()
        && lines(text).all(|(line, _)| {
            let controls = line
                .bytes()
                .filter(|&b| (b < b' ' && b != b'\t') || b == 0x7f)
                .count();
            line.len() <= MAX_7BIT_LINE && controls == 0
        })
}

/// The lines of `text` (split on LF, a CR before it dropped), each yielded with whether
/// a line break follows it.
fn lines(text: &str) -> impl Iterator<Item = (&str, bool)> {
    let mut segments = text.split('\n').peekable();
    std::iter::from_fn(move || {
        let segment = segments.next()?;
        let broken = segments.peek().is_some();
        let line = if broken {
            segment.strip_suffix('\r').unwrap_or(segment)
        } else {
            segment
        };
        Some((line, broken))
    })
}

fn crlf_lines(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + text.len() / 32 + 2);
    for (line, broken) in lines(text) {
        out.extend_from_slice(line.as_bytes());
        if broken {
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

fn quoted_printable(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + text.len() / 8 + 16);
    for (line, broken) in lines(text) {
        encode_line(line.as_bytes(), &mut out);
        if broken {
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

/// One line of quoted-printable: printable ASCII except `=` as is, a space or tab as is
/// unless it ends the line, everything else `=XX`; soft line breaks (`=` CRLF) keep
/// encoded lines within 76 characters without splitting an `=XX`.
///
/// Runs of bytes that need no escaping are copied whole: mail text is mostly such runs.
fn encode_line(line: &[u8], out: &mut Vec<u8>) {
    let mut column = 0;
    let mut i = 0;
    while i < line.len() {
        let mut end = i + line[i..].iter().take_while(|&&b| is_plain(b)).count();
        if end == line.len() && matches!(line[end - 1], b' ' | b'\t') && end > i {
            end -= 1; // whitespace ending a line is escaped below
        }
        copy_plain(&line[i..end], end == line.len(), &mut column, out);
        i = end;
        if let Some(&b) = line.get(i) {
            escape_byte(b, i + 1 == line.len(), &mut column, out);
            i += 1;
        }
    }
}

/// Bytes that may stand for themselves (the caller handles whitespace at line end).
fn is_plain(b: u8) -> bool {
    matches!(b, b'!'..=b'<' | b'>'..=b'~' | b' ' | b'\t')
}

/// Copies `run` with soft breaks; the last byte of a line may use column 76, every
/// other byte must leave it free for the soft break's `=`.
fn copy_plain(mut run: &[u8], ends_line: bool, column: &mut usize, out: &mut Vec<u8>) {
    while !run.is_empty() {
        let limit = if ends_line {
            MAX_QP_LINE
        } else {
            MAX_QP_LINE - 1
        };
        if *column + run.len() <= limit {
            out.extend_from_slice(run);
            *column += run.len();
            return;
        }
        let take = (MAX_QP_LINE - 1).saturating_sub(*column).min(run.len());
        out.extend_from_slice(&run[..take]);
        out.extend_from_slice(b"=\r\n");
        *column = 0;
        run = &run[take..];
    }
}

fn escape_byte(b: u8, ends_line: bool, column: &mut usize, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let limit = if ends_line {
        MAX_QP_LINE
    } else {
        MAX_QP_LINE - 1
    };
    if *column + 3 > limit {
        out.extend_from_slice(b"=\r\n");
        *column = 0;
    }
    out.extend_from_slice(&[b'=', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0x0f)]]);
    *column += 3;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn qp(text: &str) -> String {
        String::from_utf8(quoted_printable(text)).unwrap()
    }

    /// An independent reading of RFC 2045 §6.7, for the round trip.
    fn decode_qp(encoded: &str) -> String {
        let joined = encoded.replace("=\r\n", "");
        let bytes = joined.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'=' {
                out.push(u8::from_str_radix(&joined[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn ascii_with_short_lines_stays_seven_bit_with_crlf() {
        let body = encode_text_body("Hello\nworld\r\n\nbye");
        assert_eq!(body.encoding(), ContentTransferEncoding::SevenBit);
        assert_eq!(body.as_ref(), b"Hello\r\nworld\r\n\r\nbye");
    }

    #[test]
    fn non_ascii_long_lines_and_controls_are_quoted_printable() {
        assert_eq!(
            encode_text_body("ü").encoding(),
            ContentTransferEncoding::QuotedPrintable
        );
        assert_eq!(
            encode_text_body(&"a".repeat(999)).encoding(),
            ContentTransferEncoding::QuotedPrintable
        );
        assert_eq!(
            encode_text_body("a\rb").encoding(),
            ContentTransferEncoding::QuotedPrintable
        );
        assert!(is_seven_bit(&"a".repeat(998)));
    }

    #[test]
    fn quoted_printable_follows_rfc_2045() {
        assert_eq!(
            qp("Café = 1 \ntab\t\nend "),
            "Caf=C3=A9 =3D 1=20\r\ntab=09\r\nend=20"
        );
        let long = qp(&"x".repeat(200));
        assert!(
            long.split("\r\n").all(|line| line.len() <= MAX_QP_LINE),
            "{long}"
        );
        assert_eq!(
            long.split("=\r\n").map(str::len).collect::<Vec<_>>(),
            [75, 75, 50]
        );
        // An escape is never split by a soft break.
        let escapes = qp(&format!("{}ééé", "x".repeat(70)));
        assert!(
            escapes
                .split("\r\n")
                .all(|line| line.len() <= MAX_QP_LINE && !line.ends_with("=C"))
        );
    }

    /// The byte-at-a-time statement of the same rules, to check the fast path against.
    fn reference_line(line: &[u8], out: &mut Vec<u8>) {
        let mut column = 0;
        for (i, &b) in line.iter().enumerate() {
            let last = i + 1 == line.len();
            let literal = match b {
                b'=' => false,
                b' ' | b'\t' => !last,
                b'!'..=b'~' => true,
                _ => false,
            };
            if literal {
                let limit = if last { MAX_QP_LINE } else { MAX_QP_LINE - 1 };
                if column + 1 > limit {
                    out.extend_from_slice(b"=\r\n");
                    column = 0;
                }
                out.push(b);
                column += 1;
            } else {
                escape_byte(b, last, &mut column, out);
            }
        }
    }

    proptest! {
        #[test]
        fn quoted_printable_round_trips_within_line_limits(
            text in "([a-zé=\\t \\r☺.]{0,200}\\n?){0,4}"
        ) {
            let encoded = qp(&text);
            let mut reference = Vec::new();
            for (line, broken) in lines(&text) {
                reference_line(line.as_bytes(), &mut reference);
                if broken {
                    reference.extend_from_slice(b"\r\n");
                }
            }
            prop_assert_eq!(&encoded, &String::from_utf8(reference).unwrap());
            prop_assert!(encoded.is_ascii());
            prop_assert!(encoded.split("\r\n").all(|line| line.len() <= MAX_QP_LINE));
            prop_assert!(encoded.split("\r\n").all(|line| !line.ends_with([' ', '\t'])));
            let expected: String = lines(&text)
                .map(|(line, broken)| if broken { format!("{line}\r\n") } else { line.to_owned() })
                .collect();
            prop_assert_eq!(decode_qp(&encoded), expected);
        }
    }
}
