//! What one transactional send may cost and carry: its renders run off the HTTP threads
//! under a budget for the whole request, and it may not forge the headers servers write or
//! ask for read receipts.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_backends;

/// A loop that stays under one render's fuel limit (2,000,000) but costs most of it,
/// nested as in the reproduction; with `per_recipient`, its output depends on the
/// recipient, so no render can stand for another's.
fn heavy_template(per_recipient: bool) -> String {
    let body = if per_recipient {
        "{{ contact.email|length }}"
    } else {
        "x"
    };
    format!(
        "{{% for i in range(800) %}}{{% for j in range(250) %}}{body}{{% endfor %}}{{% endfor %}}"
    )
}

/// The reproduction's request: 50 messages of 50 recipients each, every one rendering the
/// heavy template (about 100 KB of JSON).
fn heavy_send(per_recipient: bool) -> Value {
    let html = heavy_template(per_recipient);
    let messages: Vec<Value> = (0..50)
        .map(|m| {
            let to: Vec<Value> = (0..50)
                .map(|r| json!({"email": format!("r{m}-{r}@example.com")}))
                .collect();
            json!({
                "from": {"email": "orders@shop.example"},
                "to": to,
                "subject": "Receipt",
                "html": html,
            })
        })
        .collect();
    json!({"sandbox_mode": true, "messages": messages})
}

fn assert_budget_problem(status: StatusCode, body: &Value) {
    assert_problem(
        status,
        body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "render_budget_exceeded",
    );
    let field = body["field"].as_str().unwrap_or_default();
    assert!(
        field.starts_with("messages[") && field.ends_with("].html"),
        "the template part is named: {body}"
    );
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("].to[") && detail.contains("budget"),
        "the recipient and the budget are named: {body}"
    );
}

/// `(running, waiting)` requests of the render pool, from `/metrics`.
async fn render_load(app: &TestApp) -> (u64, u64) {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let gauge = |state: &str| {
        let prefix = format!("mailroom_render_requests{{state=\"{state}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .unwrap_or_else(|| panic!("no {prefix} in {text}"))
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    (gauge("running"), gauge("waiting"))
}

#[tokio::test]
async fn a_heavy_send_to_many_recipients_answers_422_when_its_render_budget_runs_out() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let acct = app.create_account("Shop").await;
    // Each recipient's render differs: the request stops at its fuel or time budget.
    let (status, body) = app.post("/v1/send", &acct.token, heavy_send(true)).await;
    assert_budget_problem(status, &body);

    // One render stands for every recipient, but each is charged: the same answer, at once.
    let (status, body) = app.post("/v1/send", &acct.token, heavy_send(false)).await;
    assert_budget_problem(status, &body);
    assert!(
        body["detail"].as_str().unwrap().contains("fuel"),
        "the fuel budget, not the time, ran out: {body}"
    );

    // A light template to as many recipients is well within the budget.
    let mut light = heavy_send(true);
    for message in light["messages"].as_array_mut().unwrap() {
        message["html"] = json!("<p>Hi {{ contact.email }}</p>");
    }
    let (status, body) = app.post("/v1/send", &acct.token, light).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(
        body["messages"][49]["to"][49]["status"], "sandbox",
        "{body}"
    );
}

#[tokio::test]
async fn health_answers_while_two_heavy_sends_render() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let acct = app.create_account("Shop").await;
    let sends: Vec<_> = (0..2)
        .map(|_| {
            let request = app
                .client
                .post(app.url("/v1/send"))
                .bearer_auth(&acct.token)
                .json(&heavy_send(true));
            tokio::spawn(async move {
                let res = request.send().await.unwrap();
                (res.status(), res.json::<Value>().await.unwrap())
            })
        })
        .collect();

    // Both sends are in the server, rendering or waiting for a render slot.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (running, waiting) = render_load(&app).await;
        if running + waiting == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the sends never started rendering: {running} running, {waiting} waiting"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let (running, _) = render_load(&app).await;
    assert!(
        running >= 1 && sends.iter().all(|s| !s.is_finished()),
        "/healthz answered while the sends were still rendering"
    );

    for send in sends {
        let (status, body) = send.await.unwrap();
        assert_budget_problem(status, &body);
    }
    assert_eq!(render_load(&app).await, (0, 0));
}

