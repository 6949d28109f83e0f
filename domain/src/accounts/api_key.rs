//! API keys: an id and a secret that is shown once and stored only as an argon2 hash.
//! A key is exchanged for a short-lived access token (see the API's auth module).

use crate::store::sql_types::{Id, Json, Timestamp};
use argon2::password_hash::{Output, PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use diesel::prelude::*;
use secrecy::{ExposeSecret, SecretString};

use super::scope::{Scope, ScopeSet};
use crate::clock;
use crate::config::random_secret;
use crate::error::{Error, Result};
use crate::pagination::{Page, PageRequest};
use crate::schema::api_keys;
use crate::store::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_keys)]
pub struct ApiKey {
    pub id: Id,
    pub account_id: Id,
    pub name: String,
    pub secret_hash: String,
    pub scopes: Json,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// A key just created: the only moment its secret exists in the clear.
pub struct IssuedApiKey {
    pub key: ApiKey,
    pub secret: SecretString,
}

/// What a successful key check yields.
#[derive(Debug, Clone)]
pub struct VerifiedKey {
    pub key_id: Id,
    pub account_id: Id,
    pub scopes: ScopeSet,
}

impl ApiKey {
    pub fn scope_set(&self) -> ScopeSet {
        ScopeSet::from_json(&self.scopes)
    }

    /// Generates the secret and its hash; nothing is written yet.
    pub fn prepare(account_id: Id, name: &str, scopes: ScopeSet) -> Result<IssuedApiKey> {
        let name = crate::text::required("name", name, 200)?;
        let name = name.as_str();
        if scopes.as_slice().is_empty() {
            return Err(Error::invalid("scopes", "must name at least one scope"));
        }
        let secret = format!("mrk_{}", random_secret(32));
        let secret_hash = hash_secret(&secret)?;
        Ok(IssuedApiKey {
            key: ApiKey {
                id: Id::new(),
                account_id,
                name: name.to_owned(),
                secret_hash,
                scopes: Json(scopes.to_json()),
                created_at: clock::now(),
                revoked_at: None,
            },
            secret: secret.into(),
        })
    }

    pub fn insert(&self, conn: &mut DbConnection) -> Result<()> {
        diesel::insert_into(api_keys::table)
            .values(self)
            .execute(conn)?;
        Ok(())
    }

    /// What checking a secret against key `key_id` needs, read in one query: the stored
    /// hash, and what a match grants. The check itself ([`KeyCredentials::check`]) is
    /// CPU and memory work (argon2) that needs no database connection, so the caller runs
    /// it after giving the connection back.
    pub fn credentials(conn: &mut DbConnection, key_id: Id) -> Result<KeyCredentials> {
        let key: Option<ApiKey> = api_keys::table
            .find(key_id)
            .filter(api_keys::revoked_at.is_null())
            .select(ApiKey::as_select())
            .first(conn)
            .optional()?;
        Ok(match key {
            Some(key) => KeyCredentials {
                verified: Some(VerifiedKey {
                    key_id: key.id,
                    account_id: key.account_id,
                    scopes: key.scope_set(),
                }),
                secret_hash: key.secret_hash,
            },
            None => KeyCredentials {
                secret_hash: DUMMY_HASH.to_owned(),
                verified: None,
            },
        })
    }

    /// Whether a key still exists and is not revoked (checked for tokens it issued).
    pub fn is_active(conn: &mut DbConnection, key_id: Id) -> Result<bool> {
        let found: Option<Id> = api_keys::table
            .find(key_id)
            .filter(api_keys::revoked_at.is_null())
            .select(api_keys::id)
            .first(conn)
            .optional()?;
        Ok(found.is_some())
    }

    pub fn list(
        conn: &mut DbConnection,
        account_id: Id,
        page: &PageRequest,
    ) -> Result<Page<ApiKey>> {
        let mut query = api_keys::table
            .filter(api_keys::account_id.eq(account_id))
            .filter(api_keys::revoked_at.is_null())
            .select(ApiKey::as_select())
            .order(api_keys::id.asc())
            .limit(page.fetch_limit())
            .into_boxed();
        if let Some(after) = page.after {
            query = query.filter(api_keys::id.gt(after));
        }
        Ok(Page::from_rows(query.load(conn)?, page, |k| k.id))
    }

    pub fn find(conn: &mut DbConnection, account_id: Id, id: Id) -> Result<ApiKey> {
        api_keys::table
            .find(id)
            .filter(api_keys::account_id.eq(account_id))
            .filter(api_keys::revoked_at.is_null())
            .select(ApiKey::as_select())
            .first(conn)
            .optional()?
            .ok_or(Error::NotFound("api key"))
    }

