//! The periodic check: every domain's records are looked up again, at
//! `MAILROOM_DOMAIN_CHECK_INTERVAL_SECS`, and the result stored as `verify` stores it. When
//! a domain's status changes (its DKIM record was removed: `verified` → `failed`; its
//! records appeared: `pending` → `verified`), the account's webhook endpoints that want
//! `domain.status_changed` get an event naming the domain, both statuses and what was
//! found, record by record.

use diesel::prelude::*;
use serde_json::json;

use super::check::DomainCheck;
use super::sending_domain::{DomainStatus, SendingDomain};
use crate::clock;
use crate::error::Result;
use crate::jobs::Priority;
use crate::schema::sending_domains;
use crate::store::DbConnection;
use crate::store::sql_types::{Id, Timestamp};
use crate::webhooks::{Webhook, WebhookDelivery};

/// The webhook event type of a domain whose status changed.
pub const DOMAIN_STATUS_CHANGED: &str = "domain.status_changed";

/// Every sending domain of every account added before `created_before` (all, when
/// unset), as (account, domain id), in id order.
pub fn all_domain_ids(
    conn: &mut DbConnection,
    created_before: Option<Timestamp>,
) -> Result<Vec<(Id, Id)>> {
    let mut query = sending_domains::table
        .select((sending_domains::account_id, sending_domains::id))
        .order(sending_domains::id.asc())
        .into_boxed();
    if let Some(before) = created_before {
        query = query.filter(sending_domains::created_at.lt(before));
    }
    Ok(query.load(conn)?)
}

/// A domain's status before and after a check that changed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusChange {
    pub from: DomainStatus,
    pub to: DomainStatus,
}

/// Stores what a periodic check found (as `verify` does) and, when the status changed,
/// queues a `domain.status_changed` delivery to each of the account's enabled endpoints
/// that wants it, in the same transaction. A domain deleted meanwhile is skipped.
pub fn record_periodic_check(
    conn: &mut DbConnection,
    account_id: Id,
    id: Id,
    check: &DomainCheck,
) -> Result<Option<StatusChange>> {
    conn.write_transaction(|conn| {
        let before = match SendingDomain::find(conn, account_id, id) {
            Ok(d) => d,
            Err(crate::error::Error::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let from = before.status()?;
        let after = SendingDomain::record_check(conn, account_id, id, check)?;
        let to = after.status()?;
        if from == to {
            return Ok(None);
        }
        let event_id = Id::new();
        let payload = json!({
            "type": DOMAIN_STATUS_CHANGED,
            "timestamp": clock::now(),
            "data": {
                "event_id": event_id,
                "sending_domain_id": after.id,
                "domain": after.domain,
                "old_status": from.as_str(),
                "new_status": to.as_str(),
                "records": after.last_check.as_ref().map(|c| c.0.clone()),
                "checked_at": after.checked_at,
            }
        });
        let deliveries: Vec<WebhookDelivery> = Webhook::enabled_of(conn, &[account_id])?
            .iter()
            .filter(|w| w.wants(DOMAIN_STATUS_CHANGED))
            .map(|w| {
                WebhookDelivery::for_account_event(
                    w,
                    event_id,
                    DOMAIN_STATUS_CHANGED,
                    payload.clone(),
                )
            })
            .collect();
        WebhookDelivery::queue_many(conn, &deliveries, Priority::DISPATCH)?;
        Ok(Some(StatusChange { from, to }))
    })
}
