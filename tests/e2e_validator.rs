//! The gateway half end to end: a real nginx guarding an upstream with `auth_request` to our
//! validator, an independent JWT library (PyJWT) verifying our keys from our JWKS alone, key
//! rotation across restarts, `/metrics` and the `verify` command.
//!
//! Tools: `nginx` (Debian `nginx-light`) and a Python virtual environment with `pyjwt` +
//! `cryptography` (`target/py-venv`), installed by `tests/install-tools.sh`, which CI runs
//! before `cargo test`. A missing tool fails the test, naming that command, rather than
//! skipping it.
mod common;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use common::nginx::{free_port, Nginx, GATEWAY_CONF};
use common::*;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const ISSUER: &str = "https://localhost:9095/apikey";

/// Protected locations: (path prefix, X-API-Name, X-API-Version) sent to the validator.
const APIS: [(&str, &str, &str); 3] = [
    ("/petstore/", "Swagger Petstore New", "v1"),
    ("/myapi/", "MyAPI", "9.9"),
    ("/other/", "Other API", "1.0"),
];

const NGINX_LOCATION: &str = r#"
        location = /_validate@N@ {
            internal;
            proxy_pass http://@VALIDATOR@/validate;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-API-Name "@NAME@";
            proxy_set_header X-API-Version "@VERSION@";
        }
        location @PREFIX@ {
            auth_request /_validate@N@;
            auth_request_set $auth_sub $upstream_http_x_auth_subject;
            auth_request_set $auth_type $upstream_http_x_auth_key_type;
            # Set (never passed through from the client): the upstream trusts these.
            proxy_set_header X-Auth-Subject $auth_sub;
            proxy_set_header X-Auth-Key-Type $auth_type;
            proxy_pass http://127.0.0.1:@UPSTREAM@;
        }
"#;

/// The gateway of these tests: `APIS` guarded by `auth_request` to `validator`.
fn start_nginx(validator: SocketAddr) -> Nginx {
    let gateway = free_port();
    let upstream = free_port();
    let locations: String = APIS
        .iter()
        .enumerate()
        .map(|(i, (prefix, name, version))| {
            NGINX_LOCATION
                .replace("@N@", &i.to_string())
                .replace("@PREFIX@", prefix)
                .replace("@NAME@", name)
                .replace("@VERSION@", version)
        })
        .collect();
    let conf = GATEWAY_CONF
        .replace("@LOCATIONS@", &locations)
        .replace("@VALIDATOR@", &validator.to_string())
        .replace("@UPSTREAM@", &upstream.to_string())
        .replace("@GATEWAY@", &gateway.to_string());
    Nginx::launch(&conf, SocketAddr::from(([127, 0, 0, 1], gateway)))
}

/// A token with the claims segment replaced (signature kept): what a forger would try.
fn with_claims(token: &str, f: impl FnOnce(&mut serde_json::Value)) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut c = claims(token);
    f(&mut c);
    format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(c.to_string()),
        parts[2]
    )
}

fn alg_none(token: &str) -> String {
    let claims_part = token.split('.').nth(1).unwrap();
    format!(
        "{}.{claims_part}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT","kid":"ballerina"}"#)
    )
}

