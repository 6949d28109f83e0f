//! Contact-creation throughput: the API against raw diesel inserts, in the same run.
//!
//! Driven by `bench/contacts`, which starts a release `mailroom-api` on a fresh database
//! and passes its address, admin token and database URL here. This program:
//!
//! 1. creates an account (`POST /v1/admin/accounts`) and exchanges its key for a token;
//! 2. API phase: `-n` × `POST /v1/contacts` with `-c` requests in flight (one shared
//!    `reqwest::Client`), after an untimed warm-up of reads that opens the HTTP and pool
//!    connections;
//! 3. raw phase: the same number of rows (same names, `@raw.example.com` addresses, so
//!    no unique conflicts) inserted into the same `contacts` table of the same account
//!    with single-row `diesel::insert_into`, from `--writers` threads each holding its
//!    own connection (opened before the clock starts), like the API's pool;
//! 4. prints throughput, p50/p99 latency and the ratio API/raw.
//!
//! Exits non-zero if any request or insert fails.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
use mailroom_domain::contacts::Contact;
use mailroom_domain::schema::contacts;
use mailroom_domain::store::{DatabaseUrl, DbConnection};
use mailroom_domain::{Id, Json, clock};
use serde_json::{Value, json};

const USAGE: &str = "usage: bench_contacts --base-url URL --admin-token TOKEN --database-url URL \
[-n N] [-c CONCURRENCY] [--writers W]";

/// Upper bound on `-n`, so a typo cannot start an endless run.
const MAX_N: usize = 1_000_000;

struct Args {
    base_url: String,
    admin_token: String,
    database_url: String,
    n: usize,
    concurrency: usize,
    writers: usize,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut base_url = None;
    let mut admin_token = None;
    let mut database_url = None;
    let (mut n, mut concurrency, mut writers) = (20_000usize, 32usize, 10usize);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
        let number = |v: &str| {
            v.parse::<usize>()
                .with_context(|| format!("{flag} takes a number, not {v:?}"))
        };
        match flag.as_str() {
            "--base-url" => base_url = Some(value.trim_end_matches('/').to_owned()),
            "--admin-token" => admin_token = Some(value),
            "--database-url" => database_url = Some(value),
            "-n" => n = number(&value)?,
            "-c" | "--concurrency" => concurrency = number(&value)?,
            "--writers" => writers = number(&value)?,
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    if n == 0 || n > MAX_N {
        bail!("-n must be between 1 and {MAX_N}");
    }
    if concurrency == 0 || writers == 0 {
        bail!("-c and --writers must be at least 1");
    }
    Ok(Args {
        base_url: base_url.context(USAGE)?,
        admin_token: admin_token.context(USAGE)?,
        database_url: database_url.context(USAGE)?,
        n,
        concurrency,
        writers,
    })
}

/// What one phase measured.
struct Phase {
    wall: Duration,
    /// Per-operation latency of the successful operations, sorted.
    latencies: Vec<Duration>,
    failures: usize,
    first_error: Option<String>,
}

impl Phase {
    fn new(
        wall: Duration,
        mut latencies: Vec<Duration>,
        failures: usize,
        first_error: Option<String>,
    ) -> Self {
        latencies.sort_unstable();
        Phase {
            wall,
            latencies,
            failures,
            first_error,
        }
    }

    fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64()
    }

    /// Nearest-rank percentile of the sorted samples, in milliseconds.
    fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let rank = (p / 100.0 * self.latencies.len() as f64).ceil() as usize;
        let index = rank.clamp(1, self.latencies.len()) - 1;
        self.latencies[index].as_secs_f64() * 1000.0
    }
}

fn email(i: usize, domain: &str) -> String {
    format!("bench-{i}@{domain}")
}

fn name(i: usize) -> String {
    format!("Bench Contact {i}")
}

