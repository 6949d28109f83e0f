//! Settling campaigns: once a campaign is dispatched and none of its messages is open any
//! more, it is `sent`.
//!
//! Every delivery that puts a campaign message in a final state asks for a check after its
//! commit. The checks of one campaign are coalesced in each process: at most one runs at a
//! time, it starts `SPACING` after the request that started it, and a request arriving
//! while a check runs makes it run once more afterwards. So the check that follows the last
//! commit always happens (of two last messages finishing together in two processes, the one
//! committing second sees the first committed), and a campaign of N messages costs a few
//! checks a second instead of N.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailroom_domain::Id;
use mailroom_domain::campaigns::Campaign;
use mailroom_domain::messages::Message;

use crate::context::WorkerContext;

/// How long a check waits for more deliveries to finish before it runs.
const SPACING: Duration = Duration::from_millis(100);

#[derive(Default)]
pub struct CampaignSettler {
    /// Campaigns with a check under way, and whether another was asked for meanwhile.
    pending: Mutex<HashMap<Id, bool>>,
    /// Checks under way, for shutdown to wait for.
    running: AtomicUsize,
}

impl CampaignSettler {
    /// Asks for a check of `campaign_id`; returns at once (the check runs in a task).
    pub fn request(ctx: &Arc<WorkerContext>, campaign_id: Id) {
        let settler = &ctx.settler;
        if !settler.begin(campaign_id) {
            return;
        }
        settler.running.fetch_add(1, Ordering::SeqCst);
        let ctx = ctx.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(SPACING).await;
                check(&ctx, campaign_id).await;
                if !ctx.settler.next_round(campaign_id) {
                    break;
                }
            }
            ctx.settler.running.fetch_sub(1, Ordering::SeqCst);
        });
    }

    /// Whether the caller is to run the checks of `campaign_id`: false when they are under
    /// way, which then run once more.
    fn begin(&self, campaign_id: Id) -> bool {
        let Ok(mut pending) = self.pending.lock() else {
            return false;
        };
        if let Some(again) = pending.get_mut(&campaign_id) {
            *again = true;
            return false;
        }
        pending.insert(campaign_id, false);
        true
    }

    /// After a check: whether another was asked for while it ran (and so must run).
    fn next_round(&self, campaign_id: Id) -> bool {
        let Ok(mut pending) = self.pending.lock() else {
            return false;
        };
        match pending.get_mut(&campaign_id) {
            Some(again) if *again => {
                *again = false;
                true
            }
            _ => {
                pending.remove(&campaign_id);
                false
            }
        }
    }

    /// Waits, at most `limit`, for the checks under way (at shutdown, after the last job).
    pub async fn drained(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.running.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Completes the campaign if it is dispatched and nothing of it is open.
async fn check(ctx: &Arc<WorkerContext>, campaign_id: Id) {
    let settled = ctx
        .db(move |conn| {
            if Message::any_open_in_campaign(conn, campaign_id)? {
                return Ok(());
            }
            conn.write_transaction(|conn| Campaign::complete_if_done(conn, campaign_id))
                .map(|_| ())
        })
        .await;
    if let Err(e) = settled {
        tracing::warn!(error = %e, %campaign_id, "checking whether the campaign is done failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_during_a_check_make_it_run_once_more_and_no_more() {
        let settler = CampaignSettler::default();
        let (a, b) = (Id::new(), Id::new());
        assert!(settler.begin(a), "the first request starts the checks");
        assert!(settler.begin(b), "campaigns are settled independently");
        assert!(
            !settler.begin(a),
            "a request while a check runs starts nothing"
        );
        assert!(!settler.begin(a), "nor does a second one");
        assert!(settler.next_round(a), "but the check runs once more");
        assert!(!settler.next_round(a), "and then stops");
        assert!(!settler.next_round(b), "nothing asked meanwhile: one check");
        assert!(settler.begin(a), "a later request starts them again");
    }
}
