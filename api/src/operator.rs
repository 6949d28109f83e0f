//! Operator subcommands of `mailroom-api`: inspect and redrive the RabbitMQ parking
//! queue, print the broker definitions, run a retention purge.

use std::collections::HashSet;

use mailroom_domain::Id;
use mailroom_domain::config::Settings;
use mailroom_domain::jobs::JobRow;
use mailroom_domain::retention::run_purge;
use mailroom_domain::store::{build_pool, checkout, run_migrations};
use mailroom_worker::bus::amqp::parking::{self, Redrive};
use mailroom_worker::bus::amqp::topology::Topology;
use secrecy::ExposeSecret;

pub const PARKING_USAGE: &str = "usage: mailroom-api parking list [--json]
       mailroom-api parking redrive (--all | JOB_ID...)";

fn broker_url(settings: &Settings) -> anyhow::Result<String> {
    settings
        .bus
        .amqp_url
        .as_ref()
        .map(|url| url.expose_secret().to_owned())
        .ok_or_else(|| anyhow::anyhow!("AMQP_URL is not set: the parking queue belongs to the RabbitMQ bus (embedded mode parks jobs as `dead` rows of the job table)"))
}

pub async fn parking(settings: &Settings, args: &[String]) -> anyhow::Result<()> {
    let url = broker_url(settings)?;
    match args.first().map(String::as_str) {
        Some("list") => {
            let parked = parking::list(&url, settings.bus.quorum)
                .await
                .map_err(anyhow::Error::msg)?;
            if args.iter().any(|a| a == "--json") {
                for job in &parked {
                    println!("{}", serde_json::to_string(job)?);
                }
                return Ok(());
            }
            println!(
                "{:<36}  {:<18}  {:>8}  {:<27}  reason",
                "job", "kind", "attempts", "parked at"
            );
            for job in &parked {
                let id = job
                    .id
                    .map(|id| id.to_string())
                    .unwrap_or_else(|| "-".into());
                println!(
                    "{id:<36}  {:<18}  {:>8}  {:<27}  {}",
                    job.kind,
                    job.attempts,
                    job.parked_at.as_deref().unwrap_or("-"),
                    job.reason
                );
            }
            println!("{} parked job(s)", parked.len());
            Ok(())
        }
        Some("redrive") => {
            let which = match &args[1..] {
                [flag] if flag == "--all" => Redrive::All,
                [] => anyhow::bail!("say which jobs: --all, or their ids\n{PARKING_USAGE}"),
                ids => Redrive::Only(
                    ids.iter()
                        .map(|id| {
                            id.parse::<Id>()
                                .map_err(|_| anyhow::anyhow!("{id:?} is not a job id"))
                        })
                        .collect::<anyhow::Result<HashSet<Id>>>()?,
                ),
            };
            let redriven = parking::redrive(&url, settings.bus.quorum, &which)
                .await
                .map_err(anyhow::Error::msg)?;
            let pool = build_pool(&settings.database_url, &settings.pool);
            let ids = redriven.clone();
            actix_web::web::block(move || {
                let mut conn = checkout(&pool)?;
                for id in ids {
                    JobRow::set_parked(&mut conn, id, None)?;
                }
                Ok::<_, mailroom_domain::Error>(())
            })
            .await??;
            println!("redriven {} job(s)", redriven.len());
            Ok(())
        }
        _ => anyhow::bail!("{PARKING_USAGE}"),
    }
}

pub const RETENTION_USAGE: &str = "usage: mailroom-api retention purge [--as-of RFC3339]";

/// `retention purge [--as-of RFC3339]`: runs the retention purge in this process, now or
/// as of another time, and prints what it removed (JSON).
pub async fn retention(settings: &Settings, args: &[String]) -> anyhow::Result<()> {
    let as_of = match args {
        [purge] if purge == "purge" => mailroom_domain::clock::now(),
        [purge, flag, at] if purge == "purge" && flag == "--as-of" => {
            chrono::DateTime::parse_from_rfc3339(at)
                .map(|t| mailroom_domain::Timestamp::from(t.with_timezone(&chrono::Utc)))
                .map_err(|_| anyhow::anyhow!("--as-of takes an RFC 3339 time, not {at:?}"))?
        }
        _ => anyhow::bail!("{RETENTION_USAGE}"),
    };
    let pool = build_pool(&settings.database_url, &settings.pool);
    let kept = settings.retention.finished_jobs_kept();
    let summary = actix_web::web::block(move || {
        let mut conn = checkout(&pool)?;
        run_migrations(&mut conn)?;
        run_purge(&mut conn, as_of, kept)
    })
    .await??;
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}

/// `broker definitions [VHOST] [--user NAME:PASSWORD]`: the topology as a RabbitMQ
/// definitions file, optionally with a user that owns the vhost (a broker that loads
/// definitions at boot creates no default user).
pub fn broker(settings: &Settings, args: &[String]) -> anyhow::Result<()> {
    const USAGE: &str = "usage: mailroom-api broker definitions [VHOST] [--user NAME:PASSWORD]";
    let Some("definitions") = args.first().map(String::as_str) else {
        anyhow::bail!(USAGE);
    };
    let mut vhost = "/".to_owned();
    let mut user = None;
    let mut rest = args[1..].iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--user" => {
                let spec = rest.next().ok_or_else(|| anyhow::anyhow!(USAGE))?;
                let (name, password) = spec
                    .split_once(':')
                    .ok_or_else(|| anyhow::anyhow!("--user takes NAME:PASSWORD"))?;
                user = Some((name.to_owned(), password.to_owned()));
            }
            other if !other.starts_with("--") => vhost = other.to_owned(),
            _ => anyhow::bail!(USAGE),
        }
    }
    let mut definitions = Topology::new(settings.bus.quorum).definitions(&vhost);
    if let Some((name, password)) = user {
        definitions["users"] = serde_json::json!([{
            "name": name,
            "password_hash": rabbitmq_password_hash(&password),
            "hashing_algorithm": "rabbit_password_hashing_sha256",
            "tags": ["administrator"],
        }]);
        definitions["permissions"] = serde_json::json!([{
            "user": name, "vhost": vhost, "configure": ".*", "write": ".*", "read": ".*",
        }]);
    }
    println!("{}", serde_json::to_string_pretty(&definitions)?);
    Ok(())
}

/// RabbitMQ's `rabbit_password_hashing_sha256`: base64(salt ‖ SHA-256(salt ‖ password)).
fn rabbitmq_password_hash(password: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    let salt: [u8; 4] = rand::random();
    let mut hasher = sha2::Sha256::new();
    hasher.update(salt);
    hasher.update(password.as_bytes());
    let mut bytes = salt.to_vec();
    bytes.extend_from_slice(&hasher.finalize());
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
