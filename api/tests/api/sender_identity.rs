//! Sender identity, black-box: with a relay, mail is sent only from domains the account
//! verified, and every such message arrives DKIM-signed — checked as a receiver would, by
//! dkimpy resolving keys in the test DNS server, with the From aligned to `d=`. The sandbox
//! lets an unverified From through with a note; `MAILROOM_REQUIRE_VERIFIED_DOMAINS=false`
//! turns all of it off; the double opt-in mail (the operator's address) is exempt.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::campaigns::{campaign_body, subscriber, wait_for_sandbox, wait_for_status};
use crate::dns_server::{DnsServer, repo_root};
use crate::helpers::{Backend, TestApp, assert_problem};
use crate::sending_domains::add_domain;
use crate::smtp_server::{ReceivedMessage, SmtpServer};
use crate::webhook_receiver::WebhookReceiver;

async fn app(
    backend: Backend,
    smtp: Option<&SmtpServer>,
    dns: &DnsServer,
    enforce: bool,
) -> TestApp {
    app_with(backend, smtp, dns, enforce, &[]).await
}

async fn app_with(
    backend: Backend,
    smtp: Option<&SmtpServer>,
    dns: &DnsServer,
    enforce: bool,
    extra: &[(&str, &str)],
) -> TestApp {
    let smtp = smtp.map(SmtpServer::url);
    let dns = dns.addr();
    let extra: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    TestApp::spawn_with(backend, move |vars| {
        for (k, v) in extra {
            vars.insert(k, v);
        }
        if let Some(url) = smtp {
            vars.insert("SMTP_URL".into(), url);
        }
        vars.insert("MAILROOM_DNS_SERVERS".into(), dns);
        vars.insert(
            "MAILROOM_REQUIRE_VERIFIED_DOMAINS".into(),
            enforce.to_string(),
        );
        vars.insert(
            "MAILROOM_MAIL_FROM".into(),
            "confirm@operator.example".into(),
        );
    })
    .await
}

fn send_body(from: &str, to: &str) -> Value {
    json!({"messages": [{
        "from": {"email": from},
        "to": [{"email": to}],
        "subject": "Your receipt",
        "text": "Thank you.",
        "html": "<p>Thank you.</p>",
        "headers": {"X-Order": "42"}
    }]})
}

/// dkimpy's verdict on a received message: `{"signatures": [...], "from_domain"}`.
fn dkimpy(dns: &DnsServer, message: &ReceivedMessage) -> Value {
    let mut child = Command::new("python3")
        .arg(repo_root().join("scripts").join("dkim_verify.py"))
        .arg("--dns")
        .arg(dns.addr())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 scripts/dkim_verify.py (pip install dkimpy dnspython)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(message.data.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("dkim_verify: {}", String::from_utf8_lossy(&out.stdout)))
}

