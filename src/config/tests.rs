use super::*;

pub(super) const SPEC: &str = r#"
[listenerConfig]
  host = "0.0.0.0"
  httpsPort = 9095
  keyStorePath = "${mgw-runtime.home}/runtime/bre/security/ballerinaKeystore.p12"
  keyStorePassword = "ballerina"

[b7a.users]
  [b7a.users.admin]
    password = "d033e22ae348aeb5660fc2140aec35850c4da997"
  [b7a.users.prometheus]
    password = "@sha256:{5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8}"
    scopes = "observability"

[apikey.tokenConfigs]
  issuer = "https://localhost:9095/apikey"
  audience = "http://org.wso2.apimgt/gateway"
  certificateAlias = "ballerina"
  validateAllowedAPIs = false

[apikey.issuer]
  [apikey.issuer.tokenConfig]
    enabled = true
    keyStorePath = "${mgw-runtime.home}/runtime/bre/security/ballerinaKeystore.p12"
    keyStorePassword = "${KS_PASS}"
    issuer = "https://localhost:9095/apikey"
    certificateAlias = "ballerina"
    validityTime = -1
  [[apikey.issuer.api]]
    name = "Swagger Petstore New"
    versions = "1.0.0, v1, v2"
  [[apikey.issuer.api]]
    name = "MyAPI"
    versions = "*"

[analytics]
  enable = false
[throttlingConfig]
  enabledGlobalTMEventPublishing = false
"#;

fn vars(name: &str) -> Option<String> {
    (name == "KS_PASS").then(|| "from-env".to_string())
}

pub(super) fn parse(text: &str) -> Result<Config, ConfigError> {
    let env = Environment {
        runtime_home: PathBuf::from("/opt/mgw"),
        var: &vars,
    };
    Config::parse(text, "test.conf", Path::new("/etc/sts"), &env)
}

#[test]
fn spec_example_parses() {
    let c = parse(SPEC).unwrap();
    assert_eq!(c.listener.https_port, 9095);
    assert_eq!(
        c.listener.key_store_path,
        PathBuf::from("/opt/mgw/runtime/bre/security/ballerinaKeystore.p12")
    );
    assert_eq!(c.issuer.key_store_password.expose(), "from-env");
    assert_eq!(c.issuer.validity_time, -1);
    assert_eq!(c.listener.certificate_alias, "ballerina");
    assert_eq!(
        c.issuer.audience.as_deref(),
        Some("http://org.wso2.apimgt/gateway")
    );
    assert_eq!(
        c.issuer.apis,
        vec![
            ApiEntry {
                name: "Swagger Petstore New".into(),
                versions: vec!["1.0.0".into(), "v1".into(), "v2".into()]
            },
            ApiEntry {
                name: "MyAPI".into(),
                versions: vec!["*".into()]
            },
        ]
    );
    assert_eq!(c.users.len(), 2);
    let prom = c.users.iter().find(|u| u.name == "prometheus").unwrap();
    assert_eq!(prom.scopes, vec!["observability".to_string()]);
    assert!(c.validation.certificate_alias.is_some());
    assert_eq!(c.limits, Limits::default());
    assert!(c.warnings.iter().any(|w| w.contains("[analytics]")));
    assert!(c.warnings.iter().any(|w| w.contains("[throttlingConfig]")));
}

#[test]
fn relative_paths_resolve_against_config_dir() {
    let text = SPEC.replace(
        "${mgw-runtime.home}/runtime/bre/security/ballerinaKeystore.p12",
        "security/ks.p12",
    );
    let c = parse(&text).unwrap();
    assert_eq!(
        c.issuer.key_store_path,
        PathBuf::from("/etc/sts/security/ks.p12")
    );
}

#[test]
fn wrong_type_names_file_and_key() {
    let text = SPEC.replace("validityTime = -1", "validityTime = \"soon\"");
    let e = parse(&text).unwrap_err();
    assert_eq!(
        e.to_string(),
        "test.conf: apikey.issuer.tokenConfig.validityTime: expected an integer, found a string"
    );
}

#[test]
fn missing_required_key_is_named() {
    let text = SPEC.replace("name = \"MyAPI\"", "");
    let e = parse(&text).unwrap_err();
    assert_eq!(e.key, "apikey.issuer.api[1].name");
    assert!(e.message.contains("missing"));
}

