//! Mailing lists.

use crate::store::sql_types::{Id, Timestamp};
use diesel::prelude::*;

use crate::clock;
use crate::error::{Error, Result};
use crate::pagination::{Page, PageRequest};
use crate::schema::lists;
use crate::store::DbConnection;

#[derive(
    Debug,
    Clone,
    Queryable,
    Selectable,
    Insertable,
    Identifiable,
    serde::Serialize,
    utoipa::ToSchema,
)]
#[diesel(table_name = lists)]
pub struct MailingList {
    pub id: Id,
    #[serde(skip)]
    pub account_id: Id,
    pub name: String,
    pub description: Option<String>,
    /// New members stay `pending` until they confirm by email.
    pub double_opt_in: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Default)]
pub struct ListChanges {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub double_opt_in: Option<bool>,
}

fn clean_name(name: &str) -> Result<String> {
    Ok(crate::text::required("name", name, 200)?)
}

fn clean_description(description: Option<String>) -> Result<Option<String>> {
    match description {
        Some(d) if d.chars().count() > 2000 => Err(Error::invalid(
            "description",
            "must be at most 2000 characters",
        )),
        Some(d) if d.trim().is_empty() => Ok(None),
        other => Ok(other),
    }
}

impl MailingList {
    pub fn create(
        conn: &mut DbConnection,
        account_id: Id,
        name: &str,
        description: Option<String>,
        double_opt_in: bool,
    ) -> Result<Self> {
        let now = clock::now();
        let list = MailingList {
            id: Id::new(),
            account_id,
            name: clean_name(name)?,
            description: clean_description(description)?,
            double_opt_in,
            created_at: now,
            updated_at: now,
        };
        diesel::insert_into(lists::table)
            .values(&list)
            .execute(conn)?;
        Ok(list)
    }

    pub fn find(conn: &mut DbConnection, account_id: Id, id: Id) -> Result<Self> {
        lists::table
            .find(id)
            .filter(lists::account_id.eq(account_id))
            .select(MailingList::as_select())
            .first(conn)
            .optional()?
            .ok_or(Error::NotFound("list"))
    }

    pub fn list(conn: &mut DbConnection, account_id: Id, page: &PageRequest) -> Result<Page<Self>> {
        let mut query = lists::table
            .filter(lists::account_id.eq(account_id))
            .select(MailingList::as_select())
            .order(lists::id.asc())
            .limit(page.fetch_limit())
            .into_boxed();
        if let Some(after) = page.after {
            query = query.filter(lists::id.gt(after));
        }
        Ok(Page::from_rows(query.load(conn)?, page, |l| l.id))
    }

    pub fn update(
        conn: &mut DbConnection,
        account_id: Id,
        id: Id,
        changes: ListChanges,
    ) -> Result<Self> {
        conn.write_transaction(|conn| {
            let mut list = MailingList::find(conn, account_id, id)?;
            if let Some(name) = changes.name {
                list.name = clean_name(&name)?;
            }
            if let Some(description) = changes.description {
                list.description = clean_description(description)?;
            }
            if let Some(doi) = changes.double_opt_in {
                list.double_opt_in = doi;
            }
            list.updated_at = clock::now();
            diesel::update(lists::table.find(list.id))
                .set((
                    lists::name.eq(&list.name),
                    lists::description.eq(&list.description),
                    lists::double_opt_in.eq(list.double_opt_in),
                    lists::updated_at.eq(list.updated_at),
                ))
                .execute(conn)?;
            Ok(list)
        })
    }

    /// Deletes a list and its memberships; the contacts stay.
    pub fn delete(conn: &mut DbConnection, account_id: Id, id: Id) -> Result<()> {
        let n = diesel::delete(
            lists::table
                .filter(lists::id.eq(id))
                .filter(lists::account_id.eq(account_id)),
        )
        .execute(conn)?;
        if n == 0 {
            Err(Error::NotFound("list"))
        } else {
            Ok(())
        }
    }
}
