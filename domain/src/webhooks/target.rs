//! Which URLs an account may register as a webhook endpoint, and which addresses a
//! delivery may connect to.
//!
//! A webhook makes Mailroom's servers send a request to a URL an account chose, so a URL
//! pointing inside Mailroom's network (a metadata service, a database admin page) would
//! turn webhooks into a way in (server-side request forgery). [`check_endpoint_url`]
//! refuses the obvious cases when the endpoint is saved; since a host name can resolve
//! anywhere, and differently later, the sender must also check every resolved address
//! with [`is_public_address`] right before connecting.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// Longest endpoint URL accepted, in bytes.
pub const MAX_ENDPOINT_URL_LEN: usize = 2048;

/// Why a URL cannot be a webhook endpoint. Messages never echo the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("is not a valid URL")]
    Invalid,
    #[error("is longer than 2048 characters")]
    TooLong,
    #[error("must be an http or https URL")]
    UnsupportedScheme,
    #[error("must name a host")]
    MissingHost,
    #[error("must not contain a user name or password")]
    Credentials,
    #[error("must point to a public address")]
    NonPublicHost,
}

/// Parses and checks a webhook endpoint URL: `http` or `https`, a host, no credentials,
/// at most [`MAX_ENDPOINT_URL_LEN`] bytes. A host given as an IP address must be public;
/// `localhost` and its subdomains are refused outright (RFC 6761). Other names are
/// checked when resolved, with [`is_public_address`].
pub fn check_endpoint_url(raw: &str) -> Result<Url, EndpointError> {
    check_endpoint_url_with(raw, false)
}

/// [`check_endpoint_url`], except that with `allow_private` (the operator's
/// `MAILROOM_WEBHOOK_ALLOW_PRIVATE`) private, loopback and `localhost` hosts are accepted.
pub fn check_endpoint_url_with(raw: &str, allow_private: bool) -> Result<Url, EndpointError> {
    let raw = raw.trim();
    if raw.len() > MAX_ENDPOINT_URL_LEN {
        return Err(EndpointError::TooLong);
    }
    let url = Url::parse(raw).map_err(|err| match err {
        url::ParseError::EmptyHost => EndpointError::MissingHost,
        _ => EndpointError::Invalid,
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(EndpointError::UnsupportedScheme);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(EndpointError::Credentials);
    }
    let public = match url.host() {
        None => return Err(EndpointError::MissingHost),
        Some(Host::Ipv4(ip)) => is_public_address(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => is_public_address(IpAddr::V6(ip)),
        Some(Host::Domain(domain)) => {
            let domain = domain.trim_end_matches('.');
            !(domain.eq_ignore_ascii_case("localhost")
                || domain.to_ascii_lowercase().ends_with(".localhost"))
        }
    };
    if !public && !allow_private {
        return Err(EndpointError::NonPublicHost);
    }
    Ok(url)
}

/// Whether `ip` is a globally routable unicast address a webhook may be delivered to.
///
/// Refused: unspecified, "this network", loopback, private, shared (CGNAT), link-local,
/// unique-local, site-local, multicast, broadcast, reserved, benchmarking and
/// documentation ranges, and IPv6 forms that embed a refused IPv4 address (mapped,
/// compatible, NAT64, 6to4).
pub fn is_public_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => is_public_v6(ip),
    }
}

/// IPv4 ranges that are not global unicast (IANA special-purpose registry, RFC 6890).
const NON_PUBLIC_V4: [(Ipv4Addr, u8); 14] = [
    (Ipv4Addr::new(0, 0, 0, 0), 8),       // "this network", unspecified
    (Ipv4Addr::new(10, 0, 0, 0), 8),      // private
    (Ipv4Addr::new(100, 64, 0, 0), 10),   // shared address space (CGNAT)
    (Ipv4Addr::new(127, 0, 0, 0), 8),     // loopback
    (Ipv4Addr::new(169, 254, 0, 0), 16),  // link-local (cloud metadata services)
    (Ipv4Addr::new(172, 16, 0, 0), 12),   // private
    (Ipv4Addr::new(192, 0, 0, 0), 24),    // IETF protocol assignments
    (Ipv4Addr::new(192, 0, 2, 0), 24),    // documentation (TEST-NET-1)
    (Ipv4Addr::new(192, 88, 99, 0), 24),  // deprecated 6to4 relay anycast
    (Ipv4Addr::new(192, 168, 0, 0), 16),  // private
    (Ipv4Addr::new(198, 18, 0, 0), 15),   // benchmarking
    (Ipv4Addr::new(198, 51, 100, 0), 24), // documentation (TEST-NET-2)
    (Ipv4Addr::new(203, 0, 113, 0), 24),  // documentation (TEST-NET-3)
    (Ipv4Addr::new(224, 0, 0, 0), 3),     // multicast, reserved and broadcast (224/4, 240/4)
];

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let bits = u32::from(ip);
    !NON_PUBLIC_V4.iter().any(|&(network, len)| {
        let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
        bits & mask == u32::from(network) & mask
    })
}

