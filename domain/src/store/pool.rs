//! The r2d2 pool. Its manager picks the backend from the URL scheme and reports why a
//! connection failed (naming the host, never the password) instead of a bare "timed out".

use std::time::Duration;

use diesel::connection::SimpleConnection;

use super::connection::DbConnection;
use super::url::DatabaseUrl;
use crate::error::Error;

pub type Pool = r2d2::Pool<ConnectionManager>;
pub type PooledConnection = r2d2::PooledConnection<ConnectionManager>;

#[derive(Debug)]
pub struct ConnectionManager {
    url: DatabaseUrl,
}

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = Error;

    fn connect(&self) -> Result<DbConnection, Error> {
        DbConnection::open(&self.url)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), Error> {
        conn.batch_execute("SELECT 1").map_err(Error::from)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        conn.is_broken_connection()
    }
}

#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub max_size: u32,
    /// How long a request waits for a connection before it is answered 503.
    pub checkout_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            max_size: 10,
            checkout_timeout: Duration::from_secs(5),
        }
    }
}

/// Builds a pool without connecting: the API starts (and `/readyz` says 503) even while
/// the database is down. Migrations, run next, are what insist on reaching it.
pub fn build_pool(url: &DatabaseUrl, options: &PoolOptions) -> Pool {
    let max_size = match url {
        // One writer at a time anyway; a few readers beside it in WAL mode.
        DatabaseUrl::Sqlite { .. } => options.max_size.clamp(1, 8),
        DatabaseUrl::Postgres { .. } => options.max_size.max(1),
    };
    r2d2::Pool::builder()
        .max_size(max_size)
        .min_idle(Some(0))
        .connection_timeout(options.checkout_timeout)
        .test_on_check_out(false)
        .idle_timeout(Some(Duration::from_secs(300)))
        .error_handler(Box::new(LogErrors))
        .build_unchecked(ConnectionManager { url: url.clone() })
}

/// Checks a connection out, turning a timeout into the reason the last attempt failed.
pub fn checkout(pool: &Pool) -> Result<PooledConnection, Error> {
    pool.get()
        .map_err(|e| Error::Unavailable(format!("database unavailable: {e}")))
}

#[derive(Debug)]
struct LogErrors;

impl r2d2::HandleError<Error> for LogErrors {
    fn handle_error(&self, error: Error) {
        tracing::warn!(%error, "database connection failed");
    }
}