#[test]
fn missing_env_var_is_named_and_secret_not_leaked() {
    let text = SPEC.replace("${KS_PASS}", "${NOPE_NOT_SET}");
    let e = parse(&text).unwrap_err();
    assert_eq!(e.key, "apikey.issuer.tokenConfig.keyStorePassword");
    assert!(e.message.contains("NOPE_NOT_SET"));
    let e = parse(&SPEC.replace("${KS_PASS}", "${KS_PASS")).unwrap_err();
    assert!(e.message.contains("unterminated"));
}

#[test]
fn bad_port_and_bad_password_format() {
    let e = parse(&SPEC.replace("9095", "70000")).unwrap_err();
    assert_eq!(e.key, "listenerConfig.httpsPort");
    let e = parse(&SPEC.replace("d033e22ae348aeb5660fc2140aec35850c4da997", "admin")).unwrap_err();
    assert_eq!(e.key, "b7a.users.admin.password");
    assert!(!e.to_string().contains("admin\""), "{e}");
}

#[test]
fn signer_choice() {
    assert_eq!(parse(SPEC).unwrap().issuer.signer, SignerKind::Rsa);
    let with = |v: &str| {
        SPEC.replace(
            "validityTime = -1",
            &format!("validityTime = -1\nsigner = {v}"),
        )
    };
    assert_eq!(
        parse(&with("\"provider\"")).unwrap().issuer.signer,
        SignerKind::Provider
    );
    let e = parse(&with("\"fast\"")).unwrap_err();
    assert_eq!(e.key, "apikey.issuer.tokenConfig.signer");
}

/// `algorithm`: absent is None (the key's default); each JOSE name exactly; anything else,
/// case variants included, names the key and the choices.
#[test]
fn algorithm_choice_for_the_issuer_and_verification_keys() {
    let cfg = parse(SPEC).unwrap();
    assert_eq!(cfg.issuer.algorithm, None);
    let with = |v: &str| {
        SPEC.replace(
            "validityTime = -1",
            &format!("validityTime = -1\nalgorithm = {v}"),
        )
    };
    for a in Algorithm::ALL {
        let cfg = parse(&with(&format!("{:?}", a.name()))).unwrap();
        assert_eq!(cfg.issuer.algorithm, Some(a));
        assert!(cfg.warnings.iter().all(|w| !w.contains("algorithm")));
    }
    for bad in ["\"es256\"", "\"HS256\"", "\"none\"", "\"\"", "256"] {
        let e = parse(&with(bad)).unwrap_err();
        assert_eq!(e.key, "apikey.issuer.tokenConfig.algorithm", "{bad}");
    }
    let e = parse(&with("\"Ed25519\"")).unwrap_err();
    assert!(
        e.to_string().contains(
            "\"Ed25519\" is not an algorithm; use one of RS256, PS256, ES256, ES384, EdDSA"
        ),
        "{e}"
    );
    let vk = |line: &str| {
        SPEC.to_string() + "[[apikey.verificationKeys]]\n  certificateAlias = \"old\"\n" + line
    };
    assert_eq!(parse(&vk("")).unwrap().verification_keys[0].algorithm, None);
    assert_eq!(
        parse(&vk("  algorithm = \"ES256\"\n"))
            .unwrap()
            .verification_keys[0]
            .algorithm,
        Some(Algorithm::Es256)
    );
    let e = parse(&vk("  algorithm = \"RSA\"\n")).unwrap_err();
    assert_eq!(e.key, "apikey.verificationKeys[0].algorithm");
}

