//! Verifying API key secrets with bounded concurrency.
//!
//! An argon2 verification takes ~19 MiB and tens of milliseconds of a core. It runs on the
//! blocking pool, never on an HTTP worker thread, and never with a database connection
//! held; at most `MAILROOM_AUTH_VERIFY_CONCURRENCY` (default: the cores) run at once, so a
//! flood of attempts costs a bounded amount of memory and leaves cores to other requests.
//! Attempts beyond that wait their turn, and when more than a few per slot are already
//! waiting the newcomer is answered 429 at once instead of joining an ever longer queue.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mailroom_domain::accounts::{KeyCredentials, VerifiedKey};
use secrecy::SecretString;
use tokio::sync::Semaphore;

use crate::problem::{ApiError, RateLimited};

/// Attempts that may wait per verification slot before newcomers are refused.
const WAITING_PER_SLOT: usize = 16;

pub struct SecretVerifier {
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
}

/// Counts a waiting attempt for as long as it waits (also when its request is dropped).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl SecretVerifier {
    pub fn new(concurrency: usize) -> SecretVerifier {
        let concurrency = concurrency.max(1);
        SecretVerifier {
            slots: Arc::new(Semaphore::new(concurrency)),
            waiting: AtomicUsize::new(0),
            max_waiting: concurrency * WAITING_PER_SLOT,
        }
    }

    /// Checks `secret` against the key's stored hash, in a verification slot.
    pub async fn check(
        &self,
        credentials: KeyCredentials,
        secret: SecretString,
    ) -> Result<Option<VerifiedKey>, ApiError> {
        if self.waiting.fetch_add(1, Ordering::Relaxed) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            return Err(ApiError::RateLimited(RateLimited {
                retry_after: Duration::from_secs(1),
                headers: None,
            }));
        }
        let waiting = Waiting(&self.waiting);
        let slot = Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .map_err(|e| ApiError::Internal(format!("verification slots closed: {e}")))?;
        drop(waiting);
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let _slot = slot;
            credentials.check(&secret)
        })
        .await
        .map_err(|e| ApiError::Internal(format!("verifying a key secret failed: {e}")))
    }
}
