//! The sending gate on a temporary SQLite file and on a fresh PostgreSQL database: slots
//! taken by racing threads (as by several sender processes) never pass the limit, a full
//! window says when the next starts, and a suspended account is held whatever its limits.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::{TestDb, campaign};

use chrono::{DateTime, Utc};
use mailroom_domain::Id;
use mailroom_domain::accounts::quota::{self, Period, SendingLimits, Taken};
use mailroom_domain::accounts::{Account, Admission, SuspendedBy, sending_gate};
use mailroom_domain::campaigns::{Campaign, CampaignStatus};
use mailroom_domain::jobs::{Enqueue, Job, JobRow, status};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn racing_takers_never_pass_the_limit(db: &TestDb) {
    let account = Account::create_with_key(&mut db.open(), "Shop").unwrap().0;
    let limits = SendingLimits {
        messages_per_hour: Some(25),
        messages_per_day: Some(40),
    };
    let now = at("2026-12-07T18:20:00Z");
    let granted: u32 = std::thread::scope(|scope| {
        let takers: Vec<_> = (0..6)
            .map(|_| {
                scope.spawn(|| {
                    let mut conn = db.open();
                    let mut granted = 0;
                    for _ in 0..10 {
                        let taken =
                            conn.write_transaction(|c| quota::take(c, account.id, &limits, 1, now));
                        match taken {
                            Ok(Taken::Granted(n)) => granted += n,
                            Ok(Taken::Exhausted { .. }) => {}
                            // SQLite's writers wait on one another; a busy error is a lost race.
                            Err(_) => {}
                        }
                    }
                    granted
                })
            })
            .collect();
        takers.into_iter().map(|t| t.join().unwrap()).sum()
    });
    assert!(granted <= 25, "granted {granted} of an hourly limit of 25");
    let mut conn = db.open();
    let (hour, day) = quota::usage(&mut conn, account.id, &limits, now).unwrap();
    assert_eq!(hour.sent, granted);
    assert_eq!(day.sent, granted);
    // Whatever is left of the hour can be taken, and then the hour is full until 19:00.
    let rest = 25 - granted;
    if rest > 0 {
        let taken = conn
            .write_transaction(|c| quota::take(c, account.id, &limits, 100, now))
            .unwrap();
        assert_eq!(taken, Taken::Granted(rest), "a chunk gets what is left");
    }
    let full = conn
        .write_transaction(|c| quota::take(c, account.id, &limits, 1, now))
        .unwrap();
    assert_eq!(
        full,
        Taken::Exhausted {
            until: at("2026-12-07T19:00:00Z").into()
        }
    );
    // The next hour has room again, up to what is left of the day (40 - 25).
    let next_hour = at("2026-12-07T19:00:01Z");
    let taken = conn
        .write_transaction(|c| quota::take(c, account.id, &limits, 30, next_hour))
        .unwrap();
    assert_eq!(taken, Taken::Granted(15));
    let day_full = conn
        .write_transaction(|c| quota::take(c, account.id, &limits, 1, next_hour))
        .unwrap();
    assert_eq!(
        day_full,
        Taken::Exhausted {
            until: Period::Day.end(next_hour).into()
        }
    );
}

fn a_suspended_account_is_held_and_an_unlimited_one_admitted(db: &TestDb) {
    let mut conn = db.open();
    let account = Account::create_with_key(&mut conn, "Shop").unwrap().0;
    let now = at("2026-12-07T18:20:00Z");
    let unlimited = SendingLimits::default();
    let admitted = conn
        .write_transaction(|c| sending_gate::admit(c, &account, &unlimited, 500, now))
        .unwrap();
    assert_eq!(admitted, Admission::Admitted(500));
    let (suspended, changed) = Account::suspend(
        &mut conn,
        account.id,
        "spam complaints",
        SuspendedBy::Operator,
    )
    .unwrap();
    assert!(changed);
    let held = conn
        .write_transaction(|c| sending_gate::admit(c, &suspended, &unlimited, 1, now))
        .unwrap();
    assert_eq!(
        held,
        Admission::Suspended {
            reason: "spam complaints".into()
        }
    );
    // Suspending again keeps the first reason; resuming lets the account send again.
    let (again, changed) =
        Account::suspend(&mut conn, account.id, "other", SuspendedBy::Automatic).unwrap();
    assert!(!changed);
    assert_eq!(again.suspended_reason.as_deref(), Some("spam complaints"));
    let resumed = Account::resume_sending(&mut conn, account.id).unwrap();
    assert!(!resumed.is_suspended());
    assert!(Account::resume_sending(&mut conn, account.id).is_err());
}

