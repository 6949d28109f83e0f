//! The retention rules on a temporary SQLite file and on a fresh PostgreSQL database:
//! what a purge as of some time removes from messages and the job table, that it changes
//! nothing the second time, and that an erasure takes an account's jobs but not another's.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use mailroom_domain::accounts::Account;
use mailroom_domain::events::{EventData, EventType, NewEvent};
use mailroom_domain::jobs::{Enqueue, Job, JobRow, status};
use mailroom_domain::messages::{Message, MessageKind, MessageStatus, NewMessage};
use mailroom_domain::retention::{erase_account, purge_account, purge_finished_jobs};
use mailroom_domain::store::DbConnection;
use mailroom_domain::{Error, Id, Timestamp};

use support::TestDb;

fn days_from_now(days: i64) -> Timestamp {
    Timestamp::from(chrono::Utc::now() + chrono::Duration::days(days))
}

fn account(conn: &mut DbConnection, name: &str) -> Id {
    Account::create_with_key(conn, name).unwrap().0.id
}

fn message(conn: &mut DbConnection, account: Id, status: MessageStatus) -> Message {
    Message::create_with_status(
        conn,
        account,
        MessageKind::Transactional,
        NewMessage {
            to_email: "ada@example.com".into(),
            to_name: Some("Ada".into()),
            subject: Some("Your order".into()),
            payload: Some(serde_json::json!({"text": "Shipped."})),
            custom_id: Some("order-1".into()),
            ..NewMessage::default()
        },
        status,
    )
    .unwrap()
}

fn message_content_is_purged_from_finished_messages_past_retention_once(db: &TestDb) {
    let conn = &mut db.open();
    let shop = account(conn, "Shop");
    let sent = message(conn, shop, MessageStatus::Sent);
    let queued = message(conn, shop, MessageStatus::Queued);

    let within = purge_account(conn, shop, days_from_now(89)).unwrap();
    assert_eq!(within.total(), 0, "90 days by default: {within:?}");

    let past = purge_account(conn, shop, days_from_now(91)).unwrap();
    assert_eq!(past.removed, vec![("message_content", 1)]);
    let emptied = Message::find(conn, sent.id).unwrap();
    assert_eq!(emptied.to_email, "");
    assert_eq!(
        (
            emptied.to_name,
            emptied.subject,
            emptied.payload,
            emptied.custom_id
        ),
        (None, None, None, None)
    );
    assert_eq!(
        emptied.status, "sent",
        "the status stays for campaign progress"
    );
    let waiting = Message::find(conn, queued.id).unwrap();
    assert_eq!(
        waiting.to_email, "ada@example.com",
        "a message on its way keeps its content"
    );

    let again = purge_account(conn, shop, days_from_now(91)).unwrap();
    assert_eq!(again.total(), 0, "a second run removes nothing");
}

fn finished_jobs_go_after_their_retention_and_waiting_or_running_ones_stay(db: &TestDb) {
    let conn = &mut db.open();
    let job = || Job::DeliverMessage {
        message_id: Id::new(),
    };
    let done = JobRow::enqueue(conn, &job(), Enqueue::default()).unwrap();
    JobRow::complete(conn, done).unwrap();
    let dead = JobRow::enqueue(conn, &job(), Enqueue::default()).unwrap();
    JobRow::dead(conn, dead, "gave up").unwrap();
    let waiting = JobRow::enqueue(conn, &job(), Enqueue::default()).unwrap();

    assert_eq!(purge_finished_jobs(conn, days_from_now(-1)).unwrap(), 0);
    assert_eq!(purge_finished_jobs(conn, days_from_now(1)).unwrap(), 2);
    assert!(matches!(JobRow::find(conn, done), Err(Error::NotFound(_))));
    assert!(matches!(JobRow::find(conn, dead), Err(Error::NotFound(_))));
    assert_eq!(JobRow::find(conn, waiting).unwrap().status, status::PENDING);
}

fn erasing_an_account_takes_its_jobs_and_leaves_other_accounts_events_queued(db: &TestDb) {
    let conn = &mut db.open();
    let leaving = account(conn, "Leaving");
    let staying = account(conn, "Staying");
    let theirs = message(conn, leaving, MessageStatus::Queued);
    let ours = message(conn, staying, MessageStatus::Queued);
    let deliver = |m: &Message| Job::DeliverMessage { message_id: m.id };
    let their_job = JobRow::enqueue(conn, &deliver(&theirs), Enqueue::default()).unwrap();
    let our_job = JobRow::enqueue(conn, &deliver(&ours), Enqueue::default()).unwrap();
    let event = |m: &Message| NewEvent::new(EventType::Sent, m.id, EventData::default());
    let (their_event, our_event) = (event(&theirs), event(&ours));
    let shared = JobRow::enqueue(
        conn,
        &Job::RecordEvents {
            events: vec![their_event, our_event.clone()],
        },
        Enqueue::default(),
    )
    .unwrap();
    let only_theirs = JobRow::enqueue(
        conn,
        &Job::RecordEvents {
            events: vec![event(&theirs)],
        },
        Enqueue::default(),
    )
    .unwrap();

    let report = erase_account(conn, leaving).unwrap();
    assert!(report.deleted.contains(&("accounts", 1)), "{report:?}");
    assert!(matches!(
        Account::find(conn, leaving),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        JobRow::find(conn, their_job),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        JobRow::find(conn, only_theirs),
        Err(Error::NotFound(_))
    ));
    assert!(JobRow::find(conn, our_job).is_ok());
    let kept = JobRow::find(conn, shared).unwrap();
    assert_eq!(
        Job::from_parts(&kept.kind, &kept.payload).unwrap(),
        Job::RecordEvents {
            events: vec![our_event]
        },
        "the other account's event stays queued"
    );
    assert!(Account::find(conn, staying).is_ok());
    assert!(Message::find(conn, ours.id).is_ok());
}

on_both_backends!(
    message_content_is_purged_from_finished_messages_past_retention_once,
    finished_jobs_go_after_their_retention_and_waiting_or_running_ones_stay,
    erasing_an_account_takes_its_jobs_and_leaves_other_accounts_events_queued,
);
