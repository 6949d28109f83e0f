//! Messages: one email to one recipient, with its delivery state.
//!
//! Campaign messages are unique per (campaign, contact), so a dispatch that runs twice
//! never creates a second message, and a delivery job that runs twice finds its message
//! already `sent` and sends nothing.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::clock;
use crate::error::{Error, Result};
use crate::schema::messages;
use crate::store::DbConnection;
use crate::store::sql_types::{Id, Json, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    Campaign,
    Test,
    Transactional,
    Confirmation,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Campaign => "campaign",
            MessageKind::Test => "test",
            MessageKind::Transactional => "transactional",
            MessageKind::Confirmation => "confirmation",
        }
    }

    /// Marketing mail must carry an unsubscribe link (promise 1); other mail must not
    /// invite the recipient to leave a list they may not be on.
    pub fn needs_unsubscribe_link(self) -> bool {
        matches!(self, MessageKind::Campaign | MessageKind::Test)
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            MessageKind::Campaign,
            MessageKind::Test,
            MessageKind::Transactional,
            MessageKind::Confirmation,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Waiting for its delivery job.
    Queued,
    /// Handed to the relay; an SMTP transaction may be under way.
    Sending,
    /// The relay answered 4xx or could not be reached; a retry is scheduled.
    Deferred,
    Sent,
    /// The relay refused it permanently (5xx); the address is suppressed.
    Bounced,
    /// Temporary failures outlasted every retry.
    Failed,
    /// Not sent on purpose: suppressed, unsubscribed or cancelled after it was queued.
    Skipped,
}

impl MessageStatus {
    pub const ALL: [MessageStatus; 7] = [
        MessageStatus::Queued,
        MessageStatus::Sending,
        MessageStatus::Deferred,
        MessageStatus::Sent,
        MessageStatus::Bounced,
        MessageStatus::Failed,
        MessageStatus::Skipped,
    ];
    /// States a message leaves only through delivery.
    pub const OPEN: [&'static str; 3] = ["queued", "sending", "deferred"];
    /// `OPEN` as the SQL predicate of `messages_campaign_open_idx` (with `kind`): written
    /// out literally, not bound, so that both backends' planners can use that index.
    const OPEN_CAMPAIGN_SQL: &'static str =
        "messages.kind = 'campaign' AND messages.status IN ('queued', 'sending', 'deferred')";

    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Queued => "queued",
            MessageStatus::Sending => "sending",
            MessageStatus::Deferred => "deferred",
            MessageStatus::Sent => "sent",
            MessageStatus::Bounced => "bounced",
            MessageStatus::Failed => "failed",
            MessageStatus::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn is_final(self) -> bool {
        matches!(
            self,
            MessageStatus::Sent
                | MessageStatus::Bounced
                | MessageStatus::Failed
                | MessageStatus::Skipped
        )
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = messages)]
pub struct Message {
    pub id: Id,
    pub account_id: Id,
    pub campaign_id: Option<Id>,
    pub contact_id: Option<Id>,
    pub list_id: Option<Id>,
    pub kind: String,
    pub to_email: String,
    pub to_name: Option<String>,
    pub subject: Option<String>,
    /// Content of test and transactional messages (see `MessagePayload`).
    pub payload: Option<Json>,
    pub custom_id: Option<String>,
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub sent_at: Option<Timestamp>,
    /// The sender asked for tracking (the account and the contact must allow it too).
    pub tracking: bool,
    /// The mail went out with a pixel and tracked links.
    pub tracked: bool,
    pub opened_at: Option<Timestamp>,
    pub clicked_at: Option<Timestamp>,
}

/// What a new message is about.
#[derive(Debug, Clone, Default)]
pub struct NewMessage {
    pub campaign_id: Option<Id>,
    pub contact_id: Option<Id>,
    pub list_id: Option<Id>,
    pub to_email: String,
    pub to_name: Option<String>,
    pub subject: Option<String>,
    pub payload: Option<serde_json::Value>,
    pub custom_id: Option<String>,
    /// Track opens and clicks, where the account and the contact allow it.
    pub tracking: bool,
}

impl Message {
    pub fn kind(&self) -> MessageKind {
        MessageKind::parse(&self.kind).unwrap_or(MessageKind::Transactional)
    }

    pub fn status(&self) -> MessageStatus {
        MessageStatus::parse(&self.status).unwrap_or(MessageStatus::Failed)
    }

    pub fn create(
        conn: &mut DbConnection,
        account_id: Id,
        kind: MessageKind,
        new: NewMessage,
    ) -> Result<Message> {
        Self::create_with_status(conn, account_id, kind, new, MessageStatus::Queued)
    }

    pub fn create_with_status(
        conn: &mut DbConnection,
        account_id: Id,
        kind: MessageKind,
        new: NewMessage,
        status: MessageStatus,
    ) -> Result<Message> {
        let now = clock::now();
        let message = Message {
            id: Id::new(),
            account_id,
            campaign_id: new.campaign_id,
            contact_id: new.contact_id,
            list_id: new.list_id,
            kind: kind.as_str().to_owned(),
            to_email: new.to_email,
            to_name: new.to_name,
            subject: new.subject,
            payload: new.payload.map(Json),
            custom_id: new.custom_id,
            status: status.as_str().to_owned(),
            attempts: 0,
            last_error: None,
            created_at: now,
            updated_at: now,
            sent_at: (status == MessageStatus::Sent).then_some(now),
            tracking: new.tracking,
            tracked: false,
            opened_at: None,
            clicked_at: None,
        };
        diesel::insert_into(messages::table)
            .values(&message)
            .execute(conn)?;
        Ok(message)
    }

