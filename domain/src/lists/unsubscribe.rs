//! Unsubscribing through the link (or the RFC 8058 one-click POST) of a message: the
//! recipient leaves the list the message was sent for, the consent ledger records a
//! list-scoped withdrawal, the address is suppressed account-wide where the account's
//! `unsubscribe_scope` is `account`, and an `unsub` event is queued — all in one
//! transaction, before the answer. Doing it twice changes nothing more.

use diesel::prelude::*;
use serde_json::{Map, Value};

use super::member::{MemberStatus, MembershipRow};
use crate::accounts::{Account, UnsubscribeScope};
use crate::audit::{self, Actor, ActorKind, AuditRecord};
use crate::clock;
use crate::consent::{ConsentRecord, ConsentStatus, NewConsent};
use crate::contacts::EmailAddress;
use crate::error::{Error, Result};
use crate::events::{self, EventData, EventType, NewEvent};
use crate::messages::Message;
use crate::schema::{list_members, lists};
use crate::store::DbConnection;
use crate::store::sql_types::Id;
use crate::suppressions::{HashKey, Suppression, SuppressionReason};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnsubscribeOutcome {
    Unsubscribed {
        list_name: String,
    },
    AlreadyUnsubscribed {
        list_name: String,
    },
    /// A test or transactional message: there is no list to leave.
    NotListMail,
    /// The message, list or membership no longer exists.
    Gone,
}

/// How the recipient unsubscribed: the page's button, or a mail client's RFC 8058 POST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnsubscribeVia {
    Link,
    OneClick,
}

pub fn unsubscribe_by_message(
    conn: &mut DbConnection,
    hash_key: &HashKey,
    message_id: Id,
    via: UnsubscribeVia,
    ip: Option<String>,
    user_agent: Option<String>,
) -> Result<UnsubscribeOutcome> {
    conn.write_transaction(|conn| {
        let message = match Message::find(conn, message_id) {
            Ok(m) => m,
            Err(Error::NotFound(_)) => return Ok(UnsubscribeOutcome::Gone),
            Err(e) => return Err(e),
        };
        let (Some(list_id), Some(contact_id)) = (message.list_id, message.contact_id) else {
            return Ok(UnsubscribeOutcome::NotListMail);
        };
        let Some(list_name) = lists::table
            .find(list_id)
            .select(lists::name)
            .first::<String>(conn)
            .optional()?
        else {
            return Ok(UnsubscribeOutcome::Gone);
        };
        let Some(membership) = list_members::table
            .find((list_id, contact_id))
            .select(MembershipRow::as_select())
            .first(conn)
            .optional()?
        else {
            return Ok(UnsubscribeOutcome::Gone);
        };
        let account_wide = Account::find(conn, message.account_id)?.unsubscribe_scope()
            == UnsubscribeScope::Account;
        if account_wide && let Ok(email) = EmailAddress::parse(&message.to_email) {
            // Idempotent: an address already suppressed stays as it is.
            Suppression::add(
                conn,
                message.account_id,
                hash_key,
                &email,
                SuppressionReason::Unsubscribe,
                Some("unsubscribed through an email's link".into()),
            )?;
        }
        if MemberStatus::parse(&membership.status) == Some(MemberStatus::Unsubscribed) {
            return Ok(UnsubscribeOutcome::AlreadyUnsubscribed { list_name });
        }
        let now = clock::now();
        diesel::update(list_members::table.find((list_id, contact_id)))
            .set((
                list_members::status.eq(MemberStatus::Unsubscribed.as_str()),
                list_members::unsubscribed_at.eq(Some(now)),
                list_members::updated_at.eq(now),
            ))
            .execute(conn)?;
        let mut evidence = Map::new();
        evidence.insert("message_id".into(), Value::String(message_id.to_string()));
        ConsentRecord::append(
            conn,
            message.account_id,
            contact_id,
            NewConsent {
                list_id: Some(list_id),
                purpose: "marketing_email".into(),
                status: ConsentStatus::Withdrawn,
                method: "unsubscribe_link".into(),
                source: "unsubscribe link in an email".into(),
                ip: ip.clone(),
                user_agent: user_agent.clone().map(|ua| ua.chars().take(1000).collect()),
                policy_version: None,
                evidence: Some(evidence),
            },
        )?;
        let ip_for_audit = ip.clone();
        let data = EventData {
            ip,
            user_agent,
            source: Some(
                match via {
                    UnsubscribeVia::Link => "link",
                    UnsubscribeVia::OneClick => "one_click",
                }
                .into(),
            ),
            ..EventData::default()
        };
        events::enqueue(
            conn,
            vec![NewEvent::new(EventType::Unsub, message_id, data)],
        )?;
        audit::record(
            conn,
            message.account_id,
            &Actor {
                kind: ActorKind::Recipient,
                id: None,
                ip: ip_for_audit,
            },
            AuditRecord::new("member.unsubscribed", "list_member", Some(contact_id))
                .with_details(serde_json::json!({ "list_id": list_id, "message_id": message_id })),
        )?;
        Ok(UnsubscribeOutcome::Unsubscribed { list_name })
    })
}
