//! Contacts: one person (one address) within one account.

use crate::store::sql_types::{Id, Json, Timestamp};
use diesel::prelude::*;
use serde_json::{Map, Value};

use super::definitions::{PropertyDefinition, check_properties};
use super::email::EmailAddress;
use super::sensitive;
use crate::clock;
use crate::error::{Error, Result};
use crate::pagination::{Page, PageRequest};
use crate::schema::{contacts, list_members};
use crate::store::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = contacts)]
pub struct Contact {
    pub id: Id,
    pub account_id: Id,
    pub email: String,
    pub name: Option<String>,
    pub properties: Json,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Set while the person has processing restricted: kept, but never mailed or tracked.
    pub restricted_at: Option<Timestamp>,
}

/// A contact to create, its fields already parsed.
#[derive(Debug, Clone)]
pub struct NewContact {
    pub email: EmailAddress,
    pub name: Option<String>,
    pub properties: Map<String, Value>,
}

impl NewContact {
    /// The name and properties as they are stored: the name cleaned, properties without
    /// nulls, each one defined and of its type. Also what makes a request that names an
    /// existing contact by its address valid, though that contact is kept as it is.
    pub fn checked_fields(
        &self,
        conn: &mut DbConnection,
        account_id: Id,
    ) -> Result<(Option<String>, Map<String, Value>)> {
        let name = clean_name(self.name.clone())?;
        let properties = without_nulls(self.properties.clone());
        if !properties.is_empty() {
            check_properties(&PropertyDefinition::schema(conn, account_id)?, &properties)?;
        }
        Ok((name, properties))
    }
}

/// Changes to a contact. `None` leaves a field alone; `Some(None)` clears the name;
/// a property set to `null` is removed (JSON merge-patch semantics).
#[derive(Debug, Clone, Default)]
pub struct ContactChanges {
    pub email: Option<EmailAddress>,
    pub name: Option<Option<String>>,
    pub properties: Option<Map<String, Value>>,
}

/// Filters of the contact listing.
#[derive(Debug, Clone, Default)]
pub struct ContactFilter {
    pub email: Option<EmailAddress>,
    pub list_id: Option<Id>,
}

pub fn clean_name(name: Option<String>) -> Result<Option<String>> {
    let Some(name) = name else { return Ok(None) };
    if name.chars().count() > 200 {
        return Err(Error::invalid("name", "must be at most 200 characters"));
    }
    // A name ends up in headers (`To: Name <…>`): one line, no control characters.
    if name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "name",
            "must be one line without control characters",
        ));
    }
    let name = name.trim();
    if let Some(kind) = sensitive::detect(name) {
        return Err(Error::SensitiveData {
            field: "name".into(),
            kind,
        });
    }
    Ok((!name.is_empty()).then(|| name.to_owned()))
}

impl Contact {
    pub fn create(conn: &mut DbConnection, account_id: Id, new: NewContact) -> Result<Contact> {
        let (name, properties) = new.checked_fields(conn, account_id)?;
        let now = clock::now();
        let contact = Contact {
            id: Id::new(),
            account_id,
            email: new.email.into_inner(),
            name,
            properties: Json(Value::Object(properties)),
            created_at: now,
            updated_at: now,
            restricted_at: None,
        };
        diesel::insert_into(contacts::table)
            .values(&contact)
            .execute(conn)
            .map_err(|e| duplicate_email(e.into()))?;
        Ok(contact)
    }

    pub fn find(conn: &mut DbConnection, account_id: Id, id: Id) -> Result<Contact> {
        contacts::table
            .find(id)
            .filter(contacts::account_id.eq(account_id))
            .select(Contact::as_select())
            .first(conn)
            .optional()?
            .ok_or(Error::NotFound("contact"))
    }

    pub fn find_by_email(
        conn: &mut DbConnection,
        account_id: Id,
        email: &EmailAddress,
    ) -> Result<Option<Contact>> {
        Ok(contacts::table
            .filter(contacts::account_id.eq(account_id))
            .filter(contacts::email.eq(email.as_str()))
            .select(Contact::as_select())
            .first(conn)
            .optional()?)
    }

    pub fn list(
        conn: &mut DbConnection,
        account_id: Id,
        filter: &ContactFilter,
        page: &PageRequest,
    ) -> Result<Page<Contact>> {
        let mut query = contacts::table
            .filter(contacts::account_id.eq(account_id))
            .select(Contact::as_select())
            .order(contacts::id.asc())
            .limit(page.fetch_limit())
            .into_boxed();
        if let Some(email) = &filter.email {
            query = query.filter(contacts::email.eq(email.as_str().to_owned()));
        }
        if let Some(list_id) = filter.list_id {
            query = query.filter(
                contacts::id.eq_any(
                    list_members::table
                        .filter(list_members::list_id.eq(list_id))
                        .filter(list_members::account_id.eq(account_id))
                        .select(list_members::contact_id),
                ),
            );
        }
        if let Some(after) = page.after {
            query = query.filter(contacts::id.gt(after));
        }
        Ok(Page::from_rows(query.load(conn)?, page, |c| c.id))
    }

    pub fn update(
        conn: &mut DbConnection,
        account_id: Id,
        id: Id,
        changes: ContactChanges,
    ) -> Result<Contact> {
        conn.write_transaction(|conn| {
            let mut contact = Contact::find(conn, account_id, id)?;
            if let Some(email) = changes.email {
                contact.email = email.into_inner();
            }
            if let Some(name) = changes.name {
                contact.name = clean_name(name)?;
            }
            if let Some(patch) = changes.properties {
                let set: Map<String, Value> = patch
                    .iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                if !set.is_empty() {
                    check_properties(&PropertyDefinition::schema(conn, account_id)?, &set)?;
                }
                let mut merged = match std::mem::take(&mut contact.properties.0) {
                    Value::Object(map) => map,
                    _ => Map::new(),
                };
                for (k, v) in patch {
                    if v.is_null() {
                        merged.remove(&k);
                    } else {
                        merged.insert(k, v);
                    }
                }
                contact.properties = Json(Value::Object(merged));
            }
            contact.updated_at = clock::now();
            diesel::update(contacts::table.find(contact.id))
                .set((
                    contacts::email.eq(&contact.email),
                    contacts::name.eq(&contact.name),
                    contacts::properties.eq(&contact.properties),
                    contacts::updated_at.eq(contact.updated_at),
                ))
                .execute(conn)
                .map_err(|e| duplicate_email(e.into()))?;
            Ok(contact)
        })
    }

    /// Deletes a contact and its list memberships.
    pub fn delete(conn: &mut DbConnection, account_id: Id, id: Id) -> Result<()> {
        let n = diesel::delete(
            contacts::table
                .filter(contacts::id.eq(id))
                .filter(contacts::account_id.eq(account_id)),
        )
        .execute(conn)?;
        if n == 0 {
            Err(Error::NotFound("contact"))
        } else {
            Ok(())
        }
    }

    pub fn properties_map(&self) -> Map<String, Value> {
        match &self.properties.0 {
            Value::Object(map) => map.clone(),
            _ => Map::new(),
        }
    }
}

fn without_nulls(map: Map<String, Value>) -> Map<String, Value> {
    map.into_iter().filter(|(_, v)| !v.is_null()).collect()
}

fn duplicate_email(e: Error) -> Error {
    match e {
        Error::Conflict(_) => {
            Error::Conflict("a contact with this email already exists in the account".into())
        }
        other => other,
    }
}
