//! Signing webhook deliveries the Standard Webhooks way
//! (<https://www.standardwebhooks.com>): an HMAC-SHA256 of `{id}.{timestamp}.{body}`
//! under an endpoint's secret, sent in `webhook-signature` as `v1,<base64>`. Receivers
//! verify it with any Standard Webhooks library.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// The header carrying the delivery's id, the first part of the signed content.
pub const WEBHOOK_ID_HEADER: &str = "webhook-id";
/// The header carrying the delivery's Unix time in seconds, the second part.
pub const WEBHOOK_TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// The header carrying the signatures, see [`signature_header`].
pub const WEBHOOK_SIGNATURE_HEADER: &str = "webhook-signature";

const SECRET_PREFIX: &str = "whsec_";
const SIGNATURE_VERSION: &str = "v1,";
/// Bytes of a generated secret.
const GENERATED_LEN: usize = 32;
/// The secret sizes the specification allows.
const MIN_LEN: usize = 24;
const MAX_LEN: usize = 64;

/// An endpoint's signing key. Shown to the account once, as `whsec_<base64>`; `Debug`
/// never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

/// Why a string is not a webhook secret. Messages never echo the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("is not a webhook secret: it must start with whsec_")]
    MissingPrefix,
    #[error("is not a webhook secret: the part after whsec_ is not base64")]
    NotBase64,
    #[error("is not a webhook secret: it must hold between 24 and 64 bytes")]
    WrongLength,
}

impl WebhookSecret {
    /// A new random secret of 32 bytes.
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; GENERATED_LEN];
        rand::rng().fill_bytes(&mut bytes);
        WebhookSecret(bytes)
    }

    /// Reads a secret written as `whsec_<standard base64>`, the form [`Display`]
    /// produces.
    ///
    /// [`Display`]: fmt::Display
    pub fn parse(input: &str) -> Result<Self, SecretError> {
        let encoded = input
            .trim()
            .strip_prefix(SECRET_PREFIX)
            .ok_or(SecretError::MissingPrefix)?;
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| SecretError::NotBase64)?;
        if !(MIN_LEN..=MAX_LEN).contains(&bytes.len()) {
            return Err(SecretError::WrongLength);
        }
        Ok(WebhookSecret(bytes))
    }

    fn mac(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
        // Only MACs with a fixed key size refuse a key; HMAC takes any, so the fallback
        // (whose signatures no receiver would accept) is never used.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| <Hmac<Sha256> as hmac::digest::KeyInit>::new(&Default::default()));
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

impl fmt::Display for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SECRET_PREFIX}{}", STANDARD.encode(&self.0))
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

/// The signature of one delivery under one secret: `v1,<standard base64>`.
pub fn sign(secret: &WebhookSecret, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = secret.mac(msg_id, timestamp, body).finalize().into_bytes();
    format!("{SIGNATURE_VERSION}{}", STANDARD.encode(tag))
}

