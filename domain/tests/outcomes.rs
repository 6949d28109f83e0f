//! What a delivery outcome does to a message, its address and its campaign
//! (`outcomes::record`), on a temporary SQLite file and on a fresh PostgreSQL database:
//! states move forward only, a delivered message forgets an earlier attempt's answer,
//! soft bounces suppress once they repeat, and blocked answers pause a campaign while
//! suppressing nobody.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use diesel::prelude::*;
use mailroom_domain::accounts::Account;
use mailroom_domain::accounts::protection::ProtectionSettings;
use mailroom_domain::campaigns::{Campaign, CampaignStatus};
use mailroom_domain::config::BounceValveSettings;
use mailroom_domain::contacts::EmailAddress;
use mailroom_domain::events::{EventType, NewEvent};
use mailroom_domain::messages::{Message, MessageKind, MessageStatus, NewMessage};
use mailroom_domain::outcomes::{AnswerClass, Next, Outcome, OutcomePolicy, RelayAnswer, record};
use mailroom_domain::schema::campaigns;
use mailroom_domain::store::DbConnection;
use mailroom_domain::suppressions::{HashKey, Suppression, SuppressionReason};
use mailroom_domain::{Id, Timestamp};
use secrecy::SecretString;

use support::{TestDb, campaign};

fn policy() -> OutcomePolicy {
    OutcomePolicy {
        hash_key: HashKey::new(&SecretString::from("test-hash-key")),
        max_attempts: 2,
        pause_after_failures: 2,
        soft_bounce_limit: 2,
        soft_bounce_days: 30,
        bounce_valve: BounceValveSettings {
            recipients: 0,
            percent: 50,
            minutes: 15,
        },
        // Off here: these tests are about messages, not about the account's standing.
        protection: ProtectionSettings {
            min_sample: 0,
            ..ProtectionSettings::default()
        },
    }
}

fn message(conn: &mut DbConnection, account: Id, campaign: Option<Id>, to: &str) -> Message {
    let kind = match campaign {
        Some(_) => MessageKind::Campaign,
        None => MessageKind::Transactional,
    };
    Message::create_with_status(
        conn,
        account,
        kind,
        NewMessage {
            campaign_id: campaign,
            to_email: to.into(),
            ..NewMessage::default()
        },
        MessageStatus::Sending,
    )
    .unwrap()
}

/// Records `outcome` for the message as it is now; answers what recording decided and
/// the types of the events raised.
fn apply(conn: &mut DbConnection, id: Id, outcome: Outcome<'_>) -> (Next, Vec<EventType>) {
    let message = Message::find(conn, id).unwrap();
    let mut events: Vec<NewEvent> = Vec::new();
    let recorded = record(conn, &policy(), &message, &outcome, &mut events).unwrap();
    (
        recorded.next,
        events.into_iter().map(|e| e.event_type).collect(),
    )
}

