//! Delivery of one message: decide, compose, hand to the relay, record the outcome.
//!
//! The message is marked `sending` (committed) before the SMTP transaction and `sent` after
//! it, so a redelivered job finds a sent message and sends nothing; only a process killed
//! inside the SMTP transaction can cause a second copy. What the relay's answer does — a
//! retry with exponential backoff, a bounce, a blocked message, a suppression, a campaign
//! that pauses itself — is decided by `mailroom_domain::outcomes`, as for reports.

use std::sync::Arc;
use std::time::Duration;

use mailroom_domain::accounts::{Account, Admission, sending_gate};
use mailroom_domain::campaigns::{Campaign, CampaignStatus};
use mailroom_domain::contacts::email::mask_emails_in;
use mailroom_domain::events::{self, EventData, EventType, NewEvent};
use mailroom_domain::jobs::backoff;
use mailroom_domain::messages::{Message, MessageKind, MessageStatus, SandboxMessage};
use mailroom_domain::outcomes::{self, Next, Outcome, RelayAnswer};
use mailroom_domain::rendering;
use mailroom_domain::store::DbConnection;
use mailroom_domain::{Error, Id};

use super::compose::{Composed, Verdict, compose};
use super::outcomes::{OutcomeRecorder, Recording};
use super::settle::CampaignSettler;
use crate::bus::Delivery;
use crate::context::{Outlet, WorkerContext};
use crate::runner::JobOutcome;
use crate::transport::DeliveryOutcome;

/// What preparation decided.
enum Prepared {
    Send(Box<Ready>),
    Finished(JobOutcome),
}

/// A message composed and marked `sending`.
struct Ready {
    composed: Composed,
    message: Message,
    /// Its campaign had relay failures in a row.
    relay_failing: bool,
}

pub async fn run(ctx: &Arc<WorkerContext>, message_id: Id, job: &Delivery) -> JobOutcome {
    let (outcome, settle) = deliver(ctx, message_id, job).await;
    match settle {
        Settle::Campaign(campaign_id) => CampaignSettler::request(ctx, campaign_id),
        Settle::LookUp => settle_campaign_of(ctx, message_id).await,
        Settle::Nothing => {}
    }
    outcome
}

/// What a delivery knows, once its outcome is committed, about the campaign to settle.
enum Settle {
    /// The message is final and belongs to this campaign.
    Campaign(Id),
    /// The message was final already or skipped: read it to know.
    LookUp,
    /// The message is not final (retried, held), or not a campaign's.
    Nothing,
}

/// `CampaignSettler::request` for the campaign of a message whose state is not known here.
async fn settle_campaign_of(ctx: &Arc<WorkerContext>, message_id: Id) {
    let campaign = ctx
        .db(move |conn| match Message::find(conn, message_id) {
            Ok(message) => Ok(message.campaign_id.filter(|_| {
                message.kind() == MessageKind::Campaign && message.status().is_final()
            })),
            Err(Error::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        })
        .await;
    match campaign {
        Ok(Some(campaign_id)) => CampaignSettler::request(ctx, campaign_id),
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(error = %e, %message_id, "checking whether the campaign is done failed")
        }
    }
}

async fn deliver(ctx: &Arc<WorkerContext>, message_id: Id, job: &Delivery) -> (JobOutcome, Settle) {
    let worker = ctx.clone();
    let prepared = ctx.db(move |conn| prepare(conn, &worker, message_id)).await;
    let Ready {
        composed,
        message,
        relay_failing,
    } = match prepared {
        Ok(Prepared::Send(ready)) => *ready,
        Ok(Prepared::Finished(outcome)) => return (outcome, Settle::LookUp),
        Err(Error::Unavailable(e)) => {
            return (
                JobOutcome::RetryAfter(Duration::from_secs(5), e),
                Settle::Nothing,
            );
        }
        Err(e) => {
            return (
                JobOutcome::RetryAfter(Duration::from_secs(30), e.to_string()),
                Settle::Nothing,
            );
        }
    };
    let campaign = message
        .campaign_id
        .filter(|_| message.kind() == MessageKind::Campaign);
    if let Some(rate) = &ctx.rate {
        rate.acquire().await;
    }
    let outcome = match &ctx.outlet {
        Outlet::Relay(smtp) => {
            smtp.deliver(
                &composed.built.envelope_from,
                &composed.built.to,
                &composed.built.raw,
            )
            .await
        }
        Outlet::Sandbox => DeliveryOutcome::Delivered {
            response: "stored in the sandbox mailbox".into(),
        },
    };
    let recording = Recording {
        message,
        composed,
        outcome,
        attempt: job.attempt,
        relay_failing,
    };
    let recorded = OutcomeRecorder::record(ctx, recording).await;
    match recorded {
        // Done: the message is final (sent, bounced, or failed for good).
        Ok(JobOutcome::Done) => (
            JobOutcome::Done,
            campaign.map_or(Settle::Nothing, Settle::Campaign),
        ),
        Ok(outcome) => (outcome, Settle::Nothing),
        Err(e) => {
            // The relay has the message but the database did not take the outcome: the next
            // attempt sees `sending` and sends again (the one window for a duplicate).
            tracing::error!(error = %e, message_id = %message_id, "recording a delivery failed");
            (
                JobOutcome::RetryAfter(Duration::from_secs(5), e.to_string()),
                Settle::Nothing,
            )
        }
    }
}

