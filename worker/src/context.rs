//! What every job handler needs: the pool, the settings, the signing and hashing keys, the
//! outlet mail leaves through, and the client webhooks go out through.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mailroom_domain::config::Settings;
use mailroom_domain::outcomes::OutcomePolicy;
use mailroom_domain::rendering::RenderLimits;
use mailroom_domain::store::{DbConnection, Pool, checkout};
use mailroom_domain::suppressions::HashKey;
use mailroom_domain::tokens::TokenSigner;
use mailroom_domain::webhooks::SecretBox;
use secrecy::ExposeSecret;
use tokio::sync::Mutex;

use crate::sender::identity::SignerCache;
use crate::sender::outcomes::OutcomeRecorder;
use crate::sender::settle::CampaignSettler;
use crate::transport::{SmtpSettings, SmtpTransport};
use crate::webhooks::WebhookClient;

/// Where delivered mail goes.
pub enum Outlet {
    /// An SMTP relay (`SMTP_URL`).
    Relay(SmtpTransport),
    /// The sandbox mailbox (no `SMTP_URL`): messages are stored and listed by the API.
    Sandbox,
}

pub struct WorkerContext {
    pub pool: Pool,
    pub settings: Arc<Settings>,
    pub signer: TokenSigner,
    pub hash_key: HashKey,
    /// Opens the webhook secrets sealed at rest.
    pub secret_box: SecretBox,
    pub outlet: Outlet,
    pub render_limits: RenderLimits,
    pub rate: Option<RateLimiter>,
    /// Where webhook deliveries go out (its HTTP client is built on first use).
    pub webhook_client: WebhookClient,
    /// Coalesces the checks whether a campaign is done.
    pub settler: CampaignSettler,
    /// Records delivery outcomes in group commits.
    pub outcomes: OutcomeRecorder,
    /// What delivery outcomes do (attempts, pauses, suppressions).
    pub outcome_policy: OutcomePolicy,
    /// DKIM signers of the sending domains this process signed for, made once per key.
    pub dkim_signers: SignerCache,
}

impl WorkerContext {
    pub fn new(pool: Pool, settings: Arc<Settings>) -> anyhow::Result<Self> {
        let outlet = match &settings.delivery.smtp_url {
            Some(url) => {
                let smtp = SmtpSettings::from_url(url.expose_secret())
                    .map_err(anyhow::Error::msg)?
                    .with_ehlo_name(&settings.delivery.ehlo_name);
                Outlet::Relay(SmtpTransport::new(&smtp).map_err(anyhow::Error::msg)?)
            }
            None => Outlet::Sandbox,
        };
        let rate = match settings.delivery.rate_per_second {
            0 => None,
            n => Some(RateLimiter::per_second(n)),
        };
        let hash_key = HashKey::new(&settings.hash_key);
        Ok(WorkerContext {
            signer: TokenSigner::new(&settings.signing_key),
            outcome_policy: OutcomePolicy::new(&settings.delivery, hash_key.clone()),
            hash_key,
            secret_box: SecretBox::new(&settings.signing_key),
            render_limits: RenderLimits::default(),
            webhook_client: WebhookClient::new(settings.webhooks.allow_private),
            pool,
            settings,
            outlet,
            rate,
            settler: CampaignSettler::default(),
            outcomes: OutcomeRecorder::default(),
            dkim_signers: SignerCache::default(),
        })
    }

    /// Runs blocking database work off the async threads.
    pub async fn db<T, F>(&self, work: F) -> mailroom_domain::Result<T>
    where
        F: FnOnce(&mut DbConnection) -> mailroom_domain::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        on_pool(&self.pool, work).await
    }
}

/// Runs blocking database work on a connection of `pool`, on tokio's blocking threads and
/// inside the caller's span: how async code outside a request (workers, buses, the SMTP
/// listener, the API's event writer) reaches the database.
pub async fn on_pool<T, F>(pool: &Pool, work: F) -> mailroom_domain::Result<T>
where
    F: FnOnce(&mut DbConnection) -> mailroom_domain::Result<T> + Send + 'static,
    T: Send + 'static,
{
    let pool = pool.clone();
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        work(&mut *checkout(&pool)?)
    })
    .await
    .map_err(|e| mailroom_domain::Error::Internal(format!("blocking task failed: {e}")))?
}

/// Spaces deliveries evenly to at most N per second across all of a process's senders.
pub struct RateLimiter {
    interval: Duration,
    next: Mutex<Instant>,
}

impl RateLimiter {
    pub fn per_second(n: u32) -> Self {
        RateLimiter {
            interval: Duration::from_secs(1) / n.max(1),
            next: Mutex::new(Instant::now()),
        }
    }

    pub async fn acquire(&self) {
        let slot = {
            let mut next = self.next.lock().await;
            let slot = (*next).max(Instant::now());
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot.into()).await;
    }
}
