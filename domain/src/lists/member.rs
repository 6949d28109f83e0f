//! List membership: which contacts are on which list, and in what state.

use crate::store::sql_types::{Id, Timestamp};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::list::MailingList;
use crate::clock;
use crate::consent::{ConsentRecord, NewConsent, nested_fields};
use crate::contacts::{Contact, EmailAddress, NewContact};
use crate::error::{Error, Result};
use crate::messages::outbox::request_confirmation;
use crate::pagination::{Page, PageRequest};
use crate::schema::{contacts, list_members};
use crate::store::DbConnection;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    /// Receives the list's campaigns.
    Subscribed,
    /// Left the list; never mailed from it again unless they subscribe anew.
    Unsubscribed,
    /// Waiting for double opt-in confirmation.
    Pending,
}

impl MemberStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberStatus::Subscribed => "subscribed",
            MemberStatus::Unsubscribed => "unsubscribed",
            MemberStatus::Pending => "pending",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "subscribed" => Some(MemberStatus::Subscribed),
            "unsubscribed" => Some(MemberStatus::Unsubscribed),
            "pending" => Some(MemberStatus::Pending),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = list_members)]
pub struct MembershipRow {
    pub list_id: Id,
    pub contact_id: Id,
    pub account_id: Id,
    pub status: String,
    pub subscribed_at: Option<Timestamp>,
    pub unsubscribed_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A membership with the contact it is about.
#[derive(Debug, Clone)]
pub struct Member {
    pub membership: MembershipRow,
    pub contact: Contact,
}

impl Member {
    pub fn status(&self) -> MemberStatus {
        MemberStatus::parse(&self.membership.status).unwrap_or(MemberStatus::Unsubscribed)
    }
}

/// Who to add: an existing contact, or an address (the contact is created when needed).
#[derive(Debug, Clone)]
pub enum MemberSubject {
    Contact(Id),
    Email(NewContact),
}

/// The outcome of adding: whether the membership is new.
#[derive(Debug, Clone)]
pub struct AddedMember {
    pub member: Member,
    pub created: bool,
}

impl Member {
    /// Adds a contact to a list. A new member of a double opt-in list is `pending` (and is
    /// sent the confirmation email), else `subscribed`. Adding someone already subscribed
    /// or pending changes nothing; someone who unsubscribed is subscribed again only when
    /// the request carries a granted `consent` (fresh evidence), else stays unsubscribed.
    /// `consent`, when given, is appended to the ledger in the same transaction (its
    /// field errors are named `consent.<field>`).
    pub fn add(
        conn: &mut DbConnection,
        account_id: Id,
        list_id: Id,
        subject: MemberSubject,
        consent: Option<NewConsent>,
    ) -> Result<AddedMember> {
        // Two requests adding the same address race to insert the contact or membership;
        // the loser retries once and finds what the winner wrote.
        match Self::try_add(conn, account_id, list_id, subject.clone(), consent.clone()) {
            Err(Error::Conflict(_)) => Self::try_add(conn, account_id, list_id, subject, consent),
            outcome => outcome,
        }
    }

    fn try_add(
        conn: &mut DbConnection,
        account_id: Id,
        list_id: Id,
        subject: MemberSubject,
        consent: Option<NewConsent>,
    ) -> Result<AddedMember> {
        conn.write_transaction(|conn| {
            let list = MailingList::find(conn, account_id, list_id)?;
            let contact = match subject {
                MemberSubject::Contact(id) => Contact::find(conn, account_id, id)?,
                MemberSubject::Email(new) => {
                    match Contact::find_by_email(conn, account_id, &new.email)? {
                        // The contact stays as it is, but the request is checked all
                        // the same: whether it is valid does not depend on what is stored.
                        Some(existing) => {
                            new.checked_fields(conn, account_id)?;
                            existing
                        }
                        None => Contact::create(conn, account_id, new)?,
                    }
                }
            };
            let now = clock::now();
            let fresh_status = if list.double_opt_in {
                MemberStatus::Pending
            } else {
                MemberStatus::Subscribed
            };
            let existing = find_row(conn, list_id, contact.id)?;
            let (membership, created) = match existing {
                None => {
                    let row = MembershipRow {
                        list_id,
                        contact_id: contact.id,
                        account_id,
                        status: fresh_status.as_str().to_owned(),
                        subscribed_at: (fresh_status == MemberStatus::Subscribed).then_some(now),
                        unsubscribed_at: None,
                        created_at: now,
                        updated_at: now,
                    };
                    diesel::insert_into(list_members::table)
                        .values(&row)
                        .execute(conn)?;
                    (row, true)
                }
                // Someone who unsubscribed comes back only with fresh consent in the same
                // request: a CRM sync re-adding everyone must not undo an unsubscribe.
                Some(mut row)
                    if MemberStatus::parse(&row.status) == Some(MemberStatus::Unsubscribed)
                        && consent.as_ref().is_some_and(|c| {
                            c.status == crate::consent::ConsentStatus::Granted
                        }) =>
                {
                    row.status = fresh_status.as_str().to_owned();
                    row.subscribed_at = (fresh_status == MemberStatus::Subscribed)
                        .then_some(now)
                        .or(row.subscribed_at);
                    row.updated_at = now;
                    diesel::update(list_members::table.find((list_id, contact.id)))
                        .set((
                            list_members::status.eq(&row.status),
                            list_members::subscribed_at.eq(row.subscribed_at),
                            list_members::updated_at.eq(now),
                        ))
                        .execute(conn)?;
                    (row, false)
                }
                Some(row) => (row, false),
            };
            if let Some(consent) = consent {
                ConsentRecord::append(conn, account_id, contact.id, consent)
                    .map_err(|e| nested_fields("consent", e))?;
            }
            // Became pending just now (new, or back from unsubscribed): the double opt-in
            // email goes out with the membership, in the same transaction.
            let became_pending =
                membership.status == MemberStatus::Pending.as_str() && membership.updated_at == now;
            if became_pending {
                request_confirmation(
                    conn,
                    account_id,
                    list_id,
                    contact.id,
                    &contact.email,
                    contact.name.clone(),
                )?;
            }
            Ok(AddedMember {
                member: Member {
                    membership,
                    contact,
                },
                created,
            })
        })
    }

