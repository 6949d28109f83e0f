//! Delivery outcomes against a real MTA: a private Postfix per test (`postfix.rs`) as the
//! relay, delivering to mailboxes and bouncing unknown users with DSNs that go to
//! Mailroom's inbound SMTP listener. A relay's policy refusal blocks a message and never
//! suppresses its address; a full mailbox is a soft bounce; an unknown user is a hard
//! bounce and suppressed; a bounce that overtakes the relay's `250` is one consistent
//! outcome; a campaign whose first recipients bounce at once pauses instead of
//! suppressing its list, and what it suppressed can be undone.
//!
//! Every scenario runs embedded on SQLite and on PostgreSQL, and scaled out: PostgreSQL,
//! RabbitMQ, and `mailroom-sender`, `mailroom-events` and `mailroom-webhooks` as separate
//! processes beside the API (which runs the inbound SMTP listener).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::campaigns::{campaign_body, create_campaign, subscriber, wait_for_status};
use crate::helpers::*;
use crate::postfix::{BOUNCE_DOMAIN, MAILBOX_DOMAIN, Postfix, PostfixPolicy};
use crate::rabbitmq::{TestVhost, WorkerProcess};
use crate::tracking::{wait_for_events, wait_for_stats};
use crate::webhook_receiver::WebhookReceiver;

/// How Mailroom runs in a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setup {
    /// Embedded: workers inside the API, the database's job table as the queue.
    Embedded(Backend),
    /// Scaled out: PostgreSQL, RabbitMQ and the worker binaries as separate processes.
    ScaleOut,
}

/// Mailroom delivering through a private Postfix, with a list of `recipients`
/// (`user@inbox.test` unless they name a domain).
struct Rig {
    /// Scaled out: the worker processes, stopped first.
    _workers: Vec<WorkerProcess>,
    app: TestApp,
    acct: TestAccount,
    list: String,
    postfix: Postfix,
    _vhost: Option<TestVhost>,
}

impl Rig {
    async fn start(
        setup: Setup,
        policy: PostfixPolicy,
        recipients: &[&str],
        vars: &[(&str, &str)],
    ) -> Rig {
        Self::start_with(setup, policy, recipients, vars, None).await
    }

    /// As `start`, with the relay reached through `link` when given.
    async fn start_with(
        setup: Setup,
        policy: PostfixPolicy,
        recipients: &[&str],
        vars: &[(&str, &str)],
        link: Option<&SlowLink>,
    ) -> Rig {
        let inbound = free_port();
        let postfix = Postfix::start(inbound, policy);
        let smtp_url = match link {
            Some(link) => {
                link.connect_to(postfix.port);
                format!("smtp://127.0.0.1:{}?tls=none&timeout_secs=20", link.port)
            }
            None => postfix.smtp_url(),
        };
        let mut settings: Vec<(String, String)> = vec![
            ("SMTP_URL".into(), smtp_url),
            ("MAILROOM_BOUNCE_DOMAIN".into(), BOUNCE_DOMAIN.into()),
            (
                "MAILROOM_INBOUND_SMTP_ADDR".into(),
                format!("127.0.0.1:{inbound}"),
            ),
            ("MAILROOM_RETRY_BASE_MS".into(), "50".into()),
            ("MAILROOM_DELIVERY_MAX_ATTEMPTS".into(), "2".into()),
        ];
        settings.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let (backend, vhost) = match setup {
            Setup::Embedded(backend) => (backend, None),
            Setup::ScaleOut => {
                let vhost = TestVhost::create();
                settings.push(("AMQP_URL".into(), vhost.url_via(5672)));
                (Backend::Postgres, Some(vhost))
            }
        };
        // The workers get the API's own environment, as in production.
        let captured = Arc::new(Mutex::new(HashMap::new()));
        let keep = captured.clone();
        let app = TestApp::spawn_with(backend, move |v| {
            v.extend(settings);
            *keep.lock().unwrap() = v.clone();
        })
        .await;
        let mut workers = Vec::new();
        if vhost.is_some() {
            let mut worker_vars = captured.lock().unwrap().clone();
            worker_vars.insert("MAILROOM_PUBLIC_URL".into(), app.address.clone());
            worker_vars.remove("MAILROOM_INBOUND_SMTP_ADDR");
            for binary in ["mailroom-sender", "mailroom-events", "mailroom-webhooks"] {
                workers.push(WorkerProcess::start(binary, &worker_vars));
            }
        }
        let acct = app.create_account("Shop").await;
        let list = app.list(&acct.token, "News").await;
        for recipient in recipients {
            subscriber(&app, &acct.token, &list, &address(recipient), "Reader").await;
        }
        Rig {
            _workers: workers,
            app,
            acct,
            list,
            postfix,
            _vhost: vhost,
        }
    }

