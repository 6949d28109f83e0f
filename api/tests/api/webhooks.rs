//! Webhooks, black-box: endpoints (CRUD, validation, scopes, isolation, secrets shown once)
//! and deliveries to a real receiver (`scripts/webhook_receiver.py`) that verifies every
//! signature with the `standardwebhooks` Python package — an independent implementation of
//! the specification. Events come from real sends through the sandbox, recorded by the
//! embedded events worker; deliveries go out from the embedded webhook worker.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::webhook_receiver::WebhookReceiver;

/// The app with private endpoints allowed (the receiver is on loopback), quick retries,
/// and `extra` variables.
async fn app_with(backend: Backend, extra: &[(&str, &str)]) -> TestApp {
    let extra: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    TestApp::spawn_with(backend, move |vars| {
        vars.insert("MAILROOM_WEBHOOK_ALLOW_PRIVATE".into(), "true".into());
        vars.insert("MAILROOM_WEBHOOK_RETRY_BASE_MS".into(), "100".into());
        vars.insert("MAILROOM_WEBHOOK_MAX_ATTEMPTS".into(), "8".into());
        vars.insert("MAILROOM_WEBHOOK_TIMEOUT_MS".into(), "5000".into());
        for (k, v) in extra {
            vars.insert(k, v);
        }
    })
    .await
}

