//! Rectification, restriction and objection: the rights that change a contact rather than
//! export or erase it.

use diesel::prelude::*;
use serde_json::{Map, Value, json};

use super::subject::Subject;
use crate::consent::{ConsentRecord, ConsentStatus, NewConsent, purposes};
use crate::contacts::{Contact, ContactChanges, EmailAddress};
use crate::error::{Error, Result};
use crate::schema::contacts;
use crate::store::DbConnection;
use crate::store::sql_types::{Id, Timestamp};
use crate::suppressions::{HashKey, Suppression, SuppressionReason};

/// The consent method of records a data-subject request wrote.
pub const METHOD: &str = "data_subject_request";

/// Applies a rectification's `changes` (`email`, `name`, `properties` as merge-patch) to
/// the contact, under the same rules as any update (the sensitive-data guard included).
pub fn rectify(
    conn: &mut DbConnection,
    subject: &Subject,
    changes: &Map<String, Value>,
) -> Result<Value> {
    let Some(contact) = &subject.contact else {
        return Ok(json!({"contact_found": false, "changed": []}));
    };
    let mut update = ContactChanges::default();
    let mut changed = Vec::new();
    if let Some(email) = changes.get("email").and_then(Value::as_str) {
        update.email = Some(
            EmailAddress::parse(email)
                .map_err(|_| Error::invalid("changes.email", "is not a valid address"))?,
        );
        changed.push("email".to_owned());
    }
    if let Some(name) = changes.get("name") {
        update.name = Some(name.as_str().map(str::to_owned));
        changed.push("name".to_owned());
    }
    if let Some(Value::Object(properties)) = changes.get("properties") {
        changed.extend(properties.keys().map(|k| format!("properties.{k}")));
        update.properties = Some(properties.clone());
    }
    Contact::update(conn, contact.account_id, contact.id, update)?;
    Ok(json!({"contact_found": true, "applied": true, "changed": changed}))
}

/// Restricts processing: the contact is kept but neither mailed nor tracked until lifted.
pub fn restrict(conn: &mut DbConnection, subject: &Subject, now: Timestamp) -> Result<Value> {
    let Some(contact) = &subject.contact else {
        return Ok(json!({"contact_found": false}));
    };
    diesel::update(
        contacts::table
            .find(contact.id)
            .filter(contacts::account_id.eq(contact.account_id))
            .filter(contacts::restricted_at.is_null()),
    )
    .set(contacts::restricted_at.eq(Some(now)))
    .execute(conn)?;
    Ok(json!({"contact_found": true, "restricted": true}))
}

/// Lifts a restriction; `false` when the contact was not restricted.
pub fn lift_restriction(conn: &mut DbConnection, account_id: Id, contact_id: Id) -> Result<bool> {
    let contact = Contact::find(conn, account_id, contact_id)?;
    if contact.restricted_at.is_none() {
        return Ok(false);
    }
    diesel::update(
        contacts::table
            .find(contact.id)
            .filter(contacts::account_id.eq(account_id)),
    )
    .set(contacts::restricted_at.eq(None::<Timestamp>))
    .execute(conn)?;
    Ok(true)
}

/// Objection to direct marketing: marketing and tracking consent are withdrawn (in the
/// ledger, with the request as evidence) and the address is suppressed account-wide.
pub fn object(
    conn: &mut DbConnection,
    account_id: Id,
    key: &HashKey,
    subject: &Subject,
    request_id: Id,
) -> Result<Value> {
    let mut withdrawn = Vec::new();
    if let Some(contact) = &subject.contact {
        for purpose in [purposes::MARKETING_EMAIL, purposes::TRACKING] {
            ConsentRecord::append(
                conn,
                account_id,
                contact.id,
                NewConsent {
                    list_id: None,
                    purpose: purpose.to_owned(),
                    status: ConsentStatus::Withdrawn,
                    method: METHOD.to_owned(),
                    source: format!("data-subject request {request_id}"),
                    ip: None,
                    user_agent: None,
                    policy_version: None,
                    evidence: None,
                },
            )?;
            withdrawn.push(purpose);
        }
    }
    let added = Suppression::add(
        conn,
        account_id,
        key,
        &subject.email,
        SuppressionReason::Unsubscribe,
        Some(format!(
            "objection to direct marketing (data-subject request {request_id})"
        )),
    )?;
    Ok(json!({
        "contact_found": subject.contact.is_some(),
        "consents_withdrawn": withdrawn,
        "suppressed": true,
        "already_suppressed": !added.created,
    }))
}
