//! Data-subject requests: the GDPR rights of a person whose data an account holds —
//! access, portability, rectification, erasure, restriction and objection — each tracked
//! from receipt to its answer, due 30 days after receipt.
//!
//! A request is recorded (`request`), verified or rejected by the account, and carried out
//! by a job (`execute`): an export of everything about the person (`export`), their
//! erasure from every table (`erasure`), or a change to their contact (`rights`).

mod erasure;
mod execute;
mod export;
mod request;
mod rights;
mod subject;

pub use erasure::{ERASED_PREFIX, ErasureOutcome, erase, pseudonym};
pub use execute::{Execution, execute};
pub use export::{FORMAT as EXPORT_FORMAT, SubjectExport};
pub use request::{
    DUE_SOON_DAYS, DataSubjectRequest, NewRequest, RESPONSE_DAYS, RequestFilter, RequestKind,
    RequestStatus, RequestSummary, Step, Verification, transition,
};
pub use rights::{METHOD as CONSENT_METHOD, lift_restriction};
pub use subject::Subject;
