//! Campaigns end to end in embedded mode: who receives a campaign, what it looks like, and
//! how its lifecycle and progress behave. Mail goes to the sandbox mailbox here; the SMTP
//! paths are in `delivery.rs`.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_backends;

/// A contact on a list, with marketing consent granted.
pub async fn subscriber(app: &TestApp, token: &str, list: &str, email: &str, name: &str) -> String {
    let (status, member) = app
        .post(
            &format!("/v1/lists/{list}/members"),
            token,
            json!({"email": email, "name": name}),
        )
        .await;
    assert!(status.is_success(), "{member}");
    let contact = member["contact_id"].as_str().unwrap().to_owned();
    grant(app, token, &contact, "marketing_email").await;
    contact
}

/// `n` subscribers `reader0@example.com`… with marketing consent.
pub async fn readers(app: &TestApp, token: &str, list: &str, n: usize) {
    for i in 0..n {
        subscriber(app, token, list, &format!("reader{i}@example.com"), "R").await;
    }
}

pub async fn grant(app: &TestApp, token: &str, contact: &str, purpose: &str) {
    let (status, body) = app
        .post(
            &format!("/v1/contacts/{contact}/consents"),
            token,
            json!({"purpose": purpose, "status": "granted", "method": "api", "source": "test signup form"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

pub fn campaign_body(list: &str) -> Value {
    json!({
        "name": "November news",
        "list_ids": [list],
        "subject": "News for {{ contact.name }}",
        "from_email": "news@shop.example",
        "from_name": "Shop",
        "html": "<html><body><p>Hello {{ contact.name }} from {{ list.name }}</p><p><a href=\"{{ unsubscribe_url }}\">Leave</a></p></body></html>"
    })
}

pub async fn create_campaign(app: &TestApp, token: &str, body: Value) -> String {
    let (status, campaign) = app.post("/v1/campaigns", token, body).await;
    assert_eq!(status, StatusCode::CREATED, "{campaign}");
    campaign["id"].as_str().unwrap().to_owned()
}

/// Polls the campaign until it reaches `status`.
pub async fn wait_for_status(app: &TestApp, token: &str, campaign: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = app.get(&format!("/v1/campaigns/{campaign}"), token).await;
        if body["status"] == status {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "campaign never became {status}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every message in the sandbox mailbox.
pub async fn sandbox(app: &TestApp, token: &str) -> Vec<Value> {
    let (status, page) = app.get("/v1/sandbox/messages?limit=500", token).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["data"].as_array().unwrap().clone()
}

pub async fn wait_for_sandbox(app: &TestApp, token: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let messages = sandbox(app, token).await;
        if messages.len() >= count {
            return messages;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {count} messages arrived",
            messages.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn header<'a>(message: &'a mail_parser::Message<'a>, name: &str) -> Option<String> {
    message.header_raw(name).map(|v| v.trim().to_owned())
}

on_both_backends! {
    async fn every_consenting_unsuppressed_subscriber_gets_exactly_one_personalised_email(app) {
        let acct = app.create_account("Shop").await;
        let news = app.list(&acct.token, "News").await;
        let offers = app.list(&acct.token, "Offers").await;
        subscriber(&app, &acct.token, &news, "ada@example.com", "Ada").await;
        // On both lists: still one email.
        subscriber(&app, &acct.token, &news, "grace@example.com", "Grace").await;
        subscriber(&app, &acct.token, &offers, "grace@example.com", "Grace").await;
        // Subscribed but no marketing consent.
        app.post(&format!("/v1/lists/{news}/members"), &acct.token, json!({"email": "noconsent@example.com"})).await;
        // Consent, but suppressed.
        subscriber(&app, &acct.token, &news, "suppressed@example.com", "Sup").await;
        let (status, _) = app.post("/v1/suppressions", &acct.token, json!({"email": "suppressed@example.com", "reason": "manual"})).await;
        assert!(status.is_success());
        // Consent, but unsubscribed from the list.
        let gone = subscriber(&app, &acct.token, &news, "gone@example.com", "Gone").await;
        app.delete(&format!("/v1/lists/{news}/members/{gone}"), &acct.token).await;
        // Consent withdrawn after it was granted.
        let withdrawn = subscriber(&app, &acct.token, &news, "withdrawn@example.com", "W").await;
        app.post(&format!("/v1/contacts/{withdrawn}/consents"), &acct.token,
            json!({"purpose": "marketing_email", "status": "withdrawn", "method": "api", "source": "preferences"})).await;

        let mut body = campaign_body(&news);
        body["list_ids"] = json!([news, offers]);
        let campaign = create_campaign(&app, &acct.token, body).await;
        let (status, sending) = app.post(&format!("/v1/campaigns/{campaign}/send"), &acct.token, json!({})).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{sending}");
        let done = wait_for_status(&app, &acct.token, &campaign, "sent").await;
        assert_eq!(done["progress"]["recipients"], 2, "{done}");
        assert_eq!(done["progress"]["sent"], 2, "{done}");
        assert_eq!(done["progress"]["queued"], 0);

        let mut messages = sandbox(&app, &acct.token).await;
        messages.sort_by_key(|m| m["to"].as_str().unwrap().to_owned());
        let to: Vec<&str> = messages.iter().map(|m| m["to"].as_str().unwrap()).collect();
        assert_eq!(to, ["ada@example.com", "grace@example.com"]);
        assert_eq!(messages[0]["subject"], "News for Ada");
        assert!(messages[1]["html"].as_str().unwrap().contains("Hello Grace from News"));
        // Sending again is a conflict: a campaign goes out once.
        let (status, body) = app.post(&format!("/v1/campaigns/{campaign}/send"), &acct.token, json!({})).await;
        assert_problem(status, &body, StatusCode::CONFLICT, "conflict");
    }

    async fn campaign_mail_carries_unsubscribe_headers_verp_and_both_parts(app) {
        let acct = app.create_account("Shop").await;
        let news = app.list(&acct.token, "News").await;
        subscriber(&app, &acct.token, &news, "ada@example.com", "Ada <script>").await;
        let mut body = campaign_body(&news);
        body["html"] = json!("<p>Hi {{ contact.name }}</p>");
        let campaign = create_campaign(&app, &acct.token, body).await;
        app.post(&format!("/v1/campaigns/{campaign}/send"), &acct.token, json!({})).await;
        let messages = wait_for_sandbox(&app, &acct.token, 1).await;
        let raw = messages[0]["raw"].as_str().unwrap();
        assert!(raw.starts_with("Return-Path: <bounces+"), "{}", &raw[..80]);
        let parsed = mail_parser::MessageParser::default().parse(raw.as_bytes()).unwrap();
        let unsubscribe = header(&parsed, "List-Unsubscribe").unwrap();
        assert!(unsubscribe.contains("/u/"), "{unsubscribe}");
        assert_eq!(header(&parsed, "List-Unsubscribe-Post").unwrap(), "List-Unsubscribe=One-Click");
        assert!(header(&parsed, "X-Mailroom-Message-Id").is_some());
        assert!(header(&parsed, "Message-ID").is_some());
        assert_eq!(parsed.subject(), Some("News for Ada <script>"), "the subject is not HTML-escaped");
        let html = parsed.body_html(0).unwrap();
        assert!(html.contains("Ada &lt;script&gt;"), "{html}");
        assert!(html.contains("/u/"), "a footer with the unsubscribe link was added: {html}");
        let text = parsed.body_text(0).unwrap();
        assert!(text.contains("Hi Ada <script>"), "{text}");
        let content_type = header(&parsed, "Content-Type").unwrap();
        assert!(content_type.starts_with("multipart/alternative"), "{content_type}");
        // The mailbox lists the same headers as `{name, value}` objects, in order.
        let headers = messages[0]["headers"].as_array().unwrap();
        let listed = headers.iter().find(|h| h["name"] == "List-Unsubscribe-Post").unwrap_or_else(|| panic!("{headers:?}"));
        assert_eq!(listed["value"], "List-Unsubscribe=One-Click");
        assert!(headers.iter().all(|h| h.as_object().unwrap().len() == 2 && h["value"].is_string()), "{headers:?}");
    }

    async fn drafts_are_validated_and_only_drafts_are_editable(app) {
        let acct = app.create_account("Shop").await;
        let news = app.list(&acct.token, "News").await;
        let mut bad = campaign_body(&news);
        bad["subject"] = json!("x".repeat(256));
        bad["from_email"] = json!("not-an-address");
        bad["html"] = json!("<p>line one</p>\n<p>{% if %}</p>");
        let (status, body) = app.post("/v1/campaigns", &acct.token, bad).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        let fields: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert!(fields.contains(&"subject") && fields.contains(&"from_email") && fields.contains(&"html"), "{body}");
        let html_error = body["errors"].as_array().unwrap().iter().find(|e| e["field"] == "html").unwrap();
        assert!(html_error["message"].as_str().unwrap().contains("line 2"), "{html_error}");

        let (status, body) = app.post("/v1/campaigns", &acct.token, json!({"name": "x"})).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        let mut other_list = campaign_body(&news);
        other_list["list_ids"] = json!([uuid::Uuid::now_v7().to_string()]);
        let (status, _) = app.post("/v1/campaigns", &acct.token, other_list).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

        let campaign = create_campaign(&app, &acct.token, campaign_body(&news)).await;
        let (status, edited) = app.patch(&format!("/v1/campaigns/{campaign}"), &acct.token, json!({"subject": "New subject"})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(edited["subject"], "New subject");
        assert_eq!(edited["status"], "draft");
        app.post(&format!("/v1/campaigns/{campaign}/send"), &acct.token, json!({})).await;
        let (status, body) = app.patch(&format!("/v1/campaigns/{campaign}"), &acct.token, json!({"subject": "Too late"})).await;
        assert_problem(status, &body, StatusCode::CONFLICT, "conflict");
    }

    async fn a_preview_renders_for_one_contact_with_headers(app) {
        let acct = app.create_account("Shop").await;
        let news = app.list(&acct.token, "News").await;
        app.post("/v1/contact-properties", &acct.token, json!({"name": "plan", "type": "string"})).await;
        let (_, contact) = app.post("/v1/contacts", &acct.token, json!({"email": "ada@example.com", "name": "Ada", "properties": {"plan": "pro"}})).await;
        let mut body = campaign_body(&news);
        body["html"] = json!("<p>{{ contact.name }} on {{ contact.properties.plan }} — {{ campaign.name }}</p>");
        let campaign = create_campaign(&app, &acct.token, body).await;
        let (status, preview) = app.post(&format!("/v1/campaigns/{campaign}/preview"), &acct.token, json!({"contact_id": contact["id"]})).await;
        assert_eq!(status, StatusCode::OK, "{preview}");
        assert_eq!(preview["subject"], "News for Ada");
        assert!(preview["html"].as_str().unwrap().contains("Ada on pro — November news"));
        assert!(preview["text"].as_str().unwrap().contains("Ada on pro"));
        let names: Vec<&str> = preview["headers"].as_array().unwrap().iter().map(|h| h["name"].as_str().unwrap()).collect();
        assert!(names.iter().any(|n| n.eq_ignore_ascii_case("List-Unsubscribe")), "{names:?}");
        let (status, _) = app.post(&format!("/v1/campaigns/{campaign}/preview"), &acct.token, json!({"contact_id": uuid::Uuid::now_v7().to_string()})).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    async fn a_runaway_template_fails_the_preview_quickly_and_never_hangs(app) {
        let acct = app.create_account("Shop").await;
        let news = app.list(&acct.token, "News").await;
        let (_, contact) = app.post("/v1/contacts", &acct.token, json!({"email": "ada@example.com"})).await;
        let mut body = campaign_body(&news);
        body["html"] = json!("{% for i in range(100000000) %}{% for j in range(100000000) %}x{% endfor %}{% endfor %}");
        let campaign = create_campaign(&app, &acct.token, body).await;
        let started = Instant::now();
        let (status, problem) = app.post(&format!("/v1/campaigns/{campaign}/preview"), &acct.token, json!({"contact_id": contact["id"]})).await;
        assert_problem(status, &problem, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    }

    async fn test_sends_are_prefixed_and_go_only_to_the_given_addresses(app) {
        let acct = app.create_account("Shop").await;
        let news = app.list(&acct.token, "News").await;
        subscriber(&app, &acct.token, &news, "ada@example.com", "Ada").await;
        let campaign = create_campaign(&app, &acct.token, campaign_body(&news)).await;
        let (status, accepted) = app.post(&format!("/v1/campaigns/{campaign}/test"), &acct.token, json!({"emails": ["qa@shop.example", "Boss@Shop.example"]})).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
        assert_eq!(accepted["messages"].as_array().unwrap().len(), 2);
        let messages = wait_for_sandbox(&app, &acct.token, 2).await;
        let mut to: Vec<&str> = messages.iter().map(|m| m["to"].as_str().unwrap()).collect();
        to.sort();
        assert_eq!(to, ["boss@shop.example", "qa@shop.example"]);
        assert!(messages.iter().all(|m| m["subject"].as_str().unwrap().starts_with("[TEST] ")));
        let (_, after) = app.get(&format!("/v1/campaigns/{campaign}"), &acct.token).await;
        assert_eq!(after["status"], "draft", "a test send does not send the campaign");
        let (status, body) = app.post(&format!("/v1/campaigns/{campaign}/test"), &acct.token, json!({"emails": ["nope"]})).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(body["errors"][0]["field"], "emails[0]");
        let (status, _) = app.post(&format!("/v1/campaigns/{campaign}/test"), &acct.token, json!({"emails": []})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }

    async fn a_scheduled_campaign_sends_at_its_time_and_can_be_cancelled_before(app) {
        let acct = app.create_account("Shop").await;
        let news = app.list(&acct.token, "News").await;
        subscriber(&app, &acct.token, &news, "ada@example.com", "Ada").await;
        let campaign = create_campaign(&app, &acct.token, campaign_body(&news)).await;
        let (status, body) = app.post(&format!("/v1/campaigns/{campaign}/schedule"), &acct.token, json!({"send_at": "2020-01-01T00:00:00Z"})).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        let send_at = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
        let (status, scheduled) = app.post(&format!("/v1/campaigns/{campaign}/schedule"), &acct.token, json!({"send_at": send_at})).await;
        assert_eq!(status, StatusCode::OK, "{scheduled}");
        assert_eq!(scheduled["status"], "scheduled");
        assert_eq!(sandbox(&app, &acct.token).await.len(), 0, "nothing goes out before its time");
        wait_for_status(&app, &acct.token, &campaign, "sent").await;
        assert_eq!(sandbox(&app, &acct.token).await.len(), 1);

        let other = create_campaign(&app, &acct.token, campaign_body(&news)).await;
        let later = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
        app.post(&format!("/v1/campaigns/{other}/schedule"), &acct.token, json!({"send_at": later})).await;
        let (status, cancelled) = app.post(&format!("/v1/campaigns/{other}/cancel"), &acct.token, json!({})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(cancelled["status"], "cancelled");
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(sandbox(&app, &acct.token).await.len(), 1, "a cancelled schedule sends nothing");
    }

    async fn an_idempotency_key_replays_the_first_send(app) {
        let acct = app.create_account("Shop").await;
        let news = app.list(&acct.token, "News").await;
        subscriber(&app, &acct.token, &news, "ada@example.com", "Ada").await;
        let campaign = create_campaign(&app, &acct.token, campaign_body(&news)).await;
        let send = || app.client.post(app.url(&format!("/v1/campaigns/{campaign}/send"))).bearer_auth(&acct.token).header("Idempotency-Key", "send-1");
        let first = send().send().await.unwrap();
        assert_eq!(first.status(), StatusCode::ACCEPTED);
        let first: Value = first.json().await.unwrap();
        let second = send().send().await.unwrap();
        assert_eq!(second.status(), StatusCode::ACCEPTED, "the retry gets the first answer, not a conflict");
        assert_eq!(second.headers()["idempotent-replayed"], "true");
        let second: Value = second.json().await.unwrap();
        assert_eq!(first, second);
        wait_for_status(&app, &acct.token, &campaign, "sent").await;
        assert_eq!(sandbox(&app, &acct.token).await.len(), 1);
    }

    async fn campaigns_of_another_account_are_invisible_and_untouchable(app) {
        let a = app.create_account("A").await;
        let b = app.create_account("B").await;
        let news = app.list(&a.token, "News").await;
        let campaign = create_campaign(&app, &a.token, campaign_body(&news)).await;
        let path = format!("/v1/campaigns/{campaign}");
        assert_eq!(app.get(&path, &b.token).await.0, StatusCode::NOT_FOUND);
        assert_eq!(app.patch(&path, &b.token, json!({"name": "x"})).await.0, StatusCode::NOT_FOUND);
        for action in ["send", "pause", "resume", "cancel"] {
            assert_eq!(app.post(&format!("{path}/{action}"), &b.token, json!({})).await.0, StatusCode::NOT_FOUND, "{action}");
        }
        assert_eq!(app.post(&format!("{path}/test"), &b.token, json!({"emails": ["x@example.com"]})).await.0, StatusCode::NOT_FOUND);
        assert_eq!(app.post(&format!("{path}/schedule"), &b.token, json!({"send_at": "2099-01-01T00:00:00Z"})).await.0, StatusCode::NOT_FOUND);
        assert_eq!(app.delete(&path, &b.token).await.0, StatusCode::NOT_FOUND);
        // B cannot aim its own campaign at A's list either.
        assert_eq!(app.post("/v1/campaigns", &b.token, campaign_body(&news)).await.0, StatusCode::UNPROCESSABLE_ENTITY);
        let (_, list) = app.get("/v1/campaigns", &b.token).await;
        assert_eq!(list["data"], json!([]));
        let (_, own) = app.get(&path, &a.token).await;
        assert_eq!(own["status"], "draft");
        assert_eq!(own["name"], "November news");
    }
}
