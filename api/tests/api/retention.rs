//! Retention, black-box on both backends: the settings (defaults, bounds, audit), and the
//! purge run "as of" a later time through the operator endpoint — what is past each
//! account's own retention goes, what is within it stays, campaign statistics stay.

use std::time::{Duration, Instant};

use mailroom_domain::Id;
use mailroom_domain::jobs::JobRow;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::campaigns::{campaign_body, create_campaign, sandbox, subscriber, wait_for_status};
use crate::helpers::*;
use crate::suppressions::with_db;
use crate::tracking::wait_for_events;

/// The app with a webhook endpoint that refuses connections allowed and given up on at
/// once, so deliveries end `failed` quickly.
pub async fn retention_app(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |vars| {
        vars.insert("MAILROOM_WEBHOOK_ALLOW_PRIVATE".into(), "true".into());
        vars.insert("MAILROOM_WEBHOOK_MAX_ATTEMPTS".into(), "1".into());
        vars.insert("MAILROOM_WEBHOOK_TIMEOUT_MS".into(), "2000".into());
    })
    .await
}

/// RFC 3339 time `days` from now.
pub fn days_ahead(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339()
}

/// Queues a purge as of `as_of` (or now) through the operator endpoint and waits until
/// its job is done.
pub async fn purge(app: &TestApp, as_of: Option<String>) {
    let body = match as_of {
        Some(at) => json!({"as_of": at}),
        None => json!({}),
    };
    let (status, queued) = app
        .request(
            Method::POST,
            "/v1/admin/retention/purge",
            Some(ADMIN_TOKEN),
            Some(body),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    let job: Id = queued["job_id"].as_str().unwrap().parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let row = with_db(app, move |conn| JobRow::find(conn, job).unwrap()).await;
        match row.status.as_str() {
            "done" => return,
            "dead" => panic!("the purge failed: {:?}", row.last_error),
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "the purge never finished: {row:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What an account holds that retention is about.
pub struct Traces {
    pub campaign: String,
    pub webhook: String,
}

/// Gives the account a sent campaign, a transactional message, their events, a failed
/// webhook delivery per event, an inbound report, a suppression and a finished import.
pub async fn leave_traces(app: &TestApp, acct: &TestAccount, tag: &str) -> Traces {
    let token = &acct.token;
    let (status, webhook) = app
        .post(
            "/v1/webhooks",
            token,
            json!({"url": "http://127.0.0.1:9/hook", "event_types": ["*"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{webhook}");
    let list = app.list(token, "News").await;
    subscriber(app, token, &list, &format!("ada.{tag}@example.com"), "Ada").await;
    let campaign = create_campaign(app, token, campaign_body(&list)).await;
    let (status, body) = app
        .post(&format!("/v1/campaigns/{campaign}/send"), token, json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    wait_for_status(app, token, &campaign, "sent").await;
    let res = app
        .client
        .post(app.url("/v1/send"))
        .bearer_auth(token)
        .header("Idempotency-Key", format!("order-{tag}"))
        .json(&json!({"messages": [{
            "from": {"email": "orders@shop.example"},
            "to": [{"email": format!("grace.{tag}@example.com")}],
            "subject": "Your order",
            "text": "Shipped.",
            "custom_id": format!("order-{tag}"),
        }]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    wait_for_events(app, token, "type=sent", 2).await;
    let res = app
        .client
        .post(app.url("/v1/inbound/messages"))
        .bearer_auth(token)
        .header("content-type", "message/rfc822")
        .body("Subject: out of office\r\n\r\nBack on Monday.\r\n")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let (status, body) = app
        .post(
            "/v1/suppressions",
            token,
            json!({"email": format!("spam.{tag}@example.com")}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let webhook = webhook["id"].as_str().unwrap().to_owned();
    wait_for_final_deliveries(app, token, &webhook, 2).await;
    Traces { campaign, webhook }
}

async fn wait_for_final_deliveries(app: &TestApp, token: &str, webhook: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let all = deliveries(app, token, webhook).await;
        if all.len() >= n && all.iter().all(|d| d["status"] != "pending") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "deliveries never finished: {all:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn deliveries(app: &TestApp, token: &str, webhook: &str) -> Vec<Value> {
    app.all_pages(token, &format!("/v1/webhooks/{webhook}/deliveries"), 500)
        .await
}

async fn events(app: &TestApp, token: &str) -> Vec<Value> {
    app.all_pages(token, "/v1/events", 500).await
}

async fn inbound_reports(app: &TestApp, token: &str) -> Vec<Value> {
    app.all_pages(token, "/v1/inbound/reports", 500).await
}

async fn get_json(app: &TestApp, token: &str, path: &str) -> Value {
    let (status, body) = app.get(path, token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Messages of the account that still name their recipient.
async fn messages_with_content(app: &TestApp, account: &str) -> i64 {
    let sql = format!(
        "SELECT count(*) AS n FROM messages WHERE account_id = '{account}' AND (to_email <> '' OR subject IS NOT NULL OR custom_id IS NOT NULL)"
    );
    with_db(app, move |conn| count(conn, &sql)).await
}

pub fn count(conn: &mut mailroom_domain::store::DbConnection, sql: &str) -> i64 {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(sql).get_result::<Count>(conn).unwrap().n
}

async fn retention_settings_default_change_and_refuse_out_of_bounds_values(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acct = app.create_account("Shop").await;
    let other = app.create_account("Other").await;
    let account = get_json(&app, &acct.token, "/v1/account").await;
    assert_eq!(
        account["retention"],
        json!({"events_days": 395, "messages_days": 90, "dsr_exports_days": 30, "webhook_deliveries_days": 30})
    );
    assert_eq!(account["deletion_due_at"], Value::Null);

    let (status, changed) = app
        .patch(
            "/v1/account",
            &acct.token,
            json!({"retention": {"events_days": 30, "dsr_exports_days": 7}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(
        changed["retention"],
        json!({"events_days": 30, "messages_days": 90, "dsr_exports_days": 7, "webhook_deliveries_days": 30})
    );
    assert_eq!(
        get_json(&app, &acct.token, "/v1/account").await["retention"],
        changed["retention"]
    );
    // Another account's settings are its own.
    assert_eq!(
        get_json(&app, &other.token, "/v1/account").await["retention"]["events_days"],
        395
    );

    for (bad, field) in [
        (json!({"events_days": 0}), "retention.events_days"),
        (json!({"messages_days": 3651}), "retention.messages_days"),
        (
            json!({"webhook_deliveries_days": -5}),
            "retention.webhook_deliveries_days",
        ),
        (
            json!({"dsr_exports_days": "a week"}),
            "retention.dsr_exports_days",
        ),
        (json!({"events_days": 1.5}), "retention.events_days"),
        (json!({"forever": true}), "retention"),
    ] {
        let (status, problem) = app
            .patch("/v1/account", &acct.token, json!({"retention": bad}))
            .await;
        assert_problem(
            status,
            &problem,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert!(
            fields.iter().any(|f| f.starts_with(field)),
            "{bad} → {problem}"
        );
    }
    assert_eq!(
        get_json(&app, &acct.token, "/v1/account").await["retention"]["events_days"],
        30,
        "nothing refused was stored"
    );

    let audit = app
        .all_pages(
            &acct.token,
            "/v1/audit-events?action=account.retention_changed",
            500,
        )
        .await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(
        audit[0]["details"]["fields"],
        json!(["retention.events_days", "retention.dsr_exports_days"])
    );

    // Reading needs account:read, changing account:write.
    let reader = crate::suppressions::scoped_token(&app, &acct, &["account:read"]).await;
    assert_eq!(app.get("/v1/account", &reader).await.0, StatusCode::OK);
    let (status, problem) = app
        .patch(
            "/v1/account",
            &reader,
            json!({"retention": {"events_days": 5}}),
        )
        .await;
    assert_problem(status, &problem, StatusCode::FORBIDDEN, "forbidden");
    // The purge endpoint is the operator's.
    let (status, _) = app
        .post("/v1/admin/retention/purge", &acct.token, json!({}))
        .await;
    assert!(
        status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN,
        "{status}"
    );
    let (status, problem) = app
        .request(
            Method::POST,
            "/v1/admin/retention/purge",
            Some(ADMIN_TOKEN),
            Some(json!({"as_of": "next tuesday"})),
        )
        .await;
    assert_problem(
        status,
        &problem,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
}

async fn a_purge_as_of_a_later_time_removes_only_what_is_past_each_accounts_retention(
    backend: Backend,
) {
    let app = retention_app(backend).await;
    let short = app.create_account("Short memory").await;
    let long = app.create_account("Long memory").await;
    let (status, body) = app
        .patch("/v1/account", &short.token, json!({"retention": {"events_days": 30, "messages_days": 30, "webhook_deliveries_days": 30}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .patch(
            "/v1/account",
            &long.token,
            json!({"retention": {"webhook_deliveries_days": 60}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let short_traces = leave_traces(&app, &short, "short").await;
    let long_traces = leave_traces(&app, &long, "long").await;
    let stats_path = format!("/v1/campaigns/{}/stats", short_traces.campaign);
    let stats_before = get_json(&app, &short.token, &stats_path).await;
    assert_eq!(stats_before["sent"], 1, "{stats_before}");
    let campaign_path = format!("/v1/campaigns/{}", short_traces.campaign);
    let progress_before = get_json(&app, &short.token, &campaign_path).await["progress"].clone();
    let long_events = events(&app, &long.token).await.len();

    // As of now, nothing is past anyone's retention.
    purge(&app, None).await;
    assert_eq!(events(&app, &short.token).await.len(), 2);
    assert_eq!(sandbox(&app, &short.token).await.len(), 2);

    // 40 days on: past the short account's 30 days, within the long account's retention.
    purge(&app, Some(days_ahead(40))).await;
    assert_eq!(events(&app, &short.token).await, Vec::<Value>::new());
    assert_eq!(sandbox(&app, &short.token).await, Vec::<Value>::new());
    assert_eq!(
        inbound_reports(&app, &short.token).await,
        Vec::<Value>::new()
    );
    assert_eq!(
        deliveries(&app, &short.token, &short_traces.webhook).await,
        Vec::<Value>::new()
    );
    assert_eq!(
        messages_with_content(&app, &short.id).await,
        0,
        "message content is purged"
    );
    // Counters and the campaign's progress stay; so do contacts, lists and suppressions.
    assert_eq!(
        get_json(&app, &short.token, &stats_path).await,
        stats_before
    );
    let campaign = get_json(&app, &short.token, &campaign_path).await;
    assert_eq!(campaign["progress"], progress_before);
    assert_eq!(campaign["status"], "sent");
    assert_eq!(
        app.all_pages(&short.token, "/v1/contacts", 500).await.len(),
        1
    );
    assert_eq!(
        app.all_pages(&short.token, "/v1/suppressions", 500)
            .await
            .len(),
        1
    );
    // The other account keeps everything.
    assert_eq!(events(&app, &long.token).await.len(), long_events);
    assert_eq!(sandbox(&app, &long.token).await.len(), 2);
    assert_eq!(inbound_reports(&app, &long.token).await.len(), 1);
    assert_eq!(
        deliveries(&app, &long.token, &long_traces.webhook)
            .await
            .len(),
        2
    );
    assert_eq!(messages_with_content(&app, &long.id).await, 2);

    // 100 days on: past the long account's 90 days of messages and 60 of deliveries,
    // within its 395 days of events.
    purge(&app, Some(days_ahead(100))).await;
    assert_eq!(sandbox(&app, &long.token).await, Vec::<Value>::new());
    assert_eq!(
        inbound_reports(&app, &long.token).await,
        Vec::<Value>::new()
    );
    assert_eq!(
        deliveries(&app, &long.token, &long_traces.webhook).await,
        Vec::<Value>::new()
    );
    assert_eq!(messages_with_content(&app, &long.id).await, 0);
    assert_eq!(events(&app, &long.token).await.len(), long_events);
    // Finished job rows are kept 7 days by default: all of these were older.
    let old_jobs = with_db(&app, |conn| {
        count(
            conn,
            "SELECT count(*) AS n FROM jobs WHERE status = 'done' AND kind <> 'retention.purge'",
        )
    })
    .await;
    assert_eq!(old_jobs, 0);
}

mod sqlite {
    use super::*;

    #[tokio::test]
    async fn retention_settings_default_change_and_refuse_out_of_bounds_values() {
        super::retention_settings_default_change_and_refuse_out_of_bounds_values(Backend::Sqlite)
            .await;
    }

    #[tokio::test]
    async fn a_purge_as_of_a_later_time_removes_only_what_is_past_each_accounts_retention() {
        super::a_purge_as_of_a_later_time_removes_only_what_is_past_each_accounts_retention(
            Backend::Sqlite,
        )
        .await;
    }
}

mod postgres {
    use super::*;

    #[tokio::test]
    async fn retention_settings_default_change_and_refuse_out_of_bounds_values() {
        super::retention_settings_default_change_and_refuse_out_of_bounds_values(Backend::Postgres)
            .await;
    }

    #[tokio::test]
    async fn a_purge_as_of_a_later_time_removes_only_what_is_past_each_accounts_retention() {
        super::a_purge_as_of_a_later_time_removes_only_what_is_past_each_accounts_retention(
            Backend::Postgres,
        )
        .await;
    }
}
