//! An erasure works on the requesting account's rows only. Another account may hold the
//! same address (in a tracked link's job row, its contacts, its events) and addresses that
//! `LIKE` wildcards would match: erasing them — or wildcard spellings of them — from one
//! account changes nothing of the other's, byte for byte, and its report counts nothing
//! of the other's data (the report is no oracle for what other tenants hold).

use std::collections::{BTreeMap, BTreeSet};

use diesel::QueryableByName;
use diesel::RunQueryDsl;
use diesel::sql_types::Text;
use mailroom_domain::store::DbConnection;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::campaigns::{grant, subscriber};
use crate::helpers::*;
use crate::on_both_backends;
use crate::suppressions::with_db;
use crate::tracking::{html_to, send_and_collect, urls_with, wait_for_events};

/// Every row of every table, as text, by table — but job rows still to run, which the
/// workers change by themselves.
pub async fn all_rows(app: &TestApp) -> BTreeMap<String, BTreeSet<String>> {
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = Text)]
        name: String,
    }
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        row: String,
    }
    with_db(app, |conn| {
        let mut all = BTreeMap::new();
        let tables: Vec<Name> = match conn {
            DbConnection::Postgres(pg) => diesel::sql_query(
                "SELECT table_name::text AS name FROM information_schema.tables \
                 WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
            )
            .load(pg)
            .unwrap(),
            DbConnection::Sqlite(lite) => diesel::sql_query(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .load(lite)
            .unwrap(),
        };
        assert!(tables.len() > 20, "too few tables: {}", tables.len());
        for table in tables {
            let name = table.name;
            let only_finished = if name == "jobs" {
                " WHERE status IN ('done', 'dead', 'published')"
            } else {
                ""
            };
            let rows: Vec<Row> = match conn {
                DbConnection::Postgres(pg) => diesel::sql_query(format!(
                    "SELECT t::text AS row FROM \"{name}\" AS t{only_finished}"
                ))
                .load(pg)
                .unwrap(),
                DbConnection::Sqlite(lite) => {
                    let columns: Vec<Name> =
                        diesel::sql_query(format!("SELECT name FROM pragma_table_info('{name}')"))
                            .load(lite)
                            .unwrap();
                    let row = columns
                        .iter()
                        .map(|c| format!("quote(\"{}\")", c.name))
                        .collect::<Vec<_>>()
                        .join(" || ',' || ");
                    diesel::sql_query(format!(
                        "SELECT {row} AS row FROM \"{name}\"{only_finished}"
                    ))
                    .load(lite)
                    .unwrap()
                }
            };
            all.insert(name, rows.into_iter().map(|r| r.row).collect());
        }
        all
    })
    .await
}

/// Files a verified erasure and waits for its outcome.
async fn erase(app: &TestApp, token: &str, address: &str) -> Value {
    let (status, request) = app
        .post(
            "/v1/data-subject-requests",
            token,
            json!({"kind": "erasure", "subject_email": address,
                   "verification": {"method": "email_link"}}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{address}: {request}");
    let id = request["id"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (_, request) = app
            .get(&format!("/v1/data-subject-requests/{id}"), token)
            .await;
        if request["status"] == "completed" {
            return request["outcome"].clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never completed: {request}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

on_both_backends! {
    async fn an_erasure_touches_only_the_requesting_accounts_rows(app) {
        // Account A holds alice@victim-a.example (a contact who clicked a tracked link that
        // carries her address, so a job row names her) and look-alikes of her address.
        let a = app.create_account("Victim").await;
        app.patch("/v1/account", &a.token, json!({"tracking_enabled": true})).await;
        let list = app.list(&a.token, "News").await;
        for (address, name) in [
            ("alice@victim-a.example", "Alice"),
            ("alfred@victim-a.example", "Alfred"),
            ("blice@victim-a.example", "Blice"),
            ("a_lice@victim-a.example", "Underscore"),
        ] {
            let contact = subscriber(&app, &a.token, &list, address, name).await;
            grant(&app, &a.token, &contact, "tracking").await;
        }
        let body = json!({
            "name": "Welcome",
            "list_ids": [list],
            "subject": "Sale for {{ contact.name }}",
            "from_email": "news@shop.example",
            "html": "<html><body><p>Hi {{ contact.name }}</p>\
                     <a href=\"https://shop.example/welcome?u=alice@victim-a.example\">Welcome</a>\
                     <p><a href=\"{{ unsubscribe_url }}\">Leave</a></p></body></html>",
            "tracking": true
        });
        let (_, mail) = send_and_collect(&app, &a.token, body, 4).await;
        let html = html_to(&mail, "alice@victim-a.example");
        let click = urls_with(html, &format!("{}/t/c/", app.address)).remove(0);
        let no_redirects = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        no_redirects.get(&click).send().await.unwrap();
        wait_for_events(&app, &a.token, "type=click", 1).await;
        app.wait_until_idle().await;
        let before = all_rows(&app).await;
        assert!(
            before["jobs"].iter().any(|row| row.contains("u=alice@victim-a.example")),
            "the click's job row names her: {:?}",
            before["jobs"]
        );

        // Account B erases her address, and wildcard spellings that match A's addresses.
        let b = app.create_account("Prober").await;
        for address in [
            "alice@victim-a.example",
            "%@victim-a.example",
            "a%@victim-a.example",
            "_lice@victim-a.example",
        ] {
            let outcome = erase(&app, &b.token, address).await;
            for (count, value) in outcome.as_object().unwrap() {
                let expected = if count == "requests_pseudonymised" { json!(1) } else if value.is_boolean() { json!(false) } else { json!(0) };
                assert_eq!(value, &expected, "{address}: {count} in {outcome}");
            }
        }
        app.wait_until_idle().await;

        // B came after the snapshot: every row there was is still there, byte for byte.
        let after = all_rows(&app).await;
        let mut changed = Vec::new();
        for (table, rows) in &before {
            for row in rows.difference(&after[table]) {
                changed.push(format!("{table}: {row}"));
            }
        }
        assert!(changed.is_empty(), "B's erasures changed A's rows:\n{}", changed.join("\n"));
        let (_, contacts) = app.get("/v1/contacts?limit=10", &a.token).await;
        assert_eq!(contacts["data"].as_array().unwrap().len(), 4, "{contacts}");
    }
}
