use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mailroom_api::startup::Application;
use mailroom_domain::config::Settings;
use mailroom_domain::store::{DatabaseUrl, DbConnection, redo_all, run_migrations};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;
use crate::proxy::Proxy;

#[tokio::test]
async fn healthz_and_readyz_answer_on_both_backends() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let app = TestApp::spawn(backend).await;
        let res = app.client.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let res = app.client.get(app.url("/readyz")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body, json!({"status": "ready", "database": "ok"}));
    }
}

// Multi-threaded: the proxy's tasks run on the test's runtime, and dropping the app joins
// the embedded workers' thread, which may be inside a query through the proxy; on a
// single-threaded runtime that join would wait for ever on the proxy it blocks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_database_makes_readyz_and_requests_503_quickly_then_recovers() {
    let db = TestDatabase::create();
    let proxy = Proxy::start("127.0.0.1:5432".parse().unwrap()).await;
    let through_proxy = db
        .url
        .replace("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port));
    assert_ne!(
        through_proxy, db.url,
        "the test database URL goes through 127.0.0.1:5432"
    );
    let app = TestApp::spawn_with(Backend::Sqlite, |vars| {
        vars.insert("DATABASE_URL".into(), through_proxy.clone());
        vars.insert("MAILROOM_DB_TIMEOUT_MS".into(), "1500".into());
    })
    .await;
    let acct = app.create_account("Acme").await;
    app.contact(&acct.token, "before@example.com").await;

    proxy.cut();
    let started = Instant::now();
    let res = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let (status, body) = app
        .post(
            "/v1/contacts",
            &acct.token,
            json!({"email": "during@example.com"}),
        )
        .await;
    assert_problem(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    );
    let (status, body) = app.get("/v1/contacts", &acct.token).await;
    assert_problem(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answers came in {:?}",
        started.elapsed()
    );
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "the process itself is fine");

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let res = app.client.get(app.url("/readyz")).send().await.unwrap();
        if res.status() == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "readyz did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, body) = app
        .post(
            "/v1/contacts",
            &acct.token,
            json!({"email": "after@example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, page) = app.get("/v1/contacts", &acct.token).await;
    let emails: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["before@example.com", "after@example.com"]);
    drop(app);
    drop(db);
}

#[tokio::test]
async fn an_unreachable_database_at_start_is_named_by_host_without_the_password() {
    let dir = std::env::temp_dir().join(format!("mailroom-test-{}", uuid::Uuid::now_v7().simple()));
    let mut vars = base_vars(&dir);
    vars.insert(
        "DATABASE_URL".into(),
        "postgres://mailroom:hunter2-secret@127.0.0.1:1/mailroom".into(),
    );
    vars.insert("MAILROOM_DB_TIMEOUT_MS".into(), "1000".into());
    let settings = Settings::from_vars(&vars).unwrap();
    let started = Instant::now();
    let error = match Application::build(settings).await {
        Ok(_) => panic!("the app started without its database"),
        Err(e) => format!("{e:#}"),
    };
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(error.contains("127.0.0.1:1/mailroom"), "{error}");
    assert!(!error.contains("hunter2"), "{error}");
}

#[tokio::test]
async fn migrations_go_up_down_and_up_again_on_both_backends() {
    let db = TestDatabase::create();
    let dir = std::env::temp_dir().join(format!("mailroom-test-{}", uuid::Uuid::now_v7().simple()));
    for url in [
        DatabaseUrl::parse(&db.url).unwrap(),
        DatabaseUrl::sqlite_in(&dir),
    ] {
        let mut conn = DbConnection::open(&url).unwrap();
        assert!(run_migrations(&mut conn).unwrap() > 0);
        redo_all(&mut conn).unwrap();
        assert_eq!(run_migrations(&mut conn).unwrap(), 0);
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn replicas_starting_together_migrate_once() {
    let db = TestDatabase::create();
    let mut starts = Vec::new();
    for _ in 0..4 {
        let url = db.url.clone();
        starts.push(tokio::spawn(async move {
            let dir = std::env::temp_dir()
                .join(format!("mailroom-test-{}", uuid::Uuid::now_v7().simple()));
            let mut vars = base_vars(&dir);
            vars.insert("DATABASE_URL".into(), url);
            let app = Application::build(Settings::from_vars(&vars).unwrap()).await;
            app.map(|a| a.port()).map_err(|e| e.to_string())
        }));
    }
    for start in starts {
        start.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn the_api_serves_https_when_given_a_certificate() {
    let dir = std::env::temp_dir().join(format!("mailroom-tls-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ca, cert, key) = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    let (ca_key, csr, ext) = (
        dir.join("ca.key"),
        dir.join("cert.csr"),
        dir.join("ext.cnf"),
    );
    std::fs::write(
        &ext,
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let openssl = |args: Vec<&std::ffi::OsStr>| {
        let status = Command::new("openssl")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        assert!(
            status
                .expect("openssl makes the test certificates")
                .success()
        );
    };
    let os = |s: &'static str| std::ffi::OsStr::new(s);
    // A private CA, and a server certificate it signs.
    openssl(vec![
        os("req"),
        os("-x509"),
        os("-newkey"),
        os("rsa:2048"),
        os("-nodes"),
        os("-days"),
        os("1"),
        os("-subj"),
        os("/CN=Mailroom test CA"),
        os("-keyout"),
        ca_key.as_os_str(),
        os("-out"),
        ca.as_os_str(),
    ]);
    openssl(vec![
        os("req"),
        os("-newkey"),
        os("rsa:2048"),
        os("-nodes"),
        os("-subj"),
        os("/CN=localhost"),
        os("-keyout"),
        key.as_os_str(),
        os("-out"),
        csr.as_os_str(),
    ]);
    openssl(vec![
        os("x509"),
        os("-req"),
        os("-in"),
        csr.as_os_str(),
        os("-CA"),
        ca.as_os_str(),
        os("-CAkey"),
        ca_key.as_os_str(),
        os("-CAcreateserial"),
        os("-days"),
        os("1"),
        os("-extfile"),
        ext.as_os_str(),
        os("-out"),
        cert.as_os_str(),
    ]);
    let app = TestApp::spawn_with(Backend::Sqlite, |vars| {
        vars.insert("MAILROOM_TLS_CERT".into(), cert.display().to_string());
        vars.insert("MAILROOM_TLS_KEY".into(), key.display().to_string());
    })
    .await;
    let port = app.address.rsplit(':').next().unwrap().to_owned();
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap()])
        .build()
        .unwrap();
    let res = client
        .get(format!("https://localhost:{port}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        app.client
            .get(format!("http://localhost:{port}/healthz"))
            .send()
            .await
            .map(|r| !r.status().is_success())
            .unwrap_or(true)
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// Runs the real binary on a fresh data directory and reads what it prints.
fn start_binary(data_dir: &std::path::Path) -> (std::process::Child, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailroom-api"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("MAILROOM_DATA_DIR", data_dir)
        .env("MAILROOM_HTTP_ADDR", "127.0.0.1:0")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut printed = String::new();
    let mut address = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        printed.push_str(&line);
        printed.push('\n');
        if let Some(i) = line.find("listening on http://") {
            address = Some(
                line[i + "listening on ".len()..]
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .to_owned(),
            );
            break;
        }
    }
    (
        child,
        address.expect("the server logs where it listens"),
        printed,
    )
}

fn field_after(text: &str, label: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(label).map(|v| v.trim().to_owned()))
}

/// The first start's output usually ends in a log file (here, as under systemd or a
/// container runtime, standard output is a pipe): it names where the secrets are instead
/// of printing them, and the key kept there works.
#[tokio::test]
async fn the_first_embedded_start_keeps_its_secrets_out_of_the_log_and_says_where_they_are() {
    let dir =
        std::env::temp_dir().join(format!("mailroom-first-{}", uuid::Uuid::now_v7().simple()));
    let (mut child, address, printed) = start_binary(&dir);
    let secrets_path = dir.join("secrets.json");
    assert!(
        printed.contains(&secrets_path.display().to_string()),
        "the output says where the secrets are: {printed}"
    );
    let secrets: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&secrets_path).unwrap()).unwrap();
    let key_id = secrets["api_key_id"]
        .as_str()
        .expect("key id kept")
        .to_owned();
    let secret = secrets["api_key_secret"]
        .as_str()
        .expect("secret kept")
        .to_owned();
    let admin = secrets["admin_token"]
        .as_str()
        .expect("admin token kept")
        .to_owned();
    for kept in [&secret, &admin] {
        assert!(
            !printed.contains(kept.as_str()),
            "a secret in the output: {printed}"
        );
    }
    assert!(field_after(&printed, "API key secret:").is_none());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secrets_path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let client = reqwest::Client::new();
    let res = client
        .post(format!("{address}/v1/auth/token"))
        .json(&json!({"key_id": key_id, "secret": secret}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let token: serde_json::Value = res.json().await.unwrap();
    let res = client
        .get(format!("{address}/v1/contacts"))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = client
        .post(format!("{address}/v1/admin/accounts"))
        .bearer_auth(&admin)
        .json(&json!({"name": "second"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    child.kill().unwrap();
    child.wait().unwrap();

    let (mut again, _, printed_again) = start_binary(&dir);
    again.kill().unwrap();
    again.wait().unwrap();
    assert!(!printed_again.contains(&secret));
    assert!(!printed_again.contains("First start"), "{printed_again}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn the_migrate_command_applies_migrations_and_exits() {
    let db = TestDatabase::create();
    let output = Command::new(env!("CARGO_BIN_EXE_mailroom-api"))
        .arg("migrate")
        .env("DATABASE_URL", &db.url)
        .env("MAILROOM_JWT_SECRET", "x")
        .env("MAILROOM_SIGNING_KEY", "x")
        .env("MAILROOM_HASH_KEY", "x")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut conn = DbConnection::open(&DatabaseUrl::parse(&db.url).unwrap()).unwrap();
    assert_eq!(
        run_migrations(&mut conn).unwrap(),
        0,
        "nothing left to apply"
    );
}
