//! Signed public tokens: the opaque part of links anyone may open (confirm, unsubscribe,
//! and later tracking). A token carries its own payload and a truncated HMAC-SHA256 of it
//! under `MAILROOM_SIGNING_KEY`, so a server verifies it without a lookup and a changed
//! byte makes it worthless.

use base64::Engine;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use crate::store::sql_types::{Id, Timestamp};

const TAG_LEN: usize = 16;

/// What a token stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicToken {
    /// Confirms a pending membership (double opt-in), until `expires_at`.
    Confirm {
        list_id: Id,
        contact_id: Id,
        expires_at: Timestamp,
    },
    /// Unsubscribes the recipient of a message from the list it was sent for.
    Unsubscribe { message_id: Id },
    /// The open pixel of a message.
    Open { message_id: Id },
    /// A tracked link of a message: the target is inside the signed token, so a click
    /// redirects to exactly the URL the token was minted for and nothing else.
    Click { message_id: Id, url: String },
}

#[derive(Clone)]
pub struct TokenSigner {
    /// Keyed once: every public hit verifies a token, and keying hashes two blocks.
    /// (HMAC takes a key of any length, so this is never `None` in practice.)
    mac: Option<Hmac<Sha256>>,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSigner(..)")
    }
}

impl TokenSigner {
    pub fn new(key: &SecretString) -> Self {
        TokenSigner {
            mac: Hmac::<Sha256>::new_from_slice(key.expose_secret().as_bytes()).ok(),
        }
    }

    fn tag(&self, payload: &[u8]) -> Vec<u8> {
        let Some(mut mac) = self.mac.clone() else {
            return vec![0; TAG_LEN];
        };
        mac.update(payload);
        mac.finalize().into_bytes()[..TAG_LEN].to_vec()
    }

    pub fn sign(&self, token: &PublicToken) -> String {
        let mut payload = Vec::with_capacity(64);
        match token {
            PublicToken::Confirm {
                list_id,
                contact_id,
                expires_at,
            } => {
                payload.push(1u8);
                payload.extend_from_slice(list_id.as_uuid().as_bytes());
                payload.extend_from_slice(contact_id.as_uuid().as_bytes());
                payload.extend_from_slice(&expires_at.timestamp().to_be_bytes());
            }
            PublicToken::Unsubscribe { message_id } => {
                payload.push(2u8);
                payload.extend_from_slice(message_id.as_uuid().as_bytes());
            }
            PublicToken::Open { message_id } => {
                payload.push(3u8);
                payload.extend_from_slice(message_id.as_uuid().as_bytes());
            }
            PublicToken::Click { message_id, url } => {
                payload.push(4u8);
                payload.extend_from_slice(message_id.as_uuid().as_bytes());
                payload.extend_from_slice(url.as_bytes());
            }
        }
        let tag = self.tag(&payload);
        payload.extend_from_slice(&tag);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload)
    }

    /// The token's meaning, if it was signed with this key (expiry is the caller's check).
    pub fn verify(&self, token: &str) -> Option<PublicToken> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.trim())
            .ok()?;
        if bytes.len() <= TAG_LEN {
            return None;
        }
        let (payload, tag) = bytes.split_at(bytes.len() - TAG_LEN);
        if !crate::config::constant_time_eq(&self.tag(payload), tag) {
            return None;
        }
        let id = |range: std::ops::Range<usize>| {
            payload
                .get(range)
                .and_then(|b| uuid::Uuid::from_slice(b).ok())
                .map(Id)
        };
        match (payload.first()?, payload.len()) {
            (1, 41) => {
                let secs = i64::from_be_bytes(payload.get(33..41)?.try_into().ok()?);
                Some(PublicToken::Confirm {
                    list_id: id(1..17)?,
                    contact_id: id(17..33)?,
                    expires_at: Timestamp::from(chrono::DateTime::from_timestamp(secs, 0)?),
                })
            }
            (2, 17) => Some(PublicToken::Unsubscribe {
                message_id: id(1..17)?,
            }),
            (3, 17) => Some(PublicToken::Open {
                message_id: id(1..17)?,
            }),
            (4, n) if n > 17 => Some(PublicToken::Click {
                message_id: id(1..17)?,
                url: String::from_utf8(payload.get(17..)?.to_vec()).ok()?,
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(key: &str) -> TokenSigner {
        TokenSigner::new(&SecretString::from(key))
    }

    #[test]
    fn tokens_round_trip_and_resist_tampering() {
        let token = PublicToken::Confirm {
            list_id: Id::new(),
            contact_id: Id::new(),
            expires_at: Timestamp::from(
                chrono::DateTime::from_timestamp(1_900_000_000, 0).unwrap(),
            ),
        };
        let signed = signer("k").sign(&token);
        assert_eq!(signer("k").verify(&signed), Some(token));
        assert_eq!(signer("other").verify(&signed), None);
        let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&signed)
            .unwrap();
        bytes[3] ^= 1;
        let tampered = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        assert_eq!(signer("k").verify(&tampered), None);
        assert_eq!(signer("k").verify("garbage!"), None);
        assert_eq!(signer("k").verify(""), None);
    }

    #[test]
    fn click_tokens_carry_exactly_their_url() {
        let message_id = Id::new();
        let url = "https://shop.example/sale?utm=news&x=ü".to_owned();
        let signed = signer("k").sign(&PublicToken::Click {
            message_id,
            url: url.clone(),
        });
        assert_eq!(
            signer("k").verify(&signed),
            Some(PublicToken::Click { message_id, url })
        );
        // Another URL cannot be swapped in without the key.
        let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&signed)
            .unwrap();
        let at = 17 + 8;
        bytes[at] = b'X';
        let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        assert_eq!(signer("k").verify(&forged), None);
        let open = signer("k").sign(&PublicToken::Open { message_id });
        assert!(open.len() < 50);
        assert_eq!(
            signer("k").verify(&open),
            Some(PublicToken::Open { message_id })
        );
    }

    #[test]
    fn unsubscribe_tokens_are_compact() {
        let signed = signer("k").sign(&PublicToken::Unsubscribe {
            message_id: Id::new(),
        });
        assert!(signed.len() < 50, "{signed}");
        assert!(matches!(
            signer("k").verify(&signed),
            Some(PublicToken::Unsubscribe { .. })
        ));
    }
}
