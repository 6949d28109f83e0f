//! The retention purge of one account, step by step, and the whole run over every
//! account. A step deletes (or, for messages, empties) what its policy says is past
//! retention, in batches so that no transaction holds a table for long.

use diesel::prelude::*;

use super::erasure::{ErasureReport, erase_account};
use super::finished_jobs::purge_finished_jobs;
use super::policy::Cutoffs;
use crate::accounts::Account;
use crate::error::Result;
use crate::messages::MessageStatus;
use crate::schema::{
    accounts, data_subject_exports, events, inbound_reports, messages, sandbox_messages,
    webhook_deliveries,
};
use crate::store::sql_types::{Id, Timestamp};
use crate::store::{DbConnection, ERASURE_TABLES, reclaim_deleted_space};
use crate::webhooks::DeliveryStatus;

/// Rows one statement touches at most.
const BATCH: i64 = 1000;

/// A step deleting, batch by batch, the account's `$table` rows whose `$time` is before
/// the policy's `$cutoff`, found and deleted by `$key`.
macro_rules! purge_older {
    ($table:ident, $key:ident, $time:ident, $cutoff:ident) => {
        |conn: &mut DbConnection, account: Id, cut: &Cutoffs, _as_of: Timestamp| -> Result<usize> {
            delete_in_batches(
                conn,
                |conn| {
                    Ok($table::table
                        .filter($table::account_id.eq(account))
                        .filter($table::$time.lt(cut.$cutoff))
                        .select($table::$key)
                        .limit(BATCH)
                        .load(conn)?)
                },
                |conn, ids| {
                    Ok(
                        diesel::delete($table::table.filter($table::$key.eq_any(ids)))
                            .execute(conn)?,
                    )
                },
            )
        }
    };
}

/// One kind of record an account keeps for a limited time: its name (in reports and
/// logs) and the function that purges what is past the cut-off.
type PurgeStep = (
    &'static str,
    fn(&mut DbConnection, Id, &Cutoffs, Timestamp) -> Result<usize>,
);

/// Everything the purge removes from an account. One more kind of record is one more
/// line here.
///
/// Sandbox copies (whole MIME messages) and bounce/complaint reports are logs of messages:
/// they follow message retention. An expired data-subject export is deleted (downloading
/// it answers 404); the request and its outcome stay as the account's proof of its answer.
const STEPS: &[PurgeStep] = &[
    ("events", purge_events),
    ("message_content", purge_message_content),
    (
        "sandbox_messages",
        purge_older!(sandbox_messages, id, created_at, messages),
    ),
    (
        "inbound_reports",
        purge_older!(inbound_reports, id, created_at, messages),
    ),
    ("webhook_deliveries", purge_webhook_deliveries),
    (
        "data_subject_exports",
        purge_older!(data_subject_exports, request_id, created_at, dsr_exports),
    ),
];

/// What the purge removed from one account, per step (steps that removed nothing are
/// left out).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct AccountPurge {
    pub account_id: Option<Id>,
    pub removed: Vec<(&'static str, usize)>,
}

impl AccountPurge {
    pub fn total(&self) -> usize {
        self.removed.iter().map(|(_, n)| n).sum()
    }
}

/// What one run did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PurgeSummary {
    pub as_of: Option<Timestamp>,
    /// Accounts whose deletion was due, erased whole.
    pub erased: Vec<ErasureReport>,
    /// Accounts the purge removed something from.
    pub purged: Vec<AccountPurge>,
    pub finished_jobs: usize,
}

/// Purges one account as of `as_of` under its own retention policy.
pub fn purge_account(
    conn: &mut DbConnection,
    account_id: Id,
    as_of: Timestamp,
) -> Result<AccountPurge> {
    let cutoffs = Account::find(conn, account_id)?.retention().cutoffs(as_of);
    let mut report = AccountPurge {
        account_id: Some(account_id),
        removed: Vec::new(),
    };
    for (name, step) in STEPS {
        let n = step(conn, account_id, &cutoffs, as_of)?;
        if n > 0 {
            report.removed.push((name, n));
        }
    }
    Ok(report)
}

/// The whole run as of `as_of`: erases the accounts whose deletion is due, purges every
/// other account under its own policy, and deletes job rows finished before
/// `as_of - finished_jobs_kept`. Running it twice removes nothing more the second time,
/// so replicas that schedule it together do no harm.
pub fn run_purge(
    conn: &mut DbConnection,
    as_of: Timestamp,
    finished_jobs_kept: chrono::Duration,
) -> Result<PurgeSummary> {
    let mut summary = PurgeSummary {
        as_of: Some(as_of),
        ..PurgeSummary::default()
    };
    for account in Account::due_for_erasure(conn, as_of)? {
        summary.erased.push(erase_account(conn, account)?);
    }
    let mut after: Option<Id> = None;
    loop {
        let mut page = accounts::table
            .select(accounts::id)
            .order(accounts::id)
            .limit(BATCH)
            .into_boxed();
        if let Some(after) = after {
            page = page.filter(accounts::id.gt(after));
        }
        let ids: Vec<Id> = page.load(conn)?;
        for &id in &ids {
            let purged = purge_account(conn, id, as_of)?;
            if purged.total() > 0 {
                summary.purged.push(purged);
            }
        }
        match ids.last() {
            Some(&last) if ids.len() as i64 == BATCH => after = Some(last),
            _ => break,
        }
    }
    summary.finished_jobs =
        purge_finished_jobs(conn, Timestamp::from(as_of.0 - finished_jobs_kept))?;
    // What left the tables leaves the database's files too (see `store::at_rest`).
    let removed =
        !summary.erased.is_empty() || !summary.purged.is_empty() || summary.finished_jobs > 0;
    if removed && let Err(e) = reclaim_deleted_space(conn, &purged_tables()) {
        tracing::warn!(error = %e, "reclaiming the space of the purge failed");
    }
    Ok(summary)
}

