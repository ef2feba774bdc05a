use super::tests::{parse, SPEC};
use super::*;

#[test]
fn defaults_trust_nobody() {
    let c = parse(SPEC).unwrap();
    assert_eq!(c.load_balancer, LoadBalancerConfig::default());
    assert!(c.load_balancer.trusted_proxies.is_empty());
}

#[test]
fn trusted_proxies_and_proxy_protocol() {
    let c = parse(&format!(
        "{}\n[server]\ntrustedProxies = [\"10.0.0.0/8\", \"2001:db8::/32\", \"127.0.0.1\"]\n\
             [validator]\nproxyProtocol = true\n",
        SPEC.replace("httpsPort = 9095", "httpsPort = 9095\nproxyProtocol = true")
    ))
    .unwrap();
    let lb = &c.load_balancer;
    assert!(lb.https_proxy_protocol && lb.plain_proxy_protocol);
    assert!(lb.trusted_proxies.contains("10.2.3.4".parse().unwrap()));
    assert!(lb.trusted_proxies.contains("2001:db8::1".parse().unwrap()));
    assert!(lb.trusted_proxies.contains("127.0.0.1".parse().unwrap()));
    assert!(!lb.trusted_proxies.contains("127.0.0.2".parse().unwrap()));
    assert!(!c
        .warnings
        .iter()
        .any(|w| w.contains("trustedProxies") || w.contains("proxyProtocol")));
}

#[test]
fn malformed_entries_are_named() {
    let with = |list: &str| parse(&format!("{SPEC}\n[server]\ntrustedProxies = {list}\n"));
    let e = with("[\"10.0.0.0/8\", \"10.0.0.0/33\"]").unwrap_err();
    assert_eq!(e.key, "server.trustedProxies[1]");
    assert!(e.message.contains("\"10.0.0.0/33\""), "{e}");
    assert_eq!(with("[3]").unwrap_err().key, "server.trustedProxies[0]");
    assert_eq!(
        with("\"10.0.0.0/8\"").unwrap_err().key,
        "server.trustedProxies"
    );
    let at = |n: usize| with(&format!("[{}]", vec!["\"10.0.0.1\""; n].join(",")));
    assert!(at(MAX_TRUSTED_PROXIES).is_ok());
    assert_eq!(
        at(MAX_TRUSTED_PROXIES + 1).unwrap_err().key,
        "server.trustedProxies"
    );
}

#[test]
fn proxy_protocol_needs_trusted_proxies() {
    let e = parse(&SPEC.replace("httpsPort = 9095", "httpsPort = 9095\nproxyProtocol = true"))
        .unwrap_err();
    assert_eq!(e.key, "listenerConfig.proxyProtocol");
    let e = parse(&format!("{SPEC}\n[validator]\nproxyProtocol = true\n")).unwrap_err();
    assert_eq!(e.key, "validator.proxyProtocol");
    let e = parse(&format!("{SPEC}\n[validator]\nproxyProtocol = 1\n")).unwrap_err();
    assert_eq!(e.key, "validator.proxyProtocol");
}
