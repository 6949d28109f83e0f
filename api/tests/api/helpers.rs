//! A running Mailroom for each test, on SQLite or on its own PostgreSQL database.

use std::collections::HashMap;
use std::path::PathBuf;

use diesel::{Connection, PgConnection, RunQueryDsl};
use mailroom_api::startup::Application;
use mailroom_domain::config::Settings;
use mailroom_domain::store::DatabaseUrl;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub const ADMIN_TOKEN: &str = "test-admin-token";
pub const JWT_SECRET: &str = "test-jwt-secret-0123456789";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The server PostgreSQL tests create their databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("MAILROOM_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database of its own, dropped with the test.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    pub fn create() -> Self {
        let admin = postgres_admin_url();
        let name = format!("mailroom_test_{}", uuid::Uuid::now_v7().simple());
        let mut conn = PgConnection::establish(&admin)
            .expect("PostgreSQL for tests (MAILROOM_TEST_POSTGRES_URL)");
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .unwrap();
        let base = admin.rsplit_once('/').map(|(b, _)| b.to_owned()).unwrap();
        TestDatabase {
            // Loopback needs no TLS; and a process that exits while a pooled connection is
            // inside OpenSSL can crash in OpenSSL's exit handlers.
            url: format!("{base}/{name}?sslmode=disable"),
            name,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&postgres_admin_url()) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn);
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub data_dir: PathBuf,
    /// Stopped with the app, before its database goes: the embedded workers.
    workers: Option<mailroom_api::startup::Background>,
    /// Dropped with the app: the test's PostgreSQL database, if any.
    _database: Option<TestDatabase>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Workers talk to the database from their own thread: stop them before the test's
        // process (and its database drivers) go away under them.
        if let Some(workers) = self.workers.take() {
            workers.stop();
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// An account with a `*` token.
pub struct TestAccount {
    pub id: String,
    pub key_id: String,
    pub secret: String,
    pub token: String,
}

pub fn base_vars(data_dir: &std::path::Path) -> HashMap<String, String> {
    let mut vars = HashMap::new();
    vars.insert("MAILROOM_HTTP_ADDR".into(), "127.0.0.1:0".into());
    vars.insert("MAILROOM_DATA_DIR".into(), data_dir.display().to_string());
    vars.insert("MAILROOM_ADMIN_TOKEN".into(), ADMIN_TOKEN.into());
    vars.insert("MAILROOM_JWT_SECRET".into(), JWT_SECRET.into());
    vars.insert("MAILROOM_SIGNING_KEY".into(), "test-signing-key".into());
    vars.insert("MAILROOM_HASH_KEY".into(), "test-hash-key".into());
    // Tests of other features send from any address; the sending-domain tests turn
    // enforcement (and signing) back on.
    vars.insert("MAILROOM_REQUIRE_VERIFIED_DOMAINS".into(), "false".into());
    vars
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Starts the app with extra or changed variables.
    pub async fn spawn_with(
        backend: Backend,
        adjust: impl FnOnce(&mut HashMap<String, String>),
    ) -> TestApp {
        let data_dir =
            std::env::temp_dir().join(format!("mailroom-test-{}", uuid::Uuid::now_v7().simple()));
        let mut vars = base_vars(&data_dir);
        let database = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => {
                let db = TestDatabase::create();
                vars.insert("DATABASE_URL".into(), db.url.clone());
                Some(db)
            }
        };
        adjust(&mut vars);
        let settings = Settings::from_vars(&vars).expect("test settings");
        let mut app = Application::build(settings).await.expect("app starts");
        let workers = app.take_background();
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        TestApp {
            address,
            client: reqwest::Client::new(),
            data_dir,
            workers,
            _database: database,
        }
    }

    /// Another app on this app's database, with its own settings (other workers, say).
    pub async fn spawn_beside(&self, adjust: impl FnOnce(&mut HashMap<String, String>)) -> TestApp {
        let (key, value) = match &self._database {
            Some(db) => ("DATABASE_URL", db.url.clone()),
            None => ("MAILROOM_DATA_DIR", self.data_dir.display().to_string()),
        };
        // `Sqlite` creates no database of its own; the variable says which one to use.
        TestApp::spawn_with(Backend::Sqlite, move |vars| {
            vars.insert(key.into(), value);
            adjust(vars);
        })
        .await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// The app's database, for tests that set up what no endpoint can.
    pub fn database_url(&self) -> DatabaseUrl {
        match &self._database {
            Some(db) => DatabaseUrl::parse(&db.url).unwrap(),
            None => DatabaseUrl::sqlite_in(&self.data_dir),
        }
    }

    /// Creates an account through the admin API and exchanges its key for a token.
    pub async fn create_account(&self, name: &str) -> TestAccount {
        let (status, body) = self
            .request(
                Method::POST,
                "/v1/admin/accounts",
                Some(ADMIN_TOKEN),
                Some(json!({"name": name})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let key_id = body["api_key"]["id"].as_str().unwrap().to_owned();
        let secret = body["api_key"]["secret"].as_str().unwrap().to_owned();
        let token = self.token_for(&key_id, &secret).await;
        TestAccount {
            id: body["account"]["id"].as_str().unwrap().to_owned(),
            key_id,
            secret,
            token,
        }
    }

    pub async fn token_for(&self, key_id: &str, secret: &str) -> String {
        let (status, body) = self
            .request(
                Method::POST,
                "/v1/auth/token",
                None,
                Some(json!({"key_id": key_id, "secret": secret})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// Sends a JSON request; answers the status and the parsed body (`null` when empty).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.expect("request sent");
        let status = res.status();
        let text = res.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.request(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.request(Method::POST, path, Some(token), Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.request(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.request(Method::DELETE, path, Some(token), None).await
    }

    /// Creates a contact and answers its id.
    pub async fn contact(&self, token: &str, email: &str) -> String {
        let (status, body) = self
            .post("/v1/contacts", token, json!({"email": email}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// Creates a list and answers its id.
    pub async fn list(&self, token: &str, name: &str) -> String {
        let (status, body) = self.post("/v1/lists", token, json!({"name": name})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }
}

impl TestApp {
    /// Waits until the app has no job left to run — every delivery outcome and event is
    /// recorded — so that a negative answer (no second event, say) is final.
    pub async fn wait_until_idle(&self) {
        use diesel::prelude::*;
        use mailroom_domain::schema::jobs;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let url = self.database_url();
            let open: i64 = tokio::task::spawn_blocking(move || {
                let conn = &mut mailroom_domain::store::DbConnection::open(&url).unwrap();
                jobs::table
                    .filter(jobs::status.eq_any(["pending", "running", "relaying"]))
                    .count()
                    .get_result(conn)
                    .unwrap()
            })
            .await
            .unwrap();
            if open == 0 {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{open} jobs never finished"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Every item of a cursor-paginated collection at `path`, in pages of `limit`
    /// (asserting each page is 200 and holds at most `limit` items).
    pub async fn all_pages(&self, token: &str, path: &str, limit: usize) -> Vec<Value> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let url = match &cursor {
                Some(c) => format!("{path}{separator}limit={limit}&cursor={c}"),
                None => format!("{path}{separator}limit={limit}"),
            };
            let (status, body) = self.get(&url, token).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let page = body["data"].as_array().unwrap();
            assert!(page.len() <= limit, "{body}");
            items.extend(page.iter().cloned());
            match body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return items,
            }
        }
    }
}

/// A loopback port free right now (for a listener the test names before it starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An answer as text with every generated identifier (request ids, resource ids: UUIDs)
/// replaced by `<id>`, for checking that a refused value is not echoed: an identifier may
/// hold any run of hex digits, such as `0004` or `4111`.
pub fn text_without_ids(body: &Value) -> String {
    fn scrub(value: &Value) -> Value {
        match value {
            Value::String(s) if uuid::Uuid::parse_str(s).is_ok() => Value::String("<id>".into()),
            Value::Array(items) => Value::Array(items.iter().map(scrub).collect()),
            Value::Object(map) => {
                Value::Object(map.iter().map(|(k, v)| (k.clone(), scrub(v))).collect())
            }
            other => other.clone(),
        }
    }
    scrub(body).to_string()
}

/// Asserts a problem+json answer with the given status and code.
pub fn assert_problem(status: StatusCode, body: &Value, expected: StatusCode, code: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], expected.as_u16(), "{body}");
}

/// Runs each test on SQLite and on PostgreSQL: `mod::sqlite::name` and `mod::postgres::name`.
#[macro_export]
macro_rules! on_both_backends {
    ($(async fn $name:ident($app:ident) $body:block)*) => {
        mod sqlite {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let $app = $crate::helpers::TestApp::spawn($crate::helpers::Backend::Sqlite).await;
                    $body
                }
            )*
        }
        mod postgres {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let $app = $crate::helpers::TestApp::spawn($crate::helpers::Backend::Postgres).await;
                    $body
                }
            )*
        }
    };
}
