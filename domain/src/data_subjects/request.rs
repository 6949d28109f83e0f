//! A data-subject request: what the person asked for, its deadline, and where it stands.
//!
//! States: `received → verified → processing → completed`, or `rejected` from `received` or
//! `verified` (with a reason). Only a verified request is ever executed; the answer is due
//! 30 days after receipt (GDPR art. 12(3)).

use chrono::Duration;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::contacts::{EmailAddress, PropertyDefinition, check_properties};
use crate::error::{Error, Result};
use crate::pagination::{Page, PageRequest};
use crate::schema::data_subject_requests;
use crate::store::DbConnection;
use crate::store::sql_types::{Id, Json, Timestamp};
use crate::suppressions::{HashKey, email_hash};

/// Days the account has to answer, counted from receipt.
pub const RESPONSE_DAYS: i64 = 30;
/// Requests due within this many days are "due soon".
pub const DUE_SOON_DAYS: i64 = 7;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// A copy of everything held about the person (art. 15).
    Access,
    /// The same export, machine-readable, for taking elsewhere (art. 20).
    Portability,
    /// Correct the contact's data with the request's `changes` (art. 16).
    Rectification,
    /// Forget the person everywhere, keeping only a keyed hash of the address (art. 17).
    Erasure,
    /// Keep the data, but neither mail nor track the person until lifted (art. 18).
    Restriction,
    /// Stop marketing: withdraw marketing consent and suppress the address (art. 21).
    Objection,
}

impl RequestKind {
    pub const ALL: [RequestKind; 6] = [
        RequestKind::Access,
        RequestKind::Portability,
        RequestKind::Rectification,
        RequestKind::Erasure,
        RequestKind::Restriction,
        RequestKind::Objection,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Access => "access",
            RequestKind::Portability => "portability",
            RequestKind::Rectification => "rectification",
            RequestKind::Erasure => "erasure",
            RequestKind::Restriction => "restriction",
            RequestKind::Objection => "objection",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether executing it produces an export to download.
    pub fn exports(self) -> bool {
        matches!(self, RequestKind::Access | RequestKind::Portability)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    Received,
    Verified,
    Processing,
    Completed,
    Rejected,
}

impl RequestStatus {
    pub const ALL: [RequestStatus; 5] = [
        RequestStatus::Received,
        RequestStatus::Verified,
        RequestStatus::Processing,
        RequestStatus::Completed,
        RequestStatus::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Received => "received",
            RequestStatus::Verified => "verified",
            RequestStatus::Processing => "processing",
            RequestStatus::Completed => "completed",
            RequestStatus::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Answered: completed or rejected.
    pub fn is_closed(self) -> bool {
        matches!(self, RequestStatus::Completed | RequestStatus::Rejected)
    }
}

/// A step of a request's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Verify,
    Reject,
    Start,
    Complete,
}

/// The state a step leads to, or why it cannot be taken from `from`.
pub fn transition(from: RequestStatus, step: Step) -> Result<RequestStatus> {
    use RequestStatus::*;
    match (from, step) {
        (Received, Step::Verify) => Ok(Verified),
        (Received | Verified, Step::Reject) => Ok(Rejected),
        // A job that died while processing starts again where it was.
        (Verified | Processing, Step::Start) => Ok(Processing),
        (Processing, Step::Complete) => Ok(Completed),
        (Received, Step::Start | Step::Complete) => Err(Error::Conflict(
            "the request has not been verified; verify the requester's identity first".into(),
        )),
        (from, step) => Err(Error::Conflict(format!(
            "a request that is {} cannot be {}",
            from.as_str(),
            match step {
                Step::Verify => "verified",
                Step::Reject => "rejected",
                Step::Start => "started",
                Step::Complete => "completed",
            }
        ))),
    }
}

/// How the account checked that the requester is the person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Verification {
    /// e.g. `email_link`, `signed_letter`, `account_login`.
    #[schema(min_length = 1, max_length = 64)]
    pub method: String,
    /// Free text, kept with the request (not personal data of the subject, please).
    #[schema(max_length = 2000)]
    pub note: Option<String>,
}

const METHOD_MAX: usize = 64;
const NOTE_MAX: usize = 2000;

impl Verification {
    /// Checks the texts; `within` names the body field holding the verification (empty
    /// when it is the whole body), so that errors name `verification.method` or `method`.
    fn validated(self, within: &str) -> Result<Verification> {
        let field = |name: &str| match within {
            "" => name.to_owned(),
            within => format!("{within}.{name}"),
        };
        let method = crate::text::required(&field("method"), &self.method, METHOD_MAX)?;
        let note = crate::text::optional(&field("note"), self.note, NOTE_MAX)?;
        Ok(Verification { method, note })
    }
}

/// A request as received.
#[derive(Debug, Clone)]
pub struct NewRequest {
    pub kind: RequestKind,
    pub subject: EmailAddress,
    /// When the account received it; the deadline runs from here. Defaults to now.
    pub received_at: Option<Timestamp>,
    /// Given when the identity was already checked: the request is verified at once.
    pub verification: Option<Verification>,
    /// Rectification only: `email`, `name` and/or `properties` (merge-patch).
    pub changes: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = data_subject_requests)]