#[test]
fn pem_files_replace_the_keystore() {
    let keystore = "    keyStorePath = \"${mgw-runtime.home}/runtime/bre/security/ballerinaKeystore.p12\"\n    keyStorePassword = \"${KS_PASS}\"\n";
    assert!(SPEC.contains(keystore));
    let with = |files: &str| parse(&SPEC.replace(keystore, files));
    let c =
        with("    certFile = \"tls/fullchain.pem\"\n    keyFile = \"/k/privkey.pem\"\n").unwrap();
    assert_eq!(
        c.issuer.pem,
        Some(PemFiles {
            cert_file: "/etc/sts/tls/fullchain.pem".into(),
            key_file: "/k/privkey.pem".into(),
        })
    );
    assert_eq!(c.listener.pem, None);
    let key_of = |files: &str| with(files).unwrap_err().key;
    assert_eq!(
        key_of("    certFile = \"c.pem\"\n"),
        "apikey.issuer.tokenConfig.keyFile"
    );
    assert_eq!(
        key_of("    keyFile = \"k.pem\"\n"),
        "apikey.issuer.tokenConfig.certFile"
    );
    // Both a keystore and PEM files: which key is used must be plain.
    assert_eq!(
        key_of(&format!(
            "{keystore}    certFile = \"c\"\n    keyFile = \"k\"\n"
        )),
        "apikey.issuer.tokenConfig.keyStorePath"
    );
    // A verification key cannot default to a keystore the issuer does not have.
    let text = SPEC.replace(keystore, "    certFile = \"c\"\n    keyFile = \"k\"\n")
        + "[[apikey.verificationKeys]]\n  certificateAlias = \"old\"\n";
    let e = parse(&text).unwrap_err();
    assert_eq!(e.key, "apikey.verificationKeys[0].keyStorePath");
}

#[test]
fn redis_store_keys_checked_at_and_past_edges() {
    let with = |keys: &str| {
        parse(&format!(
            "{SPEC}\n[apikey.revocation]\nfile = \"s\"\nstore = \"redis\"\n{keys}\n"
        ))
    };
    assert_eq!(parse(SPEC).unwrap().revocation_redis, None);
    let c = with("redisUrl = \"redis://:${KS_PASS}@h:6379/0\"").unwrap();
    let r = c.revocation_redis.unwrap();
    assert_eq!(r.url.expose(), "redis://:from-env@h:6379/0");
    assert_eq!(r.key_prefix, REDIS_KEY_PREFIX);
    assert_eq!(r.min_replicas, 0);
    assert_eq!(r.timeout, Duration::from_millis(REDIS_TIMEOUT_MS as u64));
    assert_eq!(
        r.connect_timeout,
        Duration::from_millis(REDIS_CONNECT_TIMEOUT_MS as u64)
    );
    assert_eq!(with("").unwrap_err().key, "apikey.revocation.redisUrl");
    let e = with("redisUrl = \"http://:pw@h\"").unwrap_err();
    assert!(!e.to_string().contains("pw"), "{e}");
    let tls = with("redisUrl = \"rediss://:pw@h\"\nredisCaFile = \"ca.pem\"").unwrap();
    assert_eq!(
        tls.revocation_redis.unwrap().ca_file,
        Some(PathBuf::from("/etc/sts/ca.pem"))
    );
    let e = with("redisUrl = \"rediss://:pw@h/0#insecure\"").unwrap_err();
    assert!(e.message.contains("fragment"), "{e}");
    assert!(!e.to_string().contains("pw"), "{e}");
    let e = with("redisUrl = \"redis://h\"\nredisCaFile = \"ca.pem\"").unwrap_err();
    assert_eq!(e.key, "apikey.revocation.redisCaFile");
    // A password with an unescaped `/` or `?` would move the host and escape redaction.
    for bad in ["redis://u:123/4@h:6379/0", "redis://u:p?w@h:6379/0"] {
        let e = with(&format!("redisUrl = \"{bad}\"")).unwrap_err();
        assert_eq!(e.key, "apikey.revocation.redisUrl");
        assert!(e.message.contains("percent-encoded"), "{e}");
        assert!(
            !e.to_string().contains("123/4") && !e.to_string().contains("p?w"),
            "{e}"
        );
    }
    // The host must be ASCII (the client has no Unicode tables); a password need not be.
    let e = with("redisUrl = \"redis://:pw@bücher.example:6379/0\"").unwrap_err();
    assert_eq!(e.key, "apikey.revocation.redisUrl");
    assert!(e.message.contains("xn--"), "{e}");
    assert!(!e.to_string().contains("pw"), "{e}");
    for ok in [
        "redis://:pässwört@xn--bcher-kva.example:6379/0",
        "rediss://user:p@ss@[::1]:6380",
        "redis://h?db=1",
    ] {
        let c = with(&format!("redisUrl = \"{ok}\"")).unwrap();
        assert_eq!(c.revocation_redis.unwrap().url.expose(), ok);
    }
    let e = parse(&format!(
        "{SPEC}\n[apikey.revocation]\nfile = \"s\"\nstore = \"etcd\"\n"
    ))
    .unwrap_err();
    assert_eq!(e.key, "apikey.revocation.store");
    let url = "redisUrl = \"redis://h\"\n";
    let prefix = |p: &str| with(&format!("{url}keyPrefix = \"{p}\""));
    let at = "p".repeat(MAX_REDIS_KEY_PREFIX_BYTES);
    assert_eq!(
        prefix(&at).unwrap().revocation_redis.unwrap().key_prefix,
        at
    );
    assert!(prefix(&format!("{at}p")).is_err());
    assert!(prefix("a*").is_err(), "glob characters would widen SCAN");
    assert_eq!(prefix("").unwrap().revocation_redis.unwrap().key_prefix, "");
    let n = |k: &str, v: i64| with(&format!("{url}{k} = {v}"));
    assert_eq!(
        n("minReplicas", MAX_MIN_REPLICAS)
            .unwrap()
            .revocation_redis
            .unwrap()
            .min_replicas,
        MAX_MIN_REPLICAS as u32
    );
    assert!(n("minReplicas", MAX_MIN_REPLICAS + 1).is_err());
    assert!(n("minReplicas", -1).is_err());
    for k in ["timeoutMs", "connectTimeoutMs"] {
        assert!(n(k, 1).is_ok() && n(k, MAX_REDIS_TIMEOUT_MS).is_ok());
        assert_eq!(n(k, 0).unwrap_err().key, format!("apikey.revocation.{k}"));
        assert!(n(k, MAX_REDIS_TIMEOUT_MS + 1).is_err());
    }
    assert!(with(url)
        .unwrap()
        .warnings
        .iter()
        .all(|w| !w.contains("revocation")));
}

