//! Messages that are created together with the job that delivers them (the outbox rule:
//! the message exists exactly when its delivery job does).

use super::message::{Message, MessageKind, NewMessage};
use crate::error::Result;
use crate::jobs::{Enqueue, Job, JobRow, Priority};
use crate::store::DbConnection;
use crate::store::sql_types::Id;

/// Creates a message with its delivery job; call inside the transaction of the change
/// that causes it.
pub fn queue(
    conn: &mut DbConnection,
    account_id: Id,
    kind: MessageKind,
    new: NewMessage,
    options: Enqueue,
) -> Result<Message> {
    let message = Message::create(conn, account_id, kind, new)?;
    let options = Enqueue {
        account: Some(account_id),
        ..options
    };
    JobRow::enqueue(
        conn,
        &Job::DeliverMessage {
            message_id: message.id,
        },
        options,
    )?;
    Ok(message)
}

/// Queues a message for delivery ahead of campaign work (tests, transactional mail).
pub fn queue_urgent(
    conn: &mut DbConnection,
    account_id: Id,
    kind: MessageKind,
    new: NewMessage,
) -> Result<Message> {
    let options = Enqueue {
        priority: Priority::URGENT,
        ..Enqueue::default()
    };
    queue(conn, account_id, kind, new, options)
}

/// Sends the double opt-in email of a pending member.
pub fn request_confirmation(
    conn: &mut DbConnection,
    account_id: Id,
    list_id: Id,
    contact_id: Id,
    email: &str,
    name: Option<String>,
) -> Result<Message> {
    queue_urgent(
        conn,
        account_id,
        MessageKind::Confirmation,
        NewMessage {
            contact_id: Some(contact_id),
            list_id: Some(list_id),
            to_email: email.to_owned(),
            to_name: name,
            ..NewMessage::default()
        },
    )
}
