//! The person a request is about, as the account's data knows them: the address, its keyed
//! hash, the contact (if there is one), and where else they appear.

use diesel::prelude::*;

use crate::contacts::{Contact, EmailAddress};
use crate::error::{Error, Result};
use crate::events::Event;
use crate::schema::{events, messages};
use crate::store::DbConnection;
use crate::store::sql_types::Id;
use crate::suppressions::{HashKey, email_hash};

use super::request::DataSubjectRequest;

#[derive(Debug, Clone)]
pub struct Subject {
    pub email: EmailAddress,
    /// [`email_hash`] of the address: what is kept of an erased person.
    pub hash: String,
    pub contact: Option<Contact>,
}

impl Subject {
    /// The subject of a request; `None` once the request's address was erased.
    pub fn of(
        conn: &mut DbConnection,
        key: &HashKey,
        request: &DataSubjectRequest,
    ) -> Result<Option<Subject>> {
        let Some(address) = request.subject_email.as_deref() else {
            return Ok(None);
        };
        let email = EmailAddress::parse(address)
            .map_err(|_| Error::Internal("a request's stored address does not parse".into()))?;
        Ok(Some(Self::find(conn, request.account_id, key, email)?))
    }

    pub fn find(
        conn: &mut DbConnection,
        account_id: Id,
        key: &HashKey,
        email: EmailAddress,
    ) -> Result<Subject> {
        let contact = Contact::find_by_email(conn, account_id, &email)?;
        Ok(Subject {
            hash: email_hash(key, &email),
            email,
            contact,
        })
    }

    pub fn contact_id(&self) -> Option<Id> {
        self.contact.as_ref().map(|c| c.id)
    }

    /// Every message of the account to the person: addressed to the contact or the address.
    pub fn message_ids(&self, conn: &mut DbConnection, account_id: Id) -> Result<Vec<Id>> {
        let mut query = messages::table
            .filter(messages::account_id.eq(account_id))
            .select(messages::id)
            .order(messages::id.asc())
            .into_boxed();
        query = match self.contact_id() {
            Some(contact) => query.filter(
                messages::contact_id
                    .eq(contact)
                    .or(messages::to_email.eq(self.email.as_str())),
            ),
            None => query.filter(messages::to_email.eq(self.email.as_str())),
        };
        Ok(query.load(conn)?)
    }

    /// Every event of the account about the person: theirs by contact, by address, or by
    /// one of their messages.
    pub fn events(
        &self,
        conn: &mut DbConnection,
        account_id: Id,
        message_ids: &[Id],
    ) -> Result<Vec<Event>> {
        let mut found: Vec<Event> = Vec::new();
        let mut direct = events::table
            .filter(events::account_id.eq(account_id))
            .select(Event::as_select())
            .into_boxed();
        direct = match self.contact_id() {
            Some(contact) => direct.filter(
                events::contact_id
                    .eq(contact)
                    .or(events::email.eq(self.email.as_str())),
            ),
            None => direct.filter(events::email.eq(self.email.as_str())),
        };
        found.extend(direct.load(conn)?);
        for batch in message_ids.chunks(500) {
            found.extend(
                events::table
                    .filter(events::account_id.eq(account_id))
                    .filter(events::message_id.eq_any(batch.to_vec()))
                    .select(Event::as_select())
                    .load(conn)?,
            );
        }
        found.sort_by_key(|e| e.id);
        found.dedup_by_key(|e| e.id);
        Ok(found)
    }
}
