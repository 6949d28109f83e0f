//! Persistence: the connection type, the pool, portable column types and migrations.

mod at_rest;
mod connection;
mod migrate;
mod pool;
pub mod sql_types;
mod url;

pub use at_rest::{ERASURE_TABLES, create_private_dir, reclaim_deleted_space};
pub use connection::{Backend, DbConnection, MultiBackend};
pub use migrate::{redo_all, run_migrations};
pub use pool::{ConnectionManager, Pool, PoolOptions, PooledConnection, build_pool, checkout};
pub use url::DatabaseUrl;