pub struct DataSubjectRequest {
    pub id: Id,
    pub account_id: Id,
    pub kind: String,
    pub status: String,
    pub subject_email: Option<String>,
    pub subject_hash: String,
    pub verification: Option<Json>,
    pub changes: Option<Json>,
    pub outcome: Option<Json>,
    pub rejection_reason: Option<String>,
    pub received_at: Timestamp,
    pub due_at: Timestamp,
    pub verified_at: Option<Timestamp>,
    pub processing_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
    pub rejected_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Filters of the listing.
#[derive(Debug, Clone, Default)]
pub struct RequestFilter {
    pub status: Option<RequestStatus>,
    pub kind: Option<RequestKind>,
    /// Open requests past their due date.
    pub overdue: bool,
    /// Open requests due within [`DUE_SOON_DAYS`] (not yet overdue).
    pub due_soon: bool,
}

/// Counts of an account's open requests by deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RequestSummary {
    /// Not yet completed or rejected.
    pub open: i64,
    /// Open, due within 7 days and not yet overdue.
    pub due_soon: i64,
    /// Open and past their due date.
    pub overdue: i64,
}

const OPEN: [&str; 3] = ["received", "verified", "processing"];

/// The keys a rectification may change.
const RECTIFIABLE: [&str; 3] = ["email", "name", "properties"];

fn check_changes(kind: RequestKind, changes: &Option<Map<String, Value>>) -> Result<()> {
    match (kind, changes) {
        (RequestKind::Rectification, None) => Err(Error::invalid(
            "changes",
            "a rectification needs the changes to make",
        )),
        (RequestKind::Rectification, Some(map)) => {
            if map.is_empty() {
                return Err(Error::invalid("changes", "name at least one change"));
            }
            for (key, value) in map {
                if !RECTIFIABLE.contains(&key.as_str()) {
                    return Err(Error::invalid(
                        format!("changes.{key}"),
                        "only email, name and properties can be rectified",
                    ));
                }
                let fits = match key.as_str() {
                    "email" => value.is_string(),
                    "name" => value.is_string() || value.is_null(),
                    _ => value.is_object(),
                };
                if !fits {
                    return Err(Error::invalid(
                        format!("changes.{key}"),
                        match key.as_str() {
                            "email" => "must be a string",
                            "name" => "must be a string or null",
                            _ => "must be an object",
                        },
                    ));
                }
            }
            if let Some(email) = map.get("email").and_then(Value::as_str) {
                EmailAddress::parse(email)
                    .map_err(|_| Error::invalid("changes.email", "is not a valid address"))?;
            }
            Ok(())
        }
        (_, Some(_)) => Err(Error::invalid(
            "changes",
            "only a rectification carries changes",
        )),
        (_, None) => Ok(()),
    }
}

impl DataSubjectRequest {
    pub fn kind(&self) -> RequestKind {
        RequestKind::parse(&self.kind).unwrap_or(RequestKind::Access)
    }

    pub fn status(&self) -> RequestStatus {
        RequestStatus::parse(&self.status).unwrap_or(RequestStatus::Received)
    }

