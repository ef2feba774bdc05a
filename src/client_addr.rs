//! Who the client is behind a load balancer: the trusted proxies (`[server] trustedProxies`),
//! and the client address a trusted proxy reports in `Forwarded` (RFC 7239) or
//! `X-Forwarded-For`.
//!
//! The list is read from the right, the hop nearest to us: each proxy appends the address it
//! got the request from. The client is the rightmost address that is not itself a trusted
//! proxy; everything to its left was written by the client or by proxies we do not know, so it
//! is never parsed. When every listed address is trusted, the leftmost stands.

use crate::http::Request;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Most addresses read from the right of a forwarding list. A chain of trusted proxies longer
/// than this is a loop or a misconfiguration, not a deployment.
pub const MAX_FORWARDED_HOPS: usize = 16;
/// Longest forwarding header value read (each line of `Forwarded` or `X-Forwarded-For`, and
/// their lines together).
pub const MAX_FORWARDED_BYTES: usize = 2048;
/// Most `trustedProxies` entries.
pub const MAX_TRUSTED_PROXIES: usize = 256;

/// An address block: `10.0.0.0/8`, `2001:db8::/32`, or one address (`/32` or `/128` implied).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CidrError;

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not an address or CIDR block (like 10.0.0.0/8 or 2001:db8::/32)")
    }
}

impl std::str::FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| CidrError)?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().map_err(|_| CidrError)?
            }
            Some(_) => return Err(CidrError),
        };
        if prefix > max {
            return Err(CidrError);
        }
        // `::ffff:192.0.2.0/120` is the IPv4 block it spells: `contains` sees mapped client
        // addresses as IPv4, so the block must be IPv4 too to match them.
        if let (IpAddr::V6(v6), true) = (addr, prefix >= 96) {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return Ok(Cidr {
                    addr: IpAddr::V4(v4),
                    prefix: prefix - 96,
                });
            }
        }
        Ok(Cidr { addr, prefix })
    }
}

impl Cidr {
    /// Whether every address of `inner` is in this block.
    pub fn covers(&self, inner: &Cidr) -> bool {
        self.addr.is_ipv4() == inner.addr.is_ipv4()
            && inner.prefix >= self.prefix
            && self.contains(inner.addr)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, what a dual-stack socket reports) as the
/// IPv4 address it is, so that one list entry covers both spellings.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// `[server] trustedProxies`: the load balancers whose word on the client address we take.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    pub fn new(blocks: Vec<Cidr>) -> TrustedProxies {
        TrustedProxies(blocks)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }

    /// The client address of a request that came from `peer`: `peer` itself unless it is a
    /// trusted proxy, else what the forwarding headers say (see the module comment).
    pub fn client(&self, peer: IpAddr, req: &Request) -> Result<IpAddr, ForwardedError> {
        let peer = canonical(peer);
        if !self.contains(peer) {
            return Ok(peer);
        }
        let forwarded = joined(req, "forwarded")?;
        let xff = joined(req, "x-forwarded-for")?;
        let (list, parse_entry): (String, fn(&str) -> Option<IpAddr>) = match (forwarded, xff) {
            (None, None) => return Ok(peer),
            // A proxy that sets one of them passes the other on as the client sent it: which
            // one the proxy wrote cannot be told, so neither is believed.
            (Some(_), Some(_)) => return Err(ForwardedError::Both),
            (Some(f), None) => (f, forwarded_for),
            (None, Some(x)) => (x, xff_entry),
        };
        let mut last = peer;
        for (hop, entry) in list.rsplit(',').enumerate() {
            if hop == MAX_FORWARDED_HOPS {
                return Err(ForwardedError::TooManyHops);
            }
            let ip = parse_entry(entry.trim())
                .map(canonical)
                .ok_or(ForwardedError::Malformed)?;
            if !self.contains(ip) {
                return Ok(ip);
            }
            last = ip;
        }
        Ok(last)
    }
}

