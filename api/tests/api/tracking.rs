//! Events end to end in embedded mode (SQLite and PostgreSQL): account settings, tracking
//! only with the account's setting and the contact's consent, open and click endpoints
//! (tampering, open-redirect attempts), events recorded once and counted in campaign
//! statistics, unsubscribes (list or account-wide, one-click replays), delivery outcomes.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::campaigns::{create_campaign, grant, subscriber, wait_for_sandbox, wait_for_status};
use crate::delivery::app_with_relay;
use crate::helpers::*;
use crate::on_both_backends;
use crate::smtp_server::SmtpServer;

/// Polls `GET /v1/events?{query}` until it holds `n` events; answers them.
pub async fn wait_for_events(app: &TestApp, token: &str, query: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let events = app
            .all_pages(token, &format!("/v1/events?{query}"), 500)
            .await;
        if events.len() >= n {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {n} events ({query}): {events:?}",
            events.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn stats(app: &TestApp, token: &str, campaign: &str) -> Value {
    let (status, body) = app
        .get(&format!("/v1/campaigns/{campaign}/stats"), token)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Polls the campaign's statistics until `check` holds.
pub async fn wait_for_stats(
    app: &TestApp,
    token: &str,
    campaign: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = stats(app, token, campaign).await;
        if check(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "statistics never settled: {s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn tracked_body(list: &str, tracking: bool) -> Value {
    json!({
        "name": "Sale",
        "list_ids": [list],
        "subject": "Sale for {{ contact.name }}",
        "from_email": "news@shop.example",
        "html": "<html><body><p>Hi {{ contact.name }}</p>\
                 <p><a href=\"https://shop.example/sale?a=1&amp;b=2\">Sale</a> \
                 <a href='https://shop.example/blog'>Blog</a> \
                 <a href=\"mailto:help@shop.example\">Help</a></p>\
                 <p><a href=\"{{ unsubscribe_url }}\">Leave</a></p></body></html>",
        "tracking": tracking
    })
}

pub async fn send_and_collect(
    app: &TestApp,
    token: &str,
    body: Value,
    expected: usize,
) -> (String, Vec<Value>) {
    let before = crate::campaigns::sandbox(app, token).await.len();
    let campaign = create_campaign(app, token, body).await;
    let (status, sent) = app
        .post(&format!("/v1/campaigns/{campaign}/send"), token, json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{sent}");
    wait_for_status(app, token, &campaign, "sent").await;
    let all = wait_for_sandbox(app, token, before + expected).await;
    let mine: Vec<Value> = all
        .into_iter()
        .filter(|m| {
            m["subject"]
                .as_str()
                .is_some_and(|s| s.starts_with("Sale for"))
        })
        .skip(before)
        .collect();
    (campaign, mine)
}

pub fn html_to<'a>(messages: &'a [Value], to: &str) -> &'a str {
    messages
        .iter()
        .find(|m| m["to"] == to)
        .unwrap_or_else(|| panic!("no mail to {to}: {messages:?}"))["html"]
        .as_str()
        .unwrap()
}

/// The `href`/`src` values of the HTML that point at `prefix`.
pub fn urls_with(html: &str, prefix: &str) -> Vec<String> {
    html.split(['"', '\''])
        .filter(|part| part.starts_with(prefix))
        .map(|s| s.replace("&amp;", "&"))
        .collect()
}

fn path_of(url: &str) -> String {
    let parsed = url::Url::parse(url).unwrap();
    parsed.path().to_owned()
}

on_both_backends! {
    async fn account_settings_are_read_and_changed_with_validation(app) {
        let acct = app.create_account("Shop").await;
        let (status, account) = app.get("/v1/account", &acct.token).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(account["id"], acct.id.as_str());
        assert_eq!(account["tracking_enabled"], false);
        assert_eq!(account["unsubscribe_scope"], "list");
        assert_eq!(account["truncate_ips"], false);
        let (status, account) = app
            .patch("/v1/account", &acct.token, json!({"tracking_enabled": true, "unsubscribe_scope": "account"}))
            .await;
        assert_eq!(status, StatusCode::OK, "{account}");
        assert_eq!((account["tracking_enabled"].as_bool(), account["unsubscribe_scope"].as_str()), (Some(true), Some("account")));
        assert_eq!(account["name"], "Shop");
        let (status, body) = app.patch("/v1/account", &acct.token, json!({"unsubscribe_scope": "everything"})).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        let (status, body) = app.patch("/v1/account", &acct.token, json!({"tracking": true})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let (status, body) = app.patch("/v1/account", &acct.token, json!({"name": ""})).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        // Another account's settings are its own.
        let other = app.create_account("Other").await;
        let (_, theirs) = app.get("/v1/account", &other.token).await;
        assert_eq!((theirs["tracking_enabled"].as_bool(), theirs["id"].as_str()), (Some(false), Some(other.id.as_str())));
        let (status, _) = app.get("/v1/account", "not-a-token").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }

    async fn mail_is_tracked_only_with_the_account_setting_the_campaign_flag_and_consent(app) {
        let acct = app.create_account("Shop").await;
        let list = app.list(&acct.token, "News").await;
        let ada = subscriber(&app, &acct.token, &list, "ada@example.com", "Ada").await;
        grant(&app, &acct.token, &ada, "tracking").await;
        subscriber(&app, &acct.token, &list, "bob@example.com", "Bob").await;

        // Tracking off for the account: nobody's mail is tracked.
        let (_, off) = send_and_collect(&app, &acct.token, tracked_body(&list, true), 2).await;
        for m in &off {
            let html = m["html"].as_str().unwrap();
            assert!(!html.contains("/t/o/") && !html.contains("/t/c/"), "{html}");
            assert!(html.contains("https://shop.example/sale?a=1&amp;b=2"), "{html}");
        }

        app.patch("/v1/account", &acct.token, json!({"tracking_enabled": true})).await;
        let (_, on) = send_and_collect(&app, &acct.token, tracked_body(&list, true), 2).await;
        let ada_html = html_to(&on, "ada@example.com");
        let base = &app.address;
        assert_eq!(urls_with(ada_html, &format!("{base}/t/o/")).len(), 1, "one pixel: {ada_html}");
        assert_eq!(urls_with(ada_html, &format!("{base}/t/c/")).len(), 2, "both web links: {ada_html}");
        assert!(!ada_html.contains("https://shop.example/sale"), "the original link is gone: {ada_html}");
        assert!(ada_html.contains("mailto:help@shop.example"), "mailto links stay");
        assert_eq!(urls_with(ada_html, &format!("{base}/u/")).len(), 1, "the unsubscribe link stays direct");
        // Bob never consented to tracking.
        let bob_html = html_to(&on, "bob@example.com");
        assert!(!bob_html.contains("/t/o/") && !bob_html.contains("/t/c/"), "{bob_html}");

        // A campaign that turns tracking off is not tracked, even for Ada.
        let (_, untracked) = send_and_collect(&app, &acct.token, tracked_body(&list, false), 2).await;
        assert!(!html_to(&untracked, "ada@example.com").contains("/t/"));
    }

    async fn opens_and_clicks_are_recorded_counted_and_safe_against_tampering(app) {
        let acct = app.create_account("Shop").await;
        app.patch("/v1/account", &acct.token, json!({"tracking_enabled": true})).await;
        let list = app.list(&acct.token, "News").await;
        let ada = subscriber(&app, &acct.token, &list, "ada@example.com", "Ada").await;
        grant(&app, &acct.token, &ada, "tracking").await;
        let (campaign, mail) = send_and_collect(&app, &acct.token, tracked_body(&list, true), 1).await;
        let html = html_to(&mail, "ada@example.com");
        let pixel = urls_with(html, &format!("{}/t/o/", app.address)).remove(0);
        let clicks = urls_with(html, &format!("{}/t/c/", app.address));
        let no_redirects = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();

        for _ in 0..2 {
            // A forwarding header is not believed from a peer that is no trusted proxy.
            let res = no_redirects
                .get(&pixel)
                .header("user-agent", "MailClient/1.0")
                .header("x-forwarded-for", "203.0.113.9")
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            assert_eq!(res.headers()["content-type"], "image/gif");
            assert!(res.headers()["cache-control"].to_str().unwrap().contains("no-store"));
            let gif = res.bytes().await.unwrap();
            assert!(gif.starts_with(b"GIF89a"));
        }
        let res = no_redirects.get(&clicks[0]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FOUND);
        assert_eq!(res.headers()["location"], "https://shop.example/sale?a=1&b=2");
        // An open-redirect attempt through the query string changes nothing.
        let res = no_redirects
            .get(format!("{}?url=https://evil.example/&redirect=https://evil.example/", clicks[1]))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FOUND);
        assert_eq!(res.headers()["location"], "https://shop.example/blog");
        // Tampered and unknown tokens: 404, nothing recorded.
        let mut tampered = path_of(&clicks[0]);
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        for path in [tampered.as_str(), "/t/c/not-a-token", "/t/o/AAAA", "/t/o/"] {
            let res = no_redirects.get(app.url(path)).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
            assert!(res.headers().get("location").is_none());
        }
        // An unsubscribe token is not a pixel.
        let unsubscribe = urls_with(html, &format!("{}/u/", app.address)).remove(0);
        let swapped = unsubscribe.replace("/u/", "/t/o/");
        assert_eq!(no_redirects.get(&swapped).send().await.unwrap().status(), StatusCode::NOT_FOUND);

        let opens = wait_for_events(&app, &acct.token, "type=open", 2).await;
        let clicked = wait_for_events(&app, &acct.token, "type=click", 2).await;
        assert_eq!((opens.len(), clicked.len()), (2, 2));
        let open = &opens[0];
        assert_eq!(open["email"], "ada@example.com");
        assert_eq!(open["contact_id"], ada.as_str());
        assert_eq!(open["campaign_id"], campaign.as_str());
        assert_eq!(open["ip"], "127.0.0.1");
        assert_eq!(open["user_agent"], "MailClient/1.0");
        assert!(clicked.iter().any(|c| c["url"] == "https://shop.example/sale?a=1&b=2"));
        let s = wait_for_stats(&app, &acct.token, &campaign, |s| s["clicked"]["total"] == 2).await;
        assert_eq!(s["recipients"], 1);
        assert_eq!(s["sent"], 1, "{s}");
        // The second open of the same pixel within the repeat window is logged, not counted.
        assert_eq!((s["opened"]["unique"].as_i64(), s["opened"]["total"].as_i64()), (Some(1), Some(1)), "{s}");
        assert_eq!(opens.iter().filter(|e| e["source"] == "repeat").count(), 1);
        assert_eq!((s["clicked"]["unique"].as_i64(), s["clicked"]["total"].as_i64()), (Some(1), Some(2)), "{s}");
        assert_eq!(s["rates"]["open"], 1.0);
        let links = s["links"].as_array().unwrap();
        assert_eq!(links.len(), 2, "{s}");
        assert!(links.iter().all(|l| l["total"] == 1 && l["unique"] == 1), "{s}");
        // Filters, and nothing of this account is visible to another.
        let by_campaign = wait_for_events(&app, &acct.token, &format!("campaign_id={campaign}&type=open"), 2).await;
        assert_eq!(by_campaign.len(), 2);
        let by_contact = wait_for_events(&app, &acct.token, &format!("contact_id={ada}"), 5).await;
        assert!(by_contact.iter().all(|e| e["contact_id"] == ada.as_str()));
        let future = app.all_pages(&acct.token, "/v1/events?since=2999-01-01T00:00:00Z", 50).await;
        assert!(future.is_empty());
        let other = app.create_account("Other").await;
        assert!(app.all_pages(&other.token, "/v1/events", 50).await.is_empty());
        let (status, _) = app.get(&format!("/v1/campaigns/{campaign}/stats"), &other.token).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, body) = app.get("/v1/events?type=teleport", &acct.token).await;
        assert!(status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY, "{status} {body}");
        assert_eq!(body["status"], status.as_u16());
        let (status, body) = app.get("/v1/events?since=yesterday", &acct.token).await;
        assert!(status.is_client_error(), "{body}");
    }

    async fn an_account_that_truncates_ips_stores_only_the_network(app) {
        let acct = app.create_account("Shop").await;
        app.patch("/v1/account", &acct.token, json!({"tracking_enabled": true, "truncate_ips": true})).await;
        let list = app.list(&acct.token, "News").await;
        let ada = subscriber(&app, &acct.token, &list, "ada@example.com", "Ada").await;
        grant(&app, &acct.token, &ada, "tracking").await;
        let (_, mail) = send_and_collect(&app, &acct.token, tracked_body(&list, true), 1).await;
        let pixel = urls_with(html_to(&mail, "ada@example.com"), &format!("{}/t/o/", app.address)).remove(0);
        app.client.get(&pixel).send().await.unwrap();
        let opens = wait_for_events(&app, &acct.token, "type=open", 1).await;
        assert_eq!(opens[0]["ip"], "127.0.0.0");
    }

    async fn an_account_wide_unsubscribe_suppresses_and_a_replayed_one_click_counts_once(app) {
        let acct = app.create_account("Shop").await;
        app.patch("/v1/account", &acct.token, json!({"unsubscribe_scope": "account"})).await;
        let list = app.list(&acct.token, "News").await;
        let other_list = app.list(&acct.token, "Offers").await;
        subscriber(&app, &acct.token, &list, "ada@example.com", "Ada").await;
        subscriber(&app, &acct.token, &other_list, "ada@example.com", "Ada").await;
        let (campaign, mail) = send_and_collect(&app, &acct.token, tracked_body(&list, true), 1).await;
        let link = urls_with(html_to(&mail, "ada@example.com"), &format!("{}/u/", app.address)).remove(0);
        for _ in 0..3 {
            let res = app
                .client
                .post(&link)
                .header("content-type", "application/x-www-form-urlencoded")
                .body("List-Unsubscribe=One-Click")
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK);
        }
        // Written before the answer: the suppression is there at once.
        let (_, suppressed) = app.get("/v1/suppressions?reason=unsubscribe", &acct.token).await;
        assert_eq!(suppressed["data"][0]["email"], "ada@example.com", "{suppressed}");
        let unsubs = wait_for_events(&app, &acct.token, "type=unsub", 1).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let unsubs_later = app.all_pages(&acct.token, "/v1/events?type=unsub", 50).await;
        assert_eq!(unsubs_later.len(), 1, "a replayed one-click is one unsubscribe: {unsubs_later:?}");
        assert_eq!(unsubs[0]["source"], "one_click");
        let s = wait_for_stats(&app, &acct.token, &campaign, |s| s["unsubscribed"] == 1).await;
        assert_eq!(s["unsubscribed"], 1);
        // The audit log names the recipient as the actor, once.
        let audit = app.all_pages(&acct.token, "/v1/audit-events?actor=recipient", 50).await;
        assert_eq!(audit.len(), 1, "{audit:?}");
        assert_eq!(audit[0]["action"], "member.unsubscribed");
        // The other list's campaign skips Ada: the suppression is account-wide.
        let offers = create_campaign(&app, &acct.token, tracked_body(&other_list, true)).await;
        app.post(&format!("/v1/campaigns/{offers}/send"), &acct.token, json!({})).await;
        let done = wait_for_status(&app, &acct.token, &offers, "sent").await;
        assert_eq!(done["progress"]["recipients"], 0, "{done}");
    }
}

async fn delivery_outcomes_become_events_and_counters(backend: Backend) {
    let server = SmtpServer::start();
    let app = app_with_relay(backend, &server, &[]).await;
    let acct = app.create_account("Shop").await;
    let list = app.list(&acct.token, "News").await;
    subscriber(&app, &acct.token, &list, "ada@example.com", "Ada").await;
    subscriber(&app, &acct.token, &list, "bounce-me@example.com", "B").await;
    subscriber(&app, &acct.token, &list, "tempfail-me@example.com", "T").await;
    let campaign = create_campaign(&app, &acct.token, tracked_body(&list, true)).await;
    app.post(
        &format!("/v1/campaigns/{campaign}/send"),
        &acct.token,
        json!({}),
    )
    .await;
    wait_for_status(&app, &acct.token, &campaign, "sent").await;
    let s = wait_for_stats(&app, &acct.token, &campaign, |s| {
        s["sent"] == 1 && s["bounced"]["hard"] == 1 && s["failed"] == 1
    })
    .await;
    // Three attempts for tempfail-me (MAILROOM_DELIVERY_MAX_ATTEMPTS=3): two deferrals,
    // then given up on. `451 4.3.0` is the receiving system's trouble, not the mailbox's:
    // blocked, not a soft bounce.
    assert_eq!(s["deferred"], 2, "{s}");
    assert_eq!(s["bounced"]["soft"], 0, "{s}");
    assert_eq!(s["recipients"], 3);
    let given_up = wait_for_events(&app, &acct.token, "type=blocked", 1).await;
    assert_eq!(given_up[0]["email"], "tempfail-me@example.com");
    assert_eq!(given_up[0]["source"], "failed");
    assert!(
        given_up[0]["diagnostic"]
            .as_str()
            .unwrap()
            .starts_with("451 4.3.0"),
        "{given_up:?}"
    );
    let bounces = wait_for_events(&app, &acct.token, "type=bounce", 1).await;
    assert_eq!(bounces.len(), 1, "{bounces:?}");
    let hard = bounces
        .iter()
        .find(|b| b["bounce_class"] == "hard")
        .unwrap();
    assert_eq!(hard["email"], "bounce-me@example.com");
    assert!(
        hard["diagnostic"].as_str().unwrap().starts_with("550"),
        "{hard}"
    );
    let sent = wait_for_events(&app, &acct.token, "type=sent", 1).await;
    assert_eq!(sent[0]["email"], "ada@example.com");
    let deferred = wait_for_events(&app, &acct.token, "type=deferred", 2).await;
    assert!(
        deferred
            .iter()
            .all(|d| d["diagnostic"].as_str().unwrap().contains("451"))
    );
    // A transactional message's events carry its custom id.
    let (status, _) = app
        .post(
            "/v1/send",
            &acct.token,
            json!({"messages": [{
                "from": {"email": "orders@shop.example"}, "to": [{"email": "buyer@example.com"}],
                "subject": "Order", "text": "Shipped", "custom_id": "order-9"
            }]}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let sent = wait_for_events(&app, &acct.token, "type=sent", 2).await;
    assert!(
        sent.iter()
            .any(|e| e["custom_id"] == "order-9" && e["campaign_id"].is_null())
    );
}

#[tokio::test]
async fn delivery_events_sqlite() {
    delivery_outcomes_become_events_and_counters(Backend::Sqlite).await;
}

#[tokio::test]
async fn delivery_events_postgres() {
    delivery_outcomes_become_events_and_counters(Backend::Postgres).await;
}

/// An account with tracking on, and a list holding Ada, who consents to tracking:
/// `(account, list id)`.
pub async fn tracked_reader(app: &TestApp) -> (TestAccount, String) {
    let acct = app.create_account("Shop").await;
    app.patch(
        "/v1/account",
        &acct.token,
        json!({"tracking_enabled": true}),
    )
    .await;
    let list = app.list(&acct.token, "News").await;
    let ada = subscriber(app, &acct.token, &list, "ada@example.com", "Ada").await;
    grant(app, &acct.token, &ada, "tracking").await;
    (acct, list)
}

/// Behind the operator's reverse proxy (`MAILROOM_TRUSTED_PROXIES`), the client is the
/// address the proxy appended to `X-Forwarded-For` — not what the client wrote before it.
async fn behind_a_trusted_proxy_the_forwarded_client_address_is_stored(backend: Backend) {
    let app = TestApp::spawn_with(backend, |vars| {
        vars.insert("MAILROOM_TRUSTED_PROXIES".into(), "127.0.0.1".into());
    })
    .await;
    let (acct, list) = tracked_reader(&app).await;
    let (_, mail) = send_and_collect(&app, &acct.token, tracked_body(&list, true), 1).await;
    let pixel = urls_with(
        html_to(&mail, "ada@example.com"),
        &format!("{}/t/o/", app.address),
    )
    .remove(0);
    let res = app
        .client
        .get(&pixel)
        .header("x-forwarded-for", "6.6.6.6, 203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let opens = wait_for_events(&app, &acct.token, "type=open", 1).await;
    assert_eq!(opens[0]["ip"], "203.0.113.9");
}

#[tokio::test]
async fn trusted_proxy_sqlite() {
    behind_a_trusted_proxy_the_forwarded_client_address_is_stored(Backend::Sqlite).await;
}

#[tokio::test]
async fn trusted_proxy_postgres() {
    behind_a_trusted_proxy_the_forwarded_client_address_is_stored(Backend::Postgres).await;
}