/// The tables a purge deletes from: an erasure's, and an erased account's.
fn purged_tables() -> Vec<&'static str> {
    let mut tables: Vec<&'static str> = ERASURE_TABLES.to_vec();
    for (table, _) in super::erasure::STEPS {
        if !tables.contains(table) {
            tables.push(table);
        }
    }
    tables.push("accounts");
    tables
}

/// Deletes, batch by batch, the rows `select` finds (it answers at most [`BATCH`] ids).
fn delete_in_batches(
    conn: &mut DbConnection,
    mut select: impl FnMut(&mut DbConnection) -> Result<Vec<Id>>,
    mut delete: impl FnMut(&mut DbConnection, &[Id]) -> Result<usize>,
) -> Result<usize> {
    let mut total = 0;
    loop {
        let n = conn.write_transaction(|conn| {
            let ids = select(conn)?;
            if ids.is_empty() {
                return Ok(0);
            }
            delete(conn, &ids)
        })?;
        total += n;
        if n < BATCH as usize {
            return Ok(total);
        }
    }
}

/// Deletes the account's events minted before the events cut-off. Event ids are
/// time-ordered and minted where the event happened, together with its `occurred_at`, so
/// the expired events are the account's lowest ids (the log's key, `(account_id, id)`), down to the
/// millisecond: the write path keeps no index by time for this.
fn purge_events(
    conn: &mut DbConnection,
    account: Id,
    cut: &Cutoffs,
    _as_of: Timestamp,
) -> Result<usize> {
    let first_kept = Id::first_minted_at(cut.events);
    delete_in_batches(
        conn,
        |conn| {
            Ok(events::table
                .filter(events::account_id.eq(account))
                .filter(events::id.lt(first_kept))
                .select(events::id)
                .order(events::id)
                .limit(BATCH)
                .load(conn)?)
        },
        |conn, ids| {
            Ok(diesel::delete(
                events::table
                    .filter(events::account_id.eq(account))
                    .filter(events::id.eq_any(ids)),
            )
            .execute(conn)?)
        },
    )
}

/// Empties finished messages past retention of who they went to and what they said
/// (recipient, subject, transactional body and variables, custom id, relay answers). The
/// row keeps its id, campaign, contact and status: campaign progress counts it and a late
/// bounce report still finds it. A message still on its way is left alone.
fn purge_message_content(
    conn: &mut DbConnection,
    account: Id,
    cut: &Cutoffs,
    as_of: Timestamp,
) -> Result<usize> {
    let finished: Vec<&str> = MessageStatus::ALL
        .into_iter()
        .filter(|s| s.is_final())
        .map(MessageStatus::as_str)
        .collect();
    delete_in_batches(
        conn,
        |conn| {
            Ok(messages::table
                .filter(messages::account_id.eq(account))
                .filter(messages::created_at.lt(cut.messages))
                .filter(messages::content_purged_at.is_null())
                .filter(messages::status.eq_any(&finished))
                .select(messages::id)
                .limit(BATCH)
                .load(conn)?)
        },
        |conn, ids| {
            Ok(
                diesel::update(messages::table.filter(messages::id.eq_any(ids)))
                    .set((
                        messages::to_email.eq(""),
                        messages::to_name.eq(None::<String>),
                        messages::subject.eq(None::<String>),
                        messages::payload.eq(None::<crate::Json>),
                        messages::custom_id.eq(None::<String>),
                        messages::last_error.eq(None::<String>),
                        messages::content_purged_at.eq(Some(as_of)),
                    ))
                    .execute(conn)?,
            )
        },
    )
}

/// Finished deliveries (with their payloads) past retention; a pending one is still being
/// retried and stays until it ends.
fn purge_webhook_deliveries(
    conn: &mut DbConnection,
    account: Id,
    cut: &Cutoffs,
    _as_of: Timestamp,
) -> Result<usize> {
    delete_in_batches(
        conn,
        |conn| {
            Ok(webhook_deliveries::table
                .filter(webhook_deliveries::account_id.eq(account))
                .filter(webhook_deliveries::created_at.lt(cut.webhook_deliveries))
                .filter(webhook_deliveries::status.ne(DeliveryStatus::Pending.as_str()))
                .select(webhook_deliveries::id)
                .limit(BATCH)
                .load(conn)?)
        },
        |conn, ids| {
            Ok(
                diesel::delete(
                    webhook_deliveries::table.filter(webhook_deliveries::id.eq_any(ids)),
                )
                .execute(conn)?,
            )
        },
    )
}