/// The delivery job was given up on (parked): its message must not stay open forever, or
/// its campaign would never finish.
pub async fn give_up(
    ctx: &Arc<WorkerContext>,
    message_id: Id,
    reason: String,
) -> mailroom_domain::Result<()> {
    ctx.db(move |conn| {
        conn.write_transaction(|conn| {
            let message = match Message::find(conn, message_id) {
                Ok(m) => m,
                Err(Error::NotFound(_)) => return Ok(()),
                Err(e) => return Err(e),
            };
            if message.status().is_final() {
                return Ok(());
            }
            finish(conn, &message, MessageStatus::Failed, Some(&reason))
        })
    })
    .await?;
    settle_campaign_of(ctx, message_id).await;
    Ok(())
}

fn prepare(
    conn: &mut DbConnection,
    ctx: &WorkerContext,
    message_id: Id,
) -> mailroom_domain::Result<Prepared> {
    let message = match Message::find(conn, message_id) {
        Ok(m) => m,
        Err(Error::NotFound(_)) => return Ok(Prepared::Finished(JobOutcome::Done)),
        Err(e) => return Err(e),
    };
    if message.status().is_final() {
        return Ok(Prepared::Finished(JobOutcome::Done));
    }
    // A campaign message's campaign is read once, here, and handed to `compose`.
    let mut campaign = None;
    if let (MessageKind::Campaign, Some(campaign_id)) = (message.kind(), message.campaign_id) {
        match Campaign::find_any(conn, campaign_id) {
            Ok(c) if c.status() == CampaignStatus::Paused => {
                return Ok(Prepared::Finished(JobOutcome::Hold));
            }
            Ok(c) if c.status() != CampaignStatus::Cancelled => campaign = Some(c),
            Ok(_) | Err(Error::NotFound(_)) => {
                conn.write_transaction(|conn| {
                    finish(
                        conn,
                        &message,
                        MessageStatus::Skipped,
                        Some("campaign cancelled"),
                    )
                })?;
                return Ok(Prepared::Finished(JobOutcome::Done));
            }
            Err(e) => return Err(e),
        }
    }
    // An account that asked to be deleted sends nothing more: its campaign pauses (the
    // message waits with it), anything else is skipped.
    let account = Account::find(conn, message.account_id)?;
    if account.deletion_pending() {
        if let Some(campaign) = &campaign {
            conn.write_transaction(|conn| Campaign::pause_for_account_deletion(conn, campaign.id))?;
            return Ok(Prepared::Finished(JobOutcome::Hold));
        }
        conn.write_transaction(|conn| {
            finish(
                conn,
                &message,
                MessageStatus::Skipped,
                Some("account deletion pending"),
            )
        })?;
        return Ok(Prepared::Finished(JobOutcome::Done));
    }
    if let Some(waiting) = pass_sending_gate(conn, ctx, &message, &account, campaign.as_ref())? {
        return Ok(Prepared::Finished(waiting));
    }
    let relay_failing = campaign
        .as_ref()
        .is_some_and(|c| c.consecutive_failures > 0);
    match compose(conn, ctx, &message, campaign, &account)? {
        Verdict::Send(composed) => {
            // Losing this mark in a database crash is harmless: the job, not acknowledged,
            // comes back and the message is sent then. So its commit does not wait for
            // the disk; the outcome's commit (synchronous) makes it durable.
            let open = conn.write_transaction_async_commit(|conn| {
                Message::mark_sending(
                    conn,
                    message.id,
                    &composed.rendered.subject,
                    composed.tracked,
                )
            })?;
            if !open {
                // Closed since it was read (a report about an earlier attempt): not sent.
                return Ok(Prepared::Finished(JobOutcome::Done));
            }
            Ok(Prepared::Send(Box::new(Ready {
                composed: *composed,
                message,
                relay_failing,
            })))
        }
        Verdict::Skip(reason) => {
            conn.write_transaction(|conn| {
                finish(conn, &message, MessageStatus::Skipped, Some(&reason))
            })?;
            Ok(Prepared::Finished(JobOutcome::Done))
        }
        Verdict::Fail(reason) => {
            conn.write_transaction(|conn| {
                finish(conn, &message, MessageStatus::Failed, Some(&reason))
            })?;
            Ok(Prepared::Finished(JobOutcome::Done))
        }
    }
}

