//! A contact's consent ledger: appending records and reading the history. Records are
//! evidence, so no route changes or deletes one.

use actix_web::{HttpResponse, get, post, web};
use mailroom_domain::accounts::Scope;
use mailroom_domain::audit::AuditRecord;
use mailroom_domain::consent::{ConsentRecord, ConsentStatus, NewConsent};
use mailroom_domain::pagination::Page;
use mailroom_domain::{Id, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    AnyOfBuilder, KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type,
};
use utoipa::{IntoParams, ToSchema};

use super::api_keys::PageQuery;
use crate::auth::Principal;
use crate::extract::{ApiJson, ApiQuery};
use crate::openapi::constraints::BLANK_PATTERN;
use crate::problem::ApiError;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct ConsentView {
    pub id: Id,
    pub contact_id: Id,
    /// The list whose subscription the record documents; `null` for account-wide consent.
    pub list_id: Option<Id>,
    pub purpose: String,
    pub status: ConsentStatus,
    pub method: String,
    pub source: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub policy_version: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub evidence: Option<Value>,
    pub created_at: Timestamp,
}

impl From<ConsentRecord> for ConsentView {
    fn from(r: ConsentRecord) -> Self {
        ConsentView {
            status: r.status(),
            id: r.id,
            contact_id: r.contact_id,
            list_id: r.list_id,
            purpose: r.purpose,
            method: r.method,
            source: r.source,
            ip: r.ip,
            user_agent: r.user_agent,
            policy_version: r.policy_version,
            evidence: r.evidence.map(|e| e.0),
            created_at: r.created_at,
        }
    }
}

/// An IPv4 or IPv6 address, as text; blank counts as none (as any optional text).
#[allow(dead_code)] // a schema only: never built
pub struct IpAddressText(String);

impl utoipa::PartialSchema for IpAddressText {
    fn schema() -> RefOr<Schema> {
        let address = |format| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(format)))
        };
        AnyOfBuilder::new()
            .item(address(KnownFormat::Ipv4))
            .item(address(KnownFormat::Ipv6))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(BLANK_PATTERN)),
            )
            .description(Some("An IPv4 or IPv6 address, or blank for none"))
            .into()
    }
}

impl ToSchema for IpAddressText {}

/// One consent record: what was granted or withdrawn, how, and the evidence.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConsent {
    /// What the consent is for: 1–64 lower-case letters, digits or `_`. Mailroom acts on
    /// `marketing_email` (campaigns go only to contacts who granted it) and `tracking`
    /// (opens and clicks are tracked only for contacts who granted it); other purposes
    /// are recorded as given.
    #[schema(example = "marketing_email", pattern = "^[a-z0-9_]{1,64}$")]
    pub purpose: String,
    pub status: ConsentStatus,
    /// How it was obtained or withdrawn: 1–64 lower-case letters, digits or `_`, e.g.
    /// `api`, `form`, `double_opt_in`, `import`, `unsubscribe_link`.
    #[schema(example = "form", pattern = "^[a-z0-9_]{1,64}$")]
    pub method: String,
    /// Where it happened: the form's URL, the import's file, the integration (1–500
    /// characters).
    #[schema(
        example = "https://example.com/newsletter",
        min_length = 1,
        max_length = 500
    )]
    pub source: String,
    /// The IPv4 or IPv6 address the consent came from.
    #[schema(value_type = Option<IpAddressText>)]
    pub ip: Option<String>,
    /// The user agent of the browser that gave it (at most 1000 characters).
    #[schema(max_length = 1000)]
    pub user_agent: Option<String>,
    /// The version of the privacy policy or consent text shown (at most 100 characters).
    #[schema(max_length = 100)]
    pub policy_version: Option<String>,
    /// Any further evidence, as a JSON object of at most 16 KB.
    #[schema(value_type = Option<Object>)]
    pub evidence: Option<Map<String, Value>>,
    /// A list of the account: the record then documents that list's subscription or
    /// unsubscription only, and does not change the contact's account-wide state.
    pub list_id: Option<Id>,
}

