//! What an answer does to its message, its address and its campaign — decided here once,
//! whether the answer was the relay's reply to a delivery, a DSN or an ARF report.
//!
//! - A message's state only moves forward: open (`queued`, `sending`, `deferred`), then
//!   `sent`, then a report's `bounced` or `failed`. An answer that arrives after a later
//!   one changes nothing: a relay's slow `250` after the DSN about the same message finds
//!   the message closed. A failure report about a message still open proves the relay
//!   took it, so its acceptance is recorded first: the events read `sent`, then the
//!   bounce, in whichever order the two arrived.
//! - A hard bounce suppresses the address (unless the campaign's safety valve holds
//!   suppressions); a soft bounce suppresses it only once it repeats across messages; a
//!   blocked answer suppresses nothing and counts toward pausing the campaign.
//! - Each change raises its event, for the caller to enqueue in the same transaction.

use super::classify::{AnswerClass, NO_ANSWER, classify_reply};
use super::status::EnhancedStatus;
use crate::accounts::protection::{self, ProtectionSettings};
use crate::campaigns::{Campaign, CampaignStatus};
use crate::clock;
use crate::config::{BounceValveSettings, DeliverySettings};
use crate::contacts::EmailAddress;
use crate::contacts::email::mask_emails_in;
use crate::error::Result;
use crate::events::{EventData, EventType, NewEvent, REPORTED_AFTER_DELIVERY};
use crate::messages::{Message, MessageKind, MessageStatus};
use crate::store::DbConnection;
use crate::store::sql_types::Id;
use crate::suppressions::{HashKey, Suppression, SuppressionReason};

/// The settings outcomes are recorded by.
#[derive(Debug, Clone)]
pub struct OutcomePolicy {
    pub hash_key: HashKey,
    /// Delivery attempts of a message before a retried answer closes it.
    pub max_attempts: i32,
    /// Relay failures and blocked answers in a row that pause a campaign.
    pub pause_after_failures: i32,
    /// Soft bounces within `soft_bounce_days` that suppress an address (0: never).
    pub soft_bounce_limit: u32,
    pub soft_bounce_days: u32,
    pub bounce_valve: BounceValveSettings,
    /// When an account's hard bounces and complaints suspend it.
    pub protection: ProtectionSettings,
}

impl OutcomePolicy {
    pub fn new(delivery: &DeliverySettings, hash_key: HashKey) -> Self {
        OutcomePolicy {
            hash_key,
            max_attempts: delivery.max_attempts,
            pause_after_failures: delivery.pause_after_failures,
            soft_bounce_limit: delivery.soft_bounce_limit,
            soft_bounce_days: delivery.soft_bounce_days,
            bounce_valve: delivery.bounce_valve,
            protection: delivery.protection,
        }
    }
}

/// What the relay said to one delivery attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayAnswer<'a> {
    /// It took responsibility for the message (2xx after DATA).
    Accepted,
    /// It refused this recipient or this message: a 4xx or 5xx reply at RCPT TO or DATA.
    Refused { code: u16, text: &'a str },
    /// Nothing about the message: the relay could not be reached, the session failed
    /// (TLS, login, greeting), it refused our sender, or it did not answer in time.
    NoAnswer { reason: &'a str },
}

/// An answer about one message, and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// The relay's answer to a delivery attempt (`attempt` counts from 1). `relay_failing`:
    /// the campaign had relay failures in a row when the message was prepared, so an
    /// answer from a working relay resets the count.
    Delivery {
        answer: RelayAnswer<'a>,
        attempt: i32,
        relay_failing: bool,
    },
    /// A report's failure entry about the message (a DSN's `Action: failed`), classified
    /// by [`classify_report`](super::classify_report).
    ReportedFailure {
        class: AnswerClass,
        diagnostic: &'a str,
    },
    /// A report's delay notice (`Action: delayed`): the remote server is still trying.
    /// `repeated` when an earlier report about the message gave one already.
    ReportedDelay { diagnostic: &'a str, repeated: bool },
    /// A feedback report: the recipient complained.
    Complaint {
        feedback_type: &'a str,
        repeated: bool,
    },
}

/// What becomes of the message's delivery job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// The message is closed (or nothing was left to do).
    Done,
    /// Deliver again after the backoff.
    Retry,
    /// Deliver again once its campaign is resumed.
    Hold,
}

/// What recording did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    pub next: Next,
    /// The message's recipient is suppressed (now, or was already).
    pub suppressed: bool,
    /// An event was raised.
    pub event_recorded: bool,
    /// This outcome made the automatic protection suspend the message's account.
    pub account_suspended: bool,
}

impl Recorded {
    fn done() -> Self {
        Recorded {
            next: Next::Done,
            suppressed: false,
            event_recorded: false,
            account_suspended: false,
        }
    }
}

