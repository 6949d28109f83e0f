//! An account's retention policy: how many days each kind of record is kept, its bounds,
//! and the cut-off times a purge derives from it for a given moment.

use serde::{Deserialize, Serialize};

use crate::error::{Error, FieldError, Result};
use crate::store::sql_types::Timestamp;

/// Days each kind of record is kept (whole days, [`RetentionPolicy::MIN_DAYS`] to
/// [`RetentionPolicy::MAX_DAYS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RetentionPolicy {
    /// Events (sent, bounce, open, click, …) older than this are deleted. Campaign
    /// statistics are counters kept apart and stay. Default 395 (13 months: a year of
    /// history to compare against, and a month to spare).
    pub events_days: i32,
    /// Message content and logs older than this are removed: the recipient's address and
    /// name, subject, transactional body and variables, relay answers, the sandbox copy
    /// and inbound bounce/complaint reports. The message keeps its id and status, so
    /// campaign progress still counts it. Default 90.
    pub messages_days: i32,
    /// Exports made for data-subject access requests are deleted after this. Default 30.
    pub dsr_exports_days: i32,
    /// Webhook deliveries that reached a final state (delivered, failed, disabled), with
    /// their payloads, are deleted after this. Default 30.
    pub webhook_deliveries_days: i32,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        RetentionPolicy {
            events_days: 395,
            messages_days: 90,
            dsr_exports_days: 30,
            webhook_deliveries_days: 30,
        }
    }
}

/// A change to a retention policy; absent fields stay as they are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionChange {
    #[schema(minimum = 1, maximum = 3650)]
    pub events_days: Option<i32>,
    #[schema(minimum = 1, maximum = 3650)]
    pub messages_days: Option<i32>,
    #[schema(minimum = 1, maximum = 3650)]
    pub dsr_exports_days: Option<i32>,
    #[schema(minimum = 1, maximum = 3650)]
    pub webhook_deliveries_days: Option<i32>,
}

impl RetentionChange {
    /// The names of the settings this change sets, as `retention.<name>`.
    pub fn fields(&self) -> Vec<&'static str> {
        [
            ("retention.events_days", self.events_days),
            ("retention.messages_days", self.messages_days),
            ("retention.dsr_exports_days", self.dsr_exports_days),
            (
                "retention.webhook_deliveries_days",
                self.webhook_deliveries_days,
            ),
        ]
        .into_iter()
        .filter(|(_, v)| v.is_some())
        .map(|(name, _)| name)
        .collect()
    }
}

/// The moments before which records are past retention, for one purge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoffs {
    pub events: Timestamp,
    pub messages: Timestamp,
    pub dsr_exports: Timestamp,
    pub webhook_deliveries: Timestamp,
}

impl RetentionPolicy {
    pub const MIN_DAYS: i32 = 1;
    /// Ten years: longer is not retention any more.
    pub const MAX_DAYS: i32 = 3650;

    /// The policy with `change` applied, if every value is within bounds; otherwise a
    /// validation error naming each offending field.
    pub fn apply(&self, change: &RetentionChange) -> Result<RetentionPolicy> {
        let mut errors = Vec::new();
        let mut check = |field: &str, value: Option<i32>, current: i32| match value {
            None => current,
            Some(days) if (Self::MIN_DAYS..=Self::MAX_DAYS).contains(&days) => days,
            Some(_) => {
                errors.push(FieldError::new(
                    format!("retention.{field}"),
                    format!(
                        "must be a whole number of days from {} to {}",
                        Self::MIN_DAYS,
                        Self::MAX_DAYS
                    ),
                ));
                current
            }
        };
        let policy = RetentionPolicy {
            events_days: check("events_days", change.events_days, self.events_days),
            messages_days: check("messages_days", change.messages_days, self.messages_days),
            dsr_exports_days: check(
                "dsr_exports_days",
                change.dsr_exports_days,
                self.dsr_exports_days,
            ),
            webhook_deliveries_days: check(
                "webhook_deliveries_days",
                change.webhook_deliveries_days,
                self.webhook_deliveries_days,
            ),
        };
        if errors.is_empty() {
            Ok(policy)
        } else {
            Err(Error::Invalid(errors))
        }
    }

    /// What is past retention as of `as_of`: anything strictly older than `as_of` minus
    /// the days kept.
    pub fn cutoffs(&self, as_of: Timestamp) -> Cutoffs {
        let before = |days: i32| Timestamp::from(as_of.0 - chrono::Duration::days(days.into()));
        Cutoffs {
            events: before(self.events_days),
            messages: before(self.messages_days),
            dsr_exports: before(self.dsr_exports_days),
            webhook_deliveries: before(self.webhook_deliveries_days),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_keeps_what_it_does_not_name_and_refuses_out_of_bounds_days_by_field() {
        let policy = RetentionPolicy::default();
        let changed = policy
            .apply(&RetentionChange {
                events_days: Some(30),
                ..RetentionChange::default()
            })
            .unwrap();
        assert_eq!(changed.events_days, 30);
        assert_eq!(changed.messages_days, policy.messages_days);

        let err = policy
            .apply(&RetentionChange {
                events_days: Some(0),
                webhook_deliveries_days: Some(3651),
                messages_days: Some(3650),
                dsr_exports_days: Some(1),
            })
            .unwrap_err();
        let Error::Invalid(fields) = err else {
            panic!("not a validation error")
        };
        let names: Vec<_> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            names,
            ["retention.events_days", "retention.webhook_deliveries_days"]
        );
    }

    #[test]
    fn cutoffs_are_as_of_minus_the_days_kept() {
        let as_of = Timestamp::from(
            chrono::DateTime::parse_from_rfc3339("2026-12-31T12:00:00Z")
                .unwrap()
                .with_timezone(&chrono::Utc),
        );
        let cut = RetentionPolicy {
            events_days: 1,
            messages_days: 30,
            dsr_exports_days: 7,
            webhook_deliveries_days: 365,
        }
        .cutoffs(as_of);
        assert_eq!(cut.events.0.to_rfc3339(), "2026-12-30T12:00:00+00:00");
        assert_eq!(cut.messages.0.to_rfc3339(), "2026-12-01T12:00:00+00:00");
        assert_eq!(cut.dsr_exports.0.to_rfc3339(), "2026-12-24T12:00:00+00:00");
        assert_eq!(
            cut.webhook_deliveries.0.to_rfc3339(),
            "2025-12-31T12:00:00+00:00"
        );
    }
}