    async fn send_campaign(&self) -> String {
        let campaign =
            create_campaign(&self.app, &self.acct.token, campaign_body(&self.list)).await;
        let (status, body) = self
            .app
            .post(
                &format!("/v1/campaigns/{campaign}/send"),
                &self.acct.token,
                json!({}),
            )
            .await;
        assert!(status.is_success(), "{body}");
        campaign
    }

    async fn wait_for(&self, campaign: &str, status: &str) -> Value {
        wait_for_status(&self.app, &self.acct.token, campaign, status).await
    }

    /// The suppression list, or the entries of one query (`reason=…&campaign_id=…`).
    async fn suppressed(&self, query: &str) -> Vec<Value> {
        self.app
            .all_pages(&self.acct.token, &format!("/v1/suppressions?{query}"), 100)
            .await
    }

    /// Polls the suppression entries of `query` until there are `n`.
    async fn wait_for_suppressed(&self, query: &str, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let entries = self.suppressed(query).await;
            if entries.len() >= n {
                return entries;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} suppressions ({query}): {entries:?}\n{}",
                entries.len(),
                self.postfix.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The events of a campaign of one type, once there are `n`.
    async fn events(&self, campaign: &str, event_type: &str, n: usize) -> Vec<Value> {
        let query = format!("type={event_type}&campaign_id={campaign}");
        wait_for_events(&self.app, &self.acct.token, &query, n).await
    }

    /// The types of a message's events, once there are `n` (scaled out, the events
    /// worker records them after the outcome's commit).
    async fn message_events(&self, message: &str, n: usize) -> Vec<Value> {
        let query = format!("message_id={message}");
        let events = wait_for_events(&self.app, &self.acct.token, &query, n).await;
        assert_eq!(events.len(), n, "{events:?}");
        events
    }

    /// A webhook endpoint of the account at `receiver`, for `event_types`.
    async fn webhook(&self, receiver: &WebhookReceiver, event_types: &[&str]) {
        let (status, hook) = self
            .app
            .post(
                "/v1/webhooks",
                &self.acct.token,
                json!({"url": receiver.url("/hook"), "event_types": event_types}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{hook}");
        receiver.set_secrets(&[hook["secret"].as_str().unwrap()]);
    }
}

fn address(recipient: &str) -> String {
    if recipient.contains('@') {
        recipient.to_owned()
    } else {
        format!("{recipient}@{MAILBOX_DOMAIN}")
    }
}

fn counts(progress: &Value) -> [i64; 5] {
    ["sent", "bounced", "failed", "queued", "deferred"].map(|k| progress[k].as_i64().unwrap())
}

fn emails(entries: &[Value]) -> Vec<String> {
    let mut emails: Vec<String> = entries
        .iter()
        .map(|e| e["email"].as_str().unwrap().to_owned())
        .collect();
    emails.sort();
    emails
}

/// Runs a scenario embedded on SQLite and on PostgreSQL, and scaled out:
/// `sqlite::name`, `postgres::name` and `scale_out::name`.
macro_rules! in_every_setup_with_postfix {
    ($($name:ident => $scenario:ident),* $(,)?) => {
        mod sqlite {
            use super::*;
            $(#[tokio::test]
            async fn $name() {
                $scenario(Setup::Embedded(Backend::Sqlite)).await;
            })*
        }
        mod postgres {
            use super::*;
            $(#[tokio::test]
            async fn $name() {
                $scenario(Setup::Embedded(Backend::Postgres)).await;
            })*
        }
        mod scale_out {
            use super::*;
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                $scenario(Setup::ScaleOut).await;
            })*
        }
    };
}

in_every_setup_with_postfix! {
    a_relay_refusing_our_greeting_pauses_the_campaign_and_suppresses_nobody =>
        helo_policy_refusal,
    policy_refusals_are_blocked_and_a_full_mailbox_is_a_soft_bounce =>
        policy_and_mailbox_answers,
    an_unknown_user_bounced_by_a_dsn_is_suppressed_and_counted_once =>
        unknown_user_by_dsn,
    a_dsn_reporting_a_policy_refusal_or_a_full_mailbox_suppresses_nobody =>
        policy_and_mailbox_answers_by_dsn,
    a_bounce_that_overtakes_the_relays_reply_is_one_consistent_outcome =>
        dsn_before_the_relays_reply,
    a_list_bouncing_at_once_pauses_the_campaign_and_its_suppressions_can_be_undone =>
        safety_valve_and_undo,
}

/// The defect that once wiped a list: a relay whose HELO policy refuses every recipient
/// with `504 5.5.2 … Helo command rejected`.
async fn helo_policy_refusal(setup: Setup) {
    let policy = PostfixPolicy {
        mailboxes: vec!["alice", "bob", "carol", "dave", "erin", "frank"],
        helos: vec![(
            "mailer.shop.test",
            "504 5.5.2 need fully-qualified hostname",
        )],
        ..PostfixPolicy::default()
    };
    let rig = Rig::start(
        setup,
        policy,
        &["alice", "bob", "carol", "dave", "erin", "frank"],
        &[
            ("MAILROOM_EHLO_NAME", "mailer.shop.test"),
            ("MAILROOM_PAUSE_AFTER_FAILURES", "3"),
            ("MAILROOM_SEND_CONCURRENCY", "1"),
        ],
    )
    .await;
    let campaign = rig.send_campaign().await;
    let paused = rig.wait_for(&campaign, "paused").await;
    let reason = paused["paused_reason"].as_str().unwrap();
    assert!(
        reason.contains("3 consecutive") && reason.contains("504 5.5.2"),
        "the reason quotes the relay's answer: {reason}"
    );
    assert!(reason.contains("Helo command rejected"), "{reason}");
    // Not one address suppressed, not one bounce: the messages refused were blocked.
    assert_eq!(rig.suppressed("").await, Vec::<Value>::new());
    let [sent, bounced, failed, queued, deferred] = counts(&paused["progress"]);
    assert_eq!((sent, bounced, failed), (0, 0, 3), "{paused}");
    assert_eq!(
        queued + deferred,
        3,
        "the rest waits for the relay to be fixed: {paused}"
    );
    let blocked = rig.events(&campaign, "blocked", 3).await;
    for event in &blocked {
        assert!(
            event["diagnostic"]
                .as_str()
                .unwrap()
                .starts_with("504 5.5.2"),
            "{event}"
        );
    }
    let (_, bounces) = rig
        .app
        .get(
            &format!("/v1/events?type=bounce&campaign_id={campaign}"),
            &rig.acct.token,
        )
        .await;
    assert_eq!(bounces["data"], json!([]), "{bounces}");
    assert!(rig.postfix.mailbox("alice").is_empty());
    assert!(rig.postfix.log().contains("Helo command rejected"));

    // The entry refusing our name answers as the relay's own `reject_non_fqdn_helo_hostname`
    // policy answers a bare host name, the greeting Mailroom no longer gives.
    let to = format!("alice@{MAILBOX_DOMAIN}");
    assert_eq!(
        rig.postfix.answer_to_recipient("vm", &to),
        "504 5.5.2 <vm>: Helo command rejected: need fully-qualified hostname"
    );
    assert_eq!(
        rig.postfix.answer_to_recipient("mailer.shop.test", &to),
        "504 5.5.2 <mailer.shop.test>: Helo command rejected: need fully-qualified hostname"
    );
}

/// `550 5.7.1` and `550 5.7.26` at RCPT are blocked, never suppressed, and their `blocked`
/// events reach the account's webhook, signed; `552 5.2.2` is a soft bounce, retried, and
/// suppresses the address once it repeats in a second campaign. The relay takes the
/// default greeting, a fully-qualified name.
async fn policy_and_mailbox_answers(setup: Setup) {
    let policy = PostfixPolicy {
        mailboxes: vec!["alice"],
        recipients: vec![
            ("blocked@inbox.test", "REJECT 5.7.1 blocked by policy"),
            (
                "dmarc@inbox.test",
                "550 5.7.26 Unauthenticated email from shop.example is not accepted due to domain's DMARC policy",
            ),
            ("full@inbox.test", "552 5.2.2 Mailbox full"),
        ],
        ..PostfixPolicy::default()
    };
    let receiver = WebhookReceiver::start();
    let rig = Rig::start(
        setup,
        policy,
        &["alice", "blocked", "dmarc", "full"],
        &[
            ("MAILROOM_SOFT_BOUNCE_LIMIT", "2"),
            ("MAILROOM_WEBHOOK_ALLOW_PRIVATE", "true"),
        ],
    )
    .await;
    rig.webhook(&receiver, &["blocked", "bounce"]).await;
    let first = rig.send_campaign().await;
    let done = rig.wait_for(&first, "sent").await;
    let [sent, bounced, failed, _, _] = counts(&done["progress"]);
    assert_eq!((sent, bounced, failed), (1, 0, 3), "{done}");
    assert_eq!(
        rig.suppressed("").await,
        Vec::<Value>::new(),
        "nothing suppressed"
    );

    // Alice got the message, from a relay that requires fully-qualified greetings.
    let delivered = rig.postfix.mailbox("alice");
    assert_eq!(delivered.len(), 1, "{}", rig.postfix.log());
    assert!(
        delivered[0].contains(&format!("from {BOUNCE_DOMAIN} ")),
        "greeted with the bounce domain: {}",
        delivered[0]
    );

    let blocked = rig.events(&first, "blocked", 2).await;
    let mut diagnostics: Vec<&str> = blocked
        .iter()
        .map(|e| e["diagnostic"].as_str().unwrap())
        .collect();
    diagnostics.sort();
    assert!(
        diagnostics[0].starts_with("550 5.7.1 <b***@inbox.test>"),
        "{diagnostics:?}"
    );
    assert!(diagnostics[1].starts_with("550 5.7.26"), "{diagnostics:?}");
    assert!(
        blocked.iter().all(|e| e["source"] == "failed"),
        "{blocked:?}"
    );
    let soft = rig.events(&first, "bounce", 1).await;
    assert_eq!(soft.len(), 1, "{soft:?}");
    assert_eq!(soft[0]["email"], "full@inbox.test");
    assert_eq!(soft[0]["bounce_class"], "soft");
    assert!(
        soft[0]["diagnostic"]
            .as_str()
            .unwrap()
            .starts_with("552 5.2.2")
    );
    // Retried before it was given up on (two attempts).
    let deferred = rig.events(&first, "deferred", 1).await;
    assert!(
        deferred[0]["diagnostic"]
            .as_str()
            .unwrap()
            .starts_with("552 5.2.2")
    );
    let stats = wait_for_stats(&rig.app, &rig.acct.token, &first, |s| {
        s["bounced"]["soft"] == 1 && s["failed"] == 2
    })
    .await;
    assert_eq!(
        (stats["sent"].as_i64(), stats["bounced"]["hard"].as_i64()),
        (Some(1), Some(0)),
        "{stats}"
    );

    // The webhook got both refusals as `blocked` events and the full mailbox as a soft
    // bounce, each signed with the endpoint's secret.
    let delivered = receiver.wait_for(3, Duration::from_secs(60)).await;
    assert!(
        delivered.iter().all(|r| r.verified == [true]),
        "{delivered:?}"
    );
    let mut payloads: Vec<Value> = delivered.iter().map(|r| r.json()).collect();
    payloads.sort_by_key(|p| p["data"]["email"].as_str().unwrap().to_owned());
    let summary: Vec<(&str, &str)> = payloads
        .iter()
        .map(|p| {
            (
                p["type"].as_str().unwrap(),
                p["data"]["email"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("blocked", "blocked@inbox.test"),
            ("blocked", "dmarc@inbox.test"),
            ("bounce", "full@inbox.test"),
        ],
        "{payloads:?}"
    );
    let diagnostic = |p: &Value| p["data"]["diagnostic"].as_str().unwrap().to_owned();
    assert!(
        diagnostic(&payloads[0]).starts_with("550 5.7.1 "),
        "{payloads:?}"
    );
    assert!(
        diagnostic(&payloads[1]).starts_with("550 5.7.26 "),
        "{payloads:?}"
    );
    assert_eq!(payloads[0]["data"]["source"], "failed");
    assert_eq!(payloads[2]["data"]["bounce"]["class"], "soft");

    // The mailbox is still full a campaign later: now the address is suppressed, by the
    // campaign that saw it repeat; the blocked ones still are not.
    let second = rig.send_campaign().await;
    rig.wait_for(&second, "sent").await;
    let entries = rig.suppressed("").await;
    assert_eq!(emails(&entries), ["full@inbox.test"], "{entries:?}");
    assert_eq!(entries[0]["reason"], "soft_bounce");
    assert_eq!(entries[0]["campaign_id"], second.as_str());

    // A campaign's soft-bounce suppressions can be undone too, and only its own reason.
    let undo = |reason: &str| format!("/v1/suppressions?campaign_id={second}&reason={reason}");
    let (status, body) = rig.app.delete(&undo("hard_bounce"), &rig.acct.token).await;
    assert_eq!(
        (status, &body["removed"]),
        (StatusCode::OK, &json!(0)),
        "{body}"
    );
    let (status, body) = rig.app.delete(&undo("soft_bounce"), &rig.acct.token).await;
    assert_eq!(
        (status, &body["removed"]),
        (StatusCode::OK, &json!(1)),
        "{body}"
    );
    assert_eq!(rig.suppressed("").await, Vec::<Value>::new());
}

/// An address the relay accepts and its mailbox server does not know: the DSN arrives at
/// the inbound listener, the address is suppressed, and everything counts it once.
async fn unknown_user_by_dsn(setup: Setup) {
    let policy = PostfixPolicy {
        mailboxes: vec!["alice"],
        ..PostfixPolicy::default()
    };
    let rig = Rig::start(setup, policy, &["alice", "nobody"], &[]).await;
    let campaign = rig.send_campaign().await;
    rig.wait_for(&campaign, "sent").await;
    let entries = rig
        .wait_for_suppressed(&format!("campaign_id={campaign}"), 1)
        .await;
    assert_eq!(emails(&entries), ["nobody@inbox.test"]);
    assert_eq!(entries[0]["reason"], "hard_bounce");

    let (_, reports) = rig.app.get("/v1/inbound/reports", &rig.acct.token).await;
    let report = &reports["data"][0];
    assert_eq!(report["kind"], "dsn", "{reports}");
    assert_eq!(report["matched_by"], "verp");
    assert_eq!(report["outcome"], "hard_bounce");
    assert_eq!(report["reporting_mta"], "mta.test");
    assert_eq!(report["recipients"][0]["status"], "5.1.1");
    assert_eq!(report["recipients"][0]["class"], "hard");

    rig.app.wait_until_idle().await;
    let (_, body) = rig
        .app
        .get(&format!("/v1/campaigns/{campaign}"), &rig.acct.token)
        .await;
    let [sent, bounced, failed, _, _] = counts(&body["progress"]);
    assert_eq!((sent, bounced, failed), (1, 1, 0), "{body}");
    assert_consistent(&rig, &campaign, &body["progress"]).await;
    let message = report["message_id"].as_str().unwrap();
    let events = rig.message_events(message, 2).await;
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["sent", "bounce"], "{events:?}");
    assert_eq!(events[1]["bounce_class"], "hard");
    assert_eq!(events[1]["source"], "dsn");
}

/// The relay takes every message and reports later, by DSN, that a receiving server
/// refused one by its DMARC policy (`Status: 5.7.26`) and found another's mailbox full
/// (`Status: 5.2.2`): the first is blocked, the second a soft bounce, both failed after
/// their `sent`, and no address is suppressed.
async fn policy_and_mailbox_answers_by_dsn(setup: Setup) {
    let policy = PostfixPolicy {
        mailboxes: vec!["alice"],
        bounced_domains: vec![
            ("dmarc.test", "5.7.26 rejected by the domain's DMARC policy"),
            ("full.test", "5.2.2 mailbox full"),
        ],
        ..PostfixPolicy::default()
    };
    let rig = Rig::start(
        setup,
        policy,
        &["alice", "x@dmarc.test", "y@full.test"],
        &[],
    )
    .await;
    let campaign = rig.send_campaign().await;
    rig.wait_for(&campaign, "sent").await;
    let reports = wait_for_reports(&rig, 2).await;
    let mut outcomes: Vec<&str> = reports
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    outcomes.sort();
    assert_eq!(outcomes, ["blocked", "soft_bounce"], "{reports:?}");
    assert!(
        reports.iter().all(|r| r["suppressed"] == false),
        "{reports:?}"
    );
    let mut statuses: Vec<&str> = reports
        .iter()
        .map(|r| r["recipients"][0]["status"].as_str().unwrap())
        .collect();
    statuses.sort();
    assert_eq!(statuses, ["5.2.2", "5.7.26"], "{reports:?}");

    let blocked = rig.events(&campaign, "blocked", 1).await;
    assert_eq!(blocked[0]["email"], "x@dmarc.test");
    assert_eq!(blocked[0]["source"], "dsn");
    assert!(
        blocked[0]["diagnostic"].as_str().unwrap().contains("DMARC"),
        "{blocked:?}"
    );
    let soft = rig.events(&campaign, "bounce", 1).await;
    assert_eq!(soft[0]["email"], "y@full.test");
    assert_eq!(soft[0]["bounce_class"], "soft");
    assert_eq!(soft[0]["source"], "dsn");

    let done = rig.wait_for(&campaign, "sent").await;
    let [sent, bounced, failed, _, _] = counts(&done["progress"]);
    assert_eq!((sent, bounced, failed), (1, 0, 2), "{done}");
    let stats = wait_for_stats(&rig.app, &rig.acct.token, &campaign, |s| {
        s["sent"] == 1 && s["failed"] == 1 && s["bounced"]["soft"] == 1
    })
    .await;
    assert_eq!(stats["bounced"]["hard"], 0, "{stats}");
    assert_eq!(rig.suppressed("").await, Vec::<Value>::new());
    assert_eq!(rig.postfix.mailbox("alice").len(), 1);
}

/// The inbound reports of the account, once there are `n`.
async fn wait_for_reports(rig: &Rig, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let reports = rig
            .app
            .all_pages(&rig.acct.token, "/v1/inbound/reports", 50)
            .await;
        if reports.len() >= n {
            return reports;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {n} reports: {reports:?}\n{}",
            reports.len(),
            rig.postfix.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The relay's `250 … queued as` crawls back over a slow link while its DSN for the same
/// message is already in: one outcome, the same in progress, statistics and events.
async fn dsn_before_the_relays_reply(setup: Setup) {
    let link = SlowLink::start().await;
    let policy = PostfixPolicy {
        mailboxes: vec!["alice"],
        ..PostfixPolicy::default()
    };
    let rig = Rig::start_with(setup, policy, &["alice", "nobody"], &[], Some(&link)).await;
    let campaign = rig.send_campaign().await;
    // The DSN is in, while the relay's acceptance of that message is still on its way.
    let entries = rig
        .wait_for_suppressed(&format!("campaign_id={campaign}"), 1)
        .await;
    assert_eq!(emails(&entries), ["nobody@inbox.test"]);
    assert!(link.held() >= 1, "the relay's reply was held back");
    let (_, reports) = rig.app.get("/v1/inbound/reports", &rig.acct.token).await;
    assert_eq!(reports["data"][0]["outcome"], "hard_bounce", "{reports}");
    let message = reports["data"][0]["message_id"]
        .as_str()
        .unwrap()
        .to_owned();

    link.release();
    let done = rig.wait_for(&campaign, "sent").await;
    rig.app.wait_until_idle().await;
    let [sent, bounced, failed, queued, _] = counts(&done["progress"]);
    assert_eq!((sent, bounced, failed, queued), (1, 1, 0, 0), "{done}");
    assert_consistent(&rig, &campaign, &done["progress"]).await;
    // The events read as they would have in the usual order: sent, then the bounce.
    let events = rig.message_events(&message, 2).await;
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["sent", "bounce"], "{events:?}");
}

/// Statistics and progress say the same, and the rates add up to at most 1.
async fn assert_consistent(rig: &Rig, campaign: &str, progress: &Value) {
    let stats = wait_for_stats(&rig.app, &rig.acct.token, campaign, |s| {
        s["sent"] == progress["sent"] && s["bounced"]["hard"] == progress["bounced"]
    })
    .await;
    let rates = &stats["rates"];
    let total = rates["delivery"].as_f64().unwrap() + rates["bounce"].as_f64().unwrap();
    assert!(
        total <= 1.0 + 1e-9,
        "delivery + bounce rates = {total}: {stats}"
    );
}

/// Half of the first recipients hard-bounce at once (a relay that says every address of
/// a domain is unknown): the campaign pauses instead of suppressing the rest; the
/// suppressions it made are reviewed and undone in one audited call; resumed, it goes on.
async fn safety_valve_and_undo(setup: Setup) {
    let policy = PostfixPolicy {
        recipients: vec![(
            "lost.test",
            "550 5.1.1 User unknown in virtual mailbox table",
        )],
        ..PostfixPolicy::default()
    };
    let recipients: Vec<String> = (0..8).map(|i| format!("u{i}@lost.test")).collect();
    let recipients: Vec<&str> = recipients.iter().map(String::as_str).collect();
    let rig = Rig::start(
        setup,
        policy,
        &recipients,
        &[
            ("MAILROOM_BOUNCE_VALVE_RECIPIENTS", "4"),
            ("MAILROOM_BOUNCE_VALVE_PERCENT", "50"),
            ("MAILROOM_SEND_CONCURRENCY", "1"),
        ],
    )
    .await;
    let campaign = rig.send_campaign().await;
    let paused = rig.wait_for(&campaign, "paused").await;
    let reason = paused["paused_reason"].as_str().unwrap();
    assert!(
        reason.contains("safety valve") && reason.contains("550 5.1.1"),
        "{reason}"
    );
    let [sent, bounced, _, queued, _] = counts(&paused["progress"]);
    assert_eq!(
        (sent, bounced, queued),
        (0, 2, 6),
        "the rest was not sent: {paused}"
    );
    // The first bounce suppressed its address; the one that tripped the valve did not.
    let made = rig
        .suppressed(&format!("campaign_id={campaign}&reason=hard_bounce"))
        .await;
    assert_eq!(made.len(), 1, "{made:?}");

    // Bad requests are refused clearly.
    let token = &rig.acct.token;
    let (status, body) = rig.app.delete("/v1/suppressions", token).await;
    assert_problem(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["campaign_id", "reason"], "{body}");
    let (status, body) = rig
        .app
        .delete(
            &format!("/v1/suppressions?campaign_id={campaign}&reason=complaint"),
            token,
        )
        .await;
    assert_problem(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let (status, body) = rig
        .app
        .delete(
            "/v1/suppressions?campaign_id=nope&reason=hard_bounce",
            token,
        )
        .await;
    assert_problem(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let unknown = mailroom_domain::Id::new();
    let (status, body) = rig
        .app
        .delete(
            &format!("/v1/suppressions?campaign_id={unknown}&reason=hard_bounce"),
            token,
        )
        .await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
    let other = rig.app.create_account("Other").await;
    let (status, body) = rig
        .app
        .delete(
            &format!("/v1/suppressions?campaign_id={campaign}&reason=hard_bounce"),
            &other.token,
        )
        .await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        rig.suppressed(&format!("campaign_id={campaign}"))
            .await
            .len(),
        1
    );

    // The undo, audited.
    let (status, body) = rig
        .app
        .delete(
            &format!("/v1/suppressions?campaign_id={campaign}&reason=hard_bounce"),
            token,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"campaign_id": campaign, "reason": "hard_bounce", "removed": 1})
    );
    assert_eq!(rig.suppressed("").await, Vec::<Value>::new());
    let audit = rig
        .app
        .all_pages(
            token,
            "/v1/audit-events?action=suppression.campaign_undone",
            50,
        )
        .await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(
        audit[0]["resource"],
        json!({"type": "campaign", "id": campaign})
    );
    assert_eq!(
        audit[0]["details"],
        json!({"reason": "hard_bounce", "removed": 1})
    );

    // Resumed (the bounces are real after all): the valve stays open, the campaign
    // finishes and its hard bounces suppress again.
    let (status, body) = rig
        .app
        .post(
            &format!("/v1/campaigns/{campaign}/resume"),
            token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let done = rig.wait_for(&campaign, "sent").await;
    assert_eq!(done["progress"]["bounced"], 8, "{done}");
    let suppressed = rig.suppressed(&format!("campaign_id={campaign}")).await;
    assert_eq!(suppressed.len(), 6, "{suppressed:?}");
}

/// A slow link to the relay: bytes go both ways, but the relay's replies that accept a
/// message (`250 … queued as …`) are held back until `release`.
struct SlowLink {
    port: u16,
    listener: std::sync::Mutex<Option<TcpListener>>,
    held: Arc<AtomicUsize>,
    released: watch::Sender<bool>,
}

impl SlowLink {
    async fn start() -> SlowLink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        SlowLink {
            port: listener.local_addr().unwrap().port(),
            listener: std::sync::Mutex::new(Some(listener)),
            held: Arc::new(AtomicUsize::new(0)),
            released: watch::channel(false).0,
        }
    }

    /// Starts forwarding to the relay on `port`.
    fn connect_to(&self, port: u16) {
        let listener = self.listener.lock().unwrap().take().unwrap();
        let (held, released) = (self.held.clone(), self.released.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(relay) = TcpStream::connect(("127.0.0.1", port)).await else {
                    continue;
                };
                tokio::spawn(forward(client, relay, held.clone(), released.subscribe()));
            }
        });
    }

    /// How many acceptances were held back.
    fn held(&self) -> usize {
        self.held.load(Ordering::SeqCst)
    }

    fn release(&self) {
        self.released.send_replace(true);
    }
}

async fn forward(
    client: TcpStream,
    relay: TcpStream,
    held: Arc<AtomicUsize>,
    mut released: watch::Receiver<bool>,
) {
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_relay, mut to_relay) = relay.into_split();
    let upstream = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut from_client, &mut to_relay).await;
        let _ = to_relay.shutdown().await;
    });
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let n = match from_relay.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &buffer[..n];
        if chunk.windows(9).any(|w| w == b"queued as") && !*released.borrow() {
            held.fetch_add(1, Ordering::SeqCst);
            let _ = released.wait_for(|released| *released).await;
        }
        if to_client.write_all(chunk).await.is_err() {
            break;
        }
    }
    upstream.abort();
}
