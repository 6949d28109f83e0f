//! The gate every message passes on its way to the relay: is the account suspended, is it
//! over its sending limits? Asked at delivery time ([`admit`], which takes the slots it
//! grants) by the sender, and before accepting work ([`ensure_may_send`],
//! [`ensure_within_limits`]) by the API.

use chrono::{DateTime, Utc};

use super::account::{Account, AccountStatus};
use super::quota::{self, SendingLimits, Taken};
use crate::error::{Error, Result};
use crate::store::DbConnection;
use crate::store::sql_types::{Id, Timestamp};

/// What the gate decided for a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Deliver this many messages now (at least one, at most what was asked; none when
    /// none was asked, a retry whose slot was taken before); their slots are taken.
    Admitted(u32),
    /// The account is suspended: hold the work until the operator resumes it.
    Suspended { reason: String },
    /// A sending window is full: wait until `until`, when the next one starts.
    OverQuota { until: Timestamp },
}

/// Decides whether `wanted` messages of `account` may go to the relay now, and takes their
/// slots in the sending windows if so (`wanted` 0: only whether the account is
/// suspended). Call it inside a write transaction, with the account as read in it.
pub fn admit(
    conn: &mut DbConnection,
    account: &Account,
    defaults: &SendingLimits,
    wanted: u32,
    now: DateTime<Utc>,
) -> Result<Admission> {
    if account.status()? == AccountStatus::Suspended {
        return Ok(Admission::Suspended {
            reason: suspension_reason(account),
        });
    }
    let limits = SendingLimits::of(account, defaults);
    Ok(match quota::take(conn, account.id, &limits, wanted, now)? {
        Taken::Granted(n) => Admission::Admitted(n),
        Taken::Exhausted { until } => Admission::OverQuota { until },
    })
}

/// Refuses to accept sending work from an account that is suspended or whose deletion is
/// pending (campaign send, schedule, resume and test, `POST /v1/send`).
pub fn ensure_may_send(conn: &mut DbConnection, id: Id) -> Result<()> {
    let account = Account::find(conn, id)?;
    if account.status()? == AccountStatus::Suspended {
        return Err(Error::Suspended(suspension_reason(&account)));
    }
    if account.deletion_pending() {
        return Err(Error::Conflict(
            "the account is scheduled for deletion and sends nothing: cancel the deletion (DELETE /v1/account/deletion) to send again".into(),
        ));
    }
    Ok(())
}

/// Refuses a transactional send while one of the account's sending windows is full.
pub fn ensure_within_limits(
    conn: &mut DbConnection,
    account: &Account,
    defaults: &SendingLimits,
    now: DateTime<Utc>,
) -> Result<()> {
    let limits = SendingLimits::of(account, defaults);
    if limits.is_unlimited() {
        return Ok(());
    }
    match quota::exhausted_until(conn, account.id, &limits, now)? {
        Some(until) => Err(Error::QuotaExceeded { until }),
        None => Ok(()),
    }
}

fn suspension_reason(account: &Account) -> String {
    account
        .suspended_reason
        .clone()
        .unwrap_or_else(|| "suspended by the operator".into())
}
