//! Sending limits: how many messages an account may hand to delivery per hour and per UTC
//! day. Windows are fixed (the clock hour, the UTC day) and their counters live in the
//! database, so every sender process shares them: a slot is taken by a conditional
//! increment (`sent = sent + n WHERE sent <= limit - n`), which never passes the limit
//! however many processes race for the last slots.

use chrono::{DateTime, Duration, DurationRound, Utc};
use diesel::prelude::*;

use super::account::Account;
use crate::error::{Error, Result};
use crate::schema::account_send_windows;
use crate::store::DbConnection;
use crate::store::sql_types::{Id, Timestamp};

/// Messages per hour and per day; `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct SendingLimits {
    /// Messages per clock hour (`null`: unlimited).
    pub messages_per_hour: Option<u32>,
    /// Messages per UTC day (`null`: unlimited).
    pub messages_per_day: Option<u32>,
}

impl SendingLimits {
    /// The account's own limits where it has them, the installation's defaults otherwise.
    pub fn of(account: &Account, defaults: &SendingLimits) -> SendingLimits {
        let (hour, day) = account.limit_settings();
        SendingLimits {
            messages_per_hour: hour.applied(defaults.messages_per_hour),
            messages_per_day: day.applied(defaults.messages_per_day),
        }
    }

    fn each(&self) -> impl Iterator<Item = (Period, u32)> {
        [
            (Period::Hour, self.messages_per_hour),
            (Period::Day, self.messages_per_day),
        ]
        .into_iter()
        .filter_map(|(period, limit)| limit.map(|l| (period, l)))
    }

    pub fn is_unlimited(&self) -> bool {
        self.each().next().is_none()
    }
}

/// An account's own setting of one limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitSetting {
    /// The installation's default applies (`MAILROOM_ACCOUNT_MESSAGES_PER_*`).
    Default,
    /// No limit, whatever the installation's default.
    Unlimited,
    /// At most this many messages (1 to [`MAX_LIMIT`]).
    AtMost(u32),
}

impl LimitSetting {
    /// How the column stores "unlimited" (`NULL` is the default; a limit of no message at
    /// all is a suspension, never a limit, so 0 is free to mean none).
    const UNLIMITED: i32 = 0;

    pub fn from_stored(value: Option<i32>) -> LimitSetting {
        match value {
            None => LimitSetting::Default,
            Some(Self::UNLIMITED) => LimitSetting::Unlimited,
            Some(n) => u32::try_from(n).map_or(LimitSetting::Default, LimitSetting::AtMost),
        }
    }

    fn stored(self) -> Option<i32> {
        match self {
            LimitSetting::Default => None,
            LimitSetting::Unlimited => Some(Self::UNLIMITED),
            LimitSetting::AtMost(n) => Some(i32::try_from(n).unwrap_or(i32::MAX)),
        }
    }

    /// The limit it makes, given the installation's default (`None`: unlimited).
    pub fn applied(self, default: Option<u32>) -> Option<u32> {
        match self {
            LimitSetting::Default => default,
            LimitSetting::Unlimited => None,
            LimitSetting::AtMost(n) => Some(n),
        }
    }
}

impl Account {
    /// The account's own settings of its hourly and daily limits.
    pub fn limit_settings(&self) -> (LimitSetting, LimitSetting) {
        (
            LimitSetting::from_stored(self.messages_per_hour),
            LimitSetting::from_stored(self.messages_per_day),
        )
    }

    /// Sets the account's own limits (`None` leaves one as it is).
    pub fn set_limits(
        conn: &mut DbConnection,
        id: Id,
        per_hour: Option<LimitSetting>,
        per_day: Option<LimitSetting>,
    ) -> Result<Account> {
        use crate::schema::accounts;
        for (field, value) in [
            ("messages_per_hour", per_hour),
            ("messages_per_day", per_day),
        ] {
            if let Some(LimitSetting::AtMost(n)) = value
                && !(1..=MAX_LIMIT).contains(&n)
            {
                return Err(Error::invalid(
                    format!("limits.{field}"),
                    format!(
                        "must be from 1 to {MAX_LIMIT}, \"unlimited\", or null for the installation's default"
                    ),
                ));
            }
        }
        conn.write_transaction(|conn| {
            let mut account = Account::find(conn, id)?;
            if let Some(v) = per_hour {
                account.messages_per_hour = v.stored();
            }
            if let Some(v) = per_day {
                account.messages_per_day = v.stored();
            }
            account.updated_at = crate::clock::now();
            diesel::update(accounts::table.find(id))
                .set((
                    accounts::messages_per_hour.eq(account.messages_per_hour),
                    accounts::messages_per_day.eq(account.messages_per_day),
                    accounts::updated_at.eq(account.updated_at),
                ))
                .execute(conn)?;
            Ok(account)
        })
    }
}

