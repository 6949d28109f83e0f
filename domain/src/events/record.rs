//! Recording a batch of events in one transaction: each event once (by id), with the
//! recipient's details from its message, counted in its campaign's statistics, and handed
//! to the account's webhooks.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use diesel::prelude::*;

use super::event::{Event, EventType, NewEvent, REPORTED_AFTER_DELIVERY};
use super::ip::truncate_ip;
use super::stats::CounterRow;
use crate::clock;
use crate::data_subjects::ERASED_PREFIX;
use crate::error::Result;
use crate::messages::MessageKind;
use crate::schema::{accounts, campaign_stats, contacts, events, messages};
use crate::store::DbConnection;
use crate::store::sql_types::{Id, Timestamp};

/// The columns of a message an event needs.
#[derive(Queryable)]
struct Recipient {
    id: Id,
    account_id: Id,
    campaign_id: Option<Id>,
    contact_id: Option<Id>,
    to_email: String,
    custom_id: Option<String>,
    kind: String,
}

/// The most ids one lookup names, and the most rows one multi-row `INSERT` carries (each
/// id or column value is a bind parameter on SQLite). A tracking batch of 1,000 events
/// names ~100 messages: its lookups are one query each.
const CHUNK: usize = 500;

/// The most rows one `COPY` carries. PostgreSQL 15 buffers up to 1,000 rows of a binary
/// `COPY`, each in a slot registered with the statement's resource owner, and that
/// registry of one repeated entry takes time quadratic in the slots. In `perf` of the
/// tracking benchmark, making and dropping the slots of 1,000-row copies was ~13% of the
/// database's CPU, and ~5% with copies of 250 rows (100 rows per copy cost more again,
/// in statements).
const COPY_ROWS: usize = 250;

/// Records the events that are new; answers those recorded now (a replayed batch answers
/// none). Events of messages that no longer exist (erased) are dropped. An open or click
/// of a link counted less than `repeat_window` before is recorded as a repeat (see
/// `repeats`); a zero window counts every hit.
///
/// The batch is looked up, written and counted as a whole: each lookup and write is one
/// statement per batch (per `CHUNK` ids or rows), not one per slice of events.
pub fn record_batch(
    conn: &mut DbConnection,
    batch: &[NewEvent],
    repeat_window: Duration,
) -> Result<Vec<Event>> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    conn.write_transaction(|conn| {
        let now = clock::now();
        let mut rows = rows_of(conn, batch, now)?;
        super::repeats::mark_repeats(conn, &mut rows, repeat_window)?;
        let recorded = insert_new(conn, rows)?;
        let deltas = count(conn, &recorded, now)?;
        crate::webhooks::fan_out(conn, &recorded)?;
        // Late, too: a shard of the installation's totals is locked until the commit.
        super::totals::add(conn, &recorded)?;
        // Last: a campaign's counter row, which every batch of the campaign updates, stays
        // locked only until the commit that follows.
        add_to_counters(conn, deltas)?;
        Ok(recorded)
    })
}

