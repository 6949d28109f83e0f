//! A plain-text alternative derived from a rendered HTML message.
//!
//! Spam filters and text-only clients expect `multipart/alternative` mail to carry a
//! readable text part; most accounts only write HTML. This is deliberately small: it
//! reads tags, not a DOM, and aims for what a person would type, not a faithful layout.

use super::html_entities::decode_entities;

/// What an element means for the text version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Content never shown as text.
    Hidden,
    /// Starts and ends a paragraph (a blank line around it).
    Paragraph,
    /// Starts and ends a line.
    Line,
    Break,
    ListItem,
    Cell,
    Image,
    Link,
    Other,
}

impl Role {
    /// `name` lower-cased; a `match` on it compiles to a length switch, which matters
    /// with a few hundred tags per message.
    fn of(name: &str) -> Role {
        match name {
            "head" | "style" | "script" | "title" | "noscript" | "template" => Role::Hidden,
            "p" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "blockquote" | "pre" | "table"
            | "ul" | "ol" => Role::Paragraph,
            "div" | "tr" | "dl" | "dt" | "dd" | "section" | "article" | "header" | "footer"
            | "hr" | "center" | "address" => Role::Line,
            "br" => Role::Break,
            "li" => Role::ListItem,
            "td" | "th" => Role::Cell,
            "img" => Role::Image,
            "a" => Role::Link,
            _ => Role::Other,
        }
    }
}

