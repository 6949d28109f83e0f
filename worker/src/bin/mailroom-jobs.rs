//! `mailroom-jobs`: runs list imports, data-subject requests and the retention purge (which
//! it also queues, once per `MAILROOM_RETENTION_INTERVAL_SECS`) — a long-running worker. Configured by the same
//! environment as the API and started with no arguments; SIGTERM stops taking jobs, lets
//! the jobs under way finish, and exits.

use mailroom_domain::jobs::Lane;
use mailroom_worker::process;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match process::run("jobs", &[Lane::Jobs]).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mailroom-jobs: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