/// The operator's gate (see `mailroom_domain::accounts::sending_gate`): takes the
/// message's slot in the account's sending windows, or answers how the job waits — held
/// until the account is resumed (a campaign pauses with it), or deferred to the next
/// window. A message counts once: only its first attempt takes a slot; a retry (it was
/// deferred by the relay, or its attempt was cut short while `sending`) only asks whether
/// the account is suspended.
fn pass_sending_gate(
    conn: &mut DbConnection,
    ctx: &WorkerContext,
    message: &Message,
    account: &Account,
    campaign: Option<&Campaign>,
) -> mailroom_domain::Result<Option<JobOutcome>> {
    let defaults = &ctx.settings.operator.default_limits;
    let now = mailroom_domain::clock::now().0;
    let slots = u32::from(message.status() == MessageStatus::Queued);
    let admission =
        conn.write_transaction(|conn| sending_gate::admit(conn, account, defaults, slots, now))?;
    Ok(match admission {
        Admission::Admitted(_) => None,
        Admission::Suspended { .. } => {
            if let Some(campaign) = campaign {
                conn.write_transaction(|conn| Campaign::pause_for_suspension(conn, campaign.id))?;
            }
            Some(JobOutcome::Hold)
        }
        Admission::OverQuota { until } => {
            if let Some(campaign) = campaign {
                Campaign::note_quota_wait(conn, campaign.id, until)?;
            }
            let wait = (until.0 - now).to_std().unwrap_or_default();
            Some(JobOutcome::Defer(
                wait,
                format!("the account's sending limit is reached until {until}"),
            ))
        }
    })
}

/// The event a message closed without being sent reports: `blocked` (skipped, or failed
/// before the relay was asked — `source: failed`).
fn unsent_event(status: MessageStatus, reason: Option<&str>) -> EventData {
    EventData {
        diagnostic: reason.map(mask_emails_in),
        source: (status == MessageStatus::Failed).then(|| "failed".into()),
        ..EventData::default()
    }
}

/// Closes a message that is not sent (skipped, or failed before any delivery) and
/// reports its event (its campaign is settled after the commit: see `CampaignSettler`).
fn finish(
    conn: &mut DbConnection,
    message: &Message,
    status: MessageStatus,
    reason: Option<&str>,
) -> mailroom_domain::Result<()> {
    let open = &MessageStatus::OPEN_STATES;
    if Message::advance(conn, message.id, open, status, reason, None)? {
        let data = unsent_event(status, reason);
        events::enqueue(
            conn,
            vec![NewEvent::new(EventType::Blocked, message.id, data)],
        )?;
    }
    Ok(())
}

/// Writes a delivery's outcome; its events go to `events`, for the caller to enqueue in
/// the same transaction (see `outcomes`).
pub(super) fn record(
    conn: &mut DbConnection,
    ctx: &WorkerContext,
    recording: &Recording,
    events: &mut Vec<NewEvent>,
) -> mailroom_domain::Result<JobOutcome> {
    let Recording {
        message,
        composed,
        outcome,
        attempt,
        relay_failing,
    } = recording;
    let answer = match outcome {
        DeliveryOutcome::Delivered { response } => {
            if let Outlet::Sandbox = ctx.outlet {
                SandboxMessage::store(
                    conn,
                    message.account_id,
                    message.id,
                    &composed.built.to,
                    &composed.rendered.subject,
                    &composed.built.headers,
                    composed.rendered.html.as_deref(),
                    Some(&composed.rendered.text),
                    rendering::with_return_path(&composed.built),
                )?;
            }
            tracing::debug!(message_id = %message.id, response = %mask_emails_in(response), "delivered");
            RelayAnswer::Accepted
        }
        DeliveryOutcome::Refused { code, text } => RelayAnswer::Refused { code: *code, text },
        DeliveryOutcome::TemporaryFailure { reason } => RelayAnswer::NoAnswer { reason },
    };
    let delivery = Outcome::Delivery {
        answer,
        attempt: *attempt,
        relay_failing: *relay_failing,
    };
    let recorded = outcomes::record(conn, &ctx.outcome_policy, message, &delivery, events)?;
    Ok(match recorded.next {
        Next::Done => JobOutcome::Done,
        Next::Hold => JobOutcome::Hold,
        Next::Retry => {
            let retry_base = ctx.settings.delivery.retry_base;
            let delay = backoff(retry_base, *attempt, Duration::from_secs(6 * 3600));
            JobOutcome::RetryAfter(delay, mask_emails_in(&outcome.to_string()))
        }
    })
}
