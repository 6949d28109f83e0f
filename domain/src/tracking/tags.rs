//! Just enough of the HTML tokenizer (WHATWG HTML §13.2.5) to find the tags of email
//! HTML and their attributes without being fooled by comments, a `>` inside a quoted
//! value or the text of a `<style>` block.
//!
//! Positions are byte offsets into the document. Every delimiter the scanner stops at is
//! ASCII, so each offset is on a character boundary.

use std::ops::Range;

/// Elements whose content is text, not markup: a `<a` inside them is no link.
const RAW_TEXT_ELEMENTS: [&str; 4] = ["script", "style", "textarea", "title"];

/// A start or end tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tag<'h> {
    /// From `<` to `>`, both included.
    pub(crate) span: Range<usize>,
    /// As written; compare it ignoring ASCII case.
    pub(crate) name: &'h str,
    pub(crate) is_end: bool,
    pub(crate) attributes: Vec<Attribute<'h>>,
}

impl Tag<'_> {
    /// The first attribute called `name` (a repeated attribute is ignored by browsers).
    pub(crate) fn attribute(&self, name: &str) -> Option<&Attribute<'_>> {
        self.attributes
            .iter()
            .find(|attribute| attribute.name.eq_ignore_ascii_case(name))
    }
}

/// One attribute of a tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attribute<'h> {
    pub(crate) name: &'h str,
    /// `None` for a bare attribute (`<input disabled>`).
    pub(crate) value: Option<AttributeValue>,
}

/// Where an attribute's value is, still entity-encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AttributeValue {
    /// The value without its quotes.
    pub(crate) span: Range<usize>,
    /// `Some('"')` or `Some('\'')`, or `None` for an unquoted value.
    pub(crate) quote: Option<char>,
}

impl AttributeValue {
    /// The value's range including its quotes.
    pub(crate) fn quoted_span(&self) -> Range<usize> {
        match self.quote {
            Some(_) => self.span.start - 1..self.span.end + 1,
            None => self.span.clone(),
        }
    }
}

/// The tags of `html` in document order, comments and raw text skipped. A tag cut off
/// by the end of the document is not one (browsers drop it), and ends the iteration.
pub(crate) fn tags(html: &str) -> Tags<'_> {
    Tags {
        html,
        pos: 0,
        raw_text: None,
    }
}

/// Iterator returned by [`tags`].
pub(crate) struct Tags<'h> {
    html: &'h str,
    pos: usize,
    /// Set after the start tag of a raw text element: its end tag is the next markup.
    raw_text: Option<&'h str>,
}

impl<'h> Iterator for Tags<'h> {
    type Item = Tag<'h>;

    fn next(&mut self) -> Option<Tag<'h>> {
        let html = self.html;
        let bytes = html.as_bytes();
        loop {
            if let Some(element) = self.raw_text.take() {
                self.pos = raw_text_end(html, self.pos, element);
            }
            let lt = self.pos + html.get(self.pos..)?.find('<')?;
            let rest = &bytes[lt..];
            if rest.starts_with(b"<!--") {
                self.pos = comment_end(html, lt);
                continue;
            }
            if rest.starts_with(b"<!") || rest.starts_with(b"<?") {
                // Doctype, CDATA or processing instruction: up to the next `>`.
                self.pos = html[lt..].find('>').map_or(html.len(), |gt| lt + gt + 1);
                continue;
            }
            let is_end = rest.get(1) == Some(&b'/');
            let name_start = lt + if is_end { 2 } else { 1 };
            if !bytes.get(name_start).is_some_and(u8::is_ascii_alphabetic) {
                self.pos = lt + 1;
                continue;
            }
            let name_end = name_start
                + bytes[name_start..]
                    .iter()
                    .position(|&b| is_space(b) || b == b'/' || b == b'>')
                    .unwrap_or(bytes.len() - name_start);
            let (attributes, end) = attributes(html, name_end);
            let end = end?;
            self.pos = end;
            let name = &html[name_start..name_end];
            if !is_end {
                self.raw_text = RAW_TEXT_ELEMENTS
                    .into_iter()
                    .find(|element| name.eq_ignore_ascii_case(element));
            }
            return Some(Tag {
                span: lt..end,
                name,
                is_end,
                attributes,
            });
        }
    }
}

