//! The outbox relay: moves job rows from the database to RabbitMQ.
//!
//! The API and every worker run one. Each takes a batch of due rows under a lease (on
//! PostgreSQL with `SKIP LOCKED`, so relays share the work), publishes them with publisher
//! confirms, and marks the confirmed ones `published`; the rest go back to the outbox.
//! While the broker is unreachable rows simply wait — the API keeps accepting sends — and
//! every one of them is published once the broker is back.

use std::sync::Arc;
use std::time::Duration;

use mailroom_domain::jobs::JobRow;
use mailroom_domain::store::{Pool, checkout};
use tokio::sync::watch;

use super::broker::{Broker, BrokerState, Outgoing};
use super::envelope::Envelope;
use super::topology::{JOBS_EXCHANGE, route_of};

const BATCH: i64 = 500;
/// How long a relay may hold a batch before another relay takes it over.
const LEASE: Duration = Duration::from_secs(60);
const IDLE: Duration = Duration::from_millis(100);

pub struct OutboxRelay {
    pool: Pool,
    broker: Arc<Broker>,
}

impl OutboxRelay {
    pub fn new(pool: Pool, broker: Arc<Broker>) -> Self {
        OutboxRelay { pool, broker }
    }

    /// Relays until shutdown.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut state = self.broker.state();
        while !*shutdown.borrow() {
            if *state.borrow() != BrokerState::Up {
                tokio::select! {
                    _ = state.changed() => {}
                    _ = shutdown.changed() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                continue;
            }
            let relayed = match self.relay_batch().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox relay failed; retrying");
                    0
                }
            };
            if relayed == 0 {
                tokio::select! {
                    _ = tokio::time::sleep(IDLE) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
    }

    /// Publishes one batch; returns how many rows the broker confirmed.
    pub async fn relay_batch(&self) -> mailroom_domain::Result<usize> {
        let pool = self.pool.clone();
        let rows = tokio::task::spawn_blocking(move || {
            JobRow::take_for_relay(&mut *checkout(&pool)?, BATCH, LEASE)
        })
        .await
        .map_err(|e| mailroom_domain::Error::Internal(e.to_string()))??;
        if rows.is_empty() {
            return Ok(0);
        }
        let outgoing = rows
            .iter()
            .map(|row| {
                let envelope = Envelope::from_row(row);
                Outgoing {
                    exchange: JOBS_EXCHANGE,
                    routing_key: route_of(&row.kind, row.priority),
                    body: envelope.body(),
                    properties: envelope.properties(),
                }
            })
            .collect();
        let results = self.broker.publish_all(outgoing).await;
        let (mut confirmed, mut refused) = (Vec::new(), Vec::new());
        for (row, result) in rows.iter().zip(results) {
            match result {
                Ok(()) => confirmed.push(row.id),
                Err(reason) => {
                    tracing::debug!(job = %row.id, %reason, "job not relayed");
                    refused.push(row.id);
                }
            }
        }
        let count = confirmed.len();
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = checkout(&pool)?;
            JobRow::mark_published(&mut conn, &confirmed)?;
            JobRow::return_to_outbox(&mut conn, &refused)
        })
        .await
        .map_err(|e| mailroom_domain::Error::Internal(e.to_string()))??;
        Ok(count)
    }
}
