//! The import resource: created from an upload (the file stored, the job queued, in one
//! transaction), read back with its progress, and ended as completed or failed.

use std::io::{Read, Seek, SeekFrom};

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::columns::ColumnMap;
use super::file;
use super::rows::Rejection;
use super::shape::{CheckedShape, MAX_HEADER_BYTES};
use crate::clock;
use crate::consent::{ConsentStatus, NewConsent, methods, purposes};
use crate::contacts::PropertyDefinition;
use crate::error::{Error, Result};
use crate::jobs::{Enqueue, Job, JobRow};
use crate::lists::MailingList;
use crate::pagination::{Page, PageRequest};
use crate::schema::imports;
use crate::store::DbConnection;
use crate::store::sql_types::{Id, Json, Timestamp};

/// Rejections kept per import (with row and reason); `rejected` counts them all.
pub const MAX_REJECTIONS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportStatus {
    /// Uploaded; its job has not started.
    Queued,
    Running,
    /// Every row was read; the file is deleted.
    Completed,
    /// Stopped for good (see `error`); the file is deleted.
    Failed,
}

impl ImportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportStatus::Queued => "queued",
            ImportStatus::Running => "running",
            ImportStatus::Completed => "completed",
            ImportStatus::Failed => "failed",
        }
    }

    fn from_stored(s: &str) -> Self {
        match s {
            "queued" => ImportStatus::Queued,
            "running" => ImportStatus::Running,
            "completed" => ImportStatus::Completed,
            _ => ImportStatus::Failed,
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, ImportStatus::Completed | ImportStatus::Failed)
    }
}

/// The consent evidence an import records for every row it adds: a `marketing_email` /
/// `granted` / `import` record with this source and policy version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportEvidence {
    pub source: String,
    pub policy_version: Option<String>,
}

impl ImportEvidence {
    /// Checks the evidence as the consent ledger checks a record (lengths, the
    /// sensitive-data guard); field errors name `source` and `policy_version`.
    pub fn new(source: String, policy_version: Option<String>) -> Result<Self> {
        let checked = NewConsent {
            list_id: None,
            purpose: purposes::MARKETING_EMAIL.into(),
            status: ConsentStatus::Granted,
            method: methods::IMPORT.into(),
            source,
            ip: None,
            user_agent: None,
            policy_version,
            evidence: None,
        }
        .validated()?;
        Ok(ImportEvidence {
            source: checked.source,
            policy_version: checked.policy_version,
        })
    }
}

/// One import, its progress and what it found.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = imports)]
pub struct Import {
    pub id: Id,
    pub account_id: Id,
    pub list_id: Id,
    pub status: String,
    pub source: Option<String>,
    pub policy_version: Option<String>,
    pub size_bytes: i64,
    /// The fields read, in file order (`["email", "name", "plan"]`).
    pub mapped_columns: Json,
    /// Header cells that name nothing Mailroom knows.
    pub ignored_columns: Json,
    /// Data rows processed; a resumed run carries on after them.
    pub rows_read: i32,
    pub created: i32,
    pub updated: i32,
    pub duplicates: i32,
    pub skipped_suppressed: i32,
    pub skipped_erased: i32,
    pub rejected: i32,
    /// The first [`MAX_REJECTIONS`] rejections, `[{row, reason}]`.
    pub rejections: Json,
    pub error: Option<String>,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
    pub updated_at: Timestamp,
}

impl Import {
    pub fn status(&self) -> ImportStatus {
        ImportStatus::from_stored(&self.status)
    }

    pub fn evidence(&self) -> Option<ImportEvidence> {
        self.source.clone().map(|source| ImportEvidence {
            source,
            policy_version: self.policy_version.clone(),
        })
    }

    pub fn rejections(&self) -> Vec<Rejection> {
        serde_json::from_value(self.rejections.0.clone()).unwrap_or_default()
    }

    pub fn strings(json: &Json) -> Vec<String> {
        serde_json::from_value(json.0.clone()).unwrap_or_default()
    }

