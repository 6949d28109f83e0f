//! Delivery through a real SMTP server (aiosmtpd, `scripts/smtp_server.py`): what the
//! relay receives, retries and bounces, a relay that keeps failing, cancel mid-send, and
//! transactional mail. Recipients named `tempfail…` get 451, `bounce…` get 550.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::campaigns::{campaign_body, create_campaign, readers, subscriber, wait_for_status};
use crate::helpers::*;
use crate::smtp_server::SmtpServer;

/// The app delivering through `server`, with quick retries and `extra` variables.
pub async fn app_with_relay(
    backend: Backend,
    server: &SmtpServer,
    extra: &[(&str, &str)],
) -> TestApp {
    let url = server.url();
    let extra: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    TestApp::spawn_with(backend, move |vars| {
        vars.insert("SMTP_URL".into(), url);
        vars.insert("MAILROOM_RETRY_BASE_MS".into(), "50".into());
        vars.insert("MAILROOM_DELIVERY_MAX_ATTEMPTS".into(), "3".into());
        for (k, v) in extra {
            vars.insert(k, v);
        }
    })
    .await
}

fn header(data: &str, name: &str) -> Option<String> {
    let parsed = mail_parser::MessageParser::default().parse(data.as_bytes())?;
    parsed.header_raw(name).map(|v| v.trim().to_owned())
}

async fn progress(app: &TestApp, token: &str, campaign: &str) -> Value {
    app.get(&format!("/v1/campaigns/{campaign}"), token).await.1["progress"].clone()
}

