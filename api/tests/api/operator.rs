//! Operating a multi-tenant installation, black-box on both backends: the operator lists
//! and inspects accounts (no contact's data), suspends one (its mail is held, not dropped,
//! and goes out on resumption), limits what it sends, and the bounce protection suspends
//! an account on real refusals from an SMTP server and tells the operator. An account can
//! never change its own standing.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::campaigns::{campaign_body, create_campaign, readers, subscriber};
use crate::helpers::*;
use crate::smtp_server::SmtpServer;
use crate::suppressions::with_db;
use crate::webhook_receiver::WebhookReceiver;

const OPERATOR_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

pub(crate) async fn admin(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    app.request(method, path, Some(ADMIN_TOKEN), body).await
}

pub(crate) fn transactional(to: &str) -> Value {
    json!({"messages": [{"from": {"email": "shop@shop.example"}, "to": [{"email": to}], "subject": "Your order", "text": "Thanks"}]})
}

/// Polls `path` with the admin token until `done` holds of its body.
pub(crate) async fn wait_admin(app: &TestApp, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = admin(app, Method::GET, path, None).await;
        if done(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "never reached: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Held delivery jobs of the account (its suspension keeps them aside).
async fn held_jobs(app: &TestApp, account: &str) -> i64 {
    use diesel::prelude::*;
    use mailroom_domain::schema::jobs;
    let account: mailroom_domain::Id = account.parse().unwrap();
    with_db(app, move |conn| {
        jobs::table
            .filter(jobs::account_id.eq(account))
            .filter(jobs::kind.eq("message.deliver"))
            .filter(jobs::status.eq("held"))
            .count()
            .get_result(conn)
            .unwrap()
    })
    .await
}

/// `/metrics` once it holds `line`.
async fn wait_metrics(app: &TestApp, line: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let metrics = app
            .client
            .get(app.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if metrics.contains(line) {
            return metrics;
        }
        assert!(Instant::now() < deadline, "never {line:?}: {metrics}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn received_by(server: &SmtpServer, prefix: &str) -> usize {
    server
        .received()
        .iter()
        .flat_map(|m| m.rcpt_tos.clone())
        .filter(|r| r.starts_with(prefix))
        .count()
}

async fn the_operator_lists_and_inspects_accounts_without_their_contacts_data(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let shop = app.create_account("Shop").await;
    let other = app.create_account("Other").await;
    let list = app.list(&shop.token, "News").await;
    subscriber(&app, &shop.token, &list, "ada@example.com", "Ada").await;
    let (status, body) = app
        .post(
            "/v1/send",
            &shop.token,
            transactional("sandbox-buyer@example.com"),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");

    let all = app.all_pages(ADMIN_TOKEN, "/v1/admin/accounts", 1).await;
    let ids: Vec<&str> = all.iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert!(
        ids.contains(&shop.id.as_str()) && ids.contains(&other.id.as_str()),
        "{all:?}"
    );
    let shown = all.iter().find(|a| a["id"] == shop.id.as_str()).unwrap();
    assert_eq!(shown["name"], "Shop");
    assert_eq!(shown["status"], "active");
    assert_eq!(shown["contacts"], 1);
    assert_eq!(shown["lists"], 1);
    assert_eq!(shown["effective_limits"]["messages_per_hour"], Value::Null);
    for period in ["last_24h", "last_30d"] {
        for field in [
            "sent",
            "bounced",
            "complained",
            "blocked",
            "bounce_rate",
            "complaint_rate",
        ] {
            assert!(shown["usage"][period][field].is_number(), "{shown}");
        }
    }
    assert!(
        !shown.to_string().contains("ada@example.com"),
        "no contact's data: {shown}"
    );
    // The transactional message is delivered (to the sandbox) and counted.
    let shown = wait_admin(&app, &format!("/v1/admin/accounts/{}", shop.id), |a| {
        a["usage"]["last_24h"]["sent"] == 1
    })
    .await;
    assert_eq!(shown["windows"]["day"]["sent"], 1, "{shown}");
    // The installation counts what became of its messages, whatever the account.
    let metrics = wait_metrics(
        &app,
        "mailroom_message_outcomes_total{outcome=\"sent\"} 1\n",
    )
    .await;
    assert!(
        metrics.contains("# TYPE mailroom_message_outcomes_total counter\n")
            && metrics.contains("mailroom_message_outcomes_total{outcome=\"bounced\"} 0\n"),
        "{metrics}"
    );

    let (status, suspended) = admin(
        &app,
        Method::GET,
        "/v1/admin/accounts?status=suspended",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(suspended["data"], json!([]));
    let (status, problem) = admin(&app, Method::GET, "/v1/admin/accounts?status=gone", None).await;
    assert_problem(
        status,
        &problem,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let missing = mailroom_domain::Id::new();
    let (status, problem) = admin(
        &app,
        Method::GET,
        &format!("/v1/admin/accounts/{missing}"),
        None,
    )
    .await;
    assert_problem(status, &problem, StatusCode::NOT_FOUND, "not_found");
    for bad in [
        json!({"limits": {"messages_per_hour": 0}}),
        json!({"limits": {"messages_per_day": -3}}),
        json!({"limits": {"per_hour": 1}}),
        // serde reads a struct from an array too: limits are an object only.
        json!({"limits": [null, null]}),
        json!({"limits": [5, 5]}),
    ] {
        let (status, problem) = admin(
            &app,
            Method::PATCH,
            &format!("/v1/admin/accounts/{}", shop.id),
            Some(bad),
        )
        .await;
        assert_problem(
            status,
            &problem,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
    }
    let (status, problem) = admin(
        &app,
        Method::POST,
        &format!("/v1/admin/accounts/{}/suspend", shop.id),
        Some(json!({"reason": " "})),
    )
    .await;
    assert_problem(
        status,
        &problem,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let (status, problem) = admin(
        &app,
        Method::POST,
        &format!("/v1/admin/accounts/{}/resume", shop.id),
        None,
    )
    .await;
    assert_problem(status, &problem, StatusCode::CONFLICT, "conflict");

    // Every action on an account is in the operator's audit log.
    let log = app
        .all_pages(ADMIN_TOKEN, "/v1/admin/audit-events", 100)
        .await;
    let actions: Vec<(String, String)> = log
        .iter()
        .map(|e| {
            (
                e["account_id"].as_str().unwrap().to_owned(),
                e["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        actions.contains(&(shop.id.clone(), "account.created".into())),
        "{actions:?}"
    );
    assert!(
        actions.contains(&(shop.id.clone(), "account.read".into())),
        "{actions:?}"
    );
    // Listing is a read too: every account on a page the operator read is in the log.
    for account in [&shop.id, &other.id] {
        assert!(
            actions.contains(&(account.clone(), "account.listed".into())),
            "{actions:?}"
        );
    }
    assert!(
        log.iter().all(|e| e["actor"]["type"] == "operator"),
        "{log:?}"
    );
}

async fn an_account_can_never_change_its_own_standing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let shop = app.create_account("Shop").await;
    let path = format!("/v1/admin/accounts/{}", shop.id);
    // The account's own token is not the admin token.
    for (method, path, body) in [
        (Method::GET, "/v1/admin/accounts".to_owned(), None),
        (Method::GET, path.clone(), None),
        (
            Method::PATCH,
            path.clone(),
            Some(json!({"limits": {"messages_per_hour": 1000000}})),
        ),
        (
            Method::POST,
            format!("{path}/suspend"),
            Some(json!({"reason": "x"})),
        ),
        (Method::POST, format!("{path}/resume"), None),
        (Method::GET, "/v1/admin/audit-events".to_owned(), None),
    ] {
        let (status, problem) = app.request(method, &path, Some(&shop.token), body).await;
        assert_problem(status, &problem, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    // Nor can its settings carry a status or limits.
    for body in [
        json!({"status": "active"}),
        json!({"sending_limits": {"messages_per_hour": null}}),
        json!({"suspended_reason": null}),
    ] {
        let (status, problem) = app.patch("/v1/account", &shop.token, body).await;
        assert_problem(
            status,
            &problem,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
    }
    let (status, body) = admin(
        &app,
        Method::PATCH,
        &path,
        Some(json!({"limits": {"messages_per_hour": 5}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = admin(
        &app,
        Method::POST,
        &format!("{path}/suspend"),
        Some(json!({"reason": "unpaid invoice"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let account = app.get("/v1/account", &shop.token).await.1;
    assert_eq!(account["status"], "suspended");
    assert_eq!(account["suspended_reason"], "unpaid invoice");
    assert_eq!(account["sending_limits"]["messages_per_hour"], 5);
    // Still so after the account tried.
    let _ = app
        .patch("/v1/account", &shop.token, json!({"status": "active"}))
        .await;
    assert_eq!(
        app.get("/v1/account", &shop.token).await.1["status"],
        "suspended"
    );
}

/// The environment `a_suspended_account_holds_its_mail_until_resumed` runs in (with
/// `SMTP_URL`): retried soon and often, and the campaign never pauses for relay failures.
pub(crate) const SUSPENSION_ENV: [(&str, &str); 3] = [
    ("MAILROOM_RETRY_BASE_MS", "300"),
    ("MAILROOM_DELIVERY_MAX_ATTEMPTS", "30"),
    ("MAILROOM_PAUSE_AFTER_FAILURES", "1000"),
];

async fn a_suspended_account_holds_its_mail_and_sends_it_when_resumed(backend: Backend) {
    let server = SmtpServer::start();
    let smtp = server.url();
    let app = TestApp::spawn_with(backend, move |vars| {
        vars.insert("SMTP_URL".into(), smtp);
        for (k, v) in SUSPENSION_ENV {
            vars.insert(k.into(), v.into());
        }
    })
    .await;
    a_suspended_account_holds_its_mail_until_resumed(&app, &server).await;
}

/// A campaign in flight and a transactional message meet a refusing relay; the account is
/// suspended (sends refused, the campaign paused, the mail held once the relay works
/// again), then resumed (everything goes out). `app` delivers through `server`.
pub(crate) async fn a_suspended_account_holds_its_mail_until_resumed(
    app: &TestApp,
    server: &SmtpServer,
) {
    // The relay refuses for now: the mail stays queued, in flight.
    server.fail_all(true);
    let shop = app.create_account("Shop").await;
    let other = app.create_account("Other").await;
    let list = app.list(&shop.token, "News").await;
    readers(app, &shop.token, &list, 3).await;
    let campaign = create_campaign(app, &shop.token, campaign_body(&list)).await;
    let (status, body) = app
        .post(
            &format!("/v1/campaigns/{campaign}/send"),
            &shop.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (status, body) = app
        .post("/v1/send", &shop.token, transactional("buyer@example.com"))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    // Wait until all four messages met the refusing relay once.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let events = app
            .all_pages(&shop.token, "/v1/events?type=deferred", 100)
            .await;
        let mut messages: Vec<&str> = events
            .iter()
            .filter_map(|e| e["message_id"].as_str())
            .collect();
        messages.sort();
        messages.dedup();
        if messages.len() >= 4 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the messages never reached the relay: {events:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let account_path = format!("/v1/admin/accounts/{}", shop.id);
    let (status, suspended) = admin(
        app,
        Method::POST,
        &format!("{account_path}/suspend"),
        Some(json!({"reason": "phishing reports"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{suspended}");
    assert_eq!(suspended["status"], "suspended");
    assert_eq!(suspended["suspended_by"], "operator");

    // Sends are refused with the reason; reads go on; another account is not affected.
    let (status, problem) = app
        .post("/v1/send", &shop.token, transactional("late@example.com"))
        .await;
    assert_problem(status, &problem, StatusCode::FORBIDDEN, "account_suspended");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("phishing reports"),
        "{problem}"
    );
    let second = create_campaign(app, &shop.token, campaign_body(&list)).await;
    let (status, problem) = app
        .post(
            &format!("/v1/campaigns/{second}/send"),
            &shop.token,
            json!({}),
        )
        .await;
    assert_problem(status, &problem, StatusCode::FORBIDDEN, "account_suspended");
    let (status, problem) = app
        .post(
            &format!("/v1/campaigns/{second}/test"),
            &shop.token,
            json!({"emails": ["qa@example.com"]}),
        )
        .await;
    assert_problem(status, &problem, StatusCode::FORBIDDEN, "account_suspended");
    let paused = app
        .get(&format!("/v1/campaigns/{campaign}"), &shop.token)
        .await
        .1;
    assert_eq!(paused["status"], "paused", "{paused}");
    assert_eq!(paused["paused_reason"], "account suspended", "{paused}");
    let (status, problem) = app
        .post(
            &format!("/v1/campaigns/{campaign}/resume"),
            &shop.token,
            json!({}),
        )
        .await;
    assert_problem(status, &problem, StatusCode::FORBIDDEN, "account_suspended");
    assert_eq!(
        app.get(&format!("/v1/lists/{list}/members"), &shop.token)
            .await
            .0,
        StatusCode::OK
    );
    let (status, body) = app
        .post(
            "/v1/send",
            &other.token,
            transactional("other-buyer@example.com"),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");

    // The relay works again: the suspended account's mail is held, not sent, not dropped.
    server.fail_all(false);
    server.wait_for_async(1, Duration::from_secs(30)).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while held_jobs(app, &shop.id).await < 4 {
        assert!(
            Instant::now() < deadline,
            "the account's mail was never held"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(received_by(server, "other-buyer@"), 1);
    assert_eq!(
        received_by(server, "reader") + received_by(server, "buyer@"),
        0
    );

    let (status, resumed) = admin(app, Method::POST, &format!("{account_path}/resume"), None).await;
    assert_eq!(status, StatusCode::OK, "{resumed}");
    assert_eq!(resumed["status"], "active");
    server.wait_for_async(5, Duration::from_secs(30)).await;
    assert_eq!(received_by(server, "reader"), 3);
    assert_eq!(received_by(server, "buyer@"), 1);
    crate::campaigns::wait_for_status(app, &shop.token, &campaign, "sent").await;
    let account = app.get("/v1/account", &shop.token).await.1;
    assert_eq!(account["status"], "active");
    assert_eq!(account["suspended_reason"], Value::Null);

    let log = app
        .all_pages(ADMIN_TOKEN, "/v1/admin/audit-events", 100)
        .await;
    let actions: Vec<&str> = log.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert!(
        actions.contains(&"account.suspended") && actions.contains(&"account.resumed"),
        "{actions:?}"
    );
    // The account reads what the operator did in its own log.
    let own = app
        .all_pages(&shop.token, "/v1/audit-events?actor=operator", 100)
        .await;
    assert!(
        own.iter().any(|e| e["action"] == "account.suspended"),
        "{own:?}"
    );
}

/// The environment of `hard_bounces_suspend_the_account_and_tell_the_operator` (with
/// `SMTP_URL`): the protection judges from 4 messages, and tells `receiver`.
pub(crate) fn protection_env(receiver: &WebhookReceiver) -> Vec<(String, String)> {
    receiver.set_secrets(&[OPERATOR_SECRET]);
    vec![
        ("MAILROOM_PROTECTION_MIN_MESSAGES".into(), "4".into()),
        (
            "MAILROOM_OPERATOR_WEBHOOK_URL".into(),
            receiver.url("/operator"),
        ),
        (
            "MAILROOM_OPERATOR_WEBHOOK_SECRET".into(),
            OPERATOR_SECRET.into(),
        ),
    ]
}

async fn hard_bounces_over_the_threshold_suspend_the_account_and_tell_the_operator(
    backend: Backend,
) {
    let server = SmtpServer::start();
    let receiver = WebhookReceiver::start();
    let (smtp, env) = (server.url(), protection_env(&receiver));
    let app = TestApp::spawn_with(backend, move |vars| {
        vars.insert("SMTP_URL".into(), smtp);
        vars.extend(env);
    })
    .await;
    hard_bounces_suspend_the_account_and_tell_the_operator(&app, &receiver).await;
}

/// A campaign whose recipients include addresses the SMTP server refuses with 550: the
/// protection suspends the account, and the operator is told (audit log, metrics, signed
/// webhook to `receiver`). `app` runs with `protection_env(receiver)`.
pub(crate) async fn hard_bounces_suspend_the_account_and_tell_the_operator(
    app: &TestApp,
    receiver: &WebhookReceiver,
) {
    let shop = app.create_account("Shop").await;
    let list = app.list(&shop.token, "News").await;
    readers(app, &shop.token, &list, 6).await;
    // The SMTP server refuses these at RCPT TO with 550 5.1.1: hard bounces.
    for i in 0..2 {
        subscriber(
            app,
            &shop.token,
            &list,
            &format!("bounce{i}@example.com"),
            "B",
        )
        .await;
    }
    let campaign = create_campaign(app, &shop.token, campaign_body(&list)).await;
    let (status, body) = app
        .post(
            &format!("/v1/campaigns/{campaign}/send"),
            &shop.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");

    let account = wait_admin(app, &format!("/v1/admin/accounts/{}", shop.id), |a| {
        a["status"] == "suspended"
    })
    .await;
    assert_eq!(account["suspended_by"], "automatic", "{account}");
    let reason = account["suspended_reason"].as_str().unwrap();
    assert!(reason.contains("hard bounces"), "{reason}");
    let own = app.get("/v1/account", &shop.token).await.1;
    assert_eq!(own["status"], "suspended");
    assert_eq!(own["suspended_reason"], reason);
    let (status, problem) = app
        .post("/v1/send", &shop.token, transactional("buyer@example.com"))
        .await;
    assert_problem(status, &problem, StatusCode::FORBIDDEN, "account_suspended");

    // The operator is told: audit log, metric, signed webhook.
    let log = app
        .all_pages(ADMIN_TOKEN, "/v1/admin/audit-events", 100)
        .await;
    let automatic = log
        .iter()
        .find(|e| e["action"] == "account.suspended_automatically")
        .unwrap_or_else(|| panic!("{log:?}"));
    assert_eq!(automatic["account_id"], shop.id.as_str());
    assert_eq!(automatic["actor"]["type"], "system");
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("mailroom_accounts{status=\"suspended\",suspended_by=\"automatic\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mailroom_automatic_suspensions_total 1\n"),
        "{metrics}"
    );
    // Both refusals are counted installation-wide.
    wait_metrics(
        app,
        "mailroom_message_outcomes_total{outcome=\"bounced\"} 2\n",
    )
    .await;
    let posted = receiver.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(posted[0].path, "/operator");
    assert_eq!(
        posted[0].verified,
        vec![true],
        "signed like the accounts' webhooks"
    );
    let alert = posted[0].json();
    assert_eq!(alert["type"], "account.suspended");
    assert_eq!(alert["data"]["account_id"], shop.id.as_str());
    assert_eq!(alert["data"]["reason"], reason);
}

async fn a_scheduled_campaign_of_a_suspended_account_pauses_before_handing_out_mail(
    backend: Backend,
) {
    let server = SmtpServer::start();
    let smtp = server.url();
    let app = TestApp::spawn_with(backend, move |vars| {
        vars.insert("SMTP_URL".into(), smtp);
    })
    .await;
    let shop = app.create_account("Shop").await;
    let list = app.list(&shop.token, "News").await;
    readers(&app, &shop.token, &list, 3).await;
    let campaign = create_campaign(&app, &shop.token, campaign_body(&list)).await;
    let send_at = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let (status, body) = app
        .post(
            &format!("/v1/campaigns/{campaign}/schedule"),
            &shop.token,
            json!({"send_at": send_at}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let account_path = format!("/v1/admin/accounts/{}", shop.id);
    let (status, body) = admin(
        &app,
        Method::POST,
        &format!("{account_path}/suspend"),
        Some(json!({"reason": "phishing reports"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Its time comes: the campaign pauses at dispatch, and no message is handed out.
    let paused = crate::campaigns::wait_for_status(&app, &shop.token, &campaign, "paused").await;
    assert_eq!(paused["paused_reason"], "account suspended", "{paused}");
    let id: mailroom_domain::Id = campaign.parse().unwrap();
    let messages: i64 = with_db(&app, move |conn| {
        use diesel::prelude::*;
        use mailroom_domain::schema::messages;
        messages::table
            .filter(messages::campaign_id.eq(id))
            .count()
            .get_result(conn)
            .unwrap()
    })
    .await;
    assert_eq!(
        messages, 0,
        "a suspended account's campaign hands out nothing"
    );

    let (status, body) = admin(&app, Method::POST, &format!("{account_path}/resume"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    crate::campaigns::wait_for_status(&app, &shop.token, &campaign, "sent").await;
    assert_eq!(received_by(&server, "reader"), 3);
}

mod sqlite {
    use super::*;

    #[tokio::test]
    async fn a_scheduled_campaign_of_a_suspended_account_pauses_before_handing_out_mail() {
        super::a_scheduled_campaign_of_a_suspended_account_pauses_before_handing_out_mail(
            Backend::Sqlite,
        )
        .await;
    }

    #[tokio::test]
    async fn the_operator_lists_and_inspects_accounts_without_their_contacts_data() {
        super::the_operator_lists_and_inspects_accounts_without_their_contacts_data(
            Backend::Sqlite,
        )
        .await;
    }

    #[tokio::test]
    async fn an_account_can_never_change_its_own_standing() {
        super::an_account_can_never_change_its_own_standing(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn a_suspended_account_holds_its_mail_and_sends_it_when_resumed() {
        super::a_suspended_account_holds_its_mail_and_sends_it_when_resumed(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn hard_bounces_over_the_threshold_suspend_the_account_and_tell_the_operator() {
        super::hard_bounces_over_the_threshold_suspend_the_account_and_tell_the_operator(
            Backend::Sqlite,
        )
        .await;
    }
}

mod postgres {
    use super::*;

    #[tokio::test]
    async fn a_scheduled_campaign_of_a_suspended_account_pauses_before_handing_out_mail() {
        super::a_scheduled_campaign_of_a_suspended_account_pauses_before_handing_out_mail(
            Backend::Postgres,
        )
        .await;
    }

    #[tokio::test]
    async fn the_operator_lists_and_inspects_accounts_without_their_contacts_data() {
        super::the_operator_lists_and_inspects_accounts_without_their_contacts_data(
            Backend::Postgres,
        )
        .await;
    }

    #[tokio::test]
    async fn an_account_can_never_change_its_own_standing() {
        super::an_account_can_never_change_its_own_standing(Backend::Postgres).await;
    }

    #[tokio::test]
    async fn a_suspended_account_holds_its_mail_and_sends_it_when_resumed() {
        super::a_suspended_account_holds_its_mail_and_sends_it_when_resumed(Backend::Postgres)
            .await;
    }

    #[tokio::test]
    async fn hard_bounces_over_the_threshold_suspend_the_account_and_tell_the_operator() {
        super::hard_bounces_over_the_threshold_suspend_the_account_and_tell_the_operator(
            Backend::Postgres,
        )
        .await;
    }
}
