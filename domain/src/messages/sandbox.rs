//! The sandbox mailbox: with no `SMTP_URL`, delivered mail is kept here so a newcomer sees
//! exactly what would have been sent.

use diesel::prelude::*;

use super::MessageKind;
use crate::accounts::{Scope, ScopeSet};
use crate::clock;
use crate::error::Result;
use crate::pagination::{Page, PageRequest};
use crate::schema::{messages, sandbox_messages};
use crate::store::DbConnection;
use crate::store::sql_types::{Id, Json, Timestamp};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, serde::Serialize, utoipa::ToSchema)]
#[diesel(table_name = sandbox_messages)]
pub struct SandboxMessage {
    pub id: Id,
    #[serde(skip)]
    pub account_id: Id,
    /// The Mailroom message this is (also in its `X-Mailroom-Message-Id` header).
    pub message_id: Id,
    #[serde(rename = "to")]
    pub to_email: String,
    pub subject: String,
    /// The top-level headers, in order.
    #[schema(value_type = Vec<MessageHeader>)]
    #[serde(serialize_with = "headers_as_objects")]
    pub headers: Json,
    pub html: Option<String>,
    #[serde(rename = "text")]
    pub text_body: Option<String>,
    /// The whole message as a delivering server would store it, from `Return-Path:` on.
    pub raw: String,
    pub created_at: Timestamp,
}

/// One header of a message: its name and its (unfolded) value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct MessageHeader {
    pub name: String,
    pub value: String,
}

impl MessageHeader {
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Vec<MessageHeader> {
        pairs
            .into_iter()
            .map(|(name, value)| MessageHeader { name, value })
            .collect()
    }
}

/// The mailbox keeps headers as `[name, value]` pairs; the API shows them as objects.
fn headers_as_objects<S: serde::Serializer>(headers: &Json, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let pairs = headers.0.as_array().map(Vec::as_slice).unwrap_or_default();
    let mut seq = s.serialize_seq(Some(pairs.len()))?;
    for pair in pairs {
        let text = |i: usize| pair.get(i).and_then(|v| v.as_str()).unwrap_or_default();
        seq.serialize_element(&MessageHeader {
            name: text(0).to_owned(),
            value: text(1).to_owned(),
        })?;
    }
    seq.end()
}

impl SandboxMessage {
    #[allow(clippy::too_many_arguments)]
    pub fn store(
        conn: &mut DbConnection,
        account_id: Id,
        message_id: Id,
        to: &str,
        subject: &str,
        headers: &[(String, String)],
        html: Option<&str>,
        text: Option<&str>,
        raw: String,
    ) -> Result<()> {
        let row = SandboxMessage {
            id: Id::new(),
            account_id,
            message_id,
            to_email: to.to_owned(),
            subject: subject.to_owned(),
            headers: Json(serde_json::json!(
                headers.iter().map(|(k, v)| [k, v]).collect::<Vec<_>>()
            )),
            html: html.map(str::to_owned),
            text_body: text.map(str::to_owned),
            raw,
            created_at: clock::now(),
        };
        diesel::insert_into(sandbox_messages::table)
            .values(&row)
            .execute(conn)?;
        Ok(())
    }

    /// The account's captured mail of the given kinds, oldest first.
    pub fn list(
        conn: &mut DbConnection,
        account_id: Id,
        kinds: &[MessageKind],
        page: &PageRequest,
    ) -> Result<Page<SandboxMessage>> {
        let mut query = sandbox_messages::table
            .filter(sandbox_messages::account_id.eq(account_id))
            .select(SandboxMessage::as_select())
            .order(sandbox_messages::id.asc())
            .limit(page.fetch_limit())
            .into_boxed();
        if kinds.len() < MessageKind::ALL.len() {
            let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
            query = query.filter(
                sandbox_messages::message_id.eq_any(
                    messages::table
                        .filter(messages::account_id.eq(account_id))
                        .filter(messages::kind.eq_any(names))
                        .select(messages::id),
                ),
            );
        }
        if let Some(after) = page.after {
            query = query.filter(sandbox_messages::id.gt(after));
        }
        Ok(Page::from_rows(query.load(conn)?, page, |m| m.id))
    }
}

/// The kinds of captured mail a token may read: a message shows its recipient's address
/// and personalised content, so it is shown to whoever may read that recipient
/// (`contacts:read`), or else only to the scope whose work produced it — campaign and test
/// mail to `campaigns:read`, transactional mail to `send`. Opt-in confirmations carry a
/// live confirmation link: `contacts:read` only.
pub fn visible_kinds(scopes: &ScopeSet) -> Vec<MessageKind> {
    MessageKind::ALL
        .into_iter()
        .filter(|kind| {
            scopes.allows(Scope::ContactsRead)
                || match kind {
                    MessageKind::Campaign | MessageKind::Test => {
                        scopes.allows(Scope::CampaignsRead)
                    }
                    MessageKind::Transactional => scopes.allows(Scope::Send),
                    MessageKind::Confirmation => false,
                }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captured_mail_is_shown_to_the_scope_that_made_it_or_to_contact_readers() {
        let only = |scopes: Vec<Scope>| visible_kinds(&ScopeSet::new(scopes));
        assert_eq!(
            only(vec![Scope::CampaignsRead]),
            [MessageKind::Campaign, MessageKind::Test]
        );
        assert_eq!(only(vec![Scope::Send]), [MessageKind::Transactional]);
        assert_eq!(only(vec![Scope::ContactsRead]), MessageKind::ALL);
        assert_eq!(only(vec![Scope::All]), MessageKind::ALL);
        assert!(only(vec![Scope::EventsRead, Scope::ListsRead]).is_empty());
    }
}
