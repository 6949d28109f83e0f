//! Tenants. Every other row belongs to exactly one account.

use crate::store::sql_types::{Id, Timestamp};
use diesel::prelude::*;

use super::api_key::{ApiKey, IssuedApiKey};
use super::scope::ScopeSet;
use crate::clock;
use crate::error::{Error, Result};
use crate::retention::{RetentionChange, RetentionPolicy};
use crate::schema::accounts;
use crate::store::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, serde::Serialize, utoipa::ToSchema)]
#[diesel(table_name = accounts)]
pub struct Account {
    pub id: Id,
    pub name: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Opens and clicks are tracked only when this is on (and the contact consents).
    pub tracking_enabled: bool,
    /// `list` (an unsubscribe leaves the list) or `account` (it also suppresses the
    /// address account-wide).
    pub unsubscribe_scope: String,
    /// Store tracking IPs truncated (IPv4 /24, IPv6 /48).
    pub truncate_ips: bool,
    /// Until when the operator's support staff may read the account's lists and contacts.
    pub support_access_until: Option<Timestamp>,
    /// Days events are kept (see [`RetentionPolicy`]).
    pub retention_events_days: i32,
    /// Days message content and logs are kept.
    pub retention_messages_days: i32,
    /// Days data-subject request exports are kept.
    pub retention_dsr_exports_days: i32,
    /// Days finished webhook deliveries are kept.
    pub retention_webhook_deliveries_days: i32,
    /// When the account asked to be deleted (`None`: no deletion pending).
    pub deletion_requested_at: Option<Timestamp>,
    /// When the purge erases the account, unless the deletion is cancelled before.
    pub deletion_due_at: Option<Timestamp>,
    /// `active`, or `suspended` by the operator (or by the automatic protection): a
    /// suspended account sends nothing until it is resumed (see [`AccountStatus`]).
    pub status: String,
    /// Why the account is suspended (`null` when active).
    pub suspended_reason: Option<String>,
    /// Since when the account is suspended.
    pub suspended_at: Option<Timestamp>,
    /// `operator` or `automatic` (the bounce and complaint protection).
    pub suspended_by: Option<String>,
    /// Messages the account may hand to delivery per hour (`null`: the installation's
    /// default; 0: no limit, whatever the default).
    pub messages_per_hour: Option<i32>,
    /// Messages the account may hand to delivery per UTC day (`null`: the installation's
    /// default; 0: no limit, whatever the default).
    pub messages_per_day: Option<i32>,
}

impl Account {
    pub fn validate_name(name: &str) -> Result<String> {
        Ok(crate::text::required("name", name, 200)?)
    }

    /// A new account as it starts: active, unlimited beyond the installation's defaults,
    /// tracking off, list-scoped unsubscribes, the default retention. Not stored.
    fn new(name: String) -> Account {
        let now = clock::now();
        let defaults = RetentionPolicy::default();
        Account {
            id: Id::new(),
            name,
            created_at: now,
            updated_at: now,
            tracking_enabled: false,
            unsubscribe_scope: UnsubscribeScope::List.as_str().to_owned(),
            truncate_ips: false,
            support_access_until: None,
            retention_events_days: defaults.events_days,
            retention_messages_days: defaults.messages_days,
            retention_dsr_exports_days: defaults.dsr_exports_days,
            retention_webhook_deliveries_days: defaults.webhook_deliveries_days,
            deletion_requested_at: None,
            deletion_due_at: None,
            status: AccountStatus::Active.as_str().to_owned(),
            suspended_reason: None,
            suspended_at: None,
            suspended_by: None,
            messages_per_hour: None,
            messages_per_day: None,
        }
    }