    pub fn is_overdue(&self, now: Timestamp) -> bool {
        !self.status().is_closed() && self.due_at.0 < now.0
    }

    pub fn verification(&self) -> Option<Verification> {
        self.verification
            .as_ref()
            .and_then(|v| serde_json::from_value(v.0.clone()).ok())
    }

    /// Records a request; verified at once when `verification` is given.
    pub fn create(
        conn: &mut DbConnection,
        account_id: Id,
        key: &HashKey,
        new: NewRequest,
        now: Timestamp,
    ) -> Result<DataSubjectRequest> {
        let received_at = new.received_at.unwrap_or(now);
        if received_at.0 > now.0 + Duration::minutes(5) {
            return Err(Error::invalid("received_at", "must not be in the future"));
        }
        check_changes(new.kind, &new.changes)?;
        // Properties are checked now (defined, of their type, no card numbers or national
        // identifiers), so that a verified rectification cannot fail later.
        if let Some(Value::Object(properties)) =
            new.changes.as_ref().and_then(|c| c.get("properties"))
        {
            let set: Map<String, Value> = properties
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            check_properties(&PropertyDefinition::schema(conn, account_id)?, &set).map_err(
                |e| match e {
                    Error::Invalid(errors) => Error::Invalid(
                        errors
                            .into_iter()
                            .map(|f| {
                                crate::FieldError::new(format!("changes.{}", f.field), f.message)
                            })
                            .collect(),
                    ),
                    Error::SensitiveData { field, kind } => Error::SensitiveData {
                        field: format!("changes.{field}"),
                        kind,
                    },
                    other => other,
                },
            )?;
        }
        let verification = new
            .verification
            .map(|v| v.validated("verification"))
            .transpose()?;
        let request = DataSubjectRequest {
            id: Id::new(),
            account_id,
            kind: new.kind.as_str().to_owned(),
            status: if verification.is_some() {
                RequestStatus::Verified
            } else {
                RequestStatus::Received
            }
            .as_str()
            .to_owned(),
            subject_hash: email_hash(key, &new.subject),
            subject_email: Some(new.subject.into_inner()),
            verified_at: verification.as_ref().map(|_| now),
            verification: verification.map(|v| Json(serde_json::to_value(v).unwrap_or_default())),
            changes: new.changes.map(|c| Json(Value::Object(c))),
            outcome: None,
            rejection_reason: None,
            received_at,
            due_at: Timestamp(received_at.0 + Duration::days(RESPONSE_DAYS)),
            processing_at: None,
            completed_at: None,
            rejected_at: None,
            created_at: now,
            updated_at: now,
        };
        diesel::insert_into(data_subject_requests::table)
            .values(&request)
            .execute(conn)?;
        Ok(request)
    }

    pub fn find(conn: &mut DbConnection, account_id: Id, id: Id) -> Result<DataSubjectRequest> {
        data_subject_requests::table
            .find(id)
            .filter(data_subject_requests::account_id.eq(account_id))
            .select(DataSubjectRequest::as_select())
            .first(conn)
            .optional()?
            .ok_or(Error::NotFound("data-subject request"))
    }

    /// A request of any account (for the job that executes it).
    pub fn find_any(conn: &mut DbConnection, id: Id) -> Result<Option<DataSubjectRequest>> {
        Ok(data_subject_requests::table
            .find(id)
            .select(DataSubjectRequest::as_select())
            .first(conn)
            .optional()?)
    }

