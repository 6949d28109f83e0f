//! Portable column types and the Rust values that travel in them.
//!
//! Ids, instants and JSON documents are native `uuid`, `timestamptz` and `jsonb` on
//! PostgreSQL and `TEXT` on SQLite. Each SQL type below maps to both, so one `schema.rs`
//! and one set of models serve both backends through [`MultiBackend`]. The Rust side is a
//! small newtype per kind ([`Id`], [`Timestamp`], [`Json`]): diesel only lets a crate bind
//! its own types to its own SQL types.

use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::query_builder::QueryId;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::SqlType;
use diesel::sql_types::{self, HasSqlType};
use diesel::sqlite::Sqlite;
use serde::{Deserialize, Serialize};

use super::connection::MultiBackend;

/// A UUID: `uuid` on PostgreSQL, its hyphenated lower-case text on SQLite (which sorts
/// in the same order, so keyset pagination over UUIDv7 ids behaves alike).
#[derive(Debug, Clone, Copy, Default, SqlType, QueryId)]
#[diesel(postgres_type(oid = 2950, array_oid = 2951))]
#[diesel(sqlite_type(name = "Text"))]
pub struct PortableUuid;

/// A JSON document: `jsonb` on PostgreSQL, JSON text on SQLite.
#[derive(Debug, Clone, Copy, Default, SqlType, QueryId)]
#[diesel(postgres_type(oid = 3802, array_oid = 3807))]
#[diesel(sqlite_type(name = "Text"))]
pub struct PortableJson;

/// An instant: `timestamptz` on PostgreSQL, fixed-width RFC 3339 UTC text on SQLite
/// (microsecond precision, so text order is time order).
#[derive(Debug, Clone, Copy, Default, SqlType, QueryId)]
#[diesel(postgres_type(oid = 1184, array_oid = 1185))]
#[diesel(sqlite_type(name = "Text"))]
pub struct PortableTimestamp;

/// The id of every Mailroom resource: a UUIDv7, so ids sort by creation time.
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    AsExpression,
    FromSqlRow,
    utoipa::ToSchema,
)]
#[diesel(sql_type = PortableUuid)]
#[serde(transparent)]
#[schema(value_type = String, format = Uuid)]
pub struct Id(pub uuid::Uuid);

impl Id {
    /// A new time-ordered id.
    pub fn new() -> Self {
        Id(uuid::Uuid::now_v7())
    }
    pub fn as_uuid(&self) -> &uuid::Uuid {
        &self.0
    }
    /// The least time-ordered id minted in `at`'s millisecond: ids minted before that
    /// millisecond sort below it, ids minted in it or later do not. (A UUIDv7 begins with
    /// its minting instant in milliseconds; this one has the version and variant bits and
    /// nothing else after it.)
    pub fn first_minted_at(at: Timestamp) -> Id {
        let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
        let mut bytes = [0u8; 16];
        bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
        bytes[6] = 0x70;
        bytes[8] = 0x80;
        Id(uuid::Uuid::from_bytes(bytes))
    }
}

impl Default for Id {
    fn default() -> Self {
        Id::new()
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Id {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::parse_str(s).map(Id)
    }
}

impl From<uuid::Uuid> for Id {
    fn from(u: uuid::Uuid) -> Self {
        Id(u)
    }
}

/// An instant in UTC, kept to the microsecond (what both backends store).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    AsExpression,
    FromSqlRow,
    utoipa::ToSchema,
)]
#[diesel(sql_type = PortableTimestamp)]
#[serde(transparent)]
#[schema(value_type = String, format = DateTime)]
pub struct Timestamp(pub DateTime<Utc>);

impl Deref for Timestamp {
    type Target = DateTime<Utc>;
    fn deref(&self) -> &DateTime<Utc> {
        &self.0
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(dt: DateTime<Utc>) -> Self {
        use chrono::SubsecRound;
        Timestamp(dt.trunc_subsecs(6))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::Micros, true))
    }
}

/// A JSON document column (contact properties, key scopes, …).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, AsExpression, FromSqlRow)]
#[diesel(sql_type = PortableJson)]
#[serde(transparent)]
pub struct Json(pub serde_json::Value);

impl Deref for Json {
    type Target = serde_json::Value;
    fn deref(&self) -> &serde_json::Value {
        &self.0
    }
}

macro_rules! multi_backend_mapping {
    ($sql:ident, $rust:ty) => {
        impl HasSqlType<$sql> for MultiBackend {
            fn metadata(lookup: &mut Self::MetadataLookup) -> Self::TypeMetadata {
                MultiBackend::lookup_sql_type::<$sql>(lookup)
            }
        }
        impl ToSql<$sql, MultiBackend> for $rust {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, MultiBackend>) -> serialize::Result {
                out.set_value(($sql, self));
                Ok(IsNull::No)
            }
        }
        impl FromSql<$sql, MultiBackend> for $rust {
            fn from_sql(
                bytes: <MultiBackend as diesel::backend::Backend>::RawValue<'_>,
            ) -> deserialize::Result<Self> {
                bytes.from_sql::<Self, $sql>()
            }
        }
    };
}

