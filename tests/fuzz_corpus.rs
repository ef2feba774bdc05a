//! Replays the fuzz seed corpora (fuzz/corpus_seed/<target>/) and the saved fuzzer findings
//! (fuzz/regressions/<target>/) through the same property checks the libFuzzer targets run
//! (fuzz/checks.rs), so every finding stays a regression test without cargo-fuzz or nightly.

#[allow(dead_code)]
mod checks {
    include!("../fuzz/checks.rs");
}

use std::path::{Path, PathBuf};

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.file_name().is_none_or(|n| n != "README.md"))
        .collect();
    out.sort();
    out
}

/// Runs `target`'s check on every seed and regression input; returns how many inputs ran.
fn replay(target: &str) -> usize {
    let check = checks::TARGETS
        .iter()
        .find(|(n, _)| *n == target)
        .unwrap_or_else(|| panic!("unknown target {target}"))
        .1;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let seeds = files(&root.join("corpus_seed").join(target));
    assert!(!seeds.is_empty(), "no seeds for {target}");
    let regressions = files(&root.join("regressions").join(target));
    let mut n = 0;
    for path in seeds.iter().chain(&regressions) {
        let data = std::fs::read(path).unwrap();
        let r = std::panic::catch_unwind(|| check(&data));
        assert!(
            r.is_ok(),
            "{target}: property violated by {}",
            path.display()
        );
        n += 1;
    }
    n
}

macro_rules! replay_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let n = replay(stringify!($name));
                assert!(n > 0);
            }
        )*
        #[test]
        fn every_target_is_replayed() {
            let mut listed: Vec<&str> = vec![$(stringify!($name)),*];
            let mut all: Vec<&str> = checks::TARGETS.iter().map(|(n, _)| *n).collect();
            listed.sort();
            all.sort();
            assert_eq!(listed, all);
        }
    };
}

replay_tests!(
    fuzz_http_request,
    fuzz_http_roundtrip,
    fuzz_http_structured,
    fuzz_http_conn,
    fuzz_config,
    fuzz_basic_auth,
    fuzz_jwt_verify,
    fuzz_jwt_roundtrip,
    fuzz_validity_body,
    fuzz_issue_body,
    fuzz_keystore,
    fuzz_pem,
    fuzz_revocation_log,
    fuzz_proxy_protocol,
    fuzz_revoke_body,
    fuzz_validator_request,
    fuzz_feed_record,
    fuzz_token_form,
);

