//! List imports: a CSV uploaded to a list becomes contacts, memberships and — when the
//! upload carries consent evidence — consent records, in a job.
//!
//! The upload's shape is checked while it arrives (`shape`: the header's columns and bytes,
//! every row's bytes), so that nothing after it holds more than a bounded record. It is
//! stored in the database in chunks (`file`), because in scale-out the
//! worker that runs the import is on another host; it is personal data, so it is deleted
//! when the import ends. The job (`run`) reads it in row order, checks each row as the
//! API checks a contact (`rows`), merges rows repeating an address, skips suppressed and
//! erased addresses, and writes batches set-based (`write`; `COPY` on PostgreSQL), each
//! batch with the import's progress in one transaction, so that a run that dies is
//! resumed without writing anything twice.

mod columns;
mod file;
mod import;
mod rows;
mod run;
mod shape;
mod write;

pub use columns::{ColumnMap, PropertyColumn};
pub use file::CHUNK_BYTES;
pub use import::{Import, ImportEvidence, ImportStatus, MAX_REJECTIONS};
pub use rows::{ImportedRow, Rejection, read_row};
pub use run::{BATCH_ROWS, RunOutcome, run_import};
pub use shape::{
    CheckedShape, ImportShape, MAX_HEADER_BYTES, MAX_HEADER_COLUMNS, MAX_RECORD_BYTES,
};
