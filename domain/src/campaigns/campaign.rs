//! Campaigns: one email to the subscribers of one or more lists, with its lifecycle
//! `draft → scheduled → sending → sent`, plus `paused` and `cancelled`.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::accounts::{Account, PAUSED_FOR_DELETION, PAUSED_FOR_SUSPENSION};
use crate::clock;
use crate::config::BounceValveSettings;
use crate::contacts::EmailAddress;
use crate::error::{Error, FieldError, Result};
use crate::jobs::{Enqueue, Job, JobRow, Priority};
use crate::lists::MailingList;
use crate::messages::{Message, MessageStatus};
use crate::pagination::{Page, PageRequest};
use crate::rendering::{TemplateSource, check_templates};
use crate::schema::campaigns;
use crate::store::DbConnection;
use crate::store::sql_types::{Id, Json, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    Draft,
    Scheduled,
    Sending,
    Paused,
    Sent,
    Cancelled,
}

impl CampaignStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignStatus::Draft => "draft",
            CampaignStatus::Scheduled => "scheduled",
            CampaignStatus::Sending => "sending",
            CampaignStatus::Paused => "paused",
            CampaignStatus::Sent => "sent",
            CampaignStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Draft,
            Self::Scheduled,
            Self::Sending,
            Self::Paused,
            Self::Sent,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = campaigns)]
pub struct Campaign {
    pub id: Id,
    pub account_id: Id,
    pub name: String,
    pub subject: String,
    pub from_email: String,
    pub from_name: Option<String>,
    pub reply_to: Option<String>,
    pub html: String,
    pub text_body: Option<String>,
    pub list_ids: Json,
    pub status: String,
    pub send_at: Option<Timestamp>,
    pub started_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
    pub paused_reason: Option<String>,
    pub dispatched_at: Option<Timestamp>,
    pub recipients: i32,
    pub consecutive_failures: i32,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Track opens and clicks of this campaign's mail (where the account and the contact
    /// allow it).
    pub tracking: bool,
    /// The hard-bounce safety valve's state (see [`BounceValve`]).
    pub bounce_valve: String,
}

/// A campaign's hard-bounce safety valve: when a large share of its first recipients
/// hard-bounce within minutes of its start, the relay is more likely misconfigured than
/// the list dead, so the campaign pauses instead of suppressing the rest of the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BounceValve {
    /// Watching the campaign's first outcomes.
    Armed,
    /// Tripped: the campaign paused, and its hard bounces suppress nothing until an
    /// operator resumes it (a cancelled campaign's never do).
    Tripped,
    /// Resumed after a trip: the operator judged the bounces real; it stays open.
    Released,
}

impl BounceValve {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Armed => "armed",
            Self::Tripped => "tripped",
            Self::Released => "released",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Armed, Self::Tripped, Self::Released]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// The editable content of a campaign.
#[derive(Debug, Clone, Default)]
pub struct CampaignDraft {
    pub name: Option<String>,
    pub list_ids: Option<Vec<Id>>,
    pub subject: Option<String>,
    pub from_email: Option<String>,
    pub from_name: Option<Option<String>>,
    pub reply_to: Option<Option<String>>,
    pub html: Option<String>,
    pub text: Option<Option<String>>,
    pub tracking: Option<bool>,
}

/// Delivery progress, from the campaign's messages.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Progress {
    /// Eligible recipients found at dispatch.
    pub recipients: i64,
    /// Waiting for delivery (queued or being handed to the relay).
    pub queued: i64,
    /// Deferred by the relay; a retry is scheduled.
    pub deferred: i64,
    pub sent: i64,
    /// Closed without delivery: a blocked answer (a policy, authentication or protocol
    /// refusal), a soft bounce, or given up on after the last attempt.
    pub failed: i64,
    /// Hard-bounced: the address does not exist (suppressed, unless the safety valve held
    /// the campaign's suppressions).
    pub bounced: i64,
    pub skipped: i64,
}

pub const MAX_SUBJECT_CHARS: usize = 255;

impl Campaign {
    pub fn status(&self) -> CampaignStatus {
        CampaignStatus::parse(&self.status).unwrap_or(CampaignStatus::Cancelled)
    }

