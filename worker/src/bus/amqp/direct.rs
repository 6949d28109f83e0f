//! Publishing a job straight to RabbitMQ, without a job row.
//!
//! The outbox exists to make a job atomic with the change that causes it. Work born
//! outside any transaction — tracking hits, gathered in the API's memory — has no such
//! change: writing it to the outbox only adds a database write, a relay's read and two
//! updates per batch. Such jobs are published with a publisher confirm instead, exactly as
//! the relay would publish their row; a caller whose publish fails (the broker is down or
//! refused it) writes the job to the outbox after all.

use std::sync::Arc;

use mailroom_domain::Id;
use mailroom_domain::jobs::{Enqueue, Job};

use super::broker::{Broker, Outgoing};
use super::envelope::first_attempt;
use super::topology::{JOBS_EXCHANGE, route_of};

#[derive(Clone)]
pub struct DirectPublisher {
    broker: Arc<Broker>,
}

impl DirectPublisher {
    pub fn new(broker: Arc<Broker>) -> Self {
        DirectPublisher { broker }
    }

    /// Publishes the job's first attempt; `Ok` once the broker holds it durably. Jobs
    /// meant to run later (`run_at`) belong in the outbox, and are refused here.
    pub async fn publish(&self, job: &Job, options: &Enqueue) -> Result<(), String> {
        if options.run_at.is_some() {
            return Err("a job to run later goes through the outbox".into());
        }
        if !self.broker.is_up() {
            return Err("broker unreachable".into());
        }
        let (body, properties) = first_attempt(Id::new(), job, options);
        self.broker
            .publish(Outgoing {
                exchange: JOBS_EXCHANGE,
                routing_key: route_of(job.kind(), options.priority.0),
                body,
                properties,
            })
            .await
    }
}
