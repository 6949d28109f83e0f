//! Data-subject requests: recording a person's request (202; due 30 days after receipt),
//! verifying or rejecting it, following it, and downloading the export of an access or
//! portability request. A verified request is carried out by a job; every step is in the
//! audit log.

use actix_web::http::header;
use actix_web::{HttpResponse, get, post, web};
use mailroom_domain::accounts::Scope;
use mailroom_domain::audit::AuditRecord;
use mailroom_domain::clock;
use mailroom_domain::contacts::EmailAddress;
use mailroom_domain::data_subjects::{
    DataSubjectRequest, NewRequest, RequestFilter, RequestKind, RequestStatus, RequestSummary,
    SubjectExport, Verification,
};
use mailroom_domain::jobs::{Enqueue, Job, JobRow};
use mailroom_domain::pagination::{Page, PageRequest};
use mailroom_domain::store::DbConnection;
use mailroom_domain::{Id, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Principal;
use crate::extract::{ApiJson, ApiQuery};
use crate::problem::ApiError;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct DataSubjectRequestView {
    pub id: Id,
    pub kind: RequestKind,
    pub status: RequestStatus,
    /// The person's address; `null` once their data was erased (the request keeps only a
    /// keyed hash of it).
    pub subject_email: Option<String>,
    pub received_at: Timestamp,
    /// `received_at` + 30 days.
    pub due_at: Timestamp,
    /// Still open and past `due_at`.
    pub overdue: bool,
    /// How the requester's identity was checked; a request is carried out only once verified.
    pub verification: Option<Verification>,
    /// Rectification: the changes to make.
    #[schema(value_type = Option<Object>)]
    pub changes: Option<Value>,
    pub rejection_reason: Option<String>,
    /// What was done, in counts (never personal values).
    #[schema(value_type = Option<Object>)]
    pub outcome: Option<Value>,
    /// Access and portability, once completed: where the export is downloaded.
    pub export_url: Option<String>,
    pub verified_at: Option<Timestamp>,
    pub processing_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
    pub rejected_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl DataSubjectRequestView {
    fn new(r: DataSubjectRequest, now: Timestamp) -> Self {
        let (kind, status) = (r.kind(), r.status());
        DataSubjectRequestView {
            overdue: r.is_overdue(now),
            verification: r.verification(),
            export_url: (kind.exports() && status == RequestStatus::Completed)
                .then(|| format!("/v1/data-subject-requests/{}/export", r.id)),
            id: r.id,
            kind,
            status,
            subject_email: r.subject_email,
            received_at: r.received_at,
            due_at: r.due_at,
            changes: r.changes.map(|c| c.0),
            rejection_reason: r.rejection_reason,
            outcome: r.outcome.map(|o| o.0),
            verified_at: r.verified_at,
            processing_at: r.processing_at,
            completed_at: r.completed_at,
            rejected_at: r.rejected_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// The export of an access or portability request (format
/// `mailroom.data-subject-export/1`): everything the account holds about the person.
#[derive(ToSchema)]
#[allow(dead_code)] // Documents the document built in `mailroom_domain::data_subjects`.
pub struct DataSubjectExport {
    /// `mailroom.data-subject-export/1`.
    pub format: String,
    pub generated_at: Timestamp,
    /// `{id, kind, received_at}` of the request.
    #[schema(value_type = Object)]
    pub request: Value,
    /// `{email}`.
    #[schema(value_type = Object)]
    pub subject: Value,
    /// `{id, email, name, properties, created_at, updated_at, processing_restricted_since}`;
    /// `null` when the account holds no contact with the address.
    #[schema(value_type = Option<Object>)]
    pub contact: Option<Value>,
    /// `[{list_id, list_name, status, subscribed_at, unsubscribed_at, member_since,
    /// updated_at, history}]`; `history` holds the list's consent records.
    #[schema(value_type = Vec<Object>)]
    pub list_memberships: Vec<Value>,
    /// The whole consent ledger: `[{id, list_id, purpose, status, method, source, ip,
    /// user_agent, policy_version, evidence, recorded_at}]`.
    #[schema(value_type = Vec<Object>)]
    pub consents: Vec<Value>,
    /// `[{id, kind, campaign_id, to, subject, status, created_at, sent_at, first_opened_at,
    /// first_clicked_at}]`.
    #[schema(value_type = Vec<Object>)]
    pub messages: Vec<Value>,
    /// `[{id, type, message_id, campaign_id, url, ip, user_agent, bounce_class, diagnostic,
    /// source, occurred_at}]`.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<Value>,
    /// `[{reason, note, since}]`.
    #[schema(value_type = Vec<Object>)]
    pub suppressions: Vec<Value>,
    /// Earlier requests about the person: `[{id, kind, status, received_at, due_at,
    /// completed_at, rejected_at, rejection_reason}]`.
    #[schema(value_type = Vec<Object>)]
    pub requests: Vec<Value>,
}

/// A person's request, as the account received it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDataSubjectRequest {
    pub kind: RequestKind,
    /// The person's address: who the request is about.
    #[schema(format = Email, max_length = 254)]
    pub subject_email: String,
    /// When the account received the request (the 30 days run from here); defaults to now,
    /// never in the future.
    pub received_at: Option<Timestamp>,
    /// Give it when the identity was already checked: the request is verified and carried
    /// out at once. Without it, the request waits for `POST …/{id}/verify`.
    pub verification: Option<Verification>,
    /// Rectification only (and required there): the changes to make.
    #[schema(value_type = Option<RectificationChanges>)]
    pub changes: Option<Map<String, Value>>,
}

/// What a rectification changes: at least one of `email`, `name` and `properties`.
// Checked by `mailroom_domain::data_subjects` when the request is recorded.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
#[allow(dead_code)] // a schema only: `changes` is read as a JSON object
pub struct RectificationChanges {
    /// The person's address, corrected.
    #[schema(format = Email, max_length = 254, nullable = false)]
    pub email: Option<String>,
    /// The name, corrected; `null` removes it.
    pub name: Option<String>,
    /// A merge-patch of the contact's properties: a property set to `null` is removed.
    #[schema(value_type = Object, required = false)]
    pub properties: Option<Map<String, Value>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectDataSubjectRequest {
    /// Why, as told to the requester (e.g. identity could not be verified).
    #[schema(min_length = 1, max_length = 2000)]
    pub reason: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DataSubjectRequestQuery {
    pub status: Option<RequestStatus>,
    pub kind: Option<RequestKind>,
    /// `true`: only open requests past their due date.
    pub overdue: Option<bool>,
    /// `true`: only open requests due within the next 7 days (not yet overdue).
    pub due_soon: Option<bool>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<i64>,
    /// From the previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// Records the request, its audit entry and — when verified — the job that carries it out,
/// in one transaction.
fn enqueue_execution(
    conn: &mut DbConnection,
    request: &DataSubjectRequest,
) -> mailroom_domain::Result<()> {
    if request.status() == RequestStatus::Verified {
        JobRow::enqueue(
            conn,
            &Job::ExecuteDataSubjectRequest {
                request_id: request.id,
            },
            Enqueue {
                account: Some(request.account_id),
                ..Enqueue::default()
            },
        )?;
    }
    Ok(())
}

/// Records a data-subject request: 202, due 30 days after `received_at`.
#[utoipa::path(
    tag = "data-subject requests",
    request_body = CreateDataSubjectRequest,
    responses(
        (status = 202, description = "Request recorded (and, when verified, queued for execution)", body = DataSubjectRequestView,
         headers(("location" = String, description = "The request's URL"))),
    )
)]
#[post("/data-subject-requests")]
pub async fn create_data_subject_request(
    principal: Principal,
    state: web::Data<AppState>,
    body: ApiJson<CreateDataSubjectRequest>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::DataSubjectRequestsWrite)?;
    let body = body.0;
    let subject = EmailAddress::parse(&body.subject_email)
        .map_err(|e| ApiError::invalid("subject_email", e.to_string()))?;
    let new = NewRequest {
        kind: body.kind,
        subject,
        received_at: body.received_at,
        verification: body.verification,
        changes: body.changes,
    };
    let (account, key, now) = (principal.account_id, state.hash_key.clone(), clock::now());
    let request = state
        .db_audited(
            &principal,
            |r: &DataSubjectRequest| {
                AuditRecord::new(
                    "data_subject_request.received",
                    "data_subject_request",
                    Some(r.id),
                )
                .with_details(json!({"kind": r.kind, "status": r.status, "due_at": r.due_at}))
            },
            move |conn| {
                let request = DataSubjectRequest::create(conn, account, &key, new, now)?;
                enqueue_execution(conn, &request)?;
                Ok(request)
            },
        )
        .await?;
    Ok(HttpResponse::Accepted()
        .insert_header((
            header::LOCATION,
            format!("/v1/data-subject-requests/{}", request.id),
        ))
        .json(DataSubjectRequestView::new(request, now)))
}

/// Lists the account's requests, oldest first; `overdue=true` and `due_soon=true` show
/// what needs answering.
#[utoipa::path(
    tag = "data-subject requests",
    params(DataSubjectRequestQuery),
    responses((status = 200, description = "A page of requests", body = Page<DataSubjectRequestView>))
)]
#[get("/data-subject-requests")]
pub async fn list_data_subject_requests(
    principal: Principal,
    state: web::Data<AppState>,
    query: ApiQuery<DataSubjectRequestQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::DataSubjectRequestsRead)?;
    let q = query.into_inner();
    let page = PageRequest::parse(q.limit, q.cursor.as_deref())?;
    let filter = RequestFilter {
        status: q.status,
        kind: q.kind,
        overdue: q.overdue.unwrap_or(false),
        due_soon: q.due_soon.unwrap_or(false),
    };
    let (account, now) = (principal.account_id, clock::now());
    let requests = state
        .db(move |conn| DataSubjectRequest::list(conn, account, &filter, &page, now))
        .await?;
    Ok(HttpResponse::Ok().json(requests.map(|r| DataSubjectRequestView::new(r, now))))
}

/// Open requests by deadline: how many are open, due within 7 days, and overdue.
#[utoipa::path(
    tag = "data-subject requests",
    responses((status = 200, description = "Counts of open requests", body = RequestSummary))
)]
#[get("/data-subject-requests/summary")]
pub async fn data_subject_request_summary(
    principal: Principal,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::DataSubjectRequestsRead)?;
    let (account, now) = (principal.account_id, clock::now());
    let summary = state
        .db(move |conn| DataSubjectRequest::summary(conn, Some(account), now))
        .await?;
    Ok(HttpResponse::Ok().json(summary))
}

