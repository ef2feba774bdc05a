//! The PROXY protocol, versions 1 (text) and 2 (binary), as HAProxy specifies it
//! (`proxy-protocol.txt`): the header a TCP load balancer sends before the client's first byte
//! to say whose connection it is passing on. Sans-IO: bytes in, and either "need more", the
//! header (its length and the client's address), or why the bytes are not a header.
//!
//! Only the source address is used. TLVs after the v2 addresses are skipped unread; the
//! destination address is parsed for well-formedness and dropped.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The v2 signature: the first 12 bytes of every v2 header.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// The v1 prefix.
const V1_PREFIX: &[u8] = b"PROXY ";
/// Longest v1 header, CRLF included (the spec's figure, for `TCP6` with the longest addresses).
pub const MAX_V1_BYTES: usize = 107;
/// Fixed part of a v2 header: signature, version/command, family/transport, length.
pub const V2_FIXED_BYTES: usize = 16;
/// Longest v2 address-and-TLV block we accept. HAProxy's `send-proxy-v2` sends 12 (IPv4) or
/// 36 (IPv6) bytes plus optional TLVs; cloud load balancers add a few dozen bytes of TLVs
/// (endpoint IDs). The wire field allows 65,535: more than this is refused rather than buffered.
pub const MAX_V2_PAYLOAD: usize = 2048;
/// Longest header of either version.
pub const MAX_HEADER_BYTES: usize = V2_FIXED_BYTES + MAX_V2_PAYLOAD;

/// A complete header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Bytes the header took; what follows belongs to the client's stream (TLS or HTTP).
    pub len: usize,
    /// The client's address, or None when the header carries none to use: v2 `LOCAL` (the
    /// proxy's own connection, a health check), v1 `UNKNOWN`, v2 `AF_UNSPEC`. The connection's
    /// own peer address stands then, as the spec asks.
    pub source: Option<SocketAddr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// Every byte so far fits a header; it is not complete yet.
    NeedMore,
    Header(Header),
}

/// Why the bytes are not an acceptable PROXY header. Each closes the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyError {
    /// Neither the v1 prefix nor the v2 signature: the client sent no header.
    NoHeader,
    /// v1 without CRLF within `MAX_V1_BYTES`.
    V1TooLong,
    /// v1 line not of the form `PROXY TCP4|TCP6 src dst sport dport`.
    V1Syntax,
    /// v2 version nibble other than 2.
    V2Version(u8),
    /// v2 command other than LOCAL (0) or PROXY (1).
    V2Command(u8),
    /// v2 family/transport byte we do not serve: UNIX sockets, datagrams, unknown values.
    V2Family(u8),
    /// v2 length field past `MAX_V2_PAYLOAD`.
    V2TooLong(u16),
    /// v2 length shorter than the addresses of its family.
    V2Short,
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyError::NoHeader => f.write_str("no PROXY protocol header"),
            ProxyError::V1TooLong => write!(
                f,
                "PROXY v1 header without CRLF within {MAX_V1_BYTES} bytes"
            ),
            ProxyError::V1Syntax => f.write_str("malformed PROXY v1 header"),
            ProxyError::V2Version(v) => write!(f, "PROXY v2 header with version {v}"),
            ProxyError::V2Command(c) => write!(f, "PROXY v2 header with command {c}"),
            ProxyError::V2Family(b) => {
                write!(f, "PROXY v2 header with unsupported family 0x{b:02x}")
            }
            ProxyError::V2TooLong(n) => write!(
                f,
                "PROXY v2 header of {n} bytes, past the limit of {MAX_V2_PAYLOAD}"
            ),
            ProxyError::V2Short => f.write_str("PROXY v2 header too short for its addresses"),
        }
    }
}

impl std::error::Error for ProxyError {}

/// Parses the start of a connection's bytes. Never panics, whatever the input; looks at no more
/// than `MAX_HEADER_BYTES` of it.
pub fn parse(buf: &[u8]) -> Result<Parsed, ProxyError> {
    let head = &buf[..buf.len().min(V2_SIGNATURE.len())];
    if V2_SIGNATURE.starts_with(head) && !head.is_empty() {
        if buf.len() < V2_SIGNATURE.len() {
            return Ok(Parsed::NeedMore);
        }
        return parse_v2(buf);
    }
    let head = &buf[..buf.len().min(V1_PREFIX.len())];
    if V1_PREFIX.starts_with(head) {
        return parse_v1(buf);
    }
    Err(ProxyError::NoHeader)
}

