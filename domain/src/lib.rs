//! Mailroom's domain: the types, rules and persistence that every Mailroom binary shares.
//!
//! Each area (`accounts`, `contacts`, `lists`) keeps its types, rules and queries together;
//! `store` owns connections, portable column types and migrations.

pub mod accounts;
pub mod audit;
pub mod campaigns;
pub mod clock;
pub mod config;
pub mod consent;
pub mod contacts;
pub mod data_subjects;
pub mod error;
pub mod events;
pub mod idempotency;
pub mod imports;
pub mod inbound;
pub mod jobs;
pub mod limits;
pub mod lists;
pub mod messages;
pub mod outcomes;
pub mod pagination;
pub mod rendering;
pub mod retention;
pub mod schema;
pub mod sending_domains;
pub mod store;
pub mod suppressions;
pub mod text;
pub mod tokens;
pub mod tracking;
pub mod webhooks;

pub use error::{Error, FieldError, Result};
pub use store::sql_types::{Id, Json, Timestamp};
