//! Dispatch: a campaign's audience becomes messages, each with its delivery job, in batches.
//!
//! Eligibility is decided here — subscribed to one of the campaign's lists, marketing
//! consent currently granted, not suppressed, once per address — and checked again at
//! delivery. Each batch commits its messages and their jobs together; a dispatch that dies
//! half way is simply run again: recipients that already have a message are skipped.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use mailroom_domain::accounts::Account;
use mailroom_domain::campaigns::{Campaign, CampaignStatus, audience};
use mailroom_domain::consent::ConsentRecord;
use mailroom_domain::contacts::EmailAddress;
use mailroom_domain::jobs::{Enqueue, Priority};
use mailroom_domain::messages::{Message, MessageKind, NewMessage, outbox};
use mailroom_domain::suppressions::{Suppression, email_hash};
use mailroom_domain::{Error, Id};

use crate::context::WorkerContext;
use crate::runner::JobOutcome;

const BATCH: i64 = 500;
pub const MARKETING: &str = "marketing_email";

pub async fn run(ctx: &Arc<WorkerContext>, campaign_id: Id) -> JobOutcome {
    let mut after: Option<Id> = None;
    loop {
        let worker = ctx.clone();
        let step = ctx
            .db(move |conn| dispatch_batch(conn, &worker, campaign_id, after))
            .await;
        match step {
            Ok(Batch::Continue(last)) => after = Some(last),
            Ok(Batch::Finished) => return JobOutcome::Done,
            Ok(Batch::Paused) => return JobOutcome::Hold,
            Ok(Batch::Stopped) => return JobOutcome::Done,
            Err(Error::Unavailable(e)) => return JobOutcome::RetryAfter(Duration::from_secs(5), e),
            Err(e) => return JobOutcome::RetryAfter(Duration::from_secs(30), e.to_string()),
        }
    }
}

enum Batch {
    Continue(Id),
    Finished,
    Paused,
    Stopped,
}

fn dispatch_batch(
    conn: &mut mailroom_domain::store::DbConnection,
    ctx: &WorkerContext,
    campaign_id: Id,
    after: Option<Id>,
) -> mailroom_domain::Result<Batch> {
    conn.write_transaction(|conn| {
        let campaign = match Campaign::lock(conn, campaign_id) {
            Ok(c) => c,
            Err(Error::NotFound(_)) => return Ok(Batch::Stopped),
            Err(e) => return Err(e),
        };
        match campaign.status() {
            CampaignStatus::Sending => {}
            CampaignStatus::Paused => return Ok(Batch::Paused),
            // A scheduled campaign whose time came: it starts sending now.
            CampaignStatus::Scheduled => start_scheduled(conn, &campaign)?,
            _ => return Ok(Batch::Stopped),
        }
        // Read without a lock: the campaign is locked already, and a suspension locks the
        // account before its campaigns. `pause_for_suspension` reads it again, locked.
        let owner = Account::find(conn, campaign.account_id)?;
        if owner.deletion_pending() {
            Campaign::pause_for_account_deletion(conn, campaign_id)?;
            return Ok(Batch::Paused);
        }
        // A suspended account's campaign (one scheduled before the suspension whose time
        // came, or one dispatching when it was suspended) hands out nothing more: it pauses
        // here, and the account's resumption continues it.
        if owner.is_suspended() {
            Campaign::pause_for_suspension(conn, campaign_id)?;
            return Ok(Batch::Paused);
        }
        let account = campaign.account_id;
        let campaign_tracking = campaign.tracking;
        let candidates =
            audience::subscribed_batch(conn, account, &campaign.list_ids(), after, BATCH)?;
        let Some(last) = candidates.last().map(|c| c.contact_id) else {
            let recipients = count_recipients(conn, campaign_id)?;
            Campaign::mark_dispatched(conn, campaign_id, recipients)?;
            Campaign::complete_if_done(conn, campaign_id)?;
            return Ok(Batch::Finished);
        };
        let ids: Vec<Id> = candidates.iter().map(|c| c.contact_id).collect();
        let consenting = ConsentRecord::granted_contacts(conn, account, &ids, MARKETING)?;
        let hashes: Vec<String> = candidates
            .iter()
            .filter_map(|c| EmailAddress::parse(&c.email).ok())
            .map(|e| email_hash(&ctx.hash_key, &e))
            .collect();
        let suppressed: HashSet<String> = Suppression::suppressed_hashes(conn, account, &hashes)?;
        let already: HashSet<Id> = Message::existing_recipients(conn, campaign_id, &ids)?
            .into_iter()
            .collect();
        for candidate in candidates {
            if already.contains(&candidate.contact_id)
                || !consenting.contains(&candidate.contact_id)
            {
                continue;
            }
            let Ok(email) = EmailAddress::parse(&candidate.email) else {
                continue;
            };
            if suppressed.contains(&email_hash(&ctx.hash_key, &email)) {
                continue;
            }
            let options = Enqueue {
                priority: Priority::BULK,
                group: Some(campaign_id),
                max_attempts: ctx.settings.delivery.max_attempts + 2,
                ..Enqueue::default()
            };
            outbox::queue(
                conn,
                account,
                MessageKind::Campaign,
                NewMessage {
                    campaign_id: Some(campaign_id),
                    contact_id: Some(candidate.contact_id),
                    list_id: Some(candidate.list_id),
                    to_email: candidate.email,
                    to_name: candidate.name,
                    tracking: campaign_tracking,
                    ..NewMessage::default()
                },
                options,
            )?;
        }
        Ok(Batch::Continue(last))
    })
}

fn start_scheduled(
    conn: &mut mailroom_domain::store::DbConnection,
    campaign: &Campaign,
) -> mailroom_domain::Result<()> {
    Campaign::start_sending(conn, campaign.id)
}

fn count_recipients(
    conn: &mut mailroom_domain::store::DbConnection,
    campaign_id: Id,
) -> mailroom_domain::Result<i32> {
    let counts = Message::campaign_counts(conn, campaign_id)?;
    Ok(counts.iter().map(|(_, n)| *n).sum::<i64>() as i32)
}