fn parse_v1(buf: &[u8]) -> Result<Parsed, ProxyError> {
    let window = &buf[..buf.len().min(MAX_V1_BYTES)];
    let Some(cr) = window.windows(2).position(|w| w == b"\r\n") else {
        if buf.len() >= MAX_V1_BYTES {
            return Err(ProxyError::V1TooLong);
        }
        return Ok(Parsed::NeedMore);
    };
    let len = cr + 2;
    let line = window
        .get(V1_PREFIX.len()..cr)
        .and_then(|l| std::str::from_utf8(l).ok())
        .ok_or(ProxyError::V1Syntax)?;
    // Exactly one space between fields: the spec's grammar, and the only form senders use.
    let mut fields = line.split(' ');
    let source = match fields.next() {
        // The rest of an UNKNOWN line is to be ignored.
        Some("UNKNOWN") => None,
        Some(proto @ ("TCP4" | "TCP6")) => {
            let mut next = || fields.next().ok_or(ProxyError::V1Syntax);
            let (src, dst) = (next()?, next()?);
            let (sport, dport) = (port(next()?)?, port(next()?)?);
            if fields.next().is_some() {
                return Err(ProxyError::V1Syntax);
            }
            let (src, dst) = if proto == "TCP4" {
                (ipv4(src)?, ipv4(dst)?)
            } else {
                (ipv6(src)?, ipv6(dst)?)
            };
            let _ = (dst, dport);
            Some(SocketAddr::new(src, sport))
        }
        _ => return Err(ProxyError::V1Syntax),
    };
    Ok(Parsed::Header(Header { len, source }))
}

fn ipv4(s: &str) -> Result<IpAddr, ProxyError> {
    s.parse::<Ipv4Addr>()
        .map(IpAddr::V4)
        .map_err(|_| ProxyError::V1Syntax)
}

fn ipv6(s: &str) -> Result<IpAddr, ProxyError> {
    s.parse::<Ipv6Addr>()
        .map(IpAddr::V6)
        .map_err(|_| ProxyError::V1Syntax)
}

/// A decimal port, 0..=65535, without sign or leading zeros (the spec's form).
fn port(s: &str) -> Result<u16, ProxyError> {
    let digits_only = !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits_only || (s.len() > 1 && s.starts_with('0')) {
        return Err(ProxyError::V1Syntax);
    }
    s.parse().map_err(|_| ProxyError::V1Syntax)
}

