//! Erasing an account whose deletion fell due: every row of it in every table, then the
//! account itself. Steps run in an order that respects the foreign keys (children first)
//! and each is its own statement, so an erasure that stops half way is finished by the
//! next purge (the account row goes last, and with it the due date that brings it back).
//!
//! A new table holding an account's rows needs one more line in [`STEPS`] — the
//! `every_table_is_erased` HTTP test scans every table for the account's id and fails
//! otherwise.

use diesel::prelude::*;

use crate::error::Result;
use crate::jobs::{AccountRows, Job, JobTarget};
use crate::schema::{
    accounts, api_keys, audit_events, campaign_stats, campaigns, consents, contact_properties,
    contacts, data_subject_exports, data_subject_requests, events, idempotency_keys, import_chunks,
    imports, inbound_reports, jobs, list_members, lists, messages, sandbox_messages,
    sending_domains, suppressions, webhook_deliveries, webhooks,
};
use crate::store::DbConnection;
use crate::store::sql_types::{Id, Json};

type ErasureStep = (&'static str, fn(&mut DbConnection, Id) -> Result<usize>);

/// Deletes `table`'s rows of the account.
macro_rules! erase_from {
    ($table:ident) => {
        |conn: &mut DbConnection, account: Id| -> Result<usize> {
            Ok(
                diesel::delete($table::table.filter($table::account_id.eq(account)))
                    .execute(conn)?,
            )
        }
    };
}

/// Every table that holds an account's rows, children before parents, but the account row
/// itself (`erase_account_row`, last). Jobs go first: they are found through the messages,
/// campaigns, deliveries and imports they name.
pub(super) const STEPS: &[ErasureStep] = &[
    ("jobs", erase_jobs),
    ("webhook_deliveries", erase_from!(webhook_deliveries)),
    ("webhooks", erase_from!(webhooks)),
    ("sending_domains", erase_from!(sending_domains)),
    ("events", erase_from!(events)),
    ("campaign_stats", erase_from!(campaign_stats)),
    ("sandbox_messages", erase_from!(sandbox_messages)),
    ("inbound_reports", erase_from!(inbound_reports)),
    ("messages", erase_from!(messages)),
    ("campaigns", erase_from!(campaigns)),
    ("data_subject_exports", erase_from!(data_subject_exports)),
    ("data_subject_requests", erase_from!(data_subject_requests)),
    ("import_chunks", erase_import_chunks),
    ("imports", erase_from!(imports)),
    ("list_members", erase_from!(list_members)),
    ("consents", erase_from!(consents)),
    ("contacts", erase_from!(contacts)),
    ("contact_properties", erase_from!(contact_properties)),
    ("lists", erase_from!(lists)),
    ("suppressions", erase_from!(suppressions)),
    ("idempotency_keys", erase_from!(idempotency_keys)),
    ("audit_events", erase_from!(audit_events)),
    ("api_keys", erase_from!(api_keys)),
];

/// What an erasure deleted, per table.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ErasureReport {
    pub account_id: Option<Id>,
    pub deleted: Vec<(&'static str, usize)>,
}

/// Deletes every row of the account, the account last.
pub fn erase_account(conn: &mut DbConnection, account: Id) -> Result<ErasureReport> {
    let mut report = ErasureReport {
        account_id: Some(account),
        deleted: Vec::new(),
    };
    for (table, step) in STEPS {
        let n = conn.write_transaction(|conn| step(conn, account))?;
        report.deleted.push((table, n));
    }
    let (late_events, rows) = conn.write_transaction(|conn| erase_account_row(conn, account))?;
    if let Some((_, events)) = report.deleted.iter_mut().find(|(t, _)| *t == "events") {
        *events += late_events;
    }
    report.deleted.push(("accounts", rows));
    tracing::info!(account_id = %account, deleted = ?report.deleted, "account erased");
    Ok(report)
}

/// Deletes the account row, and with it the events recorded since the events step (the
/// event log has no foreign key to cascade from); answers both counts, events first. The
/// row's exclusive lock waits for the event batches that share-locked the account and so
/// may still add its events (`events::record`), and makes those that come later find it
/// gone.
fn erase_account_row(conn: &mut DbConnection, account: Id) -> Result<(usize, usize)> {
    if let DbConnection::Postgres(pg) = conn {
        accounts::table
            .find(account)
            .select(accounts::id)
            .for_update()
            .load::<Id>(pg)?;
    }
    let late_events = erase_from!(events)(conn, account)?;
    let rows = diesel::delete(accounts::table.find(account)).execute(conn)?;
    Ok((late_events, rows))
}

fn erase_import_chunks(conn: &mut DbConnection, account: Id) -> Result<usize> {
    let ids: Vec<Id> = imports::table
        .filter(imports::account_id.eq(account))
        .select(imports::id)
        .load(conn)?;
    Ok(
        diesel::delete(import_chunks::table.filter(import_chunks::import_id.eq_any(&ids)))
            .execute(conn)?,
    )
}

const JOB_PAGE: i64 = 1000;

/// Job rows carry no account: each names what it works on, and a page of rows is matched
/// against the account's campaigns, messages, deliveries and imports at once.
fn erase_jobs(conn: &mut DbConnection, account: Id) -> Result<usize> {
    let mut erased = 0;
    let mut after: Option<Id> = None;
    loop {
        let mut query = jobs::table
            .select((jobs::id, jobs::kind, jobs::payload))
            .order(jobs::id)
            .limit(JOB_PAGE)
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(jobs::id.gt(after));
        }
        let page: Vec<(Id, String, Json)> = query.load(conn)?;
        let Some(last) = page.last().map(|(id, _, _)| *id) else {
            return Ok(erased);
        };
        after = Some(last);
        let targets: Vec<(Id, JobTarget)> = page
            .iter()
            .filter_map(|(id, kind, payload)| {
                Job::from_parts(kind, payload)
                    .ok()
                    .map(|job| (*id, JobTarget::of(&job)))
            })
            .collect();
        let owned = AccountRows::among(conn, account, targets.iter().map(|(_, t)| t))?;
        let mut doomed = Vec::new();
        for (id, target) in &targets {
            match target {
                // A batch of events can mix accounts: the others' events stay queued.
                JobTarget::Messages(ids) if owned.owns(target) && !owned.owns_all(ids) => {
                    keep_others_events(conn, *id, &owned)?;
                    erased += 1;
                }
                _ if owned.owns(target) => doomed.push(*id),
                _ => {}
            }
        }
        if !doomed.is_empty() {
            erased += diesel::delete(jobs::table.filter(jobs::id.eq_any(&doomed))).execute(conn)?;
        }
        if (page.len() as i64) < JOB_PAGE {
            return Ok(erased);
        }
    }
}

/// Rewrites an events job without the account's events.
fn keep_others_events(conn: &mut DbConnection, job: Id, owned: &AccountRows) -> Result<()> {
    let (kind, payload): (String, Json) = jobs::table
        .find(job)
        .select((jobs::kind, jobs::payload))
        .first(conn)?;
    if let Job::RecordEvents { events } = Job::from_parts(&kind, &payload)? {
        let others = Job::RecordEvents {
            events: events
                .into_iter()
                .filter(|e| !owned.messages.contains(&e.message_id))
                .collect(),
        };
        diesel::update(jobs::table.find(job))
            .set(jobs::payload.eq(others.payload()))
            .execute(conn)?;
    }
    Ok(())
}
