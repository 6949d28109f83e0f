//! The RabbitMQ bus (`AMQP_URL` set): jobs relayed from the outbox with publisher confirms,
//! persistent messages on durable (or quorum) queues, manual acks under a prefetch limit,
//! retries through TTL queues that dead-letter back to the work queue, and a parking queue
//! after the last attempt.
//!
//! A delivery is acknowledged only after what follows from it is safe: a retry or parked
//! copy is confirmed by the broker first, a held job is written to its row first. A worker
//! that dies leaves its deliveries unacknowledged and the broker hands them to another
//! worker; such redelivered messages are republished with their attempt counted, so a job
//! that kills every worker still ends in the parking queue. Handlers are idempotent (a
//! message already sent is not sent again), which is what makes redelivery harmless.

pub mod broker;
pub mod direct;
pub mod envelope;
pub mod parking;
pub mod relay;
pub mod topology;

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lapin::Acker;
use lapin::options::{BasicAckOptions, BasicNackOptions, BasicRejectOptions};
use mailroom_domain::contacts::email::mask_emails_in;
use mailroom_domain::jobs::{JobRow, backoff};
use mailroom_domain::store::Pool;
use std::sync::Arc;
use tokio::sync::mpsc;

use self::broker::{Broker, Outgoing};
use self::envelope::Envelope;
use self::topology::{
    JOBS_EXCHANGE, PARKING_QUEUE, RETRY_EXCHANGE, retry_route, retry_step_within,
};
use super::{Bus, Delivery};
use crate::context::on_pool;

struct InFlight {
    acker: Acker,
    envelope: Envelope,
}

pub struct AmqpBus {
    broker: Arc<Broker>,
    pool: Pool,
    deliveries: tokio::sync::Mutex<mpsc::Receiver<lapin::message::Delivery>>,
    in_flight: Mutex<HashMap<u64, InFlight>>,
    receipts: AtomicU64,
    /// How long `receive` waits for a delivery before reporting none.
    wait: Duration,
    /// The most jobs of one account under way at once; beyond it, an account's jobs wait
    /// their turn in a retry queue ([`ACCOUNT_TURN_WAIT`]).
    account_slots: usize,
}

/// How long a job waits when its account holds its whole share of the worker already: it
/// goes round the retry queue of this step (the attempt does not count) and comes back to
/// the end of its work queue, leaving the prefetch window to other accounts.
pub const ACCOUNT_TURN_WAIT: Duration = Duration::from_secs(5);

impl AmqpBus {
    pub fn new(
        broker: Arc<Broker>,
        deliveries: mpsc::Receiver<lapin::message::Delivery>,
        pool: Pool,
    ) -> Self {
        AmqpBus {
            broker,
            pool,
            deliveries: tokio::sync::Mutex::new(deliveries),
            in_flight: Mutex::new(HashMap::new()),
            receipts: AtomicU64::new(1),
            wait: Duration::from_millis(500),
            account_slots: usize::MAX,
        }
    }

    /// At most `slots` jobs of one account under way at once in this worker.
    pub fn with_account_slots(mut self, slots: usize) -> Self {
        self.account_slots = slots.max(1);
        self
    }

    /// Whether `account` holds its whole share of this worker already.
    fn holds_its_share(&self, account: mailroom_domain::Id) -> bool {
        self.in_flight.lock().is_ok_and(|map| {
            map.values()
                .filter(|held| held.envelope.account_id == account)
                .count()
                >= self.account_slots
        })
    }

    /// Sends a job round the retry queue of [`ACCOUNT_TURN_WAIT`], its attempt uncounted.
    async fn wait_for_turn(&self, envelope: &Envelope) -> mailroom_domain::Result<()> {
        self.publish(Outgoing {
            exchange: RETRY_EXCHANGE,
            routing_key: retry_route(&envelope.route(), ACCOUNT_TURN_WAIT),
            body: envelope.body(),
            properties: envelope.properties(),
        })
        .await
    }

    fn take(&self, delivery: &Delivery) -> Option<InFlight> {
        self.in_flight
            .lock()
            .ok()
            .and_then(|mut map| map.remove(&delivery.receipt))
    }

    async fn db<T, F>(&self, work: F) -> mailroom_domain::Result<T>
    where
        F: FnOnce(&mut mailroom_domain::store::DbConnection) -> mailroom_domain::Result<T>
            + Send
            + 'static,
        T: Send + 'static,
    {
        on_pool(&self.pool, work).await
    }

