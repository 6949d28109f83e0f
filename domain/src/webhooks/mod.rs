//! Outgoing webhooks: how a delivery is signed and where it may be sent.
//!
//! - `signature` signs a delivery per Standard Webhooks, so receivers
//!   can verify it with an off-the-shelf library, and supports secret rotation;
//! - `target` keeps endpoints pointed at the public internet.

mod fan_out;
mod signature;
mod target;

pub use fan_out::fan_out;

pub use signature::{
    SecretError, WEBHOOK_ID_HEADER, WEBHOOK_SIGNATURE_HEADER, WEBHOOK_TIMESTAMP_HEADER,
    WebhookSecret, sign, signature_header, verify,
};
pub use target::{EndpointError, MAX_ENDPOINT_URL_LEN, check_endpoint_url, is_public_address};
