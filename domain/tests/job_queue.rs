//! The job table as a queue, on a temporary SQLite file and on a fresh PostgreSQL
//! database: what is claimed first, when, by whom, and what the group moves touch.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::TestDb;

use std::collections::HashSet;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use mailroom_domain::jobs::{ClaimedJob, Enqueue, Job, JobRow, Priority, status};
use mailroom_domain::store::DbConnection;
use mailroom_domain::{Id, Timestamp};

/// A long lease: nothing in these tests outlives it unless it means to.
const LONG_LEASE: Duration = Duration::from_secs(300);

fn deliver() -> Job {
    Job::DeliverMessage {
        message_id: Id::new(),
    }
}

fn enqueue(conn: &mut DbConnection, options: Enqueue) -> Id {
    JobRow::enqueue(conn, &deliver(), options).unwrap()
}

fn with_priority(priority: Priority) -> Enqueue {
    Enqueue {
        priority,
        ..Enqueue::default()
    }
}

fn in_group(group: Id) -> Enqueue {
    Enqueue {
        group: Some(group),
        ..Enqueue::default()
    }
}

fn at(offset: chrono::Duration) -> Timestamp {
    Timestamp::from(chrono::Utc::now() + offset)
}

fn claim(conn: &mut DbConnection, lease: Duration) -> Option<ClaimedJob> {
    JobRow::claim(conn, lease).unwrap()
}

/// Claims until the queue answers none; the ids in claim order.
fn claim_all(conn: &mut DbConnection) -> Vec<Id> {
    std::iter::from_fn(|| claim(conn, LONG_LEASE).map(|c| c.id)).collect()
}

fn status_of(conn: &mut DbConnection, id: Id) -> String {
    JobRow::find(conn, id).unwrap().status
}

fn urgent_jobs_are_claimed_before_bulk_ones_regardless_of_insertion_order(db: &TestDb) {
    let mut conn = db.open();
    // A bulk job due an hour ago, more bulk, then dispatch, then urgent work last.
    let old_bulk = enqueue(
        &mut conn,
        Enqueue {
            run_at: Some(at(-chrono::Duration::hours(1))),
            ..with_priority(Priority::BULK)
        },
    );
    let bulk = enqueue(&mut conn, with_priority(Priority::BULK));
    let dispatch = enqueue(&mut conn, with_priority(Priority::DISPATCH));
    let urgent = enqueue(&mut conn, with_priority(Priority::URGENT));

    let first = claim(&mut conn, LONG_LEASE).unwrap();
    assert_eq!(first.id, urgent, "urgent work jumps the queue");
    assert_eq!(first.attempt, 1);
    assert!(matches!(first.job, Job::DeliverMessage { .. }));
    assert_eq!(claim(&mut conn, LONG_LEASE).unwrap().id, dispatch);
    // Among equals, the one due first.
    assert_eq!(claim(&mut conn, LONG_LEASE).unwrap().id, old_bulk);
    assert_eq!(claim(&mut conn, LONG_LEASE).unwrap().id, bulk);
    assert!(claim(&mut conn, LONG_LEASE).is_none());
}

fn a_job_due_later_is_not_claimed_until_then(db: &TestDb) {
    let mut conn = db.open();
    let later = enqueue(
        &mut conn,
        Enqueue {
            run_at: Some(at(chrono::Duration::seconds(1))),
            ..with_priority(Priority::URGENT)
        },
    );
    // An urgent job that is not due yet does not hold back a due bulk one.
    let due = enqueue(&mut conn, with_priority(Priority::BULK));
    assert_eq!(claim(&mut conn, LONG_LEASE).unwrap().id, due);
    assert!(
        claim(&mut conn, LONG_LEASE).is_none(),
        "a job is not claimed before its run_at"
    );
    assert_eq!(status_of(&mut conn, later), status::PENDING);
    std::thread::sleep(Duration::from_millis(1200));
    let claimed = claim(&mut conn, LONG_LEASE).expect("claimed once due");
    assert_eq!(claimed.id, later);
    assert_eq!(claimed.attempt, 1);
}

fn a_claimed_job_is_not_claimed_again_until_its_lease_expires(db: &TestDb) {
    let mut conn = db.open();
    let mut other = db.open();
    let id = enqueue(&mut conn, Enqueue::default());
    let first = claim(&mut conn, Duration::from_secs(1)).unwrap();
    assert_eq!((first.id, first.attempt), (id, 1));
    let row = JobRow::find(&mut conn, id).unwrap();
    assert_eq!(row.status, status::RUNNING);
    assert!(row.locked_until.is_some());
    assert!(
        claim(&mut other, LONG_LEASE).is_none(),
        "another worker does not take a job under lease"
    );
    assert!(claim(&mut conn, LONG_LEASE).is_none());

    // The worker died: once the lease runs out the job is claimed again.
    std::thread::sleep(Duration::from_millis(1200));
    let again = claim(&mut other, LONG_LEASE).expect("claimed after the lease expired");
    assert_eq!(again.id, id);
    assert_eq!(again.attempt, 2, "the lost attempt counts");
    assert!(claim(&mut conn, LONG_LEASE).is_none());

    // A completed job is never claimed again.
    JobRow::complete(&mut other, id).unwrap();
    assert_eq!(status_of(&mut conn, id), status::DONE);
    assert!(claim(&mut conn, LONG_LEASE).is_none());
}

