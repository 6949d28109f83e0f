//! Stored responses of requests sent with an `Idempotency-Key`: a retried request gets the
//! first answer instead of doing the work twice.
//!
//! The key is reserved before the work starts, so a retry that arrives while the first
//! request still runs is told so rather than running in parallel.

use diesel::prelude::*;

use crate::clock;
use crate::error::{Error, Result};
use crate::schema::idempotency_keys;
use crate::store::DbConnection;
use crate::store::sql_types::{Id, Json, Timestamp};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = idempotency_keys)]
struct KeyRow {
    account_id: Id,
    endpoint: String,
    idempotency_key: String,
    request_hash: String,
    status_code: i32,
    response: Json,
    created_at: Timestamp,
}

/// A response kept for replay.
#[derive(Debug, Clone)]
pub struct StoredResponse {
    pub status_code: u16,
    pub body: serde_json::Value,
}

#[derive(Debug, Clone)]
pub enum Reservation {
    /// First use of the key: do the work, then `store` its answer.
    Fresh,
    /// The key was used before for the same request: answer this.
    Replay(StoredResponse),
    /// The first request with this key has not finished.
    InProgress,
    /// The key was used before for a different request.
    Mismatch,
}

const IN_PROGRESS: i32 = 0;

/// A reservation older than this whose request never finished (its process died) is taken
/// over by the next retry instead of answering "in progress" forever.
const ABANDONED_AFTER: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

pub fn validate_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > 255 || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(Error::invalid(
            "Idempotency-Key",
            "must be 1 to 255 visible ASCII characters",
        ));
    }
    Ok(())
}

pub fn reserve(
    conn: &mut DbConnection,
    account_id: Id,
    endpoint: &str,
    key: &str,
    request_hash: &str,
) -> Result<Reservation> {
    let row = KeyRow {
        account_id,
        endpoint: endpoint.to_owned(),
        idempotency_key: key.to_owned(),
        request_hash: request_hash.to_owned(),
        status_code: IN_PROGRESS,
        response: Json(serde_json::Value::Null),
        created_at: clock::now(),
    };
    match diesel::insert_into(idempotency_keys::table)
        .values(&row)
        .execute(conn)
    {
        Ok(_) => return Ok(Reservation::Fresh),
        Err(e) => match Error::from(e) {
            Error::Conflict(_) => {}
            other => return Err(other),
        },
    }
    let existing: KeyRow = idempotency_keys::table
        .find((account_id, endpoint, key))
        .select(KeyRow::as_select())
        .first(conn)?;
    let abandoned = existing.status_code == IN_PROGRESS
        && existing.created_at.0 < clock::now().0 - ABANDONED_AFTER;
    if abandoned && existing.request_hash == request_hash {
        // Only one retry takes it over: the one whose update still sees the old time.
        let taken = diesel::update(
            idempotency_keys::table
                .find((account_id, endpoint, key))
                .filter(idempotency_keys::created_at.eq(existing.created_at)),
        )
        .set(idempotency_keys::created_at.eq(clock::now()))
        .execute(conn)?;
        return Ok(if taken == 1 {
            Reservation::Fresh
        } else {
            Reservation::InProgress
        });
    }
    Ok(if existing.request_hash != request_hash {
        Reservation::Mismatch
    } else if existing.status_code == IN_PROGRESS {
        Reservation::InProgress
    } else {
        Reservation::Replay(StoredResponse {
            status_code: existing.status_code as u16,
            body: existing.response.0,
        })
    })
}

pub fn store(
    conn: &mut DbConnection,
    account_id: Id,
    endpoint: &str,
    key: &str,
    response: &StoredResponse,
) -> Result<()> {
    diesel::update(idempotency_keys::table.find((account_id, endpoint, key)))
        .set((
            idempotency_keys::status_code.eq(response.status_code as i32),
            idempotency_keys::response.eq(Json(response.body.clone())),
        ))
        .execute(conn)?;
    Ok(())
}

/// Frees a key whose request failed in a way a retry may fix (the server's fault).
pub fn release(conn: &mut DbConnection, account_id: Id, endpoint: &str, key: &str) -> Result<()> {
    diesel::delete(idempotency_keys::table.find((account_id, endpoint, key))).execute(conn)?;
    Ok(())
}
