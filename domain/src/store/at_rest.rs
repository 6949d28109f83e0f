//! What stays in the database's files once rows are deleted, and the files' permissions.
//!
//! Deleting a row takes it out of its table, not out of the files: SQLite leaves the bytes
//! in free pages and in the write-ahead log, PostgreSQL leaves dead row versions in the
//! table until it is vacuumed. After an erasure Mailroom gives that space back at once:
//! SQLite runs with `secure_delete` (freed space is overwritten with zeros) and the WAL is
//! checkpointed and truncated; on PostgreSQL the erasure's tables are vacuumed. What
//! remains on disk, per backend, is in docs/privacy.md.

use std::path::Path;

use diesel::connection::SimpleConnection;
use diesel::sql_types::Integer;
use diesel::{QueryableByName, RunQueryDsl};

use super::connection::DbConnection;
use crate::error::{Error, Result};

/// Every table an erasure deletes from or rewrites.
pub const ERASURE_TABLES: &[&str] = &[
    "contacts",
    "list_members",
    "consents",
    "messages",
    "events",
    "webhook_deliveries",
    "sandbox_messages",
    "inbound_reports",
    "data_subject_exports",
    "data_subject_requests",
    "audit_events",
    "jobs",
    "idempotency_keys",
    "imports",
];

#[derive(QueryableByName)]
struct Checkpoint {
    #[diesel(sql_type = Integer)]
    busy: i32,
}

/// Gives back the space of rows deleted from `tables`, outside any transaction (VACUUM
/// cannot run inside one): on SQLite the WAL is checkpointed into the database (whose freed
/// space `secure_delete` zeroed) and truncated to nothing; on PostgreSQL the tables are
/// vacuumed, so their dead row versions are removed from table and index pages.
pub fn reclaim_deleted_space(conn: &mut DbConnection, tables: &[&str]) -> Result<()> {
    match conn {
        DbConnection::Sqlite(lite) => {
            // TRUNCATE waits (busy_timeout) for readers and writers to finish; if one
            // outlasts it the checkpoint is partial, and the next one completes it.
            let done: Checkpoint =
                diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)").get_result(lite)?;
            if done.busy != 0 {
                tracing::warn!("the WAL checkpoint after an erasure was partial (database busy)");
            }
            Ok(())
        }
        DbConnection::Postgres(pg) => {
            let names: Vec<String> = tables.iter().map(|t| format!("\"{t}\"")).collect();
            Ok(pg.batch_execute(&format!("VACUUM {}", names.join(", ")))?)
        }
    }
}

/// Creates `dir` (and its missing parents) readable by the owner alone (0700). A directory
/// that exists is left as the operator made it.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Makes the SQLite database file (created empty if missing) readable by the owner alone
/// (0600), before SQLite opens it: SQLite gives the `-wal` and `-shm` files it creates the
/// database file's permissions. Files an older version left readable by others are
/// tightened too.
pub fn private_database_file(path: &Path) -> Result<()> {
    if path.as_os_str() == ":memory:" {
        return Ok(());
    }
    let unavailable =
        |e: std::io::Error| Error::Unavailable(format!("cannot prepare {}: {e}", path.display()));
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map_err(unavailable)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for suffix in ["", "-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            let file = std::path::PathBuf::from(name);
            if let Ok(meta) = std::fs::metadata(&file)
                && meta.permissions().mode() & 0o077 != 0
            {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                    .map_err(unavailable)?;
            }
        }
    }
    Ok(())
}
