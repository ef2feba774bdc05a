//! The validator's unit tests: every check, the cache and hostile inputs.

use super::*;
use crate::jwks::PublishedKey;
use crate::jwt::tests::{test_key, test_public};
use crate::jwt::{self, JwtError};
use crate::jwt::{encode, AllowedApi, Claims, RsaSigner};
use crate::metrics::ValidationResult;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

pub(crate) const ISS: &str = "https://localhost:9095/apikey";
pub(crate) const NOW: i64 = 1_700_000_000;
/// The TCP peer of test requests to `/validate`.
pub(crate) const PEER: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

pub(crate) fn keyset() -> Arc<KeySet> {
    Arc::new(
        KeySet::new(vec![(
            PublishedKey {
                kid: "ballerina".into(),
                key: test_public(),
                chain: vec![],
                active: true,
            },
            "k".into(),
        )])
        .unwrap(),
    )
}

pub(crate) fn rules() -> Rules {
    let d = ValidatorConfig::default();
    Rules {
        issuer: ISS.into(),
        audience: None,
        validate_allowed_apis: false,
        clock_skew_seconds: 60,
        key_headers: d.key_headers,
        key_query_params: d.key_query_params,
        api_name_header: d.api_name_header,
        api_version_header: d.api_version_header,
        gateway_addresses: d.gateway_addresses,
        client_ip_header: d.client_ip_header,
        referer_header: d.referer_header,
        production_only: d.production_only,
        production_only_apis: d.production_only_apis,
        accept_bearer: d.accept_bearer,
    }
}

pub(crate) fn validator(rules: Rules, cache: usize) -> Validator {
    let keys = keyset();
    Validator::new(rules, keys, SignatureCache::new(cache, 300))
}

pub(crate) fn claims() -> Claims {
    Claims {
        sub: "admin".into(),
        iss: ISS.into(),
        aud: None,
        iat: NOW,
        exp: None,
        jti: "0d5b5f6c-0000-4000-8000-000000000000".into(),
        keytype: "PRODUCTION".into(),
        allowed_apis: vec![
            AllowedApi {
                name: "Petstore".into(),
                version: "1.0.0".into(),
            },
            AllowedApi {
                name: "MyAPI".into(),
                version: "*".into(),
            },
        ],
        permitted_ip: None,
        permitted_referer: None,
    }
}

pub(crate) fn token(c: &Claims) -> String {
    encode("ballerina", c, &RsaSigner::new(test_key().clone())).unwrap()
}

/// A token signed over arbitrary header and claims JSON.
fn raw_token(header: &str, claims: &str) -> String {
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let sig =
        crate::jwt::Signer::sign(&RsaSigner::new(test_key().clone()), signed.as_bytes()).unwrap();
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig))
}

pub(crate) fn req(target: &str, headers: &[(&str, &str)]) -> Request {
    Request {
        method: "GET".into(),
        target: target.into(),
        minor_version: 1,
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
            .collect(),
        body: vec![],
    }
}

#[test]
fn valid_key_gets_forwardable_headers() {
    let v = validator(rules(), 10);
    let t = token(&claims());
    let (r, a) = v.validate(&req("/validate", &[("apikey", &t)]), PEER, NOW);
    assert_eq!(r.status, 200);
    assert_eq!(r.header_value("X-Auth-Subject"), Some("admin"));
    assert_eq!(r.header_value("X-Auth-Key-Type"), Some("PRODUCTION"));
    assert_eq!(
        r.header_value("X-Auth-Jti"),
        Some("0d5b5f6c-0000-4000-8000-000000000000")
    );
    assert!(!a.unwrap().from_cache);
    // Second time: from the cache.
    let (_, a) = v.validate(&req("/validate", &[("apikey", &t)]), PEER, NOW);
    assert!(a.unwrap().from_cache);
}

