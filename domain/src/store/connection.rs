//! The connection type of every Mailroom process: PostgreSQL or SQLite, chosen at run time.

use diesel::Connection;
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::R2D2Connection;
use diesel::sqlite::SqliteConnection;

use super::url::DatabaseUrl;
use crate::error::Error;

/// One connection to whichever backend `DATABASE_URL` names.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

/// Which backend a connection talks to, for the few statements that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl DbConnection {
    pub fn backend(&self) -> Backend {
        match self {
            DbConnection::Postgres(_) => Backend::Postgres,
            DbConnection::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// Opens one connection; the error names the host (never the password).
    pub fn open(url: &DatabaseUrl) -> Result<Self, Error> {
        match url {
            DatabaseUrl::Postgres { .. } => PgConnection::establish(&url.connect_string())
                .map(DbConnection::Postgres)
                .map_err(|e| {
                    Error::Unavailable(format!(
                        "cannot connect to PostgreSQL at {}: {}",
                        url.redacted(),
                        first_line(&e.to_string())
                    ))
                }),
            DatabaseUrl::Sqlite { path } => {
                if let Some(parent) = path.parent() {
                    super::create_private_dir(parent).map_err(|e| {
                        Error::Unavailable(format!("cannot create {}: {e}", parent.display()))
                    })?;
                }
                super::at_rest::private_database_file(path)?;
                let mut conn =
                    SqliteConnection::establish(&path.to_string_lossy()).map_err(|e| {
                        Error::Unavailable(format!(
                            "cannot open SQLite database {}: {e}",
                            path.display()
                        ))
                    })?;
                // WAL lets readers run beside the single writer; busy_timeout makes writers
                // queue instead of failing; SQLite leaves foreign keys off unless asked;
                // secure_delete overwrites what is deleted, so that an erased person's
                // address does not linger in free pages (see `at_rest`).
                conn.batch_execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                     PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
                     PRAGMA secure_delete = ON;",
                )
                .map_err(|e| {
                    Error::Unavailable(format!(
                        "cannot configure SQLite database {}: {e}",
                        path.display()
                    ))
                })?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }

    /// A transaction that will write. On SQLite it takes the write lock first, as
    /// `BEGIN IMMEDIATE` would: a transaction that reads before it writes cannot wait for
    /// the lock later (SQLite answers "database is locked" at once), while one that asks
    /// first queues behind the current writer for up to `busy_timeout`. On PostgreSQL it is
    /// an ordinary transaction.
    pub fn write_transaction<T, E, F>(&mut self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E>,
        E: From<diesel::result::Error>,
    {
        self.transaction(|conn| {
            if let DbConnection::Sqlite(lite) = conn {
                lite.batch_execute("UPDATE accounts SET id = id WHERE id IS NULL")?;
            }
            work(conn)
        })
    }

    /// A write transaction whose commit does not wait for the disk, for writes whose loss
    /// in a database crash is harmless because the work they record would be redone. On
    /// PostgreSQL `synchronous_commit` is off for this transaction only: it commits without
    /// its own WAL flush, is visible at once, and is durable with the next synchronous
    /// commit (WAL is flushed in order), so only a crash before that can lose it. On SQLite
    /// it is `write_transaction`.
    pub fn write_transaction_async_commit<T, E, F>(&mut self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E>,
        E: From<diesel::result::Error>,
    {
        self.write_transaction(|conn| {
            if let DbConnection::Postgres(pg) = conn {
                pg.batch_execute("SET LOCAL synchronous_commit = off")?;
            }
            work(conn)
        })
    }

    pub(crate) fn is_broken_connection(&mut self) -> bool {
        match self {
            DbConnection::Postgres(c) => c.is_broken(),
            DbConnection::Sqlite(c) => c.is_broken(),
        }
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s).trim()
}
