//! Asynchronous bounces and complaints: mail goes out through a real SMTP server, then the
//! DSNs and ARF reports a remote server would send back about it (Postfix- and
//! Gmail-style, `api/tests/fixtures/inbound/`, filled with the VERP return path and the
//! ids of what went out) are posted to `POST /v1/inbound/messages`. Malformed messages,
//! reports about nothing, and other accounts' reports are kept, never a 500.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use mailroom_domain::Id;
use mailroom_domain::events::{Event, EventQuery};
use mailroom_domain::messages::Message;
use mailroom_domain::pagination::PageRequest;
use mailroom_domain::schema::campaign_stats;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::campaigns::{campaign_body, create_campaign, subscriber, wait_for_status};
use crate::delivery::app_with_relay;
use crate::helpers::*;
use crate::on_both_backends;
use crate::smtp_server::SmtpServer;
use crate::suppressions::{scoped_token, with_db};

const POSTFIX_HARD_BOUNCE: &str = include_str!("../fixtures/inbound/postfix_hard_bounce.eml");
pub const POSTFIX_DELAYED: &str = include_str!("../fixtures/inbound/postfix_delayed.eml");
const GMAIL_HARD_BOUNCE: &str = include_str!("../fixtures/inbound/gmail_hard_bounce.eml");
const ARF_ABUSE: &str = include_str!("../fixtures/inbound/arf_abuse.eml");
const RANDOM_BYTES: &[u8] =
    include_bytes!("../../../domain/tests/fixtures/inbound/random_bytes.eml");
const TRUNCATED_MULTIPART: &[u8] =
    include_bytes!("../../../domain/tests/fixtures/inbound/truncated_multipart.eml");
const AUTO_REPLY: &[u8] = include_bytes!("../../../domain/tests/fixtures/inbound/auto_reply.eml");

/// The links a report can carry back to a message that went out.
pub struct Sent {
    /// The envelope sender (VERP return path).
    verp: String,
    /// The `Message-ID` header, without angle brackets.
    message_id: String,
    /// The `X-Mailroom-Message-Id` header: Mailroom's id of the message.
    mailroom_id: String,
    recipient: String,
}

impl Sent {
    /// The message the relay received for `recipient`.
    fn to(server: &SmtpServer, recipient: &str) -> Sent {
        let received = server.received();
        let message = received
            .iter()
            .find(|m| m.rcpt_tos == [recipient])
            .unwrap_or_else(|| panic!("nothing was sent to {recipient}"));
        let parsed = mail_parser::MessageParser::default()
            .parse(message.data.as_bytes())
            .unwrap();
        let header = |name: &str| parsed.header_raw(name).unwrap().trim().to_owned();
        let message_id = header("Message-ID");
        Sent {
            verp: message.mail_from.clone(),
            message_id: message_id
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned(),
            mailroom_id: header("X-Mailroom-Message-Id"),
            recipient: recipient.to_owned(),
        }
    }

    /// A message that never went out, with links that look like Mailroom's.
    pub fn made_up(recipient: &str) -> Sent {
        let id = Id::new();
        Sent {
            verp: format!("bounces+{}@mailroom.localhost", id.0.simple()),
            message_id: format!("{id}@mailroom.localhost"),
            mailroom_id: id.to_string(),
            recipient: recipient.to_owned(),
        }
    }

    /// `template` about this message, sent back to its VERP address.
    pub fn report(&self, template: &str) -> String {
        self.report_to(template, &self.verp.clone())
    }

    /// `template` about this message, sent to `report_to` (a shared mailbox, a feedback
    /// loop address) instead of the VERP address.
    fn report_to(&self, template: &str, report_to: &str) -> String {
        template
            .replace("{{report_to}}", report_to)
            .replace("{{verp}}", &self.verp)
            .replace("{{message_id}}", &self.message_id)
            .replace("{{mailroom_id}}", &self.mailroom_id)
            .replace("{{recipient}}", &self.recipient)
    }
}

