//! The `list.import` job: reads the stored file in row order and writes it in batches,
//! each batch in one transaction together with the import's counters and `rows_read`.
//!
//! A run that dies mid-way loses only its open batch; the next run carries on after
//! `rows_read` (re-reading the rows before it only to learn which addresses they held,
//! so duplicates are still recognised). Every batch first checks, under a lock, that
//! `rows_read` is still what this run last wrote: a second run of the same import (a
//! redelivered job) writes nothing twice and stops. A run also stops after its time
//! slice, queueing its own continuation with its last batch, so no job outlives its lease.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::columns::ColumnMap;
use super::file::{self, StoredFile};
use super::import::{Import, ImportStatus, MAX_REJECTIONS, csv_reader, header_cells};
use super::rows::{Rejection, read_row};
use super::write::{BatchTarget, StageRow, apply};
use crate::clock;
use crate::contacts::{EmailAddress, PropertyDefinition, Schema};
use crate::error::{Error, Result};
use crate::jobs::{Enqueue, Job, JobRow};
use crate::lists::{MailingList, MemberStatus};
use crate::messages::outbox::request_confirmation;
use crate::schema::imports;
use crate::store::sql_types::{Id, Json};
use crate::store::{DbConnection, Pool, checkout};
use crate::suppressions::{HashKey, Suppression, SuppressionReason, email_hash};

/// Rows per batch (and per transaction).
pub const BATCH_ROWS: u32 = 2000;
/// Bytes of rows per batch at most: a batch of long rows ends early, so that what a batch
/// holds stays bounded whatever the rows' width (each row is at most
/// [`MAX_RECORD_BYTES`](super::MAX_RECORD_BYTES)).
const BATCH_BYTES: usize = 4 * 1024 * 1024;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    /// The import is completed or failed (by this run or an earlier one).
    Finished(ImportStatus),
    /// The time slice ran out; the continuation job was queued with the last batch.
    Continued,
    /// Another run of the import got further, or the import is gone: nothing to do.
    Superseded,
}

/// Runs (or resumes) an import for at most about `slice`.
pub fn run_import(
    pool: &Pool,
    key: &HashKey,
    import_id: Id,
    slice: Duration,
) -> Result<RunOutcome> {
    let mut conn = checkout(pool)?;
    let conn = &mut *conn;
    let Some(import) = Import::find_for_job(conn, import_id)? else {
        return Ok(RunOutcome::Superseded);
    };
    if import.status().is_final() {
        return Ok(RunOutcome::Finished(import.status()));
    }
    let list = match MailingList::find(conn, import.account_id, import.list_id) {
        Err(Error::NotFound(_)) => return Ok(RunOutcome::Superseded),
        other => other?,
    };
    start(conn, &import)?;
    let schema = PropertyDefinition::schema(conn, import.account_id)?;
    let mut file = match FileCursor::open(pool, import_id, &schema)? {
        Ok(file) => file,
        Err(e) => {
            Import::fail(conn, import_id, &failure_reason(e))?;
            return Ok(RunOutcome::Finished(ImportStatus::Failed));
        }
    };
    let mut progress = Progress::of(&import);
    file.recall_done_rows(progress.rows_read)?;

    let started = Instant::now();
    let fresh_status = if list.double_opt_in {
        MemberStatus::Pending
    } else {
        MemberStatus::Subscribed
    };
    let writer = BatchWriter {
        key,
        import: &import,
        double_opt_in: list.double_opt_in,
        target: BatchTarget {
            import_id,
            account_id: import.account_id,
            list_id: import.list_id,
            fresh_status: fresh_status.as_str(),
            source: import.source.as_deref(),
            policy_version: import.policy_version.as_deref(),
            now: clock::now(),
        },
    };
    loop {
        let batch = file.next_batch()?;
        if batch.rows == 0 {
            break;
        }
        let slice_over = started.elapsed() >= slice;
        if !writer.write(conn, &batch, &mut progress, slice_over)? {
            return Ok(RunOutcome::Superseded);
        }
        if slice_over {
            return Ok(RunOutcome::Continued);
        }
    }
    Ok(match complete(conn, import_id, progress.rows_read)? {
        true => RunOutcome::Finished(ImportStatus::Completed),
        false => RunOutcome::Superseded,
    })
}