/// The largest limit an operator can set (per hour or per day).
pub const MAX_LIMIT: u32 = 100_000_000;

/// A counting window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Hour,
    Day,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Hour => "hour",
            Period::Day => "day",
        }
    }

    fn length(self) -> Duration {
        match self {
            Period::Hour => Duration::hours(1),
            Period::Day => Duration::days(1),
        }
    }

    /// The start of the window `at` falls in.
    pub fn start(self, at: DateTime<Utc>) -> DateTime<Utc> {
        at.duration_trunc(self.length()).unwrap_or(at)
    }

    /// When the window `at` falls in ends (and the next one starts).
    pub fn end(self, at: DateTime<Utc>) -> DateTime<Utc> {
        self.start(at) + self.length()
    }
}

/// What taking slots gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// This many slots (at least one, at most what was asked).
    Granted(u32),
    /// None left: the earliest time one can be, the end of the full window that ends last.
    Exhausted { until: Timestamp },
}

/// One window's count, for reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct WindowUsage {
    /// Messages handed to delivery in the current window.
    pub sent: u32,
    /// The limit (`null`: unlimited).
    pub limit: Option<u32>,
    /// When the window ends.
    pub resets_at: Timestamp,
}

/// Takes up to `wanted` slots in every limited window of the account; call it inside a
/// write transaction. Windows of earlier periods are dropped as new ones start.
pub fn take(
    conn: &mut DbConnection,
    account_id: Id,
    limits: &SendingLimits,
    wanted: u32,
    now: DateTime<Utc>,
) -> Result<Taken> {
    if wanted == 0 {
        return Ok(Taken::Granted(0));
    }
    if limits.is_unlimited() {
        // Counted all the same: the operator's view and metrics show what every account
        // sends.
        for period in [Period::Hour, Period::Day] {
            current(conn, account_id, period, now)?;
            increment(conn, account_id, period, now, wanted, u32::MAX)?;
        }
        return Ok(Taken::Granted(wanted));
    }
    // A lost race (another process took the room read here) tries again with what is left.
    for _ in 0..8 {
        let mut room = wanted;
        let mut until: Option<DateTime<Utc>> = None;
        for (period, limit) in limits.each() {
            let sent = current(conn, account_id, period, now)?;
            let left = limit.saturating_sub(sent);
            if left == 0 {
                let end = period.end(now);
                until = Some(until.map_or(end, |u| u.max(end)));
            }
            room = room.min(left);
        }
        if let Some(until) = until {
            return Ok(Taken::Exhausted {
                until: Timestamp::from(until),
            });
        }
        let mut taken = Vec::new();
        for (period, limit) in limits.each() {
            if increment(conn, account_id, period, now, room, limit)? {
                taken.push(period);
            } else {
                for period in taken.drain(..) {
                    decrement(conn, account_id, period, now, room)?;
                }
                break;
            }
        }
        if !taken.is_empty() {
            return Ok(Taken::Granted(room));
        }
    }
    Err(Error::Unavailable(
        "the sending counters are busy; try again".into(),
    ))
}

/// When the account may send again if a window is full now (`None`: it may send).
pub fn exhausted_until(
    conn: &mut DbConnection,
    account_id: Id,
    limits: &SendingLimits,
    now: DateTime<Utc>,
) -> Result<Option<Timestamp>> {
    let mut until: Option<DateTime<Utc>> = None;
    for (period, limit) in limits.each() {
        if read(conn, account_id, period, now)? >= limit {
            let end = period.end(now);
            until = Some(until.map_or(end, |u| u.max(end)));
        }
    }
    Ok(until.map(Timestamp::from))
}

/// The current hour's and day's counts.
pub fn usage(
    conn: &mut DbConnection,
    account_id: Id,
    limits: &SendingLimits,
    now: DateTime<Utc>,
) -> Result<(WindowUsage, WindowUsage)> {
    let window = |conn: &mut DbConnection, period: Period, limit: Option<u32>| {
        Ok::<_, Error>(WindowUsage {
            sent: read(conn, account_id, period, now)?,
            limit,
            resets_at: Timestamp::from(period.end(now)),
        })
    };
    Ok((
        window(conn, Period::Hour, limits.messages_per_hour)?,
        window(conn, Period::Day, limits.messages_per_day)?,
    ))
}

fn key(account_id: Id, period: Period, now: DateTime<Utc>) -> (Id, &'static str, Timestamp) {
    (
        account_id,
        period.as_str(),
        Timestamp::from(period.start(now)),
    )
}

