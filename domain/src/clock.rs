//! Time as Mailroom stores it: UTC, microsecond precision (what both backends keep).

use crate::store::sql_types::Timestamp;

pub fn now() -> Timestamp {
    Timestamp::from(chrono::Utc::now())
}
