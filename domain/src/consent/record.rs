//! Consent records: appending them, reading a contact's history, and the state per purpose
//! that the latest account-wide record sets.

use std::collections::{BTreeMap, HashMap, HashSet};

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::rules::check_identifier;
use crate::clock;
use crate::contacts::Contact;
use crate::error::{Error, Result};
use crate::lists::MailingList;
use crate::pagination::{Page, PageRequest};
use crate::schema::consents;
use crate::store::DbConnection;
use crate::store::sql_types::{Id, Json, Timestamp};

/// How many contacts one batch query asks about (keeps bind parameters well under limits).
const BATCH: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentStatus {
    Granted,
    Withdrawn,
}

impl ConsentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentStatus::Granted => "granted",
            ConsentStatus::Withdrawn => "withdrawn",
        }
    }

    /// Anything but `granted` reads as withdrawn: an unreadable record never grants.
    fn from_stored(s: &str) -> Self {
        if s == "granted" {
            ConsentStatus::Granted
        } else {
            ConsentStatus::Withdrawn
        }
    }
}

/// A record to append. [`ConsentRecord::append`] validates it (see
/// [`NewConsent::validated`]); `purpose` and `method` are snake_case identifiers, the
/// well-known ones in [`super::purposes`] and [`super::methods`].
#[derive(Debug, Clone)]
pub struct NewConsent {
    /// The list whose subscription this documents; `None` for account-wide consent,
    /// the only kind that changes the contact's state.
    pub list_id: Option<Id>,
    pub purpose: String,
    pub status: ConsentStatus,
    pub method: String,
    /// Where it happened: a form's URL, an import's file name, an integration's name.
    pub source: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub policy_version: Option<String>,
    pub evidence: Option<Map<String, Value>>,
}

/// One entry of the ledger; never changed once written.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = consents)]
pub struct ConsentRecord {
    pub id: Id,
    pub account_id: Id,
    pub contact_id: Id,
    pub list_id: Option<Id>,
    pub purpose: String,
    pub status: String,
    pub method: String,
    pub source: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub policy_version: Option<String>,
    pub evidence: Option<Json>,
    pub created_at: Timestamp,
}

/// Where a contact stands on one purpose, and since when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ConsentState {
    pub status: ConsentStatus,
    /// When the record that set this state was written.
    pub updated_at: Timestamp,
}

impl ConsentRecord {
    pub fn status(&self) -> ConsentStatus {
        ConsentStatus::from_stored(&self.status)
    }

    /// Appends a record about a contact of the account. The contact, and the list if one
    /// is named, must belong to the account (else `NotFound`).
    pub fn append(
        conn: &mut DbConnection,
        account_id: Id,
        contact_id: Id,
        new: NewConsent,
    ) -> Result<ConsentRecord> {
        let new = new.validated()?;
        Contact::find(conn, account_id, contact_id)?;
        if let Some(list_id) = new.list_id {
            MailingList::find(conn, account_id, list_id)?;
        }
        let record = ConsentRecord {
            id: Id::new(),
            account_id,
            contact_id,
            list_id: new.list_id,
            purpose: new.purpose,
            status: new.status.as_str().to_owned(),
            method: new.method,
            source: Some(new.source),
            ip: new.ip,
            user_agent: new.user_agent,
            policy_version: new.policy_version,
            evidence: new.evidence.map(|e| Json(Value::Object(e))),
            created_at: clock::now(),
        };
        diesel::insert_into(consents::table)
            .values(&record)
            .execute(conn)
            .map_err(|e| match e {
                // The contact was deleted between the check and the insert.
                diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::ForeignKeyViolation,
                    _,
                ) => Error::NotFound("contact"),
                other => other.into(),
            })?;
        Ok(record)
    }

    /// A contact's records, newest first, optionally of one purpose.
    ///
    /// Keyset pagination in descending order: the cursor is the last (oldest) id of a
    /// page, and the next page holds the records with smaller ids.
    pub fn history(
        conn: &mut DbConnection,
        account_id: Id,
        contact_id: Id,
        purpose: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<ConsentRecord>> {
        if let Some(purpose) = purpose {
            check_identifier("purpose", purpose).map_err(|e| Error::Invalid(vec![e]))?;
        }
        Contact::find(conn, account_id, contact_id)?;
        let mut query = consents::table
            .filter(consents::account_id.eq(account_id))
            .filter(consents::contact_id.eq(contact_id))
            .select(ConsentRecord::as_select())
            .order(consents::id.desc())
            .limit(page.fetch_limit())
            .into_boxed();
        if let Some(purpose) = purpose {
            query = query.filter(consents::purpose.eq(purpose.to_owned()));
        }
        if let Some(before) = page.after {
            query = query.filter(consents::id.lt(before));
        }
        Ok(Page::from_rows(query.load(conn)?, page, |r| r.id))
    }

    /// The contact's state per purpose, from the latest account-wide record of each.
    pub fn current_states(
        conn: &mut DbConnection,
        account_id: Id,
        contact_id: Id,
    ) -> Result<BTreeMap<String, ConsentState>> {
        Ok(Self::current_states_of(conn, account_id, &[contact_id])?
            .remove(&contact_id)
            .unwrap_or_default())
    }

    /// [`Self::current_states`] for many contacts at once (a page of contacts); contacts
    /// without account-wide records are absent from the map.
    pub fn current_states_of(
        conn: &mut DbConnection,
        account_id: Id,
        contact_ids: &[Id],
    ) -> Result<HashMap<Id, BTreeMap<String, ConsentState>>> {
        let mut states: HashMap<Id, BTreeMap<String, ConsentState>> = HashMap::new();
        for batch in contact_ids.chunks(BATCH) {
            let rows: Vec<(Id, String, String, Timestamp)> = consents::table
                .filter(consents::account_id.eq(account_id))
                .filter(consents::contact_id.eq_any(batch))
                .filter(consents::list_id.is_null())
                .select((
                    consents::contact_id,
                    consents::purpose,
                    consents::status,
                    consents::created_at,
                ))
                .order(consents::id.asc())
                .load(conn)?;
            // Oldest first, so each purpose ends up with its latest record.
            for (contact_id, purpose, status, created_at) in rows {
                states.entry(contact_id).or_default().insert(
                    purpose,
                    ConsentState {
                        status: ConsentStatus::from_stored(&status),
                        updated_at: created_at,
                    },
                );
            }
        }
        Ok(states)
    }

    /// Of `contact_ids`, those whose latest account-wide record for `purpose` grants it:
    /// the filter a campaign's audience passes through, one batch at a time.
    pub fn granted_contacts(
        conn: &mut DbConnection,
        account_id: Id,
        contact_ids: &[Id],
        purpose: &str,
    ) -> Result<HashSet<Id>> {
        let mut latest: HashMap<Id, ConsentStatus> = HashMap::new();
        for batch in contact_ids.chunks(BATCH) {
            let rows: Vec<(Id, String)> = consents::table
                .filter(consents::account_id.eq(account_id))
                .filter(consents::contact_id.eq_any(batch))
                .filter(consents::purpose.eq(purpose))
                .filter(consents::list_id.is_null())
                .select((consents::contact_id, consents::status))
                .order(consents::id.asc())
                .load(conn)?;
            for (contact_id, status) in rows {
                latest.insert(contact_id, ConsentStatus::from_stored(&status));
            }
        }
        Ok(latest
            .into_iter()
            .filter(|(_, status)| *status == ConsentStatus::Granted)
            .map(|(id, _)| id)
            .collect())
    }
}
