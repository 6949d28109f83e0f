//! Abuse limits of the API, as settings: request rates (per client address, per API key,
//! per public token), how many key secrets are verified at once, how long a request body
//! may take to arrive, and the window in which repeated tracking hits count once.
//!
//! A rate is written `COUNT/UNIT` with an optional burst: `10/s`, `600/min`,
//! `20/min,burst=5`, `off`. Without a burst, one unit's count may come at once. The limit
//! refills evenly: `600/min` allows a request every 100 ms once the burst is spent.

use std::fmt;
use std::time::Duration;

use crate::error::{Error, Result};

/// A request rate with a burst; `None` where a setting says `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests per `period`.
    pub count: u32,
    pub period: Duration,
    /// Requests that may come at once, before the rate applies.
    pub burst: u32,
}

impl Rate {
    pub const fn per_second(count: u32, burst: u32) -> Rate {
        Rate {
            count,
            period: Duration::from_secs(1),
            burst,
        }
    }

    pub const fn per_minute(count: u32, burst: u32) -> Rate {
        Rate {
            count,
            period: Duration::from_secs(60),
            burst,
        }
    }

    /// The time one request's share of the rate takes to come back.
    pub fn interval(&self) -> Duration {
        self.period / self.count.max(1)
    }

    /// Parses `10/s`, `600/min`, `1000/h`, with an optional `,burst=N`; `off` is `None`.
    pub fn parse(text: &str) -> std::result::Result<Option<Rate>, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let expected = || {
            format!(
                "expected COUNT/UNIT[,burst=N] such as 10/s or 600/min,burst=50, or off; not {text:?}"
            )
        };
        let (rate, burst) = match text.split_once(',') {
            Some((rate, burst)) => (rate.trim(), Some(burst.trim())),
            None => (text, None),
        };
        let (count, unit) = rate.split_once('/').ok_or_else(expected)?;
        let count: u32 = count.trim().parse().map_err(|_| expected())?;
        let period = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => return Err(expected()),
        };
        let burst = match burst {
            None => count,
            Some(burst) => burst
                .strip_prefix("burst=")
                .and_then(|n| n.trim().parse().ok())
                .ok_or_else(expected)?,
        };
        if count == 0 || burst == 0 {
            return Err(format!(
                "{text:?}: the count and the burst must be at least 1 (or say off)"
            ));
        }
        Ok(Some(Rate {
            count,
            period,
            burst,
        }))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.period.as_secs() {
            1 => "s",
            60 => "min",
            3600 => "h",
            _ => {
                return write!(
                    f,
                    "{}/{}s,burst={}",
                    self.count,
                    self.period.as_secs(),
                    self.burst
                );
            }
        };
        write!(f, "{}/{unit},burst={}", self.count, self.burst)
    }
}

/// The limits, each `None` where it is off.
#[derive(Debug, Clone)]
pub struct LimitSettings {
    /// `MAILROOM_RATE_LIMIT_PER_KEY`: requests of one API key's tokens (off by default).
    pub per_key: Option<Rate>,
    /// `MAILROOM_AUTH_RATE_LIMIT_PER_ADDRESS`: `POST /v1/auth/token` attempts per client
    /// address.
    pub auth_per_address: Option<Rate>,
    /// `MAILROOM_AUTH_RATE_LIMIT_PER_KEY`: `POST /v1/auth/token` attempts per key id.
    pub auth_per_key: Option<Rate>,
    /// `MAILROOM_AUTH_VERIFY_CONCURRENCY`: key secrets verified at once (each argon2
    /// verification holds 19 MiB); default the machine's cores.
    pub auth_verify_concurrency: usize,
    /// `MAILROOM_PUBLIC_RATE_LIMIT_PER_ADDRESS`: hits of the public endpoints (tracking,
    /// unsubscribe, confirm) per client address.
    pub public_per_address: Option<Rate>,
    /// `MAILROOM_PUBLIC_RATE_LIMIT_PER_TOKEN`: hits of one link (one token).
    pub public_per_token: Option<Rate>,
    /// `MAILROOM_TRACKING_REPEAT_WINDOW_SECS`: repeated opens or clicks of one link within
    /// this window count once in the statistics (they stay in the event log); 0 counts
    /// every hit.
    pub tracking_repeat_window: Duration,
    /// `MAILROOM_BODY_TIMEOUT_SECS`: how long a request body may take to arrive.
    pub body_timeout: Duration,
}

