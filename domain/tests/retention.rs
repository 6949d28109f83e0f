//! The retention rules on a temporary SQLite file and on a fresh PostgreSQL database:
//! what a purge as of some time removes from messages and the job table, that it changes
//! nothing the second time, that events go by the time their ids were minted, and that an
//! erasure takes an account's jobs but not another's, and every event of the account, also
//! those recorded while it runs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use mailroom_domain::accounts::{Account, AccountSettings};
use mailroom_domain::events::{EventData, EventQuery, EventType, NewEvent, record_batch};
use mailroom_domain::jobs::{Enqueue, Job, JobRow, status};
use mailroom_domain::messages::{Message, MessageKind, MessageStatus, NewMessage};
use mailroom_domain::pagination::PageRequest;
use mailroom_domain::retention::{
    AccountPurge, RetentionChange, erase_account, purge_account, purge_finished_jobs,
};
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

fn events_of(conn: &mut DbConnection, account: Id) -> Vec<Id> {
    let page = PageRequest::parse(Some(100), None).unwrap();
    let page = EventQuery::default().run(conn, account, &page).unwrap();
    page.data.into_iter().map(|e| e.id).collect()
}

fn opens(conn: &mut DbConnection, message: &Message, n: usize) -> Vec<Id> {
    let batch: Vec<NewEvent> = (0..n)
        .map(|_| NewEvent::new(EventType::Open, message.id, EventData::default()))
        .collect();
    record_batch(conn, &batch, std::time::Duration::ZERO)
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect()
}

/// The purge finds expired events by their time-ordered ids, to the millisecond: with the
/// cut-off between two events, the earlier goes and the later stays; another account's
/// (longer) policy keeps its own.
fn events_go_when_the_time_their_ids_were_minted_is_past_retention(db: &TestDb) {
    let conn = &mut db.open();
    let shop = account(conn, "Shop");
    let archive = account(conn, "Archive");
    let longer = RetentionChange {
        events_days: Some(400),
        ..RetentionChange::default()
    };
    let settings = AccountSettings {
        retention: Some(longer),
        ..AccountSettings::default()
    };
    Account::update_settings(conn, archive, &settings).unwrap();
    let shop_message = message(conn, shop, MessageStatus::Sent);
    let archive_message = message(conn, archive, MessageStatus::Sent);
    let earlier = opens(conn, &shop_message, 2);
    let archived = opens(conn, &archive_message, 1);
    std::thread::sleep(std::time::Duration::from_millis(5));
    let between = mailroom_domain::clock::now();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let later = opens(conn, &shop_message, 1);
    let retention = chrono::Duration::days(395);

    // (Message content goes after 90 days: only the events step is looked at.)
    let events_removed = |purge: AccountPurge| {
        purge
            .removed
            .iter()
            .find(|(step, _)| *step == "events")
            .map_or(0, |(_, n)| *n)
    };
    let nothing_yet = Timestamp::from(earlier_instant(&earlier) + retention);
    assert_eq!(
        events_removed(purge_account(conn, shop, nothing_yet).unwrap()),
        0
    );

    let as_of = Timestamp::from(between.0 + retention);
    assert_eq!(events_removed(purge_account(conn, shop, as_of).unwrap()), 2);
    assert_eq!(events_of(conn, shop), later);
    let again = purge_account(conn, shop, as_of).unwrap();
    assert_eq!(events_removed(again), 0, "once");
    assert_eq!(
        events_removed(purge_account(conn, archive, as_of).unwrap()),
        0
    );
    assert_eq!(events_of(conn, archive), archived);
}

/// The instant of the first id's millisecond, less one: before anything was minted.
fn earlier_instant(ids: &[Id]) -> chrono::DateTime<chrono::Utc> {
    let (secs, nanos) = ids[0].as_uuid().get_timestamp().unwrap().to_unix();
    chrono::DateTime::from_timestamp(secs as i64, nanos).unwrap()
        - chrono::Duration::milliseconds(1)
}

/// Events recorded while the account is being erased do not outlive it: a worker records
/// batches on its messages until they are gone, beside the erasure; afterwards none of the
/// account's events is left (the event log has no foreign key to cascade from).
fn events_recorded_during_an_erasure_go_with_the_account(db: &TestDb) {
    for round in 0..5 {
        let conn = &mut db.open();
        let leaving = account(conn, &format!("Leaving {round}"));
        let messages: Vec<Message> = (0..20)
            .map(|_| message(conn, leaving, MessageStatus::Sent))
            .collect();
        let (started, start) = std::sync::mpsc::channel();
        let recorder = {
            let mut conn = db.open();
            std::thread::spawn(move || {
                let mut recorded = 0;
                let mut batches = 0;
                loop {
                    let batch: Vec<NewEvent> = messages
                        .iter()
                        .map(|m| NewEvent::new(EventType::Open, m.id, EventData::default()))
                        .collect();
                    let n = record_batch(&mut conn, &batch, std::time::Duration::ZERO)
                        .unwrap()
                        .len();
                    recorded += n;
                    batches += 1;
                    if batches == 3 {
                        started.send(()).unwrap();
                    }
                    if n == 0 && batches > 3 {
                        return recorded;
                    }
                }
            })
        };
        start.recv().unwrap();
        let report = erase_account(conn, leaving).unwrap();
        let recorded = recorder.join().unwrap();
        assert!(recorded >= 60, "{recorded} recorded before the erasure");
        // The report counts them all, those swept with the account row too.
        assert!(
            report.deleted.contains(&("events", recorded)),
            "round {round}: {recorded} recorded, report {:?}",
            report.deleted
        );
        let left = events_of(conn, leaving).len();
        assert_eq!(left, 0, "round {round}: {left} events outlived the account");
    }
}

on_both_backends!(
    events_go_when_the_time_their_ids_were_minted_is_past_retention,
    events_recorded_during_an_erasure_go_with_the_account,
    message_content_is_purged_from_finished_messages_past_retention_once,
    finished_jobs_go_after_their_retention_and_waiting_or_running_ones_stay,
    erasing_an_account_takes_its_jobs_and_leaves_other_accounts_events_queued,
);
