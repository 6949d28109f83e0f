//! Request extractors whose failures are problem+json answers.

mod json;
mod query;
mod raw_message;

pub use json::{ApiJson, BodyDigest, object, parse_json, payload_error};
pub use query::{ApiQuery, parse_query, path_error};
pub use raw_message::{MESSAGE_TYPES, RawMessage};
