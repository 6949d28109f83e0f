//! `mailroom-sender`: dispatches campaigns and delivers messages (a long-running worker).
//! Configured by the same environment as the API and started with no arguments; SIGTERM
//! stops taking jobs, lets the jobs under way finish, and exits.

use mailroom_domain::jobs::Lane;
use mailroom_worker::process;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match process::run("sender", &[Lane::Transactional, Lane::Campaigns]).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mailroom-sender: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
