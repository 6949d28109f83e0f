//! The account's suppression list: addresses never to be mailed again.

use actix_web::{HttpResponse, delete, get, post, web};
use mailroom_domain::Timestamp;
use mailroom_domain::accounts::Scope;
use mailroom_domain::audit::AuditRecord;
use mailroom_domain::campaigns::Campaign;
use mailroom_domain::pagination::Page;
use mailroom_domain::suppressions::{
    AddedSuppression, Suppression, SuppressionFilter, SuppressionReason,
};
use mailroom_domain::{FieldError, Id};
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
    /// The campaign whose delivery outcome (a bounce of its message) created the entry.
    pub campaign_id: Option<Id>,
    pub created_at: Timestamp,
}

impl From<Suppression> for SuppressionView {
    fn from(s: Suppression) -> Self {
        SuppressionView {
            reason: s.reason(),
            id: s.id,
            email: s.email,
            note: s.note,
            campaign_id: s.campaign_id,
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
    /// Only entries created by this campaign's delivery outcomes (its bounces).
    pub campaign_id: Option<Id>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Lists the suppression list, oldest first, optionally by reason or by the campaign whose
/// bounces created the entries.
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
    let account = principal.account_id;
    let filter = SuppressionFilter {
        reason: query.reason,
        campaign_id: query.campaign_id,
    };
    let entries = state
        .db(move |conn| Suppression::list(conn, account, &filter, &page))
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

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UndoSuppressionsQuery {
    /// The campaign whose delivery outcomes created the suppressions.
    #[param(required = true)]
    pub campaign_id: Option<Id>,
    /// `hard_bounce` or `soft_bounce`.
    #[param(required = true)]
    pub reason: Option<SuppressionReason>,
}

/// What undoing a campaign's suppressions removed.
#[derive(Serialize, ToSchema)]
pub struct UndoneSuppressions {
    pub campaign_id: Id,
    pub reason: SuppressionReason,
    /// Entries removed: the campaign's bounces of this reason that were still suppressed.
    pub removed: i64,
}

/// Undoes the suppressions one campaign's bounces created, for the day a misconfigured
/// relay bounced a list: every `hard_bounce` (or `soft_bounce`) entry created by a
/// delivery outcome of the campaign goes, and the call is audited. Review them first with
/// `GET /v1/suppressions?campaign_id=…&reason=…`. Entries that existed before the
/// campaign, complaints, unsubscribes and erasures are never touched.
#[utoipa::path(
    tag = "suppressions",
    params(UndoSuppressionsQuery),
    responses(
        (status = 200, description = "The campaign's suppressions of that reason are removed", body = UndoneSuppressions),
        (status = 404, description = "No such campaign in the account", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`campaign_id` or `reason` missing or invalid (only `hard_bounce` and `soft_bounce` can be undone)", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/suppressions")]
pub async fn undo_campaign_suppressions(
    principal: Principal,
    state: web::Data<AppState>,
    query: ApiQuery<UndoSuppressionsQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::SuppressionsWrite)?;
    let UndoSuppressionsQuery {
        campaign_id,
        reason,
    } = query.into_inner();
    let (campaign_id, reason) = match (campaign_id, reason) {
        (Some(campaign_id), Some(reason)) => (campaign_id, reason),
        (campaign_id, reason) => {
            let missing = [
                ("campaign_id", campaign_id.is_none()),
                ("reason", reason.is_none()),
            ];
            return Err(ApiError::Validation(
                missing
                    .into_iter()
                    .filter(|(_, missing)| *missing)
                    .map(|(field, _)| FieldError::new(field, "is required"))
                    .collect(),
            ));
        }
    };
    let account = principal.account_id;
    let removed = state
        .db_audited(
            &principal,
            move |removed: &usize| {
                AuditRecord::new("suppression.campaign_undone", "campaign", Some(campaign_id))
                    .with_details(
                        serde_json::json!({ "reason": reason.as_str(), "removed": removed }),
                    )
            },
            move |conn| {
                Campaign::find(conn, account, campaign_id)?;
                Suppression::remove_for_campaign(conn, account, campaign_id, reason)
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(UndoneSuppressions {
        campaign_id,
        reason,
        removed: removed as i64,
    }))
}