    pub fn find(
        conn: &mut DbConnection,
        account_id: Id,
        list_id: Id,
        contact_id: Id,
    ) -> Result<Member> {
        MailingList::find(conn, account_id, list_id)?;
        let (membership, contact) = list_members::table
            .inner_join(contacts::table)
            .filter(list_members::list_id.eq(list_id))
            .filter(list_members::contact_id.eq(contact_id))
            .filter(list_members::account_id.eq(account_id))
            .select((MembershipRow::as_select(), Contact::as_select()))
            .first(conn)
            .optional()?
            .ok_or(Error::NotFound("list member"))?;
        Ok(Member {
            membership,
            contact,
        })
    }

    pub fn list(
        conn: &mut DbConnection,
        account_id: Id,
        list_id: Id,
        status: Option<MemberStatus>,
        page: &PageRequest,
    ) -> Result<Page<Member>> {
        MailingList::find(conn, account_id, list_id)?;
        let rows = Self::batch(
            conn,
            account_id,
            list_id,
            status,
            page.after,
            page.fetch_limit(),
        )?;
        Ok(Page::from_rows(rows, page, |m| m.contact.id))
    }

    /// Up to `limit` members after `after` (by contact id): the unit of paging and export.
    pub fn batch(
        conn: &mut DbConnection,
        account_id: Id,
        list_id: Id,
        status: Option<MemberStatus>,
        after: Option<Id>,
        limit: i64,
    ) -> Result<Vec<Member>> {
        let mut query = list_members::table
            .inner_join(contacts::table)
            .filter(list_members::list_id.eq(list_id))
            .filter(list_members::account_id.eq(account_id))
            .select((MembershipRow::as_select(), Contact::as_select()))
            .order(list_members::contact_id.asc())
            .limit(limit)
            .into_boxed();
        if let Some(status) = status {
            query = query.filter(list_members::status.eq(status.as_str()));
        }
        if let Some(after) = after {
            // Both sides of the join: PostgreSQL does not carry the bound across it, and
            // without it every batch reads `contacts` from the start (quadratic exports).
            query = query
                .filter(list_members::contact_id.gt(after))
                .filter(contacts::id.gt(after));
        }
        Ok(query
            .load::<(MembershipRow, Contact)>(conn)?
            .into_iter()
            .map(|(membership, contact)| Member {
                membership,
                contact,
            })
            .collect())
    }

    pub fn remove(
        conn: &mut DbConnection,
        account_id: Id,
        list_id: Id,
        contact_id: Id,
    ) -> Result<()> {
        MailingList::find(conn, account_id, list_id)?;
        let n = diesel::delete(
            list_members::table
                .filter(list_members::list_id.eq(list_id))
                .filter(list_members::contact_id.eq(contact_id))
                .filter(list_members::account_id.eq(account_id)),
        )
        .execute(conn)?;
        if n == 0 {
            Err(Error::NotFound("list member"))
        } else {
            Ok(())
        }
    }
}

fn find_row(conn: &mut DbConnection, list_id: Id, contact_id: Id) -> Result<Option<MembershipRow>> {
    Ok(list_members::table
        .find((list_id, contact_id))
        .select(MembershipRow::as_select())
        .first(conn)
        .optional()?)
}

/// Parses an address for a member added by email.
pub fn parse_member_email(raw: &str) -> Result<EmailAddress> {
    EmailAddress::parse(raw).map_err(|e| Error::invalid("email", e.to_string()))
}