    /// An unreadable state holds suppressions, the safe side.
    pub fn bounce_valve(&self) -> BounceValve {
        BounceValve::parse(&self.bounce_valve).unwrap_or(BounceValve::Tripped)
    }

    pub fn list_ids(&self) -> Vec<Id> {
        serde_json::from_value(self.list_ids.0.clone()).unwrap_or_default()
    }

    pub fn template(&self) -> TemplateSource {
        TemplateSource {
            subject: self.subject.clone(),
            html: self.html.clone(),
            text: self.text_body.clone(),
        }
    }

    pub fn create(
        conn: &mut DbConnection,
        account_id: Id,
        draft: CampaignDraft,
    ) -> Result<Campaign> {
        let now = clock::now();
        let mut campaign = Campaign {
            id: Id::new(),
            account_id,
            name: String::new(),
            subject: String::new(),
            from_email: String::new(),
            from_name: None,
            reply_to: None,
            html: String::new(),
            text_body: None,
            list_ids: Json(serde_json::json!([])),
            status: CampaignStatus::Draft.as_str().to_owned(),
            send_at: None,
            started_at: None,
            completed_at: None,
            paused_reason: None,
            dispatched_at: None,
            recipients: 0,
            consecutive_failures: 0,
            created_at: now,
            updated_at: now,
            tracking: true,
            bounce_valve: BounceValve::Armed.as_str().to_owned(),
        };
        let mut missing = Vec::new();
        for (field, present) in [
            ("name", draft.name.is_some()),
            ("list_ids", draft.list_ids.is_some()),
            ("subject", draft.subject.is_some()),
            ("from_email", draft.from_email.is_some()),
            ("html", draft.html.is_some()),
        ] {
            if !present {
                missing.push(FieldError::new(field, "is required"));
            }
        }
        if !missing.is_empty() {
            return Err(Error::Invalid(missing));
        }
        campaign.apply(conn, draft)?;
        diesel::insert_into(campaigns::table)
            .values(&campaign)
            .execute(conn)?;
        Ok(campaign)
    }

