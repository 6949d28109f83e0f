//! Click tracking: every web link of a message's HTML pointed at a tracking URL.

use super::attribute_text::{decode_attribute, escape_attribute};
use super::tags::tags;

/// Offers the URL of each `<a href>` in `html` to `rewrite` and puts what it returns in
/// its place. Returns the new HTML and the original URLs that were replaced, in order
/// (a URL linked twice is listed twice).
///
/// Only absolute `http://` and `https://` URLs are offered, with their character
/// references decoded (`&amp;` → `&`) and surrounding spaces trimmed: `mailto:`, `tel:`,
/// anchors and relative links are nobody's click to track. Links inside comments,
/// `<style>` or `<script>` are not links. A replacement is HTML-escaped; everything else
/// is left byte for byte as it was.
pub fn rewrite_links(
    html: &str,
    mut rewrite: impl FnMut(&str) -> Option<String>,
) -> (String, Vec<String>) {
    let mut out = String::with_capacity(html.len() + html.len() / 8);
    let mut rewritten = Vec::new();
    let mut copied = 0;
    for tag in tags(html).filter(|tag| !tag.is_end && tag.name.eq_ignore_ascii_case("a")) {
        let Some(value) = tag.attribute("href").and_then(|href| href.value.as_ref()) else {
            continue;
        };
        let decoded = decode_attribute(&html[value.span.clone()]);
        // The URL parser trims C0 controls and spaces, so a browser follows ` https://x `.
        let url = decoded.trim_matches(|c: char| c <= ' ');
        if !is_web_url(url) {
            continue;
        }
        let Some(replacement) = rewrite(url) else {
            continue;
        };
        let span = value.quoted_span();
        let quote = value.quote.unwrap_or('"');
        out.push_str(&html[copied..span.start]);
        out.push(quote);
        out.push_str(&escape_attribute(&replacement));
        out.push(quote);
        copied = span.end;
        rewritten.push(url.to_owned());
    }
    out.push_str(&html[copied..]);
    (out, rewritten)
}