#[test]
fn revocation_file_resolves_relative() {
    assert_eq!(parse(SPEC).unwrap().revocation_file, None);
    let c = parse(&format!(
        "{SPEC}\n[apikey.revocation]\nfile = \"revoked.log\"\n"
    ))
    .unwrap();
    assert_eq!(
        c.revocation_file,
        Some(PathBuf::from("/etc/sts/revoked.log"))
    );
    assert_eq!(
        c.revocation_file_relative,
        Some(PathBuf::from("revoked.log"))
    );
    let c = parse(&format!(
        "{SPEC}\n[apikey.revocation]\nfile = \"/var/lib/r.log\"\n"
    ))
    .unwrap();
    assert_eq!(c.revocation_file_relative, None);
    let e = parse(&format!("{SPEC}\n[apikey.revocation]\nfile = 3\n")).unwrap_err();
    assert_eq!(e.key, "apikey.revocation.file");
    let at = |n: i64| {
        parse(&format!(
            "{SPEC}\n[apikey.revocation]\nfile = \"r\"\ncompactEvery = {n}\n"
        ))
    };
    assert_eq!(at(1).unwrap().revocation_compact_every, 1);
    let per_user = |n: i64| {
        parse(&format!(
            "{SPEC}\n[apikey.revocation]\nfile = \"r\"\nmaxPerUser = {n}\n"
        ))
    };
    assert_eq!(
        parse(&format!("{SPEC}\n[apikey.revocation]\nfile = \"r\"\n"))
            .unwrap()
            .revocation_max_per_user,
        MAX_PER_USER
    );
    assert_eq!(per_user(1).unwrap().revocation_max_per_user, 1);
    assert_eq!(
        per_user(1_000_000).unwrap().revocation_max_per_user,
        1_000_000
    );
    assert_eq!(per_user(0).unwrap_err().key, "apikey.revocation.maxPerUser");
    assert_eq!(
        per_user(1_000_001).unwrap_err().key,
        "apikey.revocation.maxPerUser"
    );
    assert_eq!(at(1_000_000).unwrap().revocation_compact_every, 1_000_000);
    assert_eq!(at(0).unwrap_err().key, "apikey.revocation.compactEvery");
    assert_eq!(
        at(1_000_001).unwrap_err().key,
        "apikey.revocation.compactEvery"
    );
}

#[test]
fn invalid_toml_is_one_line() {
    let e = parse("[listenerConfig\nhost=").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("test.conf: not valid TOML at line 1"),
        "{e}"
    );
    assert!(!e.to_string().contains('\n'));
}

