//! Webhook secrets at rest: sealed with ChaCha20-Poly1305 under a key derived from
//! `MAILROOM_SIGNING_KEY`, so the database never holds a secret in the clear (a secret must
//! stay usable to sign, so it cannot be hashed like an API key). Stored form:
//! `sealed:v1:<base64 of nonce ‖ ciphertext ‖ tag>`.

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use crate::error::{Error, Result};

const PREFIX: &str = "sealed:v1:";
const NONCE_LEN: usize = 12;

#[derive(Clone)]
pub struct SecretBox {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    /// The key is HMAC-SHA256(signing key, "mailroom webhook secrets v1"): tied to the
    /// signing key, which must therefore stay the same (it already must, for links).
    pub fn new(signing_key: &SecretString) -> SecretBox {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(signing_key.expose_secret().as_bytes())
            .unwrap_or_else(|_| {
                <Hmac<Sha256> as Mac>::new_from_slice(b"mailroom")
                    .unwrap_or_else(|_| unreachable!())
            });
        mac.update(b"mailroom webhook secrets v1");
        let key = mac.finalize().into_bytes();
        SecretBox {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
        }
    }

    pub fn seal(&self, secret: &str) -> String {
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce_bytes), secret.as_bytes())
            .unwrap_or_default();
        let mut bytes = nonce_bytes.to_vec();
        bytes.extend_from_slice(&sealed);
        format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        )
    }

    pub fn open(&self, stored: &str) -> Result<String> {
        let unreadable = || {
            Error::Internal(
                "a stored webhook secret cannot be opened (was MAILROOM_SIGNING_KEY changed?)"
                    .into(),
            )
        };
        let bytes = stored
            .strip_prefix(PREFIX)
            .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
            .filter(|b| b.len() > NONCE_LEN)
            .ok_or_else(unreadable)?;
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), sealed)
            .map_err(|_| unreadable())?;
        String::from_utf8(plain).map_err(|_| unreadable())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_round_trip_and_are_not_stored_in_the_clear() {
        let sealer = SecretBox::new(&SecretString::from("signing-key"));
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let stored = sealer.seal(secret);
        assert!(stored.starts_with("sealed:v1:"));
        assert!(!stored.contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
        assert_ne!(stored, sealer.seal(secret), "a fresh nonce each time");
        assert_eq!(sealer.open(&stored).unwrap(), secret);
        let other = SecretBox::new(&SecretString::from("another-key"));
        assert!(other.open(&stored).is_err());
        let mut tampered = stored.clone();
        tampered.pop();
        tampered.push('A');
        assert!(sealer.open(&tampered).is_err() || tampered == stored);
        assert!(sealer.open(secret).is_err());
    }
}