    pub fn find(conn: &mut DbConnection, id: Id) -> Result<Message> {
        messages::table
            .find(id)
            .select(Message::as_select())
            .first(conn)
            .optional()?
            .ok_or(Error::NotFound("message"))
    }

    pub fn find_in_account(conn: &mut DbConnection, account_id: Id, id: Id) -> Result<Message> {
        let message = Self::find(conn, id)?;
        if message.account_id != account_id {
            return Err(Error::NotFound("message"));
        }
        Ok(message)
    }

    /// Marks the start of a delivery attempt (committed before the SMTP transaction).
    pub fn mark_sending(
        conn: &mut DbConnection,
        id: Id,
        subject: &str,
        tracked: bool,
    ) -> Result<()> {
        diesel::update(messages::table.find(id))
            .set((
                messages::status.eq(MessageStatus::Sending.as_str()),
                messages::subject.eq(Some(subject)),
                messages::tracked.eq(tracked),
                messages::attempts.eq(messages::attempts + 1),
                messages::updated_at.eq(clock::now()),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Records an outcome; `Sent` also sets `sent_at`.
    pub fn mark(
        conn: &mut DbConnection,
        id: Id,
        status: MessageStatus,
        error: Option<&str>,
    ) -> Result<()> {
        let now = clock::now();
        diesel::update(messages::table.find(id))
            .set((
                messages::status.eq(status.as_str()),
                messages::last_error.eq(error.map(|e| e.chars().take(2000).collect::<String>())),
                messages::updated_at.eq(now),
                messages::sent_at.eq((status == MessageStatus::Sent).then_some(now)),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// A message the relay accepted that the recipient's server bounced later (an
    /// asynchronous DSN): `sent` becomes `bounced`, keeping its `sent_at`. A message in any
    /// other state is left as it is; answers whether this one changed.
    pub fn mark_bounced_after_delivery(
        conn: &mut DbConnection,
        id: Id,
        reason: &str,
    ) -> Result<bool> {
        let changed = diesel::update(
            messages::table
                .find(id)
                .filter(messages::status.eq(MessageStatus::Sent.as_str())),
        )
        .set((
            messages::status.eq(MessageStatus::Bounced.as_str()),
            messages::last_error.eq(Some(reason.chars().take(2000).collect::<String>())),
            messages::updated_at.eq(clock::now()),
        ))
        .execute(conn)?;
        Ok(changed > 0)
    }

    /// Message counts of a campaign by status.
    pub fn campaign_counts(conn: &mut DbConnection, campaign_id: Id) -> Result<Vec<(String, i64)>> {
        Ok(messages::table
            .filter(messages::campaign_id.eq(campaign_id))
            .filter(messages::kind.eq(MessageKind::Campaign.as_str()))
            .group_by(messages::status)
            .select((messages::status, diesel::dsl::count_star()))
            .load(conn)?)
    }

    /// Whether any message of the campaign is still open (cheap: stops at the first, and
    /// reads `messages_campaign_open_idx`, which holds only open campaign messages).
    pub fn any_open_in_campaign(conn: &mut DbConnection, campaign_id: Id) -> Result<bool> {
        Ok(messages::table
            .filter(messages::campaign_id.eq(campaign_id))
            .filter(open_campaign_message())
            .select(messages::id)
            .first::<Id>(conn)
            .optional()?
            .is_some())
    }

    /// How many messages of the campaign are still open.
    pub fn open_in_campaign(conn: &mut DbConnection, campaign_id: Id) -> Result<i64> {
        Ok(messages::table
            .filter(messages::campaign_id.eq(campaign_id))
            .filter(open_campaign_message())
            .count()
            .get_result(conn)?)
    }

    /// Which of these contacts already have a message in the campaign.
    pub fn existing_recipients(
        conn: &mut DbConnection,
        campaign_id: Id,
        contact_ids: &[Id],
    ) -> Result<Vec<Id>> {
        Ok(messages::table
            .filter(messages::campaign_id.eq(campaign_id))
            .filter(messages::kind.eq(MessageKind::Campaign.as_str()))
            .filter(
                messages::contact_id
                    .eq_any(contact_ids.iter().map(|id| Some(*id)).collect::<Vec<_>>()),
            )
            .select(messages::contact_id)
            .load::<Option<Id>>(conn)?
            .into_iter()
            .flatten()
            .collect())
    }

    /// Skips every open message of a cancelled campaign.
    pub fn skip_open_in_campaign(
        conn: &mut DbConnection,
        campaign_id: Id,
        reason: &str,
    ) -> Result<usize> {
        Ok(diesel::update(
            messages::table
                .filter(messages::campaign_id.eq(campaign_id))
                .filter(messages::status.eq_any(["queued", "deferred"])),
        )
        .set((
            messages::status.eq(MessageStatus::Skipped.as_str()),
            messages::last_error.eq(Some(reason)),
            messages::updated_at.eq(clock::now()),
        ))
        .execute(conn)?)
    }
}

/// A campaign message that is not final yet, as `messages_campaign_open_idx` is defined.
fn open_campaign_message() -> diesel::expression::SqlLiteral<diesel::sql_types::Bool> {
    diesel::dsl::sql::<diesel::sql_types::Bool>(MessageStatus::OPEN_CAMPAIGN_SQL)
}
