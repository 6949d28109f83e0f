//! The webhook worker: delivers one event to one endpoint (`webhook.deliver` jobs).
//!
//! An attempt POSTs the delivery's stored payload, signed per Standard Webhooks
//! (`webhook-id` is the delivery's id, the same on every attempt, so receivers can
//! deduplicate), and writes down what came of it. A 2xx answer delivers it; `410 Gone`
//! disables the endpoint; any other answer, a redirect (never followed), a timeout or a
//! refused connection is retried with exponential backoff until the last attempt
//! (`WebhookSettings`). A worker killed mid-attempt loses nothing: its job is delivered
//! again (its lease runs out, or the broker redelivers it).

mod client;

use std::sync::Arc;
use std::time::{Duration, Instant};

use mailroom_domain::config::WebhookSettings;
use mailroom_domain::store::DbConnection;
use mailroom_domain::webhooks::{
    AttemptRecord, DeliveryStatus, TEST_EVENT_TYPE, WEBHOOK_ID_HEADER, WEBHOOK_SIGNATURE_HEADER,
    WEBHOOK_TIMESTAMP_HEADER, Webhook, WebhookDelivery, WebhookSecret, signature_header,
};
use mailroom_domain::{Id, Timestamp, clock};

pub use client::{TargetError, USER_AGENT, WebhookClient, check_literal_host, resolve_checked};

use crate::bus::Delivery;
use crate::context::WorkerContext;
use crate::runner::JobOutcome;

/// How much of a failing answer's body is kept in the delivery log.
const KEPT_BODY_BYTES: usize = 256;

/// What preparation found.
enum Prepared {
    Send(Box<(WebhookDelivery, Webhook)>),
    /// Nothing to send: delivered or closed already, or gone with its endpoint.
    Finished,
}

/// What an attempt got.
enum Answer {
    Status {
        code: u16,
        body: String,
    },
    /// Not sent: the endpoint's address is not one a delivery may connect to.
    Refused,
    TimedOut,
    Failed(String),
}

impl Answer {
    /// A refusal: its details (the host, its addresses, the lookup's error) are logged
    /// for the operator, never written where the account reads.
    fn refused(delivery: &WebhookDelivery, why: &TargetError) -> Answer {
        tracing::debug!(delivery = %delivery.id, reason = %why, "webhook delivery refused");
        Answer::Refused
    }
}

pub async fn run(ctx: &Arc<WorkerContext>, delivery_id: Id, _job: &Delivery) -> JobOutcome {
    let prepared = ctx.db(move |conn| prepare(conn, delivery_id)).await;
    let (delivery, webhook) = match prepared {
        Ok(Prepared::Send(ready)) => *ready,
        Ok(Prepared::Finished) => return JobOutcome::Done,
        Err(e) => return JobOutcome::RetryAfter(Duration::from_secs(5), e.to_string()),
    };
    let settings = &ctx.settings.webhooks;
    let started = Instant::now();
    let answer = attempt(ctx, &delivery, &webhook, settings).await;
    let latency_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
    let verdict = judge(answer, delivery.attempts + 1, latency_ms, settings);
    tracing::info!(
        delivery = %delivery.id,
        webhook = %webhook.id,
        event_type = %delivery.event_type,
        attempt = delivery.attempts + 1,
        status = verdict.record.status.as_str(),
        response_code = ?verdict.record.response_code,
        latency_ms,
        "webhook attempt"
    );
    let (id, webhook_id) = (delivery.id, webhook.id);
    let Verdict {
        record,
        disable,
        outcome,
    } = verdict;
    let written = ctx
        .db(move |conn| {
            conn.write_transaction(|conn| {
                WebhookDelivery::record_attempt(conn, id, &record)?;
                if let Some(reason) = &disable {
                    Webhook::disable(conn, webhook_id, reason)?;
                }
                Ok(())
            })
        })
        .await;
    match written {
        Ok(()) => outcome,
        // The receiver may have it: the next attempt sends it again, with the same id.
        Err(e) => JobOutcome::RetryAfter(Duration::from_secs(5), e.to_string()),
    }
}

