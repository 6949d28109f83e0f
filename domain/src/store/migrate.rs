//! Embedded migrations, one set per backend, applied at start and by `mailroom-api migrate`.

use diesel::RunQueryDsl;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::connection::DbConnection;
use crate::error::Error;

const POSTGRES: EmbeddedMigrations = embed_migrations!("../migrations/postgres");
const SQLITE: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");

/// Any constant shared by every Mailroom process: several replicas starting together take
/// turns, and the later ones find nothing left to apply.
const MIGRATION_LOCK: i64 = 0x6d61_696c_726f_6f6d;

/// Applies pending migrations and returns how many ran.
pub fn run_migrations(conn: &mut DbConnection) -> Result<usize, Error> {
    match conn {
        DbConnection::Postgres(pg) => {
            diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})")).execute(pg)?;
            let applied = pg.run_pending_migrations(POSTGRES).map(|v| v.len());
            let unlocked =
                diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
                    .execute(pg);
            let applied = applied.map_err(|e| Error::Internal(format!("migration failed: {e}")))?;
            unlocked?;
            Ok(applied)
        }
        DbConnection::Sqlite(lite) => lite
            .run_pending_migrations(SQLITE)
            .map(|v| v.len())
            .map_err(|e| Error::Internal(format!("migration failed: {e}"))),
    }
}

/// Reverts every migration, then applies them again: the up → down → up check.
pub fn redo_all(conn: &mut DbConnection) -> Result<(), Error> {
    let err = |e: Box<dyn std::error::Error + Send + Sync>| {
        Error::Internal(format!("migration failed: {e}"))
    };
    match conn {
        DbConnection::Postgres(pg) => {
            pg.revert_all_migrations(POSTGRES).map_err(err)?;
            pg.run_pending_migrations(POSTGRES).map_err(err)?;
        }
        DbConnection::Sqlite(lite) => {
            lite.revert_all_migrations(SQLITE).map_err(err)?;
            lite.run_pending_migrations(SQLITE).map_err(err)?;
        }
    }
    Ok(())
}
