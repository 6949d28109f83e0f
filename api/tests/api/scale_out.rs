//! Scale-out mode end to end: PostgreSQL, the machine's RabbitMQ (a vhost per test), the
//! API in this process publishing through its outbox relay (tracking events straight to
//! the broker), and `mailroom-sender` as real
//! separate processes delivering to a real SMTP server. Each test counts what the SMTP
//! server received (and the webhook test what a webhook receiver received).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::campaigns::{campaign_body, create_campaign, readers};
use crate::helpers::*;
use crate::proxy::Proxy;
use crate::rabbitmq::{TestVhost, WorkerProcess, workspace_binary};
use crate::smtp_server::{ReceivedMessage, SmtpServer};
use crate::webhook_receiver::WebhookReceiver;

pub(crate) struct ScaleOut {
    pub(crate) app: TestApp,
    /// The environment every worker process gets: the API's own, as in production.
    pub(crate) worker_vars: HashMap<String, String>,
    vhost: TestVhost,
}

impl ScaleOut {
    /// The API with `AMQP_URL` (so no workers of its own) delivering through `server`;
    /// `broker_port` is RabbitMQ's port or a proxy's in front of it.
    pub(crate) async fn start(
        server: &SmtpServer,
        broker_port: Option<u16>,
        extra: &[(&str, &str)],
    ) -> ScaleOut {
        let vhost = TestVhost::create();
        let amqp = vhost.url_via(broker_port.unwrap_or(5672));
        let smtp = server.url();
        let captured = Arc::new(Mutex::new(HashMap::new()));
        let keep = captured.clone();
        let extra: Vec<(String, String)> = extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let app = TestApp::spawn_with(Backend::Postgres, move |vars| {
            vars.insert("AMQP_URL".into(), amqp);
            vars.insert("SMTP_URL".into(), smtp);
            vars.insert("MAILROOM_RETRY_BASE_MS".into(), "200".into());
            vars.insert("MAILROOM_SEND_CONCURRENCY".into(), "4".into());
            for (k, v) in extra {
                vars.insert(k, v);
            }
            *keep.lock().unwrap() = vars.clone();
        })
        .await;
        let mut worker_vars = captured.lock().unwrap().clone();
        worker_vars.insert("MAILROOM_PUBLIC_URL".into(), app.address.clone());
        worker_vars.insert(
            "RUST_LOG".into(),
            "info,mailroom_worker::sender=debug".into(),
        );
        ScaleOut {
            app,
            worker_vars,
            vhost,
        }
    }

    pub(crate) fn sender(&self) -> WorkerProcess {
        self.worker("mailroom-sender")
    }

    pub(crate) fn worker(&self, binary: &str) -> WorkerProcess {
        WorkerProcess::start(binary, &self.worker_vars)
    }
}