    /// Creates an account with its first API key (scope `*`), in one transaction.
    pub fn create_with_key(conn: &mut DbConnection, name: &str) -> Result<(Account, IssuedApiKey)> {
        let account = Account::new(Self::validate_name(name)?);
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

    /// An account as `create_with_key` makes it, not stored (for unit tests).
    #[cfg(test)]
    pub(crate) fn create_sample(name: &str) -> Account {
        Account::new(name.to_owned())
    }

    pub fn find(conn: &mut DbConnection, id: Id) -> Result<Account> {
        accounts::table
            .find(id)
            .select(Account::as_select())
            .first(conn)
            .optional()?
            .ok_or(Error::NotFound("account"))
    }

    /// Reads the account under a shared row lock (PostgreSQL; SQLite's writers take turns
    /// anyway): a concurrent suspension or resume either committed before this read or waits
    /// until this transaction ends. Call it inside a write transaction.
    pub fn find_shared(conn: &mut DbConnection, id: Id) -> Result<Account> {
        let found = match conn {
            DbConnection::Postgres(pg) => accounts::table
                .find(id)
                .select(Account::as_select())
                .for_share()
                .first(pg)
                .optional()?,
            DbConnection::Sqlite(_) => accounts::table
                .find(id)
                .select(Account::as_select())
                .first(conn)
                .optional()?,
        };
        found.ok_or(Error::NotFound("account"))
    }

    /// Support staff may read the account now.
    pub fn grants_support_access(&self) -> bool {
        self.support_access_until
            .is_some_and(|until| until.0 > clock::now().0)
    }

    /// How long the account keeps each kind of record.
    pub fn retention(&self) -> RetentionPolicy {
        RetentionPolicy {
            events_days: self.retention_events_days,
            messages_days: self.retention_messages_days,
            dsr_exports_days: self.retention_dsr_exports_days,
            webhook_deliveries_days: self.retention_webhook_deliveries_days,
        }
    }

    /// Active or suspended; an unknown stored value is an error, not a default.
    pub fn status(&self) -> Result<AccountStatus> {
        AccountStatus::parse(&self.status).ok_or_else(|| {
            Error::Internal(format!(
                "account {} has an unknown status {:?}",
                self.id, self.status
            ))
        })
    }

    pub fn unsubscribe_scope(&self) -> UnsubscribeScope {
        UnsubscribeScope::parse(&self.unsubscribe_scope).unwrap_or(UnsubscribeScope::List)
    }

    /// Applies a settings change (`None` leaves a setting as it is).
    pub fn update_settings(
        conn: &mut DbConnection,
        id: Id,
        change: &AccountSettings,
    ) -> Result<Account> {
        conn.write_transaction(|conn| {
            let mut account = Self::find(conn, id)?;
            if let Some(name) = &change.name {
                account.name = Self::validate_name(name)?;
            }
            if let Some(on) = change.tracking_enabled {
                account.tracking_enabled = on;
            }
            if let Some(scope) = change.unsubscribe_scope {
                account.unsubscribe_scope = scope.as_str().to_owned();
            }
            if let Some(on) = change.truncate_ips {
                account.truncate_ips = on;
            }
            if let Some(until) = change.support_access_until {
                if let Some(at) = until {
                    let now = clock::now();
                    if at.0 <= now.0 || at.0 > now.0 + chrono::Duration::days(MAX_SUPPORT_GRANT_DAYS) {
                        return Err(Error::invalid(
                            "support_access_until",
                            format!("must be in the future and at most {MAX_SUPPORT_GRANT_DAYS} days ahead"),
                        ));
                    }
                }
                account.support_access_until = until;
            }
            if let Some(change) = &change.retention {
                let policy = account.retention().apply(change)?;
                account.retention_events_days = policy.events_days;
                account.retention_messages_days = policy.messages_days;
                account.retention_dsr_exports_days = policy.dsr_exports_days;
                account.retention_webhook_deliveries_days = policy.webhook_deliveries_days;
            }
            account.updated_at = clock::now();
            diesel::update(accounts::table.find(id))
                .set((
                    accounts::name.eq(&account.name),
                    accounts::tracking_enabled.eq(account.tracking_enabled),
                    accounts::unsubscribe_scope.eq(&account.unsubscribe_scope),
                    accounts::truncate_ips.eq(account.truncate_ips),
                    accounts::support_access_until.eq(account.support_access_until),
                    accounts::retention_events_days.eq(account.retention_events_days),
                    accounts::retention_messages_days.eq(account.retention_messages_days),
                    accounts::retention_dsr_exports_days.eq(account.retention_dsr_exports_days),
                    accounts::retention_webhook_deliveries_days
                        .eq(account.retention_webhook_deliveries_days),
                    accounts::updated_at.eq(account.updated_at),
                ))
                .execute(conn)?;
            Ok(account)
        })
    }

    pub fn count(conn: &mut DbConnection) -> Result<i64> {
        Ok(accounts::table.count().get_result(conn)?)
    }
}

/// The longest support grant an account can give at once.
pub const MAX_SUPPORT_GRANT_DAYS: i64 = 30;

/// Where an unsubscribe reaches.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum UnsubscribeScope {
    /// The recipient leaves the list the message was sent for.
    List,
    /// The recipient also goes on the account's suppression list: no more marketing mail
    /// from any list.
    Account,
}

impl UnsubscribeScope {
    pub fn as_str(self) -> &'static str {
        match self {
            UnsubscribeScope::List => "list",
            UnsubscribeScope::Account => "account",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [UnsubscribeScope::List, UnsubscribeScope::Account]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// Whether an account may send.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    Active,
    /// Sends nothing (campaigns pause, transactional mail waits) until resumed; reads,
    /// exports and webhooks go on.
    Suspended,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::Suspended => "suspended",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [AccountStatus::Active, AccountStatus::Suspended]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// A change to an account's settings.
#[derive(Debug, Clone, Default)]
pub struct AccountSettings {
    pub name: Option<String>,
    /// `Some(None)` withdraws the grant.
    pub support_access_until: Option<Option<Timestamp>>,
    pub tracking_enabled: Option<bool>,
    pub unsubscribe_scope: Option<UnsubscribeScope>,
    pub truncate_ips: Option<bool>,
    pub retention: Option<RetentionChange>,
}