/// Asserts one valid signature by `domain`, aligned (relaxed) with the From domain, over
/// the headers a receiver needs signed.
fn assert_signed_by(dns: &DnsServer, message: &ReceivedMessage, domain: &str) {
    let verdict = dkimpy(dns, message);
    let signatures = verdict["signatures"].as_array().unwrap();
    assert_eq!(signatures.len(), 1, "{verdict}\n{}", message.data);
    let signature = &signatures[0];
    assert_eq!(signature["verified"], true, "{verdict}\n{}", message.data);
    assert_eq!(signature["d"], domain);
    assert_eq!(signature["c"], "relaxed/relaxed");
    let from_domain = verdict["from_domain"].as_str().unwrap();
    assert!(
        from_domain == domain || from_domain.ends_with(&format!(".{domain}")),
        "From {from_domain} is not aligned with d={domain}"
    );
    let signed: Vec<&str> = signature["h"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for needed in [
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
    ] {
        assert!(signed.contains(&needed), "{needed} not signed: {signed:?}");
    }
}

async fn verified_domain(
    app: &TestApp,
    token: &str,
    dns: &DnsServer,
    name: &str,
    algorithm: &str,
) -> Value {
    let domain = add_domain(
        app,
        token,
        json!({"domain": name, "dkim_algorithm": algorithm}),
    )
    .await;
    dns.publish(&domain);
    let id = domain["id"].as_str().unwrap();
    let (status, checked) = app
        .post(
            &format!("/v1/sending-domains/{id}/verify"),
            token,
            json!(null),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{checked}");
    assert_eq!(checked["status"], "verified", "{checked}");
    checked
}

async fn only_verified_domains_send_and_their_mail_is_signed(backend: Backend) {
    let smtp = SmtpServer::start();
    let dns = DnsServer::start();
    let app = app(backend, Some(&smtp), &dns, true).await;
    let token = app.create_account("Shop").await.token;
    let list = app.list(&token, "News").await;
    subscriber(&app, &token, &list, "ada@example.com", "Ada").await;

    // Nothing verified: every way of sending from shop.example is refused, by field.
    let (status, body) = app
        .post("/v1/campaigns", &token, campaign_body(&list))
        .await;
    assert_problem(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "sender_domain_unverified",
    );
    assert_eq!(body["field"], "from_email", "{body}");
    let (status, body) = app
        .post(
            "/v1/send",
            &token,
            send_body("billing@shop.example", "bob@example.com"),
        )
        .await;
    assert_problem(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "sender_domain_unverified",
    );
    assert_eq!(body["field"], "messages[0].from.email", "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("shop.example"),
        "{body}"
    );

    // A domain added but not yet proven does not count either.
    let pending = add_domain(&app, &token, json!({"domain": "shop.example"})).await;
    let (status, _) = app
        .post("/v1/campaigns", &token, campaign_body(&list))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let id = pending["id"].as_str().unwrap().to_owned();
    app.delete(&format!("/v1/sending-domains/{id}"), &token)
        .await;

    // Verified: campaigns (also from a subdomain) and transactional mail go, signed.
    verified_domain(&app, &token, &dns, "shop.example", "rsa").await;
    let mut body = campaign_body(&list);
    body["from_email"] = json!("news@letters.shop.example");
    let (status, campaign) = app.post("/v1/campaigns", &token, body).await;
    assert_eq!(status, StatusCode::CREATED, "{campaign}");
    let campaign = campaign["id"].as_str().unwrap().to_owned();
    let (status, body) = app
        .patch(
            &format!("/v1/campaigns/{campaign}"),
            &token,
            json!({"from_email": "ceo@bank.example"}),
        )
        .await;
    assert_problem(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "sender_domain_unverified",
    );
    let (status, body) = app
        .post(&format!("/v1/campaigns/{campaign}/send"), &token, json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    wait_for_status(&app, &token, &campaign, "sent").await;
    let (status, body) = app
        .post(
            "/v1/send",
            &token,
            send_body("billing@shop.example", "bob@example.com"),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let received = smtp.wait_for_async(2, Duration::from_secs(30)).await;
    assert_eq!(received.len(), 2);
    for message in &received {
        assert_signed_by(&dns, message, "shop.example");
    }
    let campaign_mail = received
        .iter()
        .find(|m| m.rcpt_tos == ["ada@example.com"])
        .unwrap();
    let verdict = dkimpy(&dns, campaign_mail);
    let signed = verdict["signatures"][0]["h"].to_string();
    assert!(
        signed.contains("\"list-unsubscribe\"") && signed.contains("\"list-unsubscribe-post\""),
        "RFC 8058 wants both List-Unsubscribe headers signed: {signed}"
    );

    // The DKIM record disappears: the next check fails the domain, and sending stops.
    dns.serve(&[]);
    let domains = app.all_pages(&token, "/v1/sending-domains", 10).await;
    let id = domains[0]["id"].as_str().unwrap();
    let (_, checked) = app
        .post(
            &format!("/v1/sending-domains/{id}/verify"),
            &token,
            json!(null),
        )
        .await;
    assert_eq!(checked["status"], "failed");
    let (status, body) = app
        .post(
            "/v1/send",
            &token,
            send_body("billing@shop.example", "bob@example.com"),
        )
        .await;
    assert_problem(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "sender_domain_unverified",
    );
    let (status, body) = app
        .post(
            &format!("/v1/campaigns/{campaign}/test"),
            &token,
            json!({"emails": ["qa@example.com"]}),
        )
        .await;
    assert_problem(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "sender_domain_unverified",
    );

    // The double opt-in mail is from the operator's address: never refused.
    let (status, list) = app
        .post(
            "/v1/lists",
            &token,
            json!({"name": "Weekly", "double_opt_in": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{list}");
    let (status, member) = app
        .post(
            &format!("/v1/lists/{}/members", list["id"].as_str().unwrap()),
            &token,
            json!({"email": "cy@example.com"}),
        )
        .await;
    assert!(status.is_success(), "{member}");
    let received = smtp.wait_for_async(3, Duration::from_secs(30)).await;
    assert_eq!(received.len(), 3);
    assert!(
        received[2]
            .data
            .contains("From: Weekly <confirm@operator.example>"),
        "{}",
        received[2].data
    );
}

async fn ed25519_signatures_verify_too(backend: Backend) {
    let smtp = SmtpServer::start();
    let dns = DnsServer::start();
    let app = app(backend, Some(&smtp), &dns, true).await;
    let token = app.create_account("Shop").await.token;
    verified_domain(&app, &token, &dns, "shop.example", "ed25519").await;
    let (status, body) = app
        .post(
            "/v1/send",
            &token,
            send_body("billing@shop.example", "bob@example.com"),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let received = smtp.wait_for_async(1, Duration::from_secs(30)).await;
    assert_eq!(received.len(), 1);
    assert_signed_by(&dns, &received[0], "shop.example");
}

async fn the_sandbox_accepts_an_unverified_from_and_says_a_relay_would_not(backend: Backend) {
    let dns = DnsServer::start();
    let app = app(backend, None, &dns, true).await;
    let token = app.create_account("Shop").await.token;
    let (status, body) = app
        .post(
            "/v1/send",
            &token,
            send_body("ceo@bank.example", "bob@example.com"),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let messages = wait_for_sandbox(&app, &token, 1).await;
    let raw = messages[0]["raw"].as_str().unwrap();
    assert!(
        raw.contains("X-Mailroom-Sandbox-Note: a relay would refuse this message: bank.example is not a verified sending domain"),
        "{raw}"
    );
}

async fn the_operator_can_leave_sender_authentication_to_the_relay(backend: Backend) {
    let smtp = SmtpServer::start();
    let dns = DnsServer::start();
    let app = app(backend, Some(&smtp), &dns, false).await;
    let token = app.create_account("Shop").await.token;
    let (status, body) = app
        .post(
            "/v1/send",
            &token,
            send_body("ceo@bank.example", "bob@example.com"),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let received = smtp.wait_for_async(1, Duration::from_secs(30)).await;
    assert_eq!(received.len(), 1);
    assert!(
        !received[0].data.contains("DKIM-Signature"),
        "{}",
        received[0].data
    );
}

/// The `s=` of a received message's signature.
fn selector_of(dns: &DnsServer, message: &ReceivedMessage) -> String {
    dkimpy(dns, message)["signatures"][0]["s"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn a_rotated_key_signs_once_published_and_the_old_one_stays_listed(backend: Backend) {
    let smtp = SmtpServer::start();
    let dns = DnsServer::start();
    let app = app(backend, Some(&smtp), &dns, true).await;
    let token = app.create_account("Shop").await.token;
    let domain = verified_domain(&app, &token, &dns, "shop.example", "rsa").await;
    let id = domain["id"].as_str().unwrap();
    let old = domain["dkim_selector"].as_str().unwrap().to_owned();

    let (status, rotated) = app
        .post(
            &format!("/v1/sending-domains/{id}/rotate-dkim"),
            &token,
            json!(null),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let next = rotated["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["purpose"] == "dkim_next")
        .unwrap_or_else(|| panic!("no dkim_next record: {rotated}"))
        .clone();
    assert!(
        !next["name"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{old}."))
    );
    assert_eq!(rotated["status"], "verified", "the current key still signs");

    // Until the new key is published, mail is signed with the old one.
    let (status, _) = app
        .post(
            "/v1/send",
            &token,
            send_body("a@shop.example", "bob@example.com"),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let received = smtp.wait_for_async(1, Duration::from_secs(30)).await;
    assert_eq!(selector_of(&dns, &received[0]), old);

    // Published beside the old one and found: the new key signs; the old one is listed
    // as previous, and mail it signed still verifies.
    dns.publish(&rotated);
    let (_, checked) = app
        .post(
            &format!("/v1/sending-domains/{id}/verify"),
            &token,
            json!(null),
        )
        .await;
    assert_eq!(checked["status"], "verified", "{checked}");
    let new = checked["dkim_selector"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    let purposes: Vec<(&str, &str)> = checked["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["purpose"].as_str().unwrap().starts_with("dkim"))
        .map(|r| (r["purpose"].as_str().unwrap(), r["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        purposes,
        [("dkim", "verified"), ("dkim_previous", "verified")],
        "{checked}"
    );
    let (status, _) = app
        .post(
            "/v1/send",
            &token,
            send_body("a@shop.example", "bob@example.com"),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let received = smtp.wait_for_async(2, Duration::from_secs(30)).await;
    assert_eq!(selector_of(&dns, &received[1]), new);
    assert_signed_by(&dns, &received[1], "shop.example");
    assert_signed_by(&dns, &received[0], "shop.example");
}

async fn a_domains_defaults_fill_what_a_message_leaves_out(backend: Backend) {
    let smtp = SmtpServer::start();
    let dns = DnsServer::start();
    let app = app(backend, Some(&smtp), &dns, true).await;
    let token = app.create_account("Shop").await.token;
    let domain = verified_domain(&app, &token, &dns, "shop.example", "rsa").await;
    let path = format!("/v1/sending-domains/{}", domain["id"].as_str().unwrap());
    let (status, body) = app
        .patch(&path, &token, json!({"default_reply_to": "not an address"}))
        .await;
    assert_problem(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(body["errors"][0]["field"], "default_reply_to", "{body}");
    let (status, updated) = app
        .patch(
            &path,
            &token,
            json!({"default_from_name": "Shop Support", "default_reply_to": "help@shop.example"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["default_from_name"], "Shop Support");
    assert_eq!(updated["status"], "verified");

    let (status, _) = app
        .post(
            "/v1/send",
            &token,
            send_body("billing@shop.example", "bob@example.com"),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let mut named = send_body("billing@shop.example", "cy@example.com");
    named["messages"][0]["from"]["name"] = json!("Billing");
    let (status, _) = app.post("/v1/send", &token, named).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let received = smtp.wait_for_async(2, Duration::from_secs(30)).await;
    let to = |who: &str| received.iter().find(|m| m.rcpt_tos == [who]).unwrap();
    let defaulted = &to("bob@example.com").data;
    assert!(
        defaulted.contains("From: \"Shop Support\" <billing@shop.example>"),
        "{defaulted}"
    );
    assert!(
        defaulted.contains("Reply-To: help@shop.example"),
        "{defaulted}"
    );
    assert_signed_by(&dns, to("bob@example.com"), "shop.example");
    let own = &to("cy@example.com").data;
    assert!(
        own.contains("From: Billing <billing@shop.example>"),
        "{own}"
    );

    let (_, cleared) = app
        .patch(&path, &token, json!({"default_from_name": null}))
        .await;
    assert_eq!(cleared["default_from_name"], Value::Null);
    assert_eq!(cleared["default_reply_to"], "help@shop.example");
}

/// Scale-out: the `mailroom-sender` process signs with the key the API made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_separate_sender_process_signs_what_it_delivers() {
    let smtp = SmtpServer::start();
    let dns = DnsServer::start();
    let so = crate::scale_out::ScaleOut::start(
        &smtp,
        None,
        &[
            ("MAILROOM_DNS_SERVERS", &dns.addr()),
            ("MAILROOM_REQUIRE_VERIFIED_DOMAINS", "true"),
        ],
    )
    .await;
    let _sender = so.sender();
    let app = &so.app;
    let token = app.create_account("Shop").await.token;
    verified_domain(app, &token, &dns, "shop.example", "rsa").await;
    let (status, body) = app
        .post(
            "/v1/send",
            &token,
            send_body("ceo@bank.example", "bob@example.com"),
        )
        .await;
    assert_problem(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "sender_domain_unverified",
    );
    let (status, body) = app
        .post(
            "/v1/send",
            &token,
            send_body("billing@shop.example", "bob@example.com"),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let received = smtp.wait_for_async(1, Duration::from_secs(60)).await;
    assert_eq!(received.len(), 1);
    assert_signed_by(&dns, &received[0], "shop.example");
}

/// The domain as the API shows it.
async fn domain_view(app: &TestApp, token: &str, id: &str) -> Value {
    let (status, domain) = app.get(&format!("/v1/sending-domains/{id}"), token).await;
    assert_eq!(status, StatusCode::OK, "{domain}");
    domain
}

/// Polls the domain until `done` holds.
async fn wait_for_domain(
    app: &TestApp,
    token: &str,
    id: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let domain = domain_view(app, token, id).await;
        if done(&domain) {
            return domain;
        }
        assert!(Instant::now() < deadline, "domain never {what}: {domain:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What a test of the periodic check needs set: a check every second, and webhooks to a
/// receiver on loopback.
const PERIODIC_CHECK_VARS: [(&str, &str); 3] = [
    ("MAILROOM_DOMAIN_CHECK_INTERVAL_SECS", "1"),
    ("MAILROOM_WEBHOOK_ALLOW_PRIVATE", "true"),
    ("MAILROOM_WEBHOOK_RETRY_BASE_MS", "100"),
];

async fn a_domain_whose_dkim_record_goes_fails_its_periodic_check_and_the_account_is_told(
    backend: Backend,
) {
    let smtp = SmtpServer::start();
    let dns = DnsServer::start();
    let receiver = WebhookReceiver::start();
    let app = app_with(backend, Some(&smtp), &dns, true, &PERIODIC_CHECK_VARS).await;
    dkim_record_goes(&app, &dns, &receiver).await;
}

/// Scale-out: `mailroom-jobs` schedules and runs the check, `mailroom-webhooks` delivers
/// the event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaled_out_the_jobs_process_checks_domains_and_the_webhooks_process_tells() {
    let smtp = SmtpServer::start();
    let dns = DnsServer::start();
    let receiver = WebhookReceiver::start();
    let dns_addr = dns.addr();
    let mut vars = vec![
        ("MAILROOM_DNS_SERVERS", dns_addr.as_str()),
        ("MAILROOM_REQUIRE_VERIFIED_DOMAINS", "true"),
    ];
    vars.extend(PERIODIC_CHECK_VARS);
    let so = crate::scale_out::ScaleOut::start(&smtp, None, &vars).await;
    let (_sender, _jobs, _webhooks) = (
        so.sender(),
        so.worker("mailroom-jobs"),
        so.worker("mailroom-webhooks"),
    );
    dkim_record_goes(&so.app, &dns, &receiver).await;
}

/// A verified domain loses its DKIM record: the periodic check fails it, the account's
/// endpoint gets one signed `domain.status_changed`, and its mail is refused.
async fn dkim_record_goes(app: &TestApp, dns: &DnsServer, receiver: &WebhookReceiver) {
    let token = app.create_account("Shop").await.token;
    let verified = verified_domain(app, &token, dns, "shop.example", "rsa").await;
    let id = verified["id"].as_str().unwrap().to_owned();
    let (status, hook) = app
        .post(
            "/v1/webhooks",
            &token,
            json!({"url": receiver.url("/domains"), "event_types": ["domain.status_changed"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    assert_eq!(hook["event_types"], json!(["domain.status_changed"]));
    receiver.set_secrets(&[hook["secret"].as_str().unwrap()]);
    let (status, body) = app
        .post(
            "/v1/send",
            &token,
            send_body("billing@shop.example", "bob@example.com"),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");

    // The owner removes the DKIM record: the next periodic check finds it missing.
    let kept: Vec<Value> = verified["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["purpose"] != "dkim")
        .map(|r| json!({"name": r["name"], "type": r["type"], "value": r["value"]}))
        .collect();
    dns.serve(&kept);
    let failed = wait_for_domain(app, &token, &id, "failed", |d| d["status"] == "failed").await;
    let dkim = failed["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["purpose"] == "dkim")
        .unwrap();
    assert_eq!(dkim["state"], "missing", "{failed:#}");

    // One signed delivery names the domain, both statuses and what was found.
    let got = receiver.wait_for(1, Duration::from_secs(30)).await;
    let request = &got[0];
    assert_eq!(request.path, "/domains");
    assert_eq!(request.verified, [true], "{request:#?}");
    let event = request.json();
    assert_eq!(event["type"], "domain.status_changed", "{event}");
    let data = &event["data"];
    assert_eq!(data["sending_domain_id"], id.as_str(), "{event}");
    assert_eq!(data["domain"], "shop.example");
    assert_eq!(data["old_status"], "verified");
    assert_eq!(data["new_status"], "failed");
    assert!(data["event_id"].is_string(), "{event}");
    let records = data["records"].as_array().unwrap();
    let dkim = records.iter().find(|r| r["purpose"] == "dkim").unwrap();
    assert_eq!(dkim["state"], "missing", "{event}");
    let ownership = records
        .iter()
        .find(|r| r["purpose"] == "ownership")
        .unwrap();
    assert_eq!(ownership["state"], "verified", "{event}");

    // Mail from the domain is refused from now on.
    let (status, body) = app
        .post(
            "/v1/send",
            &token,
            send_body("billing@shop.example", "bob@example.com"),
        )
        .await;
    assert_problem(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "sender_domain_unverified",
    );

    // Later checks find the same and announce nothing more.
    let at = |d: &Value| {
        chrono::DateTime::parse_from_rfc3339(d["checked_at"].as_str().unwrap()).unwrap()
    };
    let checked_at = at(&failed);
    wait_for_domain(app, &token, &id, "checked again", |d| at(d) > checked_at).await;
    assert_eq!(receiver.received().len(), 1, "{:#?}", receiver.received());
}

/// Each scenario on SQLite and on PostgreSQL.
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
    only_verified_domains_send_and_their_mail_is_signed,
    ed25519_signatures_verify_too,
    the_sandbox_accepts_an_unverified_from_and_says_a_relay_would_not,
    the_operator_can_leave_sender_authentication_to_the_relay,
    a_rotated_key_signs_once_published_and_the_old_one_stays_listed,
    a_domains_defaults_fill_what_a_message_leaves_out,
    a_domain_whose_dkim_record_goes_fails_its_periodic_check_and_the_account_is_told,
);
