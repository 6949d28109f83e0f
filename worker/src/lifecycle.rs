//! Start-up and shutdown shared by every worker binary.

use mailroom_domain::config::{LogFormat, Settings};
use tokio::signal::unix::{SignalKind, signal};

pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

/// Reads settings and starts logging; the summary never contains a secret.
pub fn start(role: &str) -> anyhow::Result<Settings> {
    let settings = Settings::from_env()?;
    init_logging(settings.log_format);
    tracing::info!(role, config = %settings.describe(), "worker starting");
    Ok(settings)
}

/// Resolves when the process is asked to stop (SIGTERM or SIGINT).
pub async fn shutdown_signal() -> anyhow::Result<&'static str> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}
