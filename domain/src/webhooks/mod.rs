//! Outgoing webhooks: an account's endpoints, the deliveries of its events to them, how a
//! delivery is signed and where it may be sent.
//!
//! - `endpoint` owns the endpoints (URL, event types, enabled, secret and its rotation);
//! - `fan_out` turns recorded events into deliveries, in the events' own transaction;
//! - `delivery` is the delivery log the webhook worker works through and the API shows;
//! - `signature` signs a delivery per Standard Webhooks, so receivers
//!   can verify it with an off-the-shelf library, and supports secret rotation;
//! - `target` keeps endpoints pointed at the public internet.

mod delivery;
mod endpoint;
mod fan_out;
mod sealed;
mod signature;
mod target;

pub use delivery::{
    AttemptRecord, DeliveryStatus, TEST_EVENT_TYPE, WebhookDelivery, event_payload,
};
pub use endpoint::{
    ALL_EVENT_TYPES, AllowPrivate, NewWebhook, Webhook, WebhookChanges, WebhookWithSecret,
    clean_event_types,
};
pub use fan_out::fan_out;
pub use sealed::SecretBox;

pub use signature::{
    SecretError, WEBHOOK_ID_HEADER, WEBHOOK_SIGNATURE_HEADER, WEBHOOK_TIMESTAMP_HEADER,
    WebhookSecret, sign, signature_header, verify,
};
pub use target::{
    EndpointError, MAX_ENDPOINT_URL_LEN, check_endpoint_url, check_endpoint_url_with,
    is_public_address,
};
