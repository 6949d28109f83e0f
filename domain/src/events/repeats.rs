//! Repeated opens and clicks: a hit of a link (a message's open pixel, or one of its tracked
//! links) within the repeat window of the last hit counted is kept in the event log, marked
//! `source: "repeat"`, but adds nothing to the statistics and goes to no webhook.
//!
//! The window is the installation's, not a process's: each link's last count lives in
//! `tracking_counts`, read and moved in the transaction that records the hits. Whichever
//! API replica answered a hit and whichever events worker records it, a link counts once
//! per window. The move is conditional (only if the link's window has passed by the hit
//! counted), so of two workers recording hits of one link at the same moment, one counts
//! and the other's hits become repeats.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use diesel::prelude::*;
use diesel::upsert::excluded;
use sha2::{Digest, Sha256};

use super::event::{Event, EventType, REPEATED_HIT};
use crate::error::Result;
use crate::schema::tracking_counts;
use crate::store::DbConnection;
use crate::store::sql_types::{Id, Timestamp};

/// The ids one lookup names, and the rows one upsert carries.
const CHUNK: usize = 500;

/// One link of one message.
type Link = (Id, String);

#[derive(Insertable)]
#[diesel(table_name = tracking_counts)]
struct LinkCount {
    message_id: Id,
    link: String,
    counted_at: Timestamp,
    repeats_until: Timestamp,
}

/// Marks the opens and clicks of `rows` that repeat a hit of their link counted less than
/// `window` before (by the time of the hit), and records when each link was counted.
pub(super) fn mark_repeats(
    conn: &mut DbConnection,
    rows: &mut [Event],
    window: Duration,
) -> Result<()> {
    if window.is_zero() {
        return Ok(());
    }
    let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
    // The hits that may count, per link, in the order they happened.
    let mut hits: HashMap<Link, Vec<usize>> = HashMap::new();
    for (i, e) in rows.iter().enumerate() {
        if let (Some(link), None) = (link_of(e), &e.source) {
            hits.entry(link).or_default().push(i);
        }
    }
    if hits.is_empty() {
        return Ok(());
    }
    let until = counted_until(conn, &hits)?;
    let mut counts = Vec::new();
    let mut counted: HashMap<Link, Vec<usize>> = HashMap::new();
    for (link, mut indices) in hits {
        indices.sort_by_key(|&i| rows[i].occurred_at.0);
        let mut repeats_until = until.get(&link).map(|t| t.0);
        let mut first = None;
        for i in indices {
            let at = rows[i].occurred_at.0;
            if repeats_until.is_some_and(|u| at < u) {
                rows[i].source = Some(REPEATED_HIT.to_owned());
                continue;
            }
            first.get_or_insert(at);
            repeats_until = Some(at.checked_add_signed(window).unwrap_or(at));
            counted.entry(link.clone()).or_default().push(i);
        }
        if let (Some(first), Some(repeats_until)) = (first, repeats_until) {
            counts.push(LinkCount {
                message_id: link.0,
                link: link.1,
                counted_at: Timestamp(first),
                repeats_until: Timestamp(repeats_until),
            });
        }
    }
    let moved = move_windows(conn, &counts)?;
    // Another worker counted these links meanwhile: their hits here repeat its count.
    for (link, indices) in counted {
        if !moved.contains(&link) {
            for i in indices {
                rows[i].source = Some(REPEATED_HIT.to_owned());
            }
        }
    }
    Ok(())
}

/// The link an open or click hit: the open pixel, or a hash of the clicked URL (the URL may
/// name its recipient; the hash is all the window needs).
fn link_of(e: &Event) -> Option<Link> {
    let message_id = e.message_id?;
    match e.event_type()? {
        EventType::Open => Some((message_id, "open".to_owned())),
        EventType::Click => {
            let digest = Sha256::digest(e.url.as_deref().unwrap_or_default().as_bytes());
            let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
            Some((message_id, format!("click:{hex}")))
        }
        _ => None,
    }
}

/// Until when each link's hits are repeats, for the links that were counted before.
fn counted_until(
    conn: &mut DbConnection,
    hits: &HashMap<Link, Vec<usize>>,
) -> Result<HashMap<Link, Timestamp>> {
    let message_ids: Vec<Id> = hits
        .keys()
        .map(|(m, _)| *m)
        .collect::<HashSet<Id>>()
        .into_iter()
        .collect();
    let mut until = HashMap::new();
    for ids in message_ids.chunks(CHUNK) {
        let found: Vec<(Id, String, Timestamp)> = tracking_counts::table
            .filter(tracking_counts::message_id.eq_any(ids))
            .select((
                tracking_counts::message_id,
                tracking_counts::link,
                tracking_counts::repeats_until,
            ))
            .load(conn)?;
        for (message_id, link, repeats_until) in found {
            until.insert((message_id, link), repeats_until);
        }
    }
    Ok(until)
}

/// Writes each link's new count, where the link's window (as stored now) has passed by the
/// first hit counted; answers the links written.
fn move_windows(conn: &mut DbConnection, counts: &[LinkCount]) -> Result<HashSet<Link>> {
    macro_rules! upsert {
        ($rows:expr, $db:expr) => {{
            let statement = diesel::insert_into(tracking_counts::table)
                .values($rows)
                .on_conflict((tracking_counts::message_id, tracking_counts::link))
                .do_update()
                .set((
                    tracking_counts::counted_at.eq(excluded(tracking_counts::counted_at)),
                    tracking_counts::repeats_until.eq(excluded(tracking_counts::repeats_until)),
                ));
            diesel::query_dsl::methods::FilterDsl::filter(
                statement,
                tracking_counts::repeats_until.le(excluded(tracking_counts::counted_at)),
            )
            .returning((tracking_counts::message_id, tracking_counts::link))
            .get_results::<Link>($db)?
        }};
    }
    let mut moved = HashSet::new();
    match conn {
        DbConnection::Postgres(pg) => {
            for chunk in counts.chunks(CHUNK) {
                moved.extend(upsert!(chunk, pg));
            }
        }
        // SQLite takes no multi-row upsert from diesel; its statements are calls in the
        // process, and a batch names few links.
        DbConnection::Sqlite(lite) => {
            for count in counts {
                moved.extend(upsert!(count, lite));
            }
        }
    }
    Ok(moved)
}
