//! Suspending an account: the operator (or the automatic bounce and complaint protection)
//! stops everything it sends until it is resumed. Sending campaigns pause, transactional
//! mail already queued is held (not dropped), new sends are refused; reads, exports and
//! webhooks go on. Resuming lets the held mail go and the paused campaigns continue.

use diesel::prelude::*;

use super::account::{Account, AccountStatus};
use crate::campaigns::{Campaign, CampaignStatus};
use crate::clock;
use crate::error::{Error, Result};
use crate::jobs::JobRow;
use crate::schema::{accounts, campaigns};
use crate::store::DbConnection;
use crate::store::sql_types::{Id, Timestamp};

/// Why a campaign was paused when its account was suspended (resuming the account resumes
/// exactly these).
pub const PAUSED_FOR_SUSPENSION: &str = "account suspended";

/// The audit action of a suspension by the automatic protection (the operator's own
/// actions are its entries with the operator as actor).
pub const AUTOMATIC_SUSPENSION_ACTION: &str = "account.suspended_automatically";

/// The longest suspension reason.
pub const MAX_REASON_CHARS: usize = 500;

/// Who suspended an account.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SuspendedBy {
    Operator,
    /// The automatic protection: the account's bounce or complaint rate crossed its
    /// threshold.
    Automatic,
}

impl SuspendedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            SuspendedBy::Operator => "operator",
            SuspendedBy::Automatic => "automatic",
        }
    }
}

impl Account {
    pub fn is_suspended(&self) -> bool {
        self.status == AccountStatus::Suspended.as_str()
    }

    /// Suspends the account and pauses its sending campaigns, in one transaction. Answers
    /// the account and whether it changed: suspending a suspended account changes nothing
    /// (its first reason stays).
    pub fn suspend(
        conn: &mut DbConnection,
        id: Id,
        reason: &str,
        by: SuspendedBy,
    ) -> Result<(Account, bool)> {
        let reason = crate::text::required("reason", reason, MAX_REASON_CHARS)?;
        conn.write_transaction(|conn| {
            let mut account = Self::find(conn, id)?;
            if account.is_suspended() {
                return Ok((account, false));
            }
            let now = clock::now();
            account.status = AccountStatus::Suspended.as_str().to_owned();
            account.suspended_reason = Some(reason);
            account.suspended_at = Some(now);
            account.suspended_by = Some(by.as_str().to_owned());
            account.updated_at = now;
            diesel::update(accounts::table.find(id))
                .set((
                    accounts::status.eq(&account.status),
                    accounts::suspended_reason.eq(&account.suspended_reason),
                    accounts::suspended_at.eq(account.suspended_at),
                    accounts::suspended_by.eq(&account.suspended_by),
                    accounts::updated_at.eq(now),
                ))
                .execute(conn)?;
            for campaign in campaigns_in(conn, id, CampaignStatus::Sending)? {
                Campaign::pause_for_suspension(conn, campaign)?;
            }
            Ok((account, true))
        })
    }

    /// Lifts a suspension: the campaigns it paused continue and the transactional mail it
    /// held is delivered.
    pub fn resume_sending(conn: &mut DbConnection, id: Id) -> Result<Account> {
        conn.write_transaction(|conn| {
            let mut account = Self::find(conn, id)?;
            if !account.is_suspended() {
                return Err(Error::Conflict("the account is not suspended".into()));
            }
            let now = clock::now();
            account.status = AccountStatus::Active.as_str().to_owned();
            account.suspended_reason = None;
            account.suspended_at = None;
            account.suspended_by = None;
            account.updated_at = now;
            diesel::update(accounts::table.find(id))
                .set((
                    accounts::status.eq(&account.status),
                    accounts::suspended_reason.eq(None::<String>),
                    accounts::suspended_at.eq(None::<Timestamp>),
                    accounts::suspended_by.eq(None::<String>),
                    accounts::updated_at.eq(now),
                ))
                .execute(conn)?;
            for campaign in campaigns_in(conn, id, CampaignStatus::Paused)? {
                Campaign::resume_after_suspension(conn, campaign)?;
            }
            JobRow::release_held_ungrouped(conn, id)?;
            Ok(account)
        })
    }
}

fn campaigns_in(conn: &mut DbConnection, account: Id, status: CampaignStatus) -> Result<Vec<Id>> {
    Ok(campaigns::table
        .filter(campaigns::account_id.eq(account))
        .filter(campaigns::status.eq(status.as_str()))
        .select(campaigns::id)
        .load(conn)?)
}
