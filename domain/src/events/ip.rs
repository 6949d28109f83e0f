//! IP truncation for accounts that store tracking IPs coarsely.

use std::net::IpAddr;

/// IPv4 to its /24 (`203.0.113.0`), IPv6 to its /48; anything unparsable is dropped.
pub fn truncate_ip(ip: &str) -> Option<String> {
    match ip.trim().parse::<IpAddr>().ok()? {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            Some(std::net::Ipv4Addr::new(a, b, c, 0).to_string())
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            Some(std::net::Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0).to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_lose_their_host_part() {
        assert_eq!(truncate_ip("203.0.113.77").as_deref(), Some("203.0.113.0"));
        assert_eq!(
            truncate_ip("2001:db8:abcd:12::1").as_deref(),
            Some("2001:db8:abcd::")
        );
        assert_eq!(truncate_ip("not an ip"), None);
    }
}
