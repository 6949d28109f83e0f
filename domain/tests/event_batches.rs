//! Recording batches of events, on a temporary SQLite file and on a fresh PostgreSQL
//! database: each event once by its id — also when a batch is delivered again whole, or
//! again with new events beside old ones (on PostgreSQL the first is copied in, and a
//! collision makes it insert skipping the ids already there) — and counted once in its
//! campaign's statistics.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use mailroom_domain::Id;
use mailroom_domain::accounts::Account;
use mailroom_domain::events::{
    CampaignStats, EventData, EventQuery, EventType, NewEvent, record_batch,
};
use mailroom_domain::messages::{Message, MessageKind, MessageStatus, NewMessage};
use mailroom_domain::pagination::PageRequest;
use mailroom_domain::store::DbConnection;
use mailroom_domain::store::sql_types::Timestamp;

use support::{TestDb, campaign};

fn sent_messages(conn: &mut DbConnection, account: Id, n: usize) -> (Id, Vec<Id>) {
    let campaign = campaign(conn, account);
    let messages = (0..n)
        .map(|i| {
            Message::create_with_status(
                conn,
                account,
                MessageKind::Campaign,
                NewMessage {
                    campaign_id: Some(campaign),
                    to_email: format!("reader{i}@example.com"),
                    ..NewMessage::default()
                },
                MessageStatus::Sent,
            )
            .unwrap()
            .id
        })
        .collect();
    (campaign, messages)
}

fn open(message: Id) -> NewEvent {
    NewEvent::new(EventType::Open, message, EventData::default())
}

fn click(message: Id, url: &str) -> NewEvent {
    NewEvent::new(
        EventType::Click,
        message,
        EventData {
            url: Some(url.into()),
            ip: Some("192.0.2.7".into()),
            user_agent: Some("Mail/1.0".into()),
            ..EventData::default()
        },
    )
}

fn recorded(conn: &mut DbConnection, account: Id) -> Vec<(Id, String)> {
    let page = PageRequest::parse(Some(500), None).unwrap();
    EventQuery::default()
        .run(conn, account, &page)
        .unwrap()
        .data
        .into_iter()
        .map(|e| (e.id, e.event_type))
        .collect()
}

fn each_event_is_recorded_and_counted_once_however_often_its_batch_arrives(db: &TestDb) {
    let conn = &mut db.open();
    let account = Account::create_with_key(conn, "Shop").unwrap().0.id;
    let (campaign, m) = sent_messages(conn, account, 3);

    let first = vec![open(m[0]), open(m[0]), click(m[1], "https://example.com/a")];
    let written = record_batch(conn, &first, Duration::ZERO).unwrap();
    assert_eq!(written.len(), 3);
    let click_row = written.iter().find(|e| e.event_type == "click").unwrap();
    assert_eq!(click_row.url.as_deref(), Some("https://example.com/a"));
    assert_eq!(click_row.user_agent.as_deref(), Some("Mail/1.0"));
    assert_eq!(click_row.email.as_deref(), Some("reader1@example.com"));
    assert_eq!(click_row.campaign_id, Some(campaign));
    assert_eq!(click_row.custom_id, None);

    // The same batch again (a redelivered job): nothing new.
    assert!(
        record_batch(conn, &first, Duration::ZERO)
            .unwrap()
            .is_empty()
    );

    // Old events beside new ones (a relayed copy merged into a later batch): only the new.
    let mut mixed = first.clone();
    mixed.push(open(m[2]));
    mixed.push(click(m[1], "https://example.com/b"));
    let written = record_batch(conn, &mixed, Duration::ZERO).unwrap();
    let new_ids: Vec<Id> = mixed[3..].iter().map(|e| e.id).collect();
    assert_eq!(written.iter().map(|e| e.id).collect::<Vec<_>>(), new_ids);

    let rows = recorded(conn, account);
    assert_eq!(rows.len(), 5, "{rows:?}");
    let stats = CampaignStats::load(conn, campaign, 3).unwrap();
    assert_eq!((stats.opened.total, stats.opened.unique), (3, 2));
    assert_eq!((stats.clicked.total, stats.clicked.unique), (2, 1));
    assert_eq!(stats.links.len(), 2);

    // Clicks per link, most clicked first: two more on /b (one of them from another
    // message), so /b leads with 3 clicks from 2 messages.
    record_batch(
        conn,
        &[
            click(m[1], "https://example.com/b"),
            click(m[2], "https://example.com/b"),
        ],
        Duration::ZERO,
    )
    .unwrap();
    let links: Vec<(String, i64, i64)> = CampaignStats::load(conn, campaign, 3)
        .unwrap()
        .links
        .into_iter()
        .map(|l| (l.url, l.total, l.unique))
        .collect();
    assert_eq!(
        links,
        vec![
            ("https://example.com/b".to_owned(), 3, 2),
            ("https://example.com/a".to_owned(), 1, 1),
        ]
    );
}

