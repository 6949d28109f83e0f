//! Limits of the public endpoints — the open pixel, tracked links, unsubscribe and confirm
//! pages — which anyone holding a mail can call without credentials.
//!
//! Hits are limited per client address (generously: Apple Mail Privacy Protection and
//! Gmail's image proxy fetch many recipients' pixels from few addresses) and per link (one
//! token: one recipient's pixel, or one of their links). Beyond either, the answer is 429
//! with `Retry-After` and nothing is recorded. (Whether a hit within the limits repeats one
//! counted shortly before is decided where it is recorded, installation-wide: see the
//! domain's `events::repeats`.)
//!
//! The check is a hash of the token and two lookups in sharded maps: the tracking path
//! stays free of any database work.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::time::Duration;

use actix_web::HttpResponse;
use actix_web::http::header;
use mailroom_domain::limits::LimitSettings;

use super::headers::whole_seconds;
use super::{Limiter, Verdict, address_key};

pub struct PublicLimits {
    per_address: Option<Limiter<IpAddr>>,
    per_token: Option<Limiter<u64>>,
    /// Keys tokens by a hash under a key of this process.
    hasher: RandomState,
}

/// A link's key: a hash of its token under a key of this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkKey(u64);

impl PublicLimits {
    pub fn new(settings: &LimitSettings) -> PublicLimits {
        PublicLimits {
            per_address: settings.public_per_address.map(Limiter::new),
            per_token: settings.public_per_token.map(Limiter::new),
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

    pub(super) fn forget_idle(&self) {
        if let Some(limiter) = &self.per_token {
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
