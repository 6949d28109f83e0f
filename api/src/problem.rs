//! Errors as RFC 9457 `application/problem+json`, each with a stable machine `code`.
//!
//! Handlers return [`ApiError`]; domain errors convert into it. Use `Internal` only for
//! what no client can fix: its cause is logged with the request id and the body carries
//! nothing but that id (see `telemetry::request_context`).

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use mailroom_domain::contacts::sensitive::SensitiveKind;
use mailroom_domain::{Error as DomainError, FieldError};
use serde::Serialize;

use crate::limits::RateLimitHeaders;
use crate::limits::whole_seconds;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// The body of every error answer: an RFC 9457 problem document with a stable `code`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "type": "urn:mailroom:problem:validation_failed",
    "title": "Validation failed",
    "status": 422,
    "code": "validation_failed",
    "detail": "email is not a valid email address: missing @",
    "errors": [{"field": "email", "message": "is not a valid email address: missing @"}],
    "request_id": "01970f6e-8d3c-7a51-9a1e-2f4c3b5d6e7f"
}))]
pub struct Problem {
    /// A URI naming the problem type; `urn:mailroom:problem:<code>`.
    #[serde(rename = "type")]
    #[schema(format = Uri)]
    pub problem_type: String,
    /// A short summary of the problem type.
    pub title: String,
    /// The HTTP status of the answer.
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    /// Stable, machine-readable: `validation_failed`, `not_found`, `conflict`, …
    pub code: String,
    /// What went wrong with this request, for a human.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub detail: Option<String>,
    /// For `validation_failed`: one entry per invalid field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
    pub errors: Vec<FieldError>,
    /// For `sensitive_data_rejected`: the field refused (its value is never echoed); for
    /// `render_budget_exceeded`: the template part whose render used the budget up; for
    /// `sender_domain_unverified`: the field holding the From address.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub field: Option<String>,
    /// The id of the request, also in the `x-request-id` header; quote it to support.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, format = Uuid)]
    pub request_id: Option<String>,
}

impl Problem {
    /// The answer carrying this problem. The problem also rides in the response's
    /// extensions, so that `telemetry::request_context` can add the request id to it.
    pub fn into_response(self, status: StatusCode) -> HttpResponse {
        let mut response = HttpResponse::build(status);
        response.content_type(PROBLEM_JSON);
        let mut response = response.json(&self);
        response.extensions_mut().insert(self);
        response
    }
}