#[test]
fn key_is_found_in_any_configured_place() {
    let v = validator(rules(), 0);
    let t = token(&claims());
    let ok = |r: Request| v.validate(&r, PEER, NOW).0.status;
    assert_eq!(ok(req("/validate", &[("X-API-KEY", &t)])), 200);
    assert_eq!(ok(req("/validate", &[("x-api-key", &t)])), 200);
    assert_eq!(ok(req("/validate", &[("API_KEY", &t)])), 200);
    assert_eq!(ok(req(&format!("/validate?api_key={t}"), &[])), 200);
    let uri = format!("/pets/1?x=1&apikey={t}#frag");
    assert_eq!(ok(req("/validate", &[("X-Original-URI", &uri)])), 200);
    let enc = format!("/pets?apikey={}", t.replace('.', "%2E"));
    assert_eq!(ok(req("/validate", &[("X-Original-URI", &enc)])), 200);
    // Empty values and other names are not keys.
    assert_eq!(ok(req("/validate?apikey=&token=x", &[("apikey", "")])), 401);
    let (r, _) = v.validate(&req("/validate?Authorization=x", &[]), PEER, NOW);
    assert_eq!(r.status, 401);
    assert_eq!(
        serde_json::from_slice::<Value>(&r.body).unwrap()["fault"]["code"],
        FAULT_MISSING_CREDENTIALS
    );
    // Configured names replace the defaults.
    let mut custom = rules();
    custom.key_headers = vec!["X-Key".into()];
    custom.key_query_params = vec!["k".into()];
    let v2 = validator(custom, 0);
    assert_eq!(
        v2.validate(&req("/validate", &[("x-key", &t)]), PEER, NOW)
            .0
            .status,
        200
    );
    assert_eq!(
        v2.validate(&req("/validate", &[("apikey", &t)]), PEER, NOW)
            .0
            .status,
        401
    );
    assert_eq!(
        v2.validate(&req(&format!("/validate?k={t}"), &[]), PEER, NOW)
            .0
            .status,
        200
    );
}

