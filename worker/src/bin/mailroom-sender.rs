//! `mailroom-sender`: dispatches campaigns, delivers messages, runs list imports and
//! carries out data-subject requests (a long-running worker).
//! Configured by the same environment as the API and started with no arguments; SIGTERM
//! stops taking jobs, lets the jobs under way finish, and exits.

use mailroom_worker::process;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match process::run(
        "sender",
        &[
            "campaign.dispatch",
            "message.deliver",
            "list.import",
            "data_subject_request.execute",
        ],
    )
    .await
    {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mailroom-sender: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
