//! Whether a campaign still has open messages — the question that decides when it is done,
//! asked through the partial index `messages_campaign_open_idx` with literal predicates —
//! on a temporary SQLite file and on a fresh PostgreSQL database; and the embedded bus's
//! claim, through `jobs_active_idx`, taking only jobs still to run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use mailroom_domain::Id;
use mailroom_domain::accounts::Account;
use mailroom_domain::jobs::{Enqueue, Job, JobRow};
use mailroom_domain::messages::{Message, MessageKind, MessageStatus, NewMessage};
use mailroom_domain::store::DbConnection;

use support::{TestDb, campaign};

fn message(
    conn: &mut DbConnection,
    account: Id,
    campaign: Id,
    kind: MessageKind,
    status: MessageStatus,
) -> Message {
    Message::create_with_status(
        conn,
        account,
        kind,
        NewMessage {
            campaign_id: Some(campaign),
            to_email: format!("{}@example.com", Id::new()),
            ..NewMessage::default()
        },
        status,
    )
    .unwrap()
}

fn a_campaign_is_open_while_a_message_is_queued_sending_or_deferred(db: &TestDb) {
    let conn = &mut db.open();
    let account = Account::create_with_key(conn, "Shop").unwrap().0.id;
    let (news, other) = (campaign(conn, account), campaign(conn, account));
    assert!(!Message::any_open_in_campaign(conn, news).unwrap());
    for status in [
        MessageStatus::Sent,
        MessageStatus::Bounced,
        MessageStatus::Skipped,
    ] {
        message(conn, account, news, MessageKind::Campaign, status);
    }
    // Only campaign messages count: a test send of the campaign does not keep it open.
    message(
        conn,
        account,
        news,
        MessageKind::Test,
        MessageStatus::Queued,
    );
    // Nor do other campaigns' messages.
    message(
        conn,
        account,
        other,
        MessageKind::Campaign,
        MessageStatus::Queued,
    );
    assert!(!Message::any_open_in_campaign(conn, news).unwrap());
    assert_eq!(Message::open_in_campaign(conn, news).unwrap(), 0);
    let mut open = Vec::new();
    for status in [
        MessageStatus::Queued,
        MessageStatus::Sending,
        MessageStatus::Deferred,
    ] {
        open.push(message(conn, account, news, MessageKind::Campaign, status));
    }
    assert_eq!(Message::open_in_campaign(conn, news).unwrap(), 3);
    for (left, m) in open.iter().enumerate().rev() {
        assert!(Message::any_open_in_campaign(conn, news).unwrap());
        let open = &MessageStatus::OPEN_STATES;
        assert!(Message::advance(conn, m.id, open, MessageStatus::Sent, None, None).unwrap());
        assert_eq!(Message::open_in_campaign(conn, news).unwrap(), left as i64);
    }
    assert!(!Message::any_open_in_campaign(conn, news).unwrap());
    assert!(Message::any_open_in_campaign(conn, other).unwrap());
}

fn the_job_table_hands_out_only_jobs_still_to_run(db: &TestDb) {
    let conn = &mut db.open();
    let done = JobRow::enqueue(
        conn,
        &Job::DispatchCampaign {
            campaign_id: Id::new(),
        },
        Enqueue::default(),
    )
    .unwrap();
    let claimed = JobRow::claim(conn, Duration::from_secs(60))
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, done);
    JobRow::complete(conn, done).unwrap();
    assert!(
        JobRow::claim(conn, Duration::from_secs(60))
            .unwrap()
            .is_none()
    );
    let waiting = JobRow::enqueue(
        conn,
        &Job::DispatchCampaign {
            campaign_id: Id::new(),
        },
        Enqueue::default(),
    )
    .unwrap();
    assert_eq!(
        JobRow::claim(conn, Duration::from_secs(60))
            .unwrap()
            .unwrap()
            .id,
        waiting
    );
}

on_both_backends!(
    a_campaign_is_open_while_a_message_is_queued_sending_or_deferred,
    the_job_table_hands_out_only_jobs_still_to_run,
);