    /// The account's requests, oldest first.
    pub fn list(
        conn: &mut DbConnection,
        account_id: Id,
        filter: &RequestFilter,
        page: &PageRequest,
        now: Timestamp,
    ) -> Result<Page<DataSubjectRequest>> {
        let mut query = data_subject_requests::table
            .filter(data_subject_requests::account_id.eq(account_id))
            .select(DataSubjectRequest::as_select())
            .order(data_subject_requests::id.asc())
            .limit(page.fetch_limit())
            .into_boxed();
        if let Some(status) = filter.status {
            query = query.filter(data_subject_requests::status.eq(status.as_str()));
        }
        if let Some(kind) = filter.kind {
            query = query.filter(data_subject_requests::kind.eq(kind.as_str()));
        }
        if filter.overdue || filter.due_soon {
            query = query.filter(data_subject_requests::status.eq_any(OPEN));
        }
        if filter.overdue {
            query = query.filter(data_subject_requests::due_at.lt(now));
        }
        if filter.due_soon {
            query = query.filter(data_subject_requests::due_at.ge(now)).filter(
                data_subject_requests::due_at.le(Timestamp(now.0 + Duration::days(DUE_SOON_DAYS))),
            );
        }
        if let Some(after) = page.after {
            query = query.filter(data_subject_requests::id.gt(after));
        }
        Ok(Page::from_rows(query.load(conn)?, page, |r| r.id))
    }

    /// Open requests by deadline, for the account (`Some`) or the whole installation.
    pub fn summary(
        conn: &mut DbConnection,
        account_id: Option<Id>,
        now: Timestamp,
    ) -> Result<RequestSummary> {
        let mut query = data_subject_requests::table
            .filter(data_subject_requests::status.eq_any(OPEN))
            .select(data_subject_requests::due_at)
            .into_boxed();
        if let Some(account_id) = account_id {
            query = query.filter(data_subject_requests::account_id.eq(account_id));
        }
        let due: Vec<Timestamp> = query.load(conn)?;
        let soon = now.0 + Duration::days(DUE_SOON_DAYS);
        Ok(RequestSummary {
            open: due.len() as i64,
            due_soon: due.iter().filter(|d| d.0 >= now.0 && d.0 <= soon).count() as i64,
            overdue: due.iter().filter(|d| d.0 < now.0).count() as i64,
        })
    }

    /// Takes a step, checked against the request's current state (under a row lock on
    /// PostgreSQL, so two racing steps cannot both succeed).
    fn step(
        conn: &mut DbConnection,
        request: &DataSubjectRequest,
        step: Step,
        now: Timestamp,
        changes: impl FnOnce(&mut DataSubjectRequest),
    ) -> Result<DataSubjectRequest> {
        let next = transition(request.status(), step)?;
        let mut updated = request.clone();
        updated.status = next.as_str().to_owned();
        updated.updated_at = now;
        match step {
            Step::Verify => updated.verified_at = Some(now),
            Step::Reject => updated.rejected_at = Some(now),
            Step::Start => updated.processing_at = updated.processing_at.or(Some(now)),
            Step::Complete => updated.completed_at = Some(now),
        }
        changes(&mut updated);
        let n = diesel::update(
            data_subject_requests::table
                .find(request.id)
                .filter(data_subject_requests::status.eq(&request.status)),
        )
        .set((
            data_subject_requests::status.eq(&updated.status),
            data_subject_requests::verification.eq(&updated.verification),
            data_subject_requests::rejection_reason.eq(&updated.rejection_reason),
            data_subject_requests::outcome.eq(&updated.outcome),
            data_subject_requests::verified_at.eq(updated.verified_at),
            data_subject_requests::rejected_at.eq(updated.rejected_at),
            data_subject_requests::processing_at.eq(updated.processing_at),
            data_subject_requests::completed_at.eq(updated.completed_at),
            data_subject_requests::updated_at.eq(updated.updated_at),
        ))
        .execute(conn)?;
        if n == 0 {
            return Err(Error::Conflict(
                "the request changed meanwhile; read it again".into(),
            ));
        }
        Ok(updated)
    }

    /// `received → verified`, recording how the identity was checked.
    pub fn verify(
        conn: &mut DbConnection,
        account_id: Id,
        id: Id,
        verification: Verification,
        now: Timestamp,
    ) -> Result<DataSubjectRequest> {
        let verification = verification.validated("")?;
        let request = Self::find(conn, account_id, id)?;
        Self::step(conn, &request, Step::Verify, now, |r| {
            r.verification = Some(Json(
                serde_json::to_value(&verification).unwrap_or_default(),
            ));
        })
    }

