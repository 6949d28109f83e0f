//! The unsubscribe footer Mailroom adds to marketing mail whose template forgot the link.
//!
//! Promise 1 says every marketing email carries a working unsubscribe link; the
//! `List-Unsubscribe` header alone is not enough, because many clients hide it.

use super::escape::escape_html;

/// Inserts the footer before `</body>` (the last one, any case) or appends it.
pub(crate) fn append_html_footer(html: &mut String, unsubscribe_url: &str) {
    let footer = format!(
        "\n<p style=\"margin:24px 0 0;font-size:12px;color:#666666;text-align:center\">\
         <a href=\"{}\" style=\"color:#666666\">Unsubscribe</a></p>\n",
        escape_html(unsubscribe_url)
    );
    match find_last_ignore_ascii_case(html, "</body") {
        Some(at) => html.insert_str(at, &footer),
        None => html.push_str(&footer),
    }
}

/// Appends the plain-text equivalent, separated from the body by a blank line.
pub(crate) fn append_text_footer(text: &mut String, unsubscribe_url: &str) {
    let trimmed = text.trim_end().len();
    text.truncate(trimmed);
    if !text.is_empty() {
        text.push_str("\n\n");
    }
    text.push_str("Unsubscribe: ");
    text.push_str(unsubscribe_url);
    text.push('\n');
}

fn find_last_ignore_ascii_case(haystack: &str, needle: &str) -> Option<usize> {
    let (hay, needle) = (haystack.as_bytes(), needle.as_bytes());
    (0..=hay.len().checked_sub(needle.len())?)
        .rev()
        .find(|&i| hay[i..i + needle.len()].eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footer_goes_before_the_closing_body_tag_with_the_url_escaped() {
        let mut html = "<html><BODY><p>Hi</p></BODY></html>".to_owned();
        append_html_footer(&mut html, "https://m.example/u?a=1&b=\"2\"");
        let footer_at = html.find("Unsubscribe").unwrap();
        assert!(footer_at < html.find("</BODY>").unwrap());
        assert!(html.contains("href=\"https://m.example/u?a=1&amp;b=&quot;2&quot;\""));
    }

    #[test]
    fn footer_is_appended_to_a_fragment() {
        let mut html = "<p>Hi</p>".to_owned();
        append_html_footer(&mut html, "https://m.example/u");
        assert!(html.starts_with("<p>Hi</p>"));
        assert!(html.trim_end().ends_with("Unsubscribe</a></p>"));
    }

    #[test]
    fn text_footer_follows_a_blank_line() {
        let mut text = "Hello\n\n".to_owned();
        append_text_footer(&mut text, "https://m.example/u");
        assert_eq!(text, "Hello\n\nUnsubscribe: https://m.example/u\n");
    }
}
