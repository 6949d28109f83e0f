//! Contact property definitions: the typed fields an account may store on its contacts.

use std::collections::BTreeMap;

use crate::store::sql_types::{Id, Timestamp};
use diesel::prelude::*;

use super::property_type::{PropertyType, validate_property_name};
use super::sensitive;
use crate::clock;
use crate::error::{Error, FieldError, Result};
use crate::schema::contact_properties;
use crate::store::{Backend, DbConnection};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = contact_properties)]
struct PropertyRow {
    account_id: Id,
    name: String,
    property_type: String,
    created_at: Timestamp,
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct PropertyDefinition {
    pub name: String,
    #[serde(rename = "type")]
    pub property_type: PropertyType,
    pub created_at: Timestamp,
}

impl TryFrom<PropertyRow> for PropertyDefinition {
    type Error = Error;
    fn try_from(row: PropertyRow) -> Result<Self> {
        Ok(PropertyDefinition {
            property_type: row.property_type.parse().map_err(|_| {
                Error::Internal(format!(
                    "stored property type {:?} is unknown",
                    row.property_type
                ))
            })?,
            name: row.name,
            created_at: row.created_at,
        })
    }
}

/// Every definition of an account, by name.
pub type Schema = BTreeMap<String, PropertyType>;

impl PropertyDefinition {
    pub fn create(
        conn: &mut DbConnection,
        account_id: Id,
        name: &str,
        property_type: PropertyType,
    ) -> Result<Self> {
        validate_property_name(name).map_err(|m| Error::invalid("name", m))?;
        let row = PropertyRow {
            account_id,
            name: name.to_owned(),
            property_type: property_type.as_str().to_owned(),
            created_at: clock::now(),
        };
        diesel::insert_into(contact_properties::table)
            .values(&row)
            .execute(conn)
            .map_err(|e| match Error::from(e) {
                Error::Conflict(_) => Error::Conflict(format!("property `{name}` already exists")),
                other => other,
            })?;
        row.try_into()
    }

    pub fn list(conn: &mut DbConnection, account_id: Id) -> Result<Vec<Self>> {
        contact_properties::table
            .filter(contact_properties::account_id.eq(account_id))
            .order(contact_properties::name.asc())
            .select(PropertyRow::as_select())
            .load(conn)?
            .into_iter()
            .map(TryInto::try_into)
            .collect()
    }

    pub fn schema(conn: &mut DbConnection, account_id: Id) -> Result<Schema> {
        Ok(Self::list(conn, account_id)?
            .into_iter()
            .map(|d| (d.name, d.property_type))
            .collect())
    }

    /// Deletes a definition and the values contacts held for it, in one transaction.
    pub fn delete(conn: &mut DbConnection, account_id: Id, name: &str) -> Result<()> {
        conn.write_transaction(|conn| {
            let n = diesel::delete(
                contact_properties::table
                    .filter(contact_properties::account_id.eq(account_id))
                    .filter(contact_properties::name.eq(name)),
            )
            .execute(conn)?;
            if n == 0 {
                return Err(Error::NotFound("contact property"));
            }
            strip_property_values(conn, account_id, name)
        })
    }
}

/// Removes one key from the properties of every contact of an account: `jsonb - key` on
/// PostgreSQL, `json_remove` on SQLite.
fn strip_property_values(conn: &mut DbConnection, account_id: Id, name: &str) -> Result<()> {
    use diesel::sql_types::Text;
    match conn.backend() {
        Backend::Postgres => {
            diesel::sql_query("UPDATE contacts SET properties = properties - $1 WHERE account_id = $2::uuid AND properties ? $1")
                .bind::<Text, _>(name)
                .bind::<Text, _>(account_id.to_string())
                .execute(conn)?;
        }
        Backend::Sqlite => {
            diesel::sql_query(
                "UPDATE contacts SET properties = json_remove(properties, '$.\"' || ?1 || '\"') \
                 WHERE account_id = ?2 AND json_type(properties, '$.\"' || ?1 || '\"') IS NOT NULL",
            )
            .bind::<Text, _>(name)
            .bind::<Text, _>(account_id.to_string())
            .execute(conn)?;
        }
    }
    Ok(())
}

/// Checks property values against the account's definitions and the sensitive-data guard.
/// Every problem is reported at once, each naming its field; values never appear in errors.
pub fn check_properties(
    schema: &Schema,
    properties: &serde_json::Map<String, serde_json::Value>,
) -> Result<()> {
    let mut errors = Vec::new();
    for (name, value) in properties {
        let field = format!("properties.{name}");
        if let Some(kind) = sensitive::detect_json(value) {
            return Err(Error::SensitiveData { field, kind });
        }
        let Some(property_type) = schema.get(name) else {
            errors.push(FieldError::new(
                field,
                "is not a defined contact property (POST /v1/contact-properties first)",
            ));
            continue;
        };
        if let Err(e) = property_type.check(value) {
            errors.push(FieldError::new(field, e.to_string()));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid(errors))
    }
}
