use super::*;
use std::net::IpAddr;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn ips(v: &str) -> PermittedIp {
    PermittedIp::parse(v).unwrap()
}

#[test]
fn ipv4_addresses_and_blocks() {
    let p = ips("192.168.1.10, 10.0.0.0/8");
    assert!(p.permits(ip("192.168.1.10")));
    assert!(!p.permits(ip("192.168.1.11")));
    assert!(p.permits(ip("10.0.0.0")));
    assert!(p.permits(ip("10.255.255.255")));
    assert!(!p.permits(ip("11.0.0.0")));
    assert!(!p.permits(ip("9.255.255.255")));
    assert_eq!(p.as_str(), "192.168.1.10,10.0.0.0/8");
}

#[test]
fn ipv4_prefix_edges() {
    let all = ips("0.0.0.0/0");
    assert!(all.permits(ip("0.0.0.0")));
    assert!(all.permits(ip("255.255.255.255")));
    assert!(!all.permits(ip("::1")), "an IPv4 block never covers IPv6");
    let one = ips("127.0.0.2/32");
    assert!(one.permits(ip("127.0.0.2")));
    assert!(!one.permits(ip("127.0.0.3")));
    assert!(!one.permits(ip("127.0.0.1")));
    let half = ips("128.0.0.0/1");
    assert!(half.permits(ip("128.0.0.0")));
    assert!(!half.permits(ip("127.255.255.255")));
    let pair = ips("10.0.0.2/31");
    assert!(pair.permits(ip("10.0.0.2")) && pair.permits(ip("10.0.0.3")));
    assert!(!pair.permits(ip("10.0.0.1")) && !pair.permits(ip("10.0.0.4")));
    assert!(PermittedIp::parse("10.0.0.0/33").is_err());
}

