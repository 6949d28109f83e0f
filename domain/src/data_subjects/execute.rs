//! Carrying out a verified request (the `data_subject_request.execute` job): the request
//! moves to `processing`, its right is exercised, and it is `completed` with what was done —
//! one transaction, audited as the system's doing.

use serde_json::{Value, json};

use super::erasure::erase;
use super::export::SubjectExport;
use super::request::{DataSubjectRequest, RequestKind, RequestStatus};
use super::rights::{object, rectify, restrict};
use super::subject::Subject;
use crate::audit::{self, Actor, ActorKind, AuditRecord};
use crate::error::{Error, Result};
use crate::store::sql_types::{Id, Timestamp};
use crate::store::{DbConnection, ERASURE_TABLES, reclaim_deleted_space};
use crate::suppressions::HashKey;

/// What became of a request the job was asked to carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Execution {
    Completed,
    /// Not verified (never executed), already answered, or gone: nothing was done.
    Skipped(&'static str),
}

pub fn execute(
    conn: &mut DbConnection,
    key: &HashKey,
    request_id: Id,
    now: Timestamp,
) -> Result<Execution> {
    let (execution, erased) =
        conn.write_transaction(|conn| execute_in_transaction(conn, key, request_id, now))?;
    if erased {
        // The erasure is committed; what it deleted also leaves the database's files. A
        // failure here is logged, not retried: the rows are gone, and the next erasure
        // (or the database's own maintenance) reclaims the space.
        if let Err(e) = reclaim_deleted_space(conn, ERASURE_TABLES) {
            tracing::warn!(request = %request_id, error = %e, "reclaiming the space of an erasure failed");
        }
    }
    Ok(execution)
}

/// Carries the request out; answers what became of it and whether it erased someone.
fn execute_in_transaction(
    conn: &mut DbConnection,
    key: &HashKey,
    request_id: Id,
    now: Timestamp,
) -> Result<(Execution, bool)> {
    let Some(request) = DataSubjectRequest::find_any(conn, request_id)? else {
        return Ok((Execution::Skipped("the request no longer exists"), false));
    };
    match request.status() {
        RequestStatus::Received => return Ok((Execution::Skipped("not verified"), false)),
        RequestStatus::Completed | RequestStatus::Rejected => {
            return Ok((Execution::Skipped("already answered"), false));
        }
        RequestStatus::Verified | RequestStatus::Processing => {}
    }
    let request = DataSubjectRequest::start(conn, &request, now)?;
    let subject = Subject::of(conn, key, &request)?;
    let erases = subject.is_some() && request.kind() == RequestKind::Erasure;
    let outcome = match (&subject, request.kind()) {
        // Erased since it was made: nothing is left to act on.
        (None, _) => json!({"subject_erased": true}),
        (Some(subject), RequestKind::Access | RequestKind::Portability) => {
            let export = SubjectExport::produce(conn, &request, subject, now)?;
            json!({
                "export_bytes": export.size_bytes,
                "contact_found": subject.contact.is_some(),
            })
        }
        (Some(subject), RequestKind::Erasure) => {
            let done = erase(conn, request.account_id, key, subject, now)?;
            serde_json::to_value(done).unwrap_or(Value::Null)
        }
        (Some(subject), RequestKind::Rectification) => {
            let changes = request
                .changes
                .as_ref()
                .and_then(|c| c.0.as_object().cloned())
                .unwrap_or_default();
            // A change the data no longer allows (the new address is another contact's,
            // a property was deleted since) is reported, not retried for ever.
            match rectify(conn, subject, &changes) {
                Ok(done) => done,
                Err(e @ (Error::Invalid(_) | Error::Conflict(_) | Error::SensitiveData { .. })) => {
                    json!({"applied": false, "reason": e.to_string()})
                }
                Err(e) => return Err(e),
            }
        }
        (Some(subject), RequestKind::Restriction) => restrict(conn, subject, now)?,
        (Some(subject), RequestKind::Objection) => {
            object(conn, request.account_id, key, subject, request.id)?
        }
    };
    DataSubjectRequest::complete(conn, &request, outcome.clone(), now)?;
    audit::record(
        conn,
        request.account_id,
        &Actor {
            kind: ActorKind::System,
            id: None,
            ip: None,
        },
        AuditRecord::new(
            "data_subject_request.completed",
            "data_subject_request",
            Some(request.id),
        )
        .with_details(json!({"kind": request.kind, "outcome": outcome})),
    )?;
    Ok((Execution::Completed, erases))
}
