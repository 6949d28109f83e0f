//! The built message, read back by an independent parser (mail-parser).

use mail_parser::{MessageParser, MimeHeaders};

use super::*;
use crate::Id;

fn rendered(html: Option<&str>) -> Rendered {
    Rendered {
        subject: "Ünïcode news — June ✉".into(),
        html: html.map(Into::into),
        text: "Hello Ada,\nline two ü\n".into(),
    }
}

fn input(rendered: &Rendered, message_id: Id) -> MimeInput<'_> {
    MimeInput {
        message_id,
        from: Address {
            email: "news@shop.example".into(),
            name: Some("Café Shop, Ltd.".into()),
        },
        to: Address {
            email: "ada@example.com".into(),
            name: Some("Ada Lovelace".into()),
        },
        reply_to: Some(Address {
            email: "help@shop.example".into(),
            name: None,
        }),
        rendered,
        list_unsubscribe: Some(ListUnsubscribe {
            https_url: format!(
                "https://mailroom.example/v1/unsubscribe/{}",
                "t".repeat(120)
            ),
            mailto: Some("unsubscribe+tok@mailroom.example".into()),
        }),
        envelope_from: verp_address(message_id, "bounces.shop.example"),
        extra_headers: vec![("X-Order-Id".into(), "A-17".into())],
        message_id_domain: "shop.example".into(),
    }
}

fn raw_header<'a>(message: &'a mail_parser::Message<'a>, name: &str) -> String {
    let raw = message
        .header_raw(name)
        .unwrap_or_else(|| panic!("missing header {name}"));
    // Unfold: a folded header is the same header (RFC 5322 §2.2.3).
    raw.replace("\r\n", "").trim().to_owned()
}

#[test]
fn an_html_message_is_multipart_alternative_with_mailroom_headers() {
    let id = Id::new();
    let rendered = rendered(Some("<p>Hello <b>Ada</b> ü</p>"));
    let built = build_mime(&input(&rendered, id)).unwrap();
    assert!(
        built.raw.windows(2).all(|w| w[1] != b'\n' || w[0] == b'\r'),
        "bare LF in output"
    );
    assert!(built.raw.is_ascii());
    assert_eq!(built.to, "ada@example.com");
    assert_eq!(
        built.envelope_from,
        verp_address(id, "bounces.shop.example")
    );

    let message = MessageParser::default().parse(&built.raw).unwrap();
    let content_type = message.root_part().content_type().unwrap();
    assert_eq!(content_type.ctype(), "multipart");
    assert_eq!(content_type.subtype(), Some("alternative"));
    assert_eq!(message.text_body_count(), 1);
    assert_eq!(message.html_body_count(), 1);
    assert_eq!(
        message.body_text(0).unwrap().replace("\r\n", "\n"),
        "Hello Ada,\nline two ü\n"
    );
    assert_eq!(
        message.body_html(0).unwrap().trim_end(),
        "<p>Hello <b>Ada</b> ü</p>"
    );
    // text/plain comes first: clients pick the last alternative they can show.
    let text_part = message.text_part(0).unwrap();
    let html_part = message.html_part(0).unwrap();
    assert!(text_part.raw_header_offset() < html_part.raw_header_offset());
    assert_eq!(
        text_part.content_type().unwrap().attribute("charset"),
        Some("utf-8")
    );

    assert_eq!(message.subject(), Some("Ünïcode news — June ✉"));
    let from = message.from().unwrap().first().unwrap();
    assert_eq!(from.name(), Some("Café Shop, Ltd."));
    assert_eq!(from.address(), Some("news@shop.example"));
    assert_eq!(
        message.to().unwrap().first().unwrap().name(),
        Some("Ada Lovelace")
    );
    assert_eq!(
        message.reply_to().unwrap().first().unwrap().address(),
        Some("help@shop.example")
    );
    assert_eq!(
        message.message_id(),
        Some(format!("{id}@shop.example").as_str())
    );
    assert!(message.date().is_some());
    assert_eq!(raw_header(&message, "MIME-Version"), "1.0");

    let list_unsubscribe = raw_header(&message, "List-Unsubscribe");
    assert_eq!(
        list_unsubscribe
            .split(',')
            .map(str::trim)
            .collect::<Vec<_>>(),
        [
            format!(
                "<https://mailroom.example/v1/unsubscribe/{}>",
                "t".repeat(120)
            ),
            "<mailto:unsubscribe+tok@mailroom.example>".to_owned(),
        ]
    );
    assert_eq!(
        raw_header(&message, "List-Unsubscribe-Post"),
        "List-Unsubscribe=One-Click"
    );
    assert_eq!(
        raw_header(&message, "X-Mailroom-Message-Id"),
        id.to_string()
    );
    assert_eq!(raw_header(&message, "X-Order-Id"), "A-17");
}