/// Posts a raw message as `content_type`.
async fn post_raw(
    app: &TestApp,
    token: &str,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (StatusCode, Value) {
    let mut request = app
        .client
        .post(app.url("/v1/inbound/messages"))
        .bearer_auth(token)
        .body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Posts a report and expects it to be accepted.
pub async fn post_report(app: &TestApp, token: &str, raw: String) -> Value {
    let (status, report) = post_raw(app, token, Some("message/rfc822"), raw).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{report}");
    report
}

/// Sends a campaign to the list and waits until it is sent.
async fn send_campaign(app: &TestApp, token: &str, list: &str) -> Value {
    let campaign = create_campaign(app, token, campaign_body(list)).await;
    let (status, body) = app
        .post(&format!("/v1/campaigns/{campaign}/send"), token, json!({}))
        .await;
    assert!(status.is_success(), "{body}");
    wait_for_status(app, token, &campaign, "sent").await
}

/// A list of `emails` (with consent), and a campaign to it sent through the relay.
async fn campaign_to(app: &TestApp, acct: &TestAccount, emails: &[&str]) -> (String, Value) {
    let list = app.list(&acct.token, "News").await;
    for email in emails {
        subscriber(app, &acct.token, &list, email, "Reader").await;
    }
    let campaign = send_campaign(app, &acct.token, &list).await;
    (list, campaign)
}

/// `(sent, bounced_hard, bounced_soft, complained)` of a campaign's counters.
async fn counters(app: &TestApp, campaign: &Value) -> (i32, i32, i32, i32) {
    let id: Id = campaign["id"].as_str().unwrap().parse().unwrap();
    with_db(app, move |conn| {
        campaign_stats::table
            .find(id)
            .select((
                campaign_stats::sent,
                campaign_stats::bounced_hard,
                campaign_stats::bounced_soft,
                campaign_stats::complained,
            ))
            .first::<(i32, i32, i32, i32)>(conn)
            .optional()
            .unwrap()
            .unwrap_or_default()
    })
    .await
}

/// Waits for the events worker to bring the counters to `expected`.
async fn wait_for_counters(app: &TestApp, campaign: &Value, expected: (i32, i32, i32, i32)) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = counters(app, campaign).await;
        if now == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "counters {now:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The recorded events of a message, once there are `count` of them.
async fn wait_for_events(
    app: &TestApp,
    acct: &TestAccount,
    message: &str,
    count: usize,
) -> Vec<Event> {
    let account: Id = acct.id.parse().unwrap();
    let message: Id = message.parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let events = with_db(app, move |conn| {
            EventQuery {
                message_id: Some(message),
                ..EventQuery::default()
            }
            .run(conn, account, &PageRequest::parse(Some(500), None).unwrap())
            .unwrap()
            .data
        })
        .await;
        if events.len() >= count {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {count} events: {events:?}",
            events.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The addresses suppressed for `reason`.
async fn suppressed(app: &TestApp, token: &str, reason: &str) -> Vec<Value> {
    let (status, page) = app
        .get(&format!("/v1/suppressions?reason={reason}"), token)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["email"].clone())
        .collect()
}

async fn message_status(app: &TestApp, message: &str) -> (String, bool) {
    let id: Id = message.parse().unwrap();
    with_db(app, move |conn| {
        let m = Message::find(conn, id).unwrap();
        (m.status, m.sent_at.is_some())
    })
    .await
}

/// Runs each test on SQLite and on PostgreSQL with a real SMTP server as the relay.
macro_rules! with_relay_on_both_backends {
    ($(async fn $name:ident($app:ident, $server:ident) $body:block)*) => {
        mod relay_sqlite {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let $server = SmtpServer::start();
                    let $app = app_with_relay(Backend::Sqlite, &$server, &[]).await;
                    $body
                }
            )*
        }
        mod relay_postgres {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let $server = SmtpServer::start();
                    let $app = app_with_relay(Backend::Postgres, &$server, &[]).await;
                    $body
                }
            )*
        }
    };
}