/// IPv6 ranges inside global unicast (2000::/3) that are not public (RFC 6890, RFC 9637).
const NON_PUBLIC_V6: [(Ipv6Addr, u8); 3] = [
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23), // IETF protocol assignments, Teredo
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32), // documentation
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20), // documentation
];

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let bits = u128::from(ip);
    let in_range = |network: Ipv6Addr, len: u8| {
        let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
        bits & mask == u128::from(network) & mask
    };
    // Forms that carry an IPv4 address are as public as that address.
    let embedded_v4 = |shift: u32| Ipv4Addr::from(((bits >> shift) & 0xffff_ffff) as u32);
    let ipv4_mapped = in_range(Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96);
    let nat64 = in_range(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96);
    if ipv4_mapped || nat64 {
        return is_public_v4(embedded_v4(0));
    }
    if in_range(Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16) {
        // 6to4: the IPv4 address follows the prefix.
        return is_public_v4(embedded_v4(80));
    }
    // Outside 2000::/3 there is only special use: unspecified, loopback, IPv4-compatible,
    // discard-only, unique-local, link-local, site-local, multicast, or unallocated.
    in_range(Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3)
        && !NON_PUBLIC_V6
            .iter()
            .any(|&(network, len)| in_range(network, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(ip: &str) -> bool {
        is_public_address(ip.parse().unwrap())
    }

    #[test]
    fn internet_addresses_are_public() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.215.14",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.167.255.255",
            "192.169.0.0",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2a00:1450:4007:80e::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(public(ip), "{ip}");
        }
    }

    #[test]
    fn internal_and_special_addresses_are_refused() {
        for ip in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "10.255.255.255",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "127.255.255.254",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::127.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:0.0.0.0",
            "64:ff9b::a00:1",
            "64:ff9b:1::1",
            "2002:a00:1::1",
            "2002:7f00:1::",
            "100::1",
            "fc00::1",
            "fd12:3456:789a::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "ff0e::1",
            "2001:db8::1",
            "2001::1",
            "3fff::1",
        ] {
            assert!(!public(ip), "{ip}");
        }
    }

    #[test]
    fn web_urls_with_a_host_are_accepted() {
        let url = check_endpoint_url(" https://hooks.acme.example/mailroom?k=1 ").unwrap();
        assert_eq!(url.as_str(), "https://hooks.acme.example/mailroom?k=1");
        assert!(check_endpoint_url("http://8.8.8.8:8080/hook").is_ok());
        assert!(check_endpoint_url("https://[2606:4700:4700::1111]/").is_ok());
        assert!(check_endpoint_url("HTTPS://Hooks.Acme.Example/").is_ok());
    }

    #[test]
    fn the_operator_can_allow_private_hosts_but_nothing_else() {
        for url in [
            "http://127.0.0.1:9000/hook",
            "http://localhost:3000/",
            "http://[::1]/",
        ] {
            assert!(check_endpoint_url_with(url, true).is_ok(), "{url}");
            assert_eq!(
                check_endpoint_url_with(url, false),
                Err(EndpointError::NonPublicHost)
            );
        }
        assert_eq!(
            check_endpoint_url_with("ftp://127.0.0.1/", true),
            Err(EndpointError::UnsupportedScheme)
        );
        assert_eq!(
            check_endpoint_url_with("http://u:p@127.0.0.1/", true),
            Err(EndpointError::Credentials)
        );
    }

    #[test]
    fn unsafe_or_malformed_urls_are_refused() {
        let long = format!("https://acme.example/{}", "a".repeat(MAX_ENDPOINT_URL_LEN));
        let cases = [
            ("", EndpointError::Invalid),
            ("not a url", EndpointError::Invalid),
            ("/relative/path", EndpointError::Invalid),
            ("https://", EndpointError::MissingHost),
            ("ftp://acme.example/", EndpointError::UnsupportedScheme),
            ("file:///etc/passwd", EndpointError::UnsupportedScheme),
            ("javascript:alert(1)", EndpointError::UnsupportedScheme),
            (
                "mailto:hooks@acme.example",
                EndpointError::UnsupportedScheme,
            ),
            ("https://user@acme.example/", EndpointError::Credentials),
            (
                "https://user:pass@acme.example/",
                EndpointError::Credentials,
            ),
            ("https://:pass@acme.example/", EndpointError::Credentials),
            ("http://127.0.0.1/", EndpointError::NonPublicHost),
            ("http://2130706433/", EndpointError::NonPublicHost),
            ("http://0x7f.1/", EndpointError::NonPublicHost),
            (
                "http://169.254.169.254/latest/meta-data/",
                EndpointError::NonPublicHost,
            ),
            ("http://[::1]:8080/", EndpointError::NonPublicHost),
            ("http://[::ffff:10.0.0.1]/", EndpointError::NonPublicHost),
            ("http://localhost:3000/", EndpointError::NonPublicHost),
            ("http://LOCALHOST./", EndpointError::NonPublicHost),
            ("http://api.localhost/", EndpointError::NonPublicHost),
            (long.as_str(), EndpointError::TooLong),
        ];
        for (input, expected) in cases {
            assert_eq!(check_endpoint_url(input), Err(expected), "{input}");
        }
    }
}
