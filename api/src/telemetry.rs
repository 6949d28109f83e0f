//! Logs: structured `tracing` events, one span per request carrying its id.
//!
//! Request lines name the matched route pattern, never the raw path or query, so that
//! addresses in URLs (`?email=`) stay out of the logs; handlers log emails masked.

use std::time::Instant;

use actix_web::HttpMessage;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use mailroom_domain::Id;
use mailroom_domain::config::LogFormat;
use tracing::Instrument;
use tracing_subscriber::EnvFilter;

use crate::problem::{ApiError, Problem};

/// The id of the current request, in request extensions.
#[derive(Debug, Clone, Copy)]
pub struct RequestId(pub Id);

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Gives each request an id (span field and `x-request-id` header), logs its outcome, and
/// makes every problem answer carry it (and a 500 nothing else).
pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let request_id = Id::new();
    req.extensions_mut().insert(RequestId(request_id));
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %req.method(),
        route = tracing::field::Empty,
        account_id = tracing::field::Empty,
    );
    let started = Instant::now();
    let outcome = next.call(req).instrument(span.clone()).await;
    let mut response = match outcome {
        Ok(res) => res.map_into_boxed_body(),
        Err(e) => return Err(e),
    };
    let status = response.status();
    // Matching the pattern again costs a walk of the router: only when it is logged.
    if !span.is_disabled()
        && let Some(pattern) = response.request().match_pattern()
    {
        span.record("route", pattern.as_str());
    }
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        let mut problem = ApiError::Internal(String::new()).problem();
        problem.request_id = Some(request_id.to_string());
        response = response.into_response(problem.into_response(status));
    } else {
        let problem = response.response().extensions().get::<Problem>().cloned();
        if let Some(mut problem) = problem {
            // Every problem names its request, so a client can quote it to support.
            problem.request_id = Some(request_id.to_string());
            if let Ok(body) = serde_json::to_vec(&problem) {
                response = response.map_body(|_, _| BoxBody::new(body));
            }
        }
    }
    crate::limits::add_rate_limit_headers(&mut response);
    if let Ok(value) = HeaderValue::from_str(&request_id.to_string()) {
        response.headers_mut().insert(REQUEST_ID.clone(), value);
    }
    span.in_scope(|| {
        tracing::info!(
            status = status.as_u16(),
            latency_ms = started.elapsed().as_millis() as u64,
            "request finished"
        )
    });
    Ok(response)
}
