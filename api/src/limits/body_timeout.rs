//! Cuts request bodies that take longer than `MAILROOM_BODY_TIMEOUT_SECS` to arrive.
//!
//! A client that sends its headers and then a byte now and then holds a connection and a
//! worker's attention for as long as it likes (slowloris). The request head has its own
//! timeout (actix's, 5 s); this one bounds the body: whatever reads it gets an error at the
//! deadline, and the answer is 408 `request_timeout` with `Connection: close`, so the
//! connection goes too. Requests without a body pass untouched.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use actix_web::middleware::Next;
use actix_web::web::{Bytes, Data};
use actix_web::{HttpMessage, ResponseError, http::ConnectionType};
use futures_util::Stream;

use crate::problem::ApiError;
use crate::state::AppState;

/// The middleware: gives the body a deadline, and answers 408 when it passed.
pub async fn cut_slow_bodies(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let has_body = req.headers().contains_key(TRANSFER_ENCODING)
        || req
            .headers()
            .get(CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    let timeout = req
        .app_data::<Data<AppState>>()
        .map(|state| state.settings.limits.body_timeout);
    let (true, Some(timeout)) = (has_body, timeout) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let expired = Arc::new(AtomicBool::new(false));
    let body = Deadline {
        inner: req.take_payload(),
        deadline: Box::pin(tokio::time::sleep(timeout)),
        timeout,
        expired: Arc::clone(&expired),
    };
    req.set_payload(Payload::Stream {
        payload: Box::pin(body),
    });
    let response = next.call(req).await?.map_into_boxed_body();
    if !expired.load(Ordering::Relaxed) {
        return Ok(response);
    }
    let mut cut = ApiError::RequestTimeout(timeout).error_response();
    cut.head_mut().set_connection_type(ConnectionType::Close);
    Ok(response.into_response(cut))
}

/// A body stream that fails at its deadline.
struct Deadline {
    inner: Payload,
    deadline: Pin<Box<tokio::time::Sleep>>,
    timeout: Duration,
    expired: Arc<AtomicBool>,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired.load(Ordering::Relaxed) {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = Pin::new(&mut self.inner).poll_next(cx) {
            return Poll::Ready(item);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.expired.store(true, Ordering::Relaxed);
            let secs = self.timeout.as_secs();
            return Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("the request body did not arrive within {secs} s"),
            )))));
        }
        Poll::Pending
    }
}
