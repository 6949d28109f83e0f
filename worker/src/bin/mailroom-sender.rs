//! `mailroom-sender`: dispatches campaigns and delivers messages (a long-running worker).

use mailroom_worker::lifecycle;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let run = async {
        let _settings = lifecycle::start("sender")?;
        let signal = lifecycle::shutdown_signal().await?;
        tracing::info!(signal, "worker stopping");
        anyhow::Ok(())
    };
    match run.await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mailroom-sender: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