fn issue(srv: &Server, body: &str) -> String {
    let mut c = srv.client();
    c.send(
        format!(
            "POST /apikey HTTP/1.1\r\nHost: x\r\nAuthorization: {ADMIN}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    let r = c.read_response();
    assert_eq!(r.status, 200, "{}", r.text());
    r.text()
}

fn validator_config(extra: &str) -> String {
    default_config(&format!("[validator]\nport = 0\n{extra}"))
}

#[test]
fn nginx_auth_request_admits_good_keys_and_refuses_bad_ones() {
    let cfg = validator_config("clockSkewSeconds = 0\n")
        .replace("validateAllowedAPIs = false", "validateAllowedAPIs = true");
    let srv = Server::start(&cfg);
    let plain = srv.plain_addr.expect("validator listener");
    let nginx = start_nginx(plain);

    let good = issue(&srv, "");

    // A good key, in each place a client may put it.
    let r = nginx.get("/petstore/pets/1", &format!("apikey: {good}\r\n"));
    assert_eq!(r.status, 200, "{}\n{}", r.text(), nginx.logs());
    assert_eq!(
        r.text(),
        "upstream /petstore/pets/1 sub=admin type=PRODUCTION\n"
    );
    let r = nginx.get("/petstore/pets", &format!("X-API-KEY: {good}\r\n"));
    assert_eq!(r.status, 200);
    let r = nginx.get(&format!("/petstore/pets?limit=2&api_key={good}"), "");
    assert_eq!(r.status, 200, "key in the query, via X-Original-URI");
    // "*" in allowedAPIs matches any version.
    assert_eq!(
        nginx.get("/myapi/x", &format!("apikey: {good}\r\n")).status,
        200
    );
    // A short-lived key is good until it expires. Its answer can be judged only when it came
    // back before `exp` (the server surely checked it in time); on a machine so loaded that it
    // did not, a new key is tried, and the test fails only if none of five can be judged.
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    };
    let mut judged = None;
    for _ in 0..5 {
        let short = issue(&srv, r#"{"validityTime":3}"#);
        let exp = claims(&short)["exp"].as_i64().unwrap();
        let status = nginx
            .get("/petstore/a", &format!("apikey: {short}\r\n"))
            .status;
        if now() < exp {
            assert_eq!(status, 200, "a short-lived key refused before its exp");
            judged = Some((short, exp));
            break;
        }
    }
    let (short, exp) = judged.expect("five short-lived keys expired before their first check");

    // Refusals: 401 for missing or bad keys, 403 for a good key on an API it does not cover.
    let tampered = with_claims(&good, |c| c["sub"] = "root".into());
    let forged_apis = with_claims(&good, |c| {
        c["allowedAPIs"] = serde_json::json!([{"name": "Other API", "version": "*"}])
    });
    let mut sig_flipped = good.clone();
    let last = sig_flipped.pop().unwrap();
    sig_flipped.push(if last == 'A' { 'B' } else { 'A' });
    let evil_srv =
        Server::start(&default_config("").replace(ISSUER, "https://evil.example/apikey"));
    let wrong_issuer = evil_srv.client().apikey().text();
    assert_eq!(claims(&wrong_issuer)["iss"], "https://evil.example/apikey");
    for (what, key, path, status) in [
        ("no key", None, "/petstore/a", 401),
        ("garbage", Some("hello".to_string()), "/petstore/a", 401),
        ("tampered claims", Some(tampered), "/petstore/a", 401),
        ("forged allowedAPIs", Some(forged_apis), "/other/a", 401),
        ("flipped signature", Some(sig_flipped), "/petstore/a", 401),
        ("alg none", Some(alg_none(&good)), "/petstore/a", 401),
        ("wrong issuer", Some(wrong_issuer), "/petstore/a", 401),
        ("API not allowed", Some(good.clone()), "/other/a", 403),
    ] {
        let headers = key.map(|k| format!("apikey: {k}\r\n")).unwrap_or_default();
        let r = nginx.get(path, &headers);
        assert_eq!(r.status, status, "{what}: {}", r.text());
        assert!(
            !r.text().contains("upstream"),
            "{what} reached the upstream"
        );
    }

    // Expired: wait until past exp (skew 0 here).
    while std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        <= exp
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let r = nginx.get("/petstore/a", &format!("apikey: {short}\r\n"));
    assert_eq!(r.status, 401, "expired key: {}", r.text());
    // The good key still passes after all that (cache entries are per token).
    assert_eq!(
        nginx
            .get("/petstore/b", &format!("apikey: {good}\r\n"))
            .status,
        200
    );

    // What the validator says directly, and what /metrics counted.
    let direct = plain_get(plain, "/validate", &format!("apikey: {short}\r\n"));
    assert_eq!(direct.status, 401);
    assert!(direct.text().contains("expired"), "{}", direct.text());
    assert_eq!(
        plain_get(plain, "/apikey", &format!("Authorization: {ADMIN}\r\n")).status,
        404
    );
    let m = plain_get(plain, "/metrics", "");
    assert_eq!(m.status, 200);
    assert!(m.header("content-type").unwrap().starts_with("text/plain"));
    let text = m.text();
    let value = |series: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
    };
    assert_eq!(value("apikey_sts_keys_issued_total"), 2);
    assert!(value("apikey_sts_validations_total{result=\"valid\"}") >= 6);
    for result in [
        "missing",
        "malformed",
        "bad_signature",
        "bad_algorithm",
        "wrong_issuer",
        "api_not_allowed",
        "expired",
    ] {
        assert!(
            value(&format!(
                "apikey_sts_validations_total{{result=\"{result}\"}}"
            )) >= 1,
            "{result}\n{text}"
        );
    }
    assert!(value("apikey_sts_validation_cache_total{result=\"hit\"}") >= 1);
    assert!(value("apikey_sts_request_duration_seconds_count{listener=\"https\"}") >= 2);
    assert!(value("apikey_sts_request_duration_seconds_count{listener=\"plain\"}") >= 10);
    assert!(value("apikey_sts_open_connections") >= 1);
    // Metrics live on the loopback listener only.
    assert_eq!(srv.client().get("/metrics", "").status, 404);
    // Keys never reach the log.
    let log = srv.log_text();
    assert!(!log.contains(&good[good.len() - 40..]), "key in the log");
}

/// The cache counters: with the cache on, the first validation of a key is a miss and the rest
/// are hits; with `cacheMaxEntries = 0` nothing is looked up, so neither counter moves.
#[test]
fn cache_lookups_are_counted_only_when_the_cache_is_on() {
    for (setting, hits, misses) in [("", 2, 1), ("cacheMaxEntries = 0\n", 0, 0)] {
        let srv = Server::start(&validator_config(setting));
        let key = srv.client().apikey().text();
        for _ in 0..3 {
            assert_eq!(validate(&srv, &key), 200);
        }
        let text = plain_get(srv.plain_addr.unwrap(), "/metrics", "").text();
        let value = |series: &str| -> u64 {
            text.lines()
                .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
                .unwrap_or_else(|| panic!("no {series} in\n{text}"))
        };
        assert_eq!(
            value("apikey_sts_validations_total{result=\"valid\"}"),
            3,
            "{setting:?}"
        );
        assert_eq!(
            value("apikey_sts_validation_cache_total{result=\"hit\"}"),
            hits,
            "{setting:?}"
        );
        assert_eq!(
            value("apikey_sts_validation_cache_total{result=\"miss\"}"),
            misses,
            "{setting:?}"
        );
    }
}

/// `[validator] accessLog`: refusals only by default, every answer with "all", none with "off".
/// A `/health` line (always logged, last) marks the point by which the `/validate` lines are in.
#[test]
fn access_log_setting_chooses_which_validate_answers_are_logged() {
    for (setting, logs_200, logs_401) in [
        ("", false, true),
        ("accessLog = \"refusals\"\n", false, true),
        ("accessLog = \"all\"\n", true, true),
        ("accessLog = \"off\"\n", false, false),
    ] {
        let srv = Server::start(&validator_config(setting));
        let key = srv.client().apikey().text();
        assert_eq!(validate(&srv, &key), 200);
        assert_eq!(validate(&srv, "not-a-key"), 401);
        assert_eq!(
            plain_get(srv.plain_addr.unwrap(), "/health", "").status,
            200
        );
        assert!(
            srv.wait_log("\"GET /health\" 200", Duration::from_secs(10)),
            "{}",
            srv.log_text()
        );
        let log = srv.log_text();
        let ok_line = log.lines().find(|l| l.contains("\"GET /validate\" 200"));
        assert_eq!(ok_line.is_some(), logs_200, "{setting:?}:\n{log}");
        if let Some(line) = ok_line {
            assert!(line.contains("user=admin"), "{line}");
        }
        assert_eq!(
            log.contains("\"GET /validate\" 401"),
            logs_401,
            "{setting:?}:\n{log}"
        );
    }
}

#[test]
fn jwks_on_both_listeners_matches_the_certificate() {
    let srv = Server::start(&validator_config(""));
    let plain = srv.plain_addr.unwrap();
    let mut c = srv.client();
    let a = c.get("/.well-known/jwks.json", "");
    let b = c.get("/apikey/jwks", "");
    let p = plain_get(plain, "/.well-known/jwks.json", "");
    for r in [&a, &b, &p] {
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert!(r.header("cache-control").unwrap().contains("max-age="));
        assert_eq!(r.body, a.body);
        assert_eq!(r.header("etag"), a.header("etag"));
    }
    let etag = a.header("etag").unwrap().to_string();
    let r = c.get(
        "/.well-known/jwks.json",
        &format!("If-None-Match: {etag}\r\n"),
    );
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    let r = plain_get(plain, "/apikey/jwks", &format!("If-None-Match: {etag}\r\n"));
    assert_eq!(r.status, 304);

    let jwks = a.json();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let k = &keys[0];
    assert_eq!(k["kty"], "RSA");
    assert_eq!(k["use"], "sig");
    assert_eq!(k["alg"], "RS256");
    assert_eq!(k["kid"], "ballerina");
    let cert = dev_cert();
    assert_eq!(
        STANDARD.decode(k["x5c"][0].as_str().unwrap()).unwrap(),
        cert
    );
    assert_eq!(
        k["x5t#S256"].as_str().unwrap(),
        URL_SAFE_NO_PAD.encode(Sha256::digest(&cert))
    );
    // n and e as openssl reads them from the certificate.
    let dir = TempDir::new("jwks");
    let certf = dir.write("c.der", &cert);
    let modulus = String::from_utf8(openssl(
        &[
            "x509",
            "-inform",
            "DER",
            "-in",
            path_str(&certf),
            "-noout",
            "-modulus",
        ],
        None,
    ))
    .unwrap();
    let modulus = modulus.trim().strip_prefix("Modulus=").unwrap();
    let n = URL_SAFE_NO_PAD.decode(k["n"].as_str().unwrap()).unwrap();
    assert_ne!(n[0], 0, "no leading zero octet");
    let hex: String = n.iter().map(|b| format!("{b:02X}")).collect();
    assert_eq!(hex, modulus);
    assert_eq!(k["e"], "AQAB");
}

const PYJWT_CHECK: &str = r#"
import base64, hashlib, json, sys, urllib.request
import jwt
from cryptography import x509

url, issuer = sys.argv[1], sys.argv[2]
tokens = json.loads(sys.stdin.read())
client = jwt.PyJWKClient(url)
out = {}
for name, token in tokens.items():
    try:
        key = client.get_signing_key_from_jwt(token)
        claims = jwt.decode(token, key.key, algorithms=["RS256"], issuer=issuer,
                            options={"require": ["iss", "iat", "jti", "sub"]})
        out[name] = "valid:" + claims["sub"] + ":" + key.key_id
    except Exception as e:
        out[name] = "invalid:" + type(e).__name__

# Every JWK agrees with its own certificate.
jwks = json.load(urllib.request.urlopen(url))
for k in jwks["keys"]:
    der = base64.b64decode(k["x5c"][0])
    nums = x509.load_der_x509_certificate(der).public_key().public_numbers()
    b64 = lambda s: base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
    assert int.from_bytes(b64(k["n"]), "big") == nums.n, k["kid"]
    assert int.from_bytes(b64(k["e"]), "big") == nums.e, k["kid"]
    t = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
    assert t == k["x5t#S256"], k["kid"]
    out["jwk:" + k["kid"]] = "consistent"
print(json.dumps(out, sort_keys=True))
"#;

/// PyJWT, given only the JWKS URL, judges each token: "valid:SUB:KID" or "invalid:Error".
fn pyjwt_judge(jwks_url: &str, tokens: &serde_json::Value) -> serde_json::Value {
    require_tool(pyjwt_ready(), "target/py-venv with pyjwt and cryptography");
    let out = run_with_stdin(
        Command::new(venv_python()).args(["-c", PYJWT_CHECK, jwks_url, ISSUER]),
        tokens.to_string().as_bytes(),
    )
    .unwrap();
    assert!(
        out.status.success(),
        "pyjwt check failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn pyjwt_verifies_our_keys_from_our_jwks_alone() {
    let srv = Server::start(&validator_config(""));
    let plain = srv.plain_addr.unwrap();
    let good = srv.client().apikey().text();
    let tokens = serde_json::json!({
        "good": good,
        "tampered": with_claims(&good, |c| c["sub"] = "root".into()),
        "none": alg_none(&good),
    });
    let verdict = pyjwt_judge(&format!("http://{plain}/.well-known/jwks.json"), &tokens);
    assert_eq!(verdict["good"], "valid:admin:ballerina", "{verdict}");
    assert!(
        verdict["tampered"]
            .as_str()
            .unwrap()
            .starts_with("invalid:"),
        "{verdict}"
    );
    assert!(
        verdict["none"].as_str().unwrap().starts_with("invalid:"),
        "{verdict}"
    );
    assert_eq!(verdict["jwk:ballerina"], "consistent");
}

/// A fresh RSA key and self-signed certificate as a PKCS#12 file with one alias.
fn make_keystore(dir: &TempDir, alias: &str, password: &str) -> PathBuf {
    let key = dir.0.join(format!("{alias}.key.pem"));
    let cert = dir.0.join(format!("{alias}.cert.pem"));
    let p12 = dir.0.join(format!("{alias}.p12"));
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "30",
            "-subj",
            &format!("/CN={alias}"),
            "-keyout",
            path_str(&key),
            "-out",
            path_str(&cert),
        ],
        None,
    );
    openssl(
        &[
            "pkcs12",
            "-export",
            "-name",
            alias,
            "-inkey",
            path_str(&key),
            "-in",
            path_str(&cert),
            "-passout",
            &format!("pass:{password}"),
            "-out",
            path_str(&p12),
        ],
        None,
    );
    p12
}

