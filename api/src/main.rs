//! `mailroom-api`: serve the API (no arguments), `migrate`, print `openapi`, operate the
//! RabbitMQ bus (`parking`, `broker`), or run a retention purge (`retention`).

use mailroom_api::{openapi, operator, startup::Application, telemetry};
use mailroom_domain::config::Settings;
use mailroom_domain::store::{build_pool, checkout, run_migrations};

const USAGE: &str =
    "usage: mailroom-api [serve | migrate | openapi | parking ... | broker ... | retention ...]
  serve                          run the HTTP API (the default)
  migrate                        apply pending database migrations and exit
  openapi                        print the OpenAPI document (YAML) to stdout
  parking list [--json]          list the jobs parked after their last attempt (RabbitMQ)
  parking redrive --all|ID...    send parked jobs back to their queues
  broker definitions [VHOST]     print the RabbitMQ topology as a definitions file
  retention purge [--as-of T]    purge what is past retention (as of T, RFC 3339) now";

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mailroom-api: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let command = std::env::args().nth(1).unwrap_or_else(|| "serve".into());
    match command.as_str() {
        "openapi" => {
            let yaml = openapi::to_yaml(&openapi::document()).map_err(anyhow::Error::msg)?;
            print!("{yaml}");
            Ok(())
        }
        "migrate" => {
            let settings = Settings::from_env()?;
            telemetry::init(settings.log_format);
            let pool = build_pool(&settings.database_url, &settings.pool);
            let applied =
                actix_web::web::block(move || run_migrations(&mut *checkout(&pool)?)).await??;
            tracing::info!(applied, database = %settings.database_url.redacted(), "migrations applied");
            Ok(())
        }
        "serve" => {
            let settings = Settings::from_env()?;
            telemetry::init(settings.log_format);
            tracing::info!(config = %settings.describe(), "starting Mailroom API");
            Application::build(settings)
                .await?
                .run_until_stopped()
                .await?;
            Ok(())
        }
        "parking" => {
            let settings = Settings::from_env()?;
            let args: Vec<String> = std::env::args().skip(2).collect();
            operator::parking(&settings, &args).await
        }
        "broker" => {
            let settings = Settings::from_env()?;
            let args: Vec<String> = std::env::args().skip(2).collect();
            operator::broker(&settings, &args)
        }
        "retention" => {
            let settings = Settings::from_env()?;
            telemetry::init(settings.log_format);
            let args: Vec<String> = std::env::args().skip(2).collect();
            operator::retention(&settings, &args).await
        }
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => anyhow::bail!("unknown command {other:?}\n{USAGE}"),
    }
}
