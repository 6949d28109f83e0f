//! What an erasure leaves on disk. On SQLite the erased address is gone from the bytes of
//! the database file and its WAL (secure_delete, and a truncating checkpoint after the
//! erasure), and the files are the owner's alone; on PostgreSQL the erasure's tables are
//! vacuumed once it commits.

use std::time::{Duration, Instant};

use diesel::QueryableByName;
use diesel::RunQueryDsl;
use diesel::sql_types::{BigInt, Text};
use mailroom_domain::store::{DbConnection, ERASURE_TABLES};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::campaigns::{grant, subscriber};
use crate::helpers::*;
use crate::suppressions::with_db;
use crate::tracking::{html_to, send_and_collect, tracked_body, urls_with, wait_for_events};

const ADDRESS: &str = "erin.erasable@example.com";

/// A person who is a member with properties and consent, received a tracked campaign and
/// clicked it, and received a transactional message: their address is in many tables.
async fn person_in_every_table(app: &TestApp) -> TestAccount {
    let acct = app.create_account("Shop").await;
    app.patch(
        "/v1/account",
        &acct.token,
        json!({"tracking_enabled": true}),
    )
    .await;
    let list = app.list(&acct.token, "News").await;
    let erin = subscriber(app, &acct.token, &list, ADDRESS, "Erin").await;
    grant(app, &acct.token, &erin, "tracking").await;
    subscriber(app, &acct.token, &list, "frank@example.com", "Frank").await;
    let (_, mail) = send_and_collect(app, &acct.token, tracked_body(&list, true), 2).await;
    let click = urls_with(html_to(&mail, ADDRESS), &format!("{}/t/c/", app.address)).remove(0);
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(&click)
        .send()
        .await
        .unwrap();
    wait_for_events(app, &acct.token, "type=click", 1).await;
    let (status, sent) = app
        .post(
            "/v1/send",
            &acct.token,
            json!({"messages": [{"from": {"email": "orders@shop.example"},
                   "to": [{"email": ADDRESS, "name": "Erin"}],
                   "subject": "Your receipt", "text": "Thanks, Erin."}]}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{sent}");
    wait_for_events(app, &acct.token, "type=sent", 3).await;
    app.wait_until_idle().await;
    acct
}

async fn erase(app: &TestApp, token: &str) -> Value {
    let (status, request) = app
        .post(
            "/v1/data-subject-requests",
            token,
            json!({"kind": "erasure", "subject_email": ADDRESS,
                   "verification": {"method": "email_link"}}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{request}");
    let id = request["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, request) = app
            .get(&format!("/v1/data-subject-requests/{id}"), token)
            .await;
        if request["status"] == "completed" {
            return request;
        }
        assert!(Instant::now() < deadline, "never completed: {request}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How often the address occurs in the raw bytes of the database file and of its WAL.
fn occurrences_on_disk(app: &TestApp) -> Vec<(String, usize)> {
    let needle = ADDRESS.as_bytes();
    ["mailroom.db", "mailroom.db-wal"]
        .iter()
        .map(|name| {
            let bytes = std::fs::read(app.data_dir.join(name))
                .unwrap_or_default()
                .to_ascii_lowercase();
            let n = bytes.windows(needle.len()).filter(|w| *w == needle).count();
            ((*name).to_owned(), n)
        })
        .collect()
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn sqlite_files_keep_no_trace_of_an_erased_address_and_are_private() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let acct = person_in_every_table(&app).await;
    #[cfg(unix)]
    {
        assert_eq!(mode(&app.data_dir), 0o700, "the data directory");
        for file in ["mailroom.db", "mailroom.db-wal", "mailroom.db-shm"] {
            assert_eq!(mode(&app.data_dir.join(file)), 0o600, "{file}");
        }
    }
    let before = occurrences_on_disk(&app);
    assert!(
        before.iter().map(|(_, n)| n).sum::<usize>() > 0,
        "the address is on disk before: {before:?}"
    );

    erase(&app, &acct.token).await;
    // The space is reclaimed once the erasure has committed: wait for it.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left = occurrences_on_disk(&app);
        if left.iter().all(|(_, n)| *n == 0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the erased address is still on disk: {left:?} (before: {before:?})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    #[cfg(unix)]
    for file in ["mailroom.db", "mailroom.db-wal", "mailroom.db-shm"] {
        assert_eq!(mode(&app.data_dir.join(file)), 0o600, "{file}");
    }
}

#[tokio::test]
async fn postgres_vacuums_the_erasures_tables_after_it() {
    #[derive(QueryableByName)]
    struct Vacuumed {
        #[diesel(sql_type = Text)]
        relname: String,
        #[diesel(sql_type = BigInt)]
        vacuum_count: i64,
    }
    async fn vacuumed(app: &TestApp) -> Vec<(String, i64)> {
        with_db(app, |conn| {
            let DbConnection::Postgres(pg) = conn else {
                panic!("PostgreSQL expected")
            };
            let rows: Vec<Vacuumed> = diesel::sql_query(
                "SELECT relname::text AS relname, vacuum_count FROM pg_stat_user_tables",
            )
            .load(pg)
            .unwrap();
            rows.into_iter()
                .filter(|r| ERASURE_TABLES.contains(&r.relname.as_str()))
                .map(|r| (r.relname, r.vacuum_count))
                .collect()
        })
        .await
    }
    let app = TestApp::spawn(Backend::Postgres).await;
    let acct = person_in_every_table(&app).await;
    let before = vacuumed(&app).await;
    assert_eq!(before.len(), ERASURE_TABLES.len(), "{before:?}");
    assert!(before.iter().all(|(_, n)| *n == 0), "{before:?}");

    erase(&app, &acct.token).await;
    // Statistics reach pg_stat_user_tables within a second or so of the VACUUM.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let after = vacuumed(&app).await;
        if after.iter().all(|(_, n)| *n > 0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not every table of the erasure was vacuumed: {after:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