fn next_record<R: std::io::Read>(
    reader: &mut csv::Reader<R>,
    record: &mut csv::ByteRecord,
) -> Result<bool> {
    reader.read_byte_record(record).map_err(|e| match e.kind() {
        csv::ErrorKind::Io(_) => Error::Unavailable(format!("reading the import file: {e}")),
        _ => Error::Internal(format!("reading the import file: {e}")),
    })
}

/// What an owner reads when the file itself cannot be imported.
fn failure_reason(error: Error) -> String {
    match error {
        Error::Invalid(errors) => errors
            .into_iter()
            .map(|e| e.message)
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

fn start(conn: &mut DbConnection, import: &Import) -> Result<()> {
    let now = clock::now();
    diesel::update(imports::table.find(import.id))
        .set((
            imports::status.eq(ImportStatus::Running.as_str()),
            imports::started_at.eq(import.started_at.unwrap_or(now)),
            imports::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Locks the import's row and answers whether it is still running at `rows_read`, i.e.
/// whether no other run has written since this one did.
fn still_ours(conn: &mut DbConnection, import_id: Id, rows_read: u32) -> Result<bool> {
    let query = imports::table
        .find(import_id)
        .select((imports::status, imports::rows_read));
    let found: Option<(String, i32)> = match conn {
        DbConnection::Postgres(pg) => query.for_update().first(pg).optional()?,
        // The write transaction already holds SQLite's one write lock.
        DbConnection::Sqlite(_) => query.first(conn).optional()?,
    };
    Ok(found.is_some_and(|(status, read)| {
        status == ImportStatus::Running.as_str() && read as u32 == rows_read
    }))
}

fn complete(conn: &mut DbConnection, import_id: Id, rows_read: u32) -> Result<bool> {
    conn.write_transaction(|conn| {
        if !still_ours(conn, import_id, rows_read)? {
            return Ok(false);
        }
        let now = clock::now();
        diesel::update(imports::table.find(import_id))
            .set((
                imports::status.eq(ImportStatus::Completed.as_str()),
                imports::completed_at.eq(Some(now)),
                imports::updated_at.eq(now),
            ))
            .execute(conn)?;
        file::delete(conn, import_id)?;
        Ok(true)
    })
}

/// The addresses of the rows read so far, as 128-bit digests (16 bytes an address, so a
/// million-row file costs tens of MB, and a collision is out of reach).
#[derive(Default)]
struct SeenAddresses(HashSet<u128>);

impl SeenAddresses {
    /// Whether `email` is new to the file.
    fn insert(&mut self, email: &EmailAddress) -> bool {
        let digest = Sha256::digest(email.as_str().as_bytes());
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        self.0.insert(u128::from_le_bytes(key))
    }
}

/// The import's counters as of the last batch written.
#[derive(Debug, Clone)]
struct Progress {
    rows_read: u32,
    created: u32,
    updated: u32,
    duplicates: u32,
    skipped_suppressed: u32,
    skipped_erased: u32,
    rejected: u32,
    rejections: Vec<Rejection>,
}

impl Progress {
    fn of(import: &Import) -> Self {
        let count = |n: i32| n.max(0) as u32;
        Progress {
            rows_read: count(import.rows_read),
            created: count(import.created),
            updated: count(import.updated),
            duplicates: count(import.duplicates),
            skipped_suppressed: count(import.skipped_suppressed),
            skipped_erased: count(import.skipped_erased),
            rejected: count(import.rejected),
            rejections: import.rejections(),
        }
    }
}

/// One address of a batch: its rows merged, later non-empty fields winning.
struct Entry {
    email: EmailAddress,
    name: Option<String>,
    properties: Map<String, Value>,
    /// Its first row in this batch.
    row: u32,
    /// That row is the address's first in the whole file.
    first_seen: bool,
    /// Rows of the batch that repeat an address seen before.
    duplicate_rows: u32,
}

/// Up to [`BATCH_ROWS`] rows (and [`BATCH_BYTES`]), read and checked, merged by address.
struct Batch {
    rows: u32,
    entries: Vec<Entry>,
    rejections: Vec<Rejection>,
}

/// The stored file read record by record: where a run is in it, and which addresses the
/// rows before held.
struct FileCursor {
    reader: csv::Reader<StoredFile>,
    record: csv::ByteRecord,
    map: ColumnMap,
    /// The last record read; the header is row 1.
    row: u32,
    seen: SeenAddresses,
}

impl FileCursor {
    /// Opens the file and maps its header; the inner error says why a header (or an empty
    /// file) cannot be imported.
    fn open(pool: &Pool, import_id: Id, schema: &Schema) -> Result<Result<FileCursor>> {
        let mut reader = csv_reader(StoredFile::open(pool.clone(), import_id));
        let mut record = csv::ByteRecord::new();
        if !next_record(&mut reader, &mut record)? {
            return Ok(Err(Error::invalid("body", "the file is empty")));
        }
        let map = header_cells(&record).and_then(|header| ColumnMap::from_header(&header, schema));
        Ok(map.map(|map| FileCursor {
            reader,
            record,
            map,
            row: 1,
            seen: SeenAddresses::default(),
        }))
    }

    /// Passes over the `rows` an earlier run wrote, keeping only the addresses they held
    /// (so that a later row repeating one is still a duplicate).
    fn recall_done_rows(&mut self, rows: u32) -> Result<()> {
        while self.row - 1 < rows && next_record(&mut self.reader, &mut self.record)? {
            self.row += 1;
            if let Ok(done) = read_row(&self.map, self.row, &self.record) {
                self.seen.insert(&done.email);
            }
        }
        Ok(())
    }

    /// Up to [`BATCH_ROWS`] more rows, checked and merged by address; none at the end.
    fn next_batch(&mut self) -> Result<Batch> {
        let mut batch = Batch {
            rows: 0,
            entries: Vec::new(),
            rejections: Vec::new(),
        };
        let mut by_email: HashMap<String, usize> = HashMap::new();
        let mut bytes = 0;
        while batch.rows < BATCH_ROWS
            && bytes < BATCH_BYTES
            && next_record(&mut self.reader, &mut self.record)?
        {
            batch.rows += 1;
            self.row += 1;
            bytes += self.record.as_slice().len();
            let read = match read_row(&self.map, self.row, &self.record) {
                Ok(read) => read,
                Err(rejection) => {
                    batch.rejections.push(rejection);
                    continue;
                }
            };
            let first_seen = self.seen.insert(&read.email);
            match by_email.get(read.email.as_str()) {
                Some(&i) => {
                    let entry = &mut batch.entries[i];
                    if read.name.is_some() {
                        entry.name = read.name;
                    }
                    entry.properties.extend(read.properties);
                    entry.duplicate_rows += 1;
                }
                None => {
                    by_email.insert(read.email.as_str().to_owned(), batch.entries.len());
                    batch.entries.push(Entry {
                        email: read.email,
                        name: read.name,
                        properties: read.properties,
                        row: read.row,
                        first_seen,
                        duplicate_rows: u32::from(!first_seen),
                    });
                }
            }
        }
        Ok(batch)
    }
}

struct BatchWriter<'a> {
    key: &'a HashKey,
    import: &'a Import,
    double_opt_in: bool,
    target: BatchTarget<'a>,
}

impl BatchWriter<'_> {
    /// Writes a batch and the progress it makes, in one transaction; `false` (and nothing
    /// written) when another run got there first. With `then_continue`, the import's next
    /// job is queued in the same transaction.
    fn write(
        &self,
        conn: &mut DbConnection,
        batch: &Batch,
        progress: &mut Progress,
        then_continue: bool,
    ) -> Result<bool> {
        let account_id = self.import.account_id;
        let target = BatchTarget {
            now: clock::now(),
            ..self.target
        };
        let hashes: Vec<String> = batch
            .entries
            .iter()
            .map(|e| email_hash(self.key, &e.email))
            .collect();
        let written = conn.write_transaction(|conn| {
            if !still_ours(conn, self.import.id, progress.rows_read)? {
                return Ok(None);
            }
            let mut next = progress.clone();
            next.rows_read += batch.rows;
            next.rejected += batch.rejections.len() as u32;
            let room = MAX_REJECTIONS.saturating_sub(next.rejections.len());
            next.rejections
                .extend(batch.rejections.iter().take(room).cloned());

            let suppressed = Suppression::reasons_by_hash(conn, account_id, &hashes)?;
            let (stage, by_row) = stage_unsuppressed(batch, &hashes, &suppressed, &mut next);
            for applied in apply(conn, &target, &stage)? {
                let Some(entry) = by_row.get(&applied.row_no) else {
                    continue;
                };
                if entry.first_seen {
                    if applied.created {
                        next.created += 1;
                    } else {
                        next.updated += 1;
                    }
                }
                if self.double_opt_in && applied.joined {
                    request_confirmation(
                        conn,
                        account_id,
                        self.import.list_id,
                        applied.contact_id,
                        entry.email.as_str(),
                        entry.name.clone(),
                    )?;
                }
            }
            save_progress(conn, self.import.id, &next)?;
            if then_continue {
                JobRow::enqueue(
                    conn,
                    &Job::ImportList {
                        import_id: self.import.id,
                    },
                    Enqueue {
                        account: Some(account_id),
                        ..Enqueue::default()
                    },
                )?;
            }
            Ok::<_, Error>(Some(next))
        })?;
        match written {
            Some(next) => {
                *progress = next;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

/// The batch's addresses that may be imported, as staging rows (and the entry each came
/// from, by row); suppressed and erased ones are counted and left out.
fn stage_unsuppressed<'b>(
    batch: &'b Batch,
    hashes: &[String],
    suppressed: &HashMap<String, SuppressionReason>,
    next: &mut Progress,
) -> (Vec<StageRow>, HashMap<i32, &'b Entry>) {
    let mut stage = Vec::with_capacity(batch.entries.len());
    let mut by_row = HashMap::new();
    for (entry, hash) in batch.entries.iter().zip(hashes) {
        next.duplicates += entry.duplicate_rows;
        match suppressed.get(hash) {
            Some(SuppressionReason::Erasure) if entry.first_seen => next.skipped_erased += 1,
            Some(_) if entry.first_seen => next.skipped_suppressed += 1,
            Some(_) => {}
            None => {
                by_row.insert(entry.row as i32, entry);
                stage.push(StageRow {
                    row_no: entry.row as i32,
                    new_id: Id::new(),
                    consent_id: Id::new(),
                    email: entry.email.as_str().to_owned(),
                    name: entry.name.clone(),
                    properties: Json(Value::Object(entry.properties.clone())),
                    first_seen: entry.first_seen,
                });
            }
        }
    }
    (stage, by_row)
}

fn save_progress(conn: &mut DbConnection, import_id: Id, progress: &Progress) -> Result<()> {
    let rejections = serde_json::to_value(&progress.rejections)
        .map_err(|e| Error::Internal(format!("rejections do not serialise: {e}")))?;
    let count = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    diesel::update(imports::table.find(import_id))
        .set((
            imports::rows_read.eq(count(progress.rows_read)),
            imports::created.eq(count(progress.created)),
            imports::updated.eq(count(progress.updated)),
            imports::duplicates.eq(count(progress.duplicates)),
            imports::skipped_suppressed.eq(count(progress.skipped_suppressed)),
            imports::skipped_erased.eq(count(progress.skipped_erased)),
            imports::rejected.eq(count(progress.rejected)),
            imports::rejections.eq(Json(rejections)),
            imports::updated_at.eq(clock::now()),
        ))
        .execute(conn)?;
    Ok(())
}
