//! The account's suppression list: addresses never to be mailed again.

use actix_web::{HttpResponse, delete, get, post, web};
use mailroom_domain::Id;
use mailroom_domain::Timestamp;
use mailroom_domain::accounts::Scope;
use mailroom_domain::audit::AuditRecord;
use mailroom_domain::pagination::Page;
use mailroom_domain::suppressions::{AddedSuppression, Suppression, SuppressionReason};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::api_keys::PageQuery;
use super::contacts::parse_email;
use crate::auth::Principal;
use crate::extract::{ApiJson, ApiQuery};
use crate::problem::ApiError;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct SuppressionView {
    pub id: Id,
    /// The normalised address; `null` once the person's data was erased (the entry then
    /// matches the address by a one-way hash only).
    pub email: Option<String>,
    pub reason: SuppressionReason,
    pub note: Option<String>,
    pub created_at: Timestamp,
}

impl From<Suppression> for SuppressionView {
    fn from(s: Suppression) -> Self {
        SuppressionView {
            reason: s.reason(),
            id: s.id,
            email: s.email,
            note: s.note,
            created_at: s.created_at,
        }
    }
}

/// Why an address is suppressed by hand. (`erasure` entries come only from erasure of
/// the person's data.)
#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum AddSuppressionReason {
    Unsubscribe,
    HardBounce,
    Complaint,
    Manual,
}

impl From<AddSuppressionReason> for SuppressionReason {
    fn from(r: AddSuppressionReason) -> Self {
        match r {
            AddSuppressionReason::Unsubscribe => SuppressionReason::Unsubscribe,
            AddSuppressionReason::HardBounce => SuppressionReason::HardBounce,
            AddSuppressionReason::Complaint => SuppressionReason::Complaint,
            AddSuppressionReason::Manual => SuppressionReason::Manual,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddSuppression {
    /// Normalised like a contact's address (trimmed, lower-cased, punycode).
    #[schema(format = Email, max_length = 254, example = "ada@example.com")]
    pub email: String,
    /// Default `manual`.
    pub reason: Option<AddSuppressionReason>,
    /// Why, for the account's own records (at most 1000 characters).
    #[schema(max_length = 1000)]
    pub note: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SuppressionQuery {
    /// Only entries with this reason.
    pub reason: Option<SuppressionReason>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Lists the suppression list, oldest first, optionally by reason.
#[utoipa::path(
    tag = "suppressions",
    params(SuppressionQuery),
    responses((status = 200, description = "A page of suppressed addresses", body = Page<SuppressionView>))
)]
#[get("/suppressions")]
pub async fn list_suppressions(
    principal: Principal,
    state: web::Data<AppState>,
    query: ApiQuery<SuppressionQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::SuppressionsRead)?;
    let query = query.into_inner();
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    }
    .page()?;
    let (account, reason) = (principal.account_id, query.reason);
    let entries = state
        .db(move |conn| Suppression::list(conn, account, reason, &page))
        .await?;
    Ok(HttpResponse::Ok().json(entries.map(SuppressionView::from)))
}

/// Suppresses an address: 201 when new, 200 with the existing entry when it already was.
#[utoipa::path(
    tag = "suppressions",
    request_body = AddSuppression,
    responses(
        (status = 201, description = "Address suppressed", body = SuppressionView),
        (status = 200, description = "Already suppressed; the entry as it is", body = SuppressionView),
    )
)]
#[post("/suppressions")]
pub async fn add_suppression(
    principal: Principal,
    state: web::Data<AppState>,
    body: ApiJson<AddSuppression>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::SuppressionsWrite)?;
    let body = body.0;
    let email = parse_email("email", &body.email)?;
    let reason = body
        .reason
        .map_or(SuppressionReason::Manual, SuppressionReason::from);
    let (account, key, note) = (principal.account_id, state.hash_key.clone(), body.note);
    let added = state
        .db_audited(
            &principal,
            move |a: &AddedSuppression| {
                AuditRecord::new("suppression.added", "suppression", Some(a.suppression.id))
                    .with_details(
                        serde_json::json!({ "reason": reason.as_str(), "new": a.created }),
                    )
            },
            move |conn| Suppression::add(conn, account, &key, &email, reason, note),
        )
        .await?;
    let mut response = if added.created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response.json(SuppressionView::from(added.suppression)))
}

/// Lets the account mail an address again. Entries of erased people cannot be removed
/// (409): they are what keeps an erased person from being mailed.
#[utoipa::path(
    tag = "suppressions",
    params(("email" = String, Path, format = Email, max_length = 254, description = "The address, URL-encoded; normalised before the lookup")),
    responses(
        (status = 204, description = "No longer suppressed"),
        (status = 409, description = "The entry records an erasure and stays", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/suppressions/{email}")]
pub async fn remove_suppression(
    principal: Principal,
    state: web::Data<AppState>,
    email: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::SuppressionsWrite)?;
    let email = parse_email("email", &email.into_inner())?;
    let (account, key) = (principal.account_id, state.hash_key.clone());
    state
        .db_audited(
            &principal,
            |_: &()| AuditRecord::new("suppression.removed", "suppression", None),
            move |conn| Suppression::remove(conn, account, &key, &email),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
