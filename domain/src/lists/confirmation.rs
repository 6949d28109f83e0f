//! Double opt-in confirmation: a pending member who follows the signed link in the
//! confirmation email becomes subscribed, and the consent ledger records how and when.

use diesel::prelude::*;
use serde_json::{Map, Value};

use super::member::{MemberStatus, MembershipRow};
use crate::clock;
use crate::consent::{ConsentRecord, ConsentStatus, NewConsent};
use crate::error::Result;
use crate::schema::{list_members, lists};
use crate::store::DbConnection;
use crate::store::sql_types::Id;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmOutcome {
    /// The member was pending and is now subscribed.
    Confirmed { list_name: String },
    /// Already subscribed: nothing changes.
    AlreadySubscribed { list_name: String },
    /// The member unsubscribed since; an old confirmation link does not undo that.
    Unsubscribed { list_name: String },
    /// The list or the membership no longer exists.
    Gone,
}

/// Evidence of the confirming request.
#[derive(Debug, Clone, Default)]
pub struct ConfirmationEvidence {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

pub fn confirm_membership(
    conn: &mut DbConnection,
    list_id: Id,
    contact_id: Id,
    evidence: ConfirmationEvidence,
) -> Result<ConfirmOutcome> {
    conn.write_transaction(|conn| {
        let list: Option<(Id, String)> = lists::table
            .find(list_id)
            .select((lists::account_id, lists::name))
            .first(conn)
            .optional()?;
        let Some((account_id, list_name)) = list else {
            return Ok(ConfirmOutcome::Gone);
        };
        let membership: Option<MembershipRow> = list_members::table
            .find((list_id, contact_id))
            .select(MembershipRow::as_select())
            .first(conn)
            .optional()?;
        let Some(membership) = membership else {
            return Ok(ConfirmOutcome::Gone);
        };
        match MemberStatus::parse(&membership.status) {
            Some(MemberStatus::Subscribed) => {
                return Ok(ConfirmOutcome::AlreadySubscribed { list_name });
            }
            Some(MemberStatus::Unsubscribed) | None => {
                return Ok(ConfirmOutcome::Unsubscribed { list_name });
            }
            Some(MemberStatus::Pending) => {}
        }
        let now = clock::now();
        diesel::update(list_members::table.find((list_id, contact_id)))
            .set((
                list_members::status.eq(MemberStatus::Subscribed.as_str()),
                list_members::subscribed_at.eq(Some(now)),
                list_members::updated_at.eq(now),
            ))
            .execute(conn)?;
        let mut details = Map::new();
        details.insert("list_id".into(), Value::String(list_id.to_string()));
        details.insert("list_name".into(), Value::String(list_name.clone()));
        ConsentRecord::append(
            conn,
            account_id,
            contact_id,
            NewConsent {
                list_id: None,
                purpose: "marketing_email".into(),
                status: ConsentStatus::Granted,
                method: "double_opt_in".into(),
                source: "double opt-in confirmation link".into(),
                ip: evidence.ip,
                user_agent: evidence
                    .user_agent
                    .map(|ua| ua.chars().take(1000).collect()),
                policy_version: None,
                evidence: Some(details),
            },
        )?;
        Ok(ConfirmOutcome::Confirmed { list_name })
    })
}
