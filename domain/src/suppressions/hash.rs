//! The one-way, keyed hash that identifies a suppressed address.

use std::fmt;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use sha2::Sha256;

use crate::contacts::EmailAddress;

/// The HMAC key of address hashes (`MAILROOM_HASH_KEY`). The same for every account and
/// process, and never rotated: a new key would forget every erased address.
#[derive(Clone)]
pub struct HashKey(Arc<SecretSlice<u8>>);

impl HashKey {
    pub fn new(secret: &SecretString) -> Self {
        HashKey(Arc::new(SecretSlice::from(
            secret.expose_secret().as_bytes().to_vec(),
        )))
    }
}

impl fmt::Debug for HashKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HashKey([REDACTED])")
    }
}

/// Lower-case hex HMAC-SHA256 of the canonical address. [`EmailAddress`] is already
/// normalised (trimmed, lower-cased, punycode), so spellings of one address hash alike.
pub fn email_hash(key: &HashKey, email: &EmailAddress) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key.0.expose_secret()) else {
        unreachable!("HMAC accepts keys of any length")
    };
    mac.update(email.as_str().as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(secret: &str) -> HashKey {
        HashKey::new(&SecretString::from(secret))
    }

    fn email(raw: &str) -> EmailAddress {
        EmailAddress::parse(raw).unwrap()
    }

    #[test]
    fn the_hash_is_stable_lower_case_hex_hmac_sha256() {
        // Computed independently: Python's hmac.new(b"test-hash-key", b"ada@example.com",
        // hashlib.sha256).hexdigest(). A change here would forget every erased address.
        assert_eq!(
            email_hash(&key("test-hash-key"), &email("ada@example.com")),
            "d5be1296c7181102e5e7c13207e893d7c64fc4ee5c6fbe1a5d10f1d4aa28cb2c"
        );
    }

    #[test]
    fn the_hash_depends_on_the_key() {
        let address = email("ada@example.com");
        assert_ne!(
            email_hash(&key("one key"), &address),
            email_hash(&key("another key"), &address)
        );
    }

    #[test]
    fn spellings_of_one_address_hash_alike() {
        let k = key("test-hash-key");
        let canonical = email_hash(&k, &email("ada.lovelace@example.com"));
        assert_eq!(
            canonical,
            email_hash(&k, &email("  Ada.Lovelace@EXAMPLE.com "))
        );
        assert_ne!(
            canonical,
            email_hash(&k, &email("ada.lovelace@example.org"))
        );
    }

    #[test]
    fn the_key_never_shows_in_debug_output() {
        assert!(!format!("{:?}", key("topsecret")).contains("topsecret"));
    }
}
