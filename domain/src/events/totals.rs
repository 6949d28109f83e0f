//! What became of the installation's messages, ever: counters of the sent, bounced,
//! complained and blocked events recorded across every account, for `/metrics`. They grow
//! with each event recorded (once, as the event is) and are never purged, unlike the events.

use diesel::prelude::*;
use diesel::upsert::excluded;

use super::event::{Event, EventType};
use crate::error::Result;
use crate::schema::outcome_totals;
use crate::store::DbConnection;

/// The outcomes counted, with the name each has in `/metrics`.
pub const OUTCOMES: [(EventType, &str); 4] = [
    (EventType::Sent, "sent"),
    (EventType::Bounce, "bounced"),
    (EventType::Spam, "complained"),
    (EventType::Blocked, "blocked"),
];

/// Rows per outcome: concurrent batches add to different rows of one outcome.
const SHARDS: u128 = 8;

/// Adds the outcomes among `recorded` to the totals (in the batch's transaction).
pub(super) fn add(conn: &mut DbConnection, recorded: &[Event]) -> Result<()> {
    let Some(first) = recorded.first() else {
        return Ok(());
    };
    // UUIDv7 ids end in random bits: the batch's first id picks its shard.
    let shard = (first.id.0.as_u128() % SHARDS) as i32;
    for (event_type, name) in OUTCOMES {
        let n = recorded
            .iter()
            .filter(|e| e.event_type == event_type.as_str())
            .count() as i64;
        if n == 0 {
            continue;
        }
        let row = (
            outcome_totals::outcome.eq(name),
            outcome_totals::shard.eq(shard),
            outcome_totals::total.eq(n),
        );
        let upsert = diesel::insert_into(outcome_totals::table)
            .values(row)
            .on_conflict((outcome_totals::outcome, outcome_totals::shard))
            .do_update()
            .set(outcome_totals::total.eq(outcome_totals::total + excluded(outcome_totals::total)));
        match conn {
            DbConnection::Postgres(pg) => upsert.execute(pg)?,
            DbConnection::Sqlite(lite) => upsert.execute(lite)?,
        };
    }
    Ok(())
}

/// The totals by outcome name, every outcome named (0 when none yet).
pub fn outcome_totals(conn: &mut DbConnection) -> Result<Vec<(&'static str, i64)>> {
    // A few rows per outcome: summed here.
    let rows: Vec<(String, i64)> = outcome_totals::table
        .select((outcome_totals::outcome, outcome_totals::total))
        .load(conn)?;
    Ok(OUTCOMES
        .iter()
        .map(|(_, name)| {
            let total = rows
                .iter()
                .filter(|(outcome, _)| outcome == name)
                .map(|(_, n)| n)
                .sum();
            (*name, total)
        })
        .collect())
}