/// The batch's events as rows, each once, with its recipient's details; without the events
/// of messages or accounts that are gone, and without the opens and clicks of people who
/// restricted processing or were erased.
fn rows_of(conn: &mut DbConnection, batch: &[NewEvent], now: Timestamp) -> Result<Vec<Event>> {
    let message_ids: Vec<Id> = unique(batch.iter().map(|e| e.message_id));
    let recipients: HashMap<Id, Recipient> = per_chunk(&message_ids, |ids| {
        let found = messages::table
            .filter(messages::id.eq_any(ids))
            .select((
                messages::id,
                messages::account_id,
                messages::campaign_id,
                messages::contact_id,
                messages::to_email,
                messages::custom_id,
                messages::kind,
            ))
            .load::<Recipient>(conn)?;
        Ok(found.into_iter().map(|r| (r.id, r)).collect())
    })?;
    let account_ids: Vec<Id> = unique(recipients.values().map(|r| r.account_id));
    // Whether each account stores IPs truncated; an account missing here is being erased.
    let truncating = lock_accounts(conn, &account_ids)?;
    // Opens and clicks of people whose processing is restricted, or who were erased, are
    // not recorded (data-subject requests).
    let tracked = |e: &NewEvent| matches!(e.event_type, EventType::Open | EventType::Click);
    let restricted: HashSet<Id> = if batch.iter().any(tracked) {
        let contact_ids: Vec<Id> = unique(recipients.values().filter_map(|r| r.contact_id));
        per_chunk(&contact_ids, |ids| {
            Ok(contacts::table
                .filter(contacts::id.eq_any(ids))
                .filter(contacts::restricted_at.is_not_null())
                .select(contacts::id)
                .load::<Id>(conn)?)
        })?
    } else {
        HashSet::new()
    };
    let untracked = |r: &Recipient| {
        r.contact_id.is_some_and(|c| restricted.contains(&c))
            || r.to_email.starts_with(ERASED_PREFIX)
    };
    let mut seen = HashSet::with_capacity(batch.len());
    Ok(batch
        .iter()
        .filter(|e| seen.insert(e.id))
        .filter_map(|e| {
            let r = recipients.get(&e.message_id)?;
            let truncate_ips = *truncating.get(&r.account_id)?;
            if tracked(e) && untracked(r) {
                return None;
            }
            let ip = match &e.data.ip {
                Some(ip) if truncate_ips => truncate_ip(ip),
                other => other.clone(),
            };
            Some(Event {
                id: e.id,
                account_id: r.account_id,
                event_type: e.event_type.as_str().to_owned(),
                message_id: Some(r.id),
                campaign_id: r
                    .campaign_id
                    .filter(|_| MessageKind::parse(&r.kind) == Some(MessageKind::Campaign)),
                contact_id: r.contact_id,
                // A message whose content the retention purge removed names no one.
                email: Some(r.to_email.clone()).filter(|e| !e.is_empty()),
                custom_id: r.custom_id.clone(),
                url: e.data.url.clone(),
                ip,
                user_agent: e.data.user_agent.clone(),
                bounce_class: e.data.bounce_class.clone(),
                diagnostic: e.data.diagnostic.clone(),
                source: e.data.source.clone(),
                occurred_at: e.occurred_at,
                created_at: now,
            })
        })
        .collect())
}

/// The accounts of a batch that still exist, each with whether it stores IPs truncated.
///
/// The event log has no foreign key to accounts (its per-row check was about a quarter of
/// what a row cost to write), so this takes its place once per batch: on PostgreSQL the
/// accounts are share-locked until the batch commits. An account's erasure deletes its row under an
/// exclusive lock, sweeping its events in the same transaction: it waits for a batch that
/// locked the account first and then deletes that batch's events too, and a batch that
/// comes after it finds the account gone and records none of its events. (SQLite runs one
/// writer at a time.)
fn lock_accounts(conn: &mut DbConnection, ids: &[Id]) -> Result<HashMap<Id, bool>> {
    let query = accounts::table
        .filter(accounts::id.eq_any(ids))
        .select((accounts::id, accounts::truncate_ips));
    let rows: Vec<(Id, bool)> = match conn {
        DbConnection::Postgres(pg) => query.order(accounts::id).for_key_share().load(pg)?,
        DbConnection::Sqlite(lite) => query.load(lite)?,
    };
    Ok(rows.into_iter().collect())
}

/// `query` run on `items` per `CHUNK` (one statement each), its answers gathered.
fn per_chunk<T, R, C>(items: &[T], mut query: impl FnMut(&[T]) -> Result<Vec<R>>) -> Result<C>
where
    C: Default + Extend<R>,
{
    let mut gathered = C::default();
    for chunk in items.chunks(CHUNK) {
        gathered.extend(query(chunk)?);
    }
    Ok(gathered)
}

fn unique<I: Iterator<Item = Id>>(ids: I) -> Vec<Id> {
    let mut seen = HashSet::new();
    ids.filter(|id| seen.insert(*id)).collect()
}

/// Inserts the rows whose id is new; answers the rows inserted.
///
/// On PostgreSQL the rows are copied in (`COPY`, a fraction of a multi-row `INSERT`'s cost
/// per row), `COPY_ROWS` per statement, under one savepoint. Fresh events are the rule; a batch
/// delivered again, after a worker died before acknowledging it, collides with its rows
/// recorded the first time, and is then inserted skipping the ids already there.
fn insert_new(conn: &mut DbConnection, rows: Vec<Event>) -> Result<Vec<Event>> {
    if rows.is_empty() {
        return Ok(rows);
    }
    // Built only when rows may have been skipped: a fresh batch's copy takes them all.
    let inserted: HashSet<Id> = match conn {
        DbConnection::Postgres(pg) => {
            use diesel::ExecuteCopyFromDsl;
            use diesel::result::{DatabaseErrorKind, Error};
            let copied = pg.transaction(|pg| {
                for chunk in rows.chunks(COPY_ROWS) {
                    diesel::copy_from(events::table)
                        .from_insertable(chunk)
                        .execute(pg)?;
                }
                Ok::<_, Error>(())
            });
            match copied {
                Ok(_) => return Ok(rows),
                Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                    per_chunk(&rows, |chunk| {
                        Ok(diesel::insert_into(events::table)
                            .values(chunk)
                            .on_conflict_do_nothing()
                            .returning(events::id)
                            .get_results::<Id>(pg)?)
                    })?
                }
                Err(e) => return Err(e.into()),
            }
        }
        DbConnection::Sqlite(lite) => per_chunk(&rows, |chunk| {
            Ok(diesel::insert_or_ignore_into(events::table)
                .values(chunk)
                .returning(events::id)
                .get_results::<Id>(lite)?)
        })?,
    };
    Ok(rows
        .into_iter()
        .filter(|e| inserted.contains(&e.id))
        .collect())
}