#[utoipa::path(
    tag = "data-subject requests",
    params(("id" = Id, Path, description = "The request")),
    responses((status = 200, description = "The request", body = DataSubjectRequestView))
)]
#[get("/data-subject-requests/{id}")]
pub async fn get_data_subject_request(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Id>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::DataSubjectRequestsRead)?;
    let (account, id, now) = (principal.account_id, id.into_inner(), clock::now());
    let request = state
        .db(move |conn| DataSubjectRequest::find(conn, account, id))
        .await?;
    Ok(HttpResponse::Ok().json(DataSubjectRequestView::new(request, now)))
}

/// Records how the requester's identity was checked; the request is then carried out.
#[utoipa::path(
    tag = "data-subject requests",
    params(("id" = Id, Path, description = "The request")),
    request_body = Verification,
    responses(
        (status = 200, description = "Verified and queued for execution", body = DataSubjectRequestView),
        (status = 409, description = "Not awaiting verification", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/data-subject-requests/{id}/verify")]
pub async fn verify_data_subject_request(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Id>,
    body: ApiJson<Verification>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::DataSubjectRequestsWrite)?;
    let verification = body.0;
    let (account, id, now) = (principal.account_id, id.into_inner(), clock::now());
    let request = state
        .db_audited(
            &principal,
            |r: &DataSubjectRequest| {
                AuditRecord::new(
                    "data_subject_request.verified",
                    "data_subject_request",
                    Some(r.id),
                )
                .with_details(json!({"kind": r.kind}))
            },
            move |conn| {
                let request = DataSubjectRequest::verify(conn, account, id, verification, now)?;
                enqueue_execution(conn, &request)?;
                Ok(request)
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(DataSubjectRequestView::new(request, now)))
}

/// Rejects a request that was not carried out (identity not verified, manifestly
/// unfounded…), with the reason.
#[utoipa::path(
    tag = "data-subject requests",
    params(("id" = Id, Path, description = "The request")),
    request_body = RejectDataSubjectRequest,
    responses(
        (status = 200, description = "Rejected", body = DataSubjectRequestView),
        (status = 409, description = "Already processing or answered", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/data-subject-requests/{id}/reject")]
pub async fn reject_data_subject_request(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Id>,
    body: ApiJson<RejectDataSubjectRequest>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::DataSubjectRequestsWrite)?;
    let reason = body.0.reason;
    let (account, id, now) = (principal.account_id, id.into_inner(), clock::now());
    let request = state
        .db_audited(
            &principal,
            |r: &DataSubjectRequest| {
                AuditRecord::new(
                    "data_subject_request.rejected",
                    "data_subject_request",
                    Some(r.id),
                )
                .with_details(json!({"kind": r.kind}))
            },
            move |conn| DataSubjectRequest::reject(conn, account, id, &reason, now),
        )
        .await?;
    Ok(HttpResponse::Ok().json(DataSubjectRequestView::new(request, now)))
}

/// Downloads the export of a completed access or portability request (JSON, format
/// `mailroom.data-subject-export/1`, described in docs/privacy.md). Every download is audited.
#[utoipa::path(
    tag = "data-subject requests",
    params(("id" = Id, Path, description = "The request")),
    responses(
        (status = 200, description = "The export", body = DataSubjectExport),
        (status = 404, description = "No such request, or its export was purged after the retention period", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not an access/portability request, or not completed yet", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/data-subject-requests/{id}/export")]
pub async fn export_data_subject_request(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Id>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::DataSubjectRequestsRead)?;
    let (account, id) = (principal.account_id, id.into_inner());
    let export = state
        .db_audited(
            &principal,
            move |e: &SubjectExport| {
                AuditRecord::new(
                    "data_subject_request.exported",
                    "data_subject_request",
                    Some(id),
                )
                .with_details(json!({"bytes": e.size_bytes}))
            },
            move |conn| {
                let request = DataSubjectRequest::find(conn, account, id)?;
                if !request.kind().exports() {
                    return Err(mailroom_domain::Error::Conflict(format!(
                        "a {} request has no export; only access and portability requests do",
                        request.kind
                    )));
                }
                if request.status() != RequestStatus::Completed {
                    return Err(mailroom_domain::Error::Conflict(format!(
                        "the request is {}; its export is ready once it is completed",
                        request.status
                    )));
                }
                SubjectExport::find(conn, account, id)?.ok_or(mailroom_domain::Error::NotFound(
                    "export (purged after the retention period)",
                ))
            },
        )
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"data-subject-request-{id}.json\""),
        ))
        .json(export.document.0))
}
