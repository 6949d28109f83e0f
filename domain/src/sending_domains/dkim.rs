//! DKIM keys and signatures. Keys are made with aws-lc-rs (RSA-2048 by default, Ed25519 on
//! request) and kept as PKCS#8; messages are signed with Stalwart's `mail-auth`,
//! relaxed/relaxed, over the headers a receiver needs to trust (RFC 6376 §5.4, and RFC 8058
//! for the one-click unsubscribe pair). Headers named but absent are signed as absent, so
//! nobody can add them on the way.

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::KeyPair;
use base64::Engine;
use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::{Canonicalization, DkimSigner, Done};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The headers every signature covers.
pub const DKIM_SIGNED_HEADERS: &[&str] = &[
    "From",
    "Reply-To",
    "Sender",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "List-Id",
];

/// The key type of a domain's DKIM key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DkimAlgorithm {
    /// RSA-2048 with SHA-256 (`rsa-sha256`): what every receiver verifies.
    Rsa,
    /// Ed25519 with SHA-256 (`ed25519-sha256`, RFC 8463): small and fast, but not yet
    /// verified by every receiver.
    Ed25519,
}

impl DkimAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            DkimAlgorithm::Rsa => "rsa",
            DkimAlgorithm::Ed25519 => "ed25519",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "rsa" => Some(DkimAlgorithm::Rsa),
            "ed25519" => Some(DkimAlgorithm::Ed25519),
            _ => None,
        }
    }

    /// The value of the DKIM key record (`<selector>._domainkey.<domain>` TXT).
    pub fn key_record(self, public_key_b64: &str) -> String {
        format!("v=DKIM1; k={}; p={public_key_b64}", self.as_str())
    }
}

/// A key pair just made: the private half as PKCS#8 DER, the public half as the base64
/// DKIM's `p=` carries (SubjectPublicKeyInfo for RSA, the raw 32 bytes for Ed25519).
pub struct DkimKeyPair {
    pub algorithm: DkimAlgorithm,
    pub private_pkcs8: Vec<u8>,
    pub public_key_b64: String,
}

impl fmt::Debug for DkimKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DkimKeyPair")
            .field("algorithm", &self.algorithm)
            .field("public_key_b64", &self.public_key_b64)
            .finish_non_exhaustive()
    }
}

fn key_error(what: &str) -> Error {
    Error::Internal(format!("DKIM key: {what}"))
}

impl DkimKeyPair {
    pub fn generate(algorithm: DkimAlgorithm) -> Result<Self> {
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        match algorithm {
            DkimAlgorithm::Rsa => {
                let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                    .map_err(|_| key_error("RSA generation failed"))?;
                let private = pair.as_der().map_err(|_| key_error("RSA export failed"))?;
                let public = pair
                    .public_key()
                    .as_der()
                    .map_err(|_| key_error("RSA public export failed"))?;
                Ok(DkimKeyPair {
                    algorithm,
                    private_pkcs8: private.as_ref().to_vec(),
                    public_key_b64: b64(public.as_ref()),
                })
            }
            DkimAlgorithm::Ed25519 => {
                let pair = aws_lc_rs::signature::Ed25519KeyPair::generate()
                    .map_err(|_| key_error("Ed25519 generation failed"))?;
                let private: aws_lc_rs::encoding::Pkcs8V1Der<'static> = pair
                    .as_der()
                    .map_err(|_| key_error("Ed25519 export failed"))?;
                Ok(DkimKeyPair {
                    algorithm,
                    private_pkcs8: private.as_ref().to_vec(),
                    public_key_b64: b64(pair.public_key().as_ref()),
                })
            }
        }
    }
}

enum Key {
    Rsa(DkimSigner<RsaKey<Sha256>, Done>),
    Ed25519(DkimSigner<Ed25519Key, Done>),
}

/// Signs messages from one domain with one key (made once, used for many messages).
pub struct DomainSigner {
    key: Key,
}

impl fmt::Debug for DomainSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DomainSigner(..)")
    }
}

impl DomainSigner {
    pub fn new(
        domain: &str,
        selector: &str,
        algorithm: DkimAlgorithm,
        private_pkcs8: &[u8],
    ) -> Result<Self> {
        let key = match algorithm {
            DkimAlgorithm::Rsa => Key::Rsa(
                DkimSigner::from_key(
                    RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                        private_pkcs8,
                    )))
                    .map_err(|e| key_error(&format!("unreadable RSA key: {e}")))?,
                )
                .domain(domain)
                .selector(selector)
                .headers(DKIM_SIGNED_HEADERS.iter().copied())
                .header_canonicalization(Canonicalization::Relaxed)
                .body_canonicalization(Canonicalization::Relaxed),
            ),
            DkimAlgorithm::Ed25519 => Key::Ed25519(
                DkimSigner::from_key(
                    Ed25519Key::from_pkcs8_der(private_pkcs8)
                        .map_err(|e| key_error(&format!("unreadable Ed25519 key: {e}")))?,
                )
                .domain(domain)
                .selector(selector)
                .headers(DKIM_SIGNED_HEADERS.iter().copied())
                .header_canonicalization(Canonicalization::Relaxed)
                .body_canonicalization(Canonicalization::Relaxed),
            ),
        };
        Ok(DomainSigner { key })
    }

    /// The `DKIM-Signature:` header field (ending in CRLF) to put above the message.
    pub fn signature_header(&self, message: &[u8]) -> Result<String> {
        let signature = match &self.key {
            Key::Rsa(signer) => signer.sign(message),
            Key::Ed25519(signer) => signer.sign(message),
        }
        .map_err(|e| Error::Internal(format!("DKIM signing failed: {e}")))?;
        Ok(signature.to_header())
    }

    /// The message with its signature on top.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        let header = self.signature_header(message)?;
        let mut signed = Vec::with_capacity(header.len() + message.len());
        signed.extend_from_slice(header.as_bytes());
        signed.extend_from_slice(message);
        Ok(signed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESSAGE: &[u8] = b"From: News <news@example.com>\r\nTo: a@example.org\r\nSubject: Hello\r\nDate: Mon, 7 Dec 2026 10:00:00 +0000\r\nMessage-ID: <1@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nList-Unsubscribe: <https://mail.example.com/u/x>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n\r\nHello there.\r\n";

    #[test]
    fn both_key_types_sign_with_the_domain_and_selector() {
        for algorithm in [DkimAlgorithm::Rsa, DkimAlgorithm::Ed25519] {
            let pair = DkimKeyPair::generate(algorithm).unwrap();
            let signer =
                DomainSigner::new("example.com", "mr1", algorithm, &pair.private_pkcs8).unwrap();
            let header = signer.signature_header(MESSAGE).unwrap();
            assert!(header.starts_with("DKIM-Signature: "), "{header}");
            assert!(header.contains("d=example.com"), "{header}");
            assert!(header.contains("s=mr1"), "{header}");
            assert!(header.contains("c=relaxed/relaxed"), "{header}");
            let unfolded = header
                .replace("\r\n", "")
                .replace([' ', '\t'], "")
                .to_lowercase();
            assert!(unfolded.contains("list-unsubscribe-post"), "{header}");
            assert!(!format!("{pair:?}").contains("private_pkcs8:"));
        }
    }
}
