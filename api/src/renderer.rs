//! Where a request's templates render: never on the HTTP threads (a slow render there stops
//! every other request that thread serves, `/healthz` included), but on the blocking pool,
//! at most `MAILROOM_RENDER_CONCURRENCY` requests at once per process, each under its own
//! [`RenderBudget`] (`MAILROOM_RENDER_REQUEST_FUEL`, `MAILROOM_RENDER_REQUEST_MS`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use mailroom_domain::config::RenderSettings;
use mailroom_domain::rendering::RenderBudget;
use tokio::sync::Semaphore;

use crate::problem::ApiError;

/// The API's rendering pool: a bound on requests rendering at once, and their budgets.
#[derive(Clone)]
pub struct Renderer {
    settings: RenderSettings,
    slots: Arc<Semaphore>,
    load: Arc<RenderLoad>,
}

/// Requests rendering and waiting to, for `/metrics`.
#[derive(Default)]
pub struct RenderLoad {
    running: AtomicUsize,
    waiting: AtomicUsize,
}

impl RenderLoad {
    /// `(running, waiting)`.
    pub fn snapshot(&self) -> (usize, usize) {
        (
            self.running.load(Ordering::Relaxed),
            self.waiting.load(Ordering::Relaxed),
        )
    }
}

/// Counts one request in a state of [`RenderLoad`] while it lives.
struct Counted<'a>(&'a AtomicUsize);

impl<'a> Counted<'a> {
    fn new(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Counted(counter)
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Tells the renders a request started that nobody waits for them any more (the client
/// hung up, so actix dropped the handler): they stop at their next check.
struct AbandonOnDrop(Arc<AtomicBool>);

impl Drop for AbandonOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl Renderer {
    pub fn new(settings: RenderSettings) -> Self {
        Renderer {
            settings,
            slots: Arc::new(Semaphore::new(settings.concurrency)),
            load: Arc::new(RenderLoad::default()),
        }
    }

    pub fn load(&self) -> &RenderLoad {
        &self.load
    }

    /// Runs a request's rendering work on the blocking pool, once a slot is free, with
    /// the request's budget. Waiting for a slot counts against the budget's time; a
    /// request that never got one is a 503.
    pub async fn run<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut RenderBudget) -> T + Send + 'static,
        T: Send + 'static,
    {
        let started = Instant::now();
        let slot = {
            let _waiting = Counted::new(&self.load.waiting);
            tokio::time::timeout(
                self.settings.request_time,
                Arc::clone(&self.slots).acquire_owned(),
            )
            .await
        };
        let slot = match slot {
            Ok(Ok(slot)) => slot,
            Ok(Err(_closed)) => return Err(ApiError::Internal("the render pool is closed".into())),
            Err(_elapsed) => {
                return Err(ApiError::Busy(
                    "the server is busy rendering other requests; try again shortly".into(),
                ));
            }
        };
        let abandoned = AbandonOnDrop(Arc::new(AtomicBool::new(false)));
        let mut budget = RenderBudget::new(
            self.settings.request_fuel,
            self.settings.request_time.saturating_sub(started.elapsed()),
        )
        .abandoned_when(Arc::clone(&abandoned.0));
        let load = Arc::clone(&self.load);
        let span = tracing::Span::current();
        let outcome = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let _running = Counted::new(&load.running);
            let _entered = span.enter();
            work(&mut budget)
        })
        .await;
        drop(abandoned);
        outcome.map_err(|e| ApiError::Internal(format!("rendering failed: {e}")))
    }
}
