//! `mailroom-webhooks`: delivers events to webhook endpoints (signed, retried with backoff) — a long-running worker. Configured by the same environment as
//! the API and started with no arguments; SIGTERM stops taking jobs, lets the jobs under way
//! finish, and exits.

use mailroom_domain::jobs::Lane;
use mailroom_worker::process;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match process::run("webhooks", &[Lane::Webhooks]).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mailroom-webhooks: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
