//! Verifying API key secrets on a fixed set of threads.
//!
//! An argon2 verification takes ~19 MiB and tens of milliseconds of a core. It runs on
//! one of `MAILROOM_AUTH_VERIFY_CONCURRENCY` (default: the cores) verifier threads that
//! live as long as the API, never on an HTTP worker thread and never with a database
//! connection held. Each thread hashes in one block of memory it keeps from one attempt to
//! the next, so verification costs at most that many blocks however many attempts arrive
//! (a thread per attempt, or a pool that grows under load, would leave a block in each
//! thread's allocator arena). Attempts wait in a short queue; when it is full the newcomer
//! is answered 429 at once instead of joining an ever longer one.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailroom_domain::accounts::{CheckMemory, KeyCredentials, VerifiedKey};
use secrecy::SecretString;
use tokio::sync::oneshot;

use crate::problem::{ApiError, RateLimited};

/// Attempts that may wait per verifier thread before newcomers are refused.
const WAITING_PER_THREAD: usize = 16;

pub struct SecretVerifier {
    queue: SyncSender<Attempt>,
}

/// One secret to check, and where its answer goes.
struct Attempt {
    credentials: KeyCredentials,
    secret: SecretString,
    span: tracing::Span,
    answer: oneshot::Sender<Option<VerifiedKey>>,
}

impl SecretVerifier {
    /// Starts `threads` verifier threads; they end when the verifier is dropped.
    pub fn new(threads: usize) -> SecretVerifier {
        let threads = threads.max(1);
        let (queue, attempts) = sync_channel(threads * WAITING_PER_THREAD);
        let attempts = Arc::new(Mutex::new(attempts));
        for n in 0..threads {
            let attempts = Arc::clone(&attempts);
            let started = std::thread::Builder::new()
                .name(format!("verify-{n}"))
                .spawn(move || verify_attempts(&attempts));
            if let Err(e) = started {
                tracing::error!(error = %e, "could not start a key secret verifier thread");
            }
        }
        SecretVerifier { queue }
    }

    /// Checks `secret` against the key's stored hash on a verifier thread.
    pub async fn check(
        &self,
        credentials: KeyCredentials,
        secret: SecretString,
    ) -> Result<Option<VerifiedKey>, ApiError> {
        let (answer, answered) = oneshot::channel();
        let attempt = Attempt {
            credentials,
            secret,
            span: tracing::Span::current(),
            answer,
        };
        match self.queue.try_send(attempt) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return Err(ApiError::RateLimited(RateLimited {
                    limit: "key secrets waiting to be verified",
                    retry_after: Duration::from_secs(1),
                    headers: None,
                }));
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err(ApiError::Internal(
                    "no key secret verifier is running".into(),
                ));
            }
        }
        answered
            .await
            .map_err(|_| ApiError::Internal("a key secret verifier stopped".into()))
    }
}

/// A verifier thread: takes attempts until the verifier is dropped, hashing each in the
/// memory it allocated for the first.
fn verify_attempts(attempts: &Mutex<Receiver<Attempt>>) {
    let mut memory: Option<CheckMemory> = None;
    loop {
        let next = match attempts.lock() {
            Ok(attempts) => attempts.recv(),
            Err(_) => return,
        };
        let Ok(attempt) = next else { return };
        // The client went away while the attempt waited: nobody reads the answer.
        if attempt.answer.is_closed() {
            continue;
        }
        let _entered = attempt.span.enter();
        let memory = memory.get_or_insert_with(CheckMemory::new);
        let verified = attempt.credentials.check(&attempt.secret, memory);
        let _ = attempt.answer.send(verified);
    }
}
