//! A campaign's audience: the subscribed members of its lists, one per contact, walked in
//! batches by contact id so that a dispatch can stop and resume anywhere.

use diesel::prelude::*;

use crate::error::Result;
use crate::lists::MemberStatus;
use crate::schema::{contacts, list_members};
use crate::store::DbConnection;
use crate::store::sql_types::Id;

/// A subscribed member, with the list the message will be sent on behalf of.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub contact_id: Id,
    pub list_id: Id,
    pub email: String,
    pub name: Option<String>,
}

/// Up to about `limit` distinct contacts after `after`, subscribed to any of `list_ids`.
/// A contact on several lists appears once, for the first of `list_ids` it is on.
pub fn subscribed_batch(
    conn: &mut DbConnection,
    account_id: Id,
    list_ids: &[Id],
    after: Option<Id>,
    limit: i64,
) -> Result<Vec<Candidate>> {
    let mut query = list_members::table
        .inner_join(contacts::table)
        .filter(list_members::account_id.eq(account_id))
        .filter(list_members::list_id.eq_any(list_ids.to_vec()))
        .filter(list_members::status.eq(MemberStatus::Subscribed.as_str()))
        // Restricted processing (a data-subject request): kept, never mailed.
        .filter(contacts::restricted_at.is_null())
        .select((
            list_members::contact_id,
            list_members::list_id,
            contacts::email,
            contacts::name,
        ))
        .order(list_members::contact_id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        // Bound both sides of the join, or PostgreSQL rereads `contacts` from the start
        // for every batch.
        query = query
            .filter(list_members::contact_id.gt(after))
            .filter(contacts::id.gt(after));
    }
    let rows: Vec<(Id, Id, String, Option<String>)> = query.load(conn)?;
    let mut batch: Vec<Candidate> = Vec::with_capacity(rows.len());
    for (contact_id, list_id, email, name) in rows {
        match batch.last_mut() {
            Some(last) if last.contact_id == contact_id => {
                let rank = |id: &Id| list_ids.iter().position(|l| l == id).unwrap_or(usize::MAX);
                if rank(&list_id) < rank(&last.list_id) {
                    last.list_id = list_id;
                }
            }
            _ => batch.push(Candidate {
                contact_id,
                list_id,
                email,
                name,
            }),
        }
    }
    Ok(batch)
}

/// Whether a contact is still a subscribed member of a list (checked again at delivery).
pub fn is_subscribed(conn: &mut DbConnection, list_id: Id, contact_id: Id) -> Result<bool> {
    let status: Option<String> = list_members::table
        .find((list_id, contact_id))
        .select(list_members::status)
        .first(conn)
        .optional()?;
    Ok(status.as_deref() == Some(MemberStatus::Subscribed.as_str()))
}
