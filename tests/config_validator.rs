//! `[validator]` and `[[apikey.verificationKeys]]` in the configuration file: defaults, limits at
//! and past their edges, and the key name lists.
use apikey_sts::config::{Config, ValidatorConfig};
use apikey_sts::validator::Rules;

const BASE: &str = r#"
[listenerConfig]
  keyStorePath = "ks.p12"
  keyStorePassword = "pw"
[apikey.issuer.tokenConfig]
  keyStorePath = "ks.p12"
  keyStorePassword = "pw"
  issuer = "https://localhost:9095/apikey"
  certificateAlias = "ballerina"
"#;

fn parse(extra: &str) -> Result<Config, apikey_sts::config::ConfigError> {
    let env = apikey_sts::config::Environment {
        runtime_home: "/opt".into(),
        var: &|_| None,
    };
    Config::parse(
        &format!("{BASE}\n{extra}"),
        "t.conf",
        std::path::Path::new("/etc/sts"),
        &env,
    )
}

fn err_key(extra: &str) -> String {
    parse(extra).unwrap_err().key
}

#[test]
fn validator_section_defaults_and_switch() {
    assert!(parse("").unwrap().validator.is_none());
    assert!(parse("[validator]\nenabled = false\n")
        .unwrap()
        .validator
        .is_none());
    let v = parse("[validator]\n").unwrap().validator.unwrap();
    assert_eq!(v, ValidatorConfig::default());
    assert_eq!(v.host, "127.0.0.1");
    assert_eq!(v.port, 9096);
    assert_eq!(v.key_headers, ["apikey", "api_key", "X-API-Key"]);
    assert_eq!(v.key_query_params, v.key_headers);
    let c = parse("[validator]\nfancy = 1\n").unwrap();
    assert!(c.warnings.iter().any(|w| w.contains("[validator.fancy]")));
    // Rules fall back to the issuer's iss.
    let r = Rules::from_config(&c);
    assert_eq!(r.issuer, "https://localhost:9095/apikey");
    assert_eq!(r.clock_skew_seconds, 60);
}

#[test]
fn access_log_default_and_values() {
    use apikey_sts::config::AccessLog;
    let ok = |extra: &str| {
        parse(&format!("[validator]\n{extra}\n"))
            .unwrap()
            .validator
            .unwrap()
            .access_log
    };
    assert_eq!(ok(""), AccessLog::Refusals);
    assert_eq!(ok("accessLog = \"all\""), AccessLog::All);
    assert_eq!(ok("accessLog = \"refusals\""), AccessLog::Refusals);
    assert_eq!(ok("accessLog = \"off\""), AccessLog::Off);
    // Exact spellings only; a typo is an error, not a silent default.
    for bad in ["\"ALL\"", "\"errors\"", "\"\"", "true", "1"] {
        let e = parse(&format!("[validator]\naccessLog = {bad}\n")).unwrap_err();
        assert_eq!(e.key, "validator.accessLog", "{bad}");
    }
    let e = parse("[validator]\naccessLog = \"errors\"\n").unwrap_err();
    assert!(
        e.to_string().contains("\"all\", \"refusals\" or \"off\""),
        "{e}"
    );
    // A known key: no warning.
    let c = parse("[validator]\naccessLog = \"off\"\n").unwrap();
    assert!(
        !c.warnings.iter().any(|w| w.contains("accessLog")),
        "{:?}",
        c.warnings
    );
}

#[test]
fn validator_limits_at_and_past_edges() {
    let ok = |extra: &str| {
        parse(&format!("[validator]\n{extra}\n"))
            .unwrap()
            .validator
            .unwrap()
    };
    let bad = |extra: &str| err_key(&format!("[validator]\n{extra}\n"));
    assert_eq!(ok("port = 0").port, 0);
    assert_eq!(ok("port = 65535").port, 65535);
    assert_eq!(bad("port = 65536"), "validator.port");
    assert_eq!(bad("port = -1"), "validator.port");
    assert_eq!(ok("clockSkewSeconds = 0").clock_skew_seconds, 0);
    assert_eq!(ok("clockSkewSeconds = 3600").clock_skew_seconds, 3600);
    assert_eq!(bad("clockSkewSeconds = 3601"), "validator.clockSkewSeconds");
    assert_eq!(bad("clockSkewSeconds = -1"), "validator.clockSkewSeconds");
    assert_eq!(ok("cacheMaxEntries = 0").cache_max_entries, 0);
    assert_eq!(
        ok("cacheMaxEntries = 1000000").cache_max_entries,
        apikey_sts::config::MAX_CACHE_MAX_ENTRIES
    );
    assert_eq!(
        bad("cacheMaxEntries = 1000001"),
        "validator.cacheMaxEntries"
    );
    assert_eq!(bad("cacheTtlSeconds = 0"), "validator.cacheTtlSeconds");
    assert_eq!(ok("cacheTtlSeconds = 1").cache_ttl_seconds, 1);
    assert_eq!(ok("cacheTtlSeconds = 86400").cache_ttl_seconds, 86400);
    assert_eq!(bad("cacheTtlSeconds = 86401"), "validator.cacheTtlSeconds");
    assert_eq!(bad("host = \" \""), "validator.host");
    assert_eq!(bad("port = \"9096\""), "validator.port");
}

