//! Access tokens: HS256 JWTs naming the account, the key and its scopes.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use mailroom_domain::Id;
use mailroom_domain::accounts::ScopeSet;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

const ISSUER: &str = "mailroom";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The API key the token was issued for.
    pub sub: String,
    /// The account every request with this token acts on.
    pub acct: String,
    pub scopes: Vec<String>,
    pub iss: String,
    pub iat: u64,
    pub exp: u64,
}

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub lifetime: Duration,
}

/// What a valid token says.
#[derive(Debug, Clone)]
pub struct TokenSubject {
    pub key_id: Id,
    pub account_id: Id,
    pub scopes: ScopeSet,
}

impl TokenKeys {
    pub fn new(
        secret: &SecretString,
        lifetime: Duration,
    ) -> Result<Self, jsonwebtoken::errors::Error> {
        let bytes = secret.expose_secret().as_bytes();
        // Only HS256 is accepted: `alg: none` and every other algorithm fail validation.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 5;
        Ok(TokenKeys {
            encoding: EncodingKey::from_secret(bytes)?,
            decoding: DecodingKey::from_secret(bytes)?,
            validation,
            lifetime,
        })
    }

    pub fn issue(
        &self,
        key_id: Id,
        account_id: Id,
        scopes: &ScopeSet,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        let claims = Claims {
            sub: key_id.to_string(),
            acct: account_id.to_string(),
            scopes: scopes.names(),
            iss: ISSUER.into(),
            iat: now,
            exp: now + self.lifetime.as_secs(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// Checks signature, algorithm, issuer and expiry; `None` for anything invalid.
    pub fn verify(&self, token: &str) -> Option<TokenSubject> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).ok()?;
        Some(TokenSubject {
            key_id: data.claims.sub.parse().ok()?,
            account_id: data.claims.acct.parse().ok()?,
            scopes: ScopeSet::from_names(&data.claims.scopes),
        })
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new(&SecretString::from("test-secret"), Duration::from_secs(60)).unwrap()
    }

    #[test]
    fn issued_tokens_verify() {
        let (key, acct) = (Id::new(), Id::new());
        let token = keys().issue(key, acct, &ScopeSet::all()).unwrap();
        let subject = keys().verify(&token).unwrap();
        assert_eq!(subject.key_id, key);
        assert_eq!(subject.account_id, acct);
        assert_eq!(subject.scopes, ScopeSet::all());
    }

    #[test]
    fn tampered_and_unsigned_tokens_fail() {
        let token = keys()
            .issue(Id::new(), Id::new(), &ScopeSet::all())
            .unwrap();
        let mut parts: Vec<&str> = token.split('.').collect();
        let none_header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"alg":"none","typ":"JWT"}"#);
        parts[0] = &none_header;
        assert!(
            keys()
                .verify(&format!("{}.{}.", parts[0], parts[1]))
                .is_none()
        );
        let other = TokenKeys::new(&SecretString::from("other"), Duration::from_secs(60)).unwrap();
        assert!(other.verify(&token).is_none());
    }
}