async fn create_webhook(app: &TestApp, token: &str, body: Value) -> Value {
    let (status, made) = app.post("/v1/webhooks", token, body).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    made
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

/// Sends one transactional message through the sandbox; answers its message id.
async fn send_one(app: &TestApp, token: &str, to: &str, custom_id: &str) -> String {
    let (status, body) = app
        .post(
            "/v1/send",
            token,
            json!({"messages": [{
                "from": {"email": "orders@shop.example"},
                "to": [{"email": to}],
                "subject": "Your order",
                "text": "Shipped.",
                "custom_id": custom_id,
            }]}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["messages"][0]["to"][0]["status"], "queued", "{body}");
    body["messages"][0]["to"][0]["message_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn deliveries(app: &TestApp, token: &str, webhook: &str) -> Vec<Value> {
    let (status, body) = app
        .get(&format!("/v1/webhooks/{webhook}/deliveries"), token)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].as_array().unwrap().clone()
}

/// Polls the delivery log until its newest delivery satisfies `done`.
async fn wait_for_delivery(
    app: &TestApp,
    token: &str,
    webhook: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = deliveries(app, token, webhook).await;
        if let Some(newest) = log.first().filter(|d| done(d)) {
            return newest.clone();
        }
        assert!(Instant::now() < deadline, "no delivery {what}: {log:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn field_names(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["field"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

async fn endpoints_are_created_listed_updated_and_deleted(backend: Backend) {
    let app = app_with(backend, &[]).await;
    let acct = app.create_account("Shop").await;
    let token = &acct.token;
    let made = create_webhook(
        &app,
        token,
        json!({"url": "https://hooks.shop.example/mailroom", "event_types": ["click", "sent", "click"]}),
    )
    .await;
    let secret = made["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{made}");
    assert_eq!(made["event_types"], json!(["sent", "click"]));
    assert_eq!(made["enabled"], true);
    assert_eq!(made["disabled_reason"], Value::Null);
    assert_eq!(made["previous_secret_expires_at"], Value::Null);
    let id = id_of(&made);

    // The secret is shown once: no later answer carries it.
    let (status, shown) = app.get(&format!("/v1/webhooks/{id}"), token).await;
    assert_eq!(status, StatusCode::OK);
    assert!(shown.get("secret").is_none(), "{shown}");
    assert!(!shown.to_string().contains(secret));
    assert_eq!(shown["url"], "https://hooks.shop.example/mailroom");
    // Nor does the database hold it in the clear: it is sealed at rest.
    {
        use diesel::prelude::*;
        use mailroom_domain::schema::webhooks;
        let pool = mailroom_domain::store::build_pool(&app.database_url(), &Default::default());
        let mut conn = mailroom_domain::store::checkout(&pool).unwrap();
        let stored: Vec<String> = webhooks::table
            .select(webhooks::secret)
            .load(&mut conn)
            .unwrap();
        let bare = secret.trim_start_matches("whsec_");
        assert!(
            stored
                .iter()
                .all(|s| s.starts_with("sealed:v1:") && !s.contains(bare)),
            "{stored:?}"
        );
    }

    let second = create_webhook(
        &app,
        token,
        json!({"url": "https://hooks.shop.example/all", "event_types": ["*"], "enabled": false}),
    )
    .await;
    assert_eq!(second["event_types"], json!(["*"]));
    assert_eq!(second["enabled"], false);
    let all = app.all_pages(token, "/v1/webhooks", 1).await;
    let ids: Vec<String> = all.iter().map(id_of).collect();
    assert_eq!(ids, [id.clone(), id_of(&second)]);
    assert!(!Value::from(all).to_string().contains("whsec_"));

    let (status, updated) = app
        .patch(
            &format!("/v1/webhooks/{id}"),
            token,
            json!({"url": "https://hooks.shop.example/v2", "event_types": ["bounce", "*"], "enabled": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["url"], "https://hooks.shop.example/v2");
    assert_eq!(updated["event_types"], json!(["*"]));
    assert_eq!(updated["enabled"], false);
    let (status, unchanged) = app
        .patch(&format!("/v1/webhooks/{id}"), token, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(unchanged["url"], updated["url"]);

    // Bad input is a 422 naming each bad field.
    let cases = [
        (json!({"event_types": ["sent"]}), vec!["url"]),
        (
            json!({"url": "ftp://hooks.example/", "event_types": ["sent"]}),
            vec!["url"],
        ),
        (
            json!({"url": "not a url", "event_types": ["sent"]}),
            vec!["url"],
        ),
        (
            json!({"url": "https://hooks.example/", "event_types": []}),
            vec!["event_types"],
        ),
        (
            json!({"url": "https://hooks.example/", "event_types": ["sent", "opened"]}),
            vec!["event_types[1]"],
        ),
        (
            json!({"url": "https://u:p@hooks.example/", "event_types": ["nope"]}),
            vec!["url", "event_types[0]"],
        ),
        (
            json!({"url": "https://hooks.example/", "event_types": "sent"}),
            vec!["event_types"],
        ),
    ];
    for (body, fields) in cases {
        let (status, problem) = app.post("/v1/webhooks", token, body.clone()).await;
        assert_problem(
            status,
            &problem,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert_eq!(field_names(&problem), fields, "{body}: {problem}");
    }
    let (status, problem) = app
        .post(
            "/v1/webhooks",
            token,
            json!({"url": "https://hooks.example/", "event_types": ["sent"], "secret": "whsec_x"}),
        )
        .await;
    assert_problem(
        status,
        &problem,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    for (body, field) in [
        (json!({"url": "javascript:alert(1)"}), "url"),
        (json!({"event_types": []}), "event_types"),
        (json!({"enabled": "yes"}), "enabled"),
    ] {
        let (status, problem) = app
            .patch(&format!("/v1/webhooks/{id}"), token, body.clone())
            .await;
        assert_problem(
            status,
            &problem,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert_eq!(field_names(&problem), [field], "{body}: {problem}");
    }

    // Scopes: a read-only key reads, and changes nothing.
    let (status, key) = app
        .post(
            "/v1/api-keys",
            token,
            json!({"name": "reader", "scopes": ["webhooks:read"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    let reader = app
        .token_for(key["id"].as_str().unwrap(), key["secret"].as_str().unwrap())
        .await;
    let (status, _) = app.get("/v1/webhooks", &reader).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .get(&format!("/v1/webhooks/{id}/deliveries"), &reader)
        .await;
    assert_eq!(status, StatusCode::OK);
    for path in [
        "/v1/webhooks".to_owned(),
        format!("/v1/webhooks/{id}/test"),
        format!("/v1/webhooks/{id}/rotate-secret"),
    ] {
        let (status, problem) = app
            .post(
                &path,
                &reader,
                json!({"url": "https://hooks.example/", "event_types": ["sent"]}),
            )
            .await;
        assert_problem(status, &problem, StatusCode::FORBIDDEN, "forbidden");
    }
    let (status, problem) = app.delete(&format!("/v1/webhooks/{id}"), &reader).await;
    assert_problem(status, &problem, StatusCode::FORBIDDEN, "forbidden");

    let (status, _) = app.delete(&format!("/v1/webhooks/{id}"), token).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, problem) = app.get(&format!("/v1/webhooks/{id}"), token).await;
    assert_problem(status, &problem, StatusCode::NOT_FOUND, "not_found");
    let (status, problem) = app.delete(&format!("/v1/webhooks/{id}"), token).await;
    assert_problem(status, &problem, StatusCode::NOT_FOUND, "not_found");
}

async fn another_accounts_endpoints_are_not_found(backend: Backend) {
    let app = app_with(backend, &[]).await;
    let owner = app.create_account("Owner").await;
    let other = app.create_account("Other").await;
    let made = create_webhook(
        &app,
        &owner.token,
        json!({"url": "https://hooks.owner.example/", "event_types": ["sent"]}),
    )
    .await;
    let id = id_of(&made);
    let (_, before) = app.get(&format!("/v1/webhooks/{id}"), &owner.token).await;
    let attempts = [
        (reqwest::Method::GET, format!("/v1/webhooks/{id}"), None),
        (
            reqwest::Method::PATCH,
            format!("/v1/webhooks/{id}"),
            Some(json!({"url": "https://evil.example/", "enabled": false})),
        ),
        (reqwest::Method::DELETE, format!("/v1/webhooks/{id}"), None),
        (
            reqwest::Method::POST,
            format!("/v1/webhooks/{id}/rotate-secret"),
            None,
        ),
        (
            reqwest::Method::POST,
            format!("/v1/webhooks/{id}/test"),
            None,
        ),
        (
            reqwest::Method::GET,
            format!("/v1/webhooks/{id}/deliveries"),
            None,
        ),
    ];
    for (method, path, body) in attempts {
        let (status, problem) = app
            .request(method.clone(), &path, Some(&other.token), body)
            .await;
        assert_problem(status, &problem, StatusCode::NOT_FOUND, "not_found");
        assert!(!problem.to_string().contains("hooks.owner"), "{problem}");
    }
    let (_, listed) = app.get("/v1/webhooks", &other.token).await;
    assert_eq!(listed["data"], json!([]));
    let (_, after) = app.get(&format!("/v1/webhooks/{id}"), &owner.token).await;
    assert_eq!(
        before, after,
        "the other account changed the owner's endpoint"
    );
    assert!(deliveries(&app, &owner.token, &id).await.is_empty());
}

async fn a_sent_event_reaches_the_receiver_signed_per_standard_webhooks(backend: Backend) {
    let receiver = WebhookReceiver::start();
    let app = app_with(backend, &[]).await;
    let acct = app.create_account("Shop").await;
    let token = &acct.token;
    let hook = create_webhook(
        &app,
        token,
        json!({"url": receiver.url("/hook"), "event_types": ["sent"]}),
    )
    .await;
    receiver.set_secrets(&[hook["secret"].as_str().unwrap()]);
    let bounces_only = create_webhook(
        &app,
        token,
        json!({"url": receiver.url("/bounces"), "event_types": ["bounce"]}),
    )
    .await;
    let disabled = create_webhook(
        &app,
        token,
        json!({"url": receiver.url("/disabled"), "event_types": ["*"], "enabled": false}),
    )
    .await;
    let message_id = send_one(&app, token, "Ada@Example.com", "order-17").await;

    let got = receiver.wait_for(1, Duration::from_secs(30)).await;
    let request = &got[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/hook");
    assert_eq!(
        request.verified,
        [true],
        "standardwebhooks rejected it: {request:#?}"
    );
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("user-agent"), Some("Mailroom-Webhooks/1"));
    let sent_at: i64 = request
        .header("webhook-timestamp")
        .unwrap()
        .parse()
        .unwrap();
    assert!((chrono::Utc::now().timestamp() - sent_at).abs() < 60);
    let body = request.json();
    assert_eq!(body["type"], "sent", "{body}");
    assert!(
        chrono::DateTime::parse_from_rfc3339(body["timestamp"].as_str().unwrap()).is_ok(),
        "{body}"
    );
    let data = &body["data"];
    assert_eq!(data["email"], "ada@example.com", "{body}");
    assert_eq!(data["message_id"], message_id.as_str());
    assert_eq!(data["custom_id"], "order-17");
    assert_eq!(data["campaign_id"], Value::Null, "transactional mail");
    assert!(data["event_id"].is_string(), "{body}");
    assert!(data.as_object().unwrap().contains_key("contact_id"));

    // The delivery log: one delivery, its id the `webhook-id` the receiver saw.
    let delivery = wait_for_delivery(&app, token, &id_of(&hook), "delivered", |d| {
        d["status"] == "delivered"
    })
    .await;
    assert_eq!(delivery["id"].as_str(), request.header("webhook-id"));
    assert_eq!(delivery["event_type"], "sent");
    assert_eq!(delivery["attempts"], 1);
    assert_eq!(delivery["response_code"], 200);
    assert!(delivery["latency_ms"].as_i64().unwrap() >= 0);
    assert_eq!(delivery["last_error"], Value::Null);
    assert_eq!(delivery["event_id"], data["event_id"]);
    assert_eq!(delivery["payload"], body);

    // One event, one request: the endpoints that did not want it got nothing.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(receiver.received().len(), 1, "{:#?}", receiver.received());
    assert!(
        deliveries(&app, token, &id_of(&bounces_only))
            .await
            .is_empty()
    );
    assert!(deliveries(&app, token, &id_of(&disabled)).await.is_empty());
}

async fn a_receiver_that_is_down_gets_the_event_once_it_is_back(backend: Backend) {
    let receiver = WebhookReceiver::start();
    receiver.answer(Some(500));
    let app = app_with(backend, &[]).await;
    let acct = app.create_account("Shop").await;
    let token = &acct.token;
    let hook = create_webhook(
        &app,
        token,
        json!({"url": receiver.url("/hook"), "event_types": ["sent"]}),
    )
    .await;
    let id = id_of(&hook);
    receiver.set_secrets(&[hook["secret"].as_str().unwrap()]);
    send_one(&app, token, "ada@example.com", "order-1").await;
    let failing = receiver.wait_for(3, Duration::from_secs(30)).await;
    assert!(failing.iter().all(|r| r.answer == 500));
    // While it fails, the log shows the delivery waiting for its next attempt.
    let waiting = wait_for_delivery(&app, token, &id, "waiting after a 500", |d| {
        d["response_code"] == 500
    })
    .await;
    assert_eq!(waiting["status"], "pending", "{waiting}");
    assert!(waiting["next_attempt_at"].is_string(), "{waiting}");
    assert!(
        waiting["last_error"]
            .as_str()
            .unwrap()
            .contains("answered 500"),
        "{waiting}"
    );

    receiver.answer(None);
    let delivered = wait_for_delivery(&app, token, &id, "delivered after the outage", |d| {
        d["status"] == "delivered"
    })
    .await;
    let requests = receiver.received();
    assert_eq!(requests.last().unwrap().answer, 200);
    assert_eq!(delivered["response_code"], 200);
    assert_eq!(delivered["last_error"], Value::Null);
    assert_eq!(delivered["next_attempt_at"], Value::Null);
    assert_eq!(
        delivered["attempts"].as_u64().unwrap() as usize,
        requests.len(),
        "every attempt is counted: {delivered}"
    );
    // Every attempt is the same delivery: one id, one body, each signed afresh.
    assert!(requests.len() >= 4);
    for r in &requests {
        assert_eq!(r.header("webhook-id"), delivered["id"].as_str());
        assert_eq!(r.body, requests[0].body);
        assert_eq!(r.verified, [true]);
    }
}

async fn gone_disables_the_endpoint(backend: Backend) {
    let gone = WebhookReceiver::start();
    gone.answer(Some(410));
    let control = WebhookReceiver::start();
    let app = app_with(backend, &[]).await;
    let acct = app.create_account("Shop").await;
    let token = &acct.token;
    let hook = create_webhook(
        &app,
        token,
        json!({"url": gone.url("/hook"), "event_types": ["sent"]}),
    )
    .await;
    let id = id_of(&hook);
    create_webhook(
        &app,
        token,
        json!({"url": control.url("/hook"), "event_types": ["sent"]}),
    )
    .await;
    send_one(&app, token, "ada@example.com", "first").await;
    gone.wait_for(1, Duration::from_secs(30)).await;
    let failed = wait_for_delivery(&app, token, &id, "failed with 410", |d| {
        d["status"] == "failed"
    })
    .await;
    assert_eq!(failed["response_code"], 410);
    assert_eq!(failed["attempts"], 1, "a 410 is not retried");
    let (_, endpoint) = app.get(&format!("/v1/webhooks/{id}"), token).await;
    assert_eq!(endpoint["enabled"], false, "{endpoint}");
    assert!(
        endpoint["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("410"),
        "{endpoint}"
    );

    // Later events reach the other endpoint only.
    send_one(&app, token, "grace@example.com", "second").await;
    control.wait_for(2, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(gone.received().len(), 1);
    assert_eq!(deliveries(&app, token, &id).await.len(), 1);

    let (status, enabled) = app
        .patch(
            &format!("/v1/webhooks/{id}"),
            token,
            json!({"enabled": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(enabled["enabled"], true);
    assert_eq!(enabled["disabled_reason"], Value::Null);
}

async fn redirects_are_not_followed_and_count_as_failures(backend: Backend) {
    let receiver = WebhookReceiver::start();
    receiver.answer(Some(302));
    let app = app_with(backend, &[("MAILROOM_WEBHOOK_MAX_ATTEMPTS", "3")]).await;
    let acct = app.create_account("Shop").await;
    let hook = create_webhook(
        &app,
        &acct.token,
        json!({"url": receiver.url("/hook"), "event_types": ["sent"]}),
    )
    .await;
    send_one(&app, &acct.token, "ada@example.com", "x").await;
    let failed = wait_for_delivery(&app, &acct.token, &id_of(&hook), "given up on", |d| {
        d["status"] == "failed"
    })
    .await;
    assert_eq!(failed["attempts"], 3, "{failed}");
    assert_eq!(failed["response_code"], 302);
    let error = failed["last_error"].as_str().unwrap();
    assert!(
        error.contains("gave up after 3") && error.contains("not followed"),
        "{error}"
    );
    let requests = receiver.received();
    assert_eq!(requests.len(), 3);
    assert!(
        requests.iter().all(|r| r.path == "/hook"),
        "a redirect was followed: {requests:#?}"
    );
}

async fn a_receiver_that_does_not_answer_in_time_counts_as_down(backend: Backend) {
    let receiver = WebhookReceiver::start();
    receiver.sleep(Some(Duration::from_secs(3)));
    let app = app_with(
        backend,
        &[
            ("MAILROOM_WEBHOOK_TIMEOUT_MS", "400"),
            ("MAILROOM_WEBHOOK_MAX_ATTEMPTS", "2"),
        ],
    )
    .await;
    let acct = app.create_account("Shop").await;
    let hook = create_webhook(
        &app,
        &acct.token,
        json!({"url": receiver.url("/hook"), "event_types": ["*"]}),
    )
    .await;
    let (status, queued) = app
        .post(
            &format!("/v1/webhooks/{}/test", id_of(&hook)),
            &acct.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    let failed = wait_for_delivery(&app, &acct.token, &id_of(&hook), "timed out", |d| {
        d["status"] == "failed"
    })
    .await;
    assert_eq!(failed["id"], queued["id"]);
    assert_eq!(failed["attempts"], 2);
    assert_eq!(failed["response_code"], Value::Null);
    assert!(
        failed["last_error"]
            .as_str()
            .unwrap()
            .contains("no answer within 400 ms"),
        "{failed}"
    );
    let latency = failed["latency_ms"].as_i64().unwrap();
    assert!((400..2500).contains(&latency), "{latency}");
    assert_eq!(receiver.received().len(), 2);

    // Nobody listening counts as down too; the error keeps the URL (and its token) out.
    let closed = create_webhook(
        &app,
        &acct.token,
        json!({"url": "http://127.0.0.1:9/hook?token=s3cret", "event_types": ["*"]}),
    )
    .await;
    let (status, _) = app
        .post(
            &format!("/v1/webhooks/{}/test", id_of(&closed)),
            &acct.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let failed = wait_for_delivery(&app, &acct.token, &id_of(&closed), "not connected", |d| {
        d["status"] == "failed"
    })
    .await;
    assert_eq!(failed["response_code"], Value::Null);
    let error = failed["last_error"].as_str().unwrap();
    assert!(error.contains("gave up after 2"), "{error}");
    assert!(!error.contains("s3cret"), "{error}");
}

async fn rotation_signs_with_both_secrets_during_the_grace_period(backend: Backend) {
    let receiver = WebhookReceiver::start();
    let app = app_with(backend, &[("MAILROOM_WEBHOOK_SECRET_GRACE_SECS", "3")]).await;
    let acct = app.create_account("Shop").await;
    let token = &acct.token;
    let made = create_webhook(
        &app,
        token,
        json!({"url": receiver.url("/hook"), "event_types": ["bounce"]}),
    )
    .await;
    let id = id_of(&made);
    let old = made["secret"].as_str().unwrap().to_owned();
    let (status, rotated) = app
        .post(
            &format!("/v1/webhooks/{id}/rotate-secret"),
            token,
            json!({}),
        )
        .await;
    let rotated_at = Instant::now();
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert!(new.starts_with("whsec_") && new != old);
    assert!(
        rotated["previous_secret_expires_at"].is_string(),
        "{rotated}"
    );
    let (_, shown) = app.get(&format!("/v1/webhooks/{id}"), token).await;
    assert!(shown["previous_secret_expires_at"].is_string());
    assert!(!shown.to_string().contains("whsec_"));
    receiver.set_secrets(&[&old, &new]);

    // A test delivery goes out whatever the endpoint subscribed to.
    let (status, queued) = app
        .post(&format!("/v1/webhooks/{id}/test"), token, json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(queued["event_type"], "test");
    assert_eq!(queued["status"], "pending");
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert!(
        rotated_at.elapsed() < Duration::from_secs(3),
        "too slow for the grace period"
    );
    let first = &got[0];
    assert_eq!(first.verified, [true, true], "{first:#?}");
    // Two signatures: the new secret's, then the old one's — each valid alone.
    assert_eq!(first.signatures, [vec![1], vec![0]], "{first:#?}");
    assert_eq!(first.json()["type"], "test");
    assert_eq!(first.json()["data"]["event_id"], queued["event_id"]);

    // After the grace period, only the new secret signs.
    tokio::time::sleep(Duration::from_millis(3300).saturating_sub(rotated_at.elapsed())).await;
    let (_, shown) = app.get(&format!("/v1/webhooks/{id}"), token).await;
    assert_eq!(shown["previous_secret_expires_at"], Value::Null, "{shown}");
    let (status, _) = app
        .post(&format!("/v1/webhooks/{id}/test"), token, json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let got = receiver.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(got[1].verified, [false, true], "{:#?}", got[1]);
    assert_eq!(got[1].signatures, [vec![1]]);

    // The log, newest first, a page at a time, and by status.
    wait_for_delivery(&app, token, &id, "delivered", |d| {
        d["status"] == "delivered"
    })
    .await;
    let log = app
        .all_pages(token, &format!("/v1/webhooks/{id}/deliveries"), 1)
        .await;
    assert_eq!(log.len(), 2);
    assert_eq!(log[1]["id"], queued["id"], "newest first");
    assert!(log.iter().all(|d| d["event_type"] == "test"));
    let (_, pending) = app
        .get(
            &format!("/v1/webhooks/{id}/deliveries?status=pending"),
            token,
        )
        .await;
    let (_, delivered) = app
        .get(
            &format!("/v1/webhooks/{id}/deliveries?status=delivered"),
            token,
        )
        .await;
    assert_eq!(
        pending["data"].as_array().unwrap().len() + delivered["data"].as_array().unwrap().len(),
        2
    );
    let (status, problem) = app
        .get(&format!("/v1/webhooks/{id}/deliveries?status=lost"), token)
        .await;
    assert_problem(
        status,
        &problem,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
}

async fn private_endpoints_are_refused_unless_the_operator_allows_them(backend: Backend) {
    let receiver = WebhookReceiver::start();
    // MAILROOM_WEBHOOK_ALLOW_PRIVATE is not set: the default.
    let strict = TestApp::spawn_with(backend, |vars| {
        vars.insert("MAILROOM_WEBHOOK_RETRY_BASE_MS".into(), "50".into());
        vars.insert("MAILROOM_WEBHOOK_MAX_ATTEMPTS".into(), "2".into());
    })
    .await;
    let acct = strict.create_account("Shop").await;
    let token = &acct.token;
    for url in [
        receiver.url("/hook"),
        "http://localhost:8080/hook".to_owned(),
        "http://[::1]/hook".to_owned(),
        "http://10.0.0.8/hook".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
    ] {
        let (status, problem) = strict
            .post(
                "/v1/webhooks",
                token,
                json!({"url": url, "event_types": ["sent"]}),
            )
            .await;
        assert_problem(
            status,
            &problem,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert_eq!(field_names(&problem), ["url"], "{url}: {problem}");
        assert!(problem.to_string().contains("public address"), "{problem}");
    }
    let public = create_webhook(
        &strict,
        token,
        json!({"url": "https://hooks.shop.example/", "event_types": ["bounce"]}),
    )
    .await;
    let (status, problem) = strict
        .patch(
            &format!("/v1/webhooks/{}", id_of(&public)),
            token,
            json!({"url": receiver.url("/hook")}),
        )
        .await;
    assert_problem(
        status,
        &problem,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );

    // An endpoint saved while the operator allowed private addresses (here: through an API
    // process that allows them and runs no workers) gets nothing from a worker that does not.
    let lenient = strict
        .spawn_beside(|vars| {
            vars.insert("MAILROOM_WEBHOOK_ALLOW_PRIVATE".into(), "true".into());
            vars.insert("MAILROOM_EMBEDDED_WORKERS".into(), "false".into());
        })
        .await;
    let hook = create_webhook(
        &lenient,
        token,
        json!({"url": receiver.url("/hook"), "event_types": ["sent"]}),
    )
    .await;
    send_one(&strict, token, "ada@example.com", "x").await;
    let refused = wait_for_delivery(&strict, token, &id_of(&hook), "refused", |d| {
        d["status"] == "failed"
    })
    .await;
    assert_eq!(refused["attempts"], 2, "{refused}");
    assert_eq!(refused["response_code"], Value::Null);
    let error = refused["last_error"].as_str().unwrap();
    assert!(
        error.contains("refused") && error.contains("not allowed"),
        "{error}"
    );
    assert!(receiver.received().is_empty(), "{:#?}", receiver.received());
}

/// The delivery log is the account's to read: a refused delivery says that the address is
/// not allowed or could not be reached — never which addresses a name resolved to, that
/// they are private or loopback, or why a lookup failed.
async fn refusals_do_not_describe_the_operators_network(backend: Backend) {
    let strict = TestApp::spawn_with(backend, |vars| {
        vars.insert("MAILROOM_WEBHOOK_RETRY_BASE_MS".into(), "50".into());
        vars.insert("MAILROOM_WEBHOOK_MAX_ATTEMPTS".into(), "2".into());
    })
    .await;
    let acct = strict.create_account("Shop").await;
    let token = &acct.token;
    // Endpoints saved while private addresses were allowed (an API process that allows
    // them and runs no workers), delivered by workers that do not allow them.
    let lenient = strict
        .spawn_beside(|vars| {
            vars.insert("MAILROOM_WEBHOOK_ALLOW_PRIVATE".into(), "true".into());
            vars.insert("MAILROOM_EMBEDDED_WORKERS".into(), "false".into());
        })
        .await;
    let port = free_port();
    for url in [
        format!("http://127.0.0.1:{port}/hook"),
        format!("http://localhost:{port}/hook"),
        format!("http://[::1]:{port}/hook"),
        "http://hooks.mailroom-nowhere.invalid/hook".to_owned(),
    ] {
        let hook = create_webhook(&lenient, token, json!({"url": url, "event_types": ["*"]})).await;
        let (status, queued) = strict
            .post(
                &format!("/v1/webhooks/{}/test", id_of(&hook)),
                token,
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
        let failed = wait_for_delivery(&strict, token, &id_of(&hook), "refused", |d| {
            d["status"] == "failed"
        })
        .await;
        assert_eq!(
            failed["last_error"],
            "gave up after 2 attempts: refused: the endpoint's address is not allowed or could not be reached",
            "{url}: {failed}"
        );
        let error = failed["last_error"].as_str().unwrap().to_lowercase();
        for detail in [
            "127.0.0.1",
            "localhost",
            "::1",
            "private",
            "loopback",
            "resolve",
            "invalid",
            "mailroom-nowhere",
            "allow_private",
        ] {
            assert!(!error.contains(detail), "{url}: {error} names {detail}");
        }
    }
}

/// Each scenario on SQLite and on PostgreSQL: `webhooks::sqlite::name`, `webhooks::postgres::name`.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(crate::helpers::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(crate::helpers::Backend::Postgres).await;
                }
            )*
        }
    };
}

on_both!(
    endpoints_are_created_listed_updated_and_deleted,
    another_accounts_endpoints_are_not_found,
    a_sent_event_reaches_the_receiver_signed_per_standard_webhooks,
    a_receiver_that_is_down_gets_the_event_once_it_is_back,
    gone_disables_the_endpoint,
    redirects_are_not_followed_and_count_as_failures,
    a_receiver_that_does_not_answer_in_time_counts_as_down,
    rotation_signs_with_both_secrets_during_the_grace_period,
    private_endpoints_are_refused_unless_the_operator_allows_them,
    refusals_do_not_describe_the_operators_network,
);
