//! Who is asking: the client's IP address and user agent, as stored with consent evidence,
//! tracking events, unsubscribes and the audit log.
//!
//! The address is the connection's peer. Only when the peer is one of the operator's
//! reverse proxies (`MAILROOM_TRUSTED_PROXIES`) is `X-Forwarded-For` believed, and then
//! only as far as trusted proxies wrote it: read from the right, each entry a trusted
//! proxy appended is taken, and the first address that is not a trusted proxy is the
//! client. Anything to its left was written by the client and could say anything. With no
//! trusted proxies, forwarding headers are ignored: a recipient cannot plant an address of
//! their choosing in the evidence.

use std::net::{IpAddr, SocketAddr};

use actix_web::http::header::{HeaderMap, USER_AGENT};
use actix_web::{HttpRequest, web};
use ipnet::IpNet;

use crate::state::AppState;

/// The client's IP address, as text; `None` when the connection has no peer address (a
/// test request, say).
pub fn client_ip(req: &HttpRequest) -> Option<String> {
    client_addr(req).map(|ip| ip.to_string())
}

/// The client's IP address; `None` when the connection has no peer address.
pub fn client_addr(req: &HttpRequest) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    let trusted = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.settings.trusted_proxies.as_slice())
        .unwrap_or_default();
    Some(forwarded_client(peer, req.headers(), trusted))
}

/// The most characters of a user agent kept with evidence and events.
const USER_AGENT_CHARS: usize = 512;

/// The client's `User-Agent`, its first 512 characters (a header read as text is visible
/// ASCII: one byte per character).
pub fn user_agent(req: &HttpRequest) -> Option<String> {
    let agent = req.headers().get(USER_AGENT)?.to_str().ok()?;
    Some(agent.get(..USER_AGENT_CHARS).unwrap_or(agent).to_owned())
}

/// The client behind `peer`, through the trusted proxies' `X-Forwarded-For` entries.
fn forwarded_client(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut client = peer.to_canonical();
    if !is_trusted(&client) {
        return client;
    }
    // Every header line, in order: proxies append to the last line or add one.
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|line| line.split(','))
        .collect();
    for entry in entries.iter().rev() {
        // An entry that is not an address ("unknown", garbage) ends what can be known:
        // the last trusted hop is the best answer.
        let Some(hop) = parse_hop(entry) else { break };
        client = hop;
        if !is_trusted(&hop) {
            break;
        }
    }
    client
}

/// `192.0.2.7`, `2001:db8::1`, and with a port `192.0.2.7:4711` or `[2001:db8::1]:4711`.
fn parse_hop(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim().trim_matches('"');
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn headers(lines: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for line in lines {
            map.append(
                HeaderName::from_static("x-forwarded-for"),
                HeaderValue::from_str(line).unwrap(),
            );
        }
        map
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn client(peer: &str, lines: &[&str], trusted: &[&str]) -> String {
        forwarded_client(peer.parse().unwrap(), &headers(lines), &nets(trusted)).to_string()
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_whatever_the_headers_say() {
        assert_eq!(
            client("198.51.100.4", &["203.0.113.9"], &[]),
            "198.51.100.4"
        );
        assert_eq!(
            client("127.0.0.1", &["203.0.113.9"], &["10.0.0.0/8"]),
            "127.0.0.1"
        );
    }

    #[test]
    fn behind_trusted_proxies_the_first_untrusted_address_from_the_right_is_the_client() {
        let trusted = ["10.0.0.0/8", "127.0.0.1/32"];
        assert_eq!(
            client("10.0.0.2", &["203.0.113.9"], &trusted),
            "203.0.113.9"
        );
        // Two proxies deep.
        assert_eq!(
            client("127.0.0.1", &["203.0.113.9, 10.0.0.2"], &trusted),
            "203.0.113.9"
        );
        // What the client wrote itself, left of what the proxy appended, is not believed.
        assert_eq!(
            client("10.0.0.2", &["6.6.6.6, 203.0.113.9"], &trusted),
            "203.0.113.9"
        );
        // Proxies that add a line of their own.
        assert_eq!(
            client(
                "10.0.0.2",
                &["6.6.6.6", "203.0.113.9", "10.0.0.7"],
                &trusted
            ),
            "203.0.113.9"
        );
        // Ports and brackets, and IPv4 written as IPv6.
        assert_eq!(
            client("10.0.0.2", &["[2001:db8::7]:4711"], &trusted),
            "2001:db8::7"
        );
        assert_eq!(
            client("::ffff:10.0.0.2", &["203.0.113.9:5000"], &trusted),
            "203.0.113.9"
        );
    }

    #[test]
    fn what_cannot_be_read_ends_the_chain_at_the_last_trusted_hop() {
        let trusted = ["10.0.0.0/8"];
        assert_eq!(
            client("10.0.0.2", &["203.0.113.9, unknown"], &trusted),
            "10.0.0.2"
        );
        assert_eq!(client("10.0.0.2", &[], &trusted), "10.0.0.2");
        // Only proxies: the leftmost is the closest thing to a client there is.
        assert_eq!(
            client("10.0.0.2", &["10.0.0.5, 10.0.0.3"], &trusted),
            "10.0.0.5"
        );
    }

    #[test]
    fn a_user_agent_is_kept_to_its_first_512_characters_whole() {
        use actix_web::test::TestRequest;
        let agent = |value: &str| {
            user_agent(
                &TestRequest::default()
                    .insert_header((USER_AGENT, value))
                    .to_http_request(),
            )
        };
        assert_eq!(agent("Mozilla/5.0").as_deref(), Some("Mozilla/5.0"));
        let long = "Mozilla/5.0 ".repeat(60);
        assert_eq!(agent(&long), Some(long[..512].to_owned()));
        assert_eq!(agent(&long[..512]), Some(long[..512].to_owned()));
        assert_eq!(user_agent(&TestRequest::default().to_http_request()), None);
    }
}