/// The attributes from `from` to the tag's `>`, and the offset just past it (`None` when
/// the document ends first).
fn attributes(html: &str, from: usize) -> (Vec<Attribute<'_>>, Option<usize>) {
    let bytes = html.as_bytes();
    let len = bytes.len();
    let skip_spaces = |mut i: usize| {
        while i < len && is_space(bytes[i]) {
            i += 1;
        }
        i
    };
    let mut attributes = Vec::new();
    let mut i = from;
    loop {
        while i < len && (is_space(bytes[i]) || bytes[i] == b'/') {
            i += 1;
        }
        match bytes.get(i) {
            None => return (attributes, None),
            Some(b'>') => return (attributes, Some(i + 1)),
            Some(_) => {}
        }
        // The first character of a name may be anything, even `=`.
        let name_start = i;
        i += 1;
        while i < len && !matches!(bytes[i], b'/' | b'>' | b'=') && !is_space(bytes[i]) {
            i += 1;
        }
        let name = &html[name_start..i];
        let after_name = skip_spaces(i);
        if bytes.get(after_name) != Some(&b'=') {
            attributes.push(Attribute { name, value: None });
            i = after_name;
            continue;
        }
        let value_start = skip_spaces(after_name + 1);
        let value = match bytes.get(value_start) {
            None => return (attributes, None),
            Some(&quote @ (b'"' | b'\'')) => {
                let Some(close) = html[value_start + 1..].find(char::from(quote)) else {
                    return (attributes, None);
                };
                let close = value_start + 1 + close;
                i = close + 1;
                AttributeValue {
                    span: value_start + 1..close,
                    quote: Some(char::from(quote)),
                }
            }
            Some(_) => {
                let mut end = value_start;
                while end < len && bytes[end] != b'>' && !is_space(bytes[end]) {
                    end += 1;
                }
                i = end;
                AttributeValue {
                    span: value_start..end,
                    quote: None,
                }
            }
        };
        attributes.push(Attribute {
            name,
            value: Some(value),
        });
    }
}

/// Where the comment starting at `lt` ends. `<!-->` and `<!--->` are complete, empty
/// comments: the downlevel-revealed `<!--[if !mso]><!-->` relies on that.
fn comment_end(html: &str, lt: usize) -> usize {
    let body = lt + "<!--".len();
    let rest = &html[body..];
    if rest.starts_with('>') {
        body + 1
    } else if rest.starts_with("->") {
        body + 2
    } else {
        rest.find("-->")
            .map_or(html.len(), |end| body + end + "-->".len())
    }
}

/// The offset of the end tag that closes raw text element `element`, or the end.
fn raw_text_end(html: &str, from: usize, element: &str) -> usize {
    let bytes = html.as_bytes();
    let mut pos = from;
    while let Some(found) = html.get(pos..).and_then(|rest| rest.find("</")) {
        let lt = pos + found;
        let name = lt + 2..lt + 2 + element.len();
        let closes = bytes
            .get(name.clone())
            .is_some_and(|name| name.eq_ignore_ascii_case(element.as_bytes()))
            && bytes
                .get(name.end)
                .is_none_or(|&b| is_space(b) || b == b'/' || b == b'>');
        if closes {
            return lt;
        }
        pos = lt + 2;
    }
    html.len()
}

/// HTML's ASCII whitespace.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(html: &str) -> Vec<String> {
        tags(html)
            .map(|tag| format!("{}{}", if tag.is_end { "/" } else { "" }, tag.name))
            .collect()
    }

    #[test]
    fn tags_are_found_past_comments_doctypes_and_raw_text() {
        assert_eq!(
            names(
                "<!DOCTYPE html><HTML><!-- <a href=x> --><style>p{}</a>\n</STYLE ><p>1 < 2</p>\
                 <!--[if !mso]><!--><b></b><!--<![endif]--><br/></html"
            ),
            ["HTML", "style", "/STYLE", "p", "/p", "b", "/b", "br"]
        );
        assert_eq!(
            names("<script>document.write('<a href=x>')</script><i>"),
            ["script", "/script", "i"]
        );
        assert_eq!(names("<!-- never closed <a href=x>"), Vec::<String>::new());
        assert_eq!(names("<style>never closed <a>"), ["style"]);
    }

    #[test]
    fn attributes_keep_their_quoting_and_may_contain_markup() {
        let html = r#"<a title="1 > 0" data-x='say "hi"' href = https://x.example/ hidden>"#;
        let tag = tags(html).next().unwrap();
        assert_eq!(tag.span, 0..html.len());
        // Each attribute as `name`, or `name=<quote>value<quote>` with the quote as found.
        let written: Vec<String> = tag
            .attributes
            .iter()
            .map(|attribute| match &attribute.value {
                None => attribute.name.to_owned(),
                Some(value) => {
                    let quote = value.quote.map(String::from).unwrap_or_default();
                    format!(
                        "{}={quote}{}{quote}",
                        attribute.name,
                        &html[value.span.clone()]
                    )
                }
            })
            .collect();
        assert_eq!(
            written,
            [
                r#"title="1 > 0""#,
                r#"data-x='say "hi"'"#,
                "href=https://x.example/",
                "hidden",
            ]
        );
        let href = tag.attribute("HREF").unwrap().value.as_ref().unwrap();
        assert_eq!(&html[href.quoted_span()], "https://x.example/");
    }

    #[test]
    fn a_tag_cut_off_by_the_end_is_no_tag() {
        for html in ["<a href=\"x", "<a href=", "<a title='x' ", "<a"] {
            assert_eq!(tags(html).next(), None, "{html}");
        }
        assert_eq!(names("a < b and <3 and </ 4"), Vec::<String>::new());
        assert_eq!(names("é<é><ü>"), Vec::<String>::new());
    }
}