#[test]
fn long_header_lines_are_folded() {
    let rendered = rendered(Some("<p>x</p>"));
    let built = build_mime(&input(&rendered, Id::new())).unwrap();
    let text = String::from_utf8(built.raw.clone()).unwrap();
    let head = text.split("\r\n\r\n").next().unwrap();
    assert!(head.split("\r\n").all(|line| line.len() <= 998));
    assert!(head.contains("List-Unsubscribe: <https://"));
    let (_, value) = built
        .headers
        .iter()
        .find(|(name, _)| name == "List-Unsubscribe")
        .unwrap();
    assert!(
        value.ends_with("<mailto:unsubscribe+tok@mailroom.example>"),
        "{value}"
    );
}

#[test]
fn a_message_without_html_is_a_single_text_part() {
    let rendered = rendered(None);
    let mut input = input(&rendered, Id::new());
    input.list_unsubscribe = None;
    input.reply_to = None;
    let built = build_mime(&input).unwrap();
    let message = MessageParser::default().parse(&built.raw).unwrap();
    let content_type = message.root_part().content_type().unwrap();
    assert_eq!(
        (content_type.ctype(), content_type.subtype()),
        ("text", Some("plain"))
    );
    // lettre ends a single-part body with one more CRLF.
    assert_eq!(
        message.body_text(0).unwrap().trim_end(),
        "Hello Ada,\r\nline two ü"
    );
    assert!(message.header_raw("List-Unsubscribe").is_none());
    assert!(message.header_raw("Reply-To").is_none());
}

#[test]
fn headers_for_display_are_the_top_level_ones() {
    let rendered = rendered(Some("<p>x</p>"));
    let built = build_mime(&input(&rendered, Id::new())).unwrap();
    let names: Vec<&str> = built
        .headers
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    for expected in [
        "Message-ID",
        "Date",
        "From",
        "To",
        "Reply-To",
        "Subject",
        "MIME-Version",
        "Content-Type",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    assert_eq!(
        names
            .iter()
            .filter(|name| name.eq_ignore_ascii_case("content-type"))
            .count(),
        1
    );
}

#[test]
fn a_custom_header_with_a_line_break_is_refused() {
    let rendered = rendered(Some("<p>x</p>"));
    let mut input = input(&rendered, Id::new());
    input.extra_headers = vec![(
        "X-Order-Id".into(),
        "A-17\r\nBcc: victim@example.com".into(),
    )];
    assert!(matches!(
        build_mime(&input),
        Err(MimeError::InvalidHeader(_))
    ));
    input.extra_headers = vec![("List-Unsubscribe".into(), "<https://evil.example/>".into())];
    assert!(matches!(
        build_mime(&input),
        Err(MimeError::InvalidHeader(_))
    ));
}

#[test]
fn invalid_addresses_are_errors_not_panics() {
    let rendered = rendered(None);
    let mut input = input(&rendered, Id::new());
    input.to.email = "not an address".into();
    assert!(matches!(
        build_mime(&input),
        Err(MimeError::InvalidAddress { field: "to", .. })
    ));
    let mut input = self::input(&rendered, Id::new());
    input.envelope_from = "nope".into();
    assert!(matches!(
        build_mime(&input),
        Err(MimeError::InvalidAddress { .. })
    ));
}

#[test]
fn return_path_is_prepended_as_a_delivering_server_would() {
    let id = Id::new();
    let rendered = rendered(None);
    let built = build_mime(&input(&rendered, id)).unwrap();
    let stored = with_return_path(&built);
    assert!(stored.starts_with("Return-Path: <"));
    assert!(stored.starts_with(&format!(
        "Return-Path: <{}>\r\n",
        verp_address(id, "bounces.shop.example")
    )));
    let message = MessageParser::default().parse(stored.as_bytes()).unwrap();
    assert_eq!(message.return_address(), Some(built.envelope_from.as_str()));
    assert_eq!(message_id_from_verp(&built.envelope_from), Some(id));
}

#[test]
fn long_lines_and_mixed_scripts_survive_transfer_encoding() {
    let html = format!(
        "<p>{}</p>\n<p>= Grüße\t☺ &amp; trailing  \n</p>",
        "word ".repeat(400)
    );
    let text = "Plain ASCII only\nwith short lines\n".to_owned();
    let rendered = Rendered {
        subject: "s".into(),
        html: Some(html.clone()),
        text: text.clone(),
    };
    let built = build_mime(&input(&rendered, Id::new())).unwrap();
    let raw = String::from_utf8(built.raw.clone()).unwrap();
    assert!(raw.split("\r\n").all(|line| line.len() <= 998));
    assert!(raw.contains("Content-Transfer-Encoding: 7bit"));
    assert!(raw.contains("Content-Transfer-Encoding: quoted-printable"));
    let message = MessageParser::default().parse(&built.raw).unwrap();
    assert_eq!(
        message.body_html(0).unwrap().trim_end(),
        html.replace('\n', "\r\n")
    );
    assert_eq!(
        message.body_text(0).unwrap().trim_end(),
        text.trim_end().replace('\n', "\r\n")
    );
}
