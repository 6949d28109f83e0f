//! List imports: uploading a CSV to a list (202; the rows are imported by a job), and
//! following an import's progress.
//!
//! The body is spooled (in memory up to 1 MiB, then to an unlinked temporary file) while
//! it arrives, under its own limit (`MAILROOM_IMPORT_LIMIT_BYTES`), its shape checked on
//! the way (the header's columns and bytes, every row's bytes: `ImportShape`), and then
//! stored in the database with the import and its job in one transaction — so a
//! connection is held only for that write, never while a slow client uploads.

use std::io::Write;

use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, get, post, web};
use futures_util::StreamExt;
use mailroom_domain::accounts::Scope;
use mailroom_domain::audit::AuditRecord;
use mailroom_domain::imports::{
    CheckedShape, Import, ImportEvidence, ImportShape, ImportStatus, Rejection,
};
use mailroom_domain::lists::MailingList;
use mailroom_domain::pagination::Page;
use mailroom_domain::{Id, Timestamp};
use serde::{Deserialize, Serialize};
use tempfile::SpooledTempFile;
use utoipa::{IntoParams, ToSchema};

use super::api_keys::PageQuery;
use crate::auth::Principal;
use crate::extract::{ApiQuery, payload_error};
use crate::problem::ApiError;
use crate::state::AppState;

/// Bytes of an upload kept in memory before it spills to a temporary file.
const SPOOL_IN_MEMORY: usize = 1024 * 1024;
/// Bytes gathered from the request before each write to the spool.
const SPOOL_WRITE: usize = 256 * 1024;

/// Consent evidence recorded for every row the import adds.
#[derive(Serialize, ToSchema)]
pub struct ImportConsent {
    /// Where the people in the file consented (a form, an event, a partner).
    pub source: String,
    pub policy_version: Option<String>,
}

/// What the import has done so far. `rows_read` = `created` + `updated` + `duplicates`
/// + `skipped_suppressed` + `skipped_erased` + `rejected`.
#[derive(Serialize, ToSchema)]
pub struct ImportProgress {
    /// Data rows read (the header not counted).
    pub rows_read: i32,
    /// Contacts created.
    pub created: i32,
    /// Existing contacts updated (non-empty fields of the row win) and made members.
    pub updated: i32,
    /// Rows repeating an address of an earlier row: merged into it.
    pub duplicates: i32,
    /// Rows of suppressed addresses (bounced, complained, unsubscribed from everything,
    /// suppressed by hand): not imported.
    pub skipped_suppressed: i32,
    /// Rows of erased people: not imported, ever.
    pub skipped_erased: i32,
    /// Rows refused; see `rejections`.
    pub rejected: i32,
}

#[derive(Serialize, ToSchema)]
pub struct ImportView {
    pub id: Id,
    pub list_id: Id,
    pub status: ImportStatus,
    /// The consent evidence recorded for every row added; `null` when the upload had
    /// none, so that rows became members without marketing consent (campaigns skip them).
    pub consent: Option<ImportConsent>,
    /// Size of the uploaded file.
    pub size_bytes: i64,
    /// The columns read, in file order: `email`, `name` and defined contact properties.
    pub columns: Vec<String>,
    /// Columns of the file that name nothing Mailroom knows: ignored.
    pub ignored_columns: Vec<String>,
    pub progress: ImportProgress,
    /// The first 1,000 rejected rows, each with its row number (the header is row 1) and
    /// the reason, which names the column and never repeats the value.
    pub rejections: Vec<Rejection>,
    /// Why the import failed, when it did.
    pub error: Option<String>,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
    pub updated_at: Timestamp,
}

