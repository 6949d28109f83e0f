//! The inbound SMTP listener (`MAILROOM_INBOUND_SMTP_ADDR`): remote servers deliver
//! bounces and complaints straight to Mailroom's VERP bounce addresses, and each message
//! goes through the same report processing as `POST /v1/inbound/messages`, for the
//! account whose message the bounce address names. Point the bounce domain's MX record
//! (`MAILROOM_BOUNCE_DOMAIN`) at it, or have a mail server forward to it.
//!
//! It is a receiver only: it accepts mail for bounce addresses of messages that exist and
//! refuses every other recipient, relays nothing, and holds a message only in memory, up
//! to the API's body limit, until its report is stored. Plain SMTP, no TLS and no
//! authentication, as mail between servers arrives on port 25; put a TLS-terminating mail
//! server in front if the path needs encryption.

mod command;
mod session;

use std::sync::Arc;

use mailroom_domain::outcomes::OutcomePolicy;
use mailroom_domain::store::{DbConnection, Pool};
use mailroom_worker::context::on_pool;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Conversations at once; more wait to be accepted.
const MAX_SESSIONS: usize = 64;

/// What a conversation needs.
pub struct Context {
    pub pool: Pool,
    /// What the reports received do (see `mailroom_domain::outcomes`).
    pub policy: OutcomePolicy,
    /// The bounce domain: the greeting's name, and the only domain recipients may have.
    pub domain: String,
    /// The largest message accepted, in bytes.
    pub size_limit: usize,
}

impl Context {
    /// Runs database work off the conversation's task.
    async fn db<T, F>(&self, work: F) -> mailroom_domain::Result<T>
    where
        F: FnOnce(&mut DbConnection) -> mailroom_domain::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        on_pool(&self.pool, work).await
    }
}

/// Accepts connections until the task is dropped or aborted.
pub async fn serve(listener: TcpListener, ctx: Arc<Context>) {
    let slots = Arc::new(Semaphore::new(MAX_SESSIONS));
    loop {
        let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "inbound SMTP: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let ctx = Arc::clone(&ctx);
        tokio::spawn(async move {
            if let Err(e) = session::converse(stream, &ctx).await {
                tracing::debug!(%peer, error = %e, "inbound SMTP: conversation ended");
            }
            drop(permit);
        });
    }
}