    async fn publish(&self, message: Outgoing) -> mailroom_domain::Result<()> {
        self.broker
            .publish(message)
            .await
            .map_err(mailroom_domain::Error::Unavailable)
    }

    async fn park(&self, mut envelope: Envelope, reason: &str) -> mailroom_domain::Result<()> {
        let reason = mask_emails_in(reason);
        envelope.last_error = Some(reason.clone());
        envelope.parked_at = Some(mailroom_domain::clock::now().to_string());
        self.publish(Outgoing {
            exchange: "",
            routing_key: PARKING_QUEUE.into(),
            body: envelope.body(),
            properties: envelope.properties(),
        })
        .await?;
        let id = envelope.id;
        if let Err(e) = self
            .db(move |conn| JobRow::set_parked(conn, id, Some(&reason)))
            .await
        {
            tracing::warn!(job = %id, error = %e, "could not mark a parked job in its row");
        }
        Ok(())
    }

    /// Publishes the next attempt to the retry queue of its delay.
    async fn publish_retry(
        &self,
        mut envelope: Envelope,
        delay: Duration,
        reason: &str,
    ) -> mailroom_domain::Result<()> {
        envelope.attempt += 1;
        envelope.last_error = Some(mask_emails_in(reason));
        self.publish(Outgoing {
            exchange: RETRY_EXCHANGE,
            routing_key: retry_route(&envelope.route(), delay),
            body: envelope.body(),
            properties: envelope.properties(),
        })
        .await
    }

    /// A message that was delivered before without being acknowledged (its worker died or
    /// lost the broker): counted as an attempt, so that a job which kills its workers ends
    /// up parked instead of going round for ever.
    async fn count_redelivery(
        &self,
        mut envelope: Envelope,
        acker: &Acker,
    ) -> mailroom_domain::Result<()> {
        if envelope.attempt >= envelope.max_attempts {
            self.park(
                envelope,
                "delivered to workers that never finished it (redelivered past its attempts)",
            )
            .await?;
        } else {
            envelope.attempt += 1;
            self.publish(Outgoing {
                exchange: JOBS_EXCHANGE,
                routing_key: envelope.route(),
                body: envelope.body(),
                properties: envelope.properties(),
            })
            .await?;
        }
        let _ = acker.ack(BasicAckOptions::default()).await;
        Ok(())
    }

    /// Returns a delivery to its queue when what should follow from it (a retry or parked
    /// copy, a held row) could not be made safe; its redelivery counts as an attempt.
    async fn give_back(
        &self,
        acker: &Acker,
        job: mailroom_domain::Id,
        error: &impl std::fmt::Display,
    ) {
        tracing::warn!(job = %job, %error, "could not settle a job; returning it to its queue");
        let _ = acker
            .nack(BasicNackOptions {
                requeue: true,
                ..BasicNackOptions::default()
            })
            .await;
    }

    async fn settle(&self, acker: &Acker) {
        if let Err(e) = acker.ack(BasicAckOptions::default()).await {
            // The channel is gone: the broker delivers the job again, and the idempotent
            // handler finds its work done.
            tracing::warn!(error = %e, "could not acknowledge a job; it will be redelivered");
        }
    }
}