    /// Applies and validates changes (all problems reported at once).
    fn apply(&mut self, conn: &mut DbConnection, draft: CampaignDraft) -> Result<()> {
        let mut errors = Vec::new();
        if let Some(name) = draft.name {
            match crate::text::required("name", &name, 200) {
                Ok(name) => self.name = name,
                Err(e) => errors.push(e),
            }
        }
        if let Some(list_ids) = draft.list_ids {
            if list_ids.is_empty() {
                errors.push(FieldError::new("list_ids", "must name at least one list"));
            }
            for id in &list_ids {
                if MailingList::find(conn, self.account_id, *id).is_err() {
                    errors.push(FieldError::new(
                        "list_ids",
                        format!("list {id} does not exist in this account"),
                    ));
                }
            }
            let mut seen = std::collections::HashSet::new();
            let unique: Vec<Id> = list_ids.into_iter().filter(|id| seen.insert(*id)).collect();
            self.list_ids = Json(serde_json::json!(unique));
        }
        if let Some(subject) = draft.subject {
            if let Err(e) = crate::text::required("subject", &subject, MAX_SUBJECT_CHARS) {
                errors.push(e);
            }
            self.subject = subject;
        }
        if let Some(from) = draft.from_email {
            match EmailAddress::parse(&from) {
                Ok(email) => self.from_email = email.into_inner(),
                Err(e) => errors.push(FieldError::new("from_email", e.to_string())),
            }
        }
        if let Some(from_name) = draft.from_name {
            if from_name
                .as_ref()
                .is_some_and(|n| n.chars().count() > 200 || n.contains(['\r', '\n']))
            {
                errors.push(FieldError::new(
                    "from_name",
                    "must be one line of at most 200 characters",
                ));
            }
            self.from_name = from_name.filter(|n| !n.trim().is_empty());
        }
        if let Some(reply_to) = draft.reply_to {
            match reply_to.map(|r| EmailAddress::parse(&r)).transpose() {
                Ok(r) => self.reply_to = r.map(EmailAddress::into_inner),
                Err(e) => errors.push(FieldError::new("reply_to", e.to_string())),
            }
        }
        if let Some(html) = draft.html {
            if html.trim().is_empty() {
                errors.push(FieldError::new("html", "must not be empty"));
            }
            self.html = html;
        }
        if let Some(text) = draft.text {
            self.text_body = text.filter(|t| !t.trim().is_empty());
        }
        if let Some(tracking) = draft.tracking {
            self.tracking = tracking;
        }
        if let Err(template_errors) = check_templates(&self.template()) {
            errors.extend(template_errors.into_iter().map(|e| {
                let at = e.line.map(|l| format!(" (line {l})")).unwrap_or_default();
                FieldError::new(
                    if e.field == "text" {
                        "text".to_owned()
                    } else {
                        e.field.clone()
                    },
                    format!("template error{at}: {}", e.message),
                )
            }));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(errors))
        }
    }

    pub fn find(conn: &mut DbConnection, account_id: Id, id: Id) -> Result<Campaign> {
        campaigns::table
            .find(id)
            .filter(campaigns::account_id.eq(account_id))
            .select(Campaign::as_select())
            .first(conn)
            .optional()?
            .ok_or(Error::NotFound("campaign"))
    }

    /// Reads a campaign for a worker, locking its row on PostgreSQL so that completion
    /// checks and state changes of concurrent workers take turns (SQLite's write lock,
    /// taken by `write_transaction`, already serialises them).
    pub fn lock(conn: &mut DbConnection, id: Id) -> Result<Campaign> {
        let found = match conn {
            DbConnection::Postgres(pg) => campaigns::table
                .find(id)
                .select(Campaign::as_select())
                .for_update()
                .first(pg)
                .optional()?,
            DbConnection::Sqlite(_) => campaigns::table
                .find(id)
                .select(Campaign::as_select())
                .first(conn)
                .optional()?,
        };
        found.ok_or(Error::NotFound("campaign"))
    }

    pub fn list(
        conn: &mut DbConnection,
        account_id: Id,
        page: &PageRequest,
    ) -> Result<Page<Campaign>> {
        let mut query = campaigns::table
            .filter(campaigns::account_id.eq(account_id))
            .select(Campaign::as_select())
            .order(campaigns::id.asc())
            .limit(page.fetch_limit())
            .into_boxed();
        if let Some(after) = page.after {
            query = query.filter(campaigns::id.gt(after));
        }
        Ok(Page::from_rows(query.load(conn)?, page, |c| c.id))
    }

    /// Edits a draft; any other status is a conflict.
    pub fn update(
        conn: &mut DbConnection,
        account_id: Id,
        id: Id,
        draft: CampaignDraft,
    ) -> Result<Campaign> {
        conn.write_transaction(|conn| {
            let mut campaign = Campaign::find(conn, account_id, id)?;
            if campaign.status() != CampaignStatus::Draft {
                return Err(Error::Conflict(format!(
                    "only drafts can be edited; this campaign is {}",
                    campaign.status
                )));
            }
            campaign.apply(conn, draft)?;
            campaign.updated_at = clock::now();
            campaign.save(conn)?;
            Ok(campaign)
        })
    }

    fn save(&self, conn: &mut DbConnection) -> Result<()> {
        diesel::update(campaigns::table.find(self.id))
            .set((
                campaigns::name.eq(&self.name),
                campaigns::subject.eq(&self.subject),
                campaigns::from_email.eq(&self.from_email),
                campaigns::from_name.eq(&self.from_name),
                campaigns::reply_to.eq(&self.reply_to),
                campaigns::html.eq(&self.html),
                campaigns::text_body.eq(&self.text_body),
                campaigns::tracking.eq(self.tracking),
                campaigns::list_ids.eq(&self.list_ids),
                campaigns::status.eq(&self.status),
                campaigns::send_at.eq(self.send_at),
                campaigns::started_at.eq(self.started_at),
                campaigns::completed_at.eq(self.completed_at),
                campaigns::paused_reason.eq(&self.paused_reason),
                campaigns::dispatched_at.eq(self.dispatched_at),
                campaigns::recipients.eq(self.recipients),
                campaigns::consecutive_failures.eq(self.consecutive_failures),
                campaigns::bounce_valve.eq(&self.bounce_valve),
                campaigns::updated_at.eq(self.updated_at),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Deletes a campaign that is not under way and never mailed anyone.
    pub fn delete(conn: &mut DbConnection, account_id: Id, id: Id) -> Result<()> {
        conn.write_transaction(|conn| {
            let campaign = Campaign::find(conn, account_id, id)?;
            if matches!(
                campaign.status(),
                CampaignStatus::Sending | CampaignStatus::Paused | CampaignStatus::Scheduled
            ) {
                return Err(Error::Conflict(format!(
                    "a {} campaign cannot be deleted; cancel it first",
                    campaign.status
                )));
            }
            // Mail already sent carries unsubscribe links that name its messages, and the
            // messages are the delivery history: a campaign that mailed anyone is kept.
            let mailed: i64 = crate::schema::messages::table
                .filter(crate::schema::messages::campaign_id.eq(id))
                .count()
                .get_result(conn)?;
            if mailed > 0 {
                return Err(Error::Conflict(
                    "a campaign that mailed anyone is kept: its messages back the unsubscribe links and the delivery history"
                        .into(),
                ));
            }
            JobRow::cancel_group(conn, id)?;
            diesel::delete(campaigns::table.find(id)).execute(conn)?;
            Ok(())
        })
    }

    fn transition(
        conn: &mut DbConnection,
        account_id: Id,
        id: Id,
        allowed: &[CampaignStatus],
        change: impl FnOnce(&mut DbConnection, &mut Campaign) -> Result<()>,
    ) -> Result<Campaign> {
        conn.write_transaction(|conn| {
            Campaign::find(conn, account_id, id)?;
            let mut campaign = Campaign::lock(conn, id)?;
            if !allowed.contains(&campaign.status()) {
                return Err(Error::Conflict(format!(
                    "not possible while the campaign is {}",
                    campaign.status
                )));
            }
            change(conn, &mut campaign)?;
            campaign.updated_at = clock::now();
            campaign.save(conn)?;
            Ok(campaign)
        })
    }

    /// Starts sending now: the dispatch job is written with the status change.
    pub fn send(conn: &mut DbConnection, account_id: Id, id: Id) -> Result<Campaign> {
        Self::transition(
            conn,
            account_id,
            id,
            &[CampaignStatus::Draft, CampaignStatus::Scheduled],
            |conn, c| {
                Account::ensure_may_send(conn, c.account_id)?;
                if c.status() == CampaignStatus::Scheduled {
                    JobRow::cancel_group(conn, c.id)?;
                }
                c.status = CampaignStatus::Sending.as_str().to_owned();
                c.started_at = Some(clock::now());
                c.send_at = None;
                let options = Enqueue {
                    priority: Priority::DISPATCH,
                    group: Some(c.id),
                    account: Some(c.account_id),
                    ..Enqueue::default()
                };
                JobRow::enqueue(conn, &Job::DispatchCampaign { campaign_id: c.id }, options)?;
                Ok(())
            },
        )
    }

    /// Schedules sending for a future time (a draft or a rescheduled campaign).
    pub fn schedule(
        conn: &mut DbConnection,
        account_id: Id,
        id: Id,
        send_at: Timestamp,
    ) -> Result<Campaign> {
        if send_at <= clock::now() {
            return Err(Error::invalid("send_at", "must be in the future"));
        }
        Self::transition(
            conn,
            account_id,
            id,
            &[CampaignStatus::Draft, CampaignStatus::Scheduled],
            |conn, c| {
                Account::ensure_may_send(conn, c.account_id)?;
                JobRow::cancel_group(conn, c.id)?;
                c.status = CampaignStatus::Scheduled.as_str().to_owned();
                c.send_at = Some(send_at);
                let options = Enqueue {
                    priority: Priority::DISPATCH,
                    group: Some(c.id),
                    run_at: Some(send_at),
                    account: Some(c.account_id),
                    ..Enqueue::default()
                };
                JobRow::enqueue(conn, &Job::DispatchCampaign { campaign_id: c.id }, options)?;
                Ok(())
            },
        )
    }

    /// Stops a campaign for good: waiting messages are skipped.
    pub fn cancel(conn: &mut DbConnection, account_id: Id, id: Id) -> Result<Campaign> {
        Self::transition(
            conn,
            account_id,
            id,
            &[
                CampaignStatus::Scheduled,
                CampaignStatus::Sending,
                CampaignStatus::Paused,
            ],
            |conn, c| {
                JobRow::cancel_group(conn, c.id)?;
                Message::skip_open_in_campaign(conn, c.id, "campaign cancelled")?;
                c.status = CampaignStatus::Cancelled.as_str().to_owned();
                c.completed_at = Some(clock::now());
                Ok(())
            },
        )
    }

    /// Holds a sending campaign's waiting work until it is resumed.
    pub fn pause(conn: &mut DbConnection, account_id: Id, id: Id) -> Result<Campaign> {
        Self::transition(
            conn,
            account_id,
            id,
            &[CampaignStatus::Sending],
            |conn, c| {
                JobRow::hold_group(conn, c.id)?;
                c.status = CampaignStatus::Paused.as_str().to_owned();
                c.paused_reason = Some("paused by request".into());
                Ok(())
            },
        )
    }

    pub fn resume(conn: &mut DbConnection, account_id: Id, id: Id) -> Result<Campaign> {
        Self::transition(
            conn,
            account_id,
            id,
            &[CampaignStatus::Paused],
            |conn, c| {
                Account::ensure_may_send(conn, c.account_id)?;
                JobRow::release_group(conn, c.id)?;
                c.status = CampaignStatus::Sending.as_str().to_owned();
                c.paused_reason = None;
                c.consecutive_failures = 0;
                if c.bounce_valve() == BounceValve::Tripped {
                    c.bounce_valve = BounceValve::Released.as_str().to_owned();
                }
                Ok(())
            },
        )
    }

    /// Holds a campaign's waiting work because its account asked to be deleted (a worker
    /// that finds such a campaign still going calls it too). Only a sending campaign is
    /// paused; any other is left as it is.
    pub fn pause_for_account_deletion(conn: &mut DbConnection, id: Id) -> Result<()> {
        let mut campaign = Campaign::lock(conn, id)?;
        if campaign.status() != CampaignStatus::Sending {
            return Ok(());
        }
        JobRow::hold_group(conn, id)?;
        campaign.status = CampaignStatus::Paused.as_str().to_owned();
        campaign.paused_reason = Some(PAUSED_FOR_DELETION.into());
        campaign.updated_at = clock::now();
        campaign.save(conn)
    }

    /// Holds a sending campaign's waiting work because its account was suspended (a worker
    /// that finds such a campaign still going calls it too). The account is read again
    /// first, under a shared lock: a resume that came since the worker looked leaves the
    /// campaign sending.
    pub fn pause_for_suspension(conn: &mut DbConnection, id: Id) -> Result<()> {
        let account_id: Id = campaigns::table
            .find(id)
            .select(campaigns::account_id)
            .first(conn)?;
        if !Account::find_shared(conn, account_id)?.is_suspended() {
            return Ok(());
        }
        let mut campaign = Campaign::lock(conn, id)?;
        if campaign.status() != CampaignStatus::Sending {
            return Ok(());
        }
        JobRow::hold_group(conn, id)?;
        campaign.status = CampaignStatus::Paused.as_str().to_owned();
        campaign.paused_reason = Some(PAUSED_FOR_SUSPENSION.into());
        campaign.updated_at = clock::now();
        campaign.save(conn)
    }

    /// Continues a campaign the account's suspension paused (and only such a campaign).
    pub fn resume_after_suspension(conn: &mut DbConnection, id: Id) -> Result<()> {
        let mut campaign = Campaign::lock(conn, id)?;
        if campaign.status() != CampaignStatus::Paused
            || campaign.paused_reason.as_deref() != Some(PAUSED_FOR_SUSPENSION)
        {
            return Ok(());
        }
        JobRow::release_group(conn, id)?;
        campaign.status = CampaignStatus::Sending.as_str().to_owned();
        campaign.paused_reason = None;
        campaign.updated_at = clock::now();
        campaign.save(conn)
    }

    /// Notes that the campaign waits for its account's next sending window, until `until`
    /// (written once per window, however many deliveries find it full).
    pub fn note_quota_wait(conn: &mut DbConnection, id: Id, until: Timestamp) -> Result<()> {
        diesel::update(
            campaigns::table.find(id).filter(
                campaigns::quota_wait_until
                    .is_null()
                    .or(campaigns::quota_wait_until.ne(until)),
            ),
        )
        .set(campaigns::quota_wait_until.eq(Some(until)))
        .execute(conn)?;
        Ok(())
    }

    /// Until when the campaign waits for its account's next sending window, if it does now.
    pub fn quota_wait(&self, conn: &mut DbConnection) -> Result<Option<Timestamp>> {
        if self.status() != CampaignStatus::Sending {
            return Ok(None);
        }
        let until: Option<Timestamp> = campaigns::table
            .find(self.id)
            .select(campaigns::quota_wait_until)
            .first(conn)?;
        Ok(until.filter(|u| u.0 > clock::now().0))
    }

    /// Progress from the message counts.
    pub fn progress(&self, conn: &mut DbConnection) -> Result<Progress> {
        let mut progress = Progress {
            recipients: self.recipients as i64,
            ..Progress::default()
        };
        for (status, count) in Message::campaign_counts(conn, self.id)? {
            match MessageStatus::parse(&status) {
                Some(MessageStatus::Queued | MessageStatus::Sending) => progress.queued += count,
                Some(MessageStatus::Deferred) => progress.deferred += count,
                Some(MessageStatus::Sent) => progress.sent += count,
                Some(MessageStatus::Failed) => progress.failed += count,
                Some(MessageStatus::Bounced) => progress.bounced += count,
                Some(MessageStatus::Skipped) => progress.skipped += count,
                None => {}
            }
        }
        Ok(progress)
    }

    // --- worker-side state changes -------------------------------------------------

    /// A scheduled campaign whose time came starts sending.
    pub fn start_sending(conn: &mut DbConnection, id: Id) -> Result<()> {
        let now = clock::now();
        diesel::update(campaigns::table.find(id))
            .set((
                campaigns::status.eq(CampaignStatus::Sending.as_str()),
                campaigns::started_at.eq(Some(now)),
                campaigns::updated_at.eq(now),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// The dispatcher found every recipient.
    pub fn mark_dispatched(conn: &mut DbConnection, id: Id, recipients: i32) -> Result<()> {
        diesel::update(campaigns::table.find(id))
            .set((
                campaigns::dispatched_at.eq(Some(clock::now())),
                campaigns::recipients.eq(recipients),
                campaigns::updated_at.eq(clock::now()),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Marks the campaign `sent` once dispatched with no open message left. Call inside a
    /// write transaction after the campaign row was locked.
    pub fn complete_if_done(conn: &mut DbConnection, id: Id) -> Result<bool> {
        let campaign = Campaign::lock(conn, id)?;
        if campaign.status() != CampaignStatus::Sending || campaign.dispatched_at.is_none() {
            return Ok(false);
        }
        if Message::open_in_campaign(conn, id)? > 0 {
            return Ok(false);
        }
        let now = clock::now();
        diesel::update(campaigns::table.find(id))
            .set((
                campaigns::status.eq(CampaignStatus::Sent.as_str()),
                campaigns::completed_at.eq(Some(now)),
                campaigns::updated_at.eq(now),
            ))
            .execute(conn)?;
        Ok(true)
    }

    /// Counts a relay failure or a blocked answer (see `outcomes`); after `limit` in a row
    /// the campaign pauses itself (and holds its waiting work) instead of burning through
    /// its list. `reason` is the answer, quoted in `paused_reason`.
    pub fn record_relay_failure(
        conn: &mut DbConnection,
        id: Id,
        limit: i32,
        reason: &str,
    ) -> Result<bool> {
        let campaign = Campaign::lock(conn, id)?;
        let failures = campaign.consecutive_failures + 1;
        let pause = failures >= limit && campaign.status() == CampaignStatus::Sending;
        let now = clock::now();
        diesel::update(campaigns::table.find(id))
            .set((
                campaigns::consecutive_failures.eq(failures),
                campaigns::updated_at.eq(now),
            ))
            .execute(conn)?;
        if pause {
            JobRow::hold_group(conn, id)?;
            diesel::update(campaigns::table.find(id))
                .set((
                    campaigns::status.eq(CampaignStatus::Paused.as_str()),
                    campaigns::paused_reason.eq(Some(format!(
                        "paused after {failures} consecutive delivery failures: {reason}"
                    ))),
                ))
                .execute(conn)?;
        }
        Ok(pause)
    }

    /// Watches a hard bounce of the campaign with its safety valve; answers whether the
    /// address may be suppressed. Within `valve.minutes` of the start, once the campaign's
    /// hard bounces reach the valve's threshold and are also that share of its outcomes
    /// so far, the campaign pauses (quoting `answer`) and its hard bounces suppress
    /// nothing more until it is resumed. Cheap while armed: two counts over the campaign's
    /// `(campaign_id, status)` index, and only in its first minutes.
    pub fn record_hard_bounce(
        conn: &mut DbConnection,
        id: Id,
        valve: &BounceValveSettings,
        answer: &str,
    ) -> Result<bool> {
        let campaign = Campaign::find_any(conn, id)?;
        match campaign.bounce_valve() {
            BounceValve::Released => return Ok(true),
            BounceValve::Tripped => return Ok(false),
            BounceValve::Armed => {}
        }
        let counted = campaign
            .dispatched_at
            .map(|_| i64::from(campaign.recipients));
        let Some(threshold) = valve.threshold(counted) else {
            return Ok(true);
        };
        let armed_until = campaign
            .started_at
            .map(|at| at.0 + chrono::Duration::minutes(i64::from(valve.minutes)));
        if campaign.status() != CampaignStatus::Sending
            || armed_until.is_none_or(|until| until < clock::now().0)
        {
            return Ok(true);
        }
        let bounced = Message::count_in_campaign(conn, id, &[MessageStatus::Bounced])?;
        if bounced < threshold {
            return Ok(true);
        }
        let outcomes = Message::count_in_campaign(
            conn,
            id,
            &[
                MessageStatus::Sent,
                MessageStatus::Bounced,
                MessageStatus::Failed,
            ],
        )?;
        if bounced * 100 < outcomes * i64::from(valve.percent) {
            return Ok(true);
        }
        let mut campaign = Campaign::lock(conn, id)?;
        if campaign.bounce_valve() != BounceValve::Armed
            || campaign.status() != CampaignStatus::Sending
        {
            return Ok(campaign.bounce_valve() != BounceValve::Tripped);
        }
        JobRow::hold_group(conn, id)?;
        campaign.status = CampaignStatus::Paused.as_str().to_owned();
        campaign.bounce_valve = BounceValve::Tripped.as_str().to_owned();
        campaign.paused_reason = Some(format!(
            "paused by the hard-bounce safety valve: {bounced} of the first {outcomes} \
             recipients hard-bounced within {} minutes of the start (latest: {answer}); \
             review the campaign's suppressions (GET /v1/suppressions?campaign_id={id}), \
             undo them if the relay was at fault (DELETE /v1/suppressions?campaign_id={id}\
             &reason=hard_bounce), then resume or cancel",
            valve.minutes
        ));
        campaign.updated_at = clock::now();
        campaign.save(conn)?;
        Ok(false)
    }

    pub fn record_relay_success(conn: &mut DbConnection, id: Id) -> Result<()> {
        diesel::update(
            campaigns::table
                .find(id)
                .filter(campaigns::consecutive_failures.gt(0)),
        )
        .set(campaigns::consecutive_failures.eq(0))
        .execute(conn)?;
        Ok(())
    }

    pub fn find_any(conn: &mut DbConnection, id: Id) -> Result<Campaign> {
        campaigns::table
            .find(id)
            .select(Campaign::as_select())
            .first(conn)
            .optional()?
            .ok_or(Error::NotFound("campaign"))
    }
}
