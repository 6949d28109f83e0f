//! The JSON body extractor: 415 for another content type, 413 past the size limit, 400 for
//! JSON that does not parse, and 422 naming the field when it parses but does not fit.

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use crate::problem::ApiError;

/// A JSON body, and the SHA-256 of its bytes (what an `Idempotency-Key` is bound to).
#[derive(Debug)]
pub struct ApiJson<T>(pub T, pub BodyDigest);

/// Hex SHA-256 of a request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyDigest(pub String);

impl BodyDigest {
    pub fn of(bytes: &[u8]) -> Self {
        use sha2::Digest;
        BodyDigest(
            sha2::Sha256::digest(bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        )
    }
}

impl<T> std::ops::Deref for ApiJson<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type_ok = is_json(req);
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !content_type_ok {
                return Err(ApiError::UnsupportedMediaType(
                    "send the body as application/json".into(),
                ));
            }
            let bytes = body.await.map_err(payload_error)?;
            let digest = BodyDigest::of(&bytes);
            parse_json(&bytes).map(|value| ApiJson(value, digest))
        })
    }
}

fn is_json(req: &HttpRequest) -> bool {
    match req.mime_type() {
        Ok(Some(mime)) => {
            mime.type_() == "application"
                && (mime.subtype() == "json" || mime.suffix().is_some_and(|s| s == "json"))
        }
        _ => false,
    }
}

pub fn payload_error(e: actix_web::Error) -> ApiError {
    match e.as_error::<PayloadError>() {
        Some(PayloadError::Overflow) => ApiError::PayloadTooLarge,
        _ if e.error_response().status() == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::PayloadTooLarge
        }
        _ => ApiError::Malformed(format!("the request body could not be read: {e}")),
    }
}

/// Whether a JSON text holds an escaped NUL (`\u0000`) in any string. Raw NUL bytes are
/// not valid JSON anyway; text columns (PostgreSQL's in particular) cannot hold either.
fn contains_escaped_nul(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            if bytes.get(i + 1) == Some(&b'u')
                && bytes.get(i + 2..i + 6) == Some(b"0000".as_slice())
            {
                return true;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

/// Parses a body, keeping the path of the field that did not fit.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if contains_escaped_nul(bytes) {
        return Err(ApiError::invalid(
            "body",
            "must not contain NUL characters (\\u0000)",
        ));
    }
    let mut body: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::Malformed(format!("the body is not valid JSON: {e}")))?;
    // Every JSON body is an object; serde would otherwise read a struct from an array.
    if !body.is_object() {
        return Err(ApiError::invalid("body", "must be a JSON object"));
    }
    integral_numbers_as_integers(&mut body);
    serde_path_to_error::deserialize(body).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let field = match (path.as_str(), missing_field(&inner)) {
            (".", Some(missing)) => missing,
            (".", None) => "body".into(),
            (_, Some(missing)) => format!("{path}.{missing}"),
            (_, None) => path,
        };
        ApiError::invalid(field, strip_position(&inner.to_string()))
    })
}

/// Reads a nested struct only from a JSON object: serde's derive would also read it from an
/// array of its fields in order (`{"limits": [5, 5]}`). For `#[serde(deserialize_with)]`.
pub fn object<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: DeserializeOwned,
{
    use serde::Deserialize;
    use serde::de::Error;
    let fields = serde_json::Map::<String, serde_json::Value>::deserialize(deserializer)?;
    serde_json::from_value(serde_json::Value::Object(fields)).map_err(D::Error::custom)
}

/// JSON does not tell `3` from `3.0`: a whole number written with a fraction is read as
/// the integer it is, so integer fields accept it as JSON Schema says they should.
fn integral_numbers_as_integers(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64()
                && f.fract() == 0.0
                && f.abs() < 9_007_199_254_740_992.0
            {
                *n = serde_json::Number::from(f as i64);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(integral_numbers_as_integers),
        serde_json::Value::Object(fields) => {
            fields.values_mut().for_each(integral_numbers_as_integers)
        }
        _ => {}
    }
}

/// serde names a missing field only in its message: "missing field `email`".
fn missing_field(e: &serde_json::Error) -> Option<String> {
    let text = e.to_string();
    let rest = text.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_owned())
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Body {
        email: String,
        inner: Option<Inner>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        count: u32,
    }

    fn field_of(e: ApiError) -> String {
        match e {
            ApiError::Validation(errors) => errors[0].field.clone(),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn nul_characters_are_refused_but_escaped_backslashes_are_not() {
        assert!(matches!(
            parse_json::<Body>(br#"{"email": "a\u0000b"}"#),
            Err(ApiError::Validation(_))
        ));
        assert!(parse_json::<Body>(br#"{"email": "a\\u0000b"}"#).is_ok());
    }

    #[test]
    fn a_whole_number_written_with_a_fraction_fits_an_integer_field() {
        let body = parse_json::<Body>(br#"{"email": "a@x.example", "inner": {"count": 1004.0}}"#);
        assert_eq!(
            body.map(|b| b.inner.map(|i| i.count)).ok().flatten(),
            Some(1004)
        );
        assert_eq!(
            field_of(
                parse_json::<Body>(br#"{"email": "a@x.example", "inner": {"count": 1.5}}"#)
                    .unwrap_err()
            ),
            "inner.count"
        );
    }

    #[test]
    fn a_body_that_is_not_an_object_is_refused() {
        assert_eq!(field_of(parse_json::<Body>(br#"[]"#).unwrap_err()), "body");
        assert_eq!(
            field_of(parse_json::<Body>(br#"["a@x.example", null]"#).unwrap_err()),
            "body"
        );
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(field_of(parse_json::<Body>(br#"{}"#).unwrap_err()), "email");
        assert_eq!(
            field_of(parse_json::<Body>(br#"{"email": 5}"#).unwrap_err()),
            "email"
        );
        assert_eq!(
            field_of(
                parse_json::<Body>(br#"{"email": "a", "inner": {"count": "x"}}"#).unwrap_err()
            ),
            "inner.count"
        );
        assert!(matches!(
            parse_json::<Body>(br#"{"email": "#),
            Err(ApiError::Malformed(_))
        ));
        assert!(matches!(
            parse_json::<Body>(br#"{"email": "a"} trailing"#),
            Err(ApiError::Malformed(_))
        ));
    }
}
