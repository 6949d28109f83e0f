//! `mailroom-events`: records events (deduplicated, counted in campaign statistics, fanned out to webhooks) — a long-running worker. Configured by the same environment as
//! the API and started with no arguments; SIGTERM stops taking jobs, lets the jobs under way
//! finish, and exits.

use mailroom_domain::jobs::Lane;
use mailroom_worker::process;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match process::run("events", &[Lane::Events]).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mailroom-events: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