/// A request over a rate limit: when to come back, and the limit's headers where the
/// limit is one a client can pace itself by (the per-key limit).
#[derive(Debug, Clone)]
pub struct RateLimited {
    /// What the client sent too much of, for the detail: "attempts from this client
    /// address".
    pub limit: &'static str,
    pub retry_after: std::time::Duration,
    pub headers: Option<RateLimitHeaders>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("sensitive data in {field}")]
    SensitiveData { field: String, kind: SensitiveKind },
    #[error("{0}")]
    SubjectErased(String),
    /// A From address whose domain the account has not verified: `field` names it.
    #[error("{field}: unverified sending domain {domain}")]
    SenderDomainUnverified { field: String, domain: String },
    /// A request's rendering budget ran out: `field` names the template part, `detail`
    /// the recipient and which budget.
    #[error("render budget exceeded at {field}: {detail}")]
    RenderBudget { field: String, detail: String },
    #[error("rate limited")]
    RateLimited(RateLimited),
    /// The operator suspended the account: it sends nothing (the detail gives the reason).
    #[error("account suspended: {0}")]
    AccountSuspended(String),
    /// One of the account's sending windows is full until the time given.
    #[error("sending limit reached")]
    QuotaExceeded {
        retry_after: std::time::Duration,
        until: mailroom_domain::Timestamp,
    },
    #[error("the request body did not arrive in time")]
    RequestTimeout(std::time::Duration),
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// DNS could not answer a lookup the request needs (a timeout, a server failure):
    /// nothing was recorded, and asking again later may succeed.
    #[error("DNS lookup failed: {0}")]
    DnsUnavailable(String),
    /// Too much work under way to take this request now (the detail says which).
    #[error("busy: {0}")]
    Busy(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// Every code this API can answer with. A test checks each one is reachable.
pub const CODES: &[&str] = &[
    "validation_failed",
    "malformed_request",
    "unsupported_media_type",
    "payload_too_large",
    "not_found",
    "method_not_allowed",
    "conflict",
    "unauthorized",
    "forbidden",
    "sensitive_data_rejected",
    "subject_erased",
    "sender_domain_unverified",
    "render_budget_exceeded",
    "rate_limited",
    "account_suspended",
    "quota_exceeded",
    "request_timeout",
    "service_unavailable",
    "internal_error",
];

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::new(field, message)])
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Validation(_) => "validation_failed",
            ApiError::Malformed(_) => "malformed_request",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::SensitiveData { .. } => "sensitive_data_rejected",
            ApiError::SubjectErased(_) => "subject_erased",
            ApiError::SenderDomainUnverified { .. } => "sender_domain_unverified",
            ApiError::RenderBudget { .. } => "render_budget_exceeded",
            ApiError::Unavailable(_) | ApiError::DnsUnavailable(_) | ApiError::Busy(_) => {
                "service_unavailable"
            }
            ApiError::RateLimited(_) => "rate_limited",
            ApiError::AccountSuspended(_) => "account_suspended",
            ApiError::QuotaExceeded { .. } => "quota_exceeded",
            ApiError::RequestTimeout(_) => "request_timeout",
            ApiError::Internal(_) => "internal_error",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::Validation(_) => "Validation failed",
            ApiError::Malformed(_) => "Malformed request",
            ApiError::UnsupportedMediaType(_) => "Unsupported media type",
            ApiError::PayloadTooLarge => "Payload too large",
            ApiError::NotFound(_) => "Not found",
            ApiError::MethodNotAllowed(_) => "Method not allowed",
            ApiError::Conflict(_) => "Conflict",
            ApiError::Unauthorized(_) => "Unauthorized",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::SensitiveData { .. } => "Sensitive data rejected",
            ApiError::SubjectErased(_) => "Subject erased",
            ApiError::SenderDomainUnverified { .. } => "Sender domain unverified",
            ApiError::RenderBudget { .. } => "Render budget exceeded",
            ApiError::Unavailable(_) | ApiError::DnsUnavailable(_) | ApiError::Busy(_) => {
                "Service unavailable"
            }
            ApiError::RateLimited(_) => "Too many requests",
            ApiError::AccountSuspended(_) => "Account suspended",
            ApiError::QuotaExceeded { .. } => "Sending limit reached",
            ApiError::RequestTimeout(_) => "Request timeout",
            ApiError::Internal(_) => "Internal server error",
        }
    }

    pub fn problem(&self) -> Problem {
        let detail = match self {
            ApiError::Validation(errors) => Some(
                errors
                    .iter()
                    .map(|e| format!("{} {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            ApiError::Malformed(d)
            | ApiError::UnsupportedMediaType(d)
            | ApiError::NotFound(d)
            | ApiError::MethodNotAllowed(d)
            | ApiError::Conflict(d)
            | ApiError::Unauthorized(d)
            | ApiError::Forbidden(d)
            | ApiError::SubjectErased(d)
            | ApiError::Busy(d) => Some(d.clone()),
            ApiError::RenderBudget { detail, .. } => Some(detail.clone()),
            ApiError::SenderDomainUnverified { field, domain } => Some(format!(
                "{field}: {domain} is not a verified sending domain of this account; add it at POST /v1/sending-domains, publish its records and verify it"
            )),
            ApiError::PayloadTooLarge => {
                Some("the request body is larger than this server accepts".into())
            }
            ApiError::SensitiveData { field, kind } => Some(format!(
                "{field} looks like a {} and was not stored: Mailroom does not keep payment card numbers or government identifiers",
                kind.as_str().replace('_', " ")
            )),
            ApiError::RateLimited(limited) => Some(format!(
                "too many {}; try again in {} s",
                limited.limit,
                whole_seconds(limited.retry_after).max(1)
            )),
            ApiError::AccountSuspended(reason) => Some(format!(
                "the account is suspended and sends nothing until the operator resumes it: {reason}"
            )),
            ApiError::QuotaExceeded { until, .. } => Some(format!(
                "the account's sending limit is reached; sending resumes at {until}"
            )),
            ApiError::RequestTimeout(timeout) => Some(format!(
                "the request body did not arrive within {} s",
                timeout.as_secs()
            )),
            ApiError::Unavailable(_) => {
                Some("the database is unreachable; try again shortly".into())
            }
            ApiError::DnsUnavailable(error) => Some(format!(
                "the records could not be looked up ({error}); nothing was recorded, try again shortly"
            )),
            ApiError::Internal(_) => None,
        };
        Problem {
            problem_type: format!("urn:mailroom:problem:{}", self.code()),
            title: self.title().into(),
            status: self.status_code().as_u16(),
            code: self.code().into(),
            detail,
            errors: match self {
                ApiError::Validation(errors) => errors.clone(),
                _ => Vec::new(),
            },
            field: match self {
                ApiError::SensitiveData { field, .. }
                | ApiError::RenderBudget { field, .. }
                | ApiError::SenderDomainUnverified { field, .. } => Some(field.clone()),
                _ => None,
            },
            request_id: None,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Validation(_)
            | ApiError::SensitiveData { .. }
            | ApiError::SubjectErased(_)
            | ApiError::SenderDomainUnverified { .. }
            | ApiError::RenderBudget { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Malformed(_) => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::AccountSuspended(_) => StatusCode::FORBIDDEN,
            ApiError::Unavailable(_) | ApiError::DnsUnavailable(_) | ApiError::Busy(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::RateLimited(_) | ApiError::QuotaExceeded { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Internal(cause) => tracing::error!(%cause, "request failed"),
            ApiError::Unavailable(cause) => tracing::warn!(%cause, "database unavailable"),
            _ => {}
        }
        let mut response = self.problem().into_response(self.status_code());
        if let ApiError::Unauthorized(_) = self {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let ApiError::Unavailable(_) | ApiError::DnsUnavailable(_) | ApiError::Busy(_) = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        if let ApiError::QuotaExceeded { retry_after, .. } = self {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(whole_seconds(*retry_after).max(1)),
            );
        }
        if let ApiError::RateLimited(limited) = self {
            let headers = response.headers_mut();
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(whole_seconds(limited.retry_after).max(1)),
            );
            if let Some(state) = &limited.headers {
                for (name, value) in state.pairs() {
                    headers.insert(name, value);
                }
            }
        }
        response
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::NotFound(what) => ApiError::NotFound(format!("{what} not found")),
            DomainError::Conflict(m) => ApiError::Conflict(m),
            DomainError::Invalid(errors) => ApiError::Validation(errors),
            DomainError::SensitiveData { field, kind } => ApiError::SensitiveData { field, kind },
            DomainError::Forbidden(m) => ApiError::Forbidden(m),
            DomainError::SubjectErased(m) => ApiError::SubjectErased(m),
            DomainError::SenderDomainUnverified { field, domain } => {
                ApiError::SenderDomainUnverified { field, domain }
            }
            DomainError::Unavailable(m) => ApiError::Unavailable(m),
            DomainError::Suspended(reason) => ApiError::AccountSuspended(reason),
            DomainError::QuotaExceeded { until } => ApiError::QuotaExceeded {
                retry_after: (until.0 - mailroom_domain::clock::now().0)
                    .to_std()
                    .unwrap_or_default(),
                until,
            },
            DomainError::Config(m) | DomainError::Internal(m) => ApiError::Internal(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_a_listed_code_and_every_code_a_variant() {
        let variants = [
            ApiError::Validation(vec![]),
            ApiError::Malformed(String::new()),
            ApiError::UnsupportedMediaType(String::new()),
            ApiError::PayloadTooLarge,
            ApiError::NotFound(String::new()),
            ApiError::MethodNotAllowed(String::new()),
            ApiError::Conflict(String::new()),
            ApiError::Unauthorized(String::new()),
            ApiError::Forbidden(String::new()),
            ApiError::SensitiveData {
                field: String::new(),
                kind: SensitiveKind::PaymentCard,
            },
            ApiError::SubjectErased(String::new()),
            ApiError::SenderDomainUnverified {
                field: String::new(),
                domain: String::new(),
            },
            ApiError::RenderBudget {
                field: String::new(),
                detail: String::new(),
            },
            ApiError::RateLimited(RateLimited {
                limit: "requests",
                retry_after: std::time::Duration::from_secs(1),
                headers: None,
            }),
            ApiError::AccountSuspended(String::new()),
            ApiError::QuotaExceeded {
                retry_after: std::time::Duration::from_secs(1),
                until: mailroom_domain::clock::now(),
            },
            ApiError::RequestTimeout(std::time::Duration::from_secs(30)),
            ApiError::Unavailable(String::new()),
            ApiError::DnsUnavailable(String::new()),
            ApiError::Busy(String::new()),
            ApiError::Internal(String::new()),
        ];
        let mut codes: Vec<&str> = variants.iter().map(ApiError::code).collect();
        codes.sort();
        codes.dedup();
        let mut listed = CODES.to_vec();
        listed.sort();
        assert_eq!(codes, listed);
    }

    #[test]
    fn an_internal_error_shows_nothing_of_its_cause() {
        let problem = ApiError::Internal("password=hunter2 at db.internal".into()).problem();
        let text = serde_json::to_string(&problem).unwrap();
        assert!(!text.contains("hunter2"));
        assert!(!text.contains("db.internal"));
    }
}