#[test]
fn toml_syntax_errors_never_quote_the_line() {
    let cases = [
        // (text, key path, line)
        (
            "[listenerConfig]\nhost = \"h\"\nkeyStorePassword = \"Sup3rS3cret\n",
            "listenerConfig.keyStorePassword",
            3,
        ),
        (
            "[apikey.issuer.tokenConfig]\nkeyStorePassword = 'Sup3rS3cret\n",
            "apikey.issuer.tokenConfig.keyStorePassword",
            2,
        ),
        (
            "[b7a.users.admin]\npassword = Sup3rS3cret\n",
            "b7a.users.admin.password",
            2,
        ),
        ("password = \"x\" Sup3rS3cret\n", "password", 1),
        (
            "[[apikey.issuer.api]]\nname = \"\"\"Sup3rS3cret",
            "apikey.issuer.api.name",
            2,
        ),
        ("Sup3rS3cret\n", "", 1),
        ("[a]\nSup3r S3cret = 1 2\n", "a", 2),
    ];
    for (text, key, line) in cases {
        let e = parse(text).unwrap_err();
        let shown = e.to_string();
        assert!(!shown.contains("Sup3r"), "{text:?} -> {shown}");
        assert_eq!(e.key, key, "{text:?} -> {shown}");
        assert!(
            e.message
                .starts_with(&format!("not valid TOML at line {line}, column ")),
            "{text:?} -> {shown}"
        );
    }
}

#[test]
fn server_limits_checked_at_and_past_edges() {
    let c = parse(&format!(
        "{SPEC}\n[server]\nworkers = 1024\nmaxBodyBytes = 1\n"
    ))
    .unwrap();
    assert_eq!(c.limits.workers, 1024);
    assert_eq!(c.limits.max_body_bytes, 1);
    let e = parse(&format!("{SPEC}\n[server]\nworkers = 1025\n")).unwrap_err();
    assert_eq!(e.key, "server.workers");
    let e = parse(&format!("{SPEC}\n[server]\nmaxBodyBytes = 0\n")).unwrap_err();
    assert_eq!(e.key, "server.maxBodyBytes");
    let c = parse(&format!("{SPEC}\n[server]\nfancy = 1\n")).unwrap();
    assert!(c.warnings.iter().any(|w| w.contains("[server.fancy]")));
    assert_eq!(
        parse(SPEC).unwrap().limits.failed_login_delay,
        FAILED_LOGIN_DELAY
    );
    let delay = |ms: i64| parse(&format!("{SPEC}\n[server]\nfailedLoginDelayMs = {ms}\n"));
    assert_eq!(
        delay(10_000).unwrap().limits.failed_login_delay,
        Duration::from_secs(10)
    );
    assert_eq!(
        delay(1).unwrap().limits.failed_login_delay,
        Duration::from_millis(1)
    );
    for bad in [0, 10_001, -1] {
        assert_eq!(delay(bad).unwrap_err().key, "server.failedLoginDelayMs");
    }
}

/// The warnings that name `needle`.
fn warned<'c>(c: &'c Config, needle: &str) -> Vec<&'c String> {
    c.warnings.iter().filter(|w| w.contains(needle)).collect()
}

#[test]
fn every_key_the_original_reads_has_its_default() {
    for text in [
        "",
        // The distribution's own issuer section: no keystore keys.
        "[apikey.issuer.tokenConfig]\nenabled = true\nissuer = \"https://localhost:9095/apikey\"\n\
             certificateAlias = \"ballerina\"\nvalidityTime = -1\n",
        "[listenerConfig]\n[apikey.issuer]\n[apikey.tokenConfigs]\n",
    ] {
        let c = parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        let default_ks = PathBuf::from("/opt/mgw/runtime/bre/security/ballerinaKeystore.p12");
        assert_eq!(c.listener.host, "0.0.0.0");
        assert_eq!(c.listener.https_port, 9095);
        assert_eq!(c.listener.key_store_path, default_ks);
        assert_eq!(c.listener.key_store_password.expose(), "ballerina");
        assert_eq!(c.listener.certificate_alias, "ballerina");
        assert!(c.issuer.enabled);
        assert_eq!(c.issuer.key_store_path, default_ks);
        assert_eq!(c.issuer.key_store_password.expose(), "ballerina");
        assert_eq!(c.issuer.issuer, "https://localhost:9095/apikey");
        assert_eq!(c.issuer.certificate_alias, "ballerina");
        assert_eq!(c.issuer.validity_time, -1);
        assert!(!c.validation.validate_allowed_apis);
        assert_eq!(c.limits, Limits::default());
        // Loud about each public default, once.
        for key in [
            "listenerConfig.keyStorePath",
            "listenerConfig.keyStorePassword",
            "apikey.issuer.tokenConfig.keyStorePath",
            "apikey.issuer.tokenConfig.keyStorePassword",
        ] {
            assert_eq!(warned(&c, key).len(), 1, "{key}: {:?}", c.warnings);
        }
        assert!(warned(&c, "is public").len() == 2, "{:?}", c.warnings);
    }
}