fn is_web_url(url: &str) -> bool {
    let has_scheme = |scheme: &str| {
        url.get(..scheme.len())
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case(scheme))
    };
    has_scheme("http://") || has_scheme("https://")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Points every link at a numbered tracking URL.
    fn track(html: &str) -> (String, Vec<String>) {
        let mut n = 0;
        rewrite_links(html, |_| {
            n += 1;
            Some(format!("https://t.example/c/{n}"))
        })
    }

    #[test]
    fn web_links_are_rewritten_and_listed_in_order() {
        let html = r#"<p>Read <a href="https://acme.example/june">June</a> or <a class=x href='http://acme.example/may'>May</a>.</p>"#;
        let (out, urls) = track(html);
        assert_eq!(
            out,
            r#"<p>Read <a href="https://t.example/c/1">June</a> or <a class=x href='https://t.example/c/2'>May</a>.</p>"#
        );
        assert_eq!(
            urls,
            ["https://acme.example/june", "http://acme.example/may"]
        );
    }

    #[test]
    fn the_same_url_twice_is_offered_twice() {
        let html =
            r#"<a href="https://acme.example/">logo</a><a href="https://acme.example/">text</a>"#;
        let (out, urls) = track(html);
        assert_eq!(
            out,
            r#"<a href="https://t.example/c/1">logo</a><a href="https://t.example/c/2">text</a>"#
        );
        assert_eq!(urls, ["https://acme.example/", "https://acme.example/"]);
    }

    #[test]
    fn entities_are_decoded_for_the_closure_and_replacements_escaped() {
        let html = r#"<a href="https://x.example/?a=1&amp;b=2&#38;c=&quot;3&quot;">x</a>"#;
        let mut offered = Vec::new();
        let (out, urls) = rewrite_links(html, |url| {
            offered.push(url.to_owned());
            Some("https://t.example/c?u=1&v=\"2\"".to_owned())
        });
        assert_eq!(offered, ["https://x.example/?a=1&b=2&c=\"3\""]);
        assert_eq!(urls, offered);
        assert_eq!(
            out,
            r#"<a href="https://t.example/c?u=1&amp;v=&quot;2&quot;">x</a>"#
        );
    }

    #[test]
    fn unquoted_and_oddly_spaced_values_are_quoted_when_replaced() {
        let (out, urls) =
            track("<A HREF=https://x.example/a>a</A><a href = \" https://x.example/b \" >b</a>");
        assert_eq!(
            out,
            "<A HREF=\"https://t.example/c/1\">a</A><a href = \"https://t.example/c/2\" >b</a>"
        );
        assert_eq!(urls, ["https://x.example/a", "https://x.example/b"]);
    }

    #[test]
    fn other_schemes_anchors_and_relative_links_are_not_offered() {
        let html = concat!(
            r#"<a href="mailto:help@acme.example">m</a><a href="tel:+3312345678">t</a>"#,
            r##"<a href="#top">top</a><a href="/relative">r</a><a href="//x.example/">p</a>"##,
            r#"<a href="javascript:alert(1)">j</a><a href="ftp://x.example/">f</a><a href>e</a><a name=x>n</a>"#,
            r#"<a href="httpx://x.example/">h</a>"#,
        );
        let mut offered = 0;
        let (out, urls) = rewrite_links(html, |_| {
            offered += 1;
            Some("https://t.example/".into())
        });
        assert_eq!(offered, 0);
        assert_eq!(out, html);
        assert!(urls.is_empty());
    }

    #[test]
    fn a_declined_link_is_left_alone() {
        let html = r#"<a href="https://acme.example/keep">k</a><a href="https://acme.example/track">t</a>"#;
        let (out, urls) = rewrite_links(html, |url| {
            url.ends_with("track")
                .then(|| "https://t.example/1".to_owned())
        });
        assert_eq!(
            out,
            r#"<a href="https://acme.example/keep">k</a><a href="https://t.example/1">t</a>"#
        );
        assert_eq!(urls, ["https://acme.example/track"]);
    }

    #[test]
    fn tricky_markup_does_not_fool_the_rewriter() {
        let html = concat!(
            r#"<abbr href="https://x.example/abbr">a</abbr>"#,
            r#"<!-- <a href="https://x.example/comment">c</a> -->"#,
            r#"<a title="1 > 0" href="https://x.example/quoted-gt" data-x='<a href="https://x.example/inner">'>q</a>"#,
            r#"<img alt='<a href="https://x.example/alt">' src="https://x.example/i.png">"#,
            r#"<style>a[href="https://x.example/css"]{}</style>"#,
            r#"<a href="https://x.example/first" href="https://x.example/second">d</a>"#,
            r#"<!--[if !mso]><!--><a href="https://x.example/revealed">r</a><!--<![endif]-->"#,
            "<a\nhref=\"https://x.example/newline\"\n>n</a>",
            r#"<a href="https://x.example/cut"#,
        );
        let (out, urls) = track(html);
        assert_eq!(
            urls,
            [
                "https://x.example/quoted-gt",
                "https://x.example/first",
                "https://x.example/revealed",
                "https://x.example/newline",
            ]
        );
        assert!(out.contains(r#"<abbr href="https://x.example/abbr">"#));
        assert!(out.contains(r#"<!-- <a href="https://x.example/comment">c</a> -->"#));
        assert!(out.contains(
            r#"<a title="1 > 0" href="https://t.example/c/1" data-x='<a href="https://x.example/inner">'>q</a>"#
        ));
        assert!(out.contains(r#"href="https://t.example/c/2" href="https://x.example/second""#));
        assert!(out.ends_with(r#"<a href="https://x.example/cut"#));
    }

    #[test]
    fn html_without_links_is_returned_unchanged() {
        for html in [
            "",
            "plain text",
            "<p>é ü 🎉</p>",
            "<",
            "<a",
            "<!--",
            "&amp;",
        ] {
            let (out, urls) = track(html);
            assert_eq!(out, html);
            assert!(urls.is_empty());
        }
    }

    proptest! {
        #[test]
        fn any_text_survives_and_only_hrefs_change(
            html in r#"([<>/!\-="' a-zA-Z&#;:]|href|https://|<a |é|<!--|-->){0,80}"#
        ) {
            let (unchanged, none) = rewrite_links(&html, |_| None);
            prop_assert_eq!(&unchanged, &html);
            prop_assert!(none.is_empty());
            let (out, urls) = rewrite_links(&html, |_| Some("https://t.example/".into()));
            prop_assert!(urls.iter().all(|url| is_web_url(url)));
            prop_assert!(out.matches("https://t.example/").count() >= urls.len());
            let _ = crate::tracking::insert_open_pixel(&html, "https://t.example/o");
        }
    }
}
