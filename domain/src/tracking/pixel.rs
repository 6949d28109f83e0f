//! Open tracking: a 1×1 image whose download tells that the message was displayed.

use super::attribute_text::escape_attribute;
use super::tags::tags;

/// Inserts an invisible 1×1 image loading `pixel_url` just before the last `</body>`
/// (any case, comments ignored), or at the end when there is none.
///
/// `display:block` and explicit sizes keep clients from reserving a line for it.
pub fn insert_open_pixel(html: &str, pixel_url: &str) -> String {
    let pixel = format!(
        r#"<img src="{}" width="1" height="1" alt="" style="display:block;border:0;width:1px;height:1px" />"#,
        escape_attribute(pixel_url)
    );
    let at = tags(html)
        .filter(|tag| tag.is_end && tag.name.eq_ignore_ascii_case("body"))
        .last()
        .map_or(html.len(), |tag| tag.span.start);
    let mut out = String::with_capacity(html.len() + pixel.len());
    out.push_str(&html[..at]);
    out.push_str(&pixel);
    out.push_str(&html[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIXEL: &str = r#"<img src="https://t.example/o/abc?x=1&amp;y=2" width="1" height="1" alt="" style="display:block;border:0;width:1px;height:1px" />"#;

    fn insert(html: &str) -> String {
        insert_open_pixel(html, "https://t.example/o/abc?x=1&y=2")
    }

    #[test]
    fn the_pixel_goes_before_the_closing_body_tag() {
        assert_eq!(
            insert("<html><body><p>Hi</p></body></html>"),
            format!("<html><body><p>Hi</p>{PIXEL}</body></html>")
        );
        assert_eq!(
            insert("<BODY>Hi</BODY >\n</HTML>"),
            format!("<BODY>Hi{PIXEL}</BODY >\n</HTML>")
        );
    }

    #[test]
    fn the_last_closing_body_tag_outside_comments_wins() {
        assert_eq!(
            insert("<body>a</body><body>b</body><!-- </body> -->"),
            format!("<body>a</body><body>b{PIXEL}</body><!-- </body> -->")
        );
        assert_eq!(
            insert("<body><tbody></tbody></bodyx>"),
            format!("<body><tbody></tbody></bodyx>{PIXEL}")
        );
    }

    #[test]
    fn without_a_body_the_pixel_is_appended() {
        assert_eq!(insert("<p>Hi</p>"), format!("<p>Hi</p>{PIXEL}"));
        assert_eq!(insert(""), PIXEL);
    }

    #[test]
    fn the_url_cannot_break_out_of_the_attribute() {
        let out = insert_open_pixel("", "https://t.example/\"><script>");
        assert!(out.starts_with(r#"<img src="https://t.example/&quot;&gt;&lt;script&gt;" "#));
    }
}