    /// `received | verified → rejected`, with the reason given to the requester.
    pub fn reject(
        conn: &mut DbConnection,
        account_id: Id,
        id: Id,
        reason: &str,
        now: Timestamp,
    ) -> Result<DataSubjectRequest> {
        let reason = crate::text::required("reason", reason, 2000)?;
        let reason = reason.as_str();
        let request = Self::find(conn, account_id, id)?;
        Self::step(conn, &request, Step::Reject, now, |r| {
            r.rejection_reason = Some(reason.to_owned());
        })
    }

    /// `verified → processing` (also a processing request whose job is run again).
    pub fn start(
        conn: &mut DbConnection,
        request: &DataSubjectRequest,
        now: Timestamp,
    ) -> Result<DataSubjectRequest> {
        Self::step(conn, request, Step::Start, now, |_| {})
    }

    /// `processing → completed`, with what was done (counts, never personal values).
    pub fn complete(
        conn: &mut DbConnection,
        request: &DataSubjectRequest,
        outcome: Value,
        now: Timestamp,
    ) -> Result<DataSubjectRequest> {
        Self::step(conn, request, Step::Complete, now, |r| {
            r.outcome = Some(Json(outcome));
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RequestStatus::*;

    #[test]
    fn only_a_verified_request_is_executed() {
        assert!(transition(Received, Step::Start).is_err());
        assert!(transition(Received, Step::Complete).is_err());
        assert_eq!(transition(Received, Step::Verify).unwrap(), Verified);
        assert_eq!(transition(Verified, Step::Start).unwrap(), Processing);
        assert_eq!(transition(Processing, Step::Start).unwrap(), Processing);
        assert_eq!(transition(Processing, Step::Complete).unwrap(), Completed);
    }

    #[test]
    fn rejection_is_possible_until_processing_starts() {
        assert_eq!(transition(Received, Step::Reject).unwrap(), Rejected);
        assert_eq!(transition(Verified, Step::Reject).unwrap(), Rejected);
        for from in [Processing, Completed, Rejected] {
            assert!(transition(from, Step::Reject).is_err(), "{from:?}");
        }
    }

    #[test]
    fn closed_requests_take_no_more_steps() {
        for from in [Completed, Rejected] {
            for step in [Step::Verify, Step::Reject, Step::Start, Step::Complete] {
                assert!(transition(from, step).is_err(), "{from:?} {step:?}");
            }
        }
        assert!(transition(Verified, Step::Verify).is_err());
    }

    #[test]
    fn kinds_and_statuses_round_trip() {
        for kind in RequestKind::ALL {
            assert_eq!(RequestKind::parse(kind.as_str()), Some(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        for status in RequestStatus::ALL {
            assert_eq!(RequestStatus::parse(status.as_str()), Some(status));
        }
        assert!(RequestKind::Access.exports() && RequestKind::Portability.exports());
        assert!(!RequestKind::Erasure.exports());
    }

    #[test]
    fn changes_belong_to_rectification_alone_and_are_checked() {
        let map = |v: Value| v.as_object().cloned();
        assert!(check_changes(RequestKind::Rectification, &None).is_err());
        assert!(check_changes(RequestKind::Rectification, &map(serde_json::json!({}))).is_err());
        assert!(
            check_changes(
                RequestKind::Rectification,
                &map(serde_json::json!({"name": "Ada", "properties": {"city": "Paris"}}))
            )
            .is_ok()
        );
        assert!(
            check_changes(
                RequestKind::Rectification,
                &map(serde_json::json!({"email": "nope"}))
            )
            .is_err()
        );
        assert!(
            check_changes(
                RequestKind::Rectification,
                &map(serde_json::json!({"id": "x"}))
            )
            .is_err()
        );
        assert!(
            check_changes(RequestKind::Erasure, &map(serde_json::json!({"name": "x"}))).is_err()
        );
        assert!(check_changes(RequestKind::Erasure, &None).is_ok());
    }

    #[test]
    fn verification_needs_a_method() {
        let v = |m: &str| Verification {
            method: m.into(),
            note: Some("  ".into()),
        };
        assert!(v(" ").validated("verification").is_err());
        let ok = v("email_link").validated("verification").unwrap();
        assert_eq!(ok.note, None);
    }
}