/// Why a trusted proxy's forwarding headers were refused (the request gets 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardedError {
    /// Both `Forwarded` and `X-Forwarded-For`.
    Both,
    /// Longer than `MAX_FORWARDED_BYTES`.
    TooLong,
    /// More than `MAX_FORWARDED_HOPS` trusted addresses from the right.
    TooManyHops,
    /// An entry at or right of the client's that is not an address (`for=unknown`, an
    /// obfuscated `for=_node`, a typo, an empty element).
    Malformed,
}

impl fmt::Display for ForwardedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForwardedError::Both => {
                f.write_str("both Forwarded and X-Forwarded-For from a trusted proxy")
            }
            ForwardedError::TooLong => write!(
                f,
                "forwarding header longer than {MAX_FORWARDED_BYTES} bytes"
            ),
            ForwardedError::TooManyHops => write!(
                f,
                "forwarding header with more than {MAX_FORWARDED_HOPS} trusted hops"
            ),
            ForwardedError::Malformed => f.write_str("forwarding header without a client address"),
        }
    }
}

impl std::error::Error for ForwardedError {}

/// Every line of header `name`, joined with commas (RFC 9110 §5.3), or None when absent.
fn joined(req: &Request, name: &str) -> Result<Option<String>, ForwardedError> {
    let mut out: Option<String> = None;
    for (n, v) in &req.headers {
        if !n.eq_ignore_ascii_case(name) {
            continue;
        }
        let v = std::str::from_utf8(v).map_err(|_| ForwardedError::Malformed)?;
        let sep = usize::from(out.is_some());
        let s = out.get_or_insert_with(String::new);
        if s.len() + sep + v.len() > MAX_FORWARDED_BYTES {
            return Err(ForwardedError::TooLong);
        }
        if sep == 1 {
            s.push(',');
        }
        s.push_str(v);
    }
    Ok(out)
}

/// An `X-Forwarded-For` entry: an address, or (as some balancers write) `v4:port` or
/// `[v6]:port`.
fn xff_entry(s: &str) -> Option<IpAddr> {
    node(s).or_else(|| s.parse::<IpAddr>().ok())
}

/// The `for=` of one `Forwarded` element (`for=192.0.2.7;proto=https`, `For="[2001:db8::1]:80"`).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    let mut found = None;
    for pair in element.split(';') {
        let (k, v) = pair.trim().split_once('=')?;
        if k.trim().eq_ignore_ascii_case("for") {
            if found.is_some() {
                return None;
            }
            let v = v.trim();
            let v = match v.strip_prefix('"') {
                Some(q) => q.strip_suffix('"')?,
                None => v,
            };
            found = Some(node(v)?);
        }
    }
    found
}