impl LimitSettings {
    /// Reads the limits through `get` (a trimmed, non-empty variable or `None`).
    pub fn from_vars(get: &impl Fn(&str) -> Option<String>) -> Result<LimitSettings> {
        let rate = |key: &str, default: Option<Rate>| -> Result<Option<Rate>> {
            match get(key) {
                None => Ok(default),
                Some(text) => Rate::parse(&text).map_err(|e| Error::Config(format!("{key}: {e}"))),
            }
        };
        let whole = |key: &str, default: u64| -> Result<u64> {
            match get(key) {
                None => Ok(default),
                Some(v) => v
                    .parse()
                    .map_err(|_| Error::Config(format!("{key} must be a whole number, not {v:?}"))),
            }
        };
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(LimitSettings {
            per_key: rate("MAILROOM_RATE_LIMIT_PER_KEY", None)?,
            auth_per_address: rate(
                "MAILROOM_AUTH_RATE_LIMIT_PER_ADDRESS",
                Some(Rate::per_minute(30, 30)),
            )?,
            auth_per_key: rate(
                "MAILROOM_AUTH_RATE_LIMIT_PER_KEY",
                Some(Rate::per_minute(60, 60)),
            )?,
            auth_verify_concurrency: whole("MAILROOM_AUTH_VERIFY_CONCURRENCY", cores as u64)?
                .clamp(1, 256) as usize,
            public_per_address: rate(
                "MAILROOM_PUBLIC_RATE_LIMIT_PER_ADDRESS",
                Some(Rate::per_second(200, 2000)),
            )?,
            public_per_token: rate(
                "MAILROOM_PUBLIC_RATE_LIMIT_PER_TOKEN",
                Some(Rate::per_minute(60, 30)),
            )?,
            tracking_repeat_window: Duration::from_secs(
                whole("MAILROOM_TRACKING_REPEAT_WINDOW_SECS", 60)?.min(86_400),
            ),
            body_timeout: Duration::from_secs(
                whole("MAILROOM_BODY_TIMEOUT_SECS", 30)?.clamp(1, 86_400),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_as_count_per_unit_with_an_optional_burst() {
        assert_eq!(Rate::parse("10/s"), Ok(Some(Rate::per_second(10, 10))));
        assert_eq!(
            Rate::parse(" 600/min,burst=50 "),
            Ok(Some(Rate::per_minute(600, 50)))
        );
        let hourly = Rate::parse("1000/h").unwrap().unwrap();
        assert_eq!(hourly.period, Duration::from_secs(3600));
        assert_eq!(hourly.interval(), Duration::from_millis(3600));
        assert_eq!(Rate::parse("off"), Ok(None));
        assert_eq!(Rate::parse("OFF"), Ok(None));
        for bad in [
            "10",
            "10/day",
            "x/s",
            "0/s",
            "10/s,burst=0",
            "10/s,5",
            "-1/s",
        ] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Rate::per_minute(20, 5).to_string(), "20/min,burst=5");
    }

    #[test]
    fn limits_have_defaults_and_per_key_limits_are_off_unless_set() {
        let none = |_: &str| None;
        let limits = LimitSettings::from_vars(&none).unwrap();
        assert_eq!(limits.per_key, None);
        assert!(limits.auth_per_address.is_some() && limits.auth_per_key.is_some());
        assert!(limits.auth_verify_concurrency >= 1);
        assert_eq!(limits.body_timeout, Duration::from_secs(30));
        let set = |k: &str| (k == "MAILROOM_RATE_LIMIT_PER_KEY").then(|| "5/s,burst=2".to_owned());
        assert_eq!(
            LimitSettings::from_vars(&set).unwrap().per_key,
            Some(Rate::per_second(5, 2))
        );
        let bad = |k: &str| (k == "MAILROOM_AUTH_RATE_LIMIT_PER_KEY").then(|| "lots".to_owned());
        let err = LimitSettings::from_vars(&bad).unwrap_err().to_string();
        assert!(err.contains("MAILROOM_AUTH_RATE_LIMIT_PER_KEY"), "{err}");
    }
}