#[test]
fn ipv6_addresses_blocks_and_edges() {
    let p = ips("2001:db8::/32,::1");
    assert!(p.permits(ip("2001:db8:ffff::1")));
    assert!(!p.permits(ip("2001:db9::1")));
    assert!(p.permits(ip("::1")));
    assert!(!p.permits(ip("::2")));
    assert!(
        !p.permits(ip("127.0.0.1")),
        "an IPv6 block never covers IPv4"
    );
    let all = ips("::/0");
    assert!(all.permits(ip("::")) && all.permits(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
    let one = ips("2001:db8::5/128");
    assert!(one.permits(ip("2001:db8::5")));
    assert!(!one.permits(ip("2001:db8::4")) && !one.permits(ip("2001:db8::6")));
    assert!(PermittedIp::parse("::/129").is_err());
}

#[test]
fn ipv4_mapped_ipv6_is_the_ipv4_address() {
    let p = ips("192.0.2.0/24");
    assert!(p.permits(ip("::ffff:192.0.2.7")));
    assert!(!p.permits(ip("::ffff:192.0.3.7")));
    // An entry in the mapped spelling covers both spellings too.
    let mapped = ips("::ffff:192.0.2.0/120");
    assert!(mapped.permits(ip("192.0.2.200")));
    assert!(mapped.permits(ip("::ffff:192.0.2.200")));
    assert!(!mapped.permits(ip("192.0.3.1")));
}

#[test]
fn malformed_ip_entries_are_named() {
    for (value, entry) in [
        ("10.0.0.1,banana", "banana"),
        ("10.0.0.300", "10.0.0.300"),
        ("10.0.0.0/", "10.0.0.0/"),
        ("10.0.0.0/-1", "10.0.0.0/-1"),
        ("10.0.0.0/8/8", "10.0.0.0/8/8"),
        ("2001:db8::/x", "2001:db8::/x"),
    ] {
        assert_eq!(
            PermittedIp::parse(value).unwrap_err(),
            RestrictionError::BadEntry {
                claim: Claim::PermittedIp,
                entry: entry.into()
            },
            "{value}"
        );
    }
    let e = PermittedIp::parse("10.0.0.1,banana")
        .unwrap_err()
        .to_string();
    assert!(e.contains("permittedIP") && e.contains("\"banana\""), "{e}");
    assert!(matches!(
        PermittedIp::parse(" , ,"),
        Err(RestrictionError::Empty { .. })
    ));
}

#[test]
fn count_and_length_caps_at_and_past_the_edge() {
    let n = |count: usize| vec!["10.0.0.1"; count].join(",");
    assert!(PermittedIp::parse(&n(MAX_RESTRICTION_ENTRIES)).is_ok());
    assert_eq!(
        PermittedIp::parse(&n(MAX_RESTRICTION_ENTRIES + 1)).unwrap_err(),
        RestrictionError::TooMany {
            claim: Claim::PermittedIp,
            count: MAX_RESTRICTION_ENTRIES + 1
        }
    );
    // One referer pattern padded to exactly the byte cap, then one byte past it.
    let at = format!(
        "https://a.example.com/{}",
        "p".repeat(MAX_RESTRICTION_BYTES - 22)
    );
    assert_eq!(at.len(), MAX_RESTRICTION_BYTES);
    assert!(PermittedReferer::parse(&at).is_ok());
    let past = format!("{at}p");
    assert_eq!(
        PermittedReferer::parse(&past).unwrap_err(),
        RestrictionError::TooLong {
            claim: Claim::PermittedReferer,
            len: MAX_RESTRICTION_BYTES + 1
        }
    );
}

fn refs(v: &str) -> PermittedReferer {
    PermittedReferer::parse(v).unwrap()
}

#[test]
fn wildcard_host_never_reaches_into_the_path() {
    let p = refs("https://*.example.com/*");
    assert!(p.permits("https://www.example.com/"));
    assert!(p.permits("https://a.b.example.com/app/page?q=1"));
    assert!(p.permits("HTTPS://WWW.Example.COM/x"));
    assert!(!p.permits("https://evil.com/?x=.example.com/"));
    assert!(!p.permits("https://evil.com/.example.com/"));
    assert!(!p.permits("https://evil.com#.example.com/"));
    assert!(!p.permits("https://www.example.com.evil.com/"));
    assert!(
        !p.permits("https://user@www.example.com/"),
        "userinfo is not a host"
    );
    assert!(!p.permits("https://www.example.com@evil.com/"));
    assert!(
        !p.permits("http://www.example.com/"),
        "scheme given: only https"
    );
    assert!(
        !p.permits("https://www.example.com:8443/"),
        "no port in the pattern"
    );
    assert!(!p.permits("https://example.com/"), "*. needs a subdomain");
    assert!(!p.permits("www.example.com/"), "a referer names its scheme");
}

#[test]
fn patterns_without_scheme_port_or_path() {
    let p = refs("www.example.com");
    assert!(p.permits("http://www.example.com"));
    assert!(p.permits("https://www.example.com/"));
    assert!(
        !p.permits("https://www.example.com/page"),
        "no path: the root only"
    );
    assert!(!p.permits("ftp://www.example.com/"));
    let any_port = refs("http://localhost:*/*");
    assert!(any_port.permits("http://localhost:3000/x"));
    assert!(!any_port.permits("http://localhost/x"));
    let port = refs("http://localhost:3000/app/*");
    assert!(port.permits("http://localhost:3000/app/"));
    assert!(port.permits("http://localhost:3000/app/a/b?c"));
    assert!(!port.permits("http://localhost:3001/app/"));
    assert!(!port.permits("http://localhost:3000/apps"));
    assert!(!port.permits("http://localhost:3000/"));
}

#[test]
fn path_wildcards_and_exact_paths() {
    let p = refs("https://example.com/a/*/c");
    assert!(p.permits("https://example.com/a/b/c"));
    assert!(p.permits("https://example.com/a/b/b/c"));
    assert!(!p.permits("https://example.com/a/b/c/d"));
    assert!(
        !p.permits("https://example.com/A/b/c"),
        "paths compare exactly"
    );
    let long = format!("https://example.com/{}", "a".repeat(MAX_REFERER_BYTES));
    assert!(
        !refs("https://example.com/*").permits(&long),
        "past the cap"
    );
    let at = format!(
        "https://example.com/{}",
        "a".repeat(MAX_REFERER_BYTES - "https://example.com/".len())
    );
    assert!(refs("https://example.com/*").permits(&at));
}

#[test]
fn malformed_referer_entries_are_named() {
    for entry in [
        "https://",
        "https:///path",
        "1http://example.com/",
        "example.com:port/",
        "exa mple.com",
        "https://exa\u{e9}mple.com/",
        "https://example.com/\u{7f}",
        "https://ex@mple.com/",
        "https://example.com?x",
    ] {
        let value = format!("https://ok.example.com/*,{entry}");
        assert_eq!(
            PermittedReferer::parse(&value).unwrap_err(),
            RestrictionError::BadEntry {
                claim: Claim::PermittedReferer,
                entry: entry.trim().into()
            },
            "{entry:?}"
        );
    }
}

#[test]
fn narrowing_a_default_never_widens_it() {
    let outer = ips("10.0.0.0/8,2001:db8::/32");
    assert_eq!(ips("10.1.0.0/16,10.2.3.4").first_outside(&outer), None);
    assert_eq!(ips("2001:db8:1::/48").first_outside(&outer), None);
    assert_eq!(
        ips("10.1.0.0/16,0.0.0.0/0").first_outside(&outer),
        Some("0.0.0.0/0")
    );
    assert_eq!(ips("11.0.0.1").first_outside(&outer), Some("11.0.0.1"));
    assert_eq!(ips("::/0").first_outside(&outer), Some("::/0"));
    let r = refs("https://*.example.com/*, http://localhost:*/*");
    assert_eq!(refs("http://localhost:*/*").first_outside(&r), None);
    assert_eq!(
        refs("HTTPS://*.EXAMPLE.com/*,https://*/*").first_outside(&r),
        Some("https://*/*")
    );
}
