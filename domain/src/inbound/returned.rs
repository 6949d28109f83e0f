//! Reading the headers a report quotes: of the returned message, and of the report.

use mail_parser::{Header, HeaderName, HeaderValue, Message, MessageParser, MessagePart};

use super::report::ReturnedHeaders;

const MAILROOM_MESSAGE_ID: &str = "X-Mailroom-Message-Id";

/// The headers quoted by a report's third part: a whole message (which mail-parser has
/// already parsed, unless it was too broken to) or headers alone.
pub(crate) fn returned_headers(part: &MessagePart<'_>) -> ReturnedHeaders {
    if let Some(message) = part.message() {
        return from_headers(root_headers(message));
    }
    MessageParser::default()
        .parse_headers(part.contents())
        .map(|message| from_headers(root_headers(&message)))
        .unwrap_or_default()
}

/// Every address in the message's own `To:`.
pub(crate) fn to_addresses(message: &Message<'_>) -> Vec<String> {
    match header(root_headers(message), &HeaderName::To) {
        Some(HeaderValue::Address(address)) => address
            .iter()
            .filter_map(|addr| addr.address())
            .map(str::trim)
            .filter(|addr| !addr.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// The top-level headers; none for a message mail-parser gave no parts (it indexes
/// `parts[0]` itself, so its accessors are not used here).
pub(crate) fn root_headers<'m, 'x>(message: &'m Message<'x>) -> &'m [Header<'x>] {
    message
        .parts
        .first()
        .map_or(&[], |part| part.headers.as_slice())
}

fn from_headers(headers: &[Header<'_>]) -> ReturnedHeaders {
    let message_id = match header(headers, &HeaderName::MessageId) {
        Some(HeaderValue::Text(id)) => without_brackets(id),
        Some(HeaderValue::TextList(ids)) => ids.first().and_then(|id| without_brackets(id)),
        _ => None,
    };
    let mailroom_message_id = match header(headers, &HeaderName::Other(MAILROOM_MESSAGE_ID.into()))
    {
        Some(HeaderValue::Text(id)) => Some(id.trim()).filter(|id| !id.is_empty()),
        _ => None,
    }
    .map(str::to_owned);
    let to = match header(headers, &HeaderName::To) {
        Some(HeaderValue::Address(address)) => address
            .first()
            .and_then(|addr| addr.address())
            .map(str::to_owned),
        _ => None,
    };
    ReturnedHeaders {
        message_id,
        mailroom_message_id,
        to,
    }
}

/// The first header called `name` (any case).
fn header<'h, 'x>(headers: &'h [Header<'x>], name: &HeaderName<'_>) -> Option<&'h HeaderValue<'x>> {
    headers
        .iter()
        .find(|header| &header.name == name)
        .map(|header| &header.value)
}

fn without_brackets(id: &str) -> Option<String> {
    let id = id.trim();
    let id = id.strip_prefix('<').unwrap_or(id);
    let id = id.strip_suffix('>').unwrap_or(id).trim();
    (!id.is_empty()).then(|| id.to_owned())
}