fn prepare(conn: &mut DbConnection, id: Id) -> mailroom_domain::Result<Prepared> {
    let Some(delivery) = WebhookDelivery::find_any(conn, id)? else {
        return Ok(Prepared::Finished);
    };
    if delivery.status() != DeliveryStatus::Pending {
        return Ok(Prepared::Finished);
    }
    let Some(webhook) = Webhook::find_any(conn, delivery.webhook_id)? else {
        return Ok(Prepared::Finished);
    };
    // Test deliveries go out to disabled endpoints too: that is how one checks a receiver
    // before enabling it again.
    if !webhook.enabled && delivery.event_type != TEST_EVENT_TYPE {
        WebhookDelivery::close(
            conn,
            id,
            DeliveryStatus::Disabled,
            "the endpoint was disabled before this delivery's turn",
        )?;
        return Ok(Prepared::Finished);
    }
    Ok(Prepared::Send(Box::new((delivery, webhook))))
}

/// Signs and POSTs the payload once.
async fn attempt(
    ctx: &WorkerContext,
    delivery: &WebhookDelivery,
    webhook: &Webhook,
    settings: &WebhookSettings,
) -> Answer {
    let url = match url::Url::parse(&webhook.url) {
        Ok(url) => url,
        Err(e) => return Answer::Failed(format!("the endpoint URL is not valid: {e}")),
    };
    if let Err(refused) = check_literal_host(&url, ctx.webhook_client.allow_private()) {
        return Answer::refused(delivery, &refused);
    }
    let client = match ctx.webhook_client.get() {
        Ok(client) => client,
        Err(e) => return Answer::Failed(e),
    };
    let secrets = match webhook.signing_secrets(clock::now(), &ctx.secret_box) {
        Ok(secrets) => secrets,
        Err(e) => return Answer::Failed(e.to_string()),
    };
    let body = match serde_json::to_vec(&delivery.payload.0) {
        Ok(body) => body,
        Err(e) => return Answer::Failed(format!("the payload cannot be serialised: {e}")),
    };
    let msg_id = delivery.id.to_string();
    let timestamp = chrono::Utc::now().timestamp();
    let signers: Vec<&WebhookSecret> = secrets.iter().collect();
    let signature = signature_header(&signers, &msg_id, timestamp, &body);
    let sent = client
        .post(url)
        .timeout(settings.timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(WEBHOOK_ID_HEADER, msg_id)
        .header(WEBHOOK_TIMESTAMP_HEADER, timestamp.to_string())
        .header(WEBHOOK_SIGNATURE_HEADER, signature)
        .body(body)
        .send()
        .await;
    match sent {
        Ok(mut response) => {
            let code = response.status().as_u16();
            let body = if response.status().is_success() {
                String::new()
            } else {
                first_bytes(&mut response).await
            };
            Answer::Status { code, body }
        }
        Err(e) if e.is_timeout() => Answer::TimedOut,
        Err(e) => match client::refusal_in(&e) {
            Some(refused) => Answer::refused(delivery, refused),
            // The URL may carry the receiver's own token: it stays out of logs and errors.
            None => Answer::Failed(describe(&e.without_url())),
        },
    }
}

/// The start of a failing answer's body, for the delivery log.
async fn first_bytes(response: &mut reqwest::Response) -> String {
    let mut kept = Vec::new();
    while kept.len() < KEPT_BODY_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
            _ => break,
        }
    }
    kept.truncate(KEPT_BODY_BYTES);
    String::from_utf8_lossy(&kept).trim().to_owned()
}

/// An error and its causes on one line.
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// What an attempt means for the delivery, the endpoint and the job.
struct Verdict {
    record: AttemptRecord,
    /// Disable the endpoint, for this reason.
    disable: Option<String>,
    outcome: JobOutcome,
}