impl From<Import> for ImportView {
    fn from(i: Import) -> Self {
        ImportView {
            status: i.status(),
            consent: i.evidence().map(|e| ImportConsent {
                source: e.source,
                policy_version: e.policy_version,
            }),
            columns: Import::strings(&i.mapped_columns),
            ignored_columns: Import::strings(&i.ignored_columns),
            rejections: i.rejections(),
            progress: ImportProgress {
                rows_read: i.rows_read,
                created: i.created,
                updated: i.updated,
                duplicates: i.duplicates,
                skipped_suppressed: i.skipped_suppressed,
                skipped_erased: i.skipped_erased,
                rejected: i.rejected,
            },
            id: i.id,
            list_id: i.list_id,
            size_bytes: i.size_bytes,
            error: i.error,
            created_at: i.created_at,
            started_at: i.started_at,
            completed_at: i.completed_at,
            updated_at: i.updated_at,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Consent evidence: where the people in the file consented. With it, every row added
    /// gets a `marketing_email` / `granted` consent record (method `import`) and an
    /// unsubscribed member is subscribed again; without it, rows become members without
    /// marketing consent.
    #[param(min_length = 1, max_length = 500)]
    pub source: Option<String>,
    /// The version of the privacy policy they agreed to (only with `source`).
    #[param(max_length = 100)]
    pub policy_version: Option<String>,
}

impl ImportQuery {
    fn evidence(self) -> Result<Option<ImportEvidence>, ApiError> {
        match (self.source, self.policy_version) {
            (None, None) => Ok(None),
            (None, Some(_)) => Err(ApiError::invalid(
                "policy_version",
                "goes with source (the consent evidence of the rows)",
            )),
            (Some(source), policy_version) => {
                Ok(Some(ImportEvidence::new(source, policy_version)?))
            }
        }
    }
}

/// Imports a CSV file into a list. The body is the file itself (`text/csv`, UTF-8,
/// comma-separated, header on the first line; the header at most 1,000 columns and
/// 64 KiB, every other row at most 64 KiB, or the file is refused with a 422 naming the
/// limit). Columns map by header, case-insensitively:
/// `email` (required), `name`, and any defined contact property; other columns are
/// reported and ignored. Answers 202 at once; the rows are imported by a job — follow
/// it at `GET /v1/imports/{id}`. Bad rows are rejected one by one and never fail the
/// import.
#[utoipa::path(
    tag = "lists",
    params(("id" = Id, Path, description = "The list"), ImportQuery),
    request_body(content = String, content_type = "text/csv", description = "The CSV file, at most MAILROOM_IMPORT_LIMIT_BYTES (default 100 MiB)"),
    responses(
        (status = 202, description = "Import queued", body = ImportView,
         headers(("location" = String, description = "The import's URL"))),
    )
)]
#[post("/lists/{id}/imports")]
pub async fn create_import(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Id>,
    query: ApiQuery<ImportQuery>,
    req: HttpRequest,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::ListsWrite)?;
    principal.require(Scope::ContactsWrite)?;
    if !is_csv(&req) {
        return Err(ApiError::UnsupportedMediaType(
            "send the file itself as the body, as text/csv".into(),
        ));
    }
    let evidence = query.into_inner().evidence()?;
    let (account, list_id) = (principal.account_id, id.into_inner());
    // Another account's list is a 404 before a byte of the file is read.
    state
        .db(move |conn| MailingList::find(conn, account, list_id))
        .await?;
    let (mut file, shape) = spool(&mut payload, state.settings.import_limit).await?;
    let import = state
        .db(move |conn| Import::create(conn, account, list_id, evidence, &mut file, shape))
        .await?;
    Ok(HttpResponse::Accepted()
        .insert_header((header::LOCATION, format!("/v1/imports/{}", import.id)))
        .json(ImportView::from(import)))
}

fn is_csv(req: &HttpRequest) -> bool {
    matches!(req.mime_type(), Ok(Some(mime)) if mime.type_() == "text" && mime.subtype() == "csv")
}

/// Receives the body into a spool, refusing it (413) past `limit` bytes, and checks its
/// shape on the way. A file refused for its shape is read to its end (and dropped) before
/// the 422, so that the client, still sending, gets the answer rather than a reset.
async fn spool(
    payload: &mut web::Payload,
    limit: usize,
) -> Result<(SpooledTempFile, CheckedShape), ApiError> {
    let mut file = SpooledTempFile::new(SPOOL_IN_MEMORY);
    let mut shape = ImportShape::new();
    let mut pending: Vec<u8> = Vec::with_capacity(SPOOL_WRITE);
    let mut received = 0usize;
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| payload_error(e.into()))?;
        received += chunk.len();
        if received > limit {
            return Err(ApiError::PayloadTooLarge);
        }
        shape.feed(&chunk);
        if shape.is_refused() {
            continue;
        }
        pending.extend_from_slice(&chunk);
        if pending.len() >= SPOOL_WRITE {
            file = write_to_spool(file, std::mem::take(&mut pending)).await?;
        }
    }
    let checked = shape.finish()?;
    Ok((write_to_spool(file, pending).await?, checked))
}

/// Appends to the spool off the async threads (past its memory part it is a file).
async fn write_to_spool(
    mut file: SpooledTempFile,
    bytes: Vec<u8>,
) -> Result<SpooledTempFile, ApiError> {
    if bytes.is_empty() {
        return Ok(file);
    }
    web::block(move || file.write_all(&bytes).map(|()| file))
        .await
        .map_err(|e| ApiError::Internal(format!("blocking task failed: {e}")))?
        .map_err(|e| ApiError::Internal(format!("spooling the upload: {e}")))
}

/// Shows an import and its progress.
#[utoipa::path(
    tag = "lists",
    params(("id" = Id, Path, description = "The import")),
    responses((status = 200, description = "The import", body = ImportView))
)]
#[get("/imports/{id}")]
pub async fn get_import(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Id>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::ListsRead)?;
    let (account, id) = (principal.account_id, id.into_inner());
    let import = state
        .db(move |conn| Import::find(conn, account, id))
        .await?;
    state
        .audit_support_read(
            &principal,
            AuditRecord::new("import.read", "import", Some(id)),
        )
        .await?;
    Ok(HttpResponse::Ok().json(ImportView::from(import)))
}

/// Lists a list's imports, newest first.
#[utoipa::path(
    tag = "lists",
    params(("id" = Id, Path, description = "The list"), PageQuery),
    responses((status = 200, description = "A page of imports", body = Page<ImportView>))
)]
#[get("/lists/{id}/imports")]
pub async fn list_imports(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Id>,
    query: ApiQuery<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::ListsRead)?;
    let page = query.page()?;
    let (account, list_id) = (principal.account_id, id.into_inner());
    let imports = state
        .db(move |conn| Import::list(conn, account, list_id, &page))
        .await?;
    state
        .audit_support_read(
            &principal,
            AuditRecord::new("import.listed", "list", Some(list_id))
                .with_details(serde_json::json!({ "returned": imports.data.len() })),
        )
        .await?;
    Ok(HttpResponse::Ok().json(imports.map(ImportView::from)))
}