/// The `webhook-signature` value: one signature per secret, separated by spaces. While a
/// secret is being rotated both are used, so receivers holding either accept it.
pub fn signature_header(
    secrets: &[&WebhookSecret],
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    secrets
        .iter()
        .map(|secret| sign(secret, msg_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether any `v1` signature in `header` is `secret`'s for this delivery, compared in
/// constant time. Checking the timestamp's age is the receiver's part.
pub fn verify(
    secret: &WebhookSecret,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
    header: &str,
) -> bool {
    header
        .split_whitespace()
        .filter_map(|signature| signature.strip_prefix(SIGNATURE_VERSION))
        .filter_map(|encoded| STANDARD.decode(encoded).ok())
        .any(|tag| {
            secret
                .mac(msg_id, timestamp, body)
                .verify_slice(&tag)
                .is_ok()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification and its reference libraries.
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_MSG_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TIMESTAMP: i64 = 1_614_265_330;
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn spec_secret() -> WebhookSecret {
        WebhookSecret::parse(SPEC_SECRET).unwrap()
    }

    #[test]
    fn signatures_match_the_specification_example() {
        assert_eq!(
            sign(&spec_secret(), SPEC_MSG_ID, SPEC_TIMESTAMP, SPEC_BODY),
            SPEC_SIGNATURE
        );
        assert!(verify(
            &spec_secret(),
            SPEC_MSG_ID,
            SPEC_TIMESTAMP,
            SPEC_BODY,
            SPEC_SIGNATURE
        ));
    }

    #[test]
    fn a_changed_id_timestamp_body_or_secret_fails_verification() {
        let secret = spec_secret();
        let verify_spec = |id: &str, ts: i64, body: &[u8], secret: &WebhookSecret| {
            verify(secret, id, ts, body, SPEC_SIGNATURE)
        };
        assert!(!verify_spec(
            "msg_other",
            SPEC_TIMESTAMP,
            SPEC_BODY,
            &secret
        ));
        assert!(!verify_spec(
            SPEC_MSG_ID,
            SPEC_TIMESTAMP + 1,
            SPEC_BODY,
            &secret
        ));
        assert!(!verify_spec(SPEC_MSG_ID, SPEC_TIMESTAMP, b"{}", &secret));
        assert!(!verify_spec(
            SPEC_MSG_ID,
            SPEC_TIMESTAMP,
            SPEC_BODY,
            &WebhookSecret::generate()
        ));
        for header in [
            "",
            "v1,",
            "v1,!!!",
            "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        ] {
            assert!(!verify(
                &secret,
                SPEC_MSG_ID,
                SPEC_TIMESTAMP,
                SPEC_BODY,
                header
            ));
        }
    }

    #[test]
    fn during_rotation_both_secrets_sign_and_either_verifies() {
        let old = spec_secret();
        let new = WebhookSecret::generate();
        let header = signature_header(&[&new, &old], SPEC_MSG_ID, SPEC_TIMESTAMP, SPEC_BODY);
        let signatures: Vec<&str> = header.split(' ').collect();
        assert_eq!(signatures.len(), 2);
        assert_eq!(signatures[1], SPEC_SIGNATURE);
        for secret in [&old, &new] {
            assert!(verify(
                secret,
                SPEC_MSG_ID,
                SPEC_TIMESTAMP,
                SPEC_BODY,
                &header
            ));
        }
        assert!(!verify(
            &WebhookSecret::generate(),
            SPEC_MSG_ID,
            SPEC_TIMESTAMP,
            SPEC_BODY,
            &header
        ));
        assert_eq!(
            signature_header(&[], SPEC_MSG_ID, SPEC_TIMESTAMP, SPEC_BODY),
            ""
        );
    }

    #[test]
    fn secrets_round_trip_through_their_text_form() {
        assert_eq!(spec_secret().to_string(), SPEC_SECRET);
        let secret = WebhookSecret::generate();
        let text = secret.to_string();
        assert!(text.starts_with("whsec_"), "{text}");
        assert_eq!(WebhookSecret::parse(&text), Ok(secret.clone()));
        assert_ne!(WebhookSecret::generate(), secret);
        assert_eq!(format!("{secret:?}"), "WebhookSecret(..)");
    }

    #[test]
    fn malformed_secrets_are_refused() {
        let short = format!("whsec_{}", STANDARD.encode([7u8; 23]));
        let long = format!("whsec_{}", STANDARD.encode([7u8; 65]));
        let cases = [
            (
                "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                SecretError::MissingPrefix,
            ),
            (
                "WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                SecretError::MissingPrefix,
            ),
            ("", SecretError::MissingPrefix),
            ("whsec_not base64!", SecretError::NotBase64),
            ("whsec_", SecretError::WrongLength),
            (short.as_str(), SecretError::WrongLength),
            (long.as_str(), SecretError::WrongLength),
        ];
        for (input, expected) in cases {
            assert_eq!(WebhookSecret::parse(input), Err(expected), "{input}");
        }
    }
}
