//! The rules a message follows on its way out: the send rate, what Mailroom adds to every
//! campaign email (unsubscribe headers and footer, VERP, the text part), what templates
//! see, who may send, who sees what, and who is never mailed.

use std::time::{Duration, Instant};

use mailroom_domain::Id;
use mailroom_domain::messages::Message;
use mailroom_domain::store::DbConnection;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::campaigns::{
    campaign_body, create_campaign, readers, sandbox, subscriber, wait_for_sandbox, wait_for_status,
};
use crate::delivery::app_with_relay;
use crate::helpers::*;
use crate::on_both_backends;
use crate::smtp_server::SmtpServer;

const BACKENDS: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];

/// The app on the sandbox mailbox with `extra` variables.
async fn app_with(backend: Backend, extra: &[(&str, &str)]) -> TestApp {
    let extra = owned(extra);
    TestApp::spawn_with(backend, move |vars| vars.extend(extra)).await
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Runs `work` on a connection of its own to the app's database.
async fn with_db<T: Send + 'static>(
    app: &TestApp,
    work: impl FnOnce(&mut DbConnection) -> T + Send + 'static,
) -> T {
    let url = app.database_url();
    tokio::task::spawn_blocking(move || work(&mut DbConnection::open(&url).unwrap()))
        .await
        .unwrap()
}

/// A token of a new key of the account holding only `scopes`.
async fn scoped_token(app: &TestApp, acct: &TestAccount, scopes: &[&str]) -> String {
    let (status, key) = app
        .post(
            "/v1/api-keys",
            &acct.token,
            json!({"name": "scoped", "scopes": scopes}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    app.token_for(key["id"].as_str().unwrap(), key["secret"].as_str().unwrap())
        .await
}

fn parse(raw: &str) -> mail_parser::Message<'_> {
    mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .expect("a parseable message")
}

/// A header's value, unfolded.
fn header(message: &mail_parser::Message<'_>, name: &str) -> Option<String> {
    message
        .header_raw(name)
        .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// The decoded text part, with LF line ends.
fn text_part(message: &mail_parser::Message<'_>) -> String {
    message.body_text(0).unwrap().replace("\r\n", "\n")
}

fn html_part(message: &mail_parser::Message<'_>) -> String {
    message.body_html(0).unwrap().replace("\r\n", "\n")
}

/// The message's own one-click unsubscribe URL: the first `<…>` of `List-Unsubscribe`.
fn unsubscribe_url(message: &mail_parser::Message<'_>) -> String {
    let value = header(message, "List-Unsubscribe").expect("a List-Unsubscribe header");
    let start = value.find('<').unwrap() + 1;
    let end = value.find('>').unwrap();
    value[start..end].to_owned()
}

fn field_names(errors: &Value) -> Vec<&str> {
    errors
        .as_array()
        .map(|errors| errors.iter().filter_map(|e| e["field"].as_str()).collect())
        .unwrap_or_default()
}

/// The sandbox message whose subject is `subject`.
fn by_subject<'a>(messages: &'a [Value], subject: &str) -> &'a Value {
    messages
        .iter()
        .find(|m| m["subject"] == subject)
        .unwrap_or_else(|| panic!("no message with subject {subject:?} in {messages:?}"))
}

async fn delete_campaign(app: &TestApp, token: &str, campaign: &str) -> (StatusCode, Value) {
    app.delete(&format!("/v1/campaigns/{campaign}"), token)
        .await
}

