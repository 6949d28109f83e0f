//! The RabbitMQ topology, as data: declared by every process at start-up (idempotently)
//! and printed as a definitions file for operators (`mailroom-api broker definitions`), so
//! the two cannot drift apart.
//!
//! - `mailroom.jobs` (direct): routing key = job kind → queue `mailroom.<kind>`; urgent
//!   message deliveries (the transactional lane) have a route and queue of their own,
//!   `message.deliver.transactional`, so that campaign work never stands in front of them.
//! - `mailroom.retry` (direct): routing key `<kind>.<delay>` → queue
//!   `mailroom.<kind>.retry.<delay>`, whose queue TTL dead-letters the job back to
//!   `mailroom.jobs` once the delay has passed. One retry queue per kind and backoff step:
//!   with one queue and per-message TTLs, a job waiting an hour at the head of the queue
//!   would hold back one waiting five seconds behind it.
//! - `mailroom.parking`: jobs that failed their last attempt (and, through each work
//!   queue's dead-letter route, messages rejected as unreadable), kept for an operator.

use std::time::Duration;

use mailroom_domain::jobs::{Job, Lane, Priority};
use serde_json::{Value, json};

pub const JOBS_EXCHANGE: &str = "mailroom.jobs";
pub const RETRY_EXCHANGE: &str = "mailroom.retry";
pub const PARKING_QUEUE: &str = "mailroom.parking";

/// Delivery attempts after which a quorum queue dead-letters a message on its own (a job
/// that crashes every worker that takes it).
const QUORUM_DELIVERY_LIMIT: i64 = 20;

/// The backoff steps of the retry queues; a delay is rounded up to the next step.
pub const RETRY_STEPS: [Duration; 8] = [
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(120),
    Duration::from_secs(600),
    Duration::from_secs(1800),
    Duration::from_secs(3600),
    Duration::from_secs(3 * 3600),
];

/// The route (and work queue) of the transactional lane's message deliveries.
pub const TRANSACTIONAL_ROUTE: &str = "message.deliver.transactional";

/// The routes of the work queues: one per job kind, and the transactional lane's.
pub fn routes() -> impl Iterator<Item = &'static str> {
    Job::KINDS.into_iter().chain([TRANSACTIONAL_ROUTE])
}

/// The route of a job of `kind` queued at `priority`: its kind, or the transactional
/// lane's route for a message queued urgently.
pub fn route_of(kind: &str, priority: i32) -> String {
    match Lane::of(kind, Priority(priority)) {
        Lane::Transactional => TRANSACTIONAL_ROUTE.to_owned(),
        _ => kind.to_owned(),
    }
}

/// The routes of a lane's work queues.
pub fn lane_routes(lane: Lane) -> impl Iterator<Item = &'static str> {
    routes().filter(move |route| match *route {
        TRANSACTIONAL_ROUTE => lane == Lane::Transactional,
        kind => lane != Lane::Transactional && Lane::of(kind, Priority::BULK) == lane,
    })
}

/// The work queue of a route (a job kind, or [`TRANSACTIONAL_ROUTE`]).
pub fn work_queue(route: &str) -> String {
    format!("mailroom.{route}")
}

/// The retry step a delay waits in, and its routing key on the retry exchange.
pub fn retry_route(kind: &str, delay: Duration) -> String {
    format!("{kind}.{}", step_label(retry_step(delay)))
}

pub fn retry_step(delay: Duration) -> Duration {
    RETRY_STEPS
        .iter()
        .copied()
        .find(|step| *step >= delay)
        .unwrap_or(RETRY_STEPS[RETRY_STEPS.len() - 1])
}

/// The longest retry step not over `delay` (the shortest step for a shorter delay).
pub fn retry_step_within(delay: Duration) -> Duration {
    RETRY_STEPS
        .iter()
        .copied()
        .rev()
        .find(|step| *step <= delay)
        .unwrap_or(RETRY_STEPS[0])
}

fn step_label(step: Duration) -> String {
    let secs = step.as_secs();
    if secs.is_multiple_of(3600) {
        format!("{}h", secs / 3600)
    } else if secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

/// A queue argument's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Argument {
    Text(String),
    Number(i64),
}

