//! Fair work in the job table, on a temporary SQLite file and on a fresh PostgreSQL
//! database: a lane's claim takes only its lane's jobs, the accounts with due work take
//! turns whatever their backlog, and an account holding its share is passed over.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::TestDb;

use std::time::Duration;

use mailroom_domain::Id;
use mailroom_domain::jobs::{Enqueue, Job, JobRow, Lane, NO_ACCOUNT, Priority, Turn};
use mailroom_domain::store::DbConnection;

const LEASE: Duration = Duration::from_secs(300);

fn webhook() -> Job {
    Job::DeliverWebhook {
        delivery_id: Id::new(),
    }
}

fn import() -> Job {
    Job::ImportList {
        import_id: Id::new(),
    }
}

fn queue_for(conn: &mut DbConnection, account: Id, job: Job, priority: Priority) -> Id {
    let options = Enqueue {
        account: Some(account),
        priority,
        ..Enqueue::default()
    };
    JobRow::enqueue(conn, &job, options).unwrap()
}

/// Accounts in id order (the order turns go round in).
fn accounts<const N: usize>() -> [Id; N] {
    let mut ids = [(); N].map(|_| Id::new());
    ids.sort();
    ids
}

/// Claims in `lane` the way a worker does, remembering whose turn it was; answers the
/// accounts served, in order, until the lane has nothing due.
fn serve(conn: &mut DbConnection, lane: Lane) -> Vec<Id> {
    let mut turn = Turn::default();
    let mut served = Vec::new();
    while let Some(claimed) = JobRow::claim_in(conn, lane, &turn, LEASE).unwrap() {
        turn.last_served = Some(claimed.account_id);
        served.push(claimed.account_id);
    }
    served
}

fn accounts_take_turns_in_a_lane_whatever_their_backlog(db: &TestDb) {
    let mut conn = db.open();
    let [a, b, c] = accounts::<3>();
    // The flooding account queued first, and more urgently.
    for _ in 0..5 {
        queue_for(&mut conn, b, webhook(), Priority::URGENT);
    }
    queue_for(&mut conn, c, webhook(), Priority::BULK);
    queue_for(&mut conn, a, webhook(), Priority::BULK);
    assert_eq!(serve(&mut conn, Lane::Webhooks), vec![a, b, c, b, b, b, b]);
}

fn a_lane_claims_only_its_own_kinds(db: &TestDb) {
    let mut conn = db.open();
    let [a] = accounts::<1>();
    for _ in 0..3 {
        queue_for(&mut conn, a, webhook(), Priority::URGENT);
    }
    let imported = queue_for(&mut conn, a, import(), Priority::BULK);
    let transactional = queue_for(
        &mut conn,
        a,
        Job::DeliverMessage {
            message_id: Id::new(),
        },
        Priority::URGENT,
    );
    let first = JobRow::claim_in(&mut conn, Lane::Jobs, &Turn::default(), LEASE)
        .unwrap()
        .expect("the import, behind three urgent webhook deliveries");
    assert_eq!((first.id, first.account_id), (imported, a));
    let first = JobRow::claim_in(&mut conn, Lane::Transactional, &Turn::default(), LEASE)
        .unwrap()
        .unwrap();
    assert_eq!(first.id, transactional);
    assert!(
        JobRow::claim_in(&mut conn, Lane::Campaigns, &Turn::default(), LEASE)
            .unwrap()
            .is_none(),
        "an urgent message is transactional, not campaign work"
    );
    assert_eq!(serve(&mut conn, Lane::Webhooks).len(), 3);
    let row = JobRow::find(&mut conn, imported).unwrap();
    assert_eq!((row.lane.as_str(), row.account_id), ("jobs", a));
}

fn an_account_holding_its_share_is_passed_over(db: &TestDb) {
    let mut conn = db.open();
    let [a, b] = accounts::<2>();
    for _ in 0..3 {
        queue_for(&mut conn, a, webhook(), Priority::URGENT);
    }
    let full = Turn {
        last_served: None,
        skip: vec![a],
    };
    assert!(
        JobRow::claim_in(&mut conn, Lane::Webhooks, &full, LEASE)
            .unwrap()
            .is_none(),
        "the only account with work holds its share: nothing to claim"
    );
    let theirs = queue_for(&mut conn, b, webhook(), Priority::BULK);
    let claimed = JobRow::claim_in(&mut conn, Lane::Webhooks, &full, LEASE)
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, theirs);
}

fn installation_work_takes_its_turn_as_the_nil_account(db: &TestDb) {
    let mut conn = db.open();
    let [a] = accounts::<1>();
    queue_for(&mut conn, a, import(), Priority::BULK);
    JobRow::enqueue(
        &mut conn,
        &Job::PurgeRetention { as_of: None },
        Enqueue::default(),
    )
    .unwrap();
    // After `a` was served, the turn wraps round to the nil account first.
    let turn = Turn {
        last_served: Some(a),
        skip: Vec::new(),
    };
    let claimed = JobRow::claim_in(&mut conn, Lane::Jobs, &turn, LEASE)
        .unwrap()
        .unwrap();
    assert_eq!(claimed.account_id, NO_ACCOUNT);
    assert!(matches!(claimed.job, Job::PurgeRetention { .. }));
}

on_both_backends!(
    accounts_take_turns_in_a_lane_whatever_their_backlog,
    a_lane_claims_only_its_own_kinds,
    an_account_holding_its_share_is_passed_over,
    installation_work_takes_its_turn_as_the_nil_account,
);
