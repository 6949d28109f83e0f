//! Messages: one email to one recipient, with its delivery state.
//!
//! Campaign messages are unique per (campaign, contact), so a dispatch that runs twice
//! never creates a second message, and a delivery job that runs twice finds its message
//! already `sent` and sends nothing.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::clock;
use crate::error::{Error, Result};
use crate::outcomes::AnswerClass;
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
    pub const ALL: [MessageKind; 4] = [
        MessageKind::Campaign,
        MessageKind::Test,
        MessageKind::Transactional,
        MessageKind::Confirmation,
    ];

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
    /// A hard bounce: the relay refused the address, or a report said it does not exist.
    Bounced,
    /// Not delivered: a soft bounce, a blocked answer, or temporary failures that
    /// outlasted every retry (`outcome_class` says which).
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
    /// `OPEN`, typed.
    pub const OPEN_STATES: [MessageStatus; 3] = [
        MessageStatus::Queued,
        MessageStatus::Sending,
        MessageStatus::Deferred,
    ];
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
    /// The class of the answer that closed the message, or that it is retried for:
    /// `hard_bounce`, `soft_bounce` or `blocked` (see [`AnswerClass`]).
    pub outcome_class: Option<String>,
}

/// A forward move of a message's state (see [`Message::advance`]).
#[derive(AsChangeset)]
#[diesel(table_name = messages)]
struct Advance {
    status: String,
    updated_at: Timestamp,
    // `None` leaves a column as it is; `Some(None)` clears it.
    last_error: Option<Option<String>>,
    sent_at: Option<Option<Timestamp>>,
    outcome_class: Option<Option<String>>,
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

    /// The class of the answer that closed the message (or that it is retried for).
    pub fn outcome_class(&self) -> Option<AnswerClass> {
        self.outcome_class.as_deref().and_then(AnswerClass::parse)
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
            outcome_class: None,
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
    /// Answers false, and changes nothing, when the message is closed already.
    pub fn mark_sending(
        conn: &mut DbConnection,
        id: Id,
        subject: &str,
        tracked: bool,
    ) -> Result<bool> {
        let changed = diesel::update(
            messages::table
                .find(id)
                .filter(messages::status.eq_any(MessageStatus::OPEN)),
        )
        .set((
            messages::status.eq(MessageStatus::Sending.as_str()),
            messages::subject.eq(Some(subject)),
            messages::tracked.eq(tracked),
            messages::attempts.eq(messages::attempts + 1),
            messages::updated_at.eq(clock::now()),
        ))
        .execute(conn)?;
        Ok(changed > 0)
    }

    /// Moves a message from one of the states `from` to `to`; answers whether it moved.
    /// States only move forward — open, then `sent`, then a report's bounce or failure —
    /// so an outcome that arrives after a later one (a relay's slow `250` after the
    /// bounce report about the same message) changes nothing.
    ///
    /// `Sent` sets `sent_at` and clears the error; a move from `sent` keeps `sent_at`.
    /// `class` is the class of the answer that caused the move, if any.
    pub fn advance(
        conn: &mut DbConnection,
        id: Id,
        from: &[MessageStatus],
        to: MessageStatus,
        error: Option<&str>,
        class: Option<AnswerClass>,
    ) -> Result<bool> {
        let now = clock::now();
        let sent = to == MessageStatus::Sent;
        let change = Advance {
            status: to.as_str().to_owned(),
            updated_at: now,
            last_error: Some(error.map(|e| e.chars().take(2000).collect())),
            sent_at: sent.then_some(Some(now)),
            // Delivered: an earlier attempt's answer no longer describes the message.
            outcome_class: match class {
                Some(class) => Some(Some(class.as_str().to_owned())),
                None if sent => Some(None),
                None => None,
            },
        };
        let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
        let changed = diesel::update(
            messages::table
                .find(id)
                .filter(messages::status.eq_any(from)),
        )
        .set(change)
        .execute(conn)?;
        Ok(changed > 0)
    }

    /// How many of the account's messages to `to_email` failed with a soft bounce since
    /// `since`: the count that suppresses an address whose mailbox keeps refusing mail.
    /// Reads `messages_soft_bounce_idx`, which holds soft-bounced messages only.
    pub fn soft_bounces_since(
        conn: &mut DbConnection,
        account_id: Id,
        to_email: &str,
        since: Timestamp,
    ) -> Result<i64> {
        Ok(messages::table
            .filter(messages::account_id.eq(account_id))
            .filter(messages::to_email.eq(to_email))
            .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(
                "messages.outcome_class = 'soft_bounce'",
            ))
            .filter(messages::status.eq(MessageStatus::Failed.as_str()))
            .filter(messages::updated_at.ge(since))
            .count()
            .get_result(conn)?)
    }

    /// How many of a campaign's messages are in each of `statuses`, together.
    pub fn count_in_campaign(
        conn: &mut DbConnection,
        campaign_id: Id,
        statuses: &[MessageStatus],
    ) -> Result<i64> {
        let statuses: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
        Ok(messages::table
            .filter(messages::campaign_id.eq(campaign_id))
            .filter(messages::status.eq_any(statuses))
            .count()
            .get_result(conn)?)
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