/// A config signing with `signing` = (keystore, password, alias) and also accepting each of
/// `verification`; the TLS listener keeps the development key throughout.
fn rotation_config(signing: (&Path, &str, &str), verification: &[(&Path, &str, &str)]) -> String {
    let (ks, pw, alias) = signing;
    let mut text = format!(
        r#"
[listenerConfig]
  host = "127.0.0.1"
  httpsPort = 0
  keyStorePath = "{dev}"
  keyStorePassword = "ballerina"
  certificateAlias = "ballerina"

[b7a.users]
  [b7a.users.admin]
    password = "d033e22ae348aeb5660fc2140aec35850c4da997"

[apikey.tokenConfigs]
  issuer = "{ISSUER}"
  certificateAlias = "{alias}"

[apikey.issuer]
  [apikey.issuer.tokenConfig]
    keyStorePath = "{ks}"
    keyStorePassword = "{pw}"
    issuer = "{ISSUER}"
    certificateAlias = "{alias}"

[validator]
  port = 0
"#,
        dev = dev_keystore(),
        ks = ks.display()
    );
    for (ks, pw, alias) in verification {
        text.push_str(&format!(
            "\n[[apikey.verificationKeys]]\n  certificateAlias = \"{alias}\"\n  keyStorePath = \"{}\"\n  keyStorePassword = \"{pw}\"\n",
            ks.display()
        ));
    }
    text
}