async fn send_and_wait(app: &TestApp, token: &str, campaign: &str) -> Value {
    let (status, sending) = app
        .post(&format!("/v1/campaigns/{campaign}/send"), token, json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{sending}");
    wait_for_status(app, token, campaign, "sent").await
}

// --- 1. the send rate ------------------------------------------------------------------

async fn the_send_rate_spaces_deliveries(backend: Backend) {
    let server = SmtpServer::start();
    let app = app_with_relay(backend, &server, &[("MAILROOM_SEND_RATE", "4")]).await;
    let acct = app.create_account("Shop").await;
    let list = app.list(&acct.token, "News").await;
    readers(&app, &acct.token, &list, 6).await;
    let campaign = create_campaign(&app, &acct.token, campaign_body(&list)).await;
    let started = Instant::now();
    let (status, body) = app
        .post(
            &format!("/v1/campaigns/{campaign}/send"),
            &acct.token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let received = server.wait_for_async(6, Duration::from_secs(30)).await;
    let elapsed = started.elapsed();
    assert_eq!(received.len(), 6, "relay log: {}", server.log());
    let mut to: Vec<&str> = received.iter().map(|m| m.rcpt_tos[0].as_str()).collect();
    to.sort();
    to.dedup();
    assert_eq!(to.len(), 6, "each reader got one copy");

    // 6 messages at 4 per second: the last leaves at least 5 × 250 ms after the first.
    assert!(
        elapsed >= Duration::from_millis(1000),
        "6 messages at 4/s arrived within {elapsed:?}"
    );
    // The relay's side: `<n>.json` is written when message n is accepted.
    let accepted_at = |n: usize| {
        std::fs::metadata(server.dir.join(format!("{n}.json")))
            .and_then(|m| m.modified())
            .unwrap()
    };
    let spread = accepted_at(6).duration_since(accepted_at(1)).unwrap();
    assert!(
        spread >= Duration::from_millis(1000),
        "the relay received 6 messages at 4/s within {spread:?} of the first"
    );
    let done = wait_for_status(&app, &acct.token, &campaign, "sent").await;
    assert_eq!(done["progress"]["sent"], 6, "{done}");
}

#[tokio::test]
async fn the_messages_per_second_limit_spaces_deliveries_sqlite() {
    the_send_rate_spaces_deliveries(Backend::Sqlite).await;
}

#[tokio::test]
async fn the_messages_per_second_limit_spaces_deliveries_postgres() {
    the_send_rate_spaces_deliveries(Backend::Postgres).await;
}

// --- 2. and 3. settings that shape every campaign email --------------------------------

#[tokio::test]
async fn an_unsubscribe_mailto_is_offered_beside_the_https_link() {
    for backend in BACKENDS {
        let app = app_with(
            backend,
            &[
                ("MAILROOM_UNSUBSCRIBE_MAILTO", "unsubscribe@shop.example"),
                ("MAILROOM_PUBLIC_URL", "https://mail.shop.example"),
            ],
        )
        .await;
        let acct = app.create_account("Shop").await;
        let list = app.list(&acct.token, "News").await;
        let ada = subscriber(&app, &acct.token, &list, "ada@example.com", "Ada").await;
        let campaign = create_campaign(&app, &acct.token, campaign_body(&list)).await;
        send_and_wait(&app, &acct.token, &campaign).await;
        let messages = wait_for_sandbox(&app, &acct.token, 1).await;
        let parsed = parse(messages[0]["raw"].as_str().unwrap());
        let value = header(&parsed, "List-Unsubscribe").unwrap();
        let (https, mailto) = value.split_once(", ").unwrap_or_else(|| panic!("{value}"));
        assert!(
            https.starts_with("<https://mail.shop.example/u/") && https.ends_with('>'),
            "{value}"
        );
        assert_eq!(mailto, "<mailto:unsubscribe@shop.example>", "{value}");
        // The https link is the message's own, the one its body links to.
        let url = unsubscribe_url(&parsed);
        assert!(html_part(&parsed).contains(&url), "{url}");
        assert_eq!(
            header(&parsed, "List-Unsubscribe-Post").as_deref(),
            Some("List-Unsubscribe=One-Click")
        );

        // The preview shows the same header.
        let (status, preview) = app
            .post(
                &format!("/v1/campaigns/{campaign}/preview"),
                &acct.token,
                json!({"contact_id": ada}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{preview}");
        let previewed = preview["headers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["name"] == "List-Unsubscribe")
            .map(|h| h["value"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("{preview}"));
        assert!(
            previewed.ends_with(", <mailto:unsubscribe@shop.example>"),
            "{previewed}"
        );

        // Transactional mail is not list mail, mailto or not.
        let (status, sent) = app
            .post(
                "/v1/send",
                &acct.token,
                json!({"messages": [{"from": {"email": "orders@shop.example"}, "to": [{"email": "grace@example.com"}], "subject": "Receipt", "text": "Thanks"}]}),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{sent}");
        let messages = wait_for_sandbox(&app, &acct.token, 2).await;
        let receipt = parse(by_subject(&messages, "Receipt")["raw"].as_str().unwrap());
        assert_eq!(header(&receipt, "List-Unsubscribe"), None);
    }
}

#[tokio::test]
async fn the_bounce_domain_names_the_return_path_and_message_id() {
    for backend in BACKENDS {
        let app = app_with(
            backend,
            &[("MAILROOM_BOUNCE_DOMAIN", "bounces.shop.example")],
        )
        .await;
        let acct = app.create_account("Shop").await;
        let list = app.list(&acct.token, "News").await;
        subscriber(&app, &acct.token, &list, "ada@example.com", "Ada").await;
        let campaign = create_campaign(&app, &acct.token, campaign_body(&list)).await;
        send_and_wait(&app, &acct.token, &campaign).await;
        let messages = wait_for_sandbox(&app, &acct.token, 1).await;
        let raw = messages[0]["raw"].as_str().unwrap();
        let parsed = parse(raw);
        let id = header(&parsed, "X-Mailroom-Message-Id").unwrap();
        assert_eq!(messages[0]["message_id"], id.as_str());
        let first_line = raw.lines().next().unwrap();
        assert_eq!(
            first_line,
            format!(
                "Return-Path: <bounces+{}@bounces.shop.example>",
                id.replace('-', "")
            )
        );
        let message_id = header(&parsed, "Message-ID").unwrap();
        assert!(
            message_id.ends_with("@bounces.shop.example>"),
            "{message_id}"
        );
        assert_eq!(message_id, format!("<{id}@bounces.shop.example>"));

        // Mailroom's own mail comes from no-reply@ that domain unless told otherwise.
        let (_, weekly) = app
            .post(
                "/v1/lists",
                &acct.token,
                json!({"name": "Weekly", "double_opt_in": true}),
            )
            .await;
        app.post(
            &format!("/v1/lists/{}/members", weekly["id"].as_str().unwrap()),
            &acct.token,
            json!({"email": "grace@example.com"}),
        )
        .await;
        let messages = wait_for_sandbox(&app, &acct.token, 2).await;
        let confirmation = messages.iter().find(|m| m["to"] == "grace@example.com");
        let raw = confirmation.unwrap()["raw"].as_str().unwrap();
        assert!(
            raw.starts_with("Return-Path: <bounces+")
                && raw
                    .lines()
                    .next()
                    .unwrap()
                    .ends_with("@bounces.shop.example>"),
            "{raw}"
        );
        let from = header(&parse(raw), "From").unwrap();
        assert!(from.contains("<no-reply@bounces.shop.example>"), "{from}");
    }
}

// --- the rest: on both backends, the sandbox mailbox -----------------------------------

on_both_backends! {
    // 4.
    async fn a_text_template_is_used_and_without_one_the_text_comes_from_the_html(app) {
        let acct = app.create_account("Shop").await;
        let list = app.list(&acct.token, "News").await;
        subscriber(&app, &acct.token, &list, "ada@example.com", "Ada").await;

        let mut with_text = campaign_body(&list);
        with_text["subject"] = json!("With text");
        with_text["text"] = json!("Hi {{ contact.name }}, news from {{ list.name }}.");
        let mut own_link = campaign_body(&list);
        own_link["subject"] = json!("Own link");
        own_link["text"] = json!("Hi {{ contact.name }}. Leave: {{ unsubscribe_url }}");
        let mut derived = campaign_body(&list);
        derived["subject"] = json!("Derived");
        derived["html"] = json!("<html><head><title>Hidden title</title><style>p { color: red }</style></head>\
            <body><h1>Big &amp; news</h1><p>Hello <b>{{ contact.name }}</b>, see <a href=\"https://shop.example/sale\">our sale</a>.</p></body></html>");
        for body in [with_text, own_link, derived] {
            let campaign = create_campaign(&app, &acct.token, body).await;
            send_and_wait(&app, &acct.token, &campaign).await;
        }
        let messages = wait_for_sandbox(&app, &acct.token, 3).await;

        // The template's text, then the unsubscribe line it lacked.
        let message = by_subject(&messages, "With text");
        let parsed = parse(message["raw"].as_str().unwrap());
        let url = unsubscribe_url(&parsed);
        let expected = format!("Hi Ada, news from News.\n\nUnsubscribe: {url}\n");
        assert_eq!(message["text"], expected.as_str());
        assert_eq!(text_part(&parsed).trim_end(), expected.trim_end());

        // A text template that places the link itself gets no second one.
        let message = by_subject(&messages, "Own link");
        let parsed = parse(message["raw"].as_str().unwrap());
        let url = unsubscribe_url(&parsed);
        assert_eq!(message["text"], format!("Hi Ada. Leave: {url}").as_str());
        assert_eq!(text_part(&parsed).trim_end(), format!("Hi Ada. Leave: {url}"));

        // No text template: the words of the HTML, without its markup or hidden parts.
        let message = by_subject(&messages, "Derived");
        let parsed = parse(message["raw"].as_str().unwrap());
        let text = text_part(&parsed);
        assert_eq!(message["text"].as_str().unwrap().trim_end(), text.trim_end());
        for words in ["Big & news", "Hello Ada, see our sale", "https://shop.example/sale"] {
            assert!(text.contains(words), "{words:?} missing from {text:?}");
        }
        assert!(text.contains(&unsubscribe_url(&parsed)), "{text:?}");
        for markup in ["<", ">", "&amp;", "Hidden title", "color", "href"] {
            assert!(!text.contains(markup), "{markup:?} in {text:?}");
        }
    }

    // 5.
    async fn html_that_places_the_unsubscribe_link_gets_no_extra_footer(app) {
        let acct = app.create_account("Shop").await;
        let list = app.list(&acct.token, "News").await;
        subscriber(&app, &acct.token, &list, "ada@example.com", "Ada").await;
        let campaign = create_campaign(&app, &acct.token, campaign_body(&list)).await;
        send_and_wait(&app, &acct.token, &campaign).await;
        let messages = wait_for_sandbox(&app, &acct.token, 1).await;
        let parsed = parse(messages[0]["raw"].as_str().unwrap());
        let url = unsubscribe_url(&parsed);
        let html = html_part(&parsed);
        assert_eq!(html.matches(url.as_str()).count(), 1, "{html}");
        assert_eq!(
            html.trim_end(),
            format!("<html><body><p>Hello Ada from News</p><p><a href=\"{url}\">Leave</a></p></body></html>")
        );
        assert_eq!(messages[0]["html"].as_str().unwrap(), html.trim_end());
        let text = text_part(&parsed);
        assert_eq!(text.matches(url.as_str()).count(), 1, "{text}");
    }

    // 6.
    async fn contact_properties_and_list_and_campaign_names_render_everywhere(app) {
        let acct = app.create_account("Shop").await;
        for (name, kind) in [("plan", "string"), ("seats", "number"), ("score", "number")] {
            let (status, body) = app.post("/v1/contact-properties", &acct.token, json!({"name": name, "type": kind})).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        let (status, contact) = app.post("/v1/contacts", &acct.token, json!({
            "email": "ada@example.com", "name": "Ada",
            "properties": {"plan": "Pro & Co", "seats": 3, "score": 4.5}
        })).await;
        assert_eq!(status, StatusCode::CREATED, "{contact}");
        let list = app.list(&acct.token, "News & offers").await;
        subscriber(&app, &acct.token, &list, "ada@example.com", "Ada").await;
        let mut body = campaign_body(&list);
        body["name"] = json!("Spring & sale");
        body["subject"] = json!("{{ contact.properties.plan }}: {{ contact.properties.seats }} seats for {{ contact.name }} ({{ list.name }}, {{ campaign.name }})");
        body["html"] = json!("<p>{{ contact.name }} on {{ contact.properties.plan }} with {{ contact.properties.seats }} seats, score {{ contact.properties.score }}, \
            {{ list.name }} / {{ campaign.name }} / {{ contact.email }}[{{ contact.properties.missing }}]</p>");
        body["text"] = json!("{{ contact.name }} on {{ contact.properties.plan }} with {{ contact.properties.seats }} seats, score {{ contact.properties.score }}, \
            {{ list.name }} / {{ campaign.name }}[{{ contact.properties.missing }}]");
        let campaign = create_campaign(&app, &acct.token, body).await;
        send_and_wait(&app, &acct.token, &campaign).await;
        let messages = wait_for_sandbox(&app, &acct.token, 1).await;
        let subject = "Pro & Co: 3 seats for Ada (News & offers, Spring & sale)";
        assert_eq!(messages[0]["subject"], subject);
        let parsed = parse(messages[0]["raw"].as_str().unwrap());
        assert_eq!(parsed.subject(), Some(subject), "the subject is not HTML-escaped");
        let html = html_part(&parsed);
        assert!(
            html.starts_with("<p>Ada on Pro &amp; Co with 3 seats, score 4.5, News &amp; offers / Spring &amp; sale / ada@example.com[]</p>"),
            "{html}"
        );
        let text = text_part(&parsed);
        assert!(
            text.starts_with("Ada on Pro & Co with 3 seats, score 4.5, News & offers / Spring & sale[]\n\nUnsubscribe: "),
            "{text}"
        );
    }

    // 7.
    async fn another_account_cannot_preview_test_or_see_the_sandbox_of_a_campaign(app) {
        let a = app.create_account("A").await;
        let b = app.create_account("B").await;
        let a_list = app.list(&a.token, "A's news").await;
        let a_contact = subscriber(&app, &a.token, &a_list, "ada@example.com", "Ada").await;
        let a_campaign = create_campaign(&app, &a.token, campaign_body(&a_list)).await;
        let b_list = app.list(&b.token, "B's news").await;
        let b_contact = subscriber(&app, &b.token, &b_list, "grace@example.com", "Grace").await;
        let b_campaign = create_campaign(&app, &b.token, campaign_body(&b_list)).await;

        // A test send of A's, with an idempotency key B happens to use too.
        let test_send = |token: &str, campaign: &str| {
            app.client
                .post(app.url(&format!("/v1/campaigns/{campaign}/test")))
                .bearer_auth(token)
                .header("Idempotency-Key", "test-1")
                .json(&json!({"emails": ["qa@shop.example"]}))
        };
        let res = test_send(&a.token, &a_campaign).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        let a_test: Value = res.json().await.unwrap();
        let a_messages = wait_for_sandbox(&app, &a.token, 1).await;
        assert_eq!(a_messages.len(), 1);

        for contact in [&a_contact, &b_contact] {
            let (status, body) = app.post(&format!("/v1/campaigns/{a_campaign}/preview"), &b.token, json!({"contact_id": contact})).await;
            assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
        }
        let (status, body) = app.post(&format!("/v1/campaigns/{a_campaign}/test"), &b.token, json!({"emails": ["b@example.com"]})).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
        // B's own campaign cannot be rendered for A's contact.
        let (status, body) = app.post(&format!("/v1/campaigns/{b_campaign}/preview"), &b.token, json!({"contact_id": a_contact})).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
        let (status, preview) = app.post(&format!("/v1/campaigns/{b_campaign}/preview"), &b.token, json!({"contact_id": b_contact})).await;
        assert_eq!(status, StatusCode::OK, "{preview}");
        assert!(!preview.to_string().contains("ada@example.com"));

        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(sandbox(&app, &b.token).await, Vec::<Value>::new(), "B sees none of A's mail");

        // The same key in another account is another request: B's test is sent, not A's
        // answer replayed.
        let res = test_send(&b.token, &b_campaign).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        assert!(res.headers().get("idempotent-replayed").is_none());
        let b_test: Value = res.json().await.unwrap();
        assert_ne!(b_test["messages"][0]["message_id"], a_test["messages"][0]["message_id"]);
        let b_messages = wait_for_sandbox(&app, &b.token, 1).await;
        assert_eq!(b_messages.len(), 1);
        assert_eq!(b_messages[0]["message_id"], b_test["messages"][0]["message_id"]);
        let a_after = sandbox(&app, &a.token).await;
        assert_eq!(a_after, a_messages, "A's mailbox holds only A's message");
    }

    // 9.
    async fn a_read_only_key_cannot_send_and_transactional_send_needs_its_own_scope(app) {
        let acct = app.create_account("Shop").await;
        let list = app.list(&acct.token, "News").await;
        let contact = subscriber(&app, &acct.token, &list, "ada@example.com", "Ada").await;
        let campaign = create_campaign(&app, &acct.token, campaign_body(&list)).await;
        let path = format!("/v1/campaigns/{campaign}");

        let reader = scoped_token(&app, &acct, &["campaigns:read"]).await;
        for (action, body) in [
            ("send", json!({})),
            ("schedule", json!({"send_at": "2099-01-01T00:00:00Z"})),
            ("test", json!({"emails": ["qa@shop.example"]})),
            ("cancel", json!({})),
            ("pause", json!({})),
            ("resume", json!({})),
        ] {
            let (status, problem) = app.post(&format!("{path}/{action}"), &reader, body).await;
            assert_problem(status, &problem, StatusCode::FORBIDDEN, "forbidden");
        }
        let (status, problem) = app.post("/v1/campaigns", &reader, campaign_body(&list)).await;
        assert_problem(status, &problem, StatusCode::FORBIDDEN, "forbidden");
        let (status, problem) = app.patch(&path, &reader, json!({"name": "x"})).await;
        assert_problem(status, &problem, StatusCode::FORBIDDEN, "forbidden");
        let (status, problem) = app.delete(&path, &reader).await;
        assert_problem(status, &problem, StatusCode::FORBIDDEN, "forbidden");
        // Reading is allowed.
        let (status, one) = app.get(&path, &reader).await;
        assert_eq!(status, StatusCode::OK, "{one}");
        assert_eq!(one["status"], "draft", "nothing the reader tried changed it");
        let (status, page) = app.get("/v1/campaigns", &reader).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(page["data"][0]["id"], campaign.as_str());
        assert_eq!(app.get("/v1/sandbox/messages", &reader).await.0, StatusCode::OK);
        // A preview shows a contact, so it needs contacts:read as well.
        let (status, problem) = app.post(&format!("{path}/preview"), &reader, json!({"contact_id": contact})).await;
        assert_problem(status, &problem, StatusCode::FORBIDDEN, "forbidden");
        let both = scoped_token(&app, &acct, &["campaigns:read", "contacts:read"]).await;
        assert_eq!(app.post(&format!("{path}/preview"), &both, json!({"contact_id": contact})).await.0, StatusCode::OK);
        assert_eq!(sandbox(&app, &acct.token).await.len(), 0, "the reader's test send went nowhere");

        // POST /v1/send needs `send`; campaigns:write is not enough, and `send` alone is.
        let message = json!({"messages": [{"from": {"email": "orders@shop.example"}, "to": [{"email": "ada@example.com"}], "subject": "Receipt", "text": "Thanks"}]});
        for scopes in [&["campaigns:read"][..], &["campaigns:write"][..]] {
            let token = scoped_token(&app, &acct, scopes).await;
            let (status, problem) = app.post("/v1/send", &token, message.clone()).await;
            assert_problem(status, &problem, StatusCode::FORBIDDEN, "forbidden");
        }
        let sender = scoped_token(&app, &acct, &["send"]).await;
        let (status, sent) = app.post("/v1/send", &sender, message).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{sent}");
        assert_eq!(sent["messages"][0]["to"][0]["status"], "queued");
        let (status, problem) = app.post(&format!("{path}/send"), &sender, json!({})).await;
        assert_problem(status, &problem, StatusCode::FORBIDDEN, "forbidden");
        let (_, after) = app.get(&path, &acct.token).await;
        assert_eq!(after["status"], "draft");
    }

    // 10.
    async fn a_campaign_to_an_empty_list_is_sent_to_no_one_and_drafts_can_be_deleted(app) {
        let acct = app.create_account("Shop").await;
        let empty = app.list(&acct.token, "Empty").await;
        let campaign = create_campaign(&app, &acct.token, campaign_body(&empty)).await;
        let done = send_and_wait(&app, &acct.token, &campaign).await;
        let progress = &done["progress"];
        for counter in ["recipients", "queued", "deferred", "sent", "failed", "bounced", "skipped"] {
            assert_eq!(progress[counter], 0, "{counter}: {done}");
        }
        assert!(done["completed_at"].is_string(), "{done}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(sandbox(&app, &acct.token).await.len(), 0);
        // A sent campaign is history, and may be deleted.
        assert_eq!(app.delete(&format!("/v1/campaigns/{campaign}"), &acct.token).await.0, StatusCode::NO_CONTENT);

        let draft = create_campaign(&app, &acct.token, campaign_body(&empty)).await;
        let (status, body) = app.delete(&format!("/v1/campaigns/{draft}"), &acct.token).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        assert_eq!(body, Value::Null);
        let (status, body) = app.get(&format!("/v1/campaigns/{draft}"), &acct.token).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
        let (status, body) = app.delete(&format!("/v1/campaigns/{draft}"), &acct.token).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
        let (_, page) = app.get("/v1/campaigns", &acct.token).await;
        assert_eq!(page["data"], json!([]));
    }

    // 11.
    async fn a_test_send_to_a_suppressed_address_is_skipped(app) {
        let acct = app.create_account("Shop").await;
        let list = app.list(&acct.token, "News").await;
        let campaign = create_campaign(&app, &acct.token, campaign_body(&list)).await;
        let (status, body) = app.post("/v1/suppressions", &acct.token, json!({"email": "blocked@example.com", "reason": "manual"})).await;
        assert!(status.is_success(), "{body}");
        let (status, accepted) = app
            .post(&format!("/v1/campaigns/{campaign}/test"), &acct.token, json!({"emails": ["Blocked@Example.com", "qa@shop.example"]}))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
        let blocked: Id = accepted["messages"].as_array().unwrap().iter()
            .find(|m| m["email"] == "blocked@example.com")
            .unwrap_or_else(|| panic!("{accepted}"))["message_id"]
            .as_str().unwrap().parse().unwrap();

        // The blocked copy reaches a final state without being delivered.
        let deadline = Instant::now() + Duration::from_secs(30);
        let (status, reason) = loop {
            let (status, reason) = with_db(&app, move |conn| {
                let message = Message::find(conn, blocked).unwrap();
                (message.status, message.last_error)
            }).await;
            if status != "queued" && status != "sending" {
                break (status, reason);
            }
            assert!(Instant::now() < deadline, "the blocked test message stayed {status}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(status, "skipped", "{reason:?}");
        assert!(reason.as_deref().unwrap_or_default().contains("suppressed"), "{reason:?}");

        let messages = wait_for_sandbox(&app, &acct.token, 1).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let messages_later = sandbox(&app, &acct.token).await;
        assert_eq!(messages_later, messages);
        let to: Vec<&str> = messages.iter().map(|m| m["to"].as_str().unwrap()).collect();
        assert_eq!(to, ["qa@shop.example"]);
        assert!(messages.iter().all(|m| !m["raw"].as_str().unwrap().to_lowercase().contains("blocked@")));
    }
}

// --- 8. transactional mail through the relay -------------------------------------------

#[tokio::test]
async fn transactional_mail_skips_suppressed_recipients_and_refuses_unsafe_headers() {
    for backend in BACKENDS {
        let server = SmtpServer::start();
        let app = app_with_relay(backend, &server, &[]).await;
        let acct = app.create_account("Shop").await;
        let (status, body) = app
            .post(
                "/v1/suppressions",
                &acct.token,
                json!({"email": "blocked@example.com", "reason": "manual"}),
            )
            .await;
        assert!(status.is_success(), "{body}");

        let (status, sent) = app
            .post(
                "/v1/send",
                &acct.token,
                json!({"messages": [{
                    "from": {"email": "orders@shop.example"},
                    "to": [{"email": "BLOCKED@example.com"}, {"email": "ada@example.com"}],
                    "subject": "Receipt",
                    "text": "Thanks",
                    "headers": {"X-Order": "A-17"}
                }]}),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{sent}");
        let to = &sent["messages"][0]["to"];
        assert_eq!(to[0]["email"], "blocked@example.com", "{sent}");
        assert_eq!(to[0]["status"], "suppressed", "{sent}");
        assert_eq!(to[0]["message_id"], Value::Null, "{sent}");
        assert_eq!(to[1]["status"], "queued", "{sent}");

        let received = server.wait_for_async(1, Duration::from_secs(20)).await;
        assert_eq!(received.len(), 1);
        assert_eq!(received[0].rcpt_tos, ["ada@example.com"]);

        // Headers Mailroom writes itself, and values that would end the header early.
        let refused = [
            ("List-Unsubscribe", "<https://evil.example/u>"),
            ("list-unsubscribe-post", "List-Unsubscribe=One-Click"),
            ("From", "ceo@shop.example"),
            ("Bcc", "victim@example.com"),
            ("X-Mailroom-Message-Id", "forged"),
            ("X-Note", "a\r\nBcc: victim@example.com"),
            ("X-Note", "a\nBcc: victim@example.com"),
            ("X-Note", "a\rb"),
        ];
        for (name, value) in refused {
            let (status, body) = app
                .post(
                    "/v1/send",
                    &acct.token,
                    json!({"messages": [{
                        "from": {"email": "orders@shop.example"},
                        "to": [{"email": "grace@example.com"}],
                        "subject": "Receipt",
                        "text": "Thanks",
                        "headers": {name: value}
                    }]}),
                )
                .await;
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{name}: {value:?} was accepted: {body}"
            );
            let field = format!("messages[0].headers.{name}");
            assert!(
                field_names(&body["errors"]).contains(&field.as_str()),
                "{field} not named: {body}"
            );
        }
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(
            server.received().len(),
            1,
            "nothing refused or suppressed reached the relay"
        );
        assert_eq!(server.mail_commands().len(), 1);
    }
}

// --- 10. what may be deleted, with no worker to move campaigns on -----------------------

#[tokio::test]
async fn a_campaign_under_way_cannot_be_deleted() {
    for backend in BACKENDS {
        let app = app_with(backend, &[("MAILROOM_EMBEDDED_WORKERS", "false")]).await;
        let acct = app.create_account("Shop").await;
        let list = app.list(&acct.token, "News").await;
        subscriber(&app, &acct.token, &list, "ada@example.com", "Ada").await;

        let sending = create_campaign(&app, &acct.token, campaign_body(&list)).await;
        let (status, body) = app
            .post(
                &format!("/v1/campaigns/{sending}/send"),
                &acct.token,
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(body["status"], "sending");
        let (status, body) = delete_campaign(&app, &acct.token, &sending).await;
        assert_problem(status, &body, StatusCode::CONFLICT, "conflict");
        let (status, body) = app
            .post(
                &format!("/v1/campaigns/{sending}/pause"),
                &acct.token,
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = delete_campaign(&app, &acct.token, &sending).await;
        assert_problem(status, &body, StatusCode::CONFLICT, "conflict");

        let scheduled = create_campaign(&app, &acct.token, campaign_body(&list)).await;
        let (status, body) = app
            .post(
                &format!("/v1/campaigns/{scheduled}/schedule"),
                &acct.token,
                json!({"send_at": "2099-01-01T00:00:00Z"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = delete_campaign(&app, &acct.token, &scheduled).await;
        assert_problem(status, &body, StatusCode::CONFLICT, "conflict");

        // Still there, unchanged; once cancelled they may go.
        for (campaign, status) in [(&sending, "paused"), (&scheduled, "scheduled")] {
            let (_, view) = app
                .get(&format!("/v1/campaigns/{campaign}"), &acct.token)
                .await;
            assert_eq!(view["status"], status, "{view}");
            let (code, body) = app
                .post(
                    &format!("/v1/campaigns/{campaign}/cancel"),
                    &acct.token,
                    json!({}),
                )
                .await;
            assert_eq!(code, StatusCode::OK, "{body}");
            assert_eq!(
                delete_campaign(&app, &acct.token, campaign).await.0,
                StatusCode::NO_CONTENT
            );
        }
    }
}

// --- a finding: the unsubscribe link must be in every campaign email -------------------

#[tokio::test]
async fn every_campaign_email_links_to_its_unsubscribe_page_even_when_the_template_hides_it() {
    for backend in BACKENDS {
        let app = TestApp::spawn(backend).await;
        let acct = app.create_account("Shop").await;
        let list = app.list(&acct.token, "News").await;
        subscriber(&app, &acct.token, &list, "ada@example.com", "Ada").await;
        let mut body = campaign_body(&list);
        body["html"] = json!(
            "<p>Hello {{ contact.name }}</p>{% if contact.properties.vip %}<p><a href=\"{{ unsubscribe_url }}\">Leave</a></p>{% endif %}"
        );
        let campaign = create_campaign(&app, &acct.token, body).await;
        send_and_wait(&app, &acct.token, &campaign).await;
        let messages = wait_for_sandbox(&app, &acct.token, 1).await;
        let parsed = parse(messages[0]["raw"].as_str().unwrap());
        let url = unsubscribe_url(&parsed);
        let html = html_part(&parsed);
        assert!(
            html.contains(&url),
            "a campaign email without an unsubscribe link in its body: {html}"
        );
        let text = text_part(&parsed);
        assert!(text.contains(&url), "nor in its text: {text}");
    }
}

#[tokio::test]
async fn a_transactional_message_cannot_set_the_list_headers_the_api_reserves() {
    for backend in BACKENDS {
        let app = TestApp::spawn(backend).await;
        let acct = app.create_account("Shop").await;
        for name in ["List-Id", "List-Help", "List-Post", "list-archive"] {
            let (status, body) = app
                .post(
                    "/v1/send",
                    &acct.token,
                    json!({"sandbox_mode": true, "messages": [{
                        "from": {"email": "orders@shop.example"},
                        "to": [{"email": "ada@example.com"}],
                        "subject": "Receipt",
                        "text": "Thanks",
                        "headers": {name: "<news.shop.example>"}
                    }]}),
                )
                .await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
            let field = format!("messages[0].headers.{name}");
            assert!(
                field_names(&body["errors"]).contains(&field.as_str()),
                "{name} was accepted: {body}"
            );
        }
    }
}