fn judge(answer: Answer, attempt: i32, latency_ms: i32, settings: &WebhookSettings) -> Verdict {
    let (response_code, error) = match answer {
        Answer::Status { code, .. } if (200..300).contains(&code) => {
            return Verdict {
                record: AttemptRecord {
                    status: DeliveryStatus::Delivered,
                    response_code: Some(i32::from(code)),
                    latency_ms: Some(latency_ms),
                    error: None,
                    next_attempt_at: None,
                },
                disable: None,
                outcome: JobOutcome::Done,
            };
        }
        Answer::Status { code: 410, .. } => {
            let reason = format!(
                "the endpoint answered 410 Gone on {}",
                clock::now().0.format("%Y-%m-%d %H:%M:%S UTC")
            );
            return Verdict {
                record: AttemptRecord {
                    status: DeliveryStatus::Failed,
                    response_code: Some(410),
                    latency_ms: Some(latency_ms),
                    error: Some("410 Gone: the endpoint was disabled".into()),
                    next_attempt_at: None,
                },
                disable: Some(reason),
                outcome: JobOutcome::Done,
            };
        }
        Answer::Status { code, body } => {
            let mut error = if (300..400).contains(&code) {
                format!("the endpoint answered {code} (redirects are not followed)")
            } else {
                format!("the endpoint answered {code}")
            };
            if !body.is_empty() {
                error.push_str(": ");
                error.push_str(&body);
            }
            (Some(i32::from(code)), error)
        }
        Answer::TimedOut => (
            None,
            format!("no answer within {} ms", settings.timeout.as_millis()),
        ),
        Answer::Refused => (None, format!("refused: {}", client::REFUSED)),
        Answer::Failed(reason) => (None, reason),
    };
    if attempt >= settings.max_attempts {
        return Verdict {
            record: AttemptRecord {
                status: DeliveryStatus::Failed,
                response_code,
                latency_ms: Some(latency_ms),
                error: Some(format!("gave up after {attempt} attempts: {error}")),
                next_attempt_at: None,
            },
            disable: None,
            outcome: JobOutcome::Done,
        };
    }
    let delay = settings.retry_delay(attempt);
    Verdict {
        record: AttemptRecord {
            status: DeliveryStatus::Pending,
            response_code,
            latency_ms: Some(latency_ms),
            error: Some(error.clone()),
            next_attempt_at: Some(later(delay)),
        },
        disable: None,
        outcome: JobOutcome::RetryAfter(delay, error),
    }
}

fn later(delay: Duration) -> Timestamp {
    let now = clock::now();
    chrono::Duration::from_std(delay)
        .ok()
        .and_then(|d| now.0.checked_add_signed(d))
        .map_or(now, Timestamp::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(max_attempts: i32) -> WebhookSettings {
        WebhookSettings {
            allow_private: false,
            timeout: Duration::from_secs(15),
            retry_base: Duration::from_secs(30),
            max_attempts,
            secret_grace: Duration::from_secs(3600),
            concurrency: 32,
            account_slots: 16,
        }
    }

    fn status(code: u16) -> Answer {
        Answer::Status {
            code,
            body: String::new(),
        }
    }

    #[test]
    fn a_2xx_delivers() {
        let v = judge(status(204), 1, 12, &settings(3));
        assert_eq!(v.record.status, DeliveryStatus::Delivered);
        assert_eq!(v.record.response_code, Some(204));
        assert!(v.disable.is_none());
        assert!(matches!(v.outcome, JobOutcome::Done));
    }

    #[test]
    fn gone_disables_the_endpoint_at_once() {
        let v = judge(status(410), 1, 12, &settings(3));
        assert_eq!(v.record.status, DeliveryStatus::Failed);
        assert!(v.disable.unwrap().contains("410"));
        assert!(matches!(v.outcome, JobOutcome::Done));
    }

    #[test]
    fn failures_retry_with_backoff_until_the_last_attempt() {
        for answer in [
            status(500),
            status(302),
            status(404),
            Answer::TimedOut,
            Answer::Refused,
            Answer::Failed("connection refused".into()),
        ] {
            let v = judge(answer, 2, 12, &settings(3));
            assert_eq!(v.record.status, DeliveryStatus::Pending);
            assert!(v.record.next_attempt_at.is_some());
            match v.outcome {
                JobOutcome::RetryAfter(delay, _) => assert_eq!(delay, Duration::from_secs(60)),
                other => panic!("{other:?}"),
            }
        }
        let last = judge(status(500), 3, 12, &settings(3));
        assert_eq!(last.record.status, DeliveryStatus::Failed);
        assert!(last.record.error.unwrap().starts_with("gave up after 3"));
        assert!(matches!(last.outcome, JobOutcome::Done));
    }

    #[test]
    fn redirects_say_they_were_not_followed() {
        let v = judge(status(302), 1, 12, &settings(3));
        assert_eq!(v.record.response_code, Some(302));
        assert!(v.record.error.unwrap().contains("not followed"));
    }
}