fn a_large_batch_is_recorded_whole(db: &TestDb) {
    let conn = &mut db.open();
    let account = Account::create_with_key(conn, "Shop").unwrap().0.id;
    let (campaign, m) = sent_messages(conn, account, 10);
    // More than one chunk of the recorder, opens and clicks alternating over ten messages.
    let batch: Vec<NewEvent> = (0..1_200)
        .map(|i| match i % 2 {
            0 => open(m[i % 10]),
            _ => click(m[i % 10], "https://example.com/"),
        })
        .collect();
    assert_eq!(
        record_batch(conn, &batch, Duration::ZERO).unwrap().len(),
        1_200
    );
    assert!(
        record_batch(conn, &batch, Duration::ZERO)
            .unwrap()
            .is_empty()
    );
    let stats = CampaignStats::load(conn, campaign, 10).unwrap();
    assert_eq!((stats.opened.total, stats.opened.unique), (600, 5));
    assert_eq!((stats.clicked.total, stats.clicked.unique), (600, 5));
}

fn a_batch_naming_more_messages_than_one_lookup_takes_is_recorded_whole(db: &TestDb) {
    let conn = &mut db.open();
    let account = Account::create_with_key(conn, "Shop").unwrap().0.id;
    // More messages than the recorder names in one lookup (500), each opened and clicked.
    let (campaign, m) = sent_messages(conn, account, 1_100);
    let opens: Vec<NewEvent> = m.iter().map(|&id| open(id)).collect();
    assert_eq!(
        record_batch(conn, &opens, Duration::ZERO).unwrap().len(),
        1_100
    );
    // The opens again beside a click on every message (on PostgreSQL the copy collides,
    // and the batch is inserted in several statements skipping the ids already there).
    let mut mixed = opens.clone();
    mixed.extend(m.iter().map(|&id| click(id, "https://example.com/")));
    let written = record_batch(conn, &mixed, Duration::ZERO).unwrap();
    assert_eq!(written.len(), 1_100);
    assert!(written.iter().all(|e| e.event_type == "click"));
    let stats = CampaignStats::load(conn, campaign, 1_100).unwrap();
    assert_eq!((stats.opened.total, stats.opened.unique), (1_100, 1_100));
    assert_eq!((stats.clicked.total, stats.clicked.unique), (1_100, 1_100));
}

/// The repeat window: a link's hits within it of the hit counted are recorded as repeats and
/// counted nowhere, whichever batch (whichever worker) they arrive in; each link has its
/// own window, and the next hit after it counts again.
fn hits_of_one_link_count_once_per_window_across_batches(db: &TestDb) {
    let conn = &mut db.open();
    let account = Account::create_with_key(conn, "Shop").unwrap().0.id;
    let (campaign, m) = sent_messages(conn, account, 1);
    let window = Duration::from_secs(60);
    let start = mailroom_domain::clock::now().0;
    let at = |secs: i64, mut e: NewEvent| {
        e.occurred_at = Timestamp(start + chrono::Duration::seconds(secs));
        e
    };
    let (a, b) = ("https://example.com/a", "https://example.com/b");
    let first = [
        at(0, open(m[0])),
        at(10, open(m[0])),
        at(0, click(m[0], a)),
        at(5, click(m[0], b)),
    ];
    let second = [at(30, open(m[0])), at(59, click(m[0], a))];
    let third = [
        at(61, open(m[0])),
        at(61, click(m[0], a)),
        at(62, click(m[0], b)),
    ];
    let mut sources = Vec::new();
    for batch in [&first[..], &second[..], &third[..]] {
        let written = record_batch(conn, batch, window).unwrap();
        assert_eq!(written.len(), batch.len());
        sources.extend(written.into_iter().map(|e| e.source));
    }
    let repeat = Some("repeat".to_owned());
    assert_eq!(
        sources,
        [
            None,
            repeat.clone(),
            None,
            None,
            repeat.clone(),
            repeat.clone(),
            None,
            None,
            repeat
        ]
    );
    let stats = CampaignStats::load(conn, campaign, 1).unwrap();
    assert_eq!((stats.opened.total, stats.opened.unique), (2, 1));
    assert_eq!((stats.clicked.total, stats.clicked.unique), (3, 1));
}

on_both_backends!(
    hits_of_one_link_count_once_per_window_across_batches,
    each_event_is_recorded_and_counted_once_however_often_its_batch_arrives,
    a_large_batch_is_recorded_whole,
    a_batch_naming_more_messages_than_one_lookup_takes_is_recorded_whole,
);