fn read(
    conn: &mut DbConnection,
    account_id: Id,
    period: Period,
    now: DateTime<Utc>,
) -> Result<u32> {
    let (account, name, starts_at) = key(account_id, period, now);
    let sent: Option<i32> = account_send_windows::table
        .filter(account_send_windows::account_id.eq(account))
        .filter(account_send_windows::period.eq(name))
        .filter(account_send_windows::starts_at.eq(starts_at))
        .select(account_send_windows::sent)
        .first(conn)
        .optional()?;
    Ok(sent.unwrap_or(0).max(0) as u32)
}

/// The window's count, its row written first if the window just started.
fn current(
    conn: &mut DbConnection,
    account_id: Id,
    period: Period,
    now: DateTime<Utc>,
) -> Result<u32> {
    let (account, name, starts_at) = key(account_id, period, now);
    let row = (
        account_send_windows::account_id.eq(account),
        account_send_windows::period.eq(name),
        account_send_windows::starts_at.eq(starts_at),
        account_send_windows::sent.eq(0),
    );
    // `ON CONFLICT DO NOTHING` does not compile through the multi-backend connection.
    let insert = diesel::insert_into(account_send_windows::table)
        .values(row)
        .on_conflict_do_nothing();
    let inserted = match conn {
        DbConnection::Postgres(pg) => insert.execute(pg)?,
        DbConnection::Sqlite(lite) => insert.execute(lite)?,
    };
    if inserted > 0 {
        // A new window: the account's windows of that period that ended are done with.
        diesel::delete(
            account_send_windows::table
                .filter(account_send_windows::account_id.eq(account))
                .filter(account_send_windows::period.eq(name))
                .filter(account_send_windows::starts_at.lt(starts_at)),
        )
        .execute(conn)?;
    }
    read(conn, account_id, period, now)
}

/// Adds `n` unless that passes `limit`; answers whether it did.
fn increment(
    conn: &mut DbConnection,
    account_id: Id,
    period: Period,
    now: DateTime<Utc>,
    n: u32,
    limit: u32,
) -> Result<bool> {
    let (account, name, starts_at) = key(account_id, period, now);
    let ceiling = i32::try_from(limit.saturating_sub(n)).unwrap_or(i32::MAX);
    let updated = diesel::update(
        account_send_windows::table
            .filter(account_send_windows::account_id.eq(account))
            .filter(account_send_windows::period.eq(name))
            .filter(account_send_windows::starts_at.eq(starts_at))
            .filter(account_send_windows::sent.le(ceiling)),
    )
    .set(account_send_windows::sent.eq(account_send_windows::sent + n as i32))
    .execute(conn)?;
    Ok(updated > 0)
}

fn decrement(
    conn: &mut DbConnection,
    account_id: Id,
    period: Period,
    now: DateTime<Utc>,
    n: u32,
) -> Result<()> {
    let (account, name, starts_at) = key(account_id, period, now);
    diesel::update(
        account_send_windows::table
            .filter(account_send_windows::account_id.eq(account))
            .filter(account_send_windows::period.eq(name))
            .filter(account_send_windows::starts_at.eq(starts_at)),
    )
    .set(account_send_windows::sent.eq(account_send_windows::sent - n as i32))
    .execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn windows_are_the_clock_hour_and_the_utc_day() {
        let now = at("2026-12-07T18:42:10.5Z");
        assert_eq!(Period::Hour.start(now), at("2026-12-07T18:00:00Z"));
        assert_eq!(Period::Hour.end(now), at("2026-12-07T19:00:00Z"));
        assert_eq!(Period::Day.start(now), at("2026-12-07T00:00:00Z"));
        assert_eq!(Period::Day.end(now), at("2026-12-08T00:00:00Z"));
    }

    #[test]
    fn an_account_limit_overrides_the_installation_default_and_none_means_unlimited() {
        let defaults = SendingLimits {
            messages_per_hour: Some(100),
            messages_per_day: None,
        };
        let mut account = crate::accounts::Account::create_sample("Shop");
        assert_eq!(SendingLimits::of(&account, &defaults), defaults);
        account.messages_per_day = Some(500);
        account.messages_per_hour = Some(10);
        assert_eq!(
            SendingLimits::of(&account, &defaults),
            SendingLimits {
                messages_per_hour: Some(10),
                messages_per_day: Some(500)
            }
        );
        assert!(SendingLimits::default().is_unlimited());
        // Unlimited is the account's own setting, distinct from "the default".
        account.messages_per_hour = LimitSetting::Unlimited.stored();
        account.messages_per_day = LimitSetting::Default.stored();
        assert_eq!(
            SendingLimits::of(&account, &defaults),
            SendingLimits::default()
        );
        assert_eq!(
            account.limit_settings(),
            (LimitSetting::Unlimited, LimitSetting::Default)
        );
    }
}
