//! The sandbox mailbox: with no `SMTP_URL`, delivered mail is kept here so a newcomer sees
//! exactly what would have been sent.

use diesel::prelude::*;

use crate::clock;
use crate::error::Result;
use crate::pagination::{Page, PageRequest};
use crate::schema::sandbox_messages;
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

    pub fn list(
        conn: &mut DbConnection,
        account_id: Id,
        page: &PageRequest,
    ) -> Result<Page<SandboxMessage>> {
        let mut query = sandbox_messages::table
            .filter(sandbox_messages::account_id.eq(account_id))
            .select(SandboxMessage::as_select())
            .order(sandbox_messages::id.asc())
            .limit(page.fetch_limit())
            .into_boxed();
        if let Some(after) = page.after {
            query = query.filter(sandbox_messages::id.gt(after));
        }
        Ok(Page::from_rows(query.load(conn)?, page, |m| m.id))
    }
}
