//! Abuse limits, replaying what an attacker did: a flood of wrong key secrets at
//! `POST /v1/auth/token`, one key's tokens hammering the API, 600 hits of one recipient's
//! pixel, slow request bodies, open metrics, frameable pages.

use std::time::Duration;

use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;
use crate::tracking::{
    html_to, send_and_collect, stats, tracked_body, tracked_reader, urls_with, wait_for_events,
    wait_for_stats,
};

/// An app behind a trusted proxy on loopback, so that each request can name its client in
/// `X-Forwarded-For`.
async fn behind_proxy(backend: Backend, extra: &[(&str, &str)]) -> TestApp {
    let extra: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    TestApp::spawn_with(backend, move |vars| {
        vars.insert("MAILROOM_TRUSTED_PROXIES".into(), "127.0.0.1".into());
        vars.extend(extra);
    })
    .await
}

async fn token_attempt(
    app: &TestApp,
    client: &str,
    key_id: &str,
    secret: &str,
) -> reqwest::Response {
    app.client
        .post(app.url("/v1/auth/token"))
        .header("x-forwarded-for", client)
        .json(&json!({"key_id": key_id, "secret": secret}))
        .send()
        .await
        .unwrap()
}

fn retry_after(res: &reqwest::Response) -> u64 {
    res.headers()
        .get("retry-after")
        .unwrap_or_else(|| panic!("a 429 says when to retry: {:?}", res.headers()))
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// The flood of the finding: many concurrent wrong secrets for one key from one address.
/// Beyond the address's limit they are refused at once (429, `Retry-After`), while the
/// key's owner, from elsewhere, still gets a token and other requests are served. The
/// per-key limit is off, so the address's limit alone answers the flood.
async fn a_flood_of_wrong_secrets_is_refused_while_the_owner_and_other_requests_get_through(
    backend: Backend,
) {
    // Two verifier threads: their queue (16 each) holds the address's burst (30), so every 429
    // here is the address's.
    let app = behind_proxy(
        backend,
        &[
            ("MAILROOM_AUTH_RATE_LIMIT_PER_KEY", "off"),
            ("MAILROOM_AUTH_VERIFY_CONCURRENCY", "2"),
        ],
    )
    .await;
    let acct = app.create_account("Victim").await;
    let attacker = "203.0.113.66";
    let flood = (0..200).map(|i| {
        let app = &app;
        let key_id = acct.key_id.clone();
        async move {
            let res = token_attempt(app, attacker, &key_id, &format!("mrk_wrong{i}")).await;
            let status = res.status();
            let wait = (status == StatusCode::TOO_MANY_REQUESTS).then(|| retry_after(&res));
            let body: Value = res.json().await.unwrap();
            (status, wait, body)
        }
    });
    let others = (0..20).map(|_| async {
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status()
    });
    let (flooded, others) = tokio::join!(join_all(flood), join_all(others));
    assert!(others.iter().all(|s| *s == StatusCode::OK), "{others:?}");
    let refused: Vec<&(StatusCode, Option<u64>, Value)> = flooded
        .iter()
        .filter(|(s, _, _)| *s == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert!(
        refused.len() >= 150,
        "only {} of 200 attempts refused",
        refused.len()
    );
    for (status, wait, body) in &flooded {
        match *status {
            StatusCode::UNAUTHORIZED => assert_eq!(body["code"], "unauthorized"),
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(body["code"], "rate_limited", "{body}");
                assert!(
                    body["detail"]
                        .as_str()
                        .unwrap()
                        .starts_with("too many attempts from this client address"),
                    "{body}"
                );
                assert!(wait.is_some_and(|w| w >= 1), "{wait:?}");
            }
            other => panic!("{other} {body}"),
        }
    }
    // The owner, from another address, gets a token.
    let res = token_attempt(&app, "198.51.100.7", &acct.key_id, &acct.secret).await;
    assert_eq!(res.status(), StatusCode::OK);
    let (status, body) = app.get("/v1/contacts", &acct.token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Wrong secrets for one key from many addresses: the key's own limit refuses them (the
/// per-address limit is off, so it alone answers), and another key is untouched.
async fn attempts_on_one_key_are_limited_whatever_address_they_come_from(backend: Backend) {
    let app = behind_proxy(
        backend,
        &[
            ("MAILROOM_AUTH_RATE_LIMIT_PER_KEY", "5/min"),
            ("MAILROOM_AUTH_RATE_LIMIT_PER_ADDRESS", "off"),
        ],
    )
    .await;
    let target = app.create_account("Target").await;
    let other = app.create_account("Other").await;
    // The exchange inside `create_account` counted once against each key.
    let mut statuses = Vec::new();
    for i in 0..8 {
        let client = format!("198.51.100.{}", 10 + i);
        let res = token_attempt(&app, &client, &target.key_id, "mrk_wrong").await;
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        if status == StatusCode::TOO_MANY_REQUESTS {
            let detail = body["detail"].as_str().unwrap();
            assert!(
                detail.starts_with("too many attempts for this key id"),
                "{body}"
            );
        }
        statuses.push(status);
    }
    let expected: Vec<StatusCode> = [StatusCode::UNAUTHORIZED; 4]
        .into_iter()
        .chain([StatusCode::TOO_MANY_REQUESTS; 4])
        .collect();
    assert_eq!(statuses, expected);
    let res = token_attempt(&app, "198.51.100.99", &other.key_id, &other.secret).await;
    assert_eq!(res.status(), StatusCode::OK);
}

/// `MAILROOM_RATE_LIMIT_PER_KEY`: every answer to a key's tokens says the limit and what
/// remains of it; over it, 429 `rate_limited` with `Retry-After`. Other keys have their own.
async fn a_key_over_its_request_rate_gets_429_with_the_ratelimit_headers(backend: Backend) {
    let app = TestApp::spawn_with(backend, |vars| {
        vars.insert("MAILROOM_RATE_LIMIT_PER_KEY".into(), "5/min".into());
    })
    .await;
    let busy = app.create_account("Busy").await;
    let calm = app.create_account("Calm").await;
    let get = |token: String| {
        let app = &app;
        async move {
            app.client
                .get(app.url("/v1/contacts"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    };
    for remaining in (0..5).rev() {
        let res = get(busy.token.clone()).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["ratelimit-policy"], "\"per-key\";q=5;w=60");
        let state = res.headers()["ratelimit"].to_str().unwrap().to_owned();
        assert!(
            state.starts_with(&format!("\"per-key\";r={remaining};t=")),
            "{state}"
        );
    }
    let res = get(busy.token.clone()).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait = retry_after(&res);
    assert!((1..=12).contains(&wait), "{wait}");
    assert_eq!(res.headers()["ratelimit-policy"], "\"per-key\";q=5;w=60");
    assert!(
        res.headers()["ratelimit"]
            .to_str()
            .unwrap()
            .starts_with("\"per-key\";r=0;t=")
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "rate_limited", "{body}");
    assert_eq!(body["status"], 429);
    // Another key is not slowed by this one.
    assert_eq!(get(calm.token.clone()).await.status(), StatusCode::OK);
}

/// Off by default: no limit, no headers.
async fn without_a_per_key_rate_no_limit_applies(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let acct = app.create_account("Shop").await;
    for _ in 0..30 {
        let res = app
            .client
            .get(app.url("/v1/contacts"))
            .bearer_auth(&acct.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.headers().get("ratelimit").is_none());
    }
}

/// The finding: 600 hits of one recipient's pixel made `opened.total` 601. Now the link's
/// limit answers 429 beyond its burst, the hits it let through are all in the event log,
/// and they count once in the statistics (one window).
async fn six_hundred_hits_of_one_pixel_count_once_and_are_limited(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (acct, list) = tracked_reader(&app).await;
    let (campaign, mail) = send_and_collect(&app, &acct.token, tracked_body(&list, true), 1).await;
    let pixel = urls_with(
        html_to(&mail, "ada@example.com"),
        &format!("{}/t/o/", app.address),
    )
    .remove(0);
    let mut answered = Vec::new();
    for _ in 0..600 {
        let res = app.client.get(&pixel).send().await.unwrap();
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(retry_after(&res) >= 1);
        }
        answered.push(res.status());
    }
    let served = answered.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = answered
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(served + refused, 600, "{answered:?}");
    assert!((30..100).contains(&served), "{served} hits served");
    let opens = wait_for_events(&app, &acct.token, "type=open", served).await;
    assert_eq!(opens.len(), served);
    assert_eq!(
        opens.iter().filter(|e| e["source"] == "repeat").count(),
        served - 1
    );
    app.wait_until_idle().await;
    let s = wait_for_stats(&app, &acct.token, &campaign, |s| s["opened"]["unique"] == 1).await;
    assert_eq!(s["opened"]["total"], 1, "{s}");
    // Another recipient's link, or another link, is not limited by this one.
    let click = urls_with(
        html_to(&mail, "ada@example.com"),
        &format!("{}/t/c/", app.address),
    )
    .remove(0);
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    assert_eq!(
        no_redirects.get(&click).send().await.unwrap().status(),
        StatusCode::FOUND
    );
    wait_for_stats(&app, &acct.token, &campaign, |s| s["clicked"]["total"] == 1).await;
    assert_eq!(
        stats(&app, &acct.token, &campaign).await["opened"]["total"],
        1
    );
}

/// The repeat window is the installation's: hits of one pixel on two API instances sharing
/// a database (two replicas behind a load balancer) count once, and both stay in the log.
async fn hits_of_one_pixel_on_two_instances_count_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let replica = app.spawn_beside(|_| {}).await;
    let (acct, list) = tracked_reader(&app).await;
    let (campaign, mail) = send_and_collect(&app, &acct.token, tracked_body(&list, true), 1).await;
    // Either instance's worker may have written the mail, with its own public URL.
    let path = urls_with(html_to(&mail, "ada@example.com"), "http://")
        .into_iter()
        .find_map(|url| Some(format!("/t/o/{}", url.split_once("/t/o/")?.1)))
        .expect("a pixel");
    let (pixel, on_replica) = (app.url(&path), replica.url(&path));
    for url in [&pixel, &on_replica, &pixel, &on_replica] {
        let res = app.client.get(url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    let opens = wait_for_events(&app, &acct.token, "type=open", 4).await;
    assert_eq!(
        opens.iter().filter(|e| e["source"] == "repeat").count(),
        3,
        "{opens:?}"
    );
    app.wait_until_idle().await;
    let s = wait_for_stats(&app, &acct.token, &campaign, |s| s["opened"]["unique"] == 1).await;
    assert_eq!(s["opened"]["total"], 1, "{s}");
}

/// One client address over its limit on the public endpoints is refused; other addresses
/// (another recipient behind another proxy) are served.
async fn a_client_address_over_the_public_limit_is_refused_and_others_served(backend: Backend) {
    let app = behind_proxy(
        backend,
        &[("MAILROOM_PUBLIC_RATE_LIMIT_PER_ADDRESS", "10/min")],
    )
    .await;
    let (acct, list) = tracked_reader(&app).await;
    let (_, mail) = send_and_collect(&app, &acct.token, tracked_body(&list, true), 1).await;
    let html = html_to(&mail, "ada@example.com");
    let pixel = urls_with(html, &format!("{}/t/o/", app.address)).remove(0);
    let unsubscribe = urls_with(html, &format!("{}/u/", app.address)).remove(0);
    let hit = |url: String, client: &'static str| {
        let app = &app;
        async move {
            app.client
                .get(url)
                .header("x-forwarded-for", client)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(hit(pixel.clone(), "203.0.113.5").await);
        statuses.push(hit(unsubscribe.clone(), "203.0.113.5").await);
    }
    assert!(
        statuses[..10].iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    assert!(
        statuses[10..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    assert_eq!(hit(pixel.clone(), "198.51.100.20").await, StatusCode::OK);
    assert_eq!(
        hit(app.url("/confirm/garbage"), "203.0.113.5").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// With `MAILROOM_METRICS_TOKEN` set, `/metrics` asks for it; installation-wide counts
/// are not for anyone who finds the URL.
async fn metrics_ask_for_the_metrics_token_when_one_is_set(backend: Backend) {
    let app = TestApp::spawn_with(backend, |vars| {
        vars.insert("MAILROOM_METRICS_TOKEN".into(), "metrics-s3cret".into());
    })
    .await;
    let (status, body) = app.request(Method::GET, "/metrics", None, None).await;
    assert_problem(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, body) = app
        .request(Method::GET, "/metrics", Some("wrong"), None)
        .await;
    assert_problem(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, body) = app
        .request(Method::GET, "/metrics", Some("metrics-s3cret"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.as_str().unwrap().contains("mailroom_jobs"), "{body}");
}

/// The confirm and unsubscribe pages cannot be framed by another site (a framed button is
/// a click-jacking target), load nothing, and leak no referrer.
async fn recipient_pages_cannot_be_framed_and_load_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (acct, list) = tracked_reader(&app).await;
    let (_, mail) = send_and_collect(&app, &acct.token, tracked_body(&list, true), 1).await;
    let unsubscribe = urls_with(
        html_to(&mail, "ada@example.com"),
        &format!("{}/u/", app.address),
    )
    .remove(0);
    for (method, url) in [
        (Method::GET, unsubscribe.clone()),
        (Method::POST, unsubscribe.clone()),
        (Method::GET, app.url("/confirm/not-a-token")),
        (Method::POST, app.url("/confirm/not-a-token")),
        (Method::GET, app.url("/u/not-a-token")),
    ] {
        let res = app
            .client
            .request(method.clone(), &url)
            .send()
            .await
            .unwrap();
        let (status, headers) = (res.status(), res.headers().clone());
        let is_page = headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html");
        assert!(
            is_page,
            "{method} {url}: {status} {}",
            res.text().await.unwrap_or_default()
        );
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert_eq!(headers["x-frame-options"], "DENY");
        assert_eq!(headers["referrer-policy"], "no-referrer");
    }
}

/// A request body trickling in (a byte every 100 ms: 2,000 bytes would take 200 s) is cut
/// at the body timeout — 408 and the connection closed — long before it would finish.
async fn a_body_that_trickles_in_is_cut_at_the_timeout(backend: Backend) {
    let app = TestApp::spawn_with(backend, |vars| {
        vars.insert("MAILROOM_BODY_TIMEOUT_SECS".into(), "1".into());
    })
    .await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let length = 2000;
    let head = format!(
        "POST /v1/auth/token HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\ncontent-length: {length}\r\n\r\n"
    );
    writer.write_all(head.as_bytes()).await.unwrap();
    let (sent_tx, mut sent_rx) = tokio::sync::watch::channel(0usize);
    let trickle = tokio::spawn(async move {
        for sent in 1..=length {
            if writer.write_all(b" ").await.is_err() {
                return;
            }
            let _ = sent_tx.send(sent);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(60), reader.read_to_end(&mut answer)).await;
    let sent = *sent_rx.borrow_and_update();
    trickle.abort();
    assert!(read.is_ok(), "the connection was never closed");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert!(sent < length, "cut only after the whole body arrived");
    // Bodies that arrive in time are served as ever.
    let (status, _) = app
        .request(
            Method::POST,
            "/v1/auth/token",
            None,
            Some(json!({"key_id": "x", "secret": "y"})),
        )
        .await;
    assert!(
        status.is_client_error() && status != StatusCode::REQUEST_TIMEOUT,
        "{status}"
    );
}

/// Runs `$test(backend)` as `$name::sqlite` and `$name::postgres`.
macro_rules! both_backends {
    ($($name:ident => $test:ident;)*) => {$(
        mod $name {
            use super::*;

            #[tokio::test]
            async fn sqlite() {
                $test(Backend::Sqlite).await;
            }

            #[tokio::test]
            async fn postgres() {
                $test(Backend::Postgres).await;
            }
        }
    )*};
}

both_backends! {
    auth_flood => a_flood_of_wrong_secrets_is_refused_while_the_owner_and_other_requests_get_through;
    auth_per_key => attempts_on_one_key_are_limited_whatever_address_they_come_from;
    per_key_rate => a_key_over_its_request_rate_gets_429_with_the_ratelimit_headers;
    per_key_rate_off => without_a_per_key_rate_no_limit_applies;
    pixel_flood => six_hundred_hits_of_one_pixel_count_once_and_are_limited;
    repeat_window_across_instances => hits_of_one_pixel_on_two_instances_count_once;
    public_per_address => a_client_address_over_the_public_limit_is_refused_and_others_served;
    metrics_token => metrics_ask_for_the_metrics_token_when_one_is_set;
    recipient_pages => recipient_pages_cannot_be_framed_and_load_nothing;
    slow_body => a_body_that_trickles_in_is_cut_at_the_timeout;
}