#[test]
fn key_names_lists() {
    let ok = |extra: &str| {
        parse(&format!("[validator]\n{extra}\n"))
            .unwrap()
            .validator
            .unwrap()
    };
    let bad = |extra: &str| err_key(&format!("[validator]\n{extra}\n"));
    assert_eq!(
        ok(r#"keyHeaders = ["X-Key", "k"]"#).key_headers,
        ["X-Key", "k"]
    );
    assert_eq!(
        ok(r#"keyQueryParams = " a , b ""#).key_query_params,
        ["a", "b"]
    );
    assert_eq!(bad(r#"keyHeaders = []"#), "validator.keyHeaders");
    assert_eq!(bad(r#"keyHeaders = " , ""#), "validator.keyHeaders");
    assert_eq!(bad(r#"keyHeaders = ["a b"]"#), "validator.keyHeaders");
    assert_eq!(bad(r#"keyHeaders = ["ok", 1]"#), "validator.keyHeaders[1]");
    assert_eq!(bad("keyHeaders = 1"), "validator.keyHeaders");
    let names = |n: usize| {
        (0..n)
            .map(|i| format!("\"h{i}\""))
            .collect::<Vec<_>>()
            .join(",")
    };
    let max = apikey_sts::config::MAX_KEY_NAMES;
    assert_eq!(
        ok(&format!("keyHeaders = [{}]", names(max)))
            .key_headers
            .len(),
        max
    );
    assert_eq!(
        bad(&format!("keyHeaders = [{}]", names(max + 1))),
        "validator.keyHeaders"
    );
    assert_eq!(ok(r#"apiNameHeader = "X-Api""#).api_name_header, "X-Api");
    assert_eq!(
        bad(r#"apiVersionHeader = "X Api""#),
        "validator.apiVersionHeader"
    );
}

#[test]
fn verification_keys_section() {
    let c = parse(
        r#"
[[apikey.verificationKeys]]
  certificateAlias = "old"
[[apikey.verificationKeys]]
  certificateAlias = "other"
  keyStorePath = "other.p12"
  keyStorePassword = "secret2"
"#,
    )
    .unwrap();
    assert_eq!(c.verification_keys.len(), 2);
    let (a, b) = (&c.verification_keys[0], &c.verification_keys[1]);
    assert_eq!(a.certificate_alias, "old");
    assert_eq!(a.key_store_path, c.issuer.key_store_path);
    assert_eq!(a.key_store_password.expose(), "pw");
    assert_eq!(
        b.key_store_path,
        std::path::PathBuf::from("/etc/sts/other.p12")
    );
    assert_eq!(b.key_store_password.expose(), "secret2");
    assert!(!format!("{c:?}").contains("secret2"));
    assert_eq!(
        err_key("[[apikey.verificationKeys]]\n  keyStorePath = \"x\"\n"),
        "apikey.verificationKeys[0].certificateAlias"
    );
    assert_eq!(
        err_key("[apikey]\nverificationKeys = \"old\"\n"),
        "apikey.verificationKeys"
    );
    let entries = |n: usize| "[[apikey.verificationKeys]]\ncertificateAlias = \"a\"\n".repeat(n);
    let max = apikey_sts::config::MAX_VERIFICATION_KEYS;
    assert_eq!(parse(&entries(max)).unwrap().verification_keys.len(), max);
    assert_eq!(err_key(&entries(max + 1)), "apikey.verificationKeys");
    let c = parse("[[apikey.verificationKeys]]\ncertificateAlias = \"a\"\nkid = 1\n").unwrap();
    assert!(c
        .warnings
        .iter()
        .any(|w| w.contains("[apikey.verificationKeys[0].kid]")));
}

#[test]
fn accept_bearer_defaults_on_and_is_a_boolean() {
    let v = |extra: &str| parse(&format!("[validator]\n{extra}\n")).map(|c| c.validator.unwrap());
    assert!(v("").unwrap().accept_bearer);
    assert!(v("acceptBearer = true").unwrap().accept_bearer);
    assert!(!v("acceptBearer = false").unwrap().accept_bearer);
    assert_eq!(
        err_key("[validator]\nacceptBearer = \"yes\"\n"),
        "validator.acceptBearer"
    );
    let c = parse("[validator]\nacceptBearer = false\n").unwrap();
    assert!(!Rules::from_config(&c).accept_bearer);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}
