//! Why a held job waits: its campaign is paused (a job of a group), or its account is
//! suspended (transactional mail, no group). A job is held only while that still stands,
//! read in the transaction that holds it and under a shared lock of the campaign or account
//! row, because a resume changes that row first and releases the held jobs after, in one
//! transaction: either the resume committed before the hold looked (and the job is not
//! held) or it waits for the hold to commit (and then finds the job to release). Without
//! this, a resume landing between a worker's "paused" and its "held" would leave the job
//! held forever.

use diesel::prelude::*;

use crate::accounts::Account;
use crate::campaigns::CampaignStatus;
use crate::error::{Error, Result};
use crate::schema::{campaigns, jobs};
use crate::store::DbConnection;
use crate::store::sql_types::Id;

/// Whether what made job `id` wait still stands. Call it inside the write transaction that
/// holds the job.
pub(super) fn still_waits(conn: &mut DbConnection, id: Id) -> Result<bool> {
    let (group, account): (Option<Id>, Id) = jobs::table
        .find(id)
        .select((jobs::group_id, jobs::account_id))
        .first(conn)?;
    match group {
        Some(campaign) => {
            let query = campaigns::table.find(campaign).select(campaigns::status);
            let status: Option<String> = match conn {
                DbConnection::Postgres(pg) => query.for_share().first(pg).optional()?,
                DbConnection::Sqlite(_) => query.first(conn).optional()?,
            };
            Ok(status.as_deref() == Some(CampaignStatus::Paused.as_str()))
        }
        None => match Account::find_shared(conn, account) {
            Ok(account) => Ok(account.is_suspended()),
            Err(Error::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        },
    }
}
