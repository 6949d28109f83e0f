//! The audit log: an append-only record of who did what to which resource, when and from
//! where — every change to personal data, every export, every data-subject request step,
//! and every read by the operator's support staff. Entries name resources by id and
//! changes by field name, never by value, so the log itself holds no one's address; an
//! erasure replaces the erased person's ids in it by a pseudonym.

mod entry;
mod query;

pub use entry::{Actor, ActorKind, AuditEvent, AuditRecord, record};
pub use query::AuditQuery;
