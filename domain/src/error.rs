//! The domain's one error type. Rules return the business outcome (`NotFound`, `Conflict`,
//! `Invalid`, …); the store maps driver failures onto it, so callers never match on diesel.
//! The API turns each variant into its problem+json answer.

use crate::contacts::sensitive::SensitiveKind;

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// JSON path of the field, e.g. `email` or `properties.birthday`.
    pub field: String,
    /// What is wrong, for a human.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The resource does not exist in the caller's account.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request collides with existing state (a duplicate email, say).
    #[error("{0}")]
    Conflict(String),
    /// The input breaks a rule; each field says which.
    #[error("validation failed")]
    Invalid(Vec<FieldError>),
    /// A value looks like a payment card or national identifier. The value itself is
    /// deliberately absent so that it can never reach a log.
    #[error("property `{field}` looks like a {}", kind.as_str())]
    SensitiveData { field: String, kind: SensitiveKind },
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The address belongs to a person whose data was erased at their request: it is not
    /// added again unless the person consents anew.
    #[error("{0}")]
    SubjectErased(String),
    /// The account is suspended by the operator: it sends nothing (the reason says why).
    #[error("the account is suspended: {0}")]
    Suspended(String),
    /// One of the account's sending windows is full until `until`.
    #[error("the account's sending limit is reached until {until}")]
    QuotaExceeded {
        until: crate::store::sql_types::Timestamp,
    },
    /// A From address whose domain the account has not verified (`field` names it).
    #[error("{field}: {domain} is not a verified sending domain of this account")]
    SenderDomainUnverified { field: String, domain: String },
    /// The database cannot be reached.
    #[error("{0}")]
    Unavailable(String),
    /// Configuration is missing or wrong.
    #[error("configuration: {0}")]
    Config(String),
    /// Anything unexpected; logged, never shown.
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid(vec![FieldError::new(field, message)])
    }
}

impl From<FieldError> for Error {
    fn from(e: FieldError) -> Self {
        Error::Invalid(vec![e])
    }
}

impl From<diesel::result::Error> for Error {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind as Kind, Error as D};
        match e {
            D::NotFound => Error::NotFound("resource"),
            D::DatabaseError(Kind::UniqueViolation, _) => {
                Error::Conflict("the resource already exists".into())
            }
            D::DatabaseError(Kind::ClosedConnection | Kind::UnableToSendCommand, info) => {
                Error::Unavailable(format!("database connection lost: {}", info.message()))
            }
            D::DatabaseError(Kind::Unknown, ref info)
                if info.message().contains("database is locked")
                    || info.message().contains("terminating connection") =>
            {
                Error::Unavailable(info.message().to_owned())
            }
            other => Error::Internal(other.to_string()),
        }
    }
}

impl From<r2d2::Error> for Error {
    fn from(e: r2d2::Error) -> Self {
        Error::Unavailable(format!("database unavailable: {e}"))
    }
}