#[test]
fn set_keystore_keys_are_used_and_not_warned_about() {
    let c = parse(SPEC).unwrap();
    assert!(warned(&c, "is not set").is_empty(), "{:?}", c.warnings);
    assert!(!c.warnings.iter().any(|w| w.contains("from-env")));
    let text = SPEC.replace("enabled = true", "enabled = false");
    assert!(!parse(&text).unwrap().issuer.enabled);
}

#[test]
fn unused_listener_keys_are_each_named_once() {
    let text = SPEC.replace(
        "httpsPort = 9095",
        "httpsPort = 9095\n  httpPort = 9090\n  trustStorePath = \"t.p12\"\n  \
             trustStorePassword = \"ballerina\"\n  tokenListenerPort = 9096",
    );
    let c = parse(&text).unwrap();
    for key in [
        "[listenerConfig.httpPort]",
        "[listenerConfig.trustStorePath]",
        "[listenerConfig.trustStorePassword]",
        "[listenerConfig.tokenListenerPort]",
    ] {
        assert_eq!(warned(&c, key).len(), 1, "{key}: {:?}", c.warnings);
    }
    for used in ["host]", "httpsPort]", "keyStorePath]", "keyStorePassword]"] {
        assert!(warned(&c, used).is_empty(), "{used}: {:?}", c.warnings);
    }
}

#[test]
fn the_originals_server_keys_are_not_ours() {
    let c = parse(&format!(
        "{SPEC}\n[server]\ntimestampSkew = 5000\nheader = \"X-JWT-Assertion\"\n"
    ))
    .unwrap();
    assert_eq!(c.limits, Limits::default());
    assert_eq!(warned(&c, "[server.timestampSkew]").len(), 1);
    assert_eq!(warned(&c, "[server.header]").len(), 1);
    assert!(warned(&c, "both").is_empty(), "{:?}", c.warnings);
}

/// (the original's listenerConfig key, our [server] key, the hard cap, the limit it sets).
type SizeLimit = (&'static str, &'static str, usize, fn(&Limits) -> usize);
const SIZE_LIMITS: [SizeLimit; 3] = [
    ("maxUriLength", "maxUriBytes", MAX_URI_BYTES_CAP, |l| {
        l.max_uri_bytes
    }),
    (
        "maxHeaderSize",
        "maxHeaderBytes",
        MAX_HEADER_BYTES_CAP,
        |l| l.max_header_bytes,
    ),
    (
        "maxEntityBodySize",
        "maxBodyBytes",
        MAX_BODY_BYTES_CAP,
        |l| l.max_body_bytes,
    ),
];

#[test]
fn listener_size_limits_map_to_ours_at_and_past_their_edges() {
    for (key, _, cap, get) in SIZE_LIMITS {
        let with = |v: i64| {
            parse(&SPEC.replace(
                "httpsPort = 9095",
                &format!("httpsPort = 9095\n  {key} = {v}"),
            ))
        };
        let path = format!("listenerConfig.{key}");
        for n in [1, 4096, cap as i64] {
            let c = with(n).unwrap();
            assert_eq!(get(&c.limits), n as usize, "{key} = {n}");
            assert!(warned(&c, &path).is_empty(), "{:?}", c.warnings);
        }
        // No limit, or more than we allow: the hard cap, said in the log.
        for n in [-1, cap as i64 + 1, i64::MAX] {
            let c = with(n).unwrap();
            assert_eq!(get(&c.limits), cap, "{key} = {n}");
            let w = warned(&c, &path);
            assert_eq!(w.len(), 1, "{key} = {n}: {:?}", c.warnings);
            assert!(w[0].contains(&format!("capped at {cap} bytes")), "{}", w[0]);
        }
        for n in [0, -2, i64::MIN] {
            assert_eq!(with(n).unwrap_err().key, path, "{key} = {n}");
        }
        let e = parse(&SPEC.replace(
            "httpsPort = 9095",
            &format!("httpsPort = 9095\n  {key} = \"big\""),
        ))
        .unwrap_err();
        assert_eq!(e.key, path);
    }
}