async fn send_campaign(app: &TestApp, token: &str, list: &str) -> String {
    let campaign = create_campaign(app, token, campaign_body(list)).await;
    let (status, body) = app
        .post(&format!("/v1/campaigns/{campaign}/send"), token, json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    campaign
}

/// Waits (up to `limit`) for the campaign to be `sent`.
async fn wait_sent(app: &TestApp, token: &str, campaign: &str, limit: Duration) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let (_, body) = app.get(&format!("/v1/campaigns/{campaign}"), token).await;
        if body["status"] == "sent" {
            return body;
        }
        assert!(Instant::now() < deadline, "campaign never finished: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// How many copies of each recipient's mail the SMTP server accepted.
fn copies(received: &[ReceivedMessage]) -> HashMap<String, usize> {
    let mut copies = HashMap::new();
    for message in received {
        for rcpt in &message.rcpt_tos {
            *copies.entry(rcpt.clone()).or_insert(0) += 1;
        }
    }
    copies
}

fn readers_set(n: usize) -> HashSet<String> {
    (0..n).map(|i| format!("reader{i}@example.com")).collect()
}

fn delivered_lines(worker: &WorkerProcess) -> usize {
    worker
        .output()
        .lines()
        .filter(|line| line.contains("delivered"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campaign_test_and_transactional_mail_flow_through_rabbitmq_to_a_sender_process() {
    let server = SmtpServer::start();
    let so = ScaleOut::start(&server, None, &[]).await;
    let app = &so.app;
    let (status, ready) = app
        .request(reqwest::Method::GET, "/readyz", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut ready = ready;
    while ready["broker"] != "ok" && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        ready = app
            .request(reqwest::Method::GET, "/readyz", None, None)
            .await
            .1;
    }
    assert_eq!(ready["broker"], "ok", "{ready}");

    let acct = app.create_account("Shop").await;
    let list = app.list(&acct.token, "News").await;
    readers(app, &acct.token, &list, 30).await;
    let campaign = send_campaign(app, &acct.token, &list).await;
    let (status, _) = app
        .post(
            &format!("/v1/campaigns/{campaign}/test"),
            &acct.token,
            json!({"emails": ["qa@shop.example"]}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, body) = app
        .post(
            "/v1/send",
            &acct.token,
            json!({"messages": [{
                "from": {"email": "orders@shop.example"},
                "to": [{"email": "buyer@example.com"}],
                "subject": "Your order", "text": "Shipped."
            }]}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");

    // The API runs no workers with AMQP_URL: nothing moves until a sender runs.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        server.received().is_empty(),
        "the API delivered mail itself"
    );
    // The sender serves its probes only where MAILROOM_WORKER_ADDR says.
    let probe_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut vars = so.worker_vars.clone();
    vars.insert(
        "MAILROOM_WORKER_ADDR".into(),
        format!("127.0.0.1:{probe_port}"),
    );
    let sender = WorkerProcess::start("mailroom-sender", &vars);
    let probe = |path: &'static str| {
        let url = format!("http://127.0.0.1:{probe_port}{path}");
        async move {
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                if let Ok(res) = reqwest::get(&url).await {
                    let status = res.status();
                    let body: Value = res.json().await.unwrap_or(Value::Null);
                    if status == StatusCode::OK || Instant::now() > deadline {
                        return (status, body);
                    }
                }
                assert!(Instant::now() < deadline, "no probe answered at {url}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert_eq!(probe("/healthz").await.0, StatusCode::OK);
    let (status, ready) = probe("/readyz").await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert_eq!(
        (ready["database"].as_str(), ready["broker"].as_str()),
        (Some("ok"), Some("ok"))
    );

    let done = wait_sent(app, &acct.token, &campaign, Duration::from_secs(60)).await;
    let received = server.wait_for_async(32, Duration::from_secs(30)).await;
    let copies = copies(&received);
    let mut expected = readers_set(30);
    expected.insert("qa@shop.example".into());
    expected.insert("buyer@example.com".into());
    assert_eq!(copies.keys().cloned().collect::<HashSet<_>>(), expected);
    assert!(
        copies.values().all(|n| *n == 1),
        "a recipient got two copies: {copies:?}"
    );
    let p = &done["progress"];
    assert_eq!(
        (p["recipients"].as_i64(), p["sent"].as_i64()),
        (Some(30), Some(30)),
        "{done}"
    );
    assert_eq!(delivered_lines(&sender), 32, "{}", sender.output());
    assert_eq!(so.vhost.queue_depth("mailroom.message.deliver"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_senders_share_a_campaign_and_mail_each_recipient_once() {
    let server = SmtpServer::start();
    let so = ScaleOut::start(&server, None, &[]).await;
    let acct = so.app.create_account("Shop").await;
    let list = so.app.list(&acct.token, "News").await;
    readers(&so.app, &acct.token, &list, 150).await;
    let (a, b) = (so.sender(), so.sender());
    let campaign = send_campaign(&so.app, &acct.token, &list).await;
    let done = wait_sent(&so.app, &acct.token, &campaign, Duration::from_secs(120)).await;
    let received = server.wait_for_async(150, Duration::from_secs(30)).await;
    let copies = copies(&received);
    assert_eq!(
        copies.keys().cloned().collect::<HashSet<_>>(),
        readers_set(150)
    );
    assert!(copies.values().all(|n| *n == 1), "duplicates: {copies:?}");
    assert_eq!(done["progress"]["sent"], 150, "{done}");
    let (by_a, by_b) = (delivered_lines(&a), delivered_lines(&b));
    assert_eq!(by_a + by_b, 150);
    assert!(
        by_a > 0 && by_b > 0,
        "one sender did all the work: {by_a} / {by_b}"
    );
    println!("sender A delivered {by_a}, sender B {by_b}");
    // Outcomes are recorded in group commits: every message still has exactly one `sent`
    // event, counted once.
    let _events = WorkerProcess::start("mailroom-events", &so.worker_vars);
    let sent = crate::tracking::wait_for_events(&so.app, &acct.token, "type=sent", 150).await;
    let messages: HashSet<&str> = sent
        .iter()
        .map(|e| e["message_id"].as_str().unwrap())
        .collect();
    assert_eq!((sent.len(), messages.len()), (150, 150));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, stats) = so
            .app
            .get(&format!("/v1/campaigns/{campaign}/stats"), &acct.token)
            .await;
        if stats["sent"] == 150 {
            break;
        }
        assert!(Instant::now() < deadline, "{stats}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Log lines of a worker that deferred a job to its account's next sending window.
fn deferred_lines(worker: &WorkerProcess) -> usize {
    worker
        .output()
        .lines()
        .filter(|line| line.contains("job deferred"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sending_limit_holds_across_two_sender_processes() {
    let server = SmtpServer::start();
    let so = ScaleOut::start(&server, None, &[]).await;
    let app = &so.app;
    let acct = app.create_account("Shop").await;
    // A daily limit: the test cannot straddle its window unless it runs at midnight UTC.
    let (status, body) = app
        .request(
            reqwest::Method::PATCH,
            &format!("/v1/admin/accounts/{}", acct.id),
            Some(ADMIN_TOKEN),
            Some(json!({"limits": {"messages_per_day": 7}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let list = app.list(&acct.token, "News").await;
    readers(app, &acct.token, &list, 20).await;
    let (a, b) = (so.sender(), so.sender());
    let campaign = send_campaign(app, &acct.token, &list).await;
    // Every message meets the gate: 7 go out, the 13 others wait for the next window.
    let deadline = Instant::now() + Duration::from_secs(60);
    while deferred_lines(&a) + deferred_lines(&b) < 13 {
        assert!(
            Instant::now() < deadline,
            "deferred {} + {}; received {}",
            deferred_lines(&a),
            deferred_lines(&b),
            server.received().len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let received = server.received();
    assert_eq!(received.len(), 7, "the limit is 7 a day");
    assert!(copies(&received).values().all(|n| *n == 1));
    assert!(
        delivered_lines(&a) + delivered_lines(&b) == 7,
        "both senders share the one counter"
    );
    let (_, waiting) = app
        .get(&format!("/v1/campaigns/{campaign}"), &acct.token)
        .await;
    assert_eq!(waiting["status"], "sending", "{waiting}");
    assert_eq!(waiting["paused_reason"], "quota", "{waiting}");
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1))
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let resumes_at = chrono::DateTime::parse_from_rfc3339(waiting["resumes_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    assert_eq!(resumes_at, tomorrow, "{waiting}");
    // A transactional send is refused while the window is full, with when to come back.
    let res = app
        .client
        .post(app.url("/v1/send"))
        .bearer_auth(&acct.token)
        .json(&json!({"messages": [{"from": {"email": "orders@shop.example"}, "to": [{"email": "buyer@example.com"}], "subject": "Order", "text": "Shipped."}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: i64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let expected = (tomorrow - chrono::Utc::now()).num_seconds();
    assert!(
        (retry_after - expected).abs() <= 5,
        "{retry_after} vs {expected}"
    );
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["code"], "quota_exceeded", "{problem}");
    let (_, view) = app
        .request(
            reqwest::Method::GET,
            &format!("/v1/admin/accounts/{}", acct.id),
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(view["windows"]["day"]["sent"], 7, "{view}");
    assert_eq!(view["windows"]["day"]["limit"], 7, "{view}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_every_sender_mid_campaign_loses_no_recipient() {
    let server = SmtpServer::start();
    let so = ScaleOut::start(&server, None, &[]).await;
    let acct = so.app.create_account("Shop").await;
    let list = so.app.list(&acct.token, "News").await;
    readers(&so.app, &acct.token, &list, 200).await;
    let mut first = [so.sender(), so.sender()];
    let campaign = send_campaign(&so.app, &acct.token, &list).await;
    let before = server
        .wait_for_async(30, Duration::from_secs(60))
        .await
        .len();
    for sender in &mut first {
        sender.kill();
    }
    let at_kill = server.received().len();
    assert!(
        at_kill < 200,
        "the campaign finished before the kill ({at_kill})"
    );
    let _second = [so.sender(), so.sender()];
    let done = wait_sent(&so.app, &acct.token, &campaign, Duration::from_secs(120)).await;
    let received = server.received();
    let copies = copies(&received);
    assert_eq!(
        copies.keys().cloned().collect::<HashSet<_>>(),
        readers_set(200),
        "a recipient was lost"
    );
    let duplicates: usize = copies.values().map(|n| n - 1).sum();
    println!(
        "killed both senders after {before}..{at_kill} of 200 messages; duplicates: {duplicates}"
    );
    // At most the messages inside an SMTP transaction at the kill: 2 senders × concurrency 4.
    assert!(duplicates <= 8, "{duplicates} duplicates");
    let p = &done["progress"];
    assert_eq!(
        (p["recipients"].as_i64(), p["sent"].as_i64()),
        (Some(200), Some(200)),
        "{done}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_accepts_sends_while_the_broker_is_unreachable_and_every_job_arrives_after() {
    let server = SmtpServer::start();
    let proxy = Proxy::start("127.0.0.1:5672".parse().unwrap()).await;
    let so = ScaleOut::start(&server, Some(proxy.port), &[]).await;
    let app = &so.app;
    let acct = app.create_account("Shop").await;
    let list = app.list(&acct.token, "News").await;
    readers(app, &acct.token, &list, 20).await;
    let _sender = so.sender();

    proxy.cut();
    let ready = broker_outage_noticed(app).await;
    assert_eq!(ready["database"], "ok");

    let campaign = send_campaign(app, &acct.token, &list).await;
    let (status, _) = app
        .post(
            &format!("/v1/campaigns/{campaign}/test"),
            &acct.token,
            json!({"emails": ["qa@shop.example"]}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, body) = app
        .post(
            "/v1/send",
            &acct.token,
            json!({"messages": [{
                "from": {"email": "orders@shop.example"},
                "to": [{"email": "buyer@example.com"}],
                "subject": "Your order", "text": "Shipped."
            }]}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(server.received().is_empty(), "mail moved without a broker");

    proxy.restore();
    let done = wait_sent(app, &acct.token, &campaign, Duration::from_secs(60)).await;
    let received = server.wait_for_async(22, Duration::from_secs(30)).await;
    let copies = copies(&received);
    let mut expected = readers_set(20);
    expected.insert("qa@shop.example".into());
    expected.insert("buyer@example.com".into());
    assert_eq!(copies.keys().cloned().collect::<HashSet<_>>(), expected);
    assert!(copies.values().all(|n| *n == 1), "{copies:?}");
    assert_eq!(done["progress"]["sent"], 20);
    let ready = app
        .request(reqwest::Method::GET, "/readyz", None, None)
        .await
        .1;
    assert_eq!(ready["broker"], "ok", "{ready}");
}

/// Waits until `/readyz` reports the broker degraded — answering 200 throughout, as a
/// broker outage must not fail readiness — and answers its last body.
async fn broker_outage_noticed(app: &TestApp) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, ready) = app
            .request(reqwest::Method::GET, "/readyz", None, None)
            .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "a broker outage must not fail readiness: {ready}"
        );
        if ready["broker"]
            .as_str()
            .is_some_and(|b| b.starts_with("degraded"))
        {
            return ready;
        }
        assert!(
            Instant::now() < deadline,
            "the outage was never noticed: {ready}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn mailroom_api(vars: &HashMap<String, String>, args: &[&str]) -> String {
    let out = std::process::Command::new(workspace_binary("mailroom-api"))
        .env_clear()
        .envs(vars)
        .env("RUST_LOG", "warn")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mailroom-api {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn parked(vars: &HashMap<String, String>) -> Vec<Value> {
    mailroom_api(vars, &["parking", "list", "--json"])
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poisoned_job_is_parked_after_its_retries_listed_and_redriven() {
    let server = SmtpServer::start();
    let so = ScaleOut::start(&server, None, &[]).await;
    let sender = so.sender();
    // A job no worker can read (as a bad deploy might leave behind), allowed 3 attempts.
    let pool = mailroom_domain::store::build_pool(&so.app.database_url(), &Default::default());
    let mut conn = mailroom_domain::store::checkout(&pool).unwrap();
    let options = mailroom_domain::jobs::Enqueue {
        max_attempts: 3,
        ..Default::default()
    };
    let job = mailroom_domain::jobs::Job::DeliverMessage {
        message_id: mailroom_domain::Id::new(),
    };
    // Written and spoiled in one transaction: the relay must never see the readable payload
    // (a job for a message that does not exist is simply done, and would never be parked).
    let poisoned = {
        use diesel::prelude::*;
        use mailroom_domain::schema::jobs;
        conn.transaction::<_, mailroom_domain::Error, _>(|conn| {
            let poisoned = mailroom_domain::jobs::JobRow::enqueue(conn, &job, options)?;
            diesel::update(jobs::table.find(poisoned))
                .set(jobs::payload.eq(mailroom_domain::Json(json!({"message_id": 42}))))
                .execute(conn)?;
            Ok(poisoned)
        })
        .unwrap()
    };
    let wait_parked = |what: &'static str| {
        let vars = so.worker_vars.clone();
        let sender = &sender;
        async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let jobs = parked(&vars);
                if !jobs.is_empty() {
                    return jobs;
                }
                assert!(
                    Instant::now() < deadline,
                    "{what}: never parked; the sender's log:\n{}",
                    sender.output()
                );
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    };
    let started = Instant::now();
    let jobs = wait_parked("the poisoned job").await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let job = &jobs[0];
    assert_eq!(job["id"], poisoned.to_string());
    assert_eq!(job["kind"], "message.deliver");
    assert_eq!(job["attempts"], 3, "{job}");
    assert!(
        job["reason"]
            .as_str()
            .unwrap()
            .contains("unreadable payload"),
        "{job}"
    );
    assert!(job["parked_at"].is_string());
    // Retried after 1 s and 5 s (the backoff steps) before it was parked.
    assert!(
        started.elapsed() >= Duration::from_secs(5),
        "parked without its retries"
    );
    assert_eq!(so.vhost.queue_depth("mailroom.parking"), 1);
    // Listing took nothing away; the job's row says it is parked.
    assert_eq!(parked(&so.worker_vars).len(), 1);
    let row = mailroom_domain::jobs::JobRow::find(&mut conn, poisoned).unwrap();
    assert_eq!(row.status, "dead");
    let table = mailroom_api(&so.worker_vars, &["parking", "list"]);
    assert!(
        table.contains(&poisoned.to_string()) && table.contains("1 parked job"),
        "{table}"
    );

    // Redriven by id, it starts afresh from attempt 1 — and, still unreadable, is parked again.
    let redriven_at = Instant::now();
    let out = mailroom_api(
        &so.worker_vars,
        &["parking", "redrive", &poisoned.to_string()],
    );
    assert!(out.contains("redriven 1 job"), "{out}");
    let jobs = wait_parked("the redriven job").await;
    assert_eq!(jobs[0]["attempts"], 3);
    assert!(redriven_at.elapsed() >= Duration::from_secs(5));
    assert!(server.received().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_sender_finish_its_jobs_and_leaves_the_rest_to_others() {
    let server = SmtpServer::start();
    let so = ScaleOut::start(&server, None, &[]).await;
    let acct = so.app.create_account("Shop").await;
    let list = so.app.list(&acct.token, "News").await;
    readers(&so.app, &acct.token, &list, 24).await;
    server.slow(true);
    let mut sender = so.sender();
    let campaign = send_campaign(&so.app, &acct.token, &list).await;
    // Wait until deliveries are inside the (slow) SMTP transactions, then ask it to stop.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server.log().contains("DATA") && server.mail_commands().is_empty() {
        assert!(Instant::now() < deadline, "nothing reached the relay");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let drained_in = sender.terminate(Duration::from_secs(20));
    let finished = server.received().len();
    assert!(
        finished >= 1,
        "jobs under way were not finished: {}",
        sender.output()
    );
    assert!(finished < 24, "the whole campaign went out before SIGTERM");
    println!("SIGTERM drained in {drained_in:?} with {finished} messages finished");
    // Nothing it had started is left half-done: the next sender completes the campaign and
    // nobody gets a second copy.
    server.slow(false);
    let _next = so.sender();
    wait_sent(&so.app, &acct.token, &campaign, Duration::from_secs(60)).await;
    let copies = copies(&server.received());
    assert_eq!(
        copies.keys().cloned().collect::<HashSet<_>>(),
        readers_set(24)
    );
    assert!(copies.values().all(|n| *n == 1), "{copies:?}");
}

/// The topology part of a definitions file (users and their password hashes vary).
fn topology_of(definitions: &Value) -> Value {
    json!({
        "exchanges": definitions["exchanges"],
        "queues": definitions["queues"],
        "bindings": definitions["bindings"],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deploy_definitions_are_the_topology_every_process_declares() {
    let no_vars = HashMap::from([(
        "MAILROOM_DATA_DIR".to_owned(),
        std::env::temp_dir().display().to_string(),
    )]);
    let generated: Value =
        serde_json::from_str(&mailroom_api(&no_vars, &["broker", "definitions", "/"])).unwrap();
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../deploy/rabbitmq/definitions.json"
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        topology_of(&committed),
        topology_of(&generated),
        "deploy/rabbitmq/definitions.json is stale; regenerate it with: \
         mailroom-api broker definitions / --user mailroom:mailroom > deploy/rabbitmq/definitions.json"
    );
    assert_eq!(committed["users"][0]["name"], "mailroom");

    // Loaded into a fresh vhost, the definitions agree with what the processes declare:
    // the API connects without a PRECONDITION_FAILED.
    let vhost = TestVhost::create();
    let mut for_vhost = topology_of(&committed);
    for section in ["exchanges", "queues", "bindings"] {
        for item in for_vhost[section].as_array_mut().unwrap() {
            item["vhost"] = json!(vhost.name);
        }
    }
    let file = std::env::temp_dir().join(format!("{}.json", vhost.name));
    std::fs::write(&file, for_vhost.to_string()).unwrap();
    let out = std::process::Command::new("rabbitmqctl")
        .args(["import_definitions", &file.display().to_string()])
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(vhost.queue_depth("mailroom.parking"), 0);
    let url = vhost.url_via(5672);
    let app = TestApp::spawn_with(Backend::Postgres, move |vars| {
        vars.insert("AMQP_URL".into(), url);
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ready = app
            .request(reqwest::Method::GET, "/readyz", None, None)
            .await
            .1;
        if ready["broker"] == "ok" {
            break;
        }
        assert!(Instant::now() < deadline, "{ready}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A sent one-recipient campaign whose mail has an open pixel and a tracked link.
struct TrackedMail {
    token: String,
    campaign: String,
    pixel: String,
    click: String,
    _sender: WorkerProcess,
}

async fn tracked_mail(so: &ScaleOut, server: &SmtpServer) -> TrackedMail {
    let app = &so.app;
    let (acct, list) = crate::tracking::tracked_reader(app).await;
    let sender = so.sender();
    let mut body = campaign_body(&list);
    body["html"] =
        json!("<html><body><p><a href=\"https://shop.example/sale\">Sale</a></p></body></html>");
    let campaign = create_campaign(app, &acct.token, body).await;
    app.post(
        &format!("/v1/campaigns/{campaign}/send"),
        &acct.token,
        json!({}),
    )
    .await;
    wait_sent(app, &acct.token, &campaign, Duration::from_secs(60)).await;
    let received = server.wait_for_async(1, Duration::from_secs(30)).await;
    let parsed = mail_parser::MessageParser::default()
        .parse(received[0].data.as_bytes())
        .unwrap();
    let html = parsed.body_html(0).unwrap().into_owned();
    let find = |prefix: &str| {
        html.split('"')
            .find(|part| part.starts_with(&format!("{}{prefix}", app.address)))
            .unwrap_or_else(|| panic!("no {prefix} link in {html}"))
            .to_owned()
    };
    TrackedMail {
        pixel: find("/t/o/"),
        click: find("/t/c/"),
        token: acct.token,
        campaign,
        _sender: sender,
    }
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// `(events, jobs)` of the API's tracking hand-off counters for `via` (broker, outbox).
async fn handed_on(app: &TestApp, via: &str) -> (u64, u64) {
    let text = reqwest::get(app.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let read = |name: &str| {
        let prefix = format!("{name}{{via=\"{via}\"}} ");
        text.lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {prefix} in {text}"))
            .parse::<u64>()
            .unwrap()
    };
    (
        read("mailroom_tracking_events_total"),
        read("mailroom_tracking_jobs_total"),
    )
}

async fn wait_for_stats(app: &TestApp, token: &str, campaign: &str, opens: i64, clicks: i64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, s) = app
            .get(&format!("/v1/campaigns/{campaign}/stats"), token)
            .await;
        if s["clicked"]["total"] == clicks
            && s["opened"]["total"] == opens
            && s["clicked"]["unique"] == clicks.min(1)
            && s["opened"]["unique"] == opens.min(1)
            && s["sent"] == 1
        {
            break;
        }
        assert!(Instant::now() < deadline, "{s}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracking_hits_become_events_recorded_by_the_events_worker_process() {
    let server = SmtpServer::start();
    let so = ScaleOut::start(&server, None, &[]).await;
    let app = &so.app;
    let mail = tracked_mail(&so, &server).await;
    let client = no_redirects();
    assert_eq!(
        client.get(&mail.pixel).send().await.unwrap().status(),
        StatusCode::OK
    );
    let res = client.get(&mail.click).send().await.unwrap();
    assert_eq!(res.headers()["location"], "https://shop.example/sale");

    // No events worker yet: the API and the sender record no events themselves. The hits
    // went straight to the broker, not through the outbox.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        app.all_pages(&mail.token, "/v1/events", 50)
            .await
            .is_empty()
    );
    let (events, jobs) = handed_on(app, "broker").await;
    assert_eq!(events, 2);
    assert!((1..=2).contains(&jobs), "{jobs} jobs");
    assert_eq!(handed_on(app, "outbox").await, (0, 0));
    let _events = WorkerProcess::start("mailroom-events", &so.worker_vars);
    let events = crate::tracking::wait_for_events(app, &mail.token, "", 3).await;
    let types: HashSet<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        HashSet::from(["sent", "open", "click"]),
        "{events:?}"
    );
    wait_for_stats(app, &mail.token, &mail.campaign, 1, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracking_hits_during_a_broker_outage_wait_in_the_outbox_and_are_recorded_after() {
    let server = SmtpServer::start();
    let proxy = Proxy::start("127.0.0.1:5672".parse().unwrap()).await;
    // Every hit counts (no repeat window), so that each one's way is seen in the counters.
    let so = ScaleOut::start(
        &server,
        Some(proxy.port),
        &[("MAILROOM_TRACKING_REPEAT_WINDOW_SECS", "0")],
    )
    .await;
    let app = &so.app;
    let mail = tracked_mail(&so, &server).await;
    let _events = WorkerProcess::start("mailroom-events", &so.worker_vars);
    let client = no_redirects();
    assert_eq!(
        client.get(&mail.pixel).send().await.unwrap().status(),
        StatusCode::OK
    );
    wait_for_stats(app, &mail.token, &mail.campaign, 1, 0).await;

    proxy.cut();
    broker_outage_noticed(app).await;
    // Answered as ever; the events wait in the outbox.
    for _ in 0..3 {
        let res = client.get(&mail.click).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FOUND);
    }
    assert_eq!(
        client.get(&mail.pixel).send().await.unwrap().status(),
        StatusCode::OK
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while handed_on(app, "outbox").await.0 < 4 {
        assert!(
            Instant::now() < deadline,
            "hits not handed on during the outage"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(handed_on(app, "broker").await.0, 1);

    proxy.restore();
    wait_for_stats(app, &mail.token, &mail.campaign, 2, 3).await;
    let clicks = crate::tracking::wait_for_events(app, &mail.token, "type=click", 3).await;
    assert!(
        clicks
            .iter()
            .all(|e| e["url"] == "https://shop.example/sale")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_webhook_worker_mid_delivery_loses_no_event() {
    let server = SmtpServer::start();
    let receiver = WebhookReceiver::start();
    // The first attempt hangs inside the receiver until the worker making it is killed.
    receiver.sleep(Some(Duration::from_secs(5)));
    let so = ScaleOut::start(
        &server,
        None,
        &[
            ("MAILROOM_WEBHOOK_ALLOW_PRIVATE", "true"),
            ("MAILROOM_WEBHOOK_RETRY_BASE_MS", "200"),
        ],
    )
    .await;
    let app = &so.app;
    let acct = app.create_account("Shop").await;
    let (status, hook) = app
        .post(
            "/v1/webhooks",
            &acct.token,
            json!({"url": receiver.url("/hook"), "event_types": ["sent"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    receiver.set_secrets(&[hook["secret"].as_str().unwrap()]);
    let (_sender, _events) = (so.sender(), so.worker("mailroom-events"));
    let mut first = so.worker("mailroom-webhooks");
    let (status, body) = app
        .post(
            "/v1/send",
            &acct.token,
            json!({"messages": [{
                "from": {"email": "orders@shop.example"},
                "to": [{"email": "buyer@example.com"}],
                "subject": "Your order", "text": "Shipped."
            }]}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    receiver.wait_for(1, Duration::from_secs(60)).await;
    first.kill();
    receiver.sleep(None);

    let _second = so.worker("mailroom-webhooks");
    let requests = receiver.wait_for(2, Duration::from_secs(60)).await;
    assert_eq!(
        requests[0].header("webhook-id"),
        requests[1].header("webhook-id")
    );
    assert_eq!(requests[1].verified, [true]);
    assert_eq!(requests[1].json()["type"], "sent");
    let path = format!("/v1/webhooks/{}/deliveries", hook["id"].as_str().unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, log) = app.get(&path, &acct.token).await;
        if log["data"][0]["status"] == "delivered" {
            assert_eq!(log["data"].as_array().unwrap().len(), 1, "{log}");
            break;
        }
        assert!(Instant::now() < deadline, "never delivered: {log}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Suspension and resumption with the real processes: the held mail waits in the job
/// table (the broker forgets it), the campaign in flight pauses, and both go out through a
/// sender process after the account is resumed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_account_holds_its_mail_and_sender_processes_send_it_when_resumed() {
    let server = SmtpServer::start();
    let mut env = crate::operator::SUSPENSION_ENV.to_vec();
    // The broker's retry steps round a delay up (1 s, 5 s, 30 s…): short delays keep the
    // retries within the first steps.
    env.push(("MAILROOM_RETRY_BASE_MS", "100"));
    let so = ScaleOut::start(&server, None, &env).await;
    let _workers = (so.sender(), so.worker("mailroom-events"));
    crate::operator::a_suspended_account_holds_its_mail_until_resumed(&so.app, &server).await;
}

/// The bounce protection with the real processes: a sender process meets the SMTP server's
/// refusals and suspends the account, the events worker counts the bounces, and the jobs
/// worker tells the operator's webhook.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hard_bounces_met_by_a_sender_process_suspend_the_account_and_tell_the_operator() {
    let server = SmtpServer::start();
    let receiver = WebhookReceiver::start();
    let env = crate::operator::protection_env(&receiver);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let so = ScaleOut::start(&server, None, &env).await;
    let _workers = (
        so.sender(),
        so.worker("mailroom-events"),
        so.worker("mailroom-jobs"),
    );
    crate::operator::hard_bounces_suspend_the_account_and_tell_the_operator(&so.app, &receiver)
        .await;
}
