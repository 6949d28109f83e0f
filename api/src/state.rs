//! What every handler can reach: the pool, the settings and the token keys.

use std::sync::Arc;

use mailroom_domain::config::Settings;
use mailroom_domain::store::{DbConnection, Pool, checkout};
use mailroom_domain::suppressions::HashKey;
use mailroom_domain::tokens::TokenSigner;
use mailroom_domain::webhooks::SecretBox;
use mailroom_worker::bus::amqp::broker::BrokerState;
use tokio::sync::watch;

use crate::auth::{KeyStatusCache, Principal, TokenKeys};
use crate::event_sink::EventSink;
use crate::limits::Limits;
use crate::problem::ApiError;
use crate::renderer::Renderer;
use mailroom_domain::audit::{self, AuditRecord};

#[derive(Clone)]
pub struct AppState {
    pub pool: Pool,
    pub settings: Arc<Settings>,
    pub tokens: Arc<TokenKeys>,
    pub key_status: Arc<KeyStatusCache>,
    /// Verifies the public tokens of recipients' links (confirm, unsubscribe).
    pub signer: TokenSigner,
    /// Keys the hashes suppressions are looked up by.
    pub hash_key: HashKey,
    /// Seals webhook secrets at rest.
    pub secret_box: SecretBox,
    /// Scale-out: the broker as the outbox relay sees it (`/readyz` reports it).
    pub broker: Option<watch::Receiver<BrokerState>>,
    /// Where tracking hits hand their events to the bus.
    pub events: EventSink,
    /// Where requests' templates render (never on the HTTP threads).
    pub renderer: Renderer,
    /// Rate limits and the key secret verifiers.
    pub limits: Arc<Limits>,
}

impl AppState {
    /// Runs a change and its audit entry in one transaction: the entry says who (the
    /// principal, from which IP) did `what` — computed from the change's result.
    pub async fn db_audited<T, F, W>(
        &self,
        principal: &Principal,
        what: W,
        work: F,
    ) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> mailroom_domain::Result<T> + Send + 'static,
        W: FnOnce(&T) -> AuditRecord + Send + 'static,
        T: Send + 'static,
    {
        let (account, actor) = (principal.account_id, principal.actor.clone());
        self.db(move |conn| {
            conn.write_transaction(|conn| {
                let out = work(conn)?;
                audit::record(conn, account, &actor, what(&out))?;
                Ok(out)
            })
        })
        .await
    }

    /// Records a support read (a support principal's every read is audited); other
    /// principals' reads are not.
    pub async fn audit_support_read(
        &self,
        principal: &Principal,
        what: AuditRecord,
    ) -> Result<(), ApiError> {
        if !principal.is_support() {
            return Ok(());
        }
        let (account, actor) = (principal.account_id, principal.actor.clone());
        self.db(move |conn| audit::record(conn, account, &actor, what))
            .await
    }

    /// Runs blocking database work on actix's blocking pool, inside the request's span.
    pub async fn db<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> mailroom_domain::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        let span = tracing::Span::current();
        actix_web::web::block(move || {
            let _entered = span.enter();
            let mut conn = checkout(&pool)?;
            work(&mut conn)
        })
        .await
        .map_err(|e| ApiError::Internal(format!("blocking task failed: {e}")))?
        .map_err(ApiError::from)
    }
}
