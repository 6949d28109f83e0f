//! Fair work between tenants: one account floods its webhooks — many deliveries to several
//! endpoints on a receiver that accepts and never answers — and another account's import,
//! campaign, data-subject request and webhook still finish within seconds. In the job
//! table mode on both backends (the embedded workers), and with RabbitMQ and the real
//! worker binaries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::campaigns::{campaign_body, create_campaign, subscriber};
use crate::helpers::*;
use crate::rabbitmq::{TestVhost, WorkerProcess};
use crate::webhook_receiver::WebhookReceiver;

/// How long the flooding account's receiver keeps a request waiting: the deliveries time
/// out after a minute, so until then every one it got still holds a worker slot.
const HANG: Duration = Duration::from_secs(600);
const WEBHOOK_TIMEOUT_MS: &str = "60000";
/// Webhook slots of a worker, and the most one account may hold.
const WEBHOOK_SLOTS: usize = 8;
const ACCOUNT_SLOTS: usize = 4;
/// The other account's work must finish within this — far less than the webhook timeout,
/// so it cannot pass by waiting for the flood's slots to time out.
const PROMPTLY: Duration = Duration::from_secs(25);

fn fair_work_vars(vars: &mut HashMap<String, String>) {
    vars.insert("MAILROOM_WEBHOOK_ALLOW_PRIVATE".into(), "true".into());
    vars.insert(
        "MAILROOM_WEBHOOK_TIMEOUT_MS".into(),
        WEBHOOK_TIMEOUT_MS.into(),
    );
    vars.insert(
        "MAILROOM_WEBHOOK_CONCURRENCY".into(),
        WEBHOOK_SLOTS.to_string(),
    );
    vars.insert(
        "MAILROOM_WEBHOOK_ACCOUNT_SLOTS".into(),
        ACCOUNT_SLOTS.to_string(),
    );
}

