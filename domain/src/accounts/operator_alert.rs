//! Alerts for the operator: an automatic suspension is written here in its own transaction,
//! and a worker delivers it to `MAILROOM_OPERATOR_WEBHOOK_URL` (retried with backoff), so
//! the operator hears of it even if the process that suspended the account dies.

use std::time::Duration;

use diesel::prelude::*;

use crate::clock;
use crate::error::Result;
use crate::schema::operator_alerts;
use crate::store::DbConnection;
use crate::store::sql_types::{Id, Timestamp};

/// Attempts after which an alert is given up on (the warn log line and the metric remain).
pub const MAX_ATTEMPTS: i32 = 12;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = operator_alerts)]
pub struct OperatorAlert {
    pub id: Id,
    pub account_id: Id,
    pub reason: String,
    pub created_at: Timestamp,
    pub next_attempt_at: Timestamp,
    pub attempts: i32,
    pub delivered_at: Option<Timestamp>,
    pub last_error: Option<String>,
}

impl OperatorAlert {
    /// Writes an alert about an automatic suspension; call it in the suspension's
    /// transaction.
    pub fn raise(conn: &mut DbConnection, account_id: Id, reason: &str) -> Result<()> {
        let now = clock::now();
        diesel::insert_into(operator_alerts::table)
            .values(OperatorAlert {
                id: Id::new(),
                account_id,
                reason: reason.to_owned(),
                created_at: now,
                next_attempt_at: now,
                attempts: 0,
                delivered_at: None,
                last_error: None,
            })
            .execute(conn)?;
        Ok(())
    }

    /// Alerts due for delivery, oldest first.
    pub fn due(conn: &mut DbConnection, limit: i64) -> Result<Vec<OperatorAlert>> {
        Ok(operator_alerts::table
            .filter(operator_alerts::delivered_at.is_null())
            .filter(operator_alerts::attempts.lt(MAX_ATTEMPTS))
            .filter(operator_alerts::next_attempt_at.le(clock::now()))
            .order(operator_alerts::id.asc())
            .limit(limit)
            .select(OperatorAlert::as_select())
            .load(conn)?)
    }

    /// Claims the alert for one delivery attempt (answers false when another worker did):
    /// its next attempt moves out by `backoff` first, so a worker that dies mid-attempt
    /// leaves it to be tried again then.
    pub fn claim(
        conn: &mut DbConnection,
        alert: &OperatorAlert,
        backoff: Duration,
    ) -> Result<bool> {
        let next = clock::now().0 + chrono::Duration::from_std(backoff).unwrap_or_default();
        let claimed = diesel::update(
            operator_alerts::table
                .find(alert.id)
                .filter(operator_alerts::attempts.eq(alert.attempts))
                .filter(operator_alerts::delivered_at.is_null()),
        )
        .set((
            operator_alerts::attempts.eq(alert.attempts + 1),
            operator_alerts::next_attempt_at.eq(Timestamp::from(next)),
        ))
        .execute(conn)?;
        Ok(claimed > 0)
    }

    pub fn delivered(conn: &mut DbConnection, id: Id) -> Result<()> {
        diesel::update(operator_alerts::table.find(id))
            .set(operator_alerts::delivered_at.eq(Some(clock::now())))
            .execute(conn)?;
        Ok(())
    }

    pub fn failed(conn: &mut DbConnection, id: Id, error: &str) -> Result<()> {
        diesel::update(operator_alerts::table.find(id))
            .set(operator_alerts::last_error.eq(Some(error.chars().take(500).collect::<String>())))
            .execute(conn)?;
        Ok(())
    }
}