#[derive(Debug, Clone)]
pub struct QueueSpec {
    pub name: String,
    pub arguments: Vec<(&'static str, Argument)>,
    /// `(exchange, routing key)`, when bound.
    pub binding: Option<(&'static str, String)>,
}

#[derive(Debug, Clone)]
pub struct Topology {
    pub exchanges: Vec<&'static str>,
    pub queues: Vec<QueueSpec>,
}

impl Topology {
    pub fn new(quorum: bool) -> Topology {
        let kind_args = |mut args: Vec<(&'static str, Argument)>| {
            if quorum {
                args.push(("x-queue-type", Argument::Text("quorum".into())));
            }
            args
        };
        let mut queues = Vec::new();
        for kind in routes() {
            let mut work = vec![
                ("x-dead-letter-exchange", Argument::Text(String::new())),
                (
                    "x-dead-letter-routing-key",
                    Argument::Text(PARKING_QUEUE.into()),
                ),
            ];
            if quorum {
                work.push(("x-delivery-limit", Argument::Number(QUORUM_DELIVERY_LIMIT)));
            } else {
                // Test and transactional mail overtakes campaign work (classic queues only;
                // quorum queues of RabbitMQ 3.x have no priorities).
                work.push(("x-max-priority", Argument::Number(10)));
            }
            queues.push(QueueSpec {
                name: work_queue(kind),
                arguments: kind_args(work),
                binding: Some((JOBS_EXCHANGE, kind.to_owned())),
            });
            for step in RETRY_STEPS {
                let route = format!("{kind}.{}", step_label(step));
                queues.push(QueueSpec {
                    name: format!("mailroom.{kind}.retry.{}", step_label(step)),
                    arguments: kind_args(vec![
                        ("x-message-ttl", Argument::Number(step.as_millis() as i64)),
                        (
                            "x-dead-letter-exchange",
                            Argument::Text(JOBS_EXCHANGE.into()),
                        ),
                        ("x-dead-letter-routing-key", Argument::Text(kind.to_owned())),
                    ]),
                    binding: Some((RETRY_EXCHANGE, route)),
                });
            }
        }
        queues.push(QueueSpec {
            name: PARKING_QUEUE.into(),
            arguments: kind_args(Vec::new()),
            binding: None,
        });
        Topology {
            exchanges: vec![JOBS_EXCHANGE, RETRY_EXCHANGE],
            queues,
        }
    }

    /// The topology as a RabbitMQ definitions file (`rabbitmqctl import_definitions`, or
    /// `load_definitions` in `rabbitmq.conf`) for the given virtual host.
    pub fn definitions(&self, vhost: &str) -> Value {
        let arguments = |args: &[(&'static str, Argument)]| {
            let mut map = serde_json::Map::new();
            for (name, value) in args {
                let value = match value {
                    Argument::Text(s) => json!(s),
                    Argument::Number(n) => json!(n),
                };
                map.insert((*name).to_owned(), value);
            }
            Value::Object(map)
        };
        json!({
            "vhosts": [{"name": vhost}],
            "exchanges": self.exchanges.iter().map(|name| json!({
                "name": name, "vhost": vhost, "type": "direct", "durable": true,
                "auto_delete": false, "internal": false, "arguments": {}
            })).collect::<Vec<_>>(),
            "queues": self.queues.iter().map(|q| json!({
                "name": q.name, "vhost": vhost, "durable": true, "auto_delete": false,
                "arguments": arguments(&q.arguments)
            })).collect::<Vec<_>>(),
            "bindings": self.queues.iter().filter_map(|q| q.binding.as_ref().map(|(exchange, key)| json!({
                "source": exchange, "vhost": vhost, "destination": q.name,
                "destination_type": "queue", "routing_key": key, "arguments": {}
            }))).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_lane_consumes_its_own_routes_and_urgent_messages_are_transactional() {
        let mut all: Vec<&str> = Lane::ALL.into_iter().flat_map(lane_routes).collect();
        all.sort();
        let mut every: Vec<&str> = routes().collect();
        every.sort();
        assert_eq!(all, every, "every route belongs to exactly one lane");
        assert_eq!(
            lane_routes(Lane::Transactional).collect::<Vec<_>>(),
            [TRANSACTIONAL_ROUTE]
        );
        assert_eq!(
            lane_routes(Lane::Campaigns).collect::<Vec<_>>(),
            ["campaign.dispatch", "message.deliver"]
        );
        assert_eq!(route_of("message.deliver", 10), TRANSACTIONAL_ROUTE);
        assert_eq!(route_of("message.deliver", 0), "message.deliver");
        assert_eq!(route_of("webhook.deliver", 10), "webhook.deliver");
    }

    #[test]
    fn delays_round_up_to_a_retry_step() {
        assert_eq!(
            retry_route("message.deliver", Duration::from_millis(200)),
            "message.deliver.1s"
        );
        assert_eq!(
            retry_route("message.deliver", Duration::from_secs(60)),
            "message.deliver.2m"
        );
        assert_eq!(
            retry_route("message.deliver", Duration::from_secs(86_400)),
            "message.deliver.3h"
        );
    }

    #[test]
    fn every_kind_has_a_work_queue_and_retry_steps_that_lead_back_to_it() {
        let topology = Topology::new(false);
        for kind in Job::KINDS {
            let work = topology
                .queues
                .iter()
                .find(|q| q.name == work_queue(kind))
                .unwrap();
            assert_eq!(work.binding, Some((JOBS_EXCHANGE, kind.to_string())));
            let retries: Vec<_> = topology
                .queues
                .iter()
                .filter(|q| q.name.starts_with(&format!("mailroom.{kind}.retry.")))
                .collect();
            assert_eq!(retries.len(), RETRY_STEPS.len());
            for retry in retries {
                assert!(
                    retry
                        .arguments
                        .contains(&("x-dead-letter-routing-key", Argument::Text(kind.into())))
                );
            }
        }
        let transactional = topology
            .queues
            .iter()
            .find(|q| q.name == "mailroom.message.deliver.transactional")
            .unwrap();
        assert_eq!(
            transactional.binding,
            Some((JOBS_EXCHANGE, TRANSACTIONAL_ROUTE.to_string()))
        );
        let back_to_it = topology.queues.iter().filter(|q| {
            q.arguments.contains(&(
                "x-dead-letter-routing-key",
                Argument::Text(TRANSACTIONAL_ROUTE.into()),
            ))
        });
        assert_eq!(back_to_it.count(), RETRY_STEPS.len());
        let quorum = Topology::new(true);
        assert!(quorum.queues.iter().all(|q| {
            q.arguments
                .contains(&("x-queue-type", Argument::Text("quorum".into())))
        }));
    }
}