#[test]
fn server_limits_win_over_the_listeners_with_a_warning() {
    for (key, ours, _, get) in SIZE_LIMITS {
        let text = SPEC.replace(
            "httpsPort = 9095",
            &format!("httpsPort = 9095\n  {key} = 4000"),
        );
        let c = parse(&format!("{text}\n[server]\n{ours} = 3000\n")).unwrap();
        assert_eq!(get(&c.limits), 3000, "{ours}");
        let w = warned(&c, &format!("server.{ours} applies"));
        assert_eq!(w.len(), 1, "{:?}", c.warnings);
        assert!(w[0].contains(&format!("listenerConfig.{key}")), "{}", w[0]);
        // [server] alone: no such warning.
        let c = parse(&format!("{SPEC}\n[server]\n{ours} = 3000\n")).unwrap();
        assert_eq!(get(&c.limits), 3000);
        assert!(warned(&c, "applies").is_empty(), "{:?}", c.warnings);
    }
}

#[test]
fn server_size_limits_share_the_hard_caps() {
    for (_, ours, cap, get) in SIZE_LIMITS {
        let at = |n: u64| parse(&format!("{SPEC}\n[server]\n{ours} = {n}\n"));
        assert_eq!(get(&at(cap as u64).unwrap().limits), cap);
        assert_eq!(
            at(cap as u64 + 1).unwrap_err().key,
            format!("server.{ours}")
        );
    }
}

#[test]
fn empty_versions_rejected_missing_versions_mean_all() {
    let e = parse(&SPEC.replace("\"1.0.0, v1, v2\"", "\" , \"")).unwrap_err();
    assert_eq!(e.key, "apikey.issuer.api[0].versions");
    let c = parse(&SPEC.replace("versions = \"*\"", "")).unwrap();
    assert_eq!(c.issuer.apis[1].versions, vec!["*".to_string()]);
}

