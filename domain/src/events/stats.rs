//! Campaign statistics: counters the events worker keeps, with rates and clicks per link.

use diesel::prelude::*;
use serde::Serialize;

use crate::error::Result;
use crate::schema::{campaign_stats, events};
use crate::store::DbConnection;
use crate::store::sql_types::{Id, Timestamp};

/// The stored counters of one campaign.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = campaign_stats)]
pub struct CounterRow {
    pub campaign_id: Id,
    pub account_id: Id,
    pub sent: i32,
    pub deferred: i32,
    pub bounced_hard: i32,
    pub bounced_soft: i32,
    pub blocked: i32,
    pub opened_unique: i32,
    pub opened_total: i32,
    pub clicked_unique: i32,
    pub clicked_total: i32,
    pub unsubscribed: i32,
    pub complained: i32,
    pub failed: i32,
    pub updated_at: Timestamp,
}

impl CounterRow {
    pub fn zero(campaign_id: Id, account_id: Id, at: Timestamp) -> CounterRow {
        CounterRow {
            campaign_id,
            account_id,
            sent: 0,
            deferred: 0,
            bounced_hard: 0,
            bounced_soft: 0,
            blocked: 0,
            opened_unique: 0,
            opened_total: 0,
            clicked_unique: 0,
            clicked_total: 0,
            unsubscribed: 0,
            complained: 0,
            failed: 0,
            updated_at: at,
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Unique {
    pub unique: i64,
    pub total: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Bounced {
    pub hard: i64,
    pub soft: i64,
}

/// Rates as fractions (0–1): delivery and bounces of recipients, opens, clicks,
/// unsubscribes and complaints of messages sent (unique counts).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Rates {
    pub delivery: f64,
    pub bounce: f64,
    pub open: f64,
    pub click: f64,
    /// Unique clicks over unique opens.
    pub click_to_open: f64,
    pub unsubscribe: f64,
    pub complaint: f64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LinkClicks {
    pub url: String,
    pub total: i64,
    pub unique: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CampaignStats {
    pub campaign_id: Id,
    /// Eligible recipients found at dispatch.
    pub recipients: i64,
    pub sent: i64,
    pub deferred: i64,
    pub bounced: Bounced,
    /// Not sent by Mailroom's own rules: suppressed, no longer subscribed, or without
    /// consent at delivery time. A relay's refusal counts in `failed`.
    pub blocked: i64,
    pub opened: Unique,
    pub clicked: Unique,
    pub unsubscribed: i64,
    pub complained: i64,
    /// Refused without blaming the address (`blocked` events with `source` `failed` or
    /// `dsn`: a policy, authentication or protocol answer, quoted in their `diagnostic`),
    /// or given up on after the last attempt. Soft bounces count in `bounced.soft`.
    pub failed: i64,
    pub rates: Rates,
    /// Clicks per link, most clicked first.
    pub links: Vec<LinkClicks>,
}

/// Clicks per link, counted by the database (a campaign's clicks are never read out one by
/// one): most clicked first. A link whose URL an erasure removed counts under "".
fn clicks_per_link(conn: &mut DbConnection, campaign_id: Id) -> Result<Vec<LinkClicks>> {
    use diesel::dsl::{count, count_star};
    let grouped: Vec<(Option<String>, i64, i64)> = events::table
        .filter(events::campaign_id.eq(campaign_id))
        .filter(events::event_type.eq("click"))
        .group_by(events::url)
        .select((
            events::url,
            count_star(),
            count(events::message_id).aggregate_distinct(),
        ))
        .load(conn)?;
    // A click's URL is never empty, so the group of NULL (URLs an erasure removed) is the
    // only one that reads as "".
    let mut links: Vec<LinkClicks> = grouped
        .into_iter()
        .map(|(url, total, unique)| LinkClicks {
            url: url.unwrap_or_default(),
            total,
            unique,
        })
        .collect();
    links.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.url.cmp(&b.url)));
    Ok(links)
}

fn ratio(part: i64, whole: i64) -> f64 {
    if whole <= 0 {
        0.0
    } else {
        ((part as f64 / whole as f64) * 10_000.0).round() / 10_000.0
    }
}

impl CampaignStats {
    pub fn load(
        conn: &mut DbConnection,
        campaign_id: Id,
        recipients: i64,
    ) -> Result<CampaignStats> {
        let row = campaign_stats::table
            .find(campaign_id)
            .select(CounterRow::as_select())
            .first(conn)
            .optional()?
            .unwrap_or_else(|| CounterRow::zero(campaign_id, Id::default(), crate::clock::now()));
        let links = clicks_per_link(conn, campaign_id)?;
        let n = |v: i32| i64::from(v);
        let sent = n(row.sent);
        let bounced = n(row.bounced_hard) + n(row.bounced_soft);
        Ok(CampaignStats {
            campaign_id,
            recipients,
            sent,
            deferred: n(row.deferred),
            bounced: Bounced {
                hard: n(row.bounced_hard),
                soft: n(row.bounced_soft),
            },
            blocked: n(row.blocked),
            opened: Unique {
                unique: n(row.opened_unique),
                total: n(row.opened_total),
            },
            clicked: Unique {
                unique: n(row.clicked_unique),
                total: n(row.clicked_total),
            },
            unsubscribed: n(row.unsubscribed),
            complained: n(row.complained),
            failed: n(row.failed),
            rates: Rates {
                delivery: ratio(sent, recipients),
                bounce: ratio(bounced, recipients),
                open: ratio(n(row.opened_unique), sent),
                click: ratio(n(row.clicked_unique), sent),
                click_to_open: ratio(n(row.clicked_unique), n(row.opened_unique)),
                unsubscribe: ratio(n(row.unsubscribed), sent),
                complaint: ratio(n(row.complained), sent),
            },
            links,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::ratio;

    #[test]
    fn rates_are_fractions_and_zero_without_a_base() {
        assert_eq!(ratio(1, 3), 0.3333);
        assert_eq!(ratio(5, 0), 0.0);
    }
}
