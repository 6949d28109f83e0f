//! The HTTP client webhook deliveries go out through: one per process, made on first use.
//!
//! It follows no redirects and uses no proxy, and it resolves host names itself, keeping
//! only public addresses unless the operator allows private ones
//! (`MAILROOM_WEBHOOK_ALLOW_PRIVATE`). Because the check happens inside the connection's
//! own lookup, the address checked is the address connected to: a host name cannot pass
//! the check and then resolve elsewhere (DNS rebinding). Hosts given as IP addresses are
//! never looked up, so [`check_literal_host`] checks them before the request.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};

use mailroom_domain::webhooks::is_public_address;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// Sent as `user-agent` with every delivery.
pub const USER_AGENT: &str = "Mailroom-Webhooks/1";

/// What the delivery log (which the account reads) says of any refusal: neither the
/// addresses a host resolved to nor why a lookup failed, so that an endpoint URL cannot be
/// used to map the operator's network. The details go to the worker's debug log.
pub const REFUSED: &str = "the endpoint's address is not allowed or could not be reached";

/// A delivery may not connect where it wanted to. Its text is for the operator's log;
/// the account is told only [`REFUSED`].
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(
        "{host} is a private, loopback or otherwise non-public address (MAILROOM_WEBHOOK_ALLOW_PRIVATE is off)"
    )]
    NonPublic { host: String },
    #[error("cannot resolve {host}: {reason}")]
    Lookup { host: String, reason: String },
}

/// The process's webhook client, built on first use (creating a worker context stays
/// cheap).
pub struct WebhookClient {
    allow_private: bool,
    client: OnceLock<reqwest::Client>,
}

impl WebhookClient {
    pub fn new(allow_private: bool) -> Self {
        WebhookClient {
            allow_private,
            client: OnceLock::new(),
        }
    }

    pub fn allow_private(&self) -> bool {
        self.allow_private
    }

    pub fn get(&self) -> Result<&reqwest::Client, String> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(USER_AGENT)
            .dns_resolver(Arc::new(CheckedResolver {
                allow_private: self.allow_private,
            }))
            .build()
            .map_err(|e| format!("cannot build the webhook HTTP client: {e}"))?;
        // Two first uses at once build two clients; one is kept, both work.
        Ok(self.client.get_or_init(|| client))
    }
}

/// Refuses a URL whose host is a non-public IP address (unless private ones are allowed).
pub fn check_literal_host(url: &Url, allow_private: bool) -> Result<(), TargetError> {
    let ip = match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip),
        _ => return Ok(()),
    };
    if allow_private || is_public_address(ip) {
        Ok(())
    } else {
        Err(TargetError::NonPublic {
            host: ip.to_string(),
        })
    }
}

/// Resolves `host` and keeps the addresses a delivery may connect to.
pub async fn resolve_checked(
    host: &str,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, TargetError> {
    let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
        .await
        .map_err(|e| TargetError::Lookup {
            host: host.to_owned(),
            reason: e.to_string(),
        })?
        .collect();
    let allowed: Vec<SocketAddr> = resolved
        .into_iter()
        .filter(|addr| allow_private || is_public_address(addr.ip()))
        .collect();
    if allowed.is_empty() {
        return Err(TargetError::NonPublic {
            host: host.to_owned(),
        });
    }
    Ok(allowed)
}

struct CheckedResolver {
    allow_private: bool,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let allow_private = self.allow_private;
        Box::pin(async move {
            let addrs = resolve_checked(&host, allow_private).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The refusal inside an error from the client, if that is what it is.
pub fn refusal_in<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a TargetError> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(refused) = e.downcast_ref::<TargetError>() {
            return Some(refused);
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn names_that_resolve_to_loopback_are_refused_unless_allowed() {
        let refused = resolve_checked("localhost", false).await;
        assert!(
            matches!(refused, Err(TargetError::NonPublic { .. })),
            "{refused:?}"
        );
        let allowed = resolve_checked("localhost", true).await.unwrap();
        assert!(allowed.iter().all(|a| a.ip().is_loopback()), "{allowed:?}");
    }

    #[test]
    fn literal_addresses_are_checked_before_connecting() {
        let private = Url::parse("http://10.1.2.3:8080/hook").unwrap();
        assert!(check_literal_host(&private, false).is_err());
        assert!(check_literal_host(&private, true).is_ok());
        let public = Url::parse("https://8.8.8.8/hook").unwrap();
        assert!(check_literal_host(&public, false).is_ok());
        let named = Url::parse("https://hooks.example/").unwrap();
        assert!(check_literal_host(&named, false).is_ok());
    }

    #[tokio::test]
    async fn the_client_refuses_a_loopback_name_and_says_why() {
        let client = WebhookClient::new(false);
        let err = client
            .get()
            .unwrap()
            .post("http://localhost:9/hook")
            .send()
            .await
            .unwrap_err();
        let refusal = refusal_in(&err);
        assert!(
            matches!(refusal, Some(TargetError::NonPublic { .. })),
            "{err:?}"
        );
    }
}
