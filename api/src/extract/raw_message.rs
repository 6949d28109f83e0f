//! A raw RFC 5322 message as a request body: 415 for a content type that cannot be one,
//! 413 past the size limit, 422 when empty. The bytes themselves are never refused: what
//! they hold is for the report parser to judge.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::future::LocalBoxFuture;

use super::json::{BodyDigest, payload_error};
use crate::problem::ApiError;

/// The media types a message may arrive as: what a mail server hands over
/// (`message/rfc822`, `message/global` for internationalized mail), and what generic
/// HTTP tools send raw bytes as.
pub const MESSAGE_TYPES: [(&str, &str); 4] = [
    ("message", "rfc822"),
    ("message", "global"),
    ("text", "plain"),
    ("application", "octet-stream"),
];

/// The body's bytes and their SHA-256 (what an `Idempotency-Key` is bound to).
#[derive(Debug)]
pub struct RawMessage(pub web::Bytes, pub BodyDigest);

impl FromRequest for RawMessage {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type_ok = is_message(req);
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !content_type_ok {
                return Err(ApiError::UnsupportedMediaType(
                    "send the raw message as message/rfc822 (or message/global, text/plain, \
                     application/octet-stream)"
                        .into(),
                ));
            }
            let bytes = body.await.map_err(payload_error)?;
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Err(ApiError::invalid(
                    "body",
                    "must hold the message; it is empty",
                ));
            }
            let digest = BodyDigest::of(&bytes);
            Ok(RawMessage(bytes, digest))
        })
    }
}

fn is_message(req: &HttpRequest) -> bool {
    match req.mime_type() {
        Ok(Some(mime)) => MESSAGE_TYPES.iter().any(|(ctype, subtype)| {
            mime.type_().as_str().eq_ignore_ascii_case(ctype)
                && mime.subtype().as_str().eq_ignore_ascii_case(subtype)
        }),
        _ => false,
    }
}