/// Records an outcome for `message` (as read in the caller's transaction); its events go
/// to `events`, for the caller to enqueue in the same transaction.
pub fn record(
    conn: &mut DbConnection,
    policy: &OutcomePolicy,
    message: &Message,
    outcome: &Outcome<'_>,
    events: &mut Vec<NewEvent>,
) -> Result<Recorded> {
    let raised_before = events.len();
    let mut effects = Effects {
        conn,
        policy,
        message,
        events,
        recorded: Recorded::done(),
    };
    match *outcome {
        Outcome::Delivery {
            answer,
            attempt,
            relay_failing,
        } => effects.delivery(answer, attempt, relay_failing)?,
        Outcome::ReportedFailure { class, diagnostic } => {
            effects.reported_failure(class, diagnostic)?
        }
        Outcome::ReportedDelay {
            diagnostic,
            repeated,
        } => {
            if !repeated {
                effects.raise(EventType::Deferred, diagnostic_data(diagnostic));
            }
        }
        Outcome::Complaint {
            feedback_type,
            repeated,
        } => {
            effects.recorded.suppressed = effects.suppress(
                SuppressionReason::Complaint,
                "complained: a feedback report said the recipient marked a message as spam",
            )?;
            if !repeated {
                let data = EventData {
                    source: Some(feedback_type.to_owned()),
                    ..EventData::default()
                };
                effects.raise(EventType::Spam, data);
            }
        }
    }
    // A hard bounce or a complaint may tip the account over the protection's thresholds.
    let hurt = effects.events[raised_before..].iter().any(|e| {
        e.event_type == EventType::Spam
            || (e.event_type == EventType::Bounce
                && e.data.bounce_class.as_deref() == Some(AnswerClass::HardBounce.short_name()))
    });
    if hurt {
        let account = effects.message.account_id;
        effects.recorded.account_suspended =
            protection::review(effects.conn, &policy.protection, account)?.is_some();
    }
    Ok(effects.recorded)
}

fn diagnostic_data(answer: &str) -> EventData {
    EventData {
        diagnostic: Some(mask_emails_in(answer)),
        ..EventData::default()
    }
}

/// One recording under way.
struct Effects<'a, 'c> {
    conn: &'c mut DbConnection,
    policy: &'a OutcomePolicy,
    message: &'a Message,
    events: &'a mut Vec<NewEvent>,
    recorded: Recorded,
}

impl Effects<'_, '_> {
    fn raise(&mut self, event_type: EventType, data: EventData) {
        self.events
            .push(NewEvent::new(event_type, self.message.id, data));
        self.recorded.event_recorded = true;
    }

    /// The campaign whose counts the message's outcomes move.
    fn campaign(&self) -> Option<Id> {
        self.message
            .campaign_id
            .filter(|_| self.message.kind() == MessageKind::Campaign)
    }

    fn advance(
        &mut self,
        from: &[MessageStatus],
        to: MessageStatus,
        answer: Option<&str>,
        class: Option<AnswerClass>,
    ) -> Result<bool> {
        Message::advance(self.conn, self.message.id, from, to, answer, class)
    }

    fn delivery(
        &mut self,
        answer: RelayAnswer<'_>,
        attempt: i32,
        relay_failing: bool,
    ) -> Result<()> {
        let open = &MessageStatus::OPEN_STATES;
        let (classification, text) = match answer {
            RelayAnswer::Accepted => {
                if self.advance(open, MessageStatus::Sent, None, None)? {
                    self.raise(EventType::Sent, EventData::default());
                    self.relay_works(relay_failing)?;
                }
                return Ok(());
            }
            RelayAnswer::Refused { code, text } => {
                (classify_reply(code, text), format!("{code} {text}"))
            }
            RelayAnswer::NoAnswer { reason } => (NO_ANSWER, reason.to_owned()),
        };
        if classification.class != AnswerClass::Blocked {
            // The relay answered about the recipient: it works.
            self.relay_works(relay_failing)?;
        }
        if classification.retry && attempt < self.policy.max_attempts {
            return self.defer(classification.class, &text);
        }
        self.close(open, classification.class, &text, false)
    }

    fn relay_works(&mut self, relay_failing: bool) -> Result<()> {
        // Only a campaign whose relay was failing has a count to reset (read when the
        // message was prepared): no write to the campaign's row per message.
        match self.campaign().filter(|_| relay_failing) {
            Some(campaign_id) => Campaign::record_relay_success(self.conn, campaign_id),
            None => Ok(()),
        }
    }

    /// A retried answer: the message waits for its next attempt, or for its campaign to be
    /// resumed when the campaign paused.
    fn defer(&mut self, class: AnswerClass, answer: &str) -> Result<()> {
        let open = &MessageStatus::OPEN_STATES;
        if !self.advance(open, MessageStatus::Deferred, Some(answer), Some(class))? {
            return Ok(()); // closed meanwhile by a report
        }
        self.raise(EventType::Deferred, diagnostic_data(answer));
        let paused_now = class == AnswerClass::Blocked && self.count_blocked(answer)?;
        let paused = paused_now
            || match self.campaign() {
                Some(id) => Campaign::find_any(self.conn, id)
                    .is_ok_and(|c| c.status() == CampaignStatus::Paused),
                None => false,
            };
        self.recorded.next = if paused { Next::Hold } else { Next::Retry };
        Ok(())
    }