#[test]
fn least_privilege_keys_defaults_and_edges() {
    let c = parse("").unwrap();
    assert!(c.grants.is_empty() && c.issuer.scope_apis.is_empty());
    let v = parse("[validator]\n").unwrap().validator.unwrap();
    assert!(v.gateway_addresses.is_empty());
    assert_eq!(v.client_ip_header, DEFAULT_CLIENT_IP_HEADER);
    assert_eq!(v.referer_header, DEFAULT_REFERER_HEADER);
    assert!(!v.production_only && v.production_only_apis.is_empty());

    let c = parse(
        r#"
[b7a.users.ci]
password = "d033e22ae348aeb5660fc2140aec35850c4da997"
scopes = "team:pay"
permittedIP = "10.0.0.0/8, 192.0.2.1"
permittedReferer = "https://*.example.com/*"
[[b7a.users.ci.apis]]
name = "Build"
versions = "v1, v2"
[[apikey.issuer.scopeApi]]
scope = "team:pay"
name = "Pay"
[validator]
gatewayAddresses = ["127.0.0.1", "::1"]
clientIpHeader = "X-Client"
refererHeader = "X-Ref"
productionOnly = true
productionOnlyApis = ["Pay API"]
"#,
    )
    .unwrap();
    for key in ["ci", "scopeApi", "validator"] {
        assert!(warned(&c, key).is_empty(), "{:?}", c.warnings);
    }
    let g = &c.grants["ci"];
    assert_eq!(g.apis[0].versions, ["v1", "v2"]);
    assert_eq!(
        g.permitted_ip.as_ref().unwrap().as_str(),
        "10.0.0.0/8,192.0.2.1"
    );
    assert!(g.permitted_referer.is_some());
    assert_eq!(c.issuer.scope_apis[0].api.versions, ["*"]);
    let v = c.validator.unwrap();
    assert!(v.gateway_addresses.contains("::1".parse().unwrap()));
    assert_eq!(
        (v.client_ip_header.as_str(), v.referer_header.as_str()),
        ("X-Client", "X-Ref")
    );
    assert!(v.production_only);
    assert_eq!(v.production_only_apis, ["Pay API"]);

    let user = |extra: &str| {
        format!("[b7a.users.u]\npassword = \"d033e22ae348aeb5660fc2140aec35850c4da997\"\n{extra}")
    };
    for (extra, key) in [
        (
            user("[[b7a.users.u.apis]]\nname = \"A\"\nversions = \" , \""),
            "b7a.users.u.apis[0].versions",
        ),
        (
            user("permittedIP = \"10.0.0.1,nowhere\""),
            "b7a.users.u.permittedIP",
        ),
        (
            user("permittedReferer = \"https://a b/\""),
            "b7a.users.u.permittedReferer",
        ),
        (
            "[[apikey.issuer.scopeApi]]\nscope = \"s\"\nname = \"A\"\nversions = \"\"".into(),
            "apikey.issuer.scopeApi[0].versions",
        ),
        (
            "[[apikey.issuer.scopeApi]]\nscope = \" \"\nname = \"A\"".into(),
            "apikey.issuer.scopeApi[0].scope",
        ),
        (
            "[validator]\ngatewayAddresses = [\"10.0.0.0/40\"]".into(),
            "validator.gatewayAddresses[0]",
        ),
        (
            "[validator]\nclientIpHeader = \"X Real\"".into(),
            "validator.clientIpHeader",
        ),
        (
            "[validator]\nproductionOnlyApis = [1]".into(),
            "validator.productionOnlyApis[0]",
        ),
        (
            "[validator]\nproductionOnlyApis = [\"A\", \"  \"]".into(),
            "validator.productionOnlyApis[1]",
        ),
        (
            "[validator]\nproductionOnlyApis = \"A\"".into(),
            "validator.productionOnlyApis",
        ),
    ] {
        let e = parse(&extra).unwrap_err();
        assert_eq!(e.key, key, "{extra}: {e}");
    }
    let names = |n: usize| {
        let list: Vec<String> = (0..n).map(|i| format!("\"A{i}\"")).collect();
        format!("[validator]\nproductionOnlyApis = [{}]", list.join(","))
    };
    assert!(parse(&names(MAX_PRODUCTION_ONLY_APIS)).is_ok());
    let v = |text: &str| {
        parse(&format!("[validator]\n{text}"))
            .unwrap()
            .validator
            .unwrap()
    };
    assert_eq!(
        v("productionOnlyApis = [\" ${KS_PASS} \"]").production_only_apis,
        ["from-env"]
    );
    assert!(parse(&names(MAX_PRODUCTION_ONLY_APIS + 1)).is_err());
    let gateways = |n: usize| {
        let list: Vec<String> = (0..n)
            .map(|i| format!("\"10.0.{}.{}\"", i / 256, i % 256))
            .collect();
        format!("[validator]\ngatewayAddresses = [{}]", list.join(","))
    };
    assert!(parse(&gateways(MAX_TRUSTED_PROXIES)).is_ok());
    assert!(parse(&gateways(MAX_TRUSTED_PROXIES + 1)).is_err());
}

#[test]
fn public_base_url_default_and_edges() {
    assert_eq!(parse(SPEC).unwrap().issuer.public_base_url, None);
    let with = |v: &str| {
        parse(&SPEC.replace(
            "validityTime = -1",
            &format!("validityTime = -1\npublicBaseUrl = {v:?}"),
        ))
    };
    for (given, kept) in [
        ("https://sts.example.com", "https://sts.example.com"),
        (
            "https://sts.example.com:8443/",
            "https://sts.example.com:8443",
        ),
        ("http://10.0.0.1/base", "http://10.0.0.1/base"),
        ("https://h/team@pay", "https://h/team@pay"),
    ] {
        let c = with(given).unwrap();
        assert_eq!(c.issuer.public_base_url.as_deref(), Some(kept));
        assert!(c.warnings.iter().all(|w| !w.contains("publicBaseUrl")));
    }
    for bad in [
        "",
        "sts.example.com",
        "ftp://h",
        "https://",
        "https:///path",
        "https://h/?q=1",
        "https://h/#f",
        "https://h /x",
        "https://u:pw@h/",
    ] {
        let e = with(bad).unwrap_err();
        assert!(!e.to_string().contains("pw"), "{e}");
        assert_eq!(e.key, "apikey.issuer.tokenConfig.publicBaseUrl", "{bad:?}");
    }
}
