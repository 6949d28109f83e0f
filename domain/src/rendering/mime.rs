//! Building the RFC 5322 message a relay receives.
//!
//! lettre's builder does the parts that are easy to get subtly wrong: RFC 2047 encoding
//! of non-ASCII names and subjects, header folding, transfer encodings and MIME
//! boundaries. This module decides which headers a Mailroom message carries.

use std::time::SystemTime;

use lettre::Message;
use lettre::message::MessageBuilder;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use serde::{Deserialize, Serialize};

use super::headers::{ListUnsubscribe, validate_custom_header};
use super::render::Rendered;
use super::transfer_encoding::encode_text_body;
use crate::Id;

/// A mailbox: an address and an optional display name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub email: String,
    pub name: Option<String>,
}

/// Everything one message needs besides its rendered content.
#[derive(Debug, Clone)]
pub struct MimeInput<'a> {
    pub message_id: Id,
    pub from: Address,
    pub to: Address,
    pub reply_to: Option<Address>,
    pub rendered: &'a Rendered,
    /// Present on marketing mail (promise 1), absent on transactional mail.
    pub list_unsubscribe: Option<ListUnsubscribe>,
    /// The VERP return path, see [`verp_address`](super::verp_address).
    pub envelope_from: String,
    /// A transactional send's custom headers, checked by [`validate_custom_header`].
    pub extra_headers: Vec<(String, String)>,
    /// Right-hand side of the Message-ID: the sending domain, not the worker's hostname.
    pub message_id_domain: String,
}

/// A message ready for SMTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltMessage {
    /// `MAIL FROM`.
    pub envelope_from: String,
    /// `RCPT TO`.
    pub to: String,
    /// The whole RFC 5322 message, CRLF line endings.
    pub raw: Vec<u8>,
    /// The top-level headers as written (encoded, unfolded), for display.
    pub headers: Vec<(String, String)>,
}

/// Why a message could not be built. Inputs come from the account's settings and the
/// contact, so these are reported, never panicked on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MimeError {
    /// The address itself is left out: errors end up in logs, addresses must not.
    #[error("the {field} address is not a valid email address")]
    InvalidAddress { field: &'static str },
    #[error("invalid header: {0}")]
    InvalidHeader(String),
    #[error("the message could not be built: {0}")]
    Build(String),
}

/// Builds the message: `multipart/alternative` (text, then HTML) when there is HTML,
/// a single `text/plain` part otherwise.
pub fn build_mime(input: &MimeInput) -> Result<BuiltMessage, MimeError> {
    let to = mailbox("to", &input.to)?;
    // Parsed only to refuse an envelope sender no relay would accept.
    lettre::Address::try_from(input.envelope_from.clone()).map_err(|_| {
        MimeError::InvalidAddress {
            field: "envelope from",
        }
    })?;

    let mut builder = Message::builder()
        .message_id(Some(format!(
            "<{}@{}>",
            input.message_id, input.message_id_domain
        )))
        .date(SystemTime::now())
        .from(mailbox("from", &input.from)?)
        .to(to.clone());
    if let Some(reply_to) = &input.reply_to {
        builder = builder.reply_to(mailbox("reply-to", reply_to)?);
    }
    builder = with_extra_headers(builder.subject(input.rendered.subject.clone()), input)?;

    let text = part(ContentType::TEXT_PLAIN, &input.rendered.text);
    let message = match &input.rendered.html {
        // Text first: clients show the last alternative they understand.
        Some(html) => builder.multipart(
            MultiPart::alternative()
                .singlepart(text)
                .singlepart(part(ContentType::TEXT_HTML, html)),
        ),
        None => builder.singlepart(text),
    }
    .map_err(|err| MimeError::Build(err.to_string()))?;

    let raw = message.formatted();
    Ok(BuiltMessage {
        envelope_from: input.envelope_from.clone(),
        to: to.email.to_string(),
        headers: top_level_headers(&raw),
        raw,
    })
}

/// Mailroom's own headers, then the account's custom ones (validated again here: a
/// header that skipped the API's check must still not reach the wire).
fn with_extra_headers(
    mut builder: MessageBuilder,
    input: &MimeInput,
) -> Result<MessageBuilder, MimeError> {
    builder = builder.raw_header(raw_header(
        "X-Mailroom-Message-Id",
        input.message_id.to_string(),
    )?);
    if let Some(list_unsubscribe) = &input.list_unsubscribe {
        list_unsubscribe
            .validate()
            .map_err(MimeError::InvalidHeader)?;
        builder = builder
            .raw_header(raw_header(
                "List-Unsubscribe",
                list_unsubscribe.header_value(),
            )?)
            .raw_header(raw_header(
                "List-Unsubscribe-Post",
                "List-Unsubscribe=One-Click".into(),
            )?);
    }
    for (name, value) in &input.extra_headers {
        validate_custom_header(name, value).map_err(MimeError::InvalidHeader)?;
        builder = builder.raw_header(raw_header(name, value.clone())?);
    }
    Ok(builder)
}

/// The message as the receiving server stores it: the envelope sender recorded in
/// `Return-Path`, the way the sandbox mailbox and `.eml` downloads show it.
pub fn with_return_path(built: &BuiltMessage) -> String {
    format!(
        "Return-Path: <{}>\r\n{}",
        built.envelope_from,
        String::from_utf8_lossy(&built.raw)
    )
}

fn mailbox(field: &'static str, address: &Address) -> Result<Mailbox, MimeError> {
    let email = lettre::Address::try_from(address.email.trim().to_owned())
        .map_err(|_| MimeError::InvalidAddress { field })?;
    // lettre would encode a line break in a name safely; a display name is one line anyway.
    let name = address
        .name
        .as_deref()
        .map(|name| {
            name.split(char::is_control)
                .filter(|part| !part.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty());
    Ok(Mailbox::new(name, email))
}

/// A UTF-8 part of type `content_type`, see [`encode_text_body`].
fn part(content_type: ContentType, content: &str) -> SinglePart {
    SinglePart::builder()
        .header(content_type)
        .body(encode_text_body(content))
}

fn raw_header(name: &str, value: String) -> Result<HeaderValue, MimeError> {
    let name = HeaderName::new_from_ascii(name.to_owned()).map_err(|_| {
        MimeError::InvalidHeader(format!(
            "'{}' is not a valid header name",
            name.escape_default()
        ))
    })?;
    // `HeaderValue::new` RFC 2047-encodes non-ASCII and folds long values.
    Ok(HeaderValue::new(name, value))
}

/// The header block of `raw` split into unfolded `(name, value)` pairs.
fn top_level_headers(raw: &[u8]) -> Vec<(String, String)> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let block = String::from_utf8_lossy(&raw[..end]);
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in block.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push_str(line);
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.to_owned(), value.trim_start().to_owned()));
        }
    }
    headers
}