/// An RFC 7239 node with an address: `192.0.2.7`, `192.0.2.7:80`, `[2001:db8::1]`,
/// `[2001:db8::1]:80`. Not `unknown` or obfuscated names: they name no client to throttle.
fn node(s: &str) -> Option<IpAddr> {
    if let Some(rest) = s.strip_prefix('[') {
        let (addr, after) = rest.split_once(']')?;
        let port_ok = after.is_empty() || after.strip_prefix(':').is_some_and(port);
        return port_ok
            .then(|| addr.parse::<Ipv6Addr>().ok())
            .flatten()
            .map(IpAddr::V6);
    }
    let (addr, p) = match s.split_once(':') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    if p.is_some_and(|p| !port(p)) {
        return None;
    }
    addr.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

fn port(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 5
        && p.bytes().all(|b| b.is_ascii_digit())
        && p.parse::<u16>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted(list: &[&str]) -> TrustedProxies {
        TrustedProxies::new(list.iter().map(|s| s.parse().unwrap()).collect())
    }

    fn req(headers: &[(&str, &str)]) -> Request {
        Request {
            method: "GET".into(),
            target: "/".into(),
            minor_version: 1,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
                .collect(),
            body: Vec::new(),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidrs() {
        let c: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(c.contains(ip("10.1.255.3")));
        assert!(!c.contains(ip("10.2.0.1")));
        assert!(c.contains(ip("::ffff:10.1.0.9")));
        assert!(!c.contains(ip("2001:db8::1")));
        let c: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(c.contains(ip("2001:db8:ffff::1")));
        assert!(!c.contains(ip("2001:db9::1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("255.255.255.255")));
        assert!("::/0".parse::<Cidr>().unwrap().contains(ip("::1")));
        let one: Cidr = "127.0.0.1".parse().unwrap();
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        assert!("10.0.0.0/32".parse::<Cidr>().is_ok());
        assert!("::/128".parse::<Cidr>().is_ok());
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/0008",
            "localhost",
            "",
            "10.0.0.0/8/8",
        ] {
            assert_eq!(bad.parse::<Cidr>(), Err(CidrError), "{bad}");
        }
    }

    #[test]
    fn untrusted_peer_headers_are_ignored() {
        let t = trusted(&["10.0.0.0/8"]);
        let r = req(&[("X-Forwarded-For", "203.0.113.9")]);
        assert_eq!(t.client(ip("192.0.2.1"), &r), Ok(ip("192.0.2.1")));
        let r = req(&[("Forwarded", "for=203.0.113.9")]);
        assert_eq!(t.client(ip("192.0.2.1"), &r), Ok(ip("192.0.2.1")));
        // Not even read: a malformed one changes nothing.
        let r = req(&[("X-Forwarded-For", "junk"), ("Forwarded", "junk")]);
        assert_eq!(t.client(ip("192.0.2.1"), &r), Ok(ip("192.0.2.1")));
        assert_eq!(
            TrustedProxies::default().client(ip("10.0.0.1"), &r),
            Ok(ip("10.0.0.1"))
        );
    }

    #[test]
    fn rightmost_untrusted_address() {
        let t = trusted(&["10.0.0.0/8", "2001:db8::/32"]);
        let peer = ip("10.0.0.1");
        let xff = |v: &str| t.client(peer, &req(&[("X-Forwarded-For", v)]));
        assert_eq!(xff("203.0.113.9"), Ok(ip("203.0.113.9")));
        // The client forged the left part; the proxies appended the right.
        assert_eq!(xff("1.1.1.1, 203.0.113.9, 10.0.0.2"), Ok(ip("203.0.113.9")));
        assert_eq!(xff("junk, 203.0.113.9"), Ok(ip("203.0.113.9")));
        assert_eq!(xff("2001:db8::5, 2001:db9::1"), Ok(ip("2001:db9::1")));
        assert_eq!(xff("203.0.113.9:5555"), Ok(ip("203.0.113.9")));
        assert_eq!(xff("[2001:db9::1]:443"), Ok(ip("2001:db9::1")));
        assert_eq!(xff("::ffff:203.0.113.9"), Ok(ip("203.0.113.9")));
        // All trusted: the leftmost, the farthest hop known.
        assert_eq!(xff("10.9.9.9, 10.0.0.2"), Ok(ip("10.9.9.9")));
        // Several lines are one list, in order.
        let r = req(&[
            ("X-Forwarded-For", "198.51.100.1"),
            ("x-forwarded-for", "203.0.113.9, 10.0.0.3"),
        ]);
        assert_eq!(t.client(peer, &r), Ok(ip("203.0.113.9")));
        // No header from a trusted proxy: its own request (a health check).
        assert_eq!(t.client(peer, &req(&[])), Ok(peer));
    }

    #[test]
    fn forwarded_rfc7239() {
        let t = trusted(&["10.0.0.0/8"]);
        let peer = ip("10.0.0.1");
        let fwd = |v: &str| t.client(peer, &req(&[("Forwarded", v)]));
        assert_eq!(fwd("for=203.0.113.9"), Ok(ip("203.0.113.9")));
        assert_eq!(
            fwd("for=192.0.2.60;proto=http;by=203.0.113.43, For=\"[2001:db8:cafe::17]:4711\""),
            Ok(ip("2001:db8:cafe::17"))
        );
        assert_eq!(
            fwd("for=unknown, for=203.0.113.9;proto=https, for=10.0.0.7"),
            Ok(ip("203.0.113.9"))
        );
        assert_eq!(fwd("for=\"203.0.113.9:80\""), Ok(ip("203.0.113.9")));
        for bad in [
            "for=unknown",
            "for=_hidden",
            "proto=https",
            "for=203.0.113.9;for=1.2.3.4",
            "for=[2001:db8::1",
            "for=\"[2001:db8::1]",
            "for=2001:db8::1",
            "for=203.0.113.9:99999",
            "for=203.0.113.9, ",
            "",
        ] {
            assert_eq!(fwd(bad), Err(ForwardedError::Malformed), "{bad}");
        }
    }

    #[test]
    fn refusals() {
        let t = trusted(&["10.0.0.0/8"]);
        let peer = ip("10.0.0.1");
        let r = req(&[("Forwarded", "for=1.2.3.4"), ("X-Forwarded-For", "1.2.3.4")]);
        assert_eq!(t.client(peer, &r), Err(ForwardedError::Both));
        let r = req(&[("X-Forwarded-For", "10.0.0.2, not-an-ip")]);
        assert_eq!(t.client(peer, &r), Err(ForwardedError::Malformed));
        let r = req(&[("X-Forwarded-For", "")]);
        assert_eq!(t.client(peer, &r), Err(ForwardedError::Malformed));
        let r = Request {
            headers: vec![("X-Forwarded-For".into(), b"\xff".to_vec())],
            ..req(&[])
        };
        assert_eq!(t.client(peer, &r), Err(ForwardedError::Malformed));
    }

    #[test]
    fn hops_at_and_past_the_limit() {
        let t = trusted(&["10.0.0.0/8"]);
        let peer = ip("10.0.0.1");
        // MAX_FORWARDED_HOPS - 1 trusted hops and the client: read in full.
        let mut hops = vec!["203.0.113.9".to_string()];
        hops.extend((1..MAX_FORWARDED_HOPS).map(|i| format!("10.0.0.{i}")));
        let r = req(&[("X-Forwarded-For", &hops.join(","))]);
        assert_eq!(t.client(peer, &r), Ok(ip("203.0.113.9")));
        // MAX_FORWARDED_HOPS trusted hops in a row: the client is past the limit.
        hops.push("10.0.1.1".into());
        let r = req(&[("X-Forwarded-For", &hops.join(","))]);
        assert_eq!(t.client(peer, &r), Err(ForwardedError::TooManyHops));
        // Exactly MAX_FORWARDED_HOPS entries, all trusted: the leftmost.
        let all: Vec<String> = (1..=MAX_FORWARDED_HOPS)
            .map(|i| format!("10.0.0.{i}"))
            .collect();
        let r = req(&[("X-Forwarded-For", &all.join(","))]);
        assert_eq!(t.client(peer, &r), Ok(ip("10.0.0.1")));
        // A long list is fine when the client is near the right.
        let mut long = vec!["junk"; 200];
        long.push("203.0.113.9");
        let r = req(&[("X-Forwarded-For", &long.join(","))]);
        assert_eq!(t.client(peer, &r), Ok(ip("203.0.113.9")));
    }

    #[test]
    fn bytes_at_and_past_the_limit() {
        let t = trusted(&["10.0.0.0/8"]);
        let peer = ip("10.0.0.1");
        let tail = ", 203.0.113.9";
        let at = format!("{}{tail}", "x".repeat(MAX_FORWARDED_BYTES - tail.len()));
        assert_eq!(at.len(), MAX_FORWARDED_BYTES);
        let r = req(&[("X-Forwarded-For", &at)]);
        assert_eq!(t.client(peer, &r), Ok(ip("203.0.113.9")));
        let past = format!("x{at}");
        let r = req(&[("X-Forwarded-For", &past)]);
        assert_eq!(t.client(peer, &r), Err(ForwardedError::TooLong));
        // The limit is on the lines together, comma included.
        let half = "1".repeat(MAX_FORWARDED_BYTES / 2);
        let r = req(&[("X-Forwarded-For", &half), ("X-Forwarded-For", &half)]);
        assert_eq!(t.client(peer, &r), Err(ForwardedError::TooLong));
    }
}