with_relay_on_both_backends! {
    async fn a_postfix_hard_bounce_suppresses_the_address_and_the_next_campaign_skips_it(app, server) {
        let acct = app.create_account("Shop").await;
        let (list, campaign) =
            campaign_to(&app, &acct, &["ada@example.com", "grace@example.com"]).await;
        wait_for_counters(&app, &campaign, (2, 0, 0, 0)).await;
        let ada = Sent::to(&server, "ada@example.com");
        assert!(ada.verp.starts_with("bounces+"), "{}", ada.verp);

        let report = post_report(&app, &acct.token, ada.report(POSTFIX_HARD_BOUNCE)).await;
        assert_eq!(report["kind"], "dsn", "{report}");
        assert_eq!(report["matched"], true, "{report}");
        assert_eq!(report["matched_by"], "verp");
        assert_eq!(report["message_id"], ada.mailroom_id.as_str());
        assert_eq!(report["outcome"], "hard_bounce");
        assert_eq!(report["suppressed"], true);
        assert_eq!(report["event_recorded"], true);
        assert_eq!(report["reporting_mta"], "mail.shop.example");
        assert_eq!(
            report["recipients"],
            json!([{
                "email": "a***@example.com",
                "action": "failed",
                "status": "5.1.1",
                "class": "hard",
                "diagnostic": "smtp; 550 5.1.1 <a***@example.com>: Recipient address rejected: User unknown"
            }])
        );
        assert!(!report.to_string().contains("ada@example.com"), "no address kept: {report}");

        // Suppressed at once; the message bounced (after being sent); the hard bounce is an
        // event with the diagnostic, counted in the campaign's statistics.
        assert_eq!(suppressed(&app, &acct.token, "hard_bounce").await, [json!("ada@example.com")]);
        assert_eq!(message_status(&app, &ada.mailroom_id).await, ("bounced".into(), true));
        // The bounce takes the message out of `sent`, as its state says.
        wait_for_counters(&app, &campaign, (1, 1, 0, 0)).await;
        let events = wait_for_events(&app, &acct, &ada.mailroom_id, 2).await;
        let bounce = events.iter().find(|e| e.event_type == "bounce").unwrap();
        assert_eq!(bounce.bounce_class.as_deref(), Some("hard"));
        assert_eq!(bounce.email.as_deref(), Some("ada@example.com"));
        assert!(bounce.diagnostic.as_deref().unwrap().contains("550 5.1.1"), "{bounce:?}");
        let progress = app
            .get(&format!("/v1/campaigns/{}", campaign["id"].as_str().unwrap()), &acct.token)
            .await
            .1["progress"]
            .clone();
        assert_eq!((progress["sent"].as_i64(), progress["bounced"].as_i64()), (Some(1), Some(1)), "{progress}");

        // The same report again: kept, but counted once.
        let again = post_report(&app, &acct.token, ada.report(POSTFIX_HARD_BOUNCE)).await;
        assert_eq!((again["matched"].clone(), again["event_recorded"].clone()), (json!(true), json!(false)));
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(counters(&app, &campaign).await, (1, 1, 0, 0));

        // The next campaign skips the address.
        let next = send_campaign(&app, &acct.token, &list).await;
        assert_eq!(next["progress"]["recipients"], 1, "{next}");
        let to_ada = server.received().iter().filter(|m| m.rcpt_tos == ["ada@example.com"]).count();
        assert_eq!(to_ada, 1, "ada got only the first campaign");
        assert_eq!(server.received().len(), 3);
    }

    async fn a_gmail_bounce_sent_to_a_shared_mailbox_is_matched_by_the_returned_headers(app, server) {
        let acct = app.create_account("Shop").await;
        for to in ["nobody.here@example.com", "gone@example.com"] {
            let (status, body) = app
                .post("/v1/send", &acct.token, json!({"messages": [{
                    "from": {"email": "orders@shop.example"},
                    "to": [{"email": to}],
                    "subject": "Your order",
                    "text": "It shipped."
                }]}))
                .await;
            assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        }
        server.wait_for_async(2, Duration::from_secs(20)).await;
        let nobody = Sent::to(&server, "nobody.here@example.com");
        let gone = Sent::to(&server, "gone@example.com");
        // Both messages are marked sent just after the relay accepted them.
        for sent in [&nobody, &gone] {
            let deadline = Instant::now() + Duration::from_secs(10);
            while message_status(&app, &sent.mailroom_id).await.0 != "sent" {
                assert!(Instant::now() < deadline, "never marked sent");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }

        // Forwarded from a shared mailbox: no VERP address, the returned headers say which.
        let by_mailroom_id = post_report(
            &app,
            &acct.token,
            nobody.report_to(GMAIL_HARD_BOUNCE, "postmaster@shop.example"),
        )
        .await;
        assert_eq!(by_mailroom_id["matched_by"], "mailroom_message_id", "{by_mailroom_id}");
        assert_eq!(by_mailroom_id["message_id"], nobody.mailroom_id.as_str());
        assert_eq!(by_mailroom_id["outcome"], "hard_bounce");
        assert_eq!(by_mailroom_id["reporting_mta"], "googlemail.com");
        assert_eq!(by_mailroom_id["recipients"][0]["status"], "5.1.1");
        assert!(
            by_mailroom_id["recipients"][0]["diagnostic"]
                .as_str()
                .unwrap()
                .starts_with("smtp; 550-5.1.1 The email account that you tried to reach does not exist."),
            "{by_mailroom_id}"
        );
        let without_mailroom_header = GMAIL_HARD_BOUNCE.replace("X-Mailroom-Message-Id: {{mailroom_id}}\n", "");
        let by_message_id = post_report(
            &app,
            &acct.token,
            gone.report_to(&without_mailroom_header, "postmaster@shop.example"),
        )
        .await;
        assert_eq!(by_message_id["matched_by"], "message_id", "{by_message_id}");
        assert_eq!(by_message_id["message_id"], gone.mailroom_id.as_str());
        assert_eq!(by_message_id["suppressed"], true);

        let mut emails = suppressed(&app, &acct.token, "hard_bounce").await;
        emails.sort_by_key(|e| e.to_string());
        assert_eq!(emails, [json!("gone@example.com"), json!("nobody.here@example.com")]);
        for sent in [&nobody, &gone] {
            assert_eq!(message_status(&app, &sent.mailroom_id).await, ("bounced".into(), true));
            let events = wait_for_events(&app, &acct, &sent.mailroom_id, 2).await;
            assert!(events.iter().any(|e| e.event_type == "bounce" && e.bounce_class.as_deref() == Some("hard")), "{events:?}");
        }
        // A suppressed address gets no transactional mail either.
        let (_, body) = app
            .post("/v1/send", &acct.token, json!({"messages": [{
                "from": {"email": "orders@shop.example"},
                "to": [{"email": "gone@example.com"}],
                "subject": "Another order",
                "text": "x"
            }]}))
            .await;
        assert_eq!(body["messages"][0]["to"][0]["status"], "suppressed", "{body}");
    }

    async fn a_delay_notice_is_a_deferral_and_suppresses_nothing(app, server) {
        let acct = app.create_account("Shop").await;
        let (_, campaign) = campaign_to(&app, &acct, &["slow@example.com"]).await;
        let slow = Sent::to(&server, "slow@example.com");

        let report = post_report(&app, &acct.token, slow.report(POSTFIX_DELAYED)).await;
        assert_eq!(report["kind"], "dsn", "{report}");
        assert_eq!(report["matched"], true);
        assert_eq!(report["outcome"], "delayed");
        assert_eq!(report["suppressed"], false);
        assert_eq!(report["event_recorded"], true);
        assert_eq!(report["recipients"][0]["action"], "delayed");
        assert_eq!(report["recipients"][0]["status"], "4.2.2");
        assert_eq!(report["recipients"][0]["class"], "soft");

        // The remote server is still trying: the message stays sent, counted as sent, with
        // a `deferred` event.
        let events = wait_for_events(&app, &acct, &slow.mailroom_id, 2).await;
        let deferred = events.iter().find(|e| e.event_type == "deferred").unwrap();
        assert_eq!(deferred.diagnostic.as_deref(), Some("smtp; 452 4.2.2 Mailbox full"));
        wait_for_counters(&app, &campaign, (1, 0, 0, 0)).await;
        assert!(suppressed(&app, &acct.token, "hard_bounce").await.is_empty());
        assert_eq!(message_status(&app, &slow.mailroom_id).await, ("sent".into(), true));

        // Delay notices repeat every few hours: one deferral per message.
        let again = post_report(&app, &acct.token, slow.report(POSTFIX_DELAYED)).await;
        assert_eq!(again["event_recorded"], false);
        app.wait_until_idle().await;
        assert_eq!(wait_for_events(&app, &acct, &slow.mailroom_id, 2).await.len(), 2);
    }

    async fn an_arf_complaint_records_spam_and_suppresses_the_address(app, server) {
        let acct = app.create_account("Shop").await;
        let (list, campaign) =
            campaign_to(&app, &acct, &["ada@example.com", "grace@example.com"]).await;
        let ada = Sent::to(&server, "ada@example.com");

        // Feedback loops send to an address of their own; the quoted envelope sender is
        // the VERP address.
        let report = post_report(
            &app,
            &acct.token,
            ada.report_to(ARF_ABUSE, "fbl@feedback.shop.example"),
        )
        .await;
        assert_eq!(report["kind"], "arf", "{report}");
        assert_eq!(report["matched"], true);
        assert_eq!(report["matched_by"], "verp");
        assert_eq!(report["message_id"], ada.mailroom_id.as_str());
        assert_eq!(report["outcome"], "complaint");
        assert_eq!(report["feedback_type"], "abuse");
        assert_eq!(report["user_agent"], "SomeGenerator/1.0");
        assert_eq!(report["suppressed"], true);
        assert_eq!(report["recipients"], json!([]));

        assert_eq!(suppressed(&app, &acct.token, "complaint").await, [json!("ada@example.com")]);
        wait_for_counters(&app, &campaign, (2, 0, 0, 1)).await;
        let events = wait_for_events(&app, &acct, &ada.mailroom_id, 2).await;
        let spam = events.iter().find(|e| e.event_type == "spam").unwrap();
        assert_eq!(spam.source.as_deref(), Some("abuse"));
        // A complaint is about a delivered message: it stays sent.
        assert_eq!(message_status(&app, &ada.mailroom_id).await.0, "sent");

        let next = send_campaign(&app, &acct.token, &list).await;
        assert_eq!(next["progress"]["recipients"], 1, "{next}");
        assert_eq!(
            server.received().iter().filter(|m| m.rcpt_tos == ["ada@example.com"]).count(),
            1
        );
    }

    async fn another_accounts_report_matches_nothing_and_changes_nothing(app, server) {
        let owner = app.create_account("Shop").await;
        let other = app.create_account("Other").await;
        let (_, campaign) = campaign_to(&app, &owner, &["ada@example.com"]).await;
        wait_for_counters(&app, &campaign, (1, 0, 0, 0)).await;
        let ada = Sent::to(&server, "ada@example.com");

        // Every link in these reports names the owner's message.
        for template in [POSTFIX_HARD_BOUNCE, ARF_ABUSE] {
            let report = post_report(&app, &other.token, ada.report(template)).await;
            assert_eq!(report["matched"], false, "{report}");
            assert_eq!(report["message_id"], Value::Null);
            assert_eq!(report["matched_by"], Value::Null);
            assert_eq!(report["suppressed"], false);
            assert_eq!(report["event_recorded"], false);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        for acct in [&owner, &other] {
            for reason in ["hard_bounce", "complaint"] {
                assert!(suppressed(&app, &acct.token, reason).await.is_empty());
            }
        }
        assert_eq!(message_status(&app, &ada.mailroom_id).await.0, "sent");
        assert_eq!(counters(&app, &campaign).await, (1, 0, 0, 0));
        assert_eq!(wait_for_events(&app, &owner, &ada.mailroom_id, 1).await.len(), 1);

        // Each account sees its own reports only.
        let (_, owners) = app.get("/v1/inbound/reports", &owner.token).await;
        assert_eq!(owners["data"], json!([]), "{owners}");
        assert_eq!(owners["counts"]["total"], 0);
        let (_, others) = app.get("/v1/inbound/reports", &other.token).await;
        assert_eq!(others["data"].as_array().unwrap().len(), 2, "{others}");
        assert_eq!(others["counts"]["unmatched"], 2);

        // The owner's own copy of the report does match.
        let report = post_report(&app, &owner.token, ada.report(POSTFIX_HARD_BOUNCE)).await;
        assert_eq!(report["matched"], true, "{report}");
        let (_, others) = app.get("/v1/inbound/reports?matched=true", &other.token).await;
        assert_eq!(others["data"], json!([]), "{others}");
    }
}

on_both_backends! {
    async fn reports_about_no_message_are_kept_counted_and_listed(app) {
        let acct = app.create_account("Shop").await;
        let nobody = Sent::made_up("someone@example.com");
        let dsn = post_report(&app, &acct.token, nobody.report(POSTFIX_HARD_BOUNCE)).await;
        assert_eq!(dsn["kind"], "dsn", "{dsn}");
        assert_eq!(dsn["matched"], false);
        assert_eq!(dsn["message_id"], Value::Null);
        assert_eq!(dsn["outcome"], "hard_bounce", "what it says, though it changes nothing");
        assert_eq!(dsn["suppressed"], false);
        let arf = post_report(&app, &acct.token, nobody.report_to(ARF_ABUSE, "fbl@shop.example")).await;
        assert_eq!((arf["kind"].clone(), arf["matched"].clone()), (json!("arf"), json!(false)));
        let (status, auto_reply) = post_raw(&app, &acct.token, Some("message/rfc822"), AUTO_REPLY).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(auto_reply["kind"], "unrecognized", "{auto_reply}");
        assert_eq!(auto_reply["outcome"], "none");
        assert_eq!(auto_reply["reason"], "the message is not a multipart/report");
        assert!(suppressed(&app, &acct.token, "hard_bounce").await.is_empty());
        assert!(suppressed(&app, &acct.token, "complaint").await.is_empty());

        let all = app.all_pages(&acct.token, "/v1/inbound/reports", 1).await;
        let ids: Vec<&Value> = all.iter().map(|r| &r["id"]).collect();
        assert_eq!(ids, [&dsn["id"], &arf["id"], &auto_reply["id"]]);
        assert_eq!(all[0], dsn, "listed as it was answered");
        let (status, page) = app.get("/v1/inbound/reports?kind=arf&matched=false", &acct.token).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["data"].as_array().unwrap().len(), 1);
        assert_eq!(page["data"][0]["id"], arf["id"]);
        assert_eq!(
            page["counts"],
            json!({"total": 3, "matched": 0, "unmatched": 3, "dsn": 1, "arf": 1, "unrecognized": 1})
        );
        let (_, matched) = app.get("/v1/inbound/reports?matched=true", &acct.token).await;
        assert_eq!(matched["data"], json!([]));
        let (status, problem) = app.get("/v1/inbound/reports?kind=bounce", &acct.token).await;
        assert_problem(status, &problem, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(problem["errors"][0]["field"], "kind");

        // A retry with the same Idempotency-Key gets the first answer and keeps nothing twice.
        let post = |key: &'static str| {
            app.client
                .post(app.url("/v1/inbound/messages"))
                .bearer_auth(&acct.token)
                .header("content-type", "message/rfc822")
                .header("Idempotency-Key", key)
                .body(nobody.report(POSTFIX_DELAYED))
        };
        let first = post("relay-42").send().await.unwrap();
        assert_eq!(first.status(), StatusCode::ACCEPTED);
        let first: Value = first.json().await.unwrap();
        let replay = post("relay-42").send().await.unwrap();
        assert_eq!(replay.status(), StatusCode::ACCEPTED);
        assert_eq!(replay.headers()["idempotent-replayed"], "true");
        assert_eq!(replay.json::<Value>().await.unwrap(), first);
        let (_, page) = app.get("/v1/inbound/reports?limit=1", &acct.token).await;
        assert_eq!(page["counts"]["total"], 4, "{page}");
    }

    async fn malformed_messages_are_kept_as_unrecognized_and_never_a_server_error(app) {
        let acct = app.create_account("Shop").await;
        let nobody = Sent::made_up("someone@example.com");
        let with_nul = nobody
            .report(POSTFIX_HARD_BOUNCE)
            .replace("User unknown", "User\0unknown \u{1b}[31m")
            .into_bytes();
        let bad_feedback = nobody
            .report_to(ARF_ABUSE, "fbl@shop.example")
            .replace("Feedback-Type: abuse", "Feedback-Type: \0\u{7f}")
            .into_bytes();
        let mut invalid_utf8 = nobody.report(POSTFIX_DELAYED).into_bytes();
        invalid_utf8.extend_from_slice(&[0xff, 0xfe, 0x00, 0xc3]);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("random bytes", RANDOM_BYTES.to_vec()),
            ("truncated multipart", TRUNCATED_MULTIPART.to_vec()),
            ("headers only", b"From: someone@example.com\r\nSubject: hi\r\n".to_vec()),
            ("no headers", b"\r\n\r\njust a body".to_vec()),
            ("binary zeroes", vec![0; 4096]),
            ("a report without parts", b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x--\r\n".to_vec()),
            ("an unknown report type", b"Content-Type: multipart/report; report-type=disposition-notification; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nread\r\n--x--\r\n".to_vec()),
            ("a boundary that never comes", b"Content-Type: multipart/report; report-type=delivery-status; boundary=\"\"\r\n\r\n--\r\n".to_vec()),
            ("NUL and escapes in the diagnostic", with_nul.clone()),
            ("NUL in the feedback type", bad_feedback),
            ("invalid UTF-8", invalid_utf8),
        ];
        for (case, body) in cases {
            let (status, report) = post_raw(&app, &acct.token, Some("message/rfc822"), body).await;
            assert_eq!(status, StatusCode::ACCEPTED, "{case}: {report}");
            assert_eq!(report["matched"], false, "{case}: {report}");
            let kind = report["kind"].as_str().unwrap();
            assert!(["dsn", "arf", "unrecognized"].contains(&kind), "{case}: {report}");
            assert!(!report.to_string().contains("\\u0000"), "{case}: {report}");
        }
        // A report that reads but carries control characters keeps its text without them.
        let (_, report) = post_raw(&app, &acct.token, Some("message/rfc822"), with_nul.clone()).await;
        assert_eq!(report["kind"], "dsn", "{report}");
        let diagnostic = report["recipients"][0]["diagnostic"].as_str().unwrap();
        assert!(diagnostic.contains("User unknown"), "{diagnostic:?}");
        assert!(!diagnostic.chars().any(char::is_control), "{diagnostic:?}");
        let (_, report) = post_raw(&app, &acct.token, Some("message/rfc822"), RANDOM_BYTES).await;
        assert_eq!(report["kind"], "unrecognized", "{report}");
        let (_, report) = post_raw(&app, &acct.token, Some("message/rfc822"), TRUNCATED_MULTIPART).await;
        assert_eq!(report["kind"], "unrecognized", "{report}");
        let (_, page) = app.get("/v1/inbound/reports?limit=500", &acct.token).await;
        assert_eq!(page["counts"]["total"], 14, "every one kept: {page}");

        // The other content types a message may come as.
        for content_type in ["message/global", "text/plain; charset=utf-8", "application/octet-stream", "Message/RFC822"] {
            let (status, report) = post_raw(&app, &acct.token, Some(content_type), nobody.report(POSTFIX_HARD_BOUNCE)).await;
            assert_eq!(status, StatusCode::ACCEPTED, "{content_type}: {report}");
            assert_eq!(report["kind"], "dsn");
        }
        // An empty body is no message; a body that cannot be a message is refused by type.
        for empty in ["", "\r\n  \n"] {
            let (status, problem) = post_raw(&app, &acct.token, Some("message/rfc822"), empty).await;
            assert_problem(status, &problem, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
            assert_eq!(problem["errors"][0]["field"], "body");
        }
        for content_type in [Some("application/json"), Some("text/html"), Some("multipart/form-data; boundary=x"), None] {
            let (status, problem) = post_raw(&app, &acct.token, content_type, nobody.report(POSTFIX_HARD_BOUNCE)).await;
            assert_problem(status, &problem, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
        }
        let too_large = vec![b'a'; 1024 * 1024 + 1];
        let (status, problem) = post_raw(&app, &acct.token, Some("message/rfc822"), too_large).await;
        assert_problem(status, &problem, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
        let (_, page) = app.get("/v1/inbound/reports?limit=1", &acct.token).await;
        assert_eq!(page["counts"]["total"], 18, "refused bodies are not kept: {page}");
    }

    async fn inbound_endpoints_need_their_scopes(app) {
        let acct = app.create_account("Shop").await;
        let raw = Sent::made_up("someone@example.com").report(POSTFIX_HARD_BOUNCE);
        let reader = scoped_token(&app, &acct, &["events:read"]).await;
        let (status, problem) = post_raw(&app, &reader, Some("message/rfc822"), raw.clone()).await;
        assert_problem(status, &problem, StatusCode::FORBIDDEN, "forbidden");
        let (status, _) = app.get("/v1/inbound/reports", &reader).await;
        assert_eq!(status, StatusCode::OK);

        let relay = scoped_token(&app, &acct, &["inbound:write"]).await;
        let (status, report) = post_raw(&app, &relay, Some("message/rfc822"), raw.clone()).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{report}");
        let (status, problem) = app.get("/v1/inbound/reports", &relay).await;
        assert_problem(status, &problem, StatusCode::FORBIDDEN, "forbidden");

        let (status, problem) = app
            .request(reqwest::Method::GET, "/v1/inbound/reports", None, None)
            .await;
        assert_problem(status, &problem, StatusCode::UNAUTHORIZED, "unauthorized");
        let response = app
            .client
            .post(app.url("/v1/inbound/messages"))
            .header("content-type", "message/rfc822")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
}

// --- over SMTP (`MAILROOM_INBOUND_SMTP_ADDR`) ------------------------------------------

/// Delivers `raw` to `rcpt` at the listener with Python's `smtplib` (an independent
/// client), from the null sender as bounces are; answers what the server said to `DATA`.
async fn deliver_with_smtplib(port: u16, rcpt: &str, raw: &str) -> String {
    let dir = std::env::temp_dir().join(format!("mailroom-smtp-{}", Id::new()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("report.eml");
    std::fs::write(&file, raw.replace("\r\n", "\n").replace('\n', "\r\n")).unwrap();
    let script = r#"
import smtplib, sys
port, rcpt, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
    smtp.ehlo("mx.remote.example")
    smtp.mail("")
    code, text = smtp.rcpt(rcpt)
    if code != 250:
        print(code, text.decode()); sys.exit(0)
    code, text = smtp.data(open(path, "rb").read())
    print(code, text.decode())
"#;
    let (rcpt, path) = (rcpt.to_owned(), file.clone());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .args(["-c", script, &port.to_string(), &rcpt])
            .arg(&path)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

async fn a_bounce_delivered_over_smtp_is_processed_like_a_posted_one(backend: Backend) {
    let server = SmtpServer::start();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let app = app_with_relay(
        backend,
        &server,
        &[("MAILROOM_INBOUND_SMTP_ADDR", listen.as_str())],
    )
    .await;
    let acct = app.create_account("Shop").await;
    let (_, campaign) = campaign_to(&app, &acct, &["ada@example.com", "grace@example.com"]).await;
    wait_for_counters(&app, &campaign, (2, 0, 0, 0)).await;
    let ada = Sent::to(&server, "ada@example.com");
    // Sent to the bounce address only (the report's own headers name another mailbox):
    // the SMTP envelope is what ties it to the message.
    let raw = ada.report_to(POSTFIX_HARD_BOUNCE, "bounces@shop.example");
    let reply = deliver_with_smtplib(port, &ada.verp, &raw).await;
    assert!(reply.starts_with("250 2.0.0 kept as report "), "{reply}");

    let (_, reports) = app.get("/v1/inbound/reports", &acct.token).await;
    let report = &reports["data"][0];
    assert_eq!(report["kind"], "dsn", "{reports}");
    assert_eq!(report["matched_by"], "verp", "{reports}");
    assert_eq!(report["message_id"], ada.mailroom_id.as_str());
    assert_eq!(report["outcome"], "hard_bounce");
    assert!(reply.ends_with(report["id"].as_str().unwrap()), "{reply}");
    assert_eq!(
        suppressed(&app, &acct.token, "hard_bounce").await,
        [json!("ada@example.com")]
    );
    wait_for_counters(&app, &campaign, (1, 1, 0, 0)).await;
    let events = wait_for_events(&app, &acct, &ada.mailroom_id, 2).await;
    assert!(events.iter().any(|e| e.event_type == "bounce"));

    // Not a bounce address of a message that exists: refused at RCPT, nothing kept.
    let grace = Sent::to(&server, "grace@example.com");
    let made_up = Sent::made_up("grace@example.com");
    for rcpt in [
        made_up.verp.as_str(),
        "postmaster@mailroom.localhost",
        &grace
            .verp
            .replace("mailroom.localhost", "elsewhere.example"),
    ] {
        let reply = deliver_with_smtplib(port, rcpt, &grace.report(POSTFIX_HARD_BOUNCE)).await;
        assert!(reply.starts_with("550 5.1.1"), "{rcpt}: {reply}");
    }
    // Past the size limit (the API's body limit, 1 MiB here): read to its end, refused,
    // and the conversation goes on.
    let (mut c, _) = Conversation::open(port).await;
    c.say("EHLO mx.remote.example").await;
    c.say("MAIL FROM:<>").await;
    assert!(
        c.say(&format!("RCPT TO:<{}>", grace.verp))
            .await
            .starts_with("250 2.1.5")
    );
    assert!(c.say("DATA").await.starts_with("354"));
    let line = "x".repeat(998);
    for _ in 0..1100 {
        c.send_line(&line).await;
    }
    assert!(c.say(".").await.starts_with("552 5.3.4"));
    assert!(c.say("NOOP").await.starts_with("250"));
    let (_, reports) = app.get("/v1/inbound/reports", &acct.token).await;
    assert_eq!(reports["data"].as_array().unwrap().len(), 1, "{reports}");
}

#[tokio::test]
async fn smtp_bounce_sqlite() {
    a_bounce_delivered_over_smtp_is_processed_like_a_posted_one(Backend::Sqlite).await;
}

#[tokio::test]
async fn smtp_bounce_postgres() {
    a_bounce_delivered_over_smtp_is_processed_like_a_posted_one(Backend::Postgres).await;
}

/// A raw conversation: each line sent, then the reply read (all its lines).
struct Conversation {
    read: tokio::io::BufReader<tokio::net::tcp::OwnedReadHalf>,
    write: tokio::net::tcp::OwnedWriteHalf,
}

impl Conversation {
    async fn open(port: u16) -> (Conversation, String) {
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let (read, write) = stream.into_split();
        let mut c = Conversation {
            read: tokio::io::BufReader::new(read),
            write,
        };
        let greeting = c.reply().await;
        (c, greeting)
    }

    async fn reply(&mut self) -> String {
        use tokio::io::AsyncBufReadExt;
        let mut all = String::new();
        loop {
            let mut line = String::new();
            self.read.read_line(&mut line).await.unwrap();
            all.push_str(&line);
            // The last line of a reply has a space after its code.
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return all.trim_end().to_owned();
            }
        }
    }

    async fn send_line(&mut self, line: &str) {
        use tokio::io::AsyncWriteExt;
        self.write
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .unwrap();
    }

    async fn say(&mut self, line: &str) -> String {
        self.send_line(line).await;
        self.reply().await
    }
}

#[tokio::test]
async fn the_smtp_listener_answers_every_misstep_with_a_reply_code_and_keeps_nothing() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let app = TestApp::spawn_with(Backend::Sqlite, |vars| {
        vars.insert("MAILROOM_INBOUND_SMTP_ADDR".into(), listen);
        vars.insert("MAILROOM_BODY_LIMIT_BYTES".into(), "4096".into());
    })
    .await;
    let acct = app.create_account("Shop").await;
    let (mut c, greeting) = Conversation::open(port).await;
    assert!(
        greeting.starts_with("220 mailroom.localhost "),
        "{greeting}"
    );
    assert!(c.say("MAIL FROM:<>").await.starts_with("503 5.5.1"));
    let ehlo = c.say("EHLO mx.remote.example").await;
    assert!(ehlo.starts_with("250-mailroom.localhost"), "{ehlo}");
    assert!(ehlo.contains("250-SIZE 4096"), "{ehlo}");
    assert!(c.say("STARTTLS").await.starts_with("502 5.5.2"));
    assert!(
        c.say("RCPT TO:<a@b.example>")
            .await
            .starts_with("503 5.5.1")
    );
    assert!(c.say("DATA").await.starts_with("503 5.5.1"));
    assert!(
        c.say("MAIL FROM:<> SIZE=999999")
            .await
            .starts_with("552 5.3.4")
    );
    assert!(c.say("MAIL FROM:<>").await.starts_with("250 2.1.0"));
    assert!(c.say("MAIL FROM:<>").await.starts_with("503 5.5.1"));
    assert!(c.say("RCPT TO:nobody").await.starts_with("501 5.5.4"));
    let unknown = Sent::made_up("ada@example.com");
    assert!(
        c.say(&format!("RCPT TO:<{}>", unknown.verp))
            .await
            .starts_with("550 5.1.1")
    );
    assert!(c.say("DATA").await.starts_with("503 5.5.1"));
    assert!(c.say("VRFY ada").await.starts_with("252"));
    assert!(c.say("RSET").await.starts_with("250"));
    assert!(c.say("NOOP").await.starts_with("250"));
    assert_eq!(c.say("QUIT").await, "221 2.0.0 bye");

    // A line past the limit ends the conversation.
    let (mut c, _) = Conversation::open(port).await;
    let long = format!("EHLO {}", "x".repeat(5000));
    assert!(c.say(&long).await.starts_with("500 5.5.2"));

    // Nothing was kept, and the API still answers.
    let (status, reports) = app.get("/v1/inbound/reports", &acct.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reports["data"].as_array().unwrap().len(), 0);
}