/// A message with one custom header, as the reproduction sent it.
fn with_header(name: &str, value: &str) -> Value {
    json!({"messages": [{
        "from": {"email": "orders@shop.example"},
        "to": [{"email": "grace@example.com"}],
        "subject": "Receipt",
        "text": "Thanks",
        "headers": {name: value}
    }]})
}

on_both_backends! {
    async fn a_send_may_not_ask_for_read_receipts_or_forge_what_servers_write(app) {
        let acct = app.create_account("Shop").await;
        let refused = [
            ("Disposition-Notification-To", "track@shop.example", "read receipt"),
            ("Return-Receipt-To", "track@shop.example", "read receipt"),
            ("X-Confirm-Reading-To", "track@shop.example", "read receipt"),
            ("Resent-From", "ceo@bank.example", "mail servers"),
            ("Resent-To", "victim@example.com", "mail servers"),
            ("Authentication-Results", "mx.example; dkim=pass; spf=pass; dmarc=pass", "mail servers"),
            ("ARC-Authentication-Results", "i=1; mx.example; dmarc=pass", "mail servers"),
            ("ARC-Seal", "i=1; a=rsa-sha256; cv=none; d=bank.example; s=k; b=x", "mail servers"),
            ("Received-SPF", "pass", "mail servers"),
            ("Errors-To", "collector@evil.example", "set by Mailroom"),
            ("DKIM-Signature", "v=1; d=bank.example", "set by Mailroom"),
            ("Received", "from mx.bank.example", "set by Mailroom"),
            ("Return-Path", "<bounce@evil.example>", "set by Mailroom"),
        ];
        for (name, value, why) in refused {
            let (status, body) = app.post("/v1/send", &acct.token, with_header(name, value)).await;
            assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
            let errors = body["errors"].as_array().unwrap();
            assert_eq!(errors.len(), 1, "{body}");
            assert_eq!(errors[0]["field"], format!("messages[0].headers.{name}"), "{body}");
            let message = errors[0]["message"].as_str().unwrap();
            assert!(message.contains(name) && message.contains(why), "{name}: {message}");
        }
        // One offending message refuses the whole request, naming every offending header,
        // and nothing of it is queued: not even its good message.
        let good = with_header("X-Order", "A-16")["messages"][0].clone();
        let mut bad = with_header("Resent-From", "ceo@bank.example")["messages"][0].clone();
        bad["headers"]["Errors-To"] = json!("collector@evil.example");
        let (status, body) = app
            .post("/v1/send", &acct.token, json!({"messages": [good, bad]}))
            .await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        let mut fields: Vec<&str> = body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        fields.sort();
        assert_eq!(
            fields,
            ["messages[1].headers.Errors-To", "messages[1].headers.Resent-From"],
            "{body}"
        );
        // An ordinary custom header still goes through.
        let (status, body) = app.post("/v1/send", &acct.token, with_header("X-Order", "A-17")).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(body["messages"][0]["status"], "success", "{body}");
        app.wait_until_idle().await;
        let (_, mailbox) = app.get("/v1/sandbox/messages", &acct.token).await;
        let delivered = mailbox["data"].as_array().unwrap();
        assert_eq!(delivered.len(), 1, "only the ordinary message was delivered: {mailbox}");
        let raw = delivered[0]["raw"].as_str().unwrap().to_ascii_lowercase();
        assert!(raw.contains("x-order: a-17"), "{raw}");
        assert!(!raw.contains("disposition-notification-to") && !raw.contains("resent-"), "{raw}");

        // Campaigns take no custom headers at all.
        let list = app.list(&acct.token, "News").await;
        let mut campaign = crate::campaigns::campaign_body(&list);
        campaign["headers"] = json!({"Disposition-Notification-To": "track@shop.example"});
        let (status, body) = app.post("/v1/campaigns", &acct.token, campaign).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
}
