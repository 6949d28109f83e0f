//! The very first embedded start: a `default` account and key, so a newcomer can call the
//! API at once.

use super::account::Account;
use super::api_key::IssuedApiKey;
use crate::error::Result;
use crate::store::DbConnection;

/// Creates the `default` account when there is no account at all.
pub fn ensure_default_account(conn: &mut DbConnection) -> Result<Option<(Account, IssuedApiKey)>> {
    if Account::count(conn)? > 0 {
        return Ok(None);
    }
    Account::create_with_key(conn, "default").map(Some)
}
