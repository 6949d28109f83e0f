//! The `RateLimit-Policy` and `RateLimit` response headers of the IETF draft
//! (draft-ietf-httpapi-ratelimit-headers): `RateLimit-Policy: "per-key";q=20;w=10` — a
//! quota of 20 requests per 10-second window — and `RateLimit: "per-key";r=7;t=3` — 7
//! requests remain, and the quota is whole again in 3 seconds.
//!
//! The limits are GCRA (a refilling bucket), which the draft's quota and window describe
//! exactly when the quota is the burst and the window the time the burst takes to refill.

use std::time::Duration;

use actix_web::HttpMessage;
use actix_web::body::BoxBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::header::{HeaderName, HeaderValue};
use mailroom_domain::limits::Rate;

pub static RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
pub static RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// A limit's state after a request: put in the request's extensions by whoever checked it,
/// written into the answer by [`add_rate_limit_headers`]; a 429 carries it in its error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitHeaders {
    /// The policy's name in both headers.
    pub policy: &'static str,
    pub rate: Rate,
    pub remaining: u32,
    /// Until the quota is whole again (for a refused request: until the next is allowed).
    pub reset: Duration,
}

/// Whole seconds, rounded up: a client that waits this long is not refused again.
pub fn whole_seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

impl RateLimitHeaders {
    pub fn policy_value(&self) -> String {
        let window = self.rate.interval() * self.rate.burst;
        format!(
            "\"{}\";q={};w={}",
            self.policy,
            self.rate.burst,
            whole_seconds(window).max(1)
        )
    }

    pub fn state_value(&self) -> String {
        format!(
            "\"{}\";r={};t={}",
            self.policy,
            self.remaining,
            whole_seconds(self.reset)
        )
    }

    pub fn pairs(&self) -> [(HeaderName, HeaderValue); 2] {
        let value = |s: String| HeaderValue::from_str(&s).unwrap_or(HeaderValue::from_static(""));
        [
            (RATELIMIT_POLICY.clone(), value(self.policy_value())),
            (RATELIMIT.clone(), value(self.state_value())),
        ]
    }
}

/// Writes the headers of a limit checked for this request (if any) into its answer.
pub fn add_rate_limit_headers(response: &mut ServiceResponse<BoxBody>) {
    let state = response
        .request()
        .extensions()
        .get::<RateLimitHeaders>()
        .cloned();
    if let Some(state) = state {
        let headers = response.headers_mut();
        for (name, value) in state.pairs() {
            if !headers.contains_key(&name) {
                headers.insert(name, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_headers_name_the_quota_its_window_and_what_remains() {
        let state = RateLimitHeaders {
            policy: "per-key",
            rate: Rate::per_second(2, 20),
            remaining: 7,
            reset: Duration::from_millis(6500),
        };
        assert_eq!(state.policy_value(), "\"per-key\";q=20;w=10");
        assert_eq!(state.state_value(), "\"per-key\";r=7;t=7");
    }
}