/// A transactional delivery job of `account`, as a worker has it in hand (not held).
fn delivery_in_hand(db: &TestDb, account: Id) -> Id {
    let options = Enqueue {
        account: Some(account),
        ..Enqueue::default()
    };
    let job = Job::DeliverMessage {
        message_id: Id::new(),
    };
    JobRow::enqueue(&mut db.open(), &job, options).unwrap()
}

/// The worker's gate read "suspended", then the operator resumed the account (whose
/// release found nothing held yet), then the worker holds the job: it must not stay held.
fn a_resume_between_the_gate_and_the_hold_leaves_no_job_held(db: &TestDb) {
    let mut conn = db.open();
    let account = Account::create_with_key(&mut conn, "Shop").unwrap().0;
    Account::suspend(&mut conn, account.id, "spam", SuspendedBy::Operator).unwrap();

    // Still suspended when the job is held: it waits for the resumption, which releases it.
    let job = delivery_in_hand(db, account.id);
    JobRow::hold(&mut conn, job).unwrap();
    assert_eq!(JobRow::find(&mut conn, job).unwrap().status, status::HELD);
    Account::resume_sending(&mut conn, account.id).unwrap();
    assert_eq!(
        JobRow::find(&mut conn, job).unwrap().status,
        status::PENDING
    );

    // Resumed between the gate and the hold: the job runs again instead of waiting forever.
    Account::suspend(&mut conn, account.id, "spam", SuspendedBy::Operator).unwrap();
    let late = delivery_in_hand(db, account.id);
    Account::resume_sending(&mut conn, account.id).unwrap();
    JobRow::hold(&mut conn, late).unwrap();
    assert_eq!(
        JobRow::find(&mut conn, late).unwrap().status,
        status::PENDING
    );

    // The same in scale-out, where a published job's row holds it for the broker.
    Account::suspend(&mut conn, account.id, "spam", SuspendedBy::Operator).unwrap();
    let published = delivery_in_hand(db, account.id);
    Account::resume_sending(&mut conn, account.id).unwrap();
    JobRow::hold_in_outbox(&mut conn, published).unwrap();
    assert_eq!(
        JobRow::find(&mut conn, published).unwrap().status,
        status::PENDING
    );
}

/// The same race for a campaign: a worker found the account suspended, the operator
/// resumed it (continuing the campaign), then the worker pauses the campaign and holds its
/// job. The campaign must go on sending, and the job must run.
fn a_resume_between_the_gate_and_the_pause_leaves_the_campaign_sending(db: &TestDb) {
    let mut conn = db.open();
    let account = Account::create_with_key(&mut conn, "Shop").unwrap().0;
    let id = campaign(&mut conn, account.id);
    Campaign::send(&mut conn, account.id, id).unwrap();
    let options = Enqueue {
        account: Some(account.id),
        group: Some(id),
        ..Enqueue::default()
    };
    let job = Job::DeliverMessage {
        message_id: Id::new(),
    };
    let in_hand = JobRow::enqueue(&mut conn, &job, options).unwrap();
    Account::suspend(&mut conn, account.id, "spam", SuspendedBy::Operator).unwrap();
    let status_of = |conn: &mut _| Campaign::find_any(conn, id).unwrap().status();
    assert_eq!(status_of(&mut conn), CampaignStatus::Paused);
    Account::resume_sending(&mut conn, account.id).unwrap();
    assert_eq!(status_of(&mut conn), CampaignStatus::Sending);

    // The worker, late: the pause and the hold find nothing to wait for.
    conn.write_transaction(|c| Campaign::pause_for_suspension(c, id))
        .unwrap();
    assert_eq!(status_of(&mut conn), CampaignStatus::Sending);
    JobRow::hold(&mut conn, in_hand).unwrap();
    assert_eq!(
        JobRow::find(&mut conn, in_hand).unwrap().status,
        status::PENDING
    );
}

on_both_backends!(
    racing_takers_never_pass_the_limit,
    a_suspended_account_is_held_and_an_unlimited_one_admitted,
    a_resume_between_the_gate_and_the_hold_leaves_no_job_held,
    a_resume_between_the_gate_and_the_pause_leaves_the_campaign_sending,
);