fn a_retried_job_is_claimable_after_its_delay_with_its_attempts_counted(db: &TestDb) {
    let mut conn = db.open();
    let id = enqueue(&mut conn, Enqueue::default());
    let first = claim(&mut conn, LONG_LEASE).unwrap();
    assert_eq!(first.attempt, 1);
    JobRow::retry(&mut conn, id, Duration::from_secs(1), "451 try again later").unwrap();
    let row = JobRow::find(&mut conn, id).unwrap();
    assert_eq!(row.status, status::PENDING);
    assert_eq!(row.attempts, 1);
    assert_eq!(row.locked_until, None);
    assert_eq!(row.last_error.as_deref(), Some("451 try again later"));
    assert!(
        claim(&mut conn, LONG_LEASE).is_none(),
        "not before the retry delay"
    );
    std::thread::sleep(Duration::from_millis(1200));
    let second = claim(&mut conn, LONG_LEASE).expect("claimable after the delay");
    assert_eq!((second.id, second.attempt), (id, 2));
    assert_eq!(second.max_attempts, Enqueue::default().max_attempts);

    // A retry without delay is claimable at once, and counts as well.
    JobRow::retry(&mut conn, id, Duration::ZERO, "again").unwrap();
    let third = claim(&mut conn, LONG_LEASE).unwrap();
    assert_eq!((third.id, third.attempt), (id, 3));
}

fn group_moves_touch_exactly_that_groups_waiting_jobs(db: &TestDb) {
    let mut conn = db.open();
    let (g1, g2) = (Id::new(), Id::new());
    let g1_jobs: HashSet<Id> = (0..3).map(|_| enqueue(&mut conn, in_group(g1))).collect();
    let g2_jobs: HashSet<Id> = (0..2).map(|_| enqueue(&mut conn, in_group(g2))).collect();
    let loose = enqueue(&mut conn, Enqueue::default());

    assert_eq!(JobRow::hold_group(&mut conn, g1).unwrap(), 3);
    assert_eq!(
        JobRow::hold_group(&mut conn, g1).unwrap(),
        0,
        "held jobs stay held"
    );
    for id in &g1_jobs {
        assert_eq!(status_of(&mut conn, *id), status::HELD);
    }
    for id in g2_jobs.iter().chain([&loose]) {
        assert_eq!(status_of(&mut conn, *id), status::PENDING);
    }
    // Only the other group's and the loose job are claimable.
    let claimed: HashSet<Id> = claim_all(&mut conn).into_iter().collect();
    let expected: HashSet<Id> = g2_jobs.iter().copied().chain([loose]).collect();
    assert_eq!(claimed, expected);

    assert_eq!(JobRow::release_group(&mut conn, g1).unwrap(), 3);
    for id in &g1_jobs {
        assert_eq!(status_of(&mut conn, *id), status::PENDING);
    }
    assert_eq!(
        JobRow::release_group(&mut conn, g2).unwrap(),
        0,
        "running jobs are not held, so not released"
    );
    assert_eq!(
        JobRow::hold_group(&mut conn, g2).unwrap(),
        0,
        "running jobs finish their attempt"
    );

    // Cancelling drops held and pending jobs of the group alike.
    assert_eq!(JobRow::hold_group(&mut conn, g1).unwrap(), 3);
    let late = enqueue(&mut conn, in_group(g1));
    assert_eq!(status_of(&mut conn, late), status::PENDING);
    assert_eq!(JobRow::cancel_group(&mut conn, g1).unwrap(), 4);
    for id in g1_jobs.iter().chain([&late]) {
        assert_eq!(status_of(&mut conn, *id), status::DONE);
    }
    assert_eq!(JobRow::cancel_group(&mut conn, g2).unwrap(), 0);
    for id in &g2_jobs {
        assert_eq!(status_of(&mut conn, *id), status::RUNNING);
    }
    assert!(claim(&mut conn, LONG_LEASE).is_none());
}

/// Two workers, each on its own connection, claim 50 jobs as fast as they can.
fn concurrent_claims_are_disjoint_and_complete(db: &TestDb) {
    let mut conn = db.open();
    let all: HashSet<Id> = (0..50)
        .map(|_| enqueue(&mut conn, Enqueue::default()))
        .collect();
    let barrier = Arc::new(Barrier::new(2));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let mut conn = db.open();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                claim_all(&mut conn)
            })
        })
        .collect();
    let claimed: Vec<Vec<Id>> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    let (a, b): (HashSet<Id>, HashSet<Id>) = (
        claimed[0].iter().copied().collect(),
        claimed[1].iter().copied().collect(),
    );
    assert_eq!(a.len(), claimed[0].len(), "a worker got a job twice");
    assert_eq!(b.len(), claimed[1].len(), "a worker got a job twice");
    assert!(
        a.is_disjoint(&b),
        "both workers claimed {:?}",
        a.intersection(&b).collect::<Vec<_>>()
    );
    assert_eq!(a.union(&b).copied().collect::<HashSet<Id>>(), all);
    for id in &all {
        let row = JobRow::find(&mut conn, *id).unwrap();
        assert_eq!(
            (row.status.as_str(), row.attempts),
            (status::RUNNING, 1),
            "claimed exactly once"
        );
    }
}

on_both_backends!(
    urgent_jobs_are_claimed_before_bulk_ones_regardless_of_insertion_order,
    a_job_due_later_is_not_claimed_until_then,
    a_claimed_job_is_not_claimed_again_until_its_lease_expires,
    a_retried_job_is_claimable_after_its_delay_with_its_attempts_counted,
    group_moves_touch_exactly_that_groups_waiting_jobs,
    concurrent_claims_are_disjoint_and_complete,
);
