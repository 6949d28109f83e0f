//! Sending limits as the operator sets them, black-box on both backends: an account can be
//! lifted above the installation's default (`"unlimited"`) and returned to it (`null`), and
//! a message takes one slot of its account's window however often it is retried.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::operator::{admin, transactional, wait_admin};
use crate::smtp_server::SmtpServer;

/// The account's own sending window of the current hour, as the operator sees it.
async fn hour_window(app: &TestApp, account: &str) -> Value {
    admin(
        app,
        Method::GET,
        &format!("/v1/admin/accounts/{account}"),
        None,
    )
    .await
    .1["windows"]["hour"]
        .clone()
}

async fn an_account_can_be_made_unlimited_under_an_installation_default(backend: Backend) {
    let app = TestApp::spawn_with(backend, |vars| {
        vars.insert("MAILROOM_ACCOUNT_MESSAGES_PER_HOUR".into(), "1".into());
    })
    .await;
    let shop = app.create_account("Shop").await;
    let other = app.create_account("Other").await;
    let path = format!("/v1/admin/accounts/{}", shop.id);
    let (status, view) = admin(
        &app,
        Method::PATCH,
        &path,
        Some(json!({"limits": {"messages_per_hour": "unlimited"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["limits"]["messages_per_hour"], "unlimited", "{view}");
    assert_eq!(view["limits"]["messages_per_day"], Value::Null, "{view}");
    assert_eq!(
        view["effective_limits"]["messages_per_hour"],
        Value::Null,
        "{view}"
    );
    for bad in [json!("lots"), json!(0), json!(1.5), json!("Unlimited")] {
        let (status, problem) = admin(
            &app,
            Method::PATCH,
            &path,
            Some(json!({"limits": {"messages_per_hour": bad}})),
        )
        .await;
        assert_problem(
            status,
            &problem,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert!(
            problem.to_string().contains("\\\"unlimited\\\""),
            "says what a limit can be: {problem}"
        );
    }

    // Each sends once; the account under the default is then full for the hour, the
    // unlimited one is not.
    for account in [&shop, &other] {
        let (status, body) = app
            .post(
                "/v1/send",
                &account.token,
                transactional("buyer@example.com"),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        wait_admin(&app, &format!("/v1/admin/accounts/{}", account.id), |a| {
            a["windows"]["hour"]["sent"] == 1
        })
        .await;
    }
    let (status, body) = app
        .post("/v1/send", &shop.token, transactional("again@example.com"))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "unlimited: {body}");
    let (status, problem) = app
        .post("/v1/send", &other.token, transactional("again@example.com"))
        .await;
    assert_problem(
        status,
        &problem,
        StatusCode::TOO_MANY_REQUESTS,
        "quota_exceeded",
    );
    wait_admin(&app, &path, |a| a["windows"]["hour"]["sent"] == 2).await;
    assert_eq!(hour_window(&app, &shop.id).await["limit"], Value::Null);

    // `null` returns the account to the installation's default.
    let (status, view) = admin(
        &app,
        Method::PATCH,
        &path,
        Some(json!({"limits": {"messages_per_hour": null}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["limits"]["messages_per_hour"], Value::Null, "{view}");
    assert_eq!(view["effective_limits"]["messages_per_hour"], 1, "{view}");
    let (status, problem) = app
        .post("/v1/send", &shop.token, transactional("third@example.com"))
        .await;
    assert_problem(
        status,
        &problem,
        StatusCode::TOO_MANY_REQUESTS,
        "quota_exceeded",
    );
}

async fn a_retried_message_takes_one_sending_slot(backend: Backend) {
    let server = SmtpServer::start();
    let smtp = server.url();
    let app = TestApp::spawn_with(backend, move |vars| {
        vars.insert("SMTP_URL".into(), smtp);
        vars.insert("MAILROOM_RETRY_BASE_MS".into(), "100".into());
        vars.insert("MAILROOM_DELIVERY_MAX_ATTEMPTS".into(), "4".into());
    })
    .await;
    let shop = app.create_account("Shop").await;
    let (status, body) = admin(
        &app,
        Method::PATCH,
        &format!("/v1/admin/accounts/{}", shop.id),
        Some(json!({"limits": {"messages_per_hour": 10}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The SMTP server answers 451 to this address, every time: the message is retried.
    let (status, body) = app
        .post(
            "/v1/send",
            &shop.token,
            transactional("tempfail@example.com"),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let deferred = app
            .all_pages(&shop.token, "/v1/events?type=deferred", 100)
            .await;
        if deferred.len() >= 3 {
            break;
        }
        assert!(Instant::now() < deadline, "never retried: {deferred:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let hour = hour_window(&app, &shop.id).await;
    assert_eq!(
        hour["sent"], 1,
        "one message, one slot, however often it is tried: {hour}"
    );
}

mod sqlite {
    use super::*;

    #[tokio::test]
    async fn an_account_can_be_made_unlimited_under_an_installation_default() {
        super::an_account_can_be_made_unlimited_under_an_installation_default(Backend::Sqlite)
            .await;
    }

    #[tokio::test]
    async fn a_retried_message_takes_one_sending_slot() {
        super::a_retried_message_takes_one_sending_slot(Backend::Sqlite).await;
    }
}

mod postgres {
    use super::*;

    #[tokio::test]
    async fn an_account_can_be_made_unlimited_under_an_installation_default() {
        super::an_account_can_be_made_unlimited_under_an_installation_default(Backend::Postgres)
            .await;
    }

    #[tokio::test]
    async fn a_retried_message_takes_one_sending_slot() {
        super::a_retried_message_takes_one_sending_slot(Backend::Postgres).await;
    }
}
