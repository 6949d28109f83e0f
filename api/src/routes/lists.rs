//! Mailing lists.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use mailroom_domain::Id;
use mailroom_domain::accounts::Scope;
use mailroom_domain::audit::AuditRecord;
use mailroom_domain::lists::{ListChanges, MailingList};
use mailroom_domain::pagination::Page;
use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

use super::api_keys::PageQuery;
use crate::auth::Principal;
use crate::extract::{ApiJson, ApiQuery};
use crate::problem::ApiError;
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateList {
    /// 1–200 characters, not blank.
    #[schema(min_length = 1, max_length = 200, example = "News")]
    pub name: String,
    /// At most 2000 characters.
    #[schema(max_length = 2000, example = "Monthly news from the shop")]
    pub description: Option<String>,
    /// New members must confirm by email before they are subscribed (default false).
    #[serde(default)]
    pub double_opt_in: bool,
}

fn double_option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateList {
    /// 1–200 characters, not blank.
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// `null` clears the description (at most 2000 characters).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 2000)]
    pub description: Option<Option<String>>,
    pub double_opt_in: Option<bool>,
}

/// Creates a list.
#[utoipa::path(tag = "lists", request_body = CreateList, responses((status = 201, description = "List created", body = MailingList)))]
#[post("/lists")]
pub async fn create_list(
    principal: Principal,
    state: web::Data<AppState>,
    body: ApiJson<CreateList>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::ListsWrite)?;
    let CreateList {
        name,
        description,
        double_opt_in,
    } = body.0;
    let account = principal.account_id;
    let list = state
        .db_audited(
            &principal,
            |l: &MailingList| AuditRecord::new("list.created", "list", Some(l.id)),
            move |conn| MailingList::create(conn, account, &name, description, double_opt_in),
        )
        .await?;
    Ok(HttpResponse::Created().json(list))
}

/// Lists the account's lists, oldest first.
#[utoipa::path(tag = "lists", params(PageQuery), responses((status = 200, description = "A page of lists", body = Page<MailingList>)))]
#[get("/lists")]
pub async fn list_lists(
    principal: Principal,
    state: web::Data<AppState>,
    query: ApiQuery<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::ListsRead)?;
    let page = query.page()?;
    let account = principal.account_id;
    let lists = state
        .db(move |conn| MailingList::list(conn, account, &page))
        .await?;
    state
        .audit_support_read(&principal, AuditRecord::new("list.listed", "list", None))
        .await?;
    Ok(HttpResponse::Ok().json(lists))
}

/// Shows a list.
#[utoipa::path(tag = "lists", params(("id" = Id, Path)), responses((status = 200, description = "The list", body = MailingList)))]
#[get("/lists/{id}")]
pub async fn get_list(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Id>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::ListsRead)?;
    let (account, id) = (principal.account_id, id.into_inner());
    let list = state
        .db(move |conn| MailingList::find(conn, account, id))
        .await?;
    state
        .audit_support_read(&principal, AuditRecord::new("list.read", "list", Some(id)))
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Renames a list or changes its settings.
#[utoipa::path(tag = "lists", params(("id" = Id, Path)), request_body = UpdateList, responses((status = 200, description = "The updated list", body = MailingList)))]
#[patch("/lists/{id}")]
pub async fn update_list(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Id>,
    body: ApiJson<UpdateList>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::ListsWrite)?;
    let UpdateList {
        name,
        description,
        double_opt_in,
    } = body.0;
    let changes = ListChanges {
        name,
        description,
        double_opt_in,
    };
    let (account, id) = (principal.account_id, id.into_inner());
    let list = state
        .db_audited(
            &principal,
            move |_: &MailingList| AuditRecord::new("list.updated", "list", Some(id)),
            move |conn| MailingList::update(conn, account, id, changes),
        )
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Deletes a list and its memberships (the contacts stay).
#[utoipa::path(tag = "lists", params(("id" = Id, Path)), responses((status = 204, description = "List deleted")))]
#[delete("/lists/{id}")]
pub async fn delete_list(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Id>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::ListsWrite)?;
    let (account, id) = (principal.account_id, id.into_inner());
    state
        .db_audited(
            &principal,
            move |_: &()| AuditRecord::new("list.deleted", "list", Some(id)),
            move |conn| MailingList::delete(conn, account, id),
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
