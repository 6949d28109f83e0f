//! Whether an account may send from an address: only from a domain it verified (or a
//! subdomain of one), when Mailroom hands mail to a relay and the operator requires
//! verified domains (`MAILROOM_REQUIRE_VERIFIED_DOMAINS`, default true). The sandbox
//! delivers nothing, so it lets an unverified From through and says it would refuse it.

use super::name::parse_domain;
use super::sending_domain::SendingDomain;
use crate::error::{Error, Result};
use crate::store::DbConnection;
use crate::store::sql_types::Id;

/// How the installation treats From addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderPolicy {
    /// Verified domains only (a relay is configured and enforcement is on).
    Enforce,
    /// The sandbox: anything goes, with a note on what a relay would have refused.
    Sandbox,
    /// The operator turned enforcement off: anything goes, nothing is signed.
    Off,
}

/// What the policy says about one From address.
#[derive(Debug, Clone)]
pub enum SenderCheck {
    /// Sign with this domain's key.
    Verified(Box<SendingDomain>),
    /// Allowed without a verified domain (the policy is off, or the sandbox would have
    /// refused it: `would_refuse`).
    Unverified { would_refuse: bool },
}

/// The domain of an address, in its stored form; `None` when it has none.
pub fn domain_of_address(address: &str) -> Option<String> {
    let (_, domain) = address.trim().rsplit_once('@')?;
    parse_domain("from_email", domain.trim_end_matches('>')).ok()
}

/// The account's verified domain that covers `address`: its own domain, or the nearest
/// parent domain verified.
pub fn verified_domain_for(
    conn: &mut DbConnection,
    account_id: Id,
    address: &str,
) -> Result<Option<SendingDomain>> {
    let Some(domain) = domain_of_address(address) else {
        return Ok(None);
    };
    let verified = SendingDomain::verified_of(conn, account_id)?;
    Ok(verified
        .into_iter()
        .filter(|d| domain == d.domain || domain.ends_with(&format!(".{}", d.domain)))
        .max_by_key(|d| d.domain.len()))
}

impl SenderPolicy {
    /// The installation's policy: off when the operator turned it off, the sandbox without
    /// a relay, enforced otherwise.
    pub fn of(settings: &crate::config::Settings) -> SenderPolicy {
        if !settings.sending_domains.require_verified {
            SenderPolicy::Off
        } else if settings.delivery.smtp_url.is_none() {
            SenderPolicy::Sandbox
        } else {
            SenderPolicy::Enforce
        }
    }

    /// Applies the policy to `address` (given in the request's `field`).
    pub fn check(
        self,
        conn: &mut DbConnection,
        account_id: Id,
        field: &str,
        address: &str,
    ) -> Result<SenderCheck> {
        if self == SenderPolicy::Off {
            return Ok(SenderCheck::Unverified {
                would_refuse: false,
            });
        }
        match verified_domain_for(conn, account_id, address)? {
            Some(domain) => Ok(SenderCheck::Verified(Box::new(domain))),
            None if self == SenderPolicy::Sandbox => {
                Ok(SenderCheck::Unverified { would_refuse: true })
            }
            None => Err(Error::SenderDomainUnverified {
                field: field.to_owned(),
                domain: domain_of_address(address).unwrap_or_else(|| address.to_owned()),
            }),
        }
    }
}