/// Creates an account and returns its id and an access token.
async fn account_and_token(client: &reqwest::Client, args: &Args) -> anyhow::Result<(Id, String)> {
    let response = client
        .post(format!("{}/v1/admin/accounts", args.base_url))
        .bearer_auth(&args.admin_token)
        .json(&json!({ "name": "bench" }))
        .send()
        .await
        .context("POST /v1/admin/accounts")?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .context("reading the created account")?;
    if status != reqwest::StatusCode::CREATED {
        bail!("POST /v1/admin/accounts answered {status}: {body}");
    }
    let text = |v: &Value, what: &str| {
        v.as_str()
            .map(str::to_owned)
            .with_context(|| format!("no {what} in {body}"))
    };
    let account_id: Id = text(&body["account"]["id"], "account.id")?
        .parse()
        .map_err(|e| anyhow::anyhow!("account id is not an id: {e:?}"))?;
    let key_id = text(&body["api_key"]["id"], "api_key.id")?;
    let secret = text(&body["api_key"]["secret"], "api_key.secret")?;

    let response = client
        .post(format!("{}/v1/auth/token", args.base_url))
        .json(&json!({ "key_id": key_id, "secret": secret }))
        .send()
        .await
        .context("POST /v1/auth/token")?;
    let status = response.status();
    let body: Value = response.json().await.context("reading the token")?;
    if status != reqwest::StatusCode::OK {
        bail!("POST /v1/auth/token answered {status}: {body}");
    }
    let token = text(&body["access_token"], "access_token")?;
    Ok((account_id, token))
}

/// Untimed: opens the client's HTTP connections and the server's pool connections.
async fn warm_up(
    client: &reqwest::Client,
    base_url: &str,
    token: &str,
    concurrency: usize,
) -> anyhow::Result<()> {
    let requests = (0..concurrency * 2).map(|_| {
        client
            .get(format!("{base_url}/v1/contacts?limit=1"))
            .bearer_auth(token)
            .send()
    });
    for response in futures_util::future::join_all(requests).await {
        let status = response.context("warm-up request")?.status();
        if !status.is_success() {
            bail!("warm-up GET /v1/contacts answered {status}");
        }
    }
    Ok(())
}

async fn api_phase(
    client: &reqwest::Client,
    base_url: &str,
    token: &str,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<Phase> {
    let next = Arc::new(AtomicUsize::new(0));
    let url = Arc::new(format!("{base_url}/v1/contacts"));
    let token = Arc::new(token.to_owned());
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, next, url, token) =
                (client.clone(), next.clone(), url.clone(), token.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(n / concurrency + 1);
                let (mut failures, mut first_error) = (0usize, None::<String>);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let body = json!({ "email": email(i, "example.com"), "name": name(i) });
                    let t0 = Instant::now();
                    let outcome = client
                        .post(url.as_str())
                        .bearer_auth(token.as_str())
                        .json(&body)
                        .send()
                        .await;
                    let outcome = match outcome {
                        Ok(response) if response.status() == reqwest::StatusCode::CREATED => {
                            // Read the body: the request is done when the client has the answer.
                            response
                                .bytes()
                                .await
                                .map(|_| ())
                                .map_err(|e| format!("reading a response: {e}"))
                        }
                        Ok(response) => {
                            let status = response.status();
                            let text = response.text().await.unwrap_or_default();
                            Err(format!("{status}: {text}"))
                        }
                        Err(e) => Err(format!("request failed: {e}")),
                    };
                    match outcome {
                        Ok(()) => latencies.push(t0.elapsed()),
                        Err(e) => {
                            failures += 1;
                            first_error.get_or_insert(e);
                        }
                    }
                }
                (latencies, failures, first_error)
            })
        })
        .collect();
    let mut all = Vec::with_capacity(n);
    let (mut failures, mut first_error) = (0usize, None);
    for task in tasks {
        let (latencies, f, e) = task.await.context("an API client task panicked")?;
        all.extend(latencies);
        failures += f;
        if first_error.is_none() {
            first_error = e;
        }
    }
    Ok(Phase::new(started.elapsed(), all, failures, first_error))
}