/// Locks the messages of a batch's opens and clicks in id order before marking them, so
/// that concurrent batches touching the same messages queue up instead of deadlocking.
fn lock_in_order(conn: &mut DbConnection, ids: &[Id]) -> Result<()> {
    if let DbConnection::Postgres(pg) = conn
        && !ids.is_empty()
    {
        messages::table
            .filter(messages::id.eq_any(ids))
            .order(messages::id.asc())
            .select(messages::id)
            .for_update()
            .load::<Id>(pg)?;
    }
    Ok(())
}

/// Marks first opens and clicks on their messages; answers the messages whose first it
/// was (so a unique count cannot be taken twice, even by two workers at once).
fn mark_first(
    conn: &mut DbConnection,
    ids: &[Id],
    event_type: EventType,
    at: Timestamp,
) -> Result<HashSet<Id>> {
    macro_rules! first {
        ($column:expr, $db:expr, $ids:expr) => {
            diesel::update(
                messages::table
                    .filter(messages::id.eq_any($ids))
                    .filter($column.is_null()),
            )
            .set($column.eq(Some(at)))
            .returning(messages::id)
            .get_results::<Id>($db)?
        };
    }
    per_chunk(ids, |ids| {
        Ok(match (&mut *conn, event_type) {
            (DbConnection::Postgres(pg), EventType::Open) => first!(messages::opened_at, pg, ids),
            (DbConnection::Postgres(pg), _) => first!(messages::clicked_at, pg, ids),
            (DbConnection::Sqlite(lite), EventType::Open) => {
                first!(messages::opened_at, lite, ids)
            }
            (DbConnection::Sqlite(lite), _) => first!(messages::clicked_at, lite, ids),
        })
    })
}

/// Marks first opens and clicks, and answers the recorded events' counter deltas per
/// campaign (written by `add_to_counters`).
fn count(
    conn: &mut DbConnection,
    rows: &[Event],
    now: Timestamp,
) -> Result<HashMap<Id, CounterRow>> {
    let mut opens = Vec::new();
    let mut clicks = Vec::new();
    // Repeats of a link counted within the window are logged, not counted.
    let rows: Vec<&Event> = rows.iter().filter(|e| !e.is_repeated_hit()).collect();
    for e in &rows {
        match (e.event_type(), e.message_id) {
            (Some(EventType::Open), Some(m)) => opens.push(m),
            (Some(EventType::Click), Some(m)) => clicks.push(m),
            _ => {}
        }
    }
    // Only messages whose first open or click is still unmarked are locked and updated:
    // most hits are on messages opened before, and batches carrying them do not queue up
    // on those rows. (Marked is for good; one marked meanwhile is not marked twice, as the
    // update asks for an unmarked column again.)
    let touched = unique(opens.iter().chain(clicks.iter()).copied());
    let unmarked: Vec<(Id, bool, bool)> = per_chunk(&touched, |ids| {
        Ok(messages::table
            .filter(messages::id.eq_any(ids))
            .select((
                messages::id,
                messages::opened_at.is_null(),
                messages::clicked_at.is_null(),
            ))
            .load::<(Id, bool, bool)>(conn)?)
    })?;
    let unopened: HashSet<Id> = unmarked.iter().filter(|m| m.1).map(|m| m.0).collect();
    let unclicked: HashSet<Id> = unmarked.iter().filter(|m| m.2).map(|m| m.0).collect();
    opens.retain(|m| unopened.contains(m));
    clicks.retain(|m| unclicked.contains(m));
    let mut to_mark = unique(opens.iter().chain(clicks.iter()).copied());
    to_mark.sort();
    lock_in_order(conn, &to_mark)?;
    let first_opens = mark_first(conn, &unique(opens.into_iter()), EventType::Open, now)?;
    let first_clicks = mark_first(conn, &unique(clicks.into_iter()), EventType::Click, now)?;
    let (mut opened, mut clicked) = (HashSet::new(), HashSet::new());
    let mut deltas: HashMap<Id, CounterRow> = HashMap::new();
    for e in rows {
        let (Some(campaign_id), Some(kind)) = (e.campaign_id, e.event_type()) else {
            continue;
        };
        let d = deltas
            .entry(campaign_id)
            .or_insert_with(|| CounterRow::zero(campaign_id, e.account_id, now));
        let message = e.message_id.unwrap_or_default();
        // A report's bounce or failure of a message the relay had taken takes it out of
        // `sent` (its `sent` event came first), so the counters add up as the messages'
        // states do.
        let after_delivery = e.source.as_deref() == Some(REPORTED_AFTER_DELIVERY);
        if after_delivery && matches!(kind, EventType::Bounce | EventType::Blocked) {
            d.sent -= 1;
        }
        match kind {
            EventType::Sent => d.sent += 1,
            EventType::Deferred => d.deferred += 1,
            EventType::Bounce if e.bounce_class.as_deref() == Some("soft") => d.bounced_soft += 1,
            EventType::Bounce => d.bounced_hard += 1,
            EventType::Blocked if after_delivery => d.failed += 1,
            EventType::Blocked if e.source.as_deref() == Some("failed") => d.failed += 1,
            EventType::Blocked => d.blocked += 1,
            EventType::Open => {
                d.opened_total += 1;
                if first_opens.contains(&message) && opened.insert(message) {
                    d.opened_unique += 1;
                }
            }
            EventType::Click => {
                d.clicked_total += 1;
                if first_clicks.contains(&message) && clicked.insert(message) {
                    d.clicked_unique += 1;
                }
            }
            EventType::Unsub => d.unsubscribed += 1,
            EventType::Spam => d.complained += 1,
        }
    }
    Ok(deltas)
}

