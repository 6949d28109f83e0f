//! Messages and where they end up when there is no relay (the sandbox mailbox).

mod message;
pub mod outbox;
mod sandbox;

pub use message::{Message, MessageKind, MessageStatus, NewMessage};
pub use sandbox::{MessageHeader, SandboxMessage, visible_kinds};
