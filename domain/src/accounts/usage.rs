//! What the operator sees of the accounts it hosts: counts and sending usage, never the
//! data of an account's contacts.

use chrono::{DateTime, Duration, Utc};
use diesel::dsl::count_star;
use diesel::prelude::*;

use super::account::{Account, AccountStatus};
use crate::error::Result;
use crate::events::EventType;
use crate::pagination::{Page, PageRequest};
use crate::schema::{accounts, contacts, events, lists};
use crate::store::DbConnection;
use crate::store::sql_types::{Id, Timestamp};

/// Sending outcomes over a period, from the account's events.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct SendingUsage {
    /// Messages the relay accepted.
    pub sent: i64,
    /// Messages that bounced (hard or soft).
    pub bounced: i64,
    /// Spam complaints (feedback reports).
    pub complained: i64,
    /// Messages Mailroom did not send (suppressed, unsubscribed, given up on).
    pub blocked: i64,
    /// `bounced / sent` (0 when nothing was sent).
    pub bounce_rate: f64,
    /// `complained / sent` (0 when nothing was sent).
    pub complaint_rate: f64,
}

impl SendingUsage {
    fn with_rates(mut self) -> Self {
        if self.sent > 0 {
            self.bounce_rate = self.bounced as f64 / self.sent as f64;
            self.complaint_rate = self.complained as f64 / self.sent as f64;
        }
        self
    }
}

/// The last day's and the last 30 days' usage.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct UsagePeriods {
    pub last_24h: SendingUsage,
    pub last_30d: SendingUsage,
}

/// Sending outcomes of `account_id` since `since`.
pub fn sending_usage(
    conn: &mut DbConnection,
    account_id: Id,
    since: DateTime<Utc>,
) -> Result<SendingUsage> {
    let counted = [
        EventType::Sent,
        EventType::Bounce,
        EventType::Spam,
        EventType::Blocked,
    ]
    .map(EventType::as_str);
    let rows: Vec<(String, i64)> = events::table
        .filter(events::account_id.eq(account_id))
        .filter(events::occurred_at.ge(Timestamp::from(since)))
        .filter(events::event_type.eq_any(counted))
        .group_by(events::event_type)
        .select((events::event_type, count_star()))
        .load(conn)?;
    let mut usage = SendingUsage::default();
    for (kind, n) in rows {
        match EventType::parse(&kind) {
            Some(EventType::Sent) => usage.sent = n,
            Some(EventType::Bounce) => usage.bounced = n,
            Some(EventType::Spam) => usage.complained = n,
            Some(EventType::Blocked) => usage.blocked = n,
            _ => {}
        }
    }
    Ok(usage.with_rates())
}

pub fn usage_periods(
    conn: &mut DbConnection,
    account_id: Id,
    now: DateTime<Utc>,
) -> Result<UsagePeriods> {
    Ok(UsagePeriods {
        last_24h: sending_usage(conn, account_id, now - Duration::hours(24))?,
        last_30d: sending_usage(conn, account_id, now - Duration::days(30))?,
    })
}

/// How many contacts and lists the account holds.
pub fn holdings(conn: &mut DbConnection, account_id: Id) -> Result<(i64, i64)> {
    let contacts = contacts::table
        .filter(contacts::account_id.eq(account_id))
        .count()
        .get_result(conn)?;
    let lists = lists::table
        .filter(lists::account_id.eq(account_id))
        .count()
        .get_result(conn)?;
    Ok((contacts, lists))
}

/// A page of accounts in id order, optionally of one status.
pub fn list_accounts(
    conn: &mut DbConnection,
    status: Option<AccountStatus>,
    page: &PageRequest,
) -> Result<Page<Account>> {
    let mut query = accounts::table
        .select(Account::as_select())
        .order(accounts::id.asc())
        .limit(page.fetch_limit())
        .into_boxed();
    if let Some(status) = status {
        query = query.filter(accounts::status.eq(status.as_str()));
    }
    if let Some(after) = page.after {
        query = query.filter(accounts::id.gt(after));
    }
    Ok(Page::from_rows(query.load(conn)?, page, |a| a.id))
}