#[test]
fn signature_algorithm_issuer_audience() {
    let v = validator(rules(), 10);
    let t = token(&claims());
    let check = |v: &Validator, t: &str| v.check(t, None, NOW).map(|_| ());
    // Tampered claims.
    let mut parts: Vec<String> = t.split('.').map(String::from).collect();
    let mut c = URL_SAFE_NO_PAD.decode(&parts[1]).unwrap();
    c[12] ^= 1;
    parts[1] = URL_SAFE_NO_PAD.encode(c);
    assert_eq!(
        check(&v, &parts.join(".")),
        Err(Rejection::Token(JwtError::BadSignature))
    );
    // alg none, HS256 (even "signed" with the public key as secret): always refused.
    let body = serde_json::to_string(&claims()).unwrap();
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"ballerina"}"#),
        URL_SAFE_NO_PAD.encode(&body)
    );
    assert_eq!(
        check(&v, &none).unwrap_err().result(),
        ValidationResult::BadAlgorithm
    );
    let hs = raw_token(r#"{"alg":"HS256","kid":"ballerina"}"#, &body);
    assert_eq!(
        check(&v, &hs).unwrap_err().result(),
        ValidationResult::BadAlgorithm
    );
    let unknown = raw_token(r#"{"alg":"RS256","kid":"retired"}"#, &body);
    assert_eq!(
        check(&v, &unknown).unwrap_err().result(),
        ValidationResult::UnknownKey
    );
    // No kid: the active key.
    let nokid = raw_token(r#"{"alg":"RS256"}"#, &body);
    assert!(check(&v, &nokid).is_ok());
    // Issuer.
    let mut c = claims();
    c.iss = "https://evil.example/apikey".into();
    assert_eq!(check(&v, &token(&c)), Err(Rejection::WrongIssuer));
    let noiss = raw_token(r#"{"alg":"RS256"}"#, r#"{"sub":"a"}"#);
    assert_eq!(check(&v, &noiss), Err(Rejection::WrongIssuer));
    // Audience, when configured: string or array.
    let mut r = rules();
    r.audience = Some("gw".into());
    let va = validator(r, 0);
    assert_eq!(check(&va, &t), Err(Rejection::WrongAudience));
    let mut c = claims();
    c.aud = Some("gw".into());
    assert!(check(&va, &token(&c)).is_ok());
    let arr = raw_token(
        r#"{"alg":"RS256"}"#,
        &format!(r#"{{"jti":"raw-1","iss":"{ISS}","aud":["x","gw"]}}"#),
    );
    assert!(check(&va, &arr).is_ok());
    let wrong = raw_token(
        r#"{"alg":"RS256"}"#,
        &format!(r#"{{"jti":"raw-1","iss":"{ISS}","aud":7}}"#),
    );
    assert_eq!(check(&va, &wrong), Err(Rejection::WrongAudience));
}

#[test]
fn time_checks_with_skew_at_and_past_edges() {
    let v = validator(rules(), 10);
    let mut c = claims();
    c.exp = Some(NOW);
    let t = token(&c);
    // Valid until exp + skew, exclusive.
    assert!(v.check(&t, None, NOW + 59).is_ok());
    assert_eq!(
        v.check(&t, None, NOW + 60).unwrap_err(),
        Rejection::Expired { exp: NOW }
    );
    let nbf = |n: i64| {
        raw_token(
            r#"{"alg":"RS256"}"#,
            &format!(r#"{{"jti":"raw-1","iss":"{ISS}","nbf":{n}}}"#),
        )
    };
    assert!(v.check(&nbf(NOW + 60), None, NOW).is_ok());
    assert_eq!(
        v.check(&nbf(NOW + 61), None, NOW).unwrap_err().result(),
        ValidationResult::NotYetValid
    );
    let bad = raw_token(
        r#"{"alg":"RS256"}"#,
        &format!(r#"{{"jti":"raw-1","iss":"{ISS}","exp":"soon"}}"#),
    );
    assert_eq!(
        v.check(&bad, None, NOW).unwrap_err(),
        Rejection::BadClaim(TimeClaim::Exp)
    );
    let frac = raw_token(
        r#"{"alg":"RS256"}"#,
        &format!(r#"{{"jti":"raw-1","iss":"{ISS}","exp":{NOW}.5}}"#),
    );
    assert!(v.check(&frac, None, NOW).is_ok());
    let huge = raw_token(
        r#"{"alg":"RS256"}"#,
        &format!(r#"{{"jti":"raw-1","iss":"{ISS}","exp":1e300}}"#),
    );
    assert!(v.check(&huge, None, NOW).is_ok());
    // Zero skew: expired exactly at exp.
    let mut r = rules();
    r.clock_skew_seconds = 0;
    let strict = validator(r, 0);
    assert!(strict.check(&t, None, NOW - 1).is_ok());
    assert!(strict.check(&t, None, NOW).is_err());
}

#[test]
fn allowed_apis_and_wildcard_version() {
    let mut r = rules();
    r.validate_allowed_apis = true;
    let v = validator(r, 10);
    let t = token(&claims());
    let status = |h: &[(&str, &str)]| {
        let mut all = vec![("apikey", t.as_str())];
        all.extend_from_slice(h);
        v.validate(&req("/validate", &all), PEER, NOW).0.status
    };
    assert_eq!(
        status(&[("X-API-Name", "Petstore"), ("X-API-Version", "1.0.0")]),
        200
    );
    assert_eq!(
        status(&[("x-api-name", "MyAPI"), ("x-api-version", "7")]),
        200
    );
    assert_eq!(status(&[("X-API-Name", "MyAPI")]), 200);
    assert_eq!(
        status(&[("X-API-Name", "Petstore"), ("X-API-Version", "2")]),
        403
    );
    assert_eq!(status(&[("X-API-Name", "Petstore")]), 403);
    assert_eq!(
        status(&[("X-API-Name", "petstore"), ("X-API-Version", "1.0.0")]),
        403
    );
    assert_eq!(
        status(&[("X-API-Name", "Other"), ("X-API-Version", "1")]),
        403
    );
    assert_eq!(status(&[]), 403);
    // subscribedAPIs (API Manager-issued keys) count too; garbage shapes never match.
    let sub = raw_token(
        r#"{"alg":"RS256"}"#,
        &format!(
            r#"{{"jti":"raw-1","iss":"{ISS}","allowedAPIs":"x","subscribedAPIs":[1,{{"name":"S","version":"v1","context":"/s"}}]}}"#
        ),
    );
    let api = |n, ver| {
        Some(ApiRef {
            name: Some(n),
            version: Some(ver),
        })
    };
    assert!(v.check(&sub, api("S", "v1"), NOW).is_ok());
    assert_eq!(
        v.check(&sub, api("S", "v2"), NOW).unwrap_err().status(),
        403
    );
    // A bad key is 401 even on an allowed API.
    let (r, _) = v.validate(
        &req("/validate", &[("apikey", "x.y.z"), ("X-API-Name", "MyAPI")]),
        PEER,
        NOW,
    );
    assert_eq!(r.status, 401);
}

#[test]
fn cache_hits_still_check_expiry_and_revocation() {
    struct RevokeAll;
    impl Revocation for RevokeAll {
        fn is_revoked(&self, c: &Value) -> bool {
            c["jti"] == "0d5b5f6c-0000-4000-8000-000000000000"
        }
    }
    let v = validator(rules(), 10);
    let mut c = claims();
    c.exp = Some(NOW + 100);
    let t = token(&c);
    assert!(!v.check(&t, None, NOW).unwrap().from_cache);
    assert!(v.check(&t, None, NOW + 10).unwrap().from_cache);
    // The cache entry ends at exp; the exp check (with skew) runs regardless.
    assert!(v.check(&t, None, NOW + 100).is_ok());
    assert_eq!(
        v.check(&t, None, NOW + 160).unwrap_err().result(),
        ValidationResult::Expired
    );
    let v = v.with_revocation(Arc::new(RevokeAll));
    assert_eq!(v.check(&t, None, NOW).unwrap_err(), Rejection::Revoked);
}

#[test]
fn repeated_checks_are_served_from_the_cache() {
    // How fast a hit is belongs to the benchmark (bench/run.sh, section 4); this checks
    // that the repeat skips the RSA verify at all.
    let v = validator(rules(), 10);
    let t = token(&claims());
    assert!(!v.check(&t, None, NOW).unwrap().from_cache);
    for _ in 0..100 {
        assert!(v.check(&t, None, NOW).unwrap().from_cache);
    }
}

#[test]
fn hostile_inputs_never_panic() {
    let v = validator(rules(), 10);
    let long = "a".repeat(jwt::MAX_TOKEN_BYTES + 1);
    let at = format!("{}.{}.", "a".repeat(jwt::MAX_TOKEN_BYTES - 2), "");
    for k in [
        "", ".", "..", "%", "%%", "%zz", "%e2%82", "a.b.c", &long, &at, "\u{0}", "é.é.é",
    ] {
        let q = format!("/validate?apikey={k}");
        for r in [req(&q, &[]), req("/validate", &[("X-Original-URI", &q)])] {
            let (resp, accepted) = v.validate(&r, PEER, NOW);
            assert_eq!(resp.status, 401, "{k:?}");
            assert!(accepted.is_none(), "{k:?}");
        }
        assert!(v.check(k, None, NOW).is_err(), "{k:?}");
    }
    assert_eq!(
        v.check(&long, None, NOW).unwrap_err().result(),
        ValidationResult::TooLong
    );
    // Query values are decoded; one that does not decode is kept as written.
    let key = |q: &str| {
        v.find_key(&req(&format!("/validate?apikey={q}"), &[]))
            .map(|k| k.into_owned())
    };
    assert_eq!(key("a%2").as_deref(), Some("a%2"));
    assert_eq!(key("%41%4a").as_deref(), Some("AJ"));
    assert_eq!(key("%").as_deref(), Some("%"));
    assert_eq!(header_safe("a b\r\nc%é"), "a b%0D%0Ac%25%C3%A9");
    assert_eq!(header_safe("admin ~!"), "admin ~!");
    assert_eq!(header_safe(""), "");
}

/// The 200 body has the bytes `json!` gives (keys sorted), escapes included.
#[test]
fn valid_body_is_the_sorted_json_object() {
    for (sub, keytype, jti) in [("admin", "PRODUCTION", "j-1"), ("a\"b\\", "é\n", "")] {
        let body = ValidBody {
            jti,
            keytype,
            sub,
            valid: true,
        };
        let expected =
            serde_json::json!({ "valid": true, "sub": sub, "keytype": keytype, "jti": jti });
        assert_eq!(body.to_json(), expected.to_string().into_bytes());
    }
}

#[test]
fn every_rejection_label_is_a_metric_label() {
    for r in [
        Rejection::Missing,
        Rejection::Token(JwtError::TooLong(1)),
        Rejection::Token(JwtError::Malformed("x")),
        Rejection::Token(JwtError::Algorithm("none".into())),
        Rejection::Token(JwtError::UnknownKey("k".into())),
        Rejection::Token(JwtError::BadSignature),
        Rejection::WrongIssuer,
        Rejection::WrongAudience,
        Rejection::Expired { exp: 1 },
        Rejection::NotYetValid { nbf: 1 },
        Rejection::BadClaim(TimeClaim::Exp),
        Rejection::NoRevocableJti,
        Rejection::Token(JwtError::CriticalExtension),
        Rejection::Token(JwtError::DuplicateMember("sub".into())),
        Rejection::Revoked,
        Rejection::ApiNotAllowed {
            header: "h".into(),
            name: "n".into(),
            version: None,
        },
        Rejection::ApiUnspecified { header: "h".into() },
    ] {
        assert_ne!(r.result(), ValidationResult::Other, "{r:?}");
        assert_ne!(r.result(), ValidationResult::Valid, "{r:?}");
        assert!(!r.to_string().is_empty());
    }
}

#[test]
fn cache_is_keyed_by_the_whole_token_signature_included() {
    let v = validator(rules(), 10);
    let t = token(&claims());
    assert!(!v.check(&t, None, NOW).unwrap().from_cache);
    assert!(v.check(&t, None, NOW).unwrap().from_cache);
    // Same header and claims, another signature: verified (and refused), never a cache hit.
    let (signed, sig) = t.rsplit_once('.').unwrap();
    let mut raw = URL_SAFE_NO_PAD.decode(sig).unwrap();
    raw[0] ^= 1;
    let forged = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(raw));
    assert_ne!(cache_key(&t), cache_key(&forged));
    assert_eq!(
        v.check(&forged, None, NOW).unwrap_err(),
        Rejection::Token(JwtError::BadSignature)
    );
    assert_eq!(v.cache().len(), 1);
}

#[test]
fn a_padded_signature_is_the_same_cache_entry() {
    let v = validator(rules(), 10);
    let t = token(&claims());
    let sig_len = t.rsplit('.').next().unwrap().len();
    let padded = format!("{t}{}", "=".repeat((4 - sig_len % 4) % 4));
    assert_ne!(padded, t);
    assert_eq!(cache_key(&padded), cache_key(&t));
    assert!(!v.check(&t, None, NOW).unwrap().from_cache);
    assert!(v.check(&padded, None, NOW).unwrap().from_cache);
    assert_eq!(v.cache().len(), 1);
}

#[test]
fn keys_that_could_never_be_revoked_are_refused() {
    let v = validator(rules(), 10);
    for claims in [
        format!(r#"{{"iss":"{ISS}"}}"#),
        format!(r#"{{"iss":"{ISS}","jti":7}}"#),
        format!(r#"{{"iss":"{ISS}","jti":""}}"#),
        format!(r#"{{"iss":"{ISS}","jti":"has space"}}"#),
        format!(r#"{{"iss":"{ISS}","jti":"{}"}}"#, "a".repeat(129)),
    ] {
        let t = raw_token(r#"{"alg":"RS256"}"#, &claims);
        assert_eq!(
            v.check(&t, None, NOW).map(|_| ()),
            Err(Rejection::NoRevocableJti),
            "{claims}"
        );
    }
    let t = raw_token(
        r#"{"alg":"RS256"}"#,
        &format!(r#"{{"iss":"{ISS}","jti":"{}"}}"#, "a".repeat(128)),
    );
    assert!(v.check(&t, None, NOW).is_ok());
}

/// A validator that believes the client headers of 127.0.0.1 only.
fn gated(r: Rules) -> Validator {
    let mut r = r;
    r.gateway_addresses =
        crate::client_addr::TrustedProxies::new(vec!["127.0.0.1".parse().unwrap()]);
    validator(r, 10)
}

fn restricted(ip: Option<&str>, referer: Option<&str>) -> String {
    let mut c = claims();
    c.permitted_ip = ip.map(String::from);
    c.permitted_referer = referer.map(String::from);
    token(&c)
}

/// Status and fault code of `/validate` for `t` with `headers`, from `peer`.
fn verdict(v: &Validator, t: &str, headers: &[(&str, &str)], peer: &str) -> (u16, Value) {
    let mut all = vec![("apikey", t)];
    all.extend_from_slice(headers);
    let (resp, _) = v.validate(&req("/validate", &all), peer.parse().unwrap(), NOW);
    let body: Value = serde_json::from_slice(&resp.body).unwrap();
    (resp.status, body["fault"]["code"].clone())
}

#[test]
fn permitted_ip_from_a_trusted_gateway_only() {
    let v = gated(rules());
    let t = restricted(Some("127.0.0.2,2001:db8::/32"), None);
    let client = |ip: &'static str| [("X-Real-IP", ip)];
    assert_eq!(verdict(&v, &t, &client("127.0.0.2"), "127.0.0.1").0, 200);
    assert_eq!(
        verdict(&v, &t, &client("::ffff:127.0.0.2"), "127.0.0.1").0,
        200
    );
    assert_eq!(verdict(&v, &t, &client("2001:db8::9"), "127.0.0.1").0, 200);
    let refused = (403, Value::from(crate::fault::FAULT_CLIENT_NOT_PERMITTED));
    assert_eq!(verdict(&v, &t, &client("127.0.0.3"), "127.0.0.1"), refused);
    // No header, a header that is no address, or one from a peer that is not a gateway.
    assert_eq!(verdict(&v, &t, &[], "127.0.0.1"), refused);
    assert_eq!(verdict(&v, &t, &client("banana"), "127.0.0.1"), refused);
    assert_eq!(verdict(&v, &t, &client("127.0.0.2"), "127.0.0.9"), refused);
    // Without claims, nothing changes; `check` (no facts) refuses restricted keys.
    assert_eq!(verdict(&v, &token(&claims()), &[], "127.0.0.9").0, 200);
    assert_eq!(
        v.check(&t, None, NOW).unwrap_err().result(),
        ValidationResult::ClientNotPermitted
    );
}

#[test]
fn permitted_referer_from_a_trusted_gateway_only() {
    let mut r = rules();
    r.referer_header = "X-Ref".into();
    let v = gated(r);
    let t = restricted(None, Some("https://*.example.com/*"));
    let from = |url: &'static str| [("X-Ref", url)];
    assert_eq!(
        verdict(&v, &t, &from("https://app.example.com/p"), "127.0.0.1").0,
        200
    );
    for (headers, peer) in [
        (&from("https://evil.com/?x=.example.com/")[..], "127.0.0.1"),
        (&[][..], "127.0.0.1"),
        (&from("https://app.example.com/p")[..], "127.0.0.2"),
        (
            &[("X-Original-Referer", "https://app.example.com/p")][..],
            "127.0.0.1",
        ),
    ] {
        assert_eq!(
            verdict(&v, &t, headers, peer),
            (403, Value::from(crate::fault::FAULT_CLIENT_NOT_PERMITTED)),
            "{headers:?} {peer}"
        );
    }
    // Both claims: both facts needed.
    let both = restricted(Some("127.0.0.2"), Some("https://*.example.com/*"));
    let facts = [
        ("X-Real-IP", "127.0.0.2"),
        ("X-Ref", "https://a.example.com/"),
    ];
    assert_eq!(verdict(&v, &both, &facts, "127.0.0.1").0, 200);
    assert_eq!(verdict(&v, &both, &facts[..1], "127.0.0.1").0, 403);
    // A claim that is not a valid restriction refuses the key.
    let mut bad = claims();
    bad.permitted_ip = Some("nowhere".into());
    assert_eq!(verdict(&v, &token(&bad), &facts, "127.0.0.1").0, 403);
}

#[test]
fn production_only_per_listener_or_per_api() {
    let mut sandbox = claims();
    sandbox.keytype = "SANDBOX".into();
    let s = token(&sandbox);
    let p = token(&claims());
    let api = |n: &'static str| [("X-API-Name", n)];
    let refused = (403, Value::from(crate::fault::FAULT_KEY_TYPE_NOT_ACCEPTED));
    assert_eq!(verdict(&gated(rules()), &s, &[], "127.0.0.1").0, 200);
    let mut r = rules();
    r.production_only = true;
    let v = gated(r);
    assert_eq!(verdict(&v, &s, &[], "127.0.0.1"), refused);
    assert_eq!(verdict(&v, &p, &[], "127.0.0.1").0, 200);
    let mut r = rules();
    r.production_only_apis = vec!["Payments".into()];
    let v = gated(r);
    assert_eq!(verdict(&v, &s, &api("Payments"), "127.0.0.1"), refused);
    assert_eq!(verdict(&v, &s, &api("MyAPI"), "127.0.0.1").0, 200);
    assert_eq!(verdict(&v, &p, &api("Payments"), "127.0.0.1").0, 200);
}

#[test]
fn bearer_is_a_key_source_after_the_key_headers() {
    let v = validator(rules(), 10);
    let found = |h: &[(&str, &str)]| v.find_key(&req("/validate", h)).map(|k| k.into_owned());
    assert_eq!(
        found(&[("Authorization", "Bearer a.b.c")]).as_deref(),
        Some("a.b.c")
    );
    assert_eq!(
        found(&[("authorization", "bearer  a.b.c ")]).as_deref(),
        Some("a.b.c")
    );
    assert_eq!(found(&[("Authorization", "Basic YTpi")]), None);
    assert_eq!(found(&[("Authorization", "Bearer ")]), None);
    assert_eq!(found(&[("Authorization", "Bearer")]), None);
    assert_eq!(
        found(&[("Authorization", "Bearer b"), ("apikey", "h")]).as_deref(),
        Some("h")
    );
    let t = token(&claims());
    let (r, _) = v.validate(
        &req("/validate", &[("Authorization", &format!("Bearer {t}"))]),
        PEER,
        NOW,
    );
    assert_eq!(r.status, 200);
}

#[test]
fn bearer_off_when_not_accepted() {
    let v = validator(
        Rules {
            accept_bearer: false,
            ..rules()
        },
        10,
    );
    let t = token(&claims());
    let (r, _) = v.validate(
        &req("/validate", &[("Authorization", &format!("Bearer {t}"))]),
        PEER,
        NOW,
    );
    assert_eq!(r.status, 401);
}

#[test]
fn forwarded_uri_and_appended_path_queries_are_searched() {
    let v = validator(rules(), 10);
    let found =
        |target: &str, h: &[(&str, &str)]| v.find_key(&req(target, h)).map(|k| k.into_owned());
    assert_eq!(
        found(
            "/validate",
            &[("X-Forwarded-Uri", "/pets/1?x=1&apikey=k1#f")]
        )
        .as_deref(),
        Some("k1")
    );
    assert_eq!(
        found(
            "/validate",
            &[
                ("X-Original-URI", "/p?apikey=n"),
                ("X-Forwarded-Uri", "/p?apikey=t")
            ]
        )
        .as_deref(),
        Some("n")
    );
    assert_eq!(
        found("/validate/pets/1?apikey=e%2Bk", &[]).as_deref(),
        Some("e+k")
    );
    assert_eq!(found("/validate", &[("X-Forwarded-Uri", "/pets/1")]), None);
}

/// 401 answers (no key, or a bad one) carry the `WWW-Authenticate` challenge; 403 answers (a
/// good key refused here) do not. A key refused for the API it is used on is Forbidden.
#[test]
fn only_401_answers_challenge_and_a_wrong_api_is_forbidden() {
    let mut r = rules();
    r.validate_allowed_apis = true;
    let v = validator(r, 10);
    let t = token(&claims());
    for (headers, status, code) in [
        (vec![], 401, FAULT_MISSING_CREDENTIALS),
        (vec![("apikey", "x.y.z")], 401, FAULT_INVALID_CREDENTIALS),
        (
            vec![("apikey", t.as_str()), ("X-API-Name", "Other")],
            403,
            FAULT_FORBIDDEN,
        ),
        (vec![("apikey", t.as_str())], 403, FAULT_FORBIDDEN),
    ] {
        let (resp, _) = v.validate(&req("/validate", &headers), PEER, NOW);
        assert_eq!(resp.status, status, "{headers:?}");
        let body: Value = serde_json::from_slice(&resp.body).unwrap();
        assert_eq!(body["fault"]["code"], code, "{headers:?}");
        assert_eq!(
            resp.header_value("WWW-Authenticate"),
            (status == 401).then_some("APIKey realm=\"apikey-sts\""),
            "{headers:?}"
        );
    }
}

/// A token of exactly `MAX_TOKEN_BYTES` is decoded (this one is then malformed); one byte
/// more is refused for its length alone.
#[test]
fn a_token_at_the_length_limit_is_decoded() {
    let v = validator(rules(), 10);
    let at = format!("{}..", "a".repeat(jwt::MAX_TOKEN_BYTES - 2));
    assert_eq!(at.len(), jwt::MAX_TOKEN_BYTES);
    assert_eq!(
        v.check(&at, None, NOW).unwrap_err().result(),
        ValidationResult::Malformed
    );
    let past = format!("{at}a");
    assert_eq!(
        v.check(&past, None, NOW).unwrap_err(),
        Rejection::Token(JwtError::TooLong(jwt::MAX_TOKEN_BYTES + 1))
    );
}

/// A time claim of the wrong type is named in the refusal.
#[test]
fn a_time_claim_of_the_wrong_type_is_named() {
    let v = validator(rules(), 0);
    for claim in ["exp", "nbf"] {
        let t = raw_token(
            r#"{"alg":"RS256"}"#,
            &format!(r#"{{"jti":"raw-1","iss":"{ISS}","{claim}":"soon"}}"#),
        );
        let e = v.check(&t, None, NOW).unwrap_err();
        assert_eq!(e.result(), ValidationResult::BadClaim);
        assert_eq!(e.to_string(), format!("claim {claim} has the wrong type"));
    }
}

/// A lookup that misses a cache in use counts as a miss. The counter is global and other
/// tests add to it at the same time, so only its growth is checked.
#[test]
fn a_miss_of_the_signature_cache_is_counted() {
    let misses = || {
        crate::metrics::render()
            .lines()
            .find_map(|l| {
                l.strip_prefix("apikey_sts_validation_cache_total{result=\"miss\"} ")?
                    .parse::<u64>()
                    .ok()
            })
            .unwrap()
    };
    let v = validator(rules(), 10);
    let before = misses();
    assert!(!v.check(&token(&claims()), None, NOW).unwrap().from_cache);
    assert!(misses() > before);
}

/// An `aud` array is accepted when one of its members is the configured audience, and only
/// then.
#[test]
fn an_audience_array_must_contain_ours() {
    let mut r = rules();
    r.audience = Some("gw".into());
    let v = validator(r, 0);
    let with_aud = |aud: &str| {
        raw_token(
            r#"{"alg":"RS256"}"#,
            &format!(r#"{{"jti":"raw-1","iss":"{ISS}","aud":{aud}}}"#),
        )
    };
    for aud in [r#"["gw"]"#, r#"["x","gw"]"#, r#"["gw","x"]"#] {
        assert!(v.check(&with_aud(aud), None, NOW).is_ok(), "{aud}");
    }
    for aud in [r#"["x","y"]"#, r#"["x"]"#, "[]", r#"["GW"]"#, "[7]"] {
        assert_eq!(
            v.check(&with_aud(aud), None, NOW).map(|_| ()),
            Err(Rejection::WrongAudience),
            "{aud}"
        );
    }
}
