//! One process's link to RabbitMQ: a connection that heals itself.
//!
//! A supervisor task connects, declares the topology (idempotently), opens a publishing
//! channel in confirm mode and, for workers, a consuming channel with the configured
//! prefetch, then watches the connection. When the broker goes away it reports `Down`,
//! retries with backoff, and carries on when the broker is back — no restart needed.
//! Deliveries of the consumed queues flow into one channel that [`super::AmqpBus`] reads.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{
    BasicCancelOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use tokio::sync::{mpsc, watch};

use super::topology::{Argument, Topology};

/// How long a publish may wait for the broker's confirm before it counts as failed.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the process knows of its broker, for logs and `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerState {
    Connecting,
    Up,
    Down(String),
}

impl BrokerState {
    pub fn describe(&self) -> String {
        match self {
            BrokerState::Up => "ok".into(),
            BrokerState::Connecting => "degraded: connecting".into(),
            BrokerState::Down(reason) => format!("degraded: {reason}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct BrokerOptions {
    pub url: String,
    pub quorum: bool,
    pub prefetch: u16,
    /// Queues this process consumes (none for the API, which only publishes).
    pub consume: Vec<String>,
    /// Shown in the broker's connection list.
    pub connection_name: String,
}

struct Live {
    connection: Connection,
    publisher: Channel,
    consumer: Option<(Channel, Vec<String>)>,
}

/// One message to publish: exchange, routing key, body, properties.
pub struct Outgoing {
    pub exchange: &'static str,
    pub routing_key: String,
    pub body: Vec<u8>,
    pub properties: BasicProperties,
}

pub struct Broker {
    options: BrokerOptions,
    live: RwLock<Option<Arc<Live>>>,
    state: watch::Sender<BrokerState>,
    deliveries: mpsc::Sender<lapin::message::Delivery>,
}

impl Broker {
    /// Starts the supervisor; deliveries of the consumed queues arrive on the receiver.
    pub fn start(
        options: BrokerOptions,
        shutdown: watch::Receiver<bool>,
    ) -> (Arc<Broker>, mpsc::Receiver<lapin::message::Delivery>) {
        let (tx, rx) = mpsc::channel(usize::from(options.prefetch).max(1) * 2);
        let (state, _) = watch::channel(BrokerState::Connecting);
        let broker = Arc::new(Broker {
            options,
            live: RwLock::new(None),
            state,
            deliveries: tx,
        });
        tokio::spawn(broker.clone().supervise(shutdown));
        (broker, rx)
    }

    pub fn state(&self) -> watch::Receiver<BrokerState> {
        self.state.subscribe()
    }

    pub fn is_up(&self) -> bool {
        *self.state.borrow() == BrokerState::Up
    }

    async fn supervise(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(200);
        while !*shutdown.borrow() {
            match tokio::time::timeout(CONNECT_TIMEOUT, self.connect()).await {
                Ok(Ok(live)) => {
                    backoff = Duration::from_millis(200);
                    let live = Arc::new(live);
                    self.set_live(Some(live.clone()));
                    self.state.send_replace(BrokerState::Up);
                    tracing::info!("connected to RabbitMQ");
                    let lost = watch_connection(&live.connection, &mut shutdown).await;
                    self.set_live(None);
                    if !lost {
                        let _ = live.connection.close(200, "worker stopping".into()).await;
                        break;
                    }
                    tracing::warn!("lost the connection to RabbitMQ; reconnecting");
                    self.state
                        .send_replace(BrokerState::Down("connection lost".into()));
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "cannot reach RabbitMQ; retrying");
                    self.state.send_replace(BrokerState::Down(e));
                }
                Err(_) => {
                    tracing::warn!("connecting to RabbitMQ timed out; retrying");
                    self.state
                        .send_replace(BrokerState::Down("connect timed out".into()));
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.changed() => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    fn set_live(&self, live: Option<Arc<Live>>) {
        if let Ok(mut slot) = self.live.write() {
            *slot = live;
        }
    }

    fn current(&self) -> Option<Arc<Live>> {
        self.live.read().ok().and_then(|slot| slot.clone())
    }

    async fn connect(&self) -> Result<Live, String> {
        let properties = ConnectionProperties::default()
            .with_connection_name(self.options.connection_name.clone().into());
        let connection = Connection::connect(&self.options.url, properties)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let publisher = connection
            .create_channel()
            .await
            .map_err(|e| format!("channel: {e}"))?;
        declare(&publisher, &Topology::new(self.options.quorum)).await?;
        publisher
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| format!("confirm mode: {e}"))?;
        let consumer = if self.options.consume.is_empty() {
            None
        } else {
            Some(self.consume(&connection).await?)
        };
        Ok(Live {
            connection,
            publisher,
            consumer,
        })
    }

    async fn consume(&self, connection: &Connection) -> Result<(Channel, Vec<String>), String> {
        let channel = connection
            .create_channel()
            .await
            .map_err(|e| format!("channel: {e}"))?;
        channel
            .basic_qos(self.options.prefetch, BasicQosOptions::default())
            .await
            .map_err(|e| format!("prefetch: {e}"))?;
        let mut tags = Vec::new();
        for queue in &self.options.consume {
            let mut consumer = channel
                .basic_consume(
                    queue.as_str().into(),
                    "".into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(|e| format!("consume {queue}: {e}"))?;
            tags.push(consumer.tag().to_string());
            let forward = self.deliveries.clone();
            tokio::spawn(async move {
                while let Some(Ok(delivery)) = consumer.next().await {
                    if forward.send(delivery).await.is_err() {
                        break;
                    }
                }
            });
        }
        Ok((channel, tags))
    }

    /// Publishes with a publisher confirm; `Ok` once the broker has the message durably
    /// (and it was routed to a queue).
    pub async fn publish(&self, message: Outgoing) -> Result<(), String> {
        self.publish_all(vec![message])
            .await
            .pop()
            .unwrap_or(Err("nothing published".into()))
    }

    /// Publishes a batch, then waits for every confirm: one result per message, in order.
    pub async fn publish_all(&self, messages: Vec<Outgoing>) -> Vec<Result<(), String>> {
        let Some(live) = self.current() else {
            return messages
                .iter()
                .map(|_| Err("broker unreachable".into()))
                .collect();
        };
        let mut pending = Vec::with_capacity(messages.len());
        for message in messages {
            let sent = live
                .publisher
                .basic_publish(
                    message.exchange.into(),
                    message.routing_key.into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..BasicPublishOptions::default()
                    },
                    &message.body,
                    message.properties,
                )
                .await;
            pending.push(sent);
        }
        let mut results = Vec::with_capacity(pending.len());
        for sent in pending {
            let result = match sent {
                Err(e) => Err(format!("publish: {e}")),
                Ok(confirm) => match tokio::time::timeout(CONFIRM_TIMEOUT, confirm).await {
                    Err(_) => Err("no confirm from the broker in time".into()),
                    Ok(Err(e)) => Err(format!("confirm: {e}")),
                    Ok(Ok(confirmation)) if confirmation.is_ack() => {
                        match confirmation.take_message() {
                            Some(returned) => Err(format!("unroutable: {}", returned.reply_text)),
                            None => Ok(()),
                        }
                    }
                    Ok(Ok(_)) => Err("the broker refused the message".into()),
                },
            };
            results.push(result);
        }
        results
    }

    /// Stops the broker sending more deliveries (a worker draining before exit).
    pub async fn stop_consuming(&self) {
        let Some(live) = self.current() else { return };
        if let Some((channel, tags)) = &live.consumer {
            for tag in tags {
                let _ = channel
                    .basic_cancel(tag.as_str().into(), BasicCancelOptions::default())
                    .await;
            }
        }
    }
}

/// Waits until the connection is lost (`true`) or shutdown is asked (`false`).
async fn watch_connection(connection: &Connection, shutdown: &mut watch::Receiver<bool>) -> bool {
    loop {
        if *shutdown.borrow() {
            return false;
        }
        if !connection.status().connected() {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Declares exchanges, queues and bindings; declaring what exists changes nothing.
pub async fn declare(channel: &Channel, topology: &Topology) -> Result<(), String> {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    for exchange in &topology.exchanges {
        channel
            .exchange_declare(
                (*exchange).into(),
                ExchangeKind::Direct,
                durable,
                FieldTable::default(),
            )
            .await
            .map_err(|e| format!("declare exchange {exchange}: {e}"))?;
    }
    for queue in &topology.queues {
        let mut arguments = FieldTable::default();
        for (name, value) in &queue.arguments {
            let value = match value {
                Argument::Text(s) => AMQPValue::LongString(s.as_str().into()),
                Argument::Number(n) => AMQPValue::LongLongInt(*n),
            };
            arguments.insert((*name).into(), value);
        }
        channel
            .queue_declare(
                queue.name.as_str().into(),
                QueueDeclareOptions {
                    durable: true,
                    ..QueueDeclareOptions::default()
                },
                arguments,
            )
            .await
            .map_err(|e| {
                format!(
                    "declare queue {} (if it exists with other settings, e.g. after changing \
                     MAILROOM_AMQP_QUORUM, delete it or use a new vhost): {e}",
                    queue.name
                )
            })?;
        if let Some((exchange, key)) = &queue.binding {
            channel
                .queue_bind(
                    queue.name.as_str().into(),
                    (*exchange).into(),
                    key.as_str().into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(|e| format!("bind queue {}: {e}", queue.name))?;
        }
    }
    Ok(())
}

/// Connects once, for operator commands (no supervisor, no consumers); the topology is
/// declared first, so a command works on a broker no worker has used yet.
pub async fn connect_once(
    url: &str,
    quorum: bool,
    name: &str,
) -> Result<(Connection, Channel), String> {
    let properties = ConnectionProperties::default().with_connection_name(name.into());
    let connection = tokio::time::timeout(CONNECT_TIMEOUT, Connection::connect(url, properties))
        .await
        .map_err(|_| "connecting to RabbitMQ timed out".to_owned())?
        .map_err(|e| format!("cannot connect to RabbitMQ: {e}"))?;
    let channel = connection
        .create_channel()
        .await
        .map_err(|e| format!("channel: {e}"))?;
    declare(&channel, &Topology::new(quorum)).await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(|e| format!("confirm mode: {e}"))?;
    Ok((connection, channel))
}