impl CreateConsent {
    pub fn into_new_consent(self) -> NewConsent {
        NewConsent {
            list_id: self.list_id,
            purpose: self.purpose,
            status: self.status,
            method: self.method,
            source: self.source,
            ip: self.ip,
            user_agent: self.user_agent,
            policy_version: self.policy_version,
            evidence: self.evidence,
        }
    }
}

/// Consent given together with a list membership: recorded in the same transaction.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberConsent {
    /// As for `POST /v1/contacts/{id}/consents`.
    #[schema(example = "marketing_email", pattern = "^[a-z0-9_]{1,64}$")]
    pub purpose: String,
    pub status: ConsentStatus,
    #[schema(example = "form", pattern = "^[a-z0-9_]{1,64}$")]
    pub method: String,
    #[schema(min_length = 1, max_length = 500)]
    pub source: String,
    #[schema(value_type = Option<IpAddressText>)]
    pub ip: Option<String>,
    #[schema(max_length = 1000)]
    pub user_agent: Option<String>,
    #[schema(max_length = 100)]
    pub policy_version: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub evidence: Option<Map<String, Value>>,
    /// `true`: the record documents this list's subscription only (its `list_id` is the
    /// list). `false` (the default): it is account-wide and sets the contact's state.
    #[serde(default)]
    pub list_scoped: bool,
}

impl MemberConsent {
    pub fn into_new_consent(self, list_id: Id) -> NewConsent {
        NewConsent {
            list_id: self.list_scoped.then_some(list_id),
            purpose: self.purpose,
            status: self.status,
            method: self.method,
            source: self.source,
            ip: self.ip,
            user_agent: self.user_agent,
            policy_version: self.policy_version,
            evidence: self.evidence,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsentQuery {
    /// Only records of this purpose.
    #[param(pattern = "^[a-z0-9_]{1,64}$")]
    pub purpose: Option<String>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Appends a consent record to a contact's ledger. Records are never changed or deleted:
/// to withdraw, append a `withdrawn` record.
#[utoipa::path(
    tag = "consents",
    params(("id" = Id, Path, description = "The contact")),
    request_body = CreateConsent,
    responses((status = 201, description = "Record appended", body = ConsentView))
)]
#[post("/contacts/{id}/consents")]
pub async fn append_consent(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Id>,
    body: ApiJson<CreateConsent>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::ContactsWrite)?;
    let new = body.0.into_new_consent();
    let (account, contact_id) = (principal.account_id, id.into_inner());
    let record = state
        .db_audited(
            &principal,
            move |r: &ConsentRecord| {
                AuditRecord::new("consent.recorded", "contact", Some(contact_id)).with_details(
                    serde_json::json!({"consent_id": r.id, "purpose": r.purpose, "status": r.status}),
                )
            },
            move |conn| ConsentRecord::append(conn, account, contact_id, new),
        )
        .await?;
    Ok(HttpResponse::Created().json(ConsentView::from(record)))
}

/// A contact's consent history, newest first, optionally of one purpose.
#[utoipa::path(
    tag = "consents",
    params(("id" = Id, Path, description = "The contact"), ConsentQuery),
    responses((status = 200, description = "A page of records, newest first", body = Page<ConsentView>))
)]
#[get("/contacts/{id}/consents")]
pub async fn list_consents(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Id>,
    query: ApiQuery<ConsentQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::ContactsRead)?;
    let query = query.into_inner();
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    }
    .page()?;
    let (account, contact_id, purpose) = (principal.account_id, id.into_inner(), query.purpose);
    let history = state
        .db(move |conn| {
            ConsentRecord::history(conn, account, contact_id, purpose.as_deref(), &page)
        })
        .await?;
    state
        .audit_support_read(
            &principal,
            AuditRecord::new("consent.listed", "contact", Some(contact_id)),
        )
        .await?;
    Ok(HttpResponse::Ok().json(history.map(ConsentView::from)))
}