fn raw_phase(url: &DatabaseUrl, account_id: Id, n: usize, writers: usize) -> anyhow::Result<Phase> {
    // Connections are opened before the clock starts, as the API's pool was warmed.
    let connections = (0..writers)
        .map(|_| DbConnection::open(url))
        .collect::<Result<Vec<_>, _>>()
        .context("opening the raw writers' connections")?;
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = connections
            .into_iter()
            .map(|mut conn| {
                let next = &next;
                scope.spawn(move || {
                    let mut latencies = Vec::with_capacity(n / writers + 1);
                    let (mut failures, mut first_error) = (0usize, None::<String>);
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            break;
                        }
                        let t0 = Instant::now();
                        let now = clock::now();
                        let row = Contact {
                            id: Id::new(),
                            account_id,
                            email: email(i, "raw.example.com"),
                            name: Some(name(i)),
                            properties: Json(json!({})),
                            created_at: now,
                            updated_at: now,
                            restricted_at: None,
                        };
                        match diesel::insert_into(contacts::table)
                            .values(&row)
                            .execute(&mut conn)
                        {
                            Ok(_) => latencies.push(t0.elapsed()),
                            Err(e) => {
                                failures += 1;
                                first_error.get_or_insert(e.to_string());
                            }
                        }
                    }
                    (latencies, failures, first_error)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join()).collect()
    });
    let wall = started.elapsed();
    let mut all = Vec::with_capacity(n);
    let (mut failures, mut first_error) = (0usize, None);
    for result in results {
        let (latencies, f, e) =
            result.map_err(|_| anyhow::anyhow!("a raw writer thread panicked"))?;
        all.extend(latencies);
        failures += f;
        if first_error.is_none() {
            first_error = e;
        }
    }
    Ok(Phase::new(wall, all, failures, first_error))
}

/// Untimed check that both phases stored every row.
fn count_contacts(url: &DatabaseUrl, account_id: Id) -> anyhow::Result<i64> {
    let mut conn = DbConnection::open(url).context("opening a connection to count contacts")?;
    Ok(contacts::table
        .filter(contacts::account_id.eq(account_id))
        .count()
        .get_result(&mut conn)?)
}

fn report_failures(label: &str, phase: &Phase) -> bool {
    if phase.failures == 0 {
        return false;
    }
    eprintln!(
        "{label}: {} of {} operations failed; first error: {}",
        phase.failures,
        phase.failures + phase.latencies.len(),
        phase.first_error.as_deref().unwrap_or("?")
    );
    true
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let url = DatabaseUrl::parse(&args.database_url).map_err(|e| anyhow::anyhow!("{e}"))?;
    let backend = if url.is_postgres() {
        "postgres"
    } else {
        "sqlite"
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(args.concurrency)
        .build()
        .context("building the HTTP client")?;

    let (account_id, token) = account_and_token(&client, &args).await?;
    warm_up(&client, &args.base_url, &token, args.concurrency).await?;
    let api = api_phase(&client, &args.base_url, &token, args.n, args.concurrency).await?;
    let raw = {
        let (url, n, writers) = (url.clone(), args.n, args.writers);
        tokio::task::spawn_blocking(move || raw_phase(&url, account_id, n, writers))
            .await
            .context("the raw phase panicked")??
    };

    let stored = {
        let url = url.clone();
        tokio::task::spawn_blocking(move || count_contacts(&url, account_id))
            .await
            .context("counting contacts panicked")??
    };

    let ratio = api.per_second() / raw.per_second();
    let target = if url.is_postgres() {
        if ratio >= 0.5 {
            "(target ≥ 0.5 on postgres: met)"
        } else {
            "(target ≥ 0.5 on postgres: NOT met)"
        }
    } else {
        "(no target on sqlite)"
    };
    println!(
        "backend={backend} n={} concurrency={} writers={}",
        args.n, args.concurrency, args.writers
    );
    println!(
        "api:  contacts/s={:<9.0} p50_ms={:<7.2} p99_ms={:.2}   wall_s={:.2}",
        api.per_second(),
        api.percentile_ms(50.0),
        api.percentile_ms(99.0),
        api.wall.as_secs_f64()
    );
    println!(
        "raw:  rows/s={:<13.0} p50_ms={:<7.2} p99_ms={:.2}   wall_s={:.2}",
        raw.per_second(),
        raw.percentile_ms(50.0),
        raw.percentile_ms(99.0),
        raw.wall.as_secs_f64()
    );
    println!("ratio api/raw = {ratio:.2}  {target}");

    let api_failed = report_failures("api", &api);
    let raw_failed = report_failures("raw", &raw);
    if api_failed || raw_failed {
        bail!("some operations failed; the numbers above count only the successful ones");
    }
    if stored != 2 * args.n as i64 {
        bail!(
            "the account holds {stored} contacts, expected {}",
            2 * args.n
        );
    }
    Ok(())
}
