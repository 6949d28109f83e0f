//! Tenants. Every other row belongs to exactly one account.

use crate::store::sql_types::{Id, Timestamp};
use diesel::prelude::*;

use super::api_key::{ApiKey, IssuedApiKey};
use super::scope::ScopeSet;
use crate::clock;
use crate::error::{Error, Result};
use crate::schema::accounts;
use crate::store::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, serde::Serialize, utoipa::ToSchema)]
#[diesel(table_name = accounts)]
pub struct Account {
    pub id: Id,
    pub name: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Account {
    pub fn validate_name(name: &str) -> Result<String> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(Error::invalid("name", "must be 1 to 200 characters"));
        }
        Ok(name.to_owned())
    }

    /// Creates an account with its first API key (scope `*`), in one transaction.
    pub fn create_with_key(conn: &mut DbConnection, name: &str) -> Result<(Account, IssuedApiKey)> {
        let name = Self::validate_name(name)?;
        let now = clock::now();
        let account = Account {
            id: Id::new(),
            name,
            created_at: now,
            updated_at: now,
        };
        let issued = ApiKey::prepare(account.id, "default", ScopeSet::all())?;
        conn.write_transaction(|conn| {
            diesel::insert_into(accounts::table)
                .values(&account)
                .execute(conn)?;
            issued.key.insert(conn)?;
            Ok::<_, Error>(())
        })?;
        Ok((account, issued))
    }

    pub fn find(conn: &mut DbConnection, id: Id) -> Result<Account> {
        accounts::table
            .find(id)
            .select(Account::as_select())
            .first(conn)
            .optional()?
            .ok_or(Error::NotFound("account"))
    }

    pub fn count(conn: &mut DbConnection) -> Result<i64> {
        Ok(accounts::table.count().get_result(conn)?)
    }
}
