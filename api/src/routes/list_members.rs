//! List members: adding, listing, showing and removing.

use actix_web::{HttpResponse, delete, get, post, web};
use mailroom_domain::accounts::Scope;
use mailroom_domain::audit::{self, AuditRecord};
use mailroom_domain::consent::{ConsentStatus, purposes};
use mailroom_domain::lists::{AddedMember, Member, MemberStatus, MemberSubject};
use mailroom_domain::pagination::Page;
use mailroom_domain::suppressions::Suppression;
use mailroom_domain::{Id, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::api_keys::PageQuery;
use super::consents::MemberConsent;
use super::contacts::CreateContact;
use crate::auth::Principal;
use crate::extract::{ApiJson, ApiQuery};
use crate::problem::ApiError;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct MemberView {
    pub list_id: Id,
    pub contact_id: Id,
    pub email: String,
    pub name: Option<String>,
    pub status: MemberStatus,
    pub subscribed_at: Option<Timestamp>,
    pub unsubscribed_at: Option<Timestamp>,
    #[schema(value_type = Object)]
    pub properties: Map<String, Value>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<Member> for MemberView {
    fn from(m: Member) -> Self {
        MemberView {
            status: m.status(),
            properties: m.contact.properties_map(),
            list_id: m.membership.list_id,
            contact_id: m.contact.id,
            email: m.contact.email,
            name: m.contact.name,
            subscribed_at: m.membership.subscribed_at,
            unsubscribed_at: m.membership.unsubscribed_at,
            created_at: m.membership.created_at,
            updated_at: m.membership.updated_at,
        }
    }
}

/// Either `contact_id`, or `email` (with optional `name` and `properties`): the contact is
/// created when the address is new to the account. `consent`, when given, is appended to
/// the contact's consent ledger in the same transaction as the membership.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    pub contact_id: Option<Id>,
    #[schema(format = Email, max_length = 254)]
    pub email: Option<String>,
    /// As for `POST /v1/contacts`: one line of at most 200 characters.
    #[schema(max_length = 200, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")]
    pub name: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub properties: Option<Map<String, Value>>,
    pub consent: Option<MemberConsent>,
}

impl AddMember {
    fn subject(self) -> Result<MemberSubject, ApiError> {
        match (self.contact_id, self.email) {
            (Some(id), None) if self.name.is_none() && self.properties.is_none() => {
                Ok(MemberSubject::Contact(id))
            }
            (Some(_), None) => Err(ApiError::invalid(
                "contact_id",
                "name and properties go with email, not with contact_id",
            )),
            (None, Some(email)) => Ok(MemberSubject::Email(
                CreateContact {
                    email,
                    name: self.name,
                    properties: self.properties,
                }
                .into_new_contact()?,
            )),
            (Some(_), Some(_)) => Err(ApiError::invalid(
                "contact_id",
                "give either contact_id or email, not both",
            )),
            (None, None) => Err(ApiError::invalid(
                "email",
                "give either contact_id or email",
            )),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MemberQuery {
    /// Only members in this state.
    pub status: Option<MemberStatus>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Adds a contact to a list: 201 when new, 200 when already a member. A member of a
/// double opt-in list starts `pending`.
#[utoipa::path(
    tag = "lists",
    params(("id" = Id, Path, description = "The list")),
    request_body = AddMember,
    responses(
        (status = 201, description = "Member added", body = MemberView),
        (status = 200, description = "Already a member; the membership as it is", body = MemberView),
    )
)]
#[post("/lists/{id}/members")]
pub async fn add_list_member(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Id>,
    body: ApiJson<AddMember>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::ListsWrite)?;
    let mut body = body.0;
    let consent = body.consent.take();
    let subject = body.subject()?;
    if matches!(subject, MemberSubject::Email(_)) || consent.is_some() {
        principal.require(Scope::ContactsWrite)?;
    }
    let (account, list_id) = (principal.account_id, id.into_inner());
    let consent = consent.map(|c| c.into_new_consent(list_id));
    // An erased person comes back only with their fresh, granted, account-wide marketing
    // consent; the erasure entry then goes (and the audit log says so).
    let consents_anew = consent.as_ref().is_some_and(|c| {
        c.list_id.is_none()
            && c.purpose == purposes::MARKETING_EMAIL
            && c.status == ConsentStatus::Granted
    });
    let (key, actor) = (state.hash_key.clone(), principal.actor.clone());
    let added = state
        .db_audited(
            &principal,
            move |a: &AddedMember| {
                AuditRecord::new(
                    if a.created {
                        "member.added"
                    } else {
                        "member.add_repeated"
                    },
                    "list_member",
                    Some(a.member.contact.id),
                )
                .with_details(serde_json::json!({
                    "list_id": list_id,
                    "status": a.member.status().as_str(),
                }))
            },
            move |conn| {
                if let MemberSubject::Email(new) = &subject
                    && Suppression::admit(conn, account, &key, &new.email, consents_anew)?
                {
                    audit::record(
                        conn,
                        account,
                        &actor,
                        AuditRecord::new("suppression.erasure_lifted", "suppression", None)
                            .with_details(serde_json::json!({
                                "list_id": list_id,
                                "reason": "the person consented anew",
                            })),
                    )?;
                }
                Member::add(conn, account, list_id, subject, consent)
            },
        )
        .await?;
    let mut response = if added.created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response.json(MemberView::from(added.member)))
}

/// Lists a list's members, optionally by status.
#[utoipa::path(
    tag = "lists",
    params(("id" = Id, Path, description = "The list"), MemberQuery),
    responses((status = 200, description = "A page of members", body = Page<MemberView>))
)]
#[get("/lists/{id}/members")]
pub async fn list_list_members(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Id>,
    query: ApiQuery<MemberQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::ListsRead)?;
    principal.require(Scope::ContactsRead)?;
    let query = query.into_inner();
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    }
    .page()?;
    let (account, list_id, status) = (principal.account_id, id.into_inner(), query.status);
    let members = state
        .db(move |conn| Member::list(conn, account, list_id, status, &page))
        .await?;
    state
        .audit_support_read(
            &principal,
            AuditRecord::new("list_member.listed", "list", Some(list_id))
                .with_details(serde_json::json!({ "returned": members.data.len() })),
        )
        .await?;
    Ok(HttpResponse::Ok().json(members.map(MemberView::from)))
}