/// Account A: six endpoints on a receiver that hangs, twenty deliveries queued to each.
async fn flood(app: &TestApp, token: &str, receiver: &WebhookReceiver) {
    for endpoint in 0..6 {
        let (status, webhook) = app
            .post(
                "/v1/webhooks",
                token,
                json!({"url": receiver.url(&format!("/a{endpoint}")), "event_types": ["sent", "open", "click"]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{webhook}");
        let id = webhook["id"].as_str().unwrap();
        for _ in 0..20 {
            let (status, body) = app
                .post(&format!("/v1/webhooks/{id}/test"), token, json!({}))
                .await;
            assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        }
    }
}

/// Polls `path` until `done` holds of it; panics once `deadline` passed.
async fn await_until(
    app: &TestApp,
    token: &str,
    path: &str,
    deadline: Instant,
    what: &str,
    done: impl Fn(&Value) -> bool,
) {
    loop {
        let (status, body) = app.get(path, token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if done(&body) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not finish within {PROMPTLY:?} of being queued while another account \
             flooded a hanging webhook receiver: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The story: A floods, and once its receiver hangs on the first deliveries, B queues an
/// import, a campaign, a data-subject request and a webhook test; all of them finish
/// within `PROMPTLY`, and A never held more than its share of the webhook slots.
async fn another_account_is_served_while_one_floods_a_hanging_receiver(app: &TestApp) {
    let hanging = WebhookReceiver::start();
    hanging.sleep(Some(HANG));
    let prompt = WebhookReceiver::start();
    let a = app.create_account("Flooder").await;
    let b = app.create_account("Neighbour").await;

    flood(app, &a.token, &hanging).await;
    hanging.wait_for(ACCOUNT_SLOTS, PROMPTLY).await;
    let first_hang = Instant::now();

    // B's work, queued behind A's 120 deliveries.
    let started = Instant::now();
    let deadline = started + PROMPTLY;
    let list = app.list(&b.token, "Neighbours").await;
    subscriber(app, &b.token, &list, "reader@neighbour.example", "R").await;
    let campaign = create_campaign(app, &b.token, campaign_body(&list)).await;
    let (status, body) = app
        .post(
            &format!("/v1/campaigns/{campaign}/send"),
            &b.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let imported = app
        .client
        .post(app.url(&format!("/v1/lists/{list}/imports")))
        .bearer_auth(&b.token)
        .header("content-type", "text/csv")
        .body("email,name\nnew@neighbour.example,New\n")
        .send()
        .await
        .unwrap();
    assert_eq!(imported.status(), StatusCode::ACCEPTED);
    let import: Value = imported.json().await.unwrap();
    let (status, request) = app
        .post(
            "/v1/data-subject-requests",
            &b.token,
            json!({"kind": "access", "subject_email": "reader@neighbour.example",
                   "verification": {"method": "email_link", "note": "clicked the link"}}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{request}");
    let (status, webhook) = app
        .post(
            "/v1/webhooks",
            &b.token,
            json!({"url": prompt.url("/b"), "event_types": ["sent"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{webhook}");
    let webhook = webhook["id"].as_str().unwrap();
    let (status, body) = app
        .post(&format!("/v1/webhooks/{webhook}/test"), &b.token, json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");

    let import = format!("/v1/imports/{}", import["id"].as_str().unwrap());
    await_until(app, &b.token, &import, deadline, "the import", |i| {
        i["status"] == "completed"
    })
    .await;
    let campaign = format!("/v1/campaigns/{campaign}");
    await_until(app, &b.token, &campaign, deadline, "the campaign", |c| {
        c["status"] == "sent"
    })
    .await;
    let request = format!(
        "/v1/data-subject-requests/{}",
        request["id"].as_str().unwrap()
    );
    await_until(
        app,
        &b.token,
        &request,
        deadline,
        "the access request",
        |r| r["status"] == "completed",
    )
    .await;
    prompt
        .wait_for(1, deadline.saturating_duration_since(Instant::now()))
        .await;

    // Until A's first deliveries time out, A holds exactly its share of the slots.
    let a_got = hanging.received().len();
    if first_hang.elapsed() < Duration::from_secs(50) {
        assert_eq!(
            a_got, ACCOUNT_SLOTS,
            "the flooding account held other than its share of the webhook slots"
        );
    }
    // The receiver goes first, so that the deliveries it holds end at once.
    drop(hanging);
}

#[tokio::test]
async fn sqlite_another_account_is_served_while_one_floods_a_hanging_receiver() {
    let app = TestApp::spawn_with(Backend::Sqlite, fair_work_vars).await;
    another_account_is_served_while_one_floods_a_hanging_receiver(&app).await;
}

#[tokio::test]
async fn postgres_another_account_is_served_while_one_floods_a_hanging_receiver() {
    let app = TestApp::spawn_with(Backend::Postgres, fair_work_vars).await;
    another_account_is_served_while_one_floods_a_hanging_receiver(&app).await;
}

/// The same with RabbitMQ: the API publishes, and the webhook, jobs and sender workers run
/// as processes of their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaled_out_another_account_is_served_while_one_floods_a_hanging_receiver() {
    let vhost = TestVhost::create();
    let amqp = vhost.url_via(5672);
    let captured = Arc::new(Mutex::new(HashMap::new()));
    let keep = captured.clone();
    let app = TestApp::spawn_with(Backend::Postgres, move |vars| {
        vars.insert("AMQP_URL".into(), amqp);
        fair_work_vars(vars);
        *keep.lock().unwrap() = vars.clone();
    })
    .await;
    let mut worker_vars = captured.lock().unwrap().clone();
    worker_vars.insert("MAILROOM_PUBLIC_URL".into(), app.address.clone());
    let webhooks = WorkerProcess::start("mailroom-webhooks", &worker_vars);
    let jobs = WorkerProcess::start("mailroom-jobs", &worker_vars);
    let sender = WorkerProcess::start("mailroom-sender", &worker_vars);
    another_account_is_served_while_one_floods_a_hanging_receiver(&app).await;
    drop((webhooks, jobs, sender));
}
