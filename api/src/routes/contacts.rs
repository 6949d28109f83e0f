//! Contacts: create, read, list, update, delete.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, delete, get, patch, post, web};
use mailroom_domain::accounts::Scope;
use mailroom_domain::audit::AuditRecord;
use mailroom_domain::consent::{ConsentRecord, ConsentState};
use mailroom_domain::contacts::{Contact, ContactChanges, ContactFilter, EmailAddress, NewContact};
use mailroom_domain::data_subjects::lift_restriction;
use mailroom_domain::pagination::Page;
use mailroom_domain::suppressions::Suppression;
use mailroom_domain::{Id, Timestamp};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::api_keys::PageQuery;
use crate::auth::Principal;
use crate::extract::{ApiJson, ApiQuery};
use crate::problem::ApiError;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct ContactView {
    pub id: Id,
    /// Trimmed, lower-cased; IDN domains in their ASCII (punycode) form.
    pub email: String,
    pub name: Option<String>,
    /// Values of the account's contact properties, by name.
    #[schema(value_type = Object)]
    pub properties: Map<String, Value>,
    /// Current state per consent purpose, from the latest account-wide consent record of
    /// each (list-scoped records do not count). Purposes never recorded are absent.
    pub consents: BTreeMap<String, ConsentState>,
    /// Set while processing is restricted (a data-subject request): the contact is kept
    /// but neither mailed nor tracked until `DELETE /v1/contacts/{id}/restriction`.
    pub restricted_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl ContactView {
    pub fn new(c: Contact, consents: BTreeMap<String, ConsentState>) -> Self {
        ContactView {
            consents,
            properties: c.properties_map(),
            id: c.id,
            email: c.email,
            name: c.name,
            restricted_at: c.restricted_at,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateContact {
    /// At most 254 characters.
    #[schema(format = Email, max_length = 254, example = "ada@example.com")]
    pub email: String,
    /// One line of at most 200 characters.
    #[schema(
        max_length = 200,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$",
        example = "Ada Lovelace"
    )]
    pub name: Option<String>,
    /// Values for defined contact properties (`POST /v1/contact-properties`).
    #[schema(value_type = Option<Object>)]
    pub properties: Option<Map<String, Value>>,
}

/// Parses an address from a request field.
pub fn parse_email(field: &str, raw: &str) -> Result<EmailAddress, ApiError> {
    EmailAddress::parse(raw).map_err(|e| ApiError::invalid(field, e.to_string()))
}

impl CreateContact {
    pub fn into_new_contact(self) -> Result<NewContact, ApiError> {
        Ok(NewContact {
            email: parse_email("email", &self.email)?,
            name: self.name,
            properties: self.properties.unwrap_or_default(),
        })
    }
}

/// A field that may be absent (leave alone), `null` (clear) or a value (set).
fn double_option<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateContact {
    #[schema(format = Email, max_length = 254)]
    pub email: Option<String>,
    /// `null` clears the name (one line of at most 200 characters).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 200, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")]
    pub name: Option<Option<String>>,
    /// Merged into the stored properties; a property set to `null` is removed.
    #[schema(value_type = Option<Object>)]
    pub properties: Option<Map<String, Value>>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContactQuery {
    /// Only the contact with this address.
    #[param(format = Email, max_length = 254)]
    pub email: Option<String>,
    /// Only members of this list.
    pub list_id: Option<Id>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Creates a contact.
#[utoipa::path(
    tag = "contacts",
    request_body = CreateContact,
    responses(
        (status = 201, description = "Contact created", body = ContactView),
        (status = 409, description = "A contact with this email already exists", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/contacts")]
pub async fn create_contact(
    principal: Principal,
    state: web::Data<AppState>,
    body: ApiJson<CreateContact>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::ContactsWrite)?;
    let new = body.0.into_new_contact()?;
    let account = principal.account_id;
    let key = state.hash_key.clone();
    let contact = state
        .db_audited(
            &principal,
            |c: &Contact| AuditRecord::new("contact.created", "contact", Some(c.id)),
            move |conn| {
                Suppression::admit(conn, account, &key, &new.email, false)?;
                Contact::create(conn, account, new)
            },
        )
        .await?;
    Ok(HttpResponse::Created().json(ContactView::new(contact, BTreeMap::new())))
}

/// Shows a contact.
#[utoipa::path(tag = "contacts", params(("id" = Id, Path)), responses((status = 200, description = "The contact", body = ContactView)))]
#[get("/contacts/{id}")]
pub async fn get_contact(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Id>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::ContactsRead)?;
    let (account, id) = (principal.account_id, id.into_inner());
    let contact = state
        .db(move |conn| {
            let contact = Contact::find(conn, account, id)?;
            Ok(ContactView::new(
                contact,
                ConsentRecord::current_states(conn, account, id)?,
            ))
        })
        .await?;
    state
        .audit_support_read(
            &principal,
            AuditRecord::new("contact.read", "contact", Some(id)),
        )
        .await?;
    Ok(HttpResponse::Ok().json(contact))
}

/// Lists contacts, oldest first, optionally by address or list.
#[utoipa::path(tag = "contacts", params(ContactQuery), responses((status = 200, description = "A page of contacts", body = Page<ContactView>)))]
#[get("/contacts")]
pub async fn list_contacts(
    principal: Principal,
    state: web::Data<AppState>,
    query: ApiQuery<ContactQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::ContactsRead)?;
    let query = query.into_inner();
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    }
    .page()?;
    let filter = ContactFilter {
        email: query
            .email
            .as_deref()
            .map(|e| parse_email("email", e))
            .transpose()?,
        list_id: query.list_id,
    };
    let account = principal.account_id;
    let contacts = state
        .db(move |conn| {
            let contacts = Contact::list(conn, account, &filter, &page)?;
            let ids: Vec<Id> = contacts.data.iter().map(|c| c.id).collect();
            let mut consents = ConsentRecord::current_states_of(conn, account, &ids)?;
            Ok(contacts.map(|c| {
                let states = consents.remove(&c.id).unwrap_or_default();
                ContactView::new(c, states)
            }))
        })
        .await?;
    state
        .audit_support_read(
            &principal,
            AuditRecord::new("contact.listed", "contact", None)
                .with_details(serde_json::json!({ "returned": contacts.data.len() })),
        )
        .await?;
    Ok(HttpResponse::Ok().json(contacts))
}

/// Changes a contact's email, name or properties.
#[utoipa::path(
    tag = "contacts",
    params(("id" = Id, Path)),
    request_body = UpdateContact,
    responses(
        (status = 200, description = "The updated contact", body = ContactView),
        (status = 409, description = "Another contact has this email", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/contacts/{id}")]
pub async fn update_contact(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Id>,
    body: ApiJson<UpdateContact>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::ContactsWrite)?;
    let body = body.0;
    let changes = ContactChanges {
        email: body
            .email
            .as_deref()
            .map(|e| parse_email("email", e))
            .transpose()?,
        name: body.name,
        properties: body.properties,
    };
    let mut fields: Vec<String> = Vec::new();
    if changes.email.is_some() {
        fields.push("email".into());
    }
    if changes.name.is_some() {
        fields.push("name".into());
    }
    if let Some(properties) = &changes.properties {
        fields.extend(properties.keys().map(|k| format!("properties.{k}")));
    }
    let (account, id) = (principal.account_id, id.into_inner());
    let key = state.hash_key.clone();
    let contact = state
        .db_audited(
            &principal,
            move |_: &ContactView| {
                AuditRecord::new("contact.updated", "contact", Some(id))
                    .with_details(serde_json::json!({ "fields": fields }))
            },
            move |conn| {
                if let Some(email) = &changes.email {
                    Suppression::admit(conn, account, &key, email, false)?;
                }
                let contact = Contact::update(conn, account, id, changes)?;
                Ok(ContactView::new(
                    contact,
                    ConsentRecord::current_states(conn, account, id)?,
                ))
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(contact))
}

/// Deletes a contact and its list memberships.
#[utoipa::path(tag = "contacts", params(("id" = Id, Path)), responses((status = 204, description = "Contact deleted")))]
#[delete("/contacts/{id}")]
pub async fn delete_contact(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Id>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::ContactsWrite)?;
    let (account, id) = (principal.account_id, id.into_inner());
    state
        .db_audited(
            &principal,
            move |_: &()| AuditRecord::new("contact.deleted", "contact", Some(id)),
            move |conn| Contact::delete(conn, account, id),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Lifts a restriction of processing (set by a `restriction` data-subject request): the
/// contact can be mailed and tracked again. Audited; lifting where none is set changes
/// nothing.
#[utoipa::path(
    tag = "contacts",
    params(("id" = Id, Path)),
    responses((status = 204, description = "The contact is no longer restricted"))
)]
#[delete("/contacts/{id}/restriction")]
pub async fn lift_contact_restriction(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Id>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::ContactsWrite)?;
    let (account, id) = (principal.account_id, id.into_inner());
    state
        .db_audited(
            &principal,
            move |lifted: &bool| {
                AuditRecord::new("contact.restriction_lifted", "contact", Some(id))
                    .with_details(serde_json::json!({ "was_restricted": lifted }))
            },
            move |conn| lift_restriction(conn, account, id),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