fn parse_v2(buf: &[u8]) -> Result<Parsed, ProxyError> {
    let Some(fixed) = buf.get(..V2_FIXED_BYTES) else {
        return Ok(Parsed::NeedMore);
    };
    let ver_cmd = fixed[12];
    if ver_cmd >> 4 != 2 {
        return Err(ProxyError::V2Version(ver_cmd >> 4));
    }
    let local = match ver_cmd & 0x0f {
        0 => true,
        1 => false,
        c => return Err(ProxyError::V2Command(c)),
    };
    let fam = fixed[13];
    let declared = u16::from_be_bytes([fixed[14], fixed[15]]);
    if usize::from(declared) > MAX_V2_PAYLOAD {
        return Err(ProxyError::V2TooLong(declared));
    }
    let len = V2_FIXED_BYTES + usize::from(declared);
    let Some(payload) = buf.get(V2_FIXED_BYTES..len) else {
        return Ok(Parsed::NeedMore);
    };
    if local {
        // LOCAL: the proxy speaks for itself; whatever the block holds is to be skipped.
        return Ok(Parsed::Header(Header { len, source: None }));
    }
    let source = match fam {
        // AF_UNSPEC: the receiver may use the real endpoints; the spec allows it.
        0x00 => None,
        // TCP over IPv4: src(4) dst(4) sport(2) dport(2).
        0x11 => {
            let a = payload.get(..12).ok_or(ProxyError::V2Short)?;
            let ip = Ipv4Addr::new(a[0], a[1], a[2], a[3]);
            Some(SocketAddr::new(
                IpAddr::V4(ip),
                u16::from_be_bytes([a[8], a[9]]),
            ))
        }
        // TCP over IPv6: src(16) dst(16) sport(2) dport(2).
        0x21 => {
            let a = payload.get(..36).ok_or(ProxyError::V2Short)?;
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&a[..16]);
            Some(SocketAddr::new(
                IpAddr::V6(Ipv6Addr::from(octets)),
                u16::from_be_bytes([a[32], a[33]]),
            ))
        }
        // UDP and UNIX sockets have no client for us to serve or to throttle by address.
        other => return Err(ProxyError::V2Family(other)),
    };
    Ok(Parsed::Header(Header { len, source }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2(ver_cmd: u8, fam: u8, payload: &[u8]) -> Vec<u8> {
        let mut b = V2_SIGNATURE.to_vec();
        b.push(ver_cmd);
        b.push(fam);
        b.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        b.extend_from_slice(payload);
        b
    }

    fn v4_payload() -> Vec<u8> {
        let mut p = vec![192, 0, 2, 7, 10, 0, 0, 1];
        p.extend_from_slice(&51234u16.to_be_bytes());
        p.extend_from_slice(&443u16.to_be_bytes());
        p
    }

    fn header(buf: &[u8]) -> Header {
        match parse(buf) {
            Ok(Parsed::Header(h)) => h,
            other => panic!("{other:?} for {buf:?}"),
        }
    }

    #[test]
    fn v1_tcp4_and_tcp6() {
        let line = b"PROXY TCP4 192.0.2.7 10.0.0.1 51234 443\r\nGET";
        let h = header(line);
        assert_eq!(h.len, line.len() - 3);
        assert_eq!(h.source, Some("192.0.2.7:51234".parse().unwrap()));
        let h = header(b"PROXY TCP6 2001:db8::7 ::1 1 65535\r\n");
        assert_eq!(h.source, Some("[2001:db8::7]:1".parse().unwrap()));
    }

    #[test]
    fn v1_unknown_uses_the_peer() {
        assert_eq!(header(b"PROXY UNKNOWN\r\n").source, None);
        assert_eq!(
            header(b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n").source,
            None
        );
    }

    #[test]
    fn v1_every_prefix_needs_more() {
        let line = b"PROXY TCP4 192.0.2.7 10.0.0.1 51234 443\r\n";
        for n in 1..line.len() {
            assert_eq!(parse(&line[..n]), Ok(Parsed::NeedMore), "{n}");
        }
    }

    #[test]
    fn v1_malformed() {
        for bad in [
            &b"PROXY TCP4 192.0.2.7 10.0.0.1 51234\r\n"[..],
            b"PROXY TCP4 192.0.2.7 10.0.0.1 51234 443 x\r\n",
            b"PROXY TCP4 192.0.2.7  10.0.0.1 51234 443\r\n",
            b"PROXY TCP4 2001:db8::1 10.0.0.1 1 2\r\n",
            b"PROXY TCP6 192.0.2.7 ::1 1 2\r\n",
            b"PROXY TCP4 192.0.2.7 10.0.0.1 65536 443\r\n",
            b"PROXY TCP4 192.0.2.7 10.0.0.1 0443 443\r\n",
            b"PROXY TCP4 192.0.2.7 10.0.0.1 +443 443\r\n",
            b"PROXY UDP4 192.0.2.7 10.0.0.1 1 2\r\n",
            b"PROXY \r\n",
            b"PROXY TCP4 \xff 10.0.0.1 1 2\r\n",
        ] {
            assert_eq!(
                parse(bad),
                Err(ProxyError::V1Syntax),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn v1_length_at_and_past_the_limit() {
        // A line of exactly MAX_V1_BYTES with its CRLF is a header (if well formed)...
        let mut at = b"PROXY UNKNOWN ".to_vec();
        at.resize(MAX_V1_BYTES - 2, b'x');
        at.extend_from_slice(b"\r\n");
        assert_eq!(at.len(), MAX_V1_BYTES);
        assert_eq!(header(&at).len, MAX_V1_BYTES);
        // ...one byte more without CRLF in the first 107 bytes is refused, however much follows.
        let mut past = b"PROXY UNKNOWN ".to_vec();
        past.resize(MAX_V1_BYTES - 1, b'x');
        past.extend_from_slice(b"\r\n");
        assert_eq!(parse(&past), Err(ProxyError::V1TooLong));
        assert_eq!(parse(&past[..MAX_V1_BYTES]), Err(ProxyError::V1TooLong));
        assert_eq!(parse(&past[..MAX_V1_BYTES - 1]), Ok(Parsed::NeedMore));
    }

    #[test]
    fn no_header() {
        for bad in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"\x16\x03\x01\x02\x00",
            b"proxy TCP4",
            b"PROXY\r\n",
            b"\r\n\r\n\0\r\nQUIX\n0000",
        ] {
            assert_eq!(parse(bad), Err(ProxyError::NoHeader), "{bad:?}");
        }
        assert_eq!(parse(b""), Ok(Parsed::NeedMore));
    }

    #[test]
    fn v2_proxy_ipv4_and_ipv6() {
        let mut b = v2(0x21, 0x11, &v4_payload());
        b.extend_from_slice(b"\x16\x03\x01");
        let h = header(&b);
        assert_eq!(h.len, 28);
        assert_eq!(h.source, Some("192.0.2.7:51234".parse().unwrap()));

        let mut p = vec![0u8; 36];
        p[0] = 0x20;
        p[1] = 0x01;
        p[15] = 7;
        p[32..34].copy_from_slice(&8080u16.to_be_bytes());
        let h = header(&v2(0x21, 0x21, &p));
        assert_eq!(h.len, 52);
        assert_eq!(h.source, Some("[2001::7]:8080".parse().unwrap()));
    }

    #[test]
    fn v2_tlvs_are_skipped() {
        let mut p = v4_payload();
        // PP2_TYPE_NOOP with 3 bytes, then an AWS-style custom TLV.
        p.extend_from_slice(&[0x04, 0, 3, 0, 0, 0, 0xea, 0, 2, b'v', b'p']);
        let b = v2(0x21, 0x11, &p);
        let h = header(&b);
        assert_eq!(h.len, b.len());
        assert_eq!(h.source, Some("192.0.2.7:51234".parse().unwrap()));
    }

    #[test]
    fn v2_local_uses_the_peer_whatever_the_family() {
        assert_eq!(header(&v2(0x20, 0x00, &[])).source, None);
        let b = v2(0x20, 0x11, &v4_payload());
        assert_eq!(
            header(&b),
            Header {
                len: 28,
                source: None
            }
        );
        // LOCAL skips its block unread, even for a family PROXY would refuse.
        assert_eq!(header(&v2(0x20, 0x31, &[0; 216])).source, None);
    }

    #[test]
    fn v2_unspec_proxy_uses_the_peer() {
        assert_eq!(header(&v2(0x21, 0x00, &[1, 2, 3])).source, None);
    }

    #[test]
    fn v2_every_prefix_needs_more() {
        let b = v2(0x21, 0x11, &v4_payload());
        for n in 1..b.len() {
            assert_eq!(parse(&b[..n]), Ok(Parsed::NeedMore), "{n}");
        }
    }

    #[test]
    fn v2_refused() {
        assert_eq!(
            parse(&v2(0x11, 0x11, &v4_payload())),
            Err(ProxyError::V2Version(1))
        );
        assert_eq!(
            parse(&v2(0x22, 0x11, &v4_payload())),
            Err(ProxyError::V2Command(2))
        );
        for fam in [0x12, 0x22, 0x31, 0x32, 0x13, 0x41, 0x10, 0x20, 0xff] {
            assert_eq!(
                parse(&v2(0x21, fam, &[0; 216])),
                Err(ProxyError::V2Family(fam)),
                "{fam:#x}"
            );
        }
        assert_eq!(parse(&v2(0x21, 0x11, &[0; 11])), Err(ProxyError::V2Short));
        assert_eq!(parse(&v2(0x21, 0x21, &[0; 35])), Err(ProxyError::V2Short));
    }

    #[test]
    fn v2_length_at_and_past_the_limit() {
        let mut p = v4_payload();
        p.resize(MAX_V2_PAYLOAD, 0);
        let b = v2(0x21, 0x11, &p);
        assert_eq!(header(&b).len, MAX_HEADER_BYTES);
        p.push(0);
        let b = v2(0x21, 0x11, &p);
        // Refused from the fixed part alone: nothing past it is waited for.
        assert_eq!(
            parse(&b[..V2_FIXED_BYTES]),
            Err(ProxyError::V2TooLong(MAX_V2_PAYLOAD as u16 + 1))
        );
        let mut max = v2(0x21, 0x11, &[]);
        max[14] = 0xff;
        max[15] = 0xff;
        assert_eq!(parse(&max), Err(ProxyError::V2TooLong(u16::MAX)));
    }

    #[test]
    fn errors_say_what() {
        assert_eq!(
            ProxyError::V2TooLong(3000).to_string(),
            "PROXY v2 header of 3000 bytes, past the limit of 2048"
        );
        assert_eq!(
            ProxyError::V2Family(0x31).to_string(),
            "PROXY v2 header with unsupported family 0x31"
        );
    }
}
