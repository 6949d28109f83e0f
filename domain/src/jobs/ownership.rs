//! Whose a job row is, from what it names (a campaign, a message, a delivery, an import, a
//! request). Rows carry `account_id` for the lanes' turns, but rows queued before it have
//! the nil account and event batches can mix accounts, so work that must never touch
//! another account's rows — erasing the account, scrubbing an erased person — asks here
//! which rows are the account's, a page at a time.

use std::collections::HashSet;

use diesel::prelude::*;

use super::Job;
use crate::error::Result;
use crate::schema::{campaigns, data_subject_requests, imports, messages, webhook_deliveries};
use crate::store::DbConnection;
use crate::store::sql_types::Id;

/// What a job is about, where that says whose it is.
pub(crate) enum JobTarget {
    Campaign(Id),
    Message(Id),
    /// A batch of events, each about one message; a batch can mix accounts.
    Messages(Vec<Id>),
    WebhookDelivery(Id),
    Import(Id),
    Request(Id),
    /// Installation-wide work (the retention purge): nobody's.
    Nobody,
}

impl JobTarget {
    pub(crate) fn of(job: &Job) -> JobTarget {
        match job {
            Job::DispatchCampaign { campaign_id } => JobTarget::Campaign(*campaign_id),
            Job::DeliverMessage { message_id } => JobTarget::Message(*message_id),
            Job::RecordEvents { events } => {
                JobTarget::Messages(events.iter().map(|e| e.message_id).collect())
            }
            Job::DeliverWebhook { delivery_id } => JobTarget::WebhookDelivery(*delivery_id),
            Job::ImportList { import_id } => JobTarget::Import(*import_id),
            Job::ExecuteDataSubjectRequest { request_id } => JobTarget::Request(*request_id),
            Job::PurgeRetention { .. } | Job::CheckSendingDomains {} => JobTarget::Nobody,
        }
    }
}

/// Which of the ids some jobs name are the account's.
pub(crate) struct AccountRows {
    campaigns: HashSet<Id>,
    pub(crate) messages: HashSet<Id>,
    deliveries: HashSet<Id>,
    imports: HashSet<Id>,
    requests: HashSet<Id>,
}

/// The ids `load` says are the account's, asked in chunks (SQLite limits the
/// parameters of one statement).
fn owned(ids: &[Id], mut load: impl FnMut(&[Id]) -> Result<Vec<Id>>) -> Result<HashSet<Id>> {
    let mut found = HashSet::new();
    for chunk in ids.chunks(5000) {
        found.extend(load(chunk)?);
    }
    Ok(found)
}

impl AccountRows {
    pub(crate) fn among<'a>(
        conn: &mut DbConnection,
        account: Id,
        targets: impl IntoIterator<Item = &'a JobTarget>,
    ) -> Result<Self> {
        let (mut c, mut m, mut d, mut i) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut r = Vec::new();
        for target in targets {
            match target {
                JobTarget::Campaign(id) => c.push(*id),
                JobTarget::Message(id) => m.push(*id),
                JobTarget::Messages(ids) => m.extend(ids),
                JobTarget::WebhookDelivery(id) => d.push(*id),
                JobTarget::Import(id) => i.push(*id),
                JobTarget::Request(id) => r.push(*id),
                JobTarget::Nobody => {}
            }
        }
        Ok(AccountRows {
            campaigns: owned(&c, |ids| {
                Ok(campaigns::table
                    .filter(campaigns::account_id.eq(account))
                    .filter(campaigns::id.eq_any(ids))
                    .select(campaigns::id)
                    .load(conn)?)
            })?,
            messages: owned(&m, |ids| {
                Ok(messages::table
                    .filter(messages::account_id.eq(account))
                    .filter(messages::id.eq_any(ids))
                    .select(messages::id)
                    .load(conn)?)
            })?,
            deliveries: owned(&d, |ids| {
                Ok(webhook_deliveries::table
                    .filter(webhook_deliveries::account_id.eq(account))
                    .filter(webhook_deliveries::id.eq_any(ids))
                    .select(webhook_deliveries::id)
                    .load(conn)?)
            })?,
            imports: owned(&i, |ids| {
                Ok(imports::table
                    .filter(imports::account_id.eq(account))
                    .filter(imports::id.eq_any(ids))
                    .select(imports::id)
                    .load(conn)?)
            })?,
            requests: owned(&r, |ids| {
                Ok(data_subject_requests::table
                    .filter(data_subject_requests::account_id.eq(account))
                    .filter(data_subject_requests::id.eq_any(ids))
                    .select(data_subject_requests::id)
                    .load(conn)?)
            })?,
        })
    }

    pub(crate) fn owns_all(&self, messages: &[Id]) -> bool {
        messages.iter().all(|id| self.messages.contains(id))
    }

    /// Whether the job is (at least partly, for a batch of events) the account's.
    pub(crate) fn owns(&self, target: &JobTarget) -> bool {
        match target {
            JobTarget::Campaign(id) => self.campaigns.contains(id),
            JobTarget::Message(id) => self.messages.contains(id),
            JobTarget::Messages(ids) => ids.iter().any(|id| self.messages.contains(id)),
            JobTarget::WebhookDelivery(id) => self.deliveries.contains(id),
            JobTarget::Import(id) => self.imports.contains(id),
            JobTarget::Request(id) => self.requests.contains(id),
            JobTarget::Nobody => false,
        }
    }
}
