//! The automatic protection of the installation's sending reputation: an account whose
//! hard-bounce or complaint rate over its last messages crosses a threshold is suspended,
//! with the rates as its reason, before it burns the reputation every other account
//! shares. Reviewed whenever a hard bounce or a complaint is recorded (see
//! `crate::outcomes`), whichever way it came (the relay's answer, a DSN, an ARF report).

use diesel::dsl::count_star;
use diesel::prelude::*;

use super::account::Account;
use super::operator_alert::OperatorAlert;
use super::suspension::{AUTOMATIC_SUSPENSION_ACTION, SuspendedBy};
use crate::audit::{self, Actor, ActorKind, AuditRecord};
use crate::error::Result;
use crate::messages::MessageStatus;
use crate::schema::{messages, suppressions};
use crate::store::DbConnection;
use crate::store::sql_types::{Id, Timestamp};
use crate::suppressions::SuppressionReason;

/// The thresholds (see the settings table in docs/operations.md).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProtectionSettings {
    /// `MAILROOM_PROTECTION_MESSAGES`: how many of the account's last messages are
    /// reviewed.
    pub window: u32,
    /// `MAILROOM_PROTECTION_MIN_MESSAGES`: the fewest messages a rate is judged on (0
    /// turns the protection off).
    pub min_sample: u32,
    /// `MAILROOM_PROTECTION_COMPLAINT_PERCENT`: complaints per message sent above which
    /// the account is suspended.
    pub complaint_percent: f64,
    /// `MAILROOM_PROTECTION_HARD_BOUNCE_PERCENT`: hard bounces per message sent above which
    /// the account is suspended.
    pub hard_bounce_percent: f64,
}

impl Default for ProtectionSettings {
    /// The range the large mailbox providers publish: complaints above 0.3 %, hard bounces
    /// above 5 %, judged over the last 1,000 messages once there are 100.
    fn default() -> Self {
        ProtectionSettings {
            window: 1000,
            min_sample: 100,
            complaint_percent: 0.3,
            hard_bounce_percent: 5.0,
        }
    }
}

/// What the review found over the account's last messages.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    pub messages: u32,
    pub hard_bounces: u32,
    pub complaints: u32,
}

impl Rates {
    /// Why the account must stop, if a rate is over its threshold.
    pub fn verdict(&self, settings: &ProtectionSettings) -> Option<String> {
        if settings.min_sample == 0 || self.messages < settings.min_sample.max(1) {
            return None;
        }
        let percent = |n: u32| 100.0 * f64::from(n) / f64::from(self.messages);
        let (complaints, bounces) = (percent(self.complaints), percent(self.hard_bounces));
        if complaints > settings.complaint_percent {
            return Some(format!(
                "automatic protection: spam complaints on {complaints:.2} % of the last {} messages ({} complaints; the limit is {} %)",
                self.messages, self.complaints, settings.complaint_percent
            ));
        }
        if bounces > settings.hard_bounce_percent {
            return Some(format!(
                "automatic protection: hard bounces on {bounces:.2} % of the last {} messages ({} hard bounces; the limit is {} %)",
                self.messages, self.hard_bounces, settings.hard_bounce_percent
            ));
        }
        None
    }
}

/// The account's rates over its last `window` messages that reached an outcome.
pub fn rates(conn: &mut DbConnection, account_id: Id, window: u32) -> Result<Rates> {
    let outcomes = [
        MessageStatus::Sent,
        MessageStatus::Bounced,
        MessageStatus::Failed,
    ]
    .map(MessageStatus::as_str);
    let recent: Vec<(String, Timestamp)> = messages::table
        .filter(messages::account_id.eq(account_id))
        .filter(messages::status.eq_any(outcomes))
        .order(messages::id.desc())
        .limit(i64::from(window.max(1)))
        .select((messages::status, messages::created_at))
        .load(conn)?;
    let Some(since) = recent.iter().map(|(_, at)| *at).min_by_key(|at| at.0) else {
        return Ok(Rates {
            messages: 0,
            hard_bounces: 0,
            complaints: 0,
        });
    };
    let hard_bounces = recent
        .iter()
        .filter(|(status, _)| status == MessageStatus::Bounced.as_str())
        .count() as u32;
    // A complaint suppresses its address at once (its event is recorded later).
    let complaints: i64 = suppressions::table
        .filter(suppressions::account_id.eq(account_id))
        .filter(suppressions::reason.eq(SuppressionReason::Complaint.as_str()))
        .filter(suppressions::created_at.ge(since))
        .select(count_star())
        .first(conn)?;
    Ok(Rates {
        messages: recent.len() as u32,
        hard_bounces,
        complaints: complaints.max(0) as u32,
    })
}

/// Reviews the account after a hard bounce or a complaint; suspends it (inside the
/// caller's transaction) when a rate is over its threshold, and answers the reason then.
pub fn review(
    conn: &mut DbConnection,
    settings: &ProtectionSettings,
    account_id: Id,
) -> Result<Option<String>> {
    if settings.min_sample == 0 || Account::find(conn, account_id)?.is_suspended() {
        return Ok(None);
    }
    let rates = rates(conn, account_id, settings.window)?;
    let Some(reason) = rates.verdict(settings) else {
        return Ok(None);
    };
    let (_, suspended) = Account::suspend(conn, account_id, &reason, SuspendedBy::Automatic)?;
    if !suspended {
        return Ok(None);
    }
    let actor = Actor {
        kind: ActorKind::System,
        id: None,
        ip: None,
    };
    let record = AuditRecord::new(AUTOMATIC_SUSPENSION_ACTION, "account", Some(account_id))
        .with_details(serde_json::json!({
            "reason": reason,
            "messages": rates.messages,
            "hard_bounces": rates.hard_bounces,
            "complaints": rates.complaints,
        }));
    audit::record(conn, account_id, &actor, record)?;
    OperatorAlert::raise(conn, account_id, &reason)?;
    tracing::warn!(account_id = %account_id, %reason, "account suspended automatically");
    Ok(Some(reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rates(messages: u32, hard_bounces: u32, complaints: u32) -> Rates {
        Rates {
            messages,
            hard_bounces,
            complaints,
        }
    }

    #[test]
    fn the_default_thresholds_are_the_mailbox_providers() {
        let s = ProtectionSettings::default();
        assert_eq!(
            rates(1000, 50, 3).verdict(&s),
            None,
            "exactly at the limits"
        );
        let bounces = rates(1000, 51, 0).verdict(&s).unwrap();
        assert!(bounces.contains("hard bounces on 5.10 %"), "{bounces}");
        let complaints = rates(1000, 0, 4).verdict(&s).unwrap();
        assert!(complaints.contains("complaints on 0.40 %"), "{complaints}");
    }

    #[test]
    fn too_few_messages_judge_nothing_and_zero_turns_it_off() {
        let s = ProtectionSettings::default();
        assert_eq!(rates(99, 99, 99).verdict(&s), None);
        let off = ProtectionSettings { min_sample: 0, ..s };
        assert_eq!(rates(1000, 1000, 1000).verdict(&off), None);
    }
}