async fn backends_delivered_bounced_and_failed(backend: Backend) {
    let server = SmtpServer::start();
    let app = app_with_relay(backend, &server, &[]).await;
    let acct = app.create_account("Shop").await;
    let list = app.list(&acct.token, "News").await;
    subscriber(&app, &acct.token, &list, "ada@example.com", "Ada").await;
    subscriber(&app, &acct.token, &list, "bounce-me@example.com", "B").await;
    subscriber(&app, &acct.token, &list, "tempfail-me@example.com", "T").await;
    let campaign = create_campaign(&app, &acct.token, campaign_body(&list)).await;
    app.post(
        &format!("/v1/campaigns/{campaign}/send"),
        &acct.token,
        json!({}),
    )
    .await;
    let done = wait_for_status(&app, &acct.token, &campaign, "sent").await;
    let p = &done["progress"];
    assert_eq!(
        (
            p["recipients"].as_i64(),
            p["sent"].as_i64(),
            p["bounced"].as_i64(),
            p["failed"].as_i64()
        ),
        (Some(3), Some(1), Some(1), Some(1)),
        "{done}"
    );

    let received = server.received();
    assert_eq!(received.len(), 1, "the relay accepted exactly one message");
    let message = &received[0];
    assert_eq!(message.rcpt_tos, ["ada@example.com"]);
    assert!(
        message.mail_from.starts_with("bounces+"),
        "VERP return path: {}",
        message.mail_from
    );
    assert_eq!(
        header(&message.data, "List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    assert!(
        header(&message.data, "List-Unsubscribe")
            .unwrap()
            .contains("/u/")
    );
    let message_id = header(&message.data, "X-Mailroom-Message-Id").unwrap();
    assert!(
        message.mail_from.contains(&message_id.replace('-', "")),
        "the return path names the message"
    );
    // ada, bounce-me, and tempfail-me three times (each attempt a MAIL FROM).
    assert!(
        server.mail_commands().len() >= 5,
        "the 451 was retried: {:?}",
        server.mail_commands()
    );

    // The hard bounce suppressed the address: a second campaign skips it.
    let (_, suppressions) = app
        .get("/v1/suppressions?reason=hard_bounce", &acct.token)
        .await;
    let emails: Vec<&str> = suppressions["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["bounce-me@example.com"]);
    let again = create_campaign(&app, &acct.token, campaign_body(&list)).await;
    app.post(
        &format!("/v1/campaigns/{again}/send"),
        &acct.token,
        json!({}),
    )
    .await;
    let second = wait_for_status(&app, &acct.token, &again, "sent").await;
    assert_eq!(second["progress"]["recipients"], 2, "{second}");
    let bounced_twice = server.mail_commands().len();
    assert!(
        server
            .received()
            .iter()
            .all(|m| m.rcpt_tos != ["bounce-me@example.com"])
    );
    assert!(bounced_twice > 0);
}

#[tokio::test]
async fn relay_outcomes_sqlite() {
    backends_delivered_bounced_and_failed(Backend::Sqlite).await;
}

#[tokio::test]
async fn relay_outcomes_postgres() {
    backends_delivered_bounced_and_failed(Backend::Postgres).await;
}

async fn pause_on_relay_failure(backend: Backend) {
    let server = SmtpServer::start();
    let app = app_with_relay(
        backend,
        &server,
        &[
            ("MAILROOM_PAUSE_AFTER_FAILURES", "3"),
            ("MAILROOM_DELIVERY_MAX_ATTEMPTS", "20"),
        ],
    )
    .await;
    let acct = app.create_account("Shop").await;
    let list = app.list(&acct.token, "News").await;
    readers(&app, &acct.token, &list, 6).await;
    server.fail_all(true);
    let campaign = create_campaign(&app, &acct.token, campaign_body(&list)).await;
    app.post(
        &format!("/v1/campaigns/{campaign}/send"),
        &acct.token,
        json!({}),
    )
    .await;
    let paused = wait_for_status(&app, &acct.token, &campaign, "paused").await;
    assert!(
        paused["paused_reason"]
            .as_str()
            .unwrap()
            .contains("consecutive delivery failures"),
        "{paused}"
    );
    assert_eq!(server.received().len(), 0);
    // Paused means paused: once the attempts already under way when it paused are over,
    // nothing more is tried while the relay is down.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let attempts = server.mail_commands().len();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        server.mail_commands().len(),
        attempts,
        "no attempts while paused"
    );

    server.fail_all(false);
    let (status, resumed) = app
        .post(
            &format!("/v1/campaigns/{campaign}/resume"),
            &acct.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{resumed}");
    let done = wait_for_status(&app, &acct.token, &campaign, "sent").await;
    assert_eq!(done["progress"]["sent"], 6, "{done}");
    let mut to: Vec<String> = server
        .received()
        .iter()
        .map(|m| m.rcpt_tos[0].clone())
        .collect();
    to.sort();
    to.dedup();
    assert_eq!(to.len(), 6);
    assert_eq!(
        server.received().len(),
        6,
        "each reader got exactly one copy"
    );
}

#[tokio::test]
async fn a_campaign_pauses_itself_when_the_relay_keeps_failing_and_resumes_sqlite() {
    pause_on_relay_failure(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_campaign_pauses_itself_when_the_relay_keeps_failing_and_resumes_postgres() {
    pause_on_relay_failure(Backend::Postgres).await;
}

async fn cancel_mid_send(backend: Backend) {
    let server = SmtpServer::start();
    let app = app_with_relay(backend, &server, &[("MAILROOM_SEND_CONCURRENCY", "1")]).await;
    let acct = app.create_account("Shop").await;
    let list = app.list(&acct.token, "News").await;
    readers(&app, &acct.token, &list, 5).await;
    server.slow(true);
    let campaign = create_campaign(&app, &acct.token, campaign_body(&list)).await;
    app.post(
        &format!("/v1/campaigns/{campaign}/send"),
        &acct.token,
        json!({}),
    )
    .await;
    // Wait until the first message is inside its (slow) SMTP transaction.
    let deadline = Instant::now() + Duration::from_secs(15);
    while server.mail_commands().is_empty() {
        assert!(Instant::now() < deadline, "nothing reached the relay");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, cancelled) = app
        .post(
            &format!("/v1/campaigns/{campaign}/cancel"),
            &acct.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    server.slow(false);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let p = progress(&app, &acct.token, &campaign).await;
    assert!(
        server.received().len() <= 1,
        "only the message already in flight may arrive"
    );
    assert_eq!(
        p["skipped"].as_i64().unwrap() + p["sent"].as_i64().unwrap(),
        5,
        "{p}"
    );
    assert_eq!(p["queued"], 0, "{p}");
    let (_, after) = app
        .get(&format!("/v1/campaigns/{campaign}"), &acct.token)
        .await;
    assert_eq!(after["status"], "cancelled");
}

#[tokio::test]
async fn cancelling_mid_send_stops_the_rest_sqlite() {
    cancel_mid_send(Backend::Sqlite).await;
}

#[tokio::test]
async fn cancelling_mid_send_stops_the_rest_postgres() {
    cancel_mid_send(Backend::Postgres).await;
}

async fn transactional(backend: Backend) {
    let server = SmtpServer::start();
    let app = app_with_relay(backend, &server, &[]).await;
    let acct = app.create_account("Shop").await;
    app.post(
        "/v1/suppressions",
        &acct.token,
        json!({"email": "blocked@example.com", "reason": "manual"}),
    )
    .await;
    let request = json!({"messages": [
        {
            "from": {"email": "orders@shop.example", "name": "Shop"},
            "to": [{"email": "Ada@Example.com", "name": "Ada"}, {"email": "blocked@example.com"}],
            "subject": "Order {{ order_id }} shipped",
            "html": "<p>Hi {{ contact.name }}, order {{ vars.order_id }} is on its way.</p>",
            "variables": {"order_id": "A-17"},
            "custom_id": "order-A-17",
            "headers": {"X-Order": "A-17"}
        },
        {"from": {"email": "orders@shop.example"}, "to": [{"email": "not-an-address"}], "subject": "x", "text": "x"},
        {"from": {"email": "orders@shop.example"}, "to": [{"email": "b@example.com"}], "subject": "{% if %}", "text": "x"}
    ]});
    let send = |key: &'static str| {
        app.client
            .post(app.url("/v1/send"))
            .bearer_auth(&acct.token)
            .header("Idempotency-Key", key)
            .json(&request)
    };
    let res = send("order-A-17").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let body: Value = res.json().await.unwrap();
    let results = body["messages"].as_array().unwrap();
    assert_eq!(results[0]["status"], "success", "{body}");
    assert_eq!(results[0]["custom_id"], "order-A-17");
    assert_eq!(results[0]["to"][0]["status"], "queued");
    assert_eq!(results[0]["to"][0]["email"], "ada@example.com");
    assert!(results[0]["to"][0]["message_id"].is_string());
    assert_eq!(results[0]["to"][1]["status"], "suppressed");
    assert_eq!(results[1]["status"], "error");
    assert_eq!(results[1]["errors"][0]["field"], "messages[1].to[0].email");
    assert_eq!(results[2]["status"], "error");
    assert_eq!(results[2]["errors"][0]["field"], "messages[2].subject");

    let received = server.wait_for_async(1, Duration::from_secs(20)).await;
    assert_eq!(received[0].rcpt_tos, ["ada@example.com"]);
    let parsed = mail_parser::MessageParser::default()
        .parse(received[0].data.as_bytes())
        .unwrap();
    assert_eq!(parsed.subject(), Some("Order A-17 shipped"));
    assert!(
        parsed
            .body_html(0)
            .unwrap()
            .contains("Hi Ada, order A-17 is on its way.")
    );
    assert_eq!(
        header(&received[0].data, "X-Order").as_deref(),
        Some("A-17")
    );
    assert!(
        header(&received[0].data, "List-Unsubscribe").is_none(),
        "transactional mail is not list mail"
    );

    // The retry replays the first answer and sends nothing more.
    let replay = send("order-A-17").send().await.unwrap();
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    let replayed: Value = replay.json().await.unwrap();
    assert_eq!(replayed, body);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(server.received().len(), 1);

    // Sandbox mode validates and renders, and delivers nothing.
    let mut sandboxed = request.clone();
    sandboxed["sandbox_mode"] = json!(true);
    let (status, body) = app.post("/v1/send", &acct.token, sandboxed).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(body["messages"][0]["to"][0]["status"], "sandbox");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(server.received().len(), 1);

    let (status, problem) = app
        .post("/v1/send", &acct.token, json!({"messages": []}))
        .await;
    assert_problem(
        status,
        &problem,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
}

#[tokio::test]
async fn transactional_send_reports_each_message_and_recipient_sqlite() {
    transactional(Backend::Sqlite).await;
}

#[tokio::test]
async fn transactional_send_reports_each_message_and_recipient_postgres() {
    transactional(Backend::Postgres).await;
}