impl Bus for AmqpBus {
    async fn receive(&self) -> mailroom_domain::Result<Option<Delivery>> {
        let mut deliveries = self.deliveries.lock().await;
        loop {
            let message = match tokio::time::timeout(self.wait, deliveries.recv()).await {
                Ok(Some(message)) => message,
                Ok(None) | Err(_) => return Ok(None),
            };
            if !message.acker.usable() {
                // From a channel that has since closed: the broker redelivers it.
                continue;
            }
            let envelope = match Envelope::parse(&message.data) {
                Ok(envelope) => envelope,
                Err(reason) => {
                    tracing::warn!(%reason, "rejecting an unreadable job message to the parking queue");
                    let _ = message
                        .acker
                        .reject(BasicRejectOptions { requeue: false })
                        .await;
                    continue;
                }
            };
            if message.redelivered {
                if let Err(e) = self.count_redelivery(envelope, &message.acker).await {
                    tracing::warn!(error = %e, "could not count a redelivery; returning the job");
                    let _ = message
                        .acker
                        .nack(BasicNackOptions {
                            requeue: true,
                            ..BasicNackOptions::default()
                        })
                        .await;
                }
                continue;
            }
            let job = match envelope.job() {
                Ok(job) => job,
                Err(e) => {
                    // Perhaps written by a newer release than this worker's, mid-rollout:
                    // retried like any failing job, and parked after its last attempt.
                    let reason = e.to_string();
                    let id = envelope.id;
                    tracing::warn!(job = %id, %reason, "job payload unreadable");
                    let delay = backoff(
                        Duration::from_secs(1),
                        envelope.attempt,
                        Duration::from_secs(3600),
                    );
                    let handled = if envelope.attempt >= envelope.max_attempts {
                        self.park(envelope, &reason).await
                    } else {
                        self.publish_retry(envelope, delay, &reason).await
                    };
                    match handled {
                        Ok(()) => self.settle(&message.acker).await,
                        Err(e) => self.give_back(&message.acker, id, &e).await,
                    }
                    continue;
                }
            };
            if self.holds_its_share(envelope.account_id) {
                let id = envelope.id;
                match self.wait_for_turn(&envelope).await {
                    Ok(()) => self.settle(&message.acker).await,
                    Err(e) => self.give_back(&message.acker, id, &e).await,
                }
                continue;
            }
            let receipt = self.receipts.fetch_add(1, Ordering::Relaxed);
            let delivery = Delivery {
                id: envelope.id,
                job,
                attempt: envelope.attempt,
                max_attempts: envelope.max_attempts,
                receipt,
            };
            if let Ok(mut map) = self.in_flight.lock() {
                map.insert(
                    receipt,
                    InFlight {
                        acker: message.acker,
                        envelope,
                    },
                );
            }
            return Ok(Some(delivery));
        }
    }

    async fn ack(&self, delivery: &Delivery) -> mailroom_domain::Result<()> {
        if let Some(held) = self.take(delivery) {
            self.settle(&held.acker).await;
        }
        Ok(())
    }

    async fn retry(
        &self,
        delivery: &Delivery,
        delay: Duration,
        reason: &str,
    ) -> mailroom_domain::Result<()> {
        let Some(InFlight { acker, envelope }) = self.take(delivery) else {
            return Ok(());
        };
        // Acknowledged only once the retry copy is safe; if publishing fails, the original
        // goes back to its queue.
        match self.publish_retry(envelope, delay, reason).await {
            Ok(()) => {
                self.settle(&acker).await;
                Ok(())
            }
            Err(e) => {
                self.give_back(&acker, delivery.id, &e).await;
                Err(e)
            }
        }
    }

    async fn defer(
        &self,
        delivery: &Delivery,
        delay: Duration,
        reason: &str,
    ) -> mailroom_domain::Result<()> {
        let Some(InFlight {
            acker,
            mut envelope,
        }) = self.take(delivery)
        else {
            return Ok(());
        };
        // The longest retry queue that does not overshoot: a job that comes back early
        // asks again and waits the rest.
        envelope.last_error = Some(mask_emails_in(reason));
        let published = self
            .publish(Outgoing {
                exchange: RETRY_EXCHANGE,
                routing_key: retry_route(&envelope.route(), retry_step_within(delay)),
                body: envelope.body(),
                properties: envelope.properties(),
            })
            .await;
        match published {
            Ok(()) => {
                self.settle(&acker).await;
                Ok(())
            }
            Err(e) => {
                self.give_back(&acker, delivery.id, &e).await;
                Err(e)
            }
        }
    }

    async fn hold(&self, delivery: &Delivery) -> mailroom_domain::Result<()> {
        let Some(held) = self.take(delivery) else {
            return Ok(());
        };
        let id = delivery.id;
        match self.db(move |conn| JobRow::hold_in_outbox(conn, id)).await {
            Ok(()) => {
                self.settle(&held.acker).await;
                Ok(())
            }
            Err(e) => {
                self.give_back(&held.acker, id, &e).await;
                Err(e)
            }
        }
    }

    async fn dead_letter(&self, delivery: &Delivery, reason: &str) -> mailroom_domain::Result<()> {
        let Some(held) = self.take(delivery) else {
            return Ok(());
        };
        match self.park(held.envelope, reason).await {
            Ok(()) => {
                self.settle(&held.acker).await;
                Ok(())
            }
            Err(e) => {
                self.give_back(&held.acker, delivery.id, &e).await;
                Err(e)
            }
        }
    }

    async fn close(&self) {
        self.broker.stop_consuming().await;
        // Deliveries received but not started go back to the queue for other workers.
        let mut deliveries = self.deliveries.lock().await;
        while let Ok(message) = deliveries.try_recv() {
            let _ = message
                .acker
                .nack(BasicNackOptions {
                    requeue: true,
                    ..BasicNackOptions::default()
                })
                .await;
        }
    }
}
