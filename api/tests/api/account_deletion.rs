//! Deleting an account, black-box on both backends: the grace period (nothing is sent, the
//! deletion can be cancelled), and after it an erasure that leaves no row anywhere naming
//! the account — checked by scanning every column of every table — while another account
//! keeps everything.

use mailroom_domain::store::DbConnection;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::campaigns::{campaign_body, create_campaign, subscriber};
use crate::helpers::*;
use crate::retention::{count, days_ahead, leave_traces, purge, retention_app};
use crate::suppressions::with_db;

#[derive(diesel::QueryableByName)]
struct Name {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

/// Every (table, column) whose text holds `needle`, on either backend: tables and columns
/// come from the catalogue, so a table added later is scanned too.
fn columns_holding(conn: &mut DbConnection, needle: &str) -> Vec<String> {
    use diesel::RunQueryDsl;
    let tables: Vec<String> = match conn {
        DbConnection::Sqlite(c) => diesel::sql_query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '__diesel_schema_migrations'",
        )
        .load::<Name>(c)
        .unwrap(),
        DbConnection::Postgres(c) => diesel::sql_query(
            "SELECT table_name::text AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> '__diesel_schema_migrations'",
        )
        .load::<Name>(c)
        .unwrap(),
    }
    .into_iter()
    .map(|n| n.name)
    .collect();
    assert!(tables.len() >= 20, "{tables:?}");
    let mut found = Vec::new();
    for table in tables {
        let (columns, cast): (Vec<String>, fn(&str) -> String) = match conn {
            DbConnection::Sqlite(c) => (
                diesel::sql_query(format!("SELECT name FROM pragma_table_info('{table}')"))
                    .load::<Name>(c)
                    .unwrap()
                    .into_iter()
                    .map(|n| n.name)
                    .collect(),
                |col| format!("CAST(\"{col}\" AS TEXT)"),
            ),
            DbConnection::Postgres(c) => (
                diesel::sql_query(format!(
                    "SELECT column_name::text AS name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = '{table}' AND data_type IN ('text', 'character varying', 'uuid', 'json', 'jsonb')"
                ))
                .load::<Name>(c)
                .unwrap()
                .into_iter()
                .map(|n| n.name)
                .collect(),
                |col| format!("\"{col}\"::text"),
            ),
        };
        for column in columns {
            let sql = format!(
                "SELECT count(*) AS n FROM \"{table}\" WHERE {} LIKE '%{needle}%'",
                cast(&column)
            );
            if count(conn, &sql) > 0 {
                found.push(format!("{table}.{column}"));
            }
        }
    }
    found
}

async fn traces_of(app: &TestApp, account: &str) -> Vec<String> {
    let needle = account.to_owned();
    with_db(app, move |conn| columns_holding(conn, &needle)).await
}

async fn a_deletion_waits_out_its_grace_period_sending_nothing_and_can_be_cancelled(
    backend: Backend,
) {
    let app = retention_app(backend).await;
    let acct = app.create_account("Leaving").await;
    let other = app.create_account("Staying").await;
    let list = app.list(&acct.token, "News").await;
    subscriber(&app, &acct.token, &list, "ada@example.com", "Ada").await;
    let campaign = create_campaign(&app, &acct.token, campaign_body(&list)).await;

    let (status, deletion) = app.delete("/v1/account", &acct.token).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{deletion}");
    assert_eq!(deletion["status"], "pending");
    assert_eq!(deletion["account_id"], acct.id.as_str());
    let due = chrono::DateTime::parse_from_rfc3339(deletion["due_at"].as_str().unwrap()).unwrap();
    let grace = due
        - chrono::DateTime::parse_from_rfc3339(deletion["requested_at"].as_str().unwrap()).unwrap();
    assert_eq!(
        grace,
        chrono::Duration::days(14),
        "the default grace period"
    );
    let account = app.get("/v1/account", &acct.token).await.1;
    assert_eq!(account["deletion_due_at"], deletion["due_at"]);
    // Asking again changes nothing.
    let (status, again) = app.delete("/v1/account", &acct.token).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(again["due_at"], deletion["due_at"]);
    // Another account is not affected, and has no deletion to cancel.
    assert_eq!(
        app.get("/v1/account", &other.token).await.1["deletion_due_at"],
        Value::Null
    );
    let (status, problem) = app.delete("/v1/account/deletion", &other.token).await;
    assert_problem(status, &problem, StatusCode::NOT_FOUND, "not_found");

    // Nothing is sent while the deletion is pending.
    let send_path = format!("/v1/campaigns/{campaign}/send");
    let (status, problem) = app.post(&send_path, &acct.token, json!({})).await;
    assert_problem(status, &problem, StatusCode::CONFLICT, "conflict");
    let (status, problem) = app
        .post(
            &format!("/v1/campaigns/{campaign}/schedule"),
            &acct.token,
            json!({"send_at": days_ahead(1)}),
        )
        .await;
    assert_problem(status, &problem, StatusCode::CONFLICT, "conflict");
    let (status, problem) = app
        .post(
            &format!("/v1/campaigns/{campaign}/test"),
            &acct.token,
            json!({"emails": ["qa@example.com"]}),
        )
        .await;
    assert_problem(status, &problem, StatusCode::CONFLICT, "conflict");
    let message = json!({"messages": [{"from": {"email": "a@shop.example"}, "to": [{"email": "b@example.com"}], "subject": "Hi", "text": "Hi"}]});
    let (status, problem) = app.post("/v1/send", &acct.token, message.clone()).await;
    assert_problem(status, &problem, StatusCode::CONFLICT, "conflict");
    assert_eq!(
        app.post("/v1/send", &other.token, message).await.0,
        StatusCode::ACCEPTED
    );

    // Within the grace period the purge leaves the account alone.
    purge(&app, Some(days_ahead(13))).await;
    assert_eq!(app.get("/v1/account", &acct.token).await.0, StatusCode::OK);

    // Cancelling: the account is as it was and sends again.
    let (status, cancelled) = app.delete("/v1/account/deletion", &acct.token).await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["deletion_due_at"], Value::Null);
    assert_eq!(cancelled["deletion_requested_at"], Value::Null);
    let (status, problem) = app.delete("/v1/account/deletion", &acct.token).await;
    assert_problem(status, &problem, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = app.post(&send_path, &acct.token, json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    purge(&app, Some(days_ahead(30))).await;
    assert_eq!(
        app.get("/v1/account", &acct.token).await.0,
        StatusCode::OK,
        "a cancelled deletion never happens"
    );

    let audit = app
        .all_pages(&acct.token, "/v1/audit-events?action=account.", 500)
        .await;
    let actions: Vec<&str> = audit
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"account.deletion_requested")
            && actions.contains(&"account.deletion_cancelled"),
        "{actions:?}"
    );

    // Deleting needs account:write.
    let reader = crate::suppressions::scoped_token(&app, &acct, &["account:read"]).await;
    let (status, problem) = app.delete("/v1/account", &reader).await;
    assert_problem(status, &problem, StatusCode::FORBIDDEN, "forbidden");
}