/// The seeds are meant to be real and valid: the well-formed ones must actually be accepted, so
/// the fuzzers start from inputs that reach deep into each parser.
#[test]
fn seeds_are_accepted_where_meant_to_be() {
    use apikey_sts::http::{parse, ParseLimits, Parsed};
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus_seed");
    for p in files(&root.join("fuzz_http_request")) {
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("bad-") {
            continue;
        }
        let data = std::fs::read(&p).unwrap();
        assert!(
            matches!(
                parse(&data, &ParseLimits::default()),
                Ok(Parsed::Complete(..))
            ),
            "{name}"
        );
    }
    let public = checks::test_public_key();
    for p in files(&root.join("fuzz_jwt_verify")) {
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if !name.starts_with("valid-") {
            continue;
        }
        let token = std::fs::read_to_string(&p).unwrap();
        apikey_sts::jwt::verify(&token, &|_| Some(public))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

/// Regenerates fuzz/corpus_seed/fuzz_jwt_verify/ with tokens built as the service builds them
/// (`jwt::encode` of the issuer's claims, signed with tests/fixtures/test-rsa2048.key), plus near
/// misses. Run: `cargo test --test fuzz_corpus -- --ignored write_jwt_seeds`.
#[test]
#[ignore]
fn write_jwt_seeds() {
    use apikey_sts::jwt::{self, AllowedApi, Claims, RsaSigner, Signer};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus_seed/fuzz_jwt_verify");
    std::fs::create_dir_all(&dir).unwrap();
    let signer = RsaSigner::new(checks::test_private_key().clone());
    let claims = |aud: Option<&str>, exp: Option<i64>| Claims {
        sub: "admin".into(),
        iss: "https://localhost:9095/apikey".into(),
        aud: aud.map(String::from),
        iat: 1_764_300_000,
        exp,
        jti: jwt::uuid_v4().unwrap(),
        keytype: "PRODUCTION".into(),
        allowed_apis: vec![
            AllowedApi {
                name: "Swagger Petstore New".into(),
                version: "1.0.0".into(),
            },
            AllowedApi {
                name: "MyAPI".into(),
                version: "*".into(),
            },
        ],
        permitted_ip: None,
        permitted_referer: None,
    };
    let never = jwt::encode("ballerina", &claims(None, None), &signer).unwrap();
    let short = jwt::encode(
        "ballerina",
        &claims(Some("http://org.wso2.apimgt/gateway"), Some(1_764_300_600)),
        &signer,
    )
    .unwrap();
    let sign_raw = |header: &str, claims: &str| {
        let mut t = URL_SAFE_NO_PAD.encode(header);
        t.push('.');
        t.push_str(&URL_SAFE_NO_PAD.encode(claims));
        let sig = signer.sign(t.as_bytes()).unwrap();
        t.push('.');
        t.push_str(&URL_SAFE_NO_PAD.encode(sig));
        t
    };
    let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
    let seeds: Vec<(&str, String)> = vec![
        ("valid-never-expires", never.clone()),
        ("valid-600s-audience", short.clone()),
        // An RSA-2048 signature is 256 bytes: base64 pads it with "==".
        ("valid-padded-signature", format!("{never}==")),
        ("wrong-padding", format!("{never}=")),
        (
            "critical-extension",
            sign_raw(
                r#"{"alg":"RS256","crit":["exp"]}"#,
                r#"{"sub":"admin","iat":0}"#,
            ),
        ),
        (
            "duplicate-sub",
            sign_raw(r#"{"alg":"RS256"}"#, r#"{"sub":"alice","sub":"admin"}"#),
        ),
        (
            "valid-no-kid",
            sign_raw(r#"{"alg":"RS256"}"#, r#"{"sub":"admin","iat":0}"#),
        ),
        (
            "unknown-kid",
            sign_raw(
                r#"{"alg":"RS256","typ":"JWT","kid":"other"}"#,
                r#"{"sub":"x"}"#,
            ),
        ),
        (
            "claims-not-object",
            sign_raw(r#"{"alg":"RS256","kid":"ballerina"}"#, "[1,2]"),
        ),
        (
            "alg-none",
            format!(
                "{}.{}.",
                b64(r#"{"alg":"none","kid":"ballerina"}"#),
                b64(r#"{"sub":"admin"}"#)
            ),
        ),
        (
            "alg-hs256",
            format!(
                "{}.{}.c2ln",
                b64(r#"{"alg":"HS256","kid":"ballerina"}"#),
                b64(r#"{"sub":"admin"}"#)
            ),
        ),
        ("tampered-claims", {
            let parts: Vec<&str> = short.split('.').collect();
            let mut c = URL_SAFE_NO_PAD.decode(parts[1]).unwrap();
            c[10] ^= 1;
            format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(c), parts[2])
        }),
        ("truncated-signature", never[..never.len() - 10].to_string()),
    ];
    for (name, token) in seeds {
        std::fs::write(dir.join(name), token).unwrap();
    }
}

/// The PEM seeds that are meant to load do, in each key format, so the fuzzer starts deep.
#[test]
fn pem_seeds_load_where_meant_to() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus_seed/fuzz_pem");
    for (name, loads, rsa) in [
        ("ec-sec1", true, false),
        ("ec-pkcs8-chain", true, false),
        ("rsa-pkcs1", true, true),
        ("rsa-pkcs8", true, true),
        ("rsa-one-file", true, true),
        ("rsa-encrypted", false, false),
        ("mismatch", true, false),
    ] {
        let data = std::fs::read(root.join(name)).unwrap();
        let (certs, key) = checks::pem_input(&data);
        let r = apikey_sts::pem::parse(certs, key, "a", "c", "k");
        assert_eq!(r.is_ok(), loads, "{name}");
        if let Ok(ks) = r {
            let signs = ks.entry("a").unwrap().rsa_private_key().is_ok();
            assert_eq!(signs, rsa, "{name}");
        }
    }
}

/// The PROXY protocol seeds not named `bad-` (nor `built-`, which the check decodes into a
/// header) are headers.
#[test]
fn proxy_protocol_seeds_are_headers() {
    use apikey_sts::proxy_protocol::{parse, Parsed};
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus_seed/fuzz_proxy_protocol");
    for p in files(&root) {
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        let parsed = parse(&std::fs::read(&p).unwrap());
        if name.starts_with("bad-") {
            assert!(parsed.is_err(), "{name}: {parsed:?}");
        } else if !name.starts_with("built-") {
            assert!(
                matches!(parsed, Ok(Parsed::Header(_))),
                "{name}: {parsed:?}"
            );
        }
    }
}
