//! Abuse limits: every rate limit of the API, on `governor` (GCRA, one state per key), and
//! what answers a request over its limit — 429 `rate_limited` with `Retry-After` and, for
//! the per-key limit, the IETF `RateLimit-Policy` / `RateLimit` headers.
//!
//! - `POST /v1/auth/token`: attempts per client address and per key id, and the key
//!   secrets verified at once (`verifier`);
//! - every request of an API key's tokens, when `MAILROOM_RATE_LIMIT_PER_KEY` is set;
//! - the public endpoints (tracking, unsubscribe, confirm): hits per client address and
//!   per link (`public`);
//! - request bodies that take too long to arrive (`body_timeout`).
//!
//! Limits live in each API process's memory: with several replicas, each allows the
//! configured rate. Client addresses are the ones `client` names (through trusted proxies);
//! IPv6 clients are limited per /64, the block one subscriber usually holds.

pub mod body_timeout;
mod headers;
mod public;
mod verifier;

use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};
use mailroom_domain::Id;
use mailroom_domain::limits::{LimitSettings, Rate};

pub use headers::{RateLimitHeaders, add_rate_limit_headers, whole_seconds};
pub use public::{LinkKey, PublicLimits};
pub use verifier::SecretVerifier;

/// A keyed limiter at one rate.
pub struct Limiter<K: Hash + Eq + Clone> {
    rate: Rate,
    state: RateLimiter<K, DashMapStateStore<K>, DefaultClock, StateInformationMiddleware>,
}

/// What a limiter says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the limit: `remaining` requests may follow at once, and the limit is whole
    /// again after `reset`.
    Allowed { remaining: u32, reset: Duration },
    /// Over the limit: the next request is allowed after `retry_after`.
    Refused { retry_after: Duration },
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    pub fn new(rate: Rate) -> Limiter<K> {
        let burst =
            std::num::NonZeroU32::new(rate.burst.max(1)).unwrap_or(std::num::NonZeroU32::MIN);
        let quota = Quota::with_period(rate.interval().max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(std::num::NonZeroU32::MIN))
            .allow_burst(burst);
        Limiter {
            rate,
            state: RateLimiter::dashmap(quota).with_middleware::<StateInformationMiddleware>(),
        }
    }

    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// Counts a request of `key` against the limit.
    pub fn check(&self, key: &K) -> Verdict {
        match self.state.check_key(key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let spent = self.rate.burst.saturating_sub(remaining);
                Verdict::Allowed {
                    remaining,
                    reset: self.rate.interval() * spent,
                }
            }
            Err(not_until) => Verdict::Refused {
                retry_after: not_until.wait_time_from(self.state.clock().now()),
            },
        }
    }

    /// Forgets the keys whose limit is whole again (they behave as new ones).
    fn forget_idle(&self) {
        self.state.retain_recent();
        self.state.shrink_to_fit();
    }
}

/// The key a client address is limited by: the address, or its /64 for IPv6.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

/// Every limiter of an API process.
pub struct Limits {
    /// `POST /v1/auth/token` attempts per client address.
    pub auth_per_address: Option<Limiter<IpAddr>>,
    /// `POST /v1/auth/token` attempts per key id.
    pub auth_per_key: Option<Limiter<Id>>,
    /// Key secrets verified at once.
    pub verifier: SecretVerifier,
    /// Requests of one API key's tokens.
    pub per_key: Option<Limiter<Id>>,
    /// The public endpoints.
    pub public: PublicLimits,
}

impl Limits {
    pub fn new(settings: &LimitSettings) -> Arc<Limits> {
        Arc::new(Limits {
            auth_per_address: settings.auth_per_address.map(Limiter::new),
            auth_per_key: settings.auth_per_key.map(Limiter::new),
            verifier: SecretVerifier::new(settings.auth_verify_concurrency),
            per_key: settings.per_key.map(Limiter::new),
            public: PublicLimits::new(settings),
        })
    }

    /// Forgets idle keys every minute, so that the limiters' memory follows the clients
    /// of the last minutes, not every address ever seen. Ends when the limits are dropped.
    pub fn start_janitor(limits: &Arc<Limits>) {
        let weak = Arc::downgrade(limits);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(limits) = weak.upgrade() else { return };
                limits.forget_idle();
            }
        });
    }

    fn forget_idle(&self) {
        if let Some(l) = &self.auth_per_address {
            l.forget_idle();
        }
        if let Some(l) = &self.auth_per_key {
            l.forget_idle();
        }
        if let Some(l) = &self.per_key {
            l.forget_idle();
        }
        self.public.forget_idle();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limiter_allows_its_burst_then_says_when_to_come_back() {
        let limiter: Limiter<u8> = Limiter::new(Rate::per_minute(60, 3));
        let remaining: Vec<u32> = (0..3)
            .map(|_| match limiter.check(&1) {
                Verdict::Allowed { remaining, .. } => remaining,
                refused => panic!("{refused:?}"),
            })
            .collect();
        assert_eq!(remaining, vec![2, 1, 0]);
        match limiter.check(&1) {
            Verdict::Refused { retry_after } => {
                assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_secs(1))
            }
            allowed => panic!("{allowed:?}"),
        }
        // Another key has its own limit.
        assert!(matches!(
            limiter.check(&2),
            Verdict::Allowed { remaining: 2, .. }
        ));
    }

    #[test]
    fn ipv6_clients_are_limited_per_64_and_ipv4_per_address() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_eq!(address_key(a).to_string(), "2001:db8:1:2::");
        let v4: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(address_key(v4), v4);
        let mapped: IpAddr = "::ffff:203.0.113.9".parse().unwrap();
        assert_eq!(address_key(mapped), v4);
    }
}
