//! An account asking to be deleted: the request starts a grace period during which the
//! account sends nothing and can change its mind; the retention purge erases it once the
//! grace period is over (see `crate::retention::erasure`).

use diesel::prelude::*;

use super::account::Account;
use crate::campaigns::{Campaign, CampaignStatus};
use crate::clock;
use crate::error::{Error, Result};
use crate::schema::{accounts, campaigns};
use crate::store::DbConnection;
use crate::store::sql_types::{Id, Timestamp};

/// Why a campaign was paused when its account asked to be deleted.
pub const PAUSED_FOR_DELETION: &str = "account deletion requested";

impl Account {
    /// A deletion is pending: the account sends nothing until it is cancelled.
    pub fn deletion_pending(&self) -> bool {
        self.deletion_due_at.is_some()
    }

    /// Refuses to start sending while the account is suspended or its deletion is pending
    /// (see [`super::sending_gate::ensure_may_send`]).
    pub fn ensure_may_send(conn: &mut DbConnection, id: Id) -> Result<()> {
        super::sending_gate::ensure_may_send(conn, id)
    }

    /// Schedules the account's erasure `grace` from now and pauses its sending campaigns
    /// (a scheduled one pauses when its time comes, if the deletion is still pending).
    /// Asking again keeps the first due time.
    pub fn request_deletion(
        conn: &mut DbConnection,
        id: Id,
        grace: chrono::Duration,
    ) -> Result<Account> {
        conn.write_transaction(|conn| {
            let mut account = Self::find(conn, id)?;
            if account.deletion_pending() {
                return Ok(account);
            }
            let now = clock::now();
            account.deletion_requested_at = Some(now);
            account.deletion_due_at = Some(Timestamp::from(now.0 + grace));
            account.updated_at = now;
            diesel::update(accounts::table.find(id))
                .set((
                    accounts::deletion_requested_at.eq(account.deletion_requested_at),
                    accounts::deletion_due_at.eq(account.deletion_due_at),
                    accounts::updated_at.eq(now),
                ))
                .execute(conn)?;
            let active: Vec<Id> = campaigns::table
                .filter(campaigns::account_id.eq(id))
                .filter(campaigns::status.eq(CampaignStatus::Sending.as_str()))
                .select(campaigns::id)
                .load(conn)?;
            for campaign in active {
                Campaign::pause_for_account_deletion(conn, campaign)?;
            }
            Ok(account)
        })
    }

    /// Withdraws a pending deletion. Paused campaigns stay paused until resumed.
    pub fn cancel_deletion(conn: &mut DbConnection, id: Id) -> Result<Account> {
        conn.write_transaction(|conn| {
            let mut account = Self::find(conn, id)?;
            if !account.deletion_pending() {
                return Err(Error::NotFound("pending deletion"));
            }
            let now = clock::now();
            account.deletion_requested_at = None;
            account.deletion_due_at = None;
            account.updated_at = now;
            diesel::update(accounts::table.find(id))
                .set((
                    accounts::deletion_requested_at.eq(None::<Timestamp>),
                    accounts::deletion_due_at.eq(None::<Timestamp>),
                    accounts::updated_at.eq(now),
                ))
                .execute(conn)?;
            Ok(account)
        })
    }

    /// Accounts whose deletion is due at `as_of`.
    pub fn due_for_erasure(conn: &mut DbConnection, as_of: Timestamp) -> Result<Vec<Id>> {
        Ok(accounts::table
            .filter(accounts::deletion_due_at.le(as_of))
            .select(accounts::id)
            .order(accounts::id)
            .load(conn)?)
    }
}
