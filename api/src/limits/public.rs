//! Limits of the public endpoints — the open pixel, tracked links, unsubscribe and confirm
//! pages — which anyone holding a mail can call without credentials.
//!
//! Hits are limited per client address (generously: Apple Mail Privacy Protection and
//! Gmail's image proxy fetch many recipients' pixels from few addresses) and per link (one
//! token: one recipient's pixel, or one of their links). Beyond either, the answer is 429
//! with `Retry-After` and nothing is recorded. Within the limits, an open or a click of a
//! link already counted in the last `MAILROOM_TRACKING_REPEAT_WINDOW_SECS` is a repeat: it
//! is kept in the event log but adds nothing to the campaign's statistics or to webhooks.
//!
//! The check is a hash of the token and two or three lookups in sharded maps: the
//! tracking path stays free of any database work.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::time::Duration;

use actix_web::HttpResponse;
use actix_web::http::header;
use mailroom_domain::limits::{LimitSettings, Rate};

use super::headers::whole_seconds;
use super::{Limiter, Verdict, address_key};

pub struct PublicLimits {
    per_address: Option<Limiter<IpAddr>>,
    per_token: Option<Limiter<u64>>,
    /// One count per link per window.
    repeats: Option<Limiter<u64>>,
    /// Keys tokens by a hash under a key of this process.
    hasher: RandomState,
}

/// A link's key: a hash of its token under a key of this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkKey(u64);

/// Whether a tracking hit counts in the statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackingHit {
    /// The first of its link within the window.
    Counted,
    /// The link was counted within the window: recorded, not counted.
    Repeat,
}

impl PublicLimits {
    pub fn new(settings: &LimitSettings) -> PublicLimits {
        let window = settings.tracking_repeat_window;
        PublicLimits {
            per_address: settings.public_per_address.map(Limiter::new),
            per_token: settings.public_per_token.map(Limiter::new),
            repeats: (!window.is_zero()).then(|| {
                Limiter::new(Rate {
                    count: 1,
                    period: window,
                    burst: 1,
                })
            }),
            hasher: RandomState::new(),
        }
    }

    /// Counts a hit from `client` against its address's limit; the 429 to answer when it
    /// is over.
    pub fn check_address(&self, client: Option<IpAddr>) -> Result<(), TooManyHits> {
        match (&self.per_address, client) {
            (Some(limiter), Some(ip)) => allowed(limiter.check(&address_key(ip))),
            _ => Ok(()),
        }
    }

    /// The key a link (its token) is limited by.
    pub fn link(&self, token: &str) -> LinkKey {
        LinkKey(self.hasher.hash_one(token))
    }

    /// Counts a hit of a link (a verified token) against the link's limit.
    pub fn check_link(&self, link: LinkKey) -> Result<(), TooManyHits> {
        match &self.per_token {
            Some(limiter) => allowed(limiter.check(&link.0)),
            None => Ok(()),
        }
    }

    /// Whether this open or click of the link counts, or repeats one counted within the
    /// window.
    pub fn tracking_hit(&self, link: LinkKey) -> TrackingHit {
        match &self.repeats {
            Some(limiter) => match limiter.check(&link.0) {
                Verdict::Allowed { .. } => TrackingHit::Counted,
                Verdict::Refused { .. } => TrackingHit::Repeat,
            },
            None => TrackingHit::Counted,
        }
    }

    pub(super) fn forget_idle(&self) {
        for limiter in [&self.per_token, &self.repeats].into_iter().flatten() {
            limiter.forget_idle();
        }
        if let Some(limiter) = &self.per_address {
            limiter.forget_idle();
        }
    }
}

fn allowed(verdict: Verdict) -> Result<(), TooManyHits> {
    match verdict {
        Verdict::Allowed { .. } => Ok(()),
        Verdict::Refused { retry_after } => Err(TooManyHits { retry_after }),
    }
}

/// A hit over a public endpoint's limit.
#[derive(Debug, Clone, Copy)]
pub struct TooManyHits {
    retry_after: Duration,
}

impl TooManyHits {
    /// The 429: plain text (a mail client or a browser reads it), never cached.
    pub fn into_response(self) -> HttpResponse {
        too_many_requests(self.retry_after)
    }
}

fn too_many_requests(retry_after: Duration) -> HttpResponse {
    HttpResponse::TooManyRequests()
        .insert_header((header::RETRY_AFTER, whole_seconds(retry_after).max(1)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("text/plain; charset=utf-8")
        .body("too many requests; try again later")
}
