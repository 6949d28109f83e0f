//! The API's link to RabbitMQ (scale-out mode): a thread with its own small runtime that
//! keeps the broker connection and relays the outbox, so that jobs written by API requests
//! reach the workers. The API runs no workers of its own in this mode.

use std::sync::Arc;
use std::thread::JoinHandle;

use mailroom_domain::config::Settings;
use mailroom_domain::store::Pool;
use secrecy::ExposeSecret;
use tokio::sync::watch;

use crate::bus::amqp::broker::{Broker, BrokerOptions, BrokerState};
use crate::bus::amqp::direct::DirectPublisher;
use crate::bus::amqp::relay::OutboxRelay;

pub struct RelayThread {
    shutdown: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
    state: watch::Receiver<BrokerState>,
    broker: Arc<Broker>,
}

impl RelayThread {
    /// Starts relaying when `AMQP_URL` is set; `None` otherwise.
    pub fn start(pool: Pool, settings: &Settings) -> anyhow::Result<Option<RelayThread>> {
        let Some(url) = &settings.bus.amqp_url else {
            return Ok(None);
        };
        let options = BrokerOptions {
            url: url.expose_secret().to_owned(),
            quorum: settings.bus.quorum,
            prefetch: settings.bus.prefetch,
            consume: Vec::new(),
            connection_name: "mailroom-api".into(),
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("mailroom-relay")
            .enable_all()
            .build()?;
        let (shutdown, stopped) = watch::channel(false);
        let (broker, _deliveries) = {
            let _entered = runtime.enter();
            Broker::start(options, stopped.clone())
        };
        let state = broker.state();
        let relayed = Arc::clone(&broker);
        let thread = std::thread::Builder::new()
            .name("mailroom-relay".into())
            .spawn(move || {
                runtime.block_on(OutboxRelay::new(pool, relayed).run(stopped));
                // Let the supervisor close the connection before the runtime goes.
                runtime.block_on(async {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await
                });
            })?;
        Ok(Some(RelayThread {
            shutdown,
            thread: Some(thread),
            state,
            broker,
        }))
    }

    /// Publishes jobs that have no row straight to the broker (tracking events), on the
    /// caller's runtime.
    pub fn publisher(&self) -> DirectPublisher {
        DirectPublisher::new(Arc::clone(&self.broker))
    }

    /// The broker as the API last saw it (for `/readyz`).
    pub fn state(&self) -> watch::Receiver<BrokerState> {
        self.state.clone()
    }

    pub fn stop(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for RelayThread {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}
