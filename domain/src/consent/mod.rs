//! The consent ledger: append-only evidence of what a contact agreed to or withdrew, and
//! the state that follows from it.
//!
//! Each record names a purpose (`marketing_email`, `tracking`, …), a status (granted or
//! withdrawn) and how it was obtained (method, source, IP, user agent, policy version,
//! free-form evidence). Records are never updated or deleted; the current state of a
//! purpose is its latest **account-wide** record (`list_id` null). A record with a
//! `list_id` documents one list's subscription or unsubscription and leaves the
//! account-wide state alone.

mod record;
mod rules;

pub use record::{ConsentRecord, ConsentState, ConsentStatus, NewConsent};
pub use rules::{is_identifier, methods, nested_fields, purposes};