    /// Revokes a key on behalf of a caller holding `revoker`. Its row stays (audit) but it
    /// can no longer mint or use tokens. Revoking needs every scope the key holds, as
    /// creating it did: a lesser key cannot take a stronger one away.
    pub fn revoke(
        conn: &mut DbConnection,
        account_id: Id,
        id: Id,
        revoker: &ScopeSet,
    ) -> Result<()> {
        let target = ApiKey::find(conn, account_id, id)?;
        let missing = revoker.missing(&target.scope_set());
        if !missing.is_empty() {
            let names: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
            return Err(Error::Forbidden(format!(
                "revoking this key needs every scope it holds; the calling token lacks {}",
                names.join(", ")
            )));
        }
        let n = diesel::update(
            api_keys::table
                .filter(api_keys::id.eq(id))
                .filter(api_keys::account_id.eq(account_id))
                .filter(api_keys::revoked_at.is_null()),
        )
        .set(api_keys::revoked_at.eq(Some(clock::now())))
        .execute(conn)?;
        if n == 0 {
            Err(Error::NotFound("api key"))
        } else {
            Ok(())
        }
    }

    pub fn has_scope(&self, scope: Scope) -> bool {
        self.scope_set().allows(scope)
    }
}

/// A key's stored hash and what it grants; for an unknown or revoked key, a dummy hash
/// that nothing matches.
pub struct KeyCredentials {
    secret_hash: String,
    verified: Option<VerifiedKey>,
}

impl KeyCredentials {
    /// Checks the secret (argon2: ~19 MiB and tens of milliseconds of one core) in
    /// `memory`. Unknown, revoked and wrong all answer `None`, after the same amount of
    /// hashing work.
    pub fn check(self, secret: &SecretString, memory: &mut CheckMemory) -> Option<VerifiedKey> {
        let matches = verify_secret(&self.secret_hash, secret.expose_secret(), memory);
        self.verified.filter(|_| matches)
    }
}

/// The working memory of secret checks (argon2's blocks), kept by whoever checks many
/// secrets one after the other so that each check reuses it instead of allocating its
/// own: the memory of checking secrets is then the checkers' memory, whatever the number
/// of attempts.
pub struct CheckMemory {
    blocks: Vec<Block>,
}

impl CheckMemory {
    /// Memory for the hashes this installation creates (argon2's defaults, ~19 MiB),
    /// allocated at once so that a checker's footprint is known from its start.
    pub fn new() -> CheckMemory {
        CheckMemory {
            blocks: vec![Block::default(); Params::DEFAULT.block_count()],
        }
    }

    /// The first `count` blocks, grown once if a stored hash asks for more.
    fn blocks(&mut self, count: usize) -> &mut [Block] {
        if self.blocks.len() < count {
            self.blocks.resize(count, Block::default());
        }
        &mut self.blocks[..count]
    }
}

impl Default for CheckMemory {
    fn default() -> CheckMemory {
        CheckMemory::new()
    }
}

/// A valid argon2 hash of a random value, verified against when the key id is unknown.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$9sLRgoYj4wE8sfSDkxcrEsZKm5yiZv3wE8XBoh6l9fE";

fn hash_secret(secret: &str) -> Result<String> {
    let salt = SaltString::encode_b64(random_secret(16).as_bytes())
        .map_err(|e| Error::Internal(format!("salt: {e}")))?;
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(format!("hashing a key secret failed: {e}")))
}

/// Whether `secret` hashes to `hash` (a PHC string), hashing in `memory`; the outputs
/// are compared in constant time.
fn verify_secret(hash: &str, secret: &str, memory: &mut CheckMemory) -> bool {
    let mut check = || -> Option<bool> {
        let parsed = PasswordHash::new(hash).ok()?;
        let algorithm = Algorithm::try_from(parsed.algorithm).ok()?;
        let version = match parsed.version {
            Some(v) => Version::try_from(v).ok()?,
            None => Version::default(),
        };
        let params = Params::try_from(&parsed).ok()?;
        let expected = parsed.hash?;
        let mut salt = [0u8; 64];
        let salt = parsed.salt?.decode_b64(&mut salt).ok()?;
        let blocks = memory.blocks(params.block_count());
        let output = Output::init_with(expected.len(), |out| {
            Argon2::new(algorithm, version, params)
                .hash_password_into_with_memory(secret.as_bytes(), salt, out, &mut *blocks)
                .map_err(Into::into)
        })
        .ok()?;
        Some(output == expected)
    };
    check().unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_verifies_against_its_own_hash_only() {
        let mut memory = CheckMemory::new();
        let hash = hash_secret("mrk_right").unwrap();
        assert!(verify_secret(&hash, "mrk_right", &mut memory));
        assert!(!verify_secret(&hash, "mrk_wrong", &mut memory));
        assert!(
            verify_secret(&hash, "mrk_right", &mut memory),
            "reused memory"
        );
        assert!(!verify_secret(DUMMY_HASH, "mrk_right", &mut memory));
        assert!(!verify_secret("not a hash", "mrk_right", &mut memory));
        assert!(!hash.contains("mrk_right"));
    }

    #[test]
    fn a_hash_with_other_parameters_verifies_in_grown_memory() {
        use argon2::password_hash::PasswordHasher;
        let params = Params::new(32 * 1024, 1, 1, None).unwrap();
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let hash = Argon2::new(Algorithm::Argon2i, Version::V0x10, params)
            .hash_password(b"mrk_right", &salt)
            .unwrap()
            .to_string();
        let mut memory = CheckMemory::new();
        assert!(verify_secret(&hash, "mrk_right", &mut memory));
        assert!(!verify_secret(&hash, "mrk_wrong", &mut memory));
    }

    #[test]
    fn the_dummy_hash_parses() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }
}
