//! Contact property definitions: typed fields contacts may carry.

use actix_web::{HttpResponse, delete, get, post, web};
use mailroom_domain::accounts::Scope;
use mailroom_domain::audit::AuditRecord;
use mailroom_domain::contacts::{PropertyDefinition, PropertyType};
use mailroom_domain::pagination::Page;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::extract::ApiJson;
use crate::problem::ApiError;
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateContactProperty {
    /// Lower-case letters, digits and `_`, starting with a letter (it becomes a template
    /// variable: `contact.properties.<name>`), at most 64; not `email`, `name`, `id`,
    /// `created_at` or `updated_at`.
    #[schema(
        pattern = "^(?!(email|name|id|created_at|updated_at)$)[a-z][a-z0-9_]{0,63}$",
        example = "plan"
    )]
    pub name: String,
    #[serde(rename = "type")]
    pub property_type: PropertyType,
}

/// Defines a contact property.
#[utoipa::path(
    tag = "contact_properties",
    request_body = CreateContactProperty,
    responses(
        (status = 201, description = "Property defined", body = PropertyDefinition),
        (status = 409, description = "A property with this name exists", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/contact-properties")]
pub async fn create_contact_property(
    principal: Principal,
    state: web::Data<AppState>,
    body: ApiJson<CreateContactProperty>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::ContactsWrite)?;
    let CreateContactProperty {
        name,
        property_type,
    } = body.0;
    let account = principal.account_id;
    let definition = state
        .db(move |conn| PropertyDefinition::create(conn, account, &name, property_type))
        .await?;
    Ok(HttpResponse::Created().json(definition))
}

/// Lists the account's contact properties, by name.
#[utoipa::path(tag = "contact_properties", responses((status = 200, description = "Every definition", body = Page<PropertyDefinition>)))]
#[get("/contact-properties")]
pub async fn list_contact_properties(
    principal: Principal,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::ContactsRead)?;
    let account = principal.account_id;
    let data = state
        .db(move |conn| PropertyDefinition::list(conn, account))
        .await?;
    state
        .audit_support_read(
            &principal,
            AuditRecord::new("contact_property.listed", "contact_property", None),
        )
        .await?;
    Ok(HttpResponse::Ok().json(Page {
        data,
        next_cursor: None,
    }))
}

/// Deletes a contact property and every contact's value for it.
#[utoipa::path(tag = "contact_properties", params(("name" = String, Path)), responses((status = 204, description = "Property deleted")))]
#[delete("/contact-properties/{name}")]
pub async fn delete_contact_property(
    principal: Principal,
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::ContactsWrite)?;
    if mailroom_domain::contacts::property_type::validate_property_name(&name).is_err() {
        return Err(ApiError::NotFound("contact property not found".into()));
    }
    let (account, name) = (principal.account_id, name.into_inner());
    let property = name.clone();
    state
        .db_audited(
            &principal,
            move |_: &()| {
                AuditRecord::new("contact_property.deleted", "contact_property", None)
                    .with_details(serde_json::json!({ "name": property }))
            },
            move |conn| PropertyDefinition::delete(conn, account, &name),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