/// Adds the deltas to the campaigns' counter rows, taken in campaign order. The row is
/// created by the campaign's first recorded event.
fn add_to_counters(conn: &mut DbConnection, deltas: HashMap<Id, CounterRow>) -> Result<()> {
    let mut deltas: Vec<CounterRow> = deltas.into_values().collect();
    deltas.sort_by_key(|d| d.campaign_id);
    for d in deltas {
        if add_to_row(conn, &d)? == 0 {
            create_row(conn, &d)?;
            add_to_row(conn, &d)?;
        }
    }
    Ok(())
}

fn add_to_row(conn: &mut DbConnection, d: &CounterRow) -> Result<usize> {
    Ok(diesel::update(campaign_stats::table.find(d.campaign_id))
        .set((
            campaign_stats::sent.eq(campaign_stats::sent + d.sent),
            campaign_stats::deferred.eq(campaign_stats::deferred + d.deferred),
            campaign_stats::bounced_hard.eq(campaign_stats::bounced_hard + d.bounced_hard),
            campaign_stats::bounced_soft.eq(campaign_stats::bounced_soft + d.bounced_soft),
            campaign_stats::blocked.eq(campaign_stats::blocked + d.blocked),
            campaign_stats::opened_unique.eq(campaign_stats::opened_unique + d.opened_unique),
            campaign_stats::opened_total.eq(campaign_stats::opened_total + d.opened_total),
            campaign_stats::clicked_unique.eq(campaign_stats::clicked_unique + d.clicked_unique),
            campaign_stats::clicked_total.eq(campaign_stats::clicked_total + d.clicked_total),
            campaign_stats::unsubscribed.eq(campaign_stats::unsubscribed + d.unsubscribed),
            campaign_stats::complained.eq(campaign_stats::complained + d.complained),
            campaign_stats::failed.eq(campaign_stats::failed + d.failed),
            campaign_stats::updated_at.eq(d.updated_at),
        ))
        .execute(conn)?)
}

/// An all-zero counter row (another batch may create it first).
fn create_row(conn: &mut DbConnection, d: &CounterRow) -> Result<()> {
    let empty = CounterRow::zero(d.campaign_id, d.account_id, d.updated_at);
    match conn {
        DbConnection::Postgres(pg) => diesel::insert_into(campaign_stats::table)
            .values(&empty)
            .on_conflict_do_nothing()
            .execute(pg)?,
        DbConnection::Sqlite(lite) => diesel::insert_or_ignore_into(campaign_stats::table)
            .values(&empty)
            .execute(lite)?,
    };
    Ok(())
}