fn kids(srv: &Server) -> Vec<String> {
    let r = plain_get(srv.plain_addr.unwrap(), "/.well-known/jwks.json", "");
    r.json()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

fn validate(srv: &Server, token: &str) -> u16 {
    plain_get(
        srv.plain_addr.unwrap(),
        "/validate",
        &format!("apikey: {token}\r\n"),
    )
    .status
}

/// `apikey-sts verify TOKEN --config PATH`: (exit code, stdout).
fn verify_cli(config: &Path, token: &str) -> (i32, String) {
    let out = Command::new(BIN)
        .args(["verify", token, "--config", path_str(config)])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn verify_checks_an_explicit_api_even_when_gateways_do_not() {
    // The bundled config: validateAllowedAPIs = false; admin's keys allow "Swagger Petstore New"
    // 1.0.0, v1, v2 and MyAPI (any version).
    let srv = Server::start(&default_config(""));
    let token = srv.client().apikey().text();
    let verify = |api: &[&str]| {
        let out = Command::new(BIN)
            .args(["verify", &token, "--config", path_str(&srv.config)])
            .args(api)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, out) = verify(&[]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = verify(&["--api", "Nope"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("invalid:"), "{out}");
    let (code, out) = verify(&["--api", "Swagger Petstore New", "--api-version", "v9"]);
    assert_eq!(code, 1, "{out}");
    let (code, out) = verify(&["--api", "Swagger Petstore New", "--api-version", "v2"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = verify(&["--api", "MyAPI", "--api-version", "7"]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn rotation_keeps_issued_keys_valid_until_the_old_key_is_retired() {
    let dir = TempDir::new("rotation");
    let dev = PathBuf::from(dev_keystore());
    let old = (dev.as_path(), "ballerina", "ballerina");
    let new_ks = make_keystore(&dir, "sts-2026", "n3w-pass");
    let new = (new_ks.as_path(), "n3w-pass", "sts-2026");

    // 0. Before: signing with the old key.
    let srv = Server::start(&rotation_config(old, &[]));
    let before = srv.client().apikey().text();
    assert_eq!(header(&before)["kid"], "ballerina");
    assert_eq!(validate(&srv, &before), 200);
    assert_eq!(kids(&srv), ["ballerina"]);
    drop(srv);

    // 1. Publish the new key as verification-only (gateways fetch it before it signs anything).
    let srv = Server::start(&rotation_config(old, &[new]));
    assert_eq!(kids(&srv), ["ballerina", "sts-2026"]);
    assert_eq!(validate(&srv, &before), 200);
    assert_eq!(header(&srv.client().apikey().text())["kid"], "ballerina");
    drop(srv);

    // 2. Switch: sign with the new key, keep the old one for keys in circulation.
    let srv = Server::start(&rotation_config(new, &[old]));
    assert_eq!(kids(&srv), ["sts-2026", "ballerina"]);
    let after = srv.client().apikey().text();
    assert_eq!(header(&after)["kid"], "sts-2026");
    assert_eq!(validate(&srv, &before), 200, "key issued before rotation");
    assert_eq!(validate(&srv, &after), 200);
    // PyJWT agrees, from the JWKS alone.
    let verdict = pyjwt_judge(
        &format!("http://{}/.well-known/jwks.json", srv.plain_addr.unwrap()),
        &serde_json::json!({"before": before, "after": after}),
    );
    assert_eq!(verdict["before"], "valid:admin:ballerina", "{verdict}");
    assert_eq!(verdict["after"], "valid:admin:sts-2026", "{verdict}");
    assert_eq!(verdict["jwk:sts-2026"], "consistent");
    drop(srv);

    // 3. Retire the old key: what it signed stops validating, the new key's keys still do.
    let cfg = rotation_config(new, &[]);
    let srv = Server::start(&cfg);
    assert_eq!(kids(&srv), ["sts-2026"]);
    assert_eq!(validate(&srv, &before), 401, "retired key");
    assert_eq!(validate(&srv, &after), 200);
    let direct = plain_get(
        srv.plain_addr.unwrap(),
        "/validate",
        &format!("apikey: {before}\r\n"),
    );
    assert!(
        direct.text().contains("not a known signing key"),
        "{}",
        direct.text()
    );

    // The verify command judges with the same keys and checks.
    let (code, out) = verify_cli(&srv.config, &after);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("\"sub\": \"admin\"") && out.trim_end().ends_with("valid"),
        "{out}"
    );
    let (code, out) = verify_cli(&srv.config, &before);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("invalid: token key id \"ballerina\""), "{out}");
    let (code, _) = verify_cli(&srv.config, &alg_none(&after));
    assert_eq!(code, 1);
}

#[test]
fn misconfigured_rotation_fails_at_startup_naming_the_key() {
    let dir = TempDir::new("rotation-bad");
    let dev = PathBuf::from(dev_keystore());
    let old = (dev.as_path(), "ballerina", "ballerina");
    let other = make_keystore(&dir, "ballerina", "x-pass");
    // Same alias, different key: tokens could not say which one signed them.
    let log = Server::try_start(&rotation_config(
        old,
        &[(other.as_path(), "x-pass", "ballerina")],
    ))
    .err()
    .expect("startup must fail");
    assert!(
        log.contains("apikey.verificationKeys[0].certificateAlias"),
        "{log}"
    );
    // An alias the keystore does not have.
    let log = Server::try_start(&rotation_config(
        old,
        &[(dev.as_path(), "ballerina", "nope")],
    ))
    .err()
    .expect("startup must fail");
    assert!(
        log.contains("apikey.verificationKeys[0].certificateAlias"),
        "{log}"
    );
    assert!(log.contains("nope"), "{log}");
}

#[test]
fn sighup_reload_applies_a_rotation_without_restart() {
    let dir = TempDir::new("rotation-hup");
    let dev = PathBuf::from(dev_keystore());
    let old = (dev.as_path(), "ballerina", "ballerina");
    let new_ks = make_keystore(&dir, "sts-next", "n3xt");
    let new = (new_ks.as_path(), "n3xt", "sts-next");
    let srv = Server::start(&rotation_config(old, &[]));
    let before = srv.client().apikey().text();
    assert_eq!(validate(&srv, &before), 200);
    let hup = |n: usize| {
        let st = Command::new("kill")
            .args(["-HUP", &srv.child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        while srv.log_text().matches("reloaded").count() < n {
            assert!(Instant::now() < deadline, "no reload:\n{}", srv.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    // Switch: the old key stays accepted (and the cached verification of `before` is dropped
    // with the old state, not trusted across key sets).
    std::fs::write(&srv.config, rotation_config(new, &[old])).unwrap();
    hup(1);
    let after = srv.client().apikey().text();
    assert_eq!(header(&after)["kid"], "sts-next");
    assert_eq!(kids(&srv), ["sts-next", "ballerina"]);
    assert_eq!(validate(&srv, &before), 200);
    // Retire: at once, on the same process.
    std::fs::write(&srv.config, rotation_config(new, &[])).unwrap();
    hup(2);
    assert_eq!(validate(&srv, &before), 401);
    assert_eq!(validate(&srv, &after), 200);
    assert_eq!(kids(&srv), ["sts-next"]);
}