/// Converts rendered HTML to the text part of the same message.
pub fn html_to_text(html: &str) -> String {
    let mut out = TextWriter::default();
    let mut links: Vec<(String, usize)> = Vec::new();
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.text(&decode_entities(&rest[..lt]));
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |end| &after[end + 3..]);
            continue;
        }
        let Some(tag) = Tag::parse(rest) else {
            // A lone `<` (as in "a < b" written unescaped) is text.
            out.text("<");
            rest = &rest[1..];
            continue;
        };
        rest = &rest[tag.len..];
        match (tag.role, tag.closing) {
            (Role::Hidden, false) => rest = skip_past_closing(rest, tag.name),
            (Role::Break, _) => out.line_break(),
            (Role::ListItem, false) => {
                out.block(1);
                out.text("- ");
            }
            (Role::ListItem | Role::Line, _) => out.block(1),
            (Role::Paragraph, _) => out.block(2),
            (Role::Cell, true) => out.space(),
            (Role::Image, false) => {
                if let Some(alt) = tag.attribute("alt").filter(|alt| !alt.trim().is_empty()) {
                    out.text(&alt);
                }
            }
            (Role::Link, false) => {
                links.push((tag.attribute("href").unwrap_or_default(), out.len()))
            }
            (Role::Link, true) => {
                if let Some((href, start)) = links.pop() {
                    let label = out.since(start).trim().to_owned();
                    let bare = href.strip_prefix("mailto:").unwrap_or(&href);
                    if shows_url(&href) && label != href && label != bare {
                        if label.is_empty() {
                            out.text(&href);
                        } else {
                            out.text(&format!(" ({href})"));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    out.text(&decode_entities(rest));
    out.finish()
}

/// In-page anchors and template placeholders left empty say nothing to a reader.
fn shows_url(href: &str) -> bool {
    !href.is_empty() && !href.starts_with('#')
}

/// Lower-cases `name` on the stack: no element Mailroom knows is longer than 10 bytes.
fn role_of(name: &str) -> Role {
    let mut lower = [0u8; 10];
    let Some(buf) = lower.get_mut(..name.len()) else {
        return Role::Other;
    };
    buf.copy_from_slice(name.as_bytes());
    buf.make_ascii_lowercase();
    std::str::from_utf8(buf).map_or(Role::Other, Role::of)
}

/// Returns what follows `</name ...>`, or nothing when it is never closed.
fn skip_past_closing<'a>(rest: &'a str, name: &str) -> &'a str {
    let bytes = rest.as_bytes();
    let mut from = 0;
    while let Some(found) = memchr::memmem::find(&bytes[from..], b"</") {
        let at = from + found;
        let candidate = &bytes[at + 2..];
        if candidate.len() >= name.len()
            && candidate[..name.len()].eq_ignore_ascii_case(name.as_bytes())
        {
            return rest[at..].find('>').map_or("", |gt| &rest[at + gt + 1..]);
        }
        from = at + 2;
    }
    ""
}

/// One start or end tag: its name as written, its role and its raw attribute text.
struct Tag<'a> {
    name: &'a str,
    role: Role,
    closing: bool,
    attributes: &'a str,
    /// Bytes from `<` to `>` inclusive.
    len: usize,
}

impl<'a> Tag<'a> {
    /// Parses the tag at the start of `input` (which begins with `<`).
    fn parse(input: &'a str) -> Option<Tag<'a>> {
        let body = &input[1..];
        let (closing, body) = match body.strip_prefix('/') {
            Some(rest) => (true, rest),
            None => (false, body),
        };
        let declaration = body.starts_with('!') || body.starts_with('?');
        let name_len = body.bytes().take_while(u8::is_ascii_alphanumeric).count();
        if name_len == 0 && !declaration {
            return None;
        }
        let end = find_tag_end(body)?;
        let name = &body[..name_len];
        Some(Tag {
            name,
            role: if declaration {
                Role::Other
            } else {
                role_of(name)
            },
            closing,
            attributes: &body[name_len..end],
            len: input.len() - body.len() + end + 1,
        })
    }

    /// The decoded value of attribute `name`, quoted or not.
    fn attribute(&self, name: &str) -> Option<String> {
        let mut rest = self.attributes;
        loop {
            rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '/');
            if rest.is_empty() {
                return None;
            }
            let key_len = rest
                .find(|c: char| c.is_whitespace() || c == '=' || c == '/')
                .unwrap_or(rest.len());
            let key = &rest[..key_len];
            rest = rest[key_len..].trim_start();
            let value = if let Some(after) = rest.strip_prefix('=') {
                let after = after.trim_start();
                let (value, remaining) = match after.chars().next() {
                    Some(quote @ ('"' | '\'')) => {
                        let inner = &after[1..];
                        let close = inner.find(quote).unwrap_or(inner.len());
                        (&inner[..close], inner.get(close + 1..).unwrap_or(""))
                    }
                    _ => {
                        let close = after.find(char::is_whitespace).unwrap_or(after.len());
                        (&after[..close], &after[close..])
                    }
                };
                rest = remaining;
                value
            } else {
                ""
            };
            if key.eq_ignore_ascii_case(name) {
                return Some(decode_entities(value).trim().to_owned());
            }
        }
    }
}

/// The index of the `>` closing a tag, skipping any inside quoted attribute values.
///
/// Email HTML is mostly tags with long inline `style` attributes, so this jumps between
/// the few bytes that matter instead of walking every byte.
fn find_tag_end(body: &str) -> Option<usize> {
    let bytes = body.as_bytes();
    let mut from = 0;
    loop {
        let at = from + memchr::memchr3(b'>', b'"', b'\'', &bytes[from..])?;
        if bytes[at] == b'>' {
            return Some(at);
        }
        let close = memchr::memchr(bytes[at], &bytes[at + 1..])?;
        from = at + 1 + close + 1;
    }
}

/// Collects text with collapsed whitespace and at most one blank line in a row.
#[derive(Default)]
struct TextWriter {
    out: String,
    pending_space: bool,
    pending_newlines: usize,
}

impl TextWriter {
    /// Collapses ASCII whitespace, as HTML does (`&nbsp;` was decoded to a space).
    fn text(&mut self, text: &str) {
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i].is_ascii_whitespace() {
                self.pending_space = true;
                i += 1;
                continue;
            }
            let start = i;
            while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            // Both ends are at ASCII bytes or the end, so on character boundaries.
            self.word(&text[start..i]);
        }
    }

    fn word(&mut self, word: &str) {
        if !self.out.is_empty() {
            if self.pending_newlines > 0 {
                let newlines = self.pending_newlines.min(2);
                self.out.extend(std::iter::repeat_n('\n', newlines));
            } else if self.pending_space {
                self.out.push(' ');
            }
        }
        self.pending_newlines = 0;
        self.pending_space = false;
        self.out.push_str(word);
    }

    fn space(&mut self) {
        self.pending_space = true;
    }

    /// Ends the current line (1) or paragraph (2); consecutive blocks do not add up.
    fn block(&mut self, newlines: usize) {
        self.pending_newlines = self.pending_newlines.max(newlines);
        self.pending_space = false;
    }

    /// `<br>` adds up: two of them leave a blank line.
    fn line_break(&mut self) {
        self.pending_newlines += 1;
        self.pending_space = false;
    }

    fn len(&self) -> usize {
        self.out.len()
    }

    fn since(&self, start: usize) -> &str {
        self.out.get(start..).unwrap_or("")
    }

    fn finish(mut self) -> String {
        let trimmed = self.out.trim_end().len();
        self.out.truncate(trimmed);
        if !self.out.is_empty() {
            self.out.push('\n');
        }
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_style_and_script_are_dropped_and_blocks_become_lines() {
        let html = "<!DOCTYPE html><html><head><title>T</title><style>p{color:red}</style></head>\
                    <body><h1>Hello  Ada</h1><p>First\n   paragraph.</p><div>A line</div>\
                    <script>alert(1)</script><!-- hidden --><p>Last<br>line</p></body></html>";
        assert_eq!(
            html_to_text(html),
            "Hello Ada\n\nFirst paragraph.\n\nA line\n\nLast\nline\n"
        );
    }

    #[test]
    fn links_show_their_url_unless_the_text_already_is_it() {
        let html = r##"<p><a href="https://x.example/a?b=1&amp;c=2">Read more</a> or
                      <a href='https://x.example/'>https://x.example/</a> <a href="#top">top</a>
                      <a href="mailto:hi@x.example">hi@x.example</a></p>"##;
        assert_eq!(
            html_to_text(html),
            "Read more (https://x.example/a?b=1&c=2) or https://x.example/ top hi@x.example\n"
        );
    }

    #[test]
    fn list_items_are_dashed_and_entities_decoded() {
        let html = "<ul><li>Tea &amp; cake</li><li>&lt;b&gt; &quot;x&quot; &#39;y&#39; a&nbsp;b &#x263A; &#8364;</li></ul>";
        assert_eq!(
            html_to_text(html),
            "- Tea & cake\n- <b> \"x\" 'y' a b ☺ €\n"
        );
    }

    #[test]
    fn table_cells_are_separated_and_images_show_their_alt_text() {
        let html = r#"<table><tr><td><a href="https://x.example/"><img src="l.png" alt="Logo"></a></td><td>News</td></tr></table>"#;
        assert_eq!(html_to_text(html), "Logo (https://x.example/) News\n");
    }

    #[test]
    fn stray_angle_brackets_and_unknown_entities_survive() {
        assert_eq!(
            html_to_text("1 < 2 &unknown; &amp"),
            "1 < 2 &unknown; &amp\n"
        );
        assert_eq!(html_to_text(""), "");
    }
}
