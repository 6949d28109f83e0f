//! Fair work: lanes by kind, and turns between accounts inside a lane.
//!
//! Every job runs in the lane of its kind, and each lane has its own worker slots, so a
//! flood of one kind (a thousand webhook retries) never takes the slots of another (an
//! import, a campaign's deliveries). Inside a lane the accounts with due work take turns:
//! each claim serves the next account after the one served last, in account-id order,
//! wrapping round — one tenant's ten thousand jobs and another's one job alternate.

use std::collections::BTreeSet;

use super::job::{Job, Priority};
use crate::store::sql_types::Id;

/// The lanes, each with its own slots (`MAILROOM_*_CONCURRENCY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lane {
    /// Transactional, test and confirmation mail (`message.deliver` queued urgently).
    Transactional,
    /// Campaign dispatch and campaign deliveries.
    Campaigns,
    /// Recording events (tracking hits, bounces) and fanning them out.
    Events,
    /// Webhook deliveries: time spent waiting on receivers other people run.
    Webhooks,
    /// Imports, data-subject requests and the retention purge (what `mailroom-jobs` runs).
    Jobs,
}

impl Lane {
    /// In the order a worker that runs every lane starts them.
    pub const ALL: [Lane; 5] = [
        Lane::Transactional,
        Lane::Campaigns,
        Lane::Events,
        Lane::Webhooks,
        Lane::Jobs,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Transactional => "transactional",
            Lane::Campaigns => "campaigns",
            Lane::Events => "events",
            Lane::Webhooks => "webhooks",
            Lane::Jobs => "jobs",
        }
    }

    /// The lane of a job of `kind` queued at `priority`: a message queued urgently is
    /// transactional (tests, `/v1/send`, confirmations), any other is campaign work.
    pub fn of(kind: &str, priority: Priority) -> Lane {
        match kind {
            "message.deliver" if priority >= Priority::URGENT => Lane::Transactional,
            "message.deliver" | "campaign.dispatch" => Lane::Campaigns,
            "events.record" => Lane::Events,
            "webhook.deliver" => Lane::Webhooks,
            _ => Lane::Jobs,
        }
    }

    pub fn of_job(job: &Job, priority: Priority) -> Lane {
        Lane::of(job.kind(), priority)
    }
}

/// The account of installation-wide work (the retention purge), and of jobs written before
/// jobs named their account: it takes its turn like any other.
pub const NO_ACCOUNT: Id = Id(uuid::Uuid::nil());

/// The fairness rule inside a lane: of the accounts with due work, the next one after
/// `last_served` in id order, wrapping round to the first. The job table's claim is this
/// rule in SQL (`account_id > last ORDER BY account_id`, then from the start).
pub fn next_turn(waiting: &BTreeSet<Id>, last_served: Option<Id>) -> Option<Id> {
    let after = last_served.and_then(|last| {
        waiting
            .range((std::ops::Bound::Excluded(last), std::ops::Bound::Unbounded))
            .next()
    });
    after.or_else(|| waiting.iter().next()).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<Id> {
        let mut ids: Vec<Id> = (0..n).map(|_| Id::new()).collect();
        ids.sort();
        ids
    }

    #[test]
    fn accounts_take_turns_whatever_their_backlog() {
        let [a, b, c] = ids(3)[..] else { panic!() };
        // `a` has thousands of jobs waiting, `b` and `c` one each: the set of accounts
        // with due work is what decides, not how much work each has.
        let waiting: BTreeSet<Id> = [a, b, c].into();
        let mut served = Vec::new();
        let mut last = None;
        for _ in 0..6 {
            last = next_turn(&waiting, last);
            served.push(last.unwrap());
        }
        assert_eq!(served, vec![a, b, c, a, b, c]);
    }

    #[test]
    fn the_turn_wraps_round_and_skips_accounts_without_work() {
        let [a, b, c] = ids(3)[..] else { panic!() };
        let waiting: BTreeSet<Id> = [a, c].into();
        assert_eq!(next_turn(&waiting, Some(a)), Some(c));
        assert_eq!(next_turn(&waiting, Some(b)), Some(c), "b has nothing due");
        assert_eq!(next_turn(&waiting, Some(c)), Some(a), "wraps round");
        assert_eq!(next_turn(&waiting, None), Some(a));
        assert_eq!(next_turn(&BTreeSet::new(), Some(a)), None);
        let alone: BTreeSet<Id> = [a].into();
        assert_eq!(
            next_turn(&alone, Some(a)),
            Some(a),
            "alone, it is always its turn"
        );
    }

    #[test]
    fn each_kind_runs_in_its_lane() {
        assert_eq!(
            Lane::of("message.deliver", Priority::URGENT),
            Lane::Transactional
        );
        assert_eq!(Lane::of("message.deliver", Priority::BULK), Lane::Campaigns);
        assert_eq!(
            Lane::of("campaign.dispatch", Priority::DISPATCH),
            Lane::Campaigns
        );
        assert_eq!(Lane::of("events.record", Priority::DISPATCH), Lane::Events);
        assert_eq!(
            Lane::of("webhook.deliver", Priority::URGENT),
            Lane::Webhooks
        );
        for kind in [
            "list.import",
            "data_subject_request.execute",
            "retention.purge",
        ] {
            assert_eq!(Lane::of(kind, Priority::BULK), Lane::Jobs);
        }
        for kind in Job::KINDS {
            let _ = Lane::of(kind, Priority::BULK);
        }
    }
}