multi_backend_mapping!(PortableUuid, Id);
multi_backend_mapping!(PortableJson, Json);
multi_backend_mapping!(PortableTimestamp, Timestamp);

type SqliteRaw<'a> = <Sqlite as diesel::backend::Backend>::RawValue<'a>;

fn sqlite_text(value: SqliteRaw<'_>) -> deserialize::Result<String> {
    <String as FromSql<sql_types::Text, Sqlite>>::from_sql(value)
}

impl ToSql<PortableUuid, Pg> for Id {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <uuid::Uuid as ToSql<sql_types::Uuid, Pg>>::to_sql(&self.0, out)
    }
}
impl FromSql<PortableUuid, Pg> for Id {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        <uuid::Uuid as FromSql<sql_types::Uuid, Pg>>::from_sql(value).map(Id)
    }
}
impl ToSql<PortableUuid, Sqlite> for Id {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.0.hyphenated().to_string());
        Ok(IsNull::No)
    }
}
impl FromSql<PortableUuid, Sqlite> for Id {
    fn from_sql(value: SqliteRaw<'_>) -> deserialize::Result<Self> {
        Ok(Id(uuid::Uuid::parse_str(&sqlite_text(value)?)?))
    }
}

impl ToSql<PortableJson, Pg> for Json {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <serde_json::Value as ToSql<sql_types::Jsonb, Pg>>::to_sql(&self.0, out)
    }
}
impl FromSql<PortableJson, Pg> for Json {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        <serde_json::Value as FromSql<sql_types::Jsonb, Pg>>::from_sql(value).map(Json)
    }
}
impl ToSql<PortableJson, Sqlite> for Json {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(serde_json::to_string(&self.0)?);
        Ok(IsNull::No)
    }
}
impl FromSql<PortableJson, Sqlite> for Json {
    fn from_sql(value: SqliteRaw<'_>) -> deserialize::Result<Self> {
        Ok(Json(serde_json::from_str(&sqlite_text(value)?)?))
    }
}

impl ToSql<PortableTimestamp, Pg> for Timestamp {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <DateTime<Utc> as ToSql<sql_types::Timestamptz, Pg>>::to_sql(&self.0, out)
    }
}
impl FromSql<PortableTimestamp, Pg> for Timestamp {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        <DateTime<Utc> as FromSql<sql_types::Timestamptz, Pg>>::from_sql(value).map(Timestamp)
    }
}
impl ToSql<PortableTimestamp, Sqlite> for Timestamp {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.to_string());
        Ok(IsNull::No)
    }
}
impl FromSql<PortableTimestamp, Sqlite> for Timestamp {
    fn from_sql(value: SqliteRaw<'_>) -> deserialize::Result<Self> {
        Ok(Timestamp(
            DateTime::parse_from_rfc3339(&sqlite_text(value)?)?.with_timezone(&Utc),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_timestamps_sort_as_text_in_time_order() {
        let a = Timestamp::from(
            DateTime::parse_from_rfc3339("2026-01-02T03:04:05.5Z")
                .unwrap()
                .with_timezone(&Utc),
        );
        let b = Timestamp::from(
            DateTime::parse_from_rfc3339("2026-01-02T03:04:05.000001Z")
                .unwrap()
                .with_timezone(&Utc),
        );
        assert!(b < a);
        assert!(b.to_string() < a.to_string());
        assert_eq!(a.to_string(), "2026-01-02T03:04:05.500000Z");
    }

    #[test]
    fn ids_sort_by_creation_as_text_and_bytes() {
        let first = Id::new();
        let second = Id::new();
        assert!(first < second);
        assert!(first.to_string() < second.to_string());
    }

    #[test]
    fn the_first_id_of_an_instant_bounds_the_ids_minted_before_and_after_it() {
        let before = Id::new();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let at = crate::clock::now();
        let bound = Id::first_minted_at(at);
        let after = Id::new();
        assert!(
            before < bound && bound <= after,
            "{before} < {bound} <= {after}"
        );
        assert!(before.to_string() < bound.to_string());
        assert!(bound.to_string() <= after.to_string());
        assert_eq!(bound.0.get_version_num(), 7);
        assert_eq!(bound.0.get_variant(), uuid::Variant::RFC4122);
        let (secs, nanos) = bound.0.get_timestamp().unwrap().to_unix();
        assert_eq!(
            i64::try_from(secs).unwrap() * 1000 + i64::from(nanos / 1_000_000),
            at.timestamp_millis()
        );
        // Before the epoch there is nothing to bound: the least id of all.
        let epoch = Timestamp::from(DateTime::<Utc>::UNIX_EPOCH - chrono::Duration::days(1));
        assert!(Id::first_minted_at(epoch) <= Id::first_minted_at(at));
    }
}