/// Shows one membership.
#[utoipa::path(
    tag = "lists",
    params(("id" = Id, Path, description = "The list"), ("contact_id" = Id, Path)),
    responses((status = 200, description = "The membership", body = MemberView))
)]
#[get("/lists/{id}/members/{contact_id}")]
pub async fn get_list_member(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(Id, Id)>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::ListsRead)?;
    principal.require(Scope::ContactsRead)?;
    let (list_id, contact_id) = path.into_inner();
    let account = principal.account_id;
    let member = state
        .db(move |conn| Member::find(conn, account, list_id, contact_id))
        .await?;
    state
        .audit_support_read(
            &principal,
            AuditRecord::new("list_member.read", "list_member", Some(contact_id))
                .with_details(serde_json::json!({ "list_id": list_id })),
        )
        .await?;
    Ok(HttpResponse::Ok().json(MemberView::from(member)))
}

/// Removes a contact from a list (the contact stays).
#[utoipa::path(
    tag = "lists",
    params(("id" = Id, Path, description = "The list"), ("contact_id" = Id, Path)),
    responses((status = 204, description = "Member removed"))
)]
#[delete("/lists/{id}/members/{contact_id}")]
pub async fn remove_list_member(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(Id, Id)>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::ListsWrite)?;
    let (list_id, contact_id) = path.into_inner();
    let account = principal.account_id;
    state
        .db_audited(
            &principal,
            move |_: &()| {
                AuditRecord::new("member.removed", "list_member", Some(contact_id))
                    .with_details(serde_json::json!({ "list_id": list_id }))
            },
            move |conn| Member::remove(conn, account, list_id, contact_id),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
