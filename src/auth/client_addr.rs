//! The client's address for login throttling: the TCP peer, or, when the peer is a
//! configured trusted proxy, the address that proxy put in `X-Forwarded-For`.
//!
//! Behind a load balancer every request comes from the balancer's address, so
//! throttling by the TCP peer alone would lock all users out after a few failures from
//! anyone. Trusting `X-Forwarded-For` from anybody would let an attacker pick a fresh
//! address per guess. So the header is read only when the peer is listed in
//! `IMAP_GATEWAY_TRUSTED_PROXIES`, from the right (the entries the trusted proxies
//! appended) to the first address that is not itself a trusted proxy: the same rule as
//! nginx's `real_ip_recursive`.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use ipnet::IpNet;

/// The `X-Forwarded-For` header.
const FORWARDED_FOR: &str = "x-forwarded-for";

/// Networks whose connections may say who the client is; empty (the default):
/// `X-Forwarded-For` is ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses a comma-separated list of addresses (`10.0.0.7`, `::1`) and networks
    /// (`10.0.0.0/8`, `fd00::/8`); blanks between commas are ignored.
    ///
    /// # Errors
    /// The first entry that is neither, quoted.
    pub fn parse(list: &str) -> Result<Self, String> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{entry:?} is neither an IP address nor a network"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    fn contains(&self, addr: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&addr))
    }

    /// The client's address for a request from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.contains(client) {
            return client;
        }
        // Every X-Forwarded-For line, in order, as one list; read from the right.
        let hops: Vec<&str> = headers
            .get_all(FORWARDED_FOR)
            .iter()
            .flat_map(|value| value.to_str().unwrap_or("").split(','))
            .collect();
        for hop in hops.iter().rev() {
            // An entry a trusted proxy wrote that is not an address means the chain
            // cannot be followed further: the last trusted hop is the best we know.
            let Some(addr) = parse_hop(hop.trim()) else {
                return client;
            };
            client = addr;
            if !self.contains(addr) {
                return addr;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, optionally with a port (`1.2.3.4:5678`,
/// `[2001:db8::1]:443`), as some balancers write it.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(addr) = hop.parse::<IpAddr>() {
        return Some(addr.to_canonical());
    }
    hop.parse::<SocketAddr>()
        .ok()
        .map(|addr| addr.ip().to_canonical())
}

/// The client's address (see the module docs), if the connection's peer is known.
/// Never fails.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<IpAddr>);

impl ClientAddr {
    /// Resolves the client of the request in `parts`.
    pub fn of(parts: &Parts, trusted: &TrustedProxies) -> Self {
        Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(peer)| trusted.client(peer.ip(), &parts.headers)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(FORWARDED_FOR, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let none = TrustedProxies::default();
        let headers = forwarded(&["203.0.113.9"]);
        assert_eq!(
            none.client(ip("198.51.100.1"), &headers),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn an_untrusted_peer_cannot_claim_an_address() {
        let trusted = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let headers = forwarded(&["203.0.113.9"]);
        assert_eq!(
            trusted.client(ip("198.51.100.1"), &headers),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let trusted = TrustedProxies::parse("10.0.0.0/8, 127.0.0.1").unwrap();
        // The client forged the first entry; the balancer appended the real one, an
        // inner proxy appended the balancer.
        let headers = forwarded(&["1.1.1.1, 203.0.113.9", "10.0.0.2"]);
        assert_eq!(trusted.client(ip("127.0.0.1"), &headers), ip("203.0.113.9"));
    }

    #[test]
    fn ports_brackets_and_mapped_addresses_are_understood() {
        let trusted = TrustedProxies::parse("::1").unwrap();
        let headers = forwarded(&["[2001:db8::7]:443"]);
        assert_eq!(trusted.client(ip("::1"), &headers), ip("2001:db8::7"));
        let headers = forwarded(&["203.0.113.9:5678"]);
        assert_eq!(trusted.client(ip("::1"), &headers), ip("203.0.113.9"));
        let trusted = TrustedProxies::parse("127.0.0.1").unwrap();
        let headers = forwarded(&["::ffff:203.0.113.9"]);
        assert_eq!(
            trusted.client(ip("::ffff:127.0.0.1"), &headers),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn a_broken_chain_stops_at_the_last_trusted_hop() {
        let trusted = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let headers = forwarded(&["203.0.113.9, unknown, 10.0.0.3"]);
        assert_eq!(trusted.client(ip("10.0.0.1"), &headers), ip("10.0.0.3"));
        // No header at all: the proxy itself.
        assert_eq!(
            trusted.client(ip("10.0.0.1"), &HeaderMap::new()),
            ip("10.0.0.1")
        );
        // Only trusted hops: the leftmost of them.
        let headers = forwarded(&["10.0.0.5, 10.0.0.4"]);
        assert_eq!(trusted.client(ip("10.0.0.1"), &headers), ip("10.0.0.5"));
    }

    #[test]
    fn bad_lists_are_refused() {
        assert!(TrustedProxies::parse("").unwrap().0.is_empty());
        assert_eq!(
            TrustedProxies::parse(" 10.0.0.1 ,, fd00::/8 ")
                .unwrap()
                .0
                .len(),
            2
        );
        for bad in ["10.0.0.0/33", "example.org", "10.0.0.1 10.0.0.2", "*"] {
            let err = TrustedProxies::parse(bad).unwrap_err();
            assert!(err.contains("neither"), "{bad:?}: {err}");
        }
    }
}