    /// A blocked answer counts toward pausing the campaign; answers whether it paused now.
    fn count_blocked(&mut self, answer: &str) -> Result<bool> {
        match self.campaign() {
            Some(id) => Campaign::record_relay_failure(
                self.conn,
                id,
                self.policy.pause_after_failures,
                &mask_emails_in(answer),
            ),
            None => Ok(false),
        }
    }

    /// Closes the message for `class` — from one of the states `from` — and does what the
    /// class asks. `after_delivery`: a report about a message the relay had taken.
    fn close(
        &mut self,
        from: &[MessageStatus],
        class: AnswerClass,
        answer: &str,
        after_delivery: bool,
    ) -> Result<()> {
        let mut data = diagnostic_data(answer);
        let (to, event_type) = match class {
            AnswerClass::HardBounce => (MessageStatus::Bounced, EventType::Bounce),
            AnswerClass::SoftBounce => (MessageStatus::Failed, EventType::Bounce),
            AnswerClass::Blocked => (MessageStatus::Failed, EventType::Blocked),
        };
        match class {
            AnswerClass::HardBounce | AnswerClass::SoftBounce => {
                data.bounce_class = Some(class.short_name().to_owned());
            }
            AnswerClass::Blocked => data.source = Some("failed".to_owned()),
        }
        if after_delivery {
            data.source = Some(REPORTED_AFTER_DELIVERY.to_owned());
        }
        if !self.advance(from, to, Some(answer), Some(class))? {
            // Closed already: an earlier answer counted. A hard bounce still suppresses
            // (a report repeated after its suppression was removed by mistake).
            if class == AnswerClass::HardBounce {
                self.recorded.suppressed = self.suppress_hard_bounce(answer)?;
            }
            return Ok(());
        }
        self.raise(event_type, data);
        match class {
            AnswerClass::HardBounce => {
                self.recorded.suppressed = self.suppress_hard_bounce(answer)?;
            }
            AnswerClass::SoftBounce => {
                self.recorded.suppressed = self.suppress_repeated_soft_bounces()?;
            }
            AnswerClass::Blocked => {
                self.count_blocked(answer)?;
            }
        }
        self.recorded.next = Next::Done;
        Ok(())
    }

    /// A report's failure entry about the message.
    fn reported_failure(&mut self, class: AnswerClass, diagnostic: &str) -> Result<()> {
        let status = self.message.status();
        if MessageStatus::OPEN_STATES.contains(&status)
            && self.advance(&MessageStatus::OPEN_STATES, MessageStatus::Sent, None, None)?
        {
            // The relay took the message before the report could be written; the sender's
            // record of it, still to come, will find the message closed.
            self.raise(EventType::Sent, EventData::default());
        }
        self.close(&[MessageStatus::Sent], class, diagnostic, true)
    }

    /// Suppresses a hard-bounced address, unless the campaign's safety valve holds its
    /// suppressions (the valve may trip on this very bounce).
    fn suppress_hard_bounce(&mut self, answer: &str) -> Result<bool> {
        if let Some(campaign_id) = self.campaign() {
            let masked = mask_emails_in(answer);
            let valve = self.policy.bounce_valve;
            if !Campaign::record_hard_bounce(self.conn, campaign_id, &valve, &masked)? {
                return Ok(false);
            }
        }
        let note = match EnhancedStatus::find_in(answer) {
            Some(status) => format!("hard bounce: the address does not exist ({status})"),
            None => "hard bounce: the address does not exist".to_owned(),
        };
        self.suppress(SuppressionReason::HardBounce, &note)
    }

    /// Suppresses an address whose mailbox soft-bounced in `soft_bounce_limit` messages
    /// within `soft_bounce_days` (this one included).
    fn suppress_repeated_soft_bounces(&mut self) -> Result<bool> {
        let (limit, days) = (self.policy.soft_bounce_limit, self.policy.soft_bounce_days);
        if limit == 0 {
            return Ok(false);
        }
        let since = clock::now().0 - chrono::Duration::days(i64::from(days));
        let count = Message::soft_bounces_since(
            self.conn,
            self.message.account_id,
            &self.message.to_email,
            since.into(),
        )?;
        if count < i64::from(limit) {
            return Ok(false);
        }
        self.suppress(
            SuppressionReason::SoftBounce,
            &format!("soft-bounced in {count} messages within {days} days"),
        )
    }

    /// Suppresses the message's recipient; answers whether the address is suppressed now
    /// (a message kept with an address that no longer parses cannot be).
    fn suppress(&mut self, reason: SuppressionReason, note: &str) -> Result<bool> {
        let Ok(email) = EmailAddress::parse(&self.message.to_email) else {
            return Ok(false);
        };
        Suppression::add_from(
            self.conn,
            self.message.account_id,
            &self.policy.hash_key,
            &email,
            reason,
            Some(note.to_owned()),
            self.campaign(),
        )?;
        Ok(true)
    }
}