    /// Creates an import of `file` (a CSV whose first line is its header, its shape
    /// checked as it arrived) into a list of the account: checks the header, stores the
    /// file, and queues the job, in one transaction. An empty file, or a header without an
    /// `email` column, is `Invalid` (field `body`).
    pub fn create(
        conn: &mut DbConnection,
        account_id: Id,
        list_id: Id,
        evidence: Option<ImportEvidence>,
        file: &mut (impl Read + Seek),
        _shape: CheckedShape,
    ) -> Result<Import> {
        let size = file
            .seek(SeekFrom::End(0))
            .map_err(|e| Error::Internal(format!("reading the uploaded file: {e}")))?;
        if size == 0 {
            return Err(Error::invalid("body", "the file is empty"));
        }
        let header = read_header(file)?;
        conn.write_transaction(|conn| {
            MailingList::find(conn, account_id, list_id)?;
            let schema = PropertyDefinition::schema(conn, account_id)?;
            let map = ColumnMap::from_header(&header, &schema)?;
            let now = clock::now();
            let mut import = Import {
                id: Id::new(),
                account_id,
                list_id,
                status: ImportStatus::Queued.as_str().to_owned(),
                source: evidence.as_ref().map(|e| e.source.clone()),
                policy_version: evidence.and_then(|e| e.policy_version),
                size_bytes: 0,
                mapped_columns: Json(Value::from(map.columns())),
                ignored_columns: Json(Value::from(map.ignored)),
                rows_read: 0,
                created: 0,
                updated: 0,
                duplicates: 0,
                skipped_suppressed: 0,
                skipped_erased: 0,
                rejected: 0,
                rejections: Json(Value::Array(Vec::new())),
                error: None,
                created_at: now,
                started_at: None,
                completed_at: None,
                updated_at: now,
            };
            diesel::insert_into(imports::table)
                .values(&import)
                .execute(conn)?;
            file.seek(SeekFrom::Start(0))
                .map_err(|e| Error::Internal(format!("reading the uploaded file: {e}")))?;
            import.size_bytes = file::store(conn, import.id, file)?;
            diesel::update(imports::table.find(import.id))
                .set(imports::size_bytes.eq(import.size_bytes))
                .execute(conn)?;
            JobRow::enqueue(
                conn,
                &Job::ImportList {
                    import_id: import.id,
                },
                Enqueue {
                    account: Some(account_id),
                    ..Enqueue::default()
                },
            )?;
            Ok(import)
        })
    }

    pub fn find(conn: &mut DbConnection, account_id: Id, id: Id) -> Result<Import> {
        imports::table
            .find(id)
            .filter(imports::account_id.eq(account_id))
            .select(Import::as_select())
            .first(conn)
            .optional()?
            .ok_or(Error::NotFound("import"))
    }

    /// Any account's import, for its job.
    pub(crate) fn find_for_job(conn: &mut DbConnection, id: Id) -> Result<Option<Import>> {
        Ok(imports::table
            .find(id)
            .select(Import::as_select())
            .first(conn)
            .optional()?)
    }

    /// A list's imports, newest first (the cursor is the last id of a page).
    pub fn list(
        conn: &mut DbConnection,
        account_id: Id,
        list_id: Id,
        page: &PageRequest,
    ) -> Result<Page<Import>> {
        MailingList::find(conn, account_id, list_id)?;
        let mut query = imports::table
            .filter(imports::account_id.eq(account_id))
            .filter(imports::list_id.eq(list_id))
            .select(Import::as_select())
            .order(imports::id.desc())
            .limit(page.fetch_limit())
            .into_boxed();
        if let Some(before) = page.after {
            query = query.filter(imports::id.lt(before));
        }
        Ok(Page::from_rows(query.load(conn)?, page, |i| i.id))
    }

    /// Ends an import as failed with a reason for its owner, and deletes its file.
    pub fn fail(conn: &mut DbConnection, id: Id, reason: &str) -> Result<()> {
        conn.write_transaction(|conn| {
            let now = clock::now();
            diesel::update(
                imports::table
                    .find(id)
                    .filter(imports::status.ne(ImportStatus::Completed.as_str())),
            )
            .set((
                imports::status.eq(ImportStatus::Failed.as_str()),
                imports::error.eq(Some(reason)),
                imports::completed_at.eq(Some(now)),
                imports::updated_at.eq(now),
            ))
            .execute(conn)?;
            file::delete(conn, id)
        })
    }
}

/// The first record of the file: its header (which the shape check bounded; the reader is
/// bounded too, so that no caller can make it read a whole file as one record).
fn read_header(file: &mut (impl Read + Seek)) -> Result<Vec<String>> {
    file.seek(SeekFrom::Start(0))
        .map_err(|e| Error::Internal(format!("reading the uploaded file: {e}")))?;
    let mut reader = csv_reader(file.take(MAX_HEADER_BYTES as u64 + 2));
    let mut record = csv::ByteRecord::new();
    let found = reader
        .read_byte_record(&mut record)
        .map_err(|e| Error::invalid("body", format!("the header row cannot be read: {e}")))?;
    if !found {
        return Err(Error::invalid("body", "the file is empty"));
    }
    header_cells(&record)
}

pub(crate) fn header_cells(record: &csv::ByteRecord) -> Result<Vec<String>> {
    record
        .iter()
        .map(|cell| {
            std::str::from_utf8(cell)
                .map(str::to_owned)
                .map_err(|_| Error::invalid("body", "the header row is not valid UTF-8"))
        })
        .collect()
}

/// How import files are read: comma-separated, double quotes, header on the first line,
/// rows of any length (checked against the header row by row).
pub(crate) fn csv_reader<R: Read>(input: R) -> csv::Reader<R> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(input)
}
