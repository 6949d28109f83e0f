//! Handing recorded events to the account's webhook endpoints: one delivery row (and its
//! `webhook.deliver` job) per enabled endpoint subscribed to the event's type, written in
//! the transaction that records the event, a batch's rows in a few multi-row statements.

use std::collections::{HashMap, HashSet};

use super::delivery::WebhookDelivery;
use super::endpoint::Webhook;
use crate::error::Result;
use crate::events::Event;
use crate::jobs::Priority;
use crate::store::DbConnection;
use crate::store::sql_types::Id;

/// Queues the deliveries of `events` to every endpoint that wants them. A delivery is
/// unique per (endpoint, event), so a replayed batch queues nothing twice.
pub fn fan_out(conn: &mut DbConnection, events: &[Event]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let mut seen = HashSet::new();
    let accounts: Vec<Id> = events
        .iter()
        .map(|e| e.account_id)
        .filter(|id| seen.insert(*id))
        .collect();
    let mut endpoints: HashMap<Id, Vec<Webhook>> = HashMap::new();
    for webhook in Webhook::enabled_of(conn, &accounts)? {
        endpoints
            .entry(webhook.account_id)
            .or_default()
            .push(webhook);
    }
    if endpoints.is_empty() {
        return Ok(());
    }
    let mut deliveries = Vec::new();
    // A repeated open or click (same link, within the window) is logged, not announced.
    for event in events.iter().filter(|e| !e.is_repeated_hit()) {
        let Some(candidates) = endpoints.get(&event.account_id) else {
            continue;
        };
        for webhook in candidates.iter().filter(|w| w.wants(&event.event_type)) {
            deliveries.push(WebhookDelivery::for_event(webhook, event));
        }
    }
    WebhookDelivery::queue_many(conn, &deliveries, Priority::DISPATCH)?;
    Ok(())
}