/// Sending-domain rows left in the database (the staying account has none).
async fn sending_domain_rows(app: &TestApp) -> i64 {
    use diesel::prelude::*;
    use mailroom_domain::schema::sending_domains;
    let url = app.database_url();
    tokio::task::spawn_blocking(move || {
        let conn = &mut mailroom_domain::store::DbConnection::open(&url).unwrap();
        sending_domains::table.count().get_result(conn).unwrap()
    })
    .await
    .unwrap()
}

async fn after_the_grace_period_no_table_holds_a_row_of_the_deleted_account(backend: Backend) {
    let app = retention_app(backend).await;
    let acct = app.create_account("Leaving").await;
    let other = app.create_account("Staying").await;
    leave_traces(&app, &acct, "leaving").await;
    leave_traces(&app, &other, "staying").await;
    // More of what an account holds: a property, a second key, a finished import.
    let (status, body) = app
        .post(
            "/v1/contact-properties",
            &acct.token,
            json!({"name": "plan", "type": "string"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    crate::suppressions::scoped_token(&app, &acct, &["contacts:read"]).await;
    // A sending domain, with its sealed DKIM key.
    crate::sending_domains::add_domain(&app, &acct.token, json!({"domain": "leaving.example"}))
        .await;
    let list = app.list(&acct.token, "Imported").await;
    let res = app
        .client
        .post(app.url(&format!("/v1/lists/{list}/imports?source=crm")))
        .bearer_auth(&acct.token)
        .header("content-type", "text/csv")
        .body("email,plan\nlin@example.com,pro\n")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let import: Value = res.json().await.unwrap();
    let import_path = format!("/v1/imports/{}", import["id"].as_str().unwrap());
    for _ in 0..300 {
        if app.get(&import_path, &acct.token).await.1["status"] == "completed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        app.get(&import_path, &acct.token).await.1["status"],
        "completed"
    );
    assert!(
        traces_of(&app, &acct.id).await.len() > 10,
        "the scan finds what is there"
    );

    let (status, body) = app.delete("/v1/account", &acct.token).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    purge(&app, Some(days_ahead(15))).await;

    assert_eq!(traces_of(&app, &acct.id).await, Vec::<String>::new());
    assert_eq!(
        sending_domain_rows(&app).await,
        0,
        "the domain and its key went with the account"
    );
    let (status, _) = app.get("/v1/account", &acct.token).await;
    assert!(
        status == StatusCode::UNAUTHORIZED || status == StatusCode::NOT_FOUND,
        "{status}"
    );
    let (status, _) = app
        .request(
            reqwest::Method::POST,
            "/v1/auth/token",
            None,
            Some(json!({"key_id": acct.key_id, "secret": acct.secret})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The other account keeps everything.
    assert_eq!(app.get("/v1/account", &other.token).await.0, StatusCode::OK);
    assert_eq!(
        app.all_pages(&other.token, "/v1/events", 500).await.len(),
        2
    );
    assert_eq!(
        app.all_pages(&other.token, "/v1/contacts", 500).await.len(),
        1
    );
    assert_eq!(
        app.all_pages(&other.token, "/v1/sandbox/messages", 500)
            .await
            .len(),
        2
    );
    assert!(traces_of(&app, &other.id).await.len() > 10);
}

mod sqlite {
    use super::*;

    #[tokio::test]
    async fn a_deletion_waits_out_its_grace_period_sending_nothing_and_can_be_cancelled() {
        super::a_deletion_waits_out_its_grace_period_sending_nothing_and_can_be_cancelled(
            Backend::Sqlite,
        )
        .await;
    }

    #[tokio::test]
    async fn after_the_grace_period_no_table_holds_a_row_of_the_deleted_account() {
        super::after_the_grace_period_no_table_holds_a_row_of_the_deleted_account(Backend::Sqlite)
            .await;
    }
}

mod postgres {
    use super::*;

    #[tokio::test]
    async fn a_deletion_waits_out_its_grace_period_sending_nothing_and_can_be_cancelled() {
        super::a_deletion_waits_out_its_grace_period_sending_nothing_and_can_be_cancelled(
            Backend::Postgres,
        )
        .await;
    }

    #[tokio::test]
    async fn after_the_grace_period_no_table_holds_a_row_of_the_deleted_account() {
        super::after_the_grace_period_no_table_holds_a_row_of_the_deleted_account(
            Backend::Postgres,
        )
        .await;
    }
}