fn delivery(answer: RelayAnswer<'_>, attempt: i32) -> Outcome<'_> {
    Outcome::Delivery {
        answer,
        attempt,
        relay_failing: false,
    }
}

fn suppressed(conn: &mut DbConnection, account: Id, to: &str) -> Option<SuppressionReason> {
    let email = EmailAddress::parse(to).unwrap();
    Suppression::is_suppressed(conn, account, &policy().hash_key, &email).unwrap()
}

fn a_report_that_overtakes_the_relays_reply_is_the_only_outcome(db: &TestDb) {
    let conn = &mut db.open();
    let account = Account::create_with_key(conn, "Shop").unwrap().0.id;
    let m = message(conn, account, None, "gone@example.com");
    let report = Outcome::ReportedFailure {
        class: AnswerClass::HardBounce,
        diagnostic: "smtp; 550 5.1.1 user unknown",
    };
    // The report proves the relay took the message: its acceptance comes first.
    let (_, raised) = apply(conn, m.id, report);
    assert_eq!(raised, [EventType::Sent, EventType::Bounce]);
    // The relay's 250, arriving late, changes nothing.
    let (next, raised) = apply(conn, m.id, delivery(RelayAnswer::Accepted, 1));
    assert_eq!((next, raised), (Next::Done, vec![]));
    let m = Message::find(conn, m.id).unwrap();
    assert_eq!(m.status(), MessageStatus::Bounced);
    assert!(m.sent_at.is_some());
    assert_eq!(m.outcome_class(), Some(AnswerClass::HardBounce));
    assert_eq!(
        suppressed(conn, account, "gone@example.com"),
        Some(SuppressionReason::HardBounce)
    );
    // The same report again: nothing moves, nothing is raised.
    assert_eq!(apply(conn, m.id, report).1, vec![]);
}

fn a_delivered_message_forgets_an_earlier_attempts_soft_bounce(db: &TestDb) {
    let conn = &mut db.open();
    let account = Account::create_with_key(conn, "Shop").unwrap().0.id;
    let full = RelayAnswer::Refused {
        code: 452,
        text: "4.2.2 mailbox full",
    };
    let first = message(conn, account, None, "busy@example.com");
    let (next, raised) = apply(conn, first.id, delivery(full, 1));
    assert_eq!((next, raised), (Next::Retry, vec![EventType::Deferred]));
    assert_eq!(
        Message::find(conn, first.id).unwrap().outcome_class(),
        Some(AnswerClass::SoftBounce)
    );
    apply(conn, first.id, delivery(RelayAnswer::Accepted, 2));
    let first = Message::find(conn, first.id).unwrap();
    assert_eq!(
        (first.status(), first.outcome_class()),
        (MessageStatus::Sent, None)
    );
    // So one real soft bounce later, the address is not suppressed yet (limit 2)…
    let second = message(conn, account, None, "busy@example.com");
    let (_, raised) = apply(conn, second.id, delivery(full, 2));
    assert_eq!(raised, [EventType::Bounce]);
    assert_eq!(suppressed(conn, account, "busy@example.com"), None);
    // …and after the second it is.
    let third = message(conn, account, None, "busy@example.com");
    apply(conn, third.id, delivery(full, 2));
    assert_eq!(
        suppressed(conn, account, "busy@example.com"),
        Some(SuppressionReason::SoftBounce)
    );
}

fn blocked_answers_pause_the_campaign_and_suppress_nobody(db: &TestDb) {
    let conn = &mut db.open();
    let account = Account::create_with_key(conn, "Shop").unwrap().0.id;
    let news = campaign(conn, account);
    Campaign::send(conn, account, news).unwrap();
    let policy_block = RelayAnswer::Refused {
        code: 550,
        text: "5.7.1 <a@example.com>: Recipient address rejected: blocked by policy",
    };
    for to in ["a@example.com", "b@example.com"] {
        let m = message(conn, account, Some(news), to);
        let (next, raised) = apply(conn, m.id, delivery(policy_block, 1));
        assert_eq!((next, raised), (Next::Done, vec![EventType::Blocked]));
        assert_eq!(
            Message::find(conn, m.id).unwrap().status(),
            MessageStatus::Failed
        );
        assert_eq!(suppressed(conn, account, to), None);
    }
    let paused = Campaign::find_any(conn, news).unwrap();
    assert_eq!(paused.status(), CampaignStatus::Paused);
    let reason = paused.paused_reason.unwrap();
    assert!(
        reason.contains("2 consecutive") && reason.contains("550 5.7.1 <a***@example.com>"),
        "{reason}"
    );
}

/// A campaign of `recipients` addresses, dispatched, started `minutes_ago`, whose messages
/// all hard-bounce one after the other under the default valve (half of the first 200
/// within 15 minutes): answers how many addresses were suppressed and whether the
/// campaign paused.
fn bounce_a_whole_list(
    db: &TestDb,
    recipients: usize,
    minutes_ago: i64,
) -> (usize, CampaignStatus) {
    let conn = &mut db.open();
    let account = Account::create_with_key(conn, "Shop").unwrap().0.id;
    let news = campaign(conn, account);
    Campaign::send(conn, account, news).unwrap();
    Campaign::mark_dispatched(conn, news, recipients as i32).unwrap();
    let started = chrono::Utc::now() - chrono::Duration::minutes(minutes_ago);
    diesel::update(campaigns::table.find(news))
        .set(campaigns::started_at.eq(Some(Timestamp::from(started))))
        .execute(conn)
        .unwrap();
    let valve = OutcomePolicy {
        bounce_valve: BounceValveSettings {
            recipients: 200,
            percent: 50,
            minutes: 15,
        },
        ..policy()
    };
    let unknown = RelayAnswer::Refused {
        code: 550,
        text: "5.1.1 <x@example.com>: Recipient address rejected: User unknown",
    };
    let mut suppressed_now = 0;
    for i in 0..recipients {
        let to = format!("reader{i}@example.com");
        let m = message(conn, account, Some(news), &to);
        let m = Message::find(conn, m.id).unwrap();
        let mut events: Vec<NewEvent> = Vec::new();
        record(conn, &valve, &m, &delivery(unknown, 1), &mut events).unwrap();
        if suppressed(conn, account, &to).is_some() {
            suppressed_now += 1;
        }
    }
    let status = Campaign::find_any(conn, news).unwrap().status();
    (suppressed_now, status)
}

fn a_list_bouncing_at_once_pauses_its_campaign_within_the_valves_minutes(db: &TestDb) {
    // Half of the first 200: the 100th bounce trips the valve, the rest stay mailable.
    assert_eq!(
        bounce_a_whole_list(db, 300, 0),
        (99, CampaignStatus::Paused)
    );
    // After the valve's 15 minutes, bounces are the list's own.
    assert_eq!(
        bounce_a_whole_list(db, 300, 16),
        (300, CampaignStatus::Sending)
    );
}

fn a_small_list_bouncing_at_once_pauses_its_campaign_too(db: &TestDb) {
    // Half of its 40 recipients is the valve's share: the 20th bounce trips it.
    assert_eq!(bounce_a_whole_list(db, 40, 0), (19, CampaignStatus::Paused));
    // A handful of bad addresses in a tiny campaign is no sign of a broken relay.
    assert_eq!(bounce_a_whole_list(db, 4, 0), (4, CampaignStatus::Sending));
}

on_both_backends!(
    a_report_that_overtakes_the_relays_reply_is_the_only_outcome,
    a_delivered_message_forgets_an_earlier_attempts_soft_bounce,
    blocked_answers_pause_the_campaign_and_suppress_nobody,
    a_list_bouncing_at_once_pauses_its_campaign_within_the_valves_minutes,
    a_small_list_bouncing_at_once_pauses_its_campaign_too,
);
