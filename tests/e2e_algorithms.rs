//! Each signing algorithm end to end: keys issued by the server, published in its JWKS, verified
//! by two independent implementations (PyJWT from the JWKS alone, and the `openssl` CLI from
//! the certificate), tokens made by PyJWT with our keystore's key accepted by `/validate` and
//! `verify`, keys of another algorithm refused, and a rotation from RS256 to ES256.
//!
//! Tools: `openssl` and `target/py-venv` with `pyjwt` + `cryptography`, installed by
//! `tests/install-tools.sh`. The fixtures come from `tests/fixtures/algorithms/make-fixtures.sh`.
mod common;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::*;
use std::net::SocketAddr;
use std::process::Command;

const ISSUER: &str = "https://localhost:9095/apikey";
const PW: &str = "ballerina";

fn fixture(name: &str) -> String {
    format!("{ROOT}/tests/fixtures/algorithms/{name}")
}

/// The issuer's key: a keystore entry or PEM files, and an optional `algorithm`.
struct Signing {
    /// `keyStorePath`/`keyStorePassword`/`certificateAlias`, or `certFile`/`keyFile` lines.
    lines: String,
    alias: String,
    /// The key's certificate (DER), for the openssl check.
    cert: Vec<u8>,
    /// The private key as PKCS#8 PEM, for PyJWT to sign with.
    key_pem: String,
}

impl Signing {
    fn keystore(p12: &str, alias: &str, algorithm: Option<&str>) -> Signing {
        let key_pem = String::from_utf8(openssl(
            &[
                "pkcs12",
                "-in",
                p12,
                "-passin",
                "pass:ballerina",
                "-nocerts",
                "-nodes",
            ],
            None,
        ))
        .unwrap();
        let algorithm = algorithm
            .map(|a| format!("    algorithm = \"{a}\"\n"))
            .unwrap_or_default();
        Signing {
            lines: format!(
                "    keyStorePath = \"{p12}\"\n    keyStorePassword = \"{PW}\"\n    \
                 certificateAlias = \"{alias}\"\n{algorithm}"
            ),
            alias: alias.into(),
            cert: cert_der_of_alias(p12, PW, alias),
            key_pem,
        }
    }

    fn pem(name: &str) -> Signing {
        let (cert, key) = (
            fixture(&format!("{name}.crt")),
            fixture(&format!("{name}.key")),
        );
        let key_pem = String::from_utf8(openssl(&["pkey", "-in", &key], None)).unwrap();
        Signing {
            lines: format!(
                "    certFile = \"{cert}\"\n    keyFile = \"{key}\"\n    \
                 certificateAlias = \"{name}\"\n"
            ),
            alias: name.into(),
            cert: openssl(&["x509", "-in", &cert, "-outform", "DER"], None),
            key_pem,
        }
    }
}

/// TLS on the development keystore, the issuer on `signing`, the validator listener on;
/// `extra` is appended (verification keys).
fn config(signing: &Signing, extra: &str) -> String {
    format!(
        r#"[listenerConfig]
  host = "127.0.0.1"
  httpsPort = 0
  keyStorePath = "{dev}"
  keyStorePassword = "ballerina"
  certificateAlias = "ballerina"

[b7a.users]
  [b7a.users.admin]
    password = "d033e22ae348aeb5660fc2140aec35850c4da997"

[validator]
  port = 0

[apikey.issuer]
  [apikey.issuer.tokenConfig]
    issuer = "{ISSUER}"
    validityTime = -1
{lines}
{extra}
"#,
        dev = dev_keystore(),
        lines = signing.lines,
    )
}

fn verification_key(p12: &str, alias: &str) -> String {
    format!(
        "[[apikey.verificationKeys]]\n  certificateAlias = \"{alias}\"\n  \
         keyStorePath = \"{p12}\"\n  keyStorePassword = \"{PW}\"\n"
    )
}

fn validate(plain: SocketAddr, token: &str) -> u16 {
    plain_get(plain, "/validate", &format!("apikey: {token}\r\n")).status
}

/// PyJWT, given the JWKS URL, a token of ours, the algorithm and our private key: verifies the
/// token from the JWKS alone, checks each JWK against its own certificate, and makes a token
/// of its own with our key, plus an HS256 token keyed with the published public key.
const PYJWT: &str = r#"
import base64, hashlib, hmac, json, sys, time, uuid
import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

url, issuer, alg, kid = sys.argv[1:5]
token, key_pem = json.loads(sys.stdin.read())
out = {}
signing = jwt.PyJWKClient(url).get_signing_key_from_jwt(token)
claims = jwt.decode(token, signing.key, algorithms=[alg], issuer=issuer,
                    options={"require": ["iss", "iat", "jti", "sub"]})
out["ours"] = "valid:" + claims["sub"] + ":" + signing.key_id

b64 = lambda s: base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
jwks = json.load(__import__("urllib.request").request.urlopen(url))
for k in jwks["keys"]:
    public = x509.load_der_x509_certificate(base64.b64decode(k["x5c"][0])).public_key()
    if k["kty"] == "RSA":
        n = public.public_numbers()
        ok = int.from_bytes(b64(k["n"]), "big") == n.n and int.from_bytes(b64(k["e"]), "big") == n.e
    elif k["kty"] == "EC":
        n = public.public_numbers()
        ok = (k["crv"] == {"secp256r1": "P-256", "secp384r1": "P-384"}[n.curve.name]
              and int.from_bytes(b64(k["x"]), "big") == n.x
              and int.from_bytes(b64(k["y"]), "big") == n.y)
    else:
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        ok = k["crv"] == "Ed25519" and isinstance(public, ed25519.Ed25519PublicKey) and b64(k["x"]) == raw
    out["jwk:" + k["kid"]] = k["alg"] + (":consistent" if ok else ":INCONSISTENT")

private = serialization.load_pem_private_key(key_pem.encode(), password=None)
mine = {"sub": "pyjwt", "iss": issuer, "iat": int(time.time()), "jti": str(uuid.uuid4()),
        "keytype": "PRODUCTION", "allowedAPIs": []}
out["made"] = jwt.encode(mine, private, algorithm=alg, headers={"kid": kid})

# The classic confusion: HS256 with the public key's PEM as the HMAC secret.
secret = signing.key.public_bytes(serialization.Encoding.PEM,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
enc = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
signed = enc(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode()) + "." + \
    enc(json.dumps(mine).encode())
out["hs256"] = signed + "." + enc(hmac.new(secret, signed.encode(), hashlib.sha256).digest())
print(json.dumps(out))
"#;

fn pyjwt(plain: SocketAddr, token: &str, alg: &str, signing: &Signing) -> serde_json::Value {
    require_tool(pyjwt_ready(), "target/py-venv with pyjwt and cryptography");
    let url = format!("http://{plain}/.well-known/jwks.json");
    let input = serde_json::json!([token, signing.key_pem]).to_string();
    let out = run_with_stdin(
        Command::new(venv_python()).args(["-c", PYJWT, &url, ISSUER, alg, &signing.alias]),
        input.as_bytes(),
    )
    .unwrap();
    assert!(
        out.status.success(),
        "pyjwt failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// RFC 7518 §3.4's r || s as the DER ECDSA-Sig-Value openssl reads (both halves are one size).
fn der_ecdsa(fixed: &[u8]) -> Vec<u8> {
    let int = |b: &[u8]| {
        let b = &b[b.iter().position(|&x| x != 0).unwrap_or(b.len() - 1)..];
        let pad = usize::from(b[0] & 0x80 != 0);
        let mut v = vec![0x02, (b.len() + pad) as u8];
        v.extend(std::iter::repeat_n(0, pad));
        v.extend(b);
        v
    };
    let (r, s) = fixed.split_at(fixed.len() / 2);
    let body = [int(r), int(s)].concat();
    // Short-form lengths: at most 2 * (1 + 1 + 49) bytes for P-384.
    [vec![0x30, body.len() as u8], body].concat()
}

/// The `openssl` CLI's verdict on `token` with the certificate's public key.
fn openssl_accepts(token: &str, alg: &str, cert_der: &[u8]) -> bool {
    let dir = TempDir::new("alg-verify");
    let (signed, sig) = token.rsplit_once('.').unwrap();
    let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
    let cert = dir.write("cert.der", cert_der);
    let pubkey = openssl(
        &[
            "x509",
            "-inform",
            "DER",
            "-in",
            path_str(&cert),
            "-pubkey",
            "-noout",
        ],
        None,
    );
    let pubkey = dir.write("pub.pem", pubkey);
    let data = dir.write("data.txt", signed);
    let (pubkey, data) = (path_str(&pubkey), path_str(&data));
    let (sig, args): (Vec<u8>, Vec<&str>) = match alg {
        "ES256" => (der_ecdsa(&sig), vec!["dgst", "-sha256", "-verify", pubkey]),
        "ES384" => (der_ecdsa(&sig), vec!["dgst", "-sha384", "-verify", pubkey]),
        "PS256" => (
            sig,
            vec![
                "dgst",
                "-sha256",
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:32",
                "-verify",
                pubkey,
            ],
        ),
        "RS256" => (sig, vec!["dgst", "-sha256", "-verify", pubkey]),
        // Ed25519 signs the message itself, not a digest: pkeyutl with -rawin.
        "EdDSA" => (
            sig,
            vec![
                "pkeyutl", "-verify", "-pubin", "-inkey", pubkey, "-rawin", "-in", data,
            ],
        ),
        other => panic!("{other}"),
    };
    let sigf = dir.write("sig.bin", sig);
    let mut cmd = Command::new("openssl");
    cmd.args(&args);
    if alg == "EdDSA" {
        cmd.args(["-sigfile", path_str(&sigf)]);
    } else {
        cmd.args(["-signature", path_str(&sigf), data]);
    }
    let out = cmd.output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    out.status.success() && (said.contains("Verified OK") || said.contains("Verified Successfully"))
}

/// One algorithm through the whole path; returns the token our server issued.
fn exercise(signing: &Signing, alg: &str) -> String {
    let srv = Server::start(&config(signing, ""));
    let plain = srv.plain_addr.unwrap();
    let r = srv.client().apikey();
    assert_eq!(r.status, 200, "{}", r.text());
    let token = r.text();
    let h = header(&token);
    assert_eq!(
        (&h["alg"], &h["kid"]),
        (&alg.into(), &signing.alias.clone().into())
    );
    let c = claims(&token);
    assert_eq!((&c["sub"], &c["iss"]), (&"admin".into(), &ISSUER.into()));
    eprintln!("{alg}: token of {} bytes", token.len());

    // Independent verifier 1: PyJWT, from the JWKS alone.
    let said = pyjwt(plain, &token, alg, signing);
    assert_eq!(
        said["ours"],
        format!("valid:admin:{}", signing.alias),
        "{said}"
    );
    assert_eq!(
        said[format!("jwk:{}", signing.alias)],
        format!("{alg}:consistent"),
        "{said}"
    );
    // Independent verifier 2: the openssl CLI, from the certificate; a flipped signature bit
    // fails it, so it is not a rubber stamp.
    assert!(
        openssl_accepts(&token, alg, &signing.cert),
        "openssl refused {alg}"
    );
    let (signed, sig) = token.rsplit_once('.').unwrap();
    let mut sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
    sig[7] ^= 0x10;
    let bad = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(&sig));
    assert!(!openssl_accepts(&bad, alg, &signing.cert));

    // Ours and PyJWT's tokens pass /validate and `verify`; HS256 keyed by the public key and
    // a tampered signature do not.
    let made = said["made"].as_str().unwrap();
    assert_eq!(header(made)["alg"], alg);
    assert_eq!(validate(plain, &token), 200);
    assert_eq!(validate(plain, made), 200, "PyJWT's {alg} token");
    assert_eq!(validate(plain, said["hs256"].as_str().unwrap()), 401);
    assert_eq!(validate(plain, &bad), 401);
    let out = Command::new(BIN)
        .args(["verify", made, "--config", path_str(&srv.config)])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && report.contains("\nvalid"),
        "{report}"
    );
    token
}

#[test]
fn es256_from_openssl_pkcs12() {
    let p12 = fixture("es256.p12");
    let token = exercise(&Signing::keystore(&p12, "es256", None), "ES256");
    assert_eq!(
        URL_SAFE_NO_PAD
            .decode(token.rsplit('.').next().unwrap())
            .unwrap()
            .len(),
        64
    );
}

#[test]
fn es256_from_keytool_pkcs12() {
    let p12 = fixture("es256-keytool.p12");
    exercise(
        &Signing::keystore(&p12, "es256-keytool", Some("ES256")),
        "ES256",
    );
}

#[test]
fn es256_from_sec1_pem() {
    exercise(&Signing::pem("es256"), "ES256");
}

#[test]
fn es384_from_openssl_pkcs12() {
    let p12 = fixture("es384.p12");
    exercise(&Signing::keystore(&p12, "es384", None), "ES384");
}

#[test]
fn eddsa_from_openssl_pkcs12() {
    let p12 = fixture("ed25519.p12");
    exercise(&Signing::keystore(&p12, "ed25519", None), "EdDSA");
}

#[test]
fn eddsa_from_keytool_pkcs12() {
    let p12 = fixture("ed25519-keytool.p12");
    exercise(&Signing::keystore(&p12, "ed25519-keytool", None), "EdDSA");
}

#[test]
fn eddsa_from_pkcs8_pem() {
    exercise(&Signing::pem("ed25519"), "EdDSA");
}

#[test]
fn ps256_with_either_signer() {
    let p12 = format!("{ROOT}/tests/fixtures/keystores/openssl3-default.p12");
    let mut signing = Signing::keystore(&p12, "ballerina", Some("PS256"));
    let a = exercise(&signing, "PS256");
    signing.lines.push_str("    signer = \"provider\"\n");
    let b = exercise(&signing, "PS256");
    assert_ne!(a, b);
}

#[test]
fn rs256_stays_the_default_for_rsa() {
    let p12 = format!("{ROOT}/tests/fixtures/keystores/openssl3-default.p12");
    exercise(&Signing::keystore(&p12, "ballerina", None), "RS256");
}

/// An `algorithm` the key cannot sign stops startup with one line naming the key's type and
/// what it can sign.
#[test]
fn an_algorithm_that_does_not_fit_stops_startup_in_one_line() {
    for (p12, alias, algorithm, kind) in [
        (
            "es256.p12",
            "es256",
            "RS256",
            "an EC P-256 key, which signs ES256",
        ),
        (
            "es256.p12",
            "es256",
            "ES384",
            "an EC P-256 key, which signs ES256",
        ),
        (
            "ed25519.p12",
            "ed25519",
            "ES256",
            "an Ed25519 key, which signs EdDSA",
        ),
        (
            "es384.p12",
            "es384",
            "EdDSA",
            "an EC P-384 key, which signs ES384",
        ),
    ] {
        let p12 = fixture(p12);
        let signing = Signing::keystore(&p12, alias, Some(algorithm));
        let log = match Server::try_start(&config(&signing, "")) {
            Ok(_) => panic!("{algorithm} with {alias} started"),
            Err(log) => log,
        };
        let errors: Vec<&str> = log.lines().filter(|l| l.contains(" ERROR ")).collect();
        assert_eq!(errors.len(), 1, "{log}");
        let msg = errors[0].split_once(" ERROR ").unwrap().1;
        let (_, rest) = msg.split_once(": ").unwrap();
        assert_eq!(
            rest,
            format!(
                "apikey.issuer.tokenConfig.algorithm: {p12} (entry \"{alias}\"): {algorithm} \
                 does not fit the key: it is {kind}"
            )
        );
    }
    let rsa = format!("{ROOT}/tests/fixtures/keystores/openssl3-default.p12");
    let signing = Signing::keystore(&rsa, "ballerina", Some("EdDSA"));
    let log = Server::try_start(&config(&signing, "")).err().unwrap();
    assert!(
        log.contains("EdDSA does not fit the key: it is an RSA key, which signs RS256 or PS256"),
        "{log}"
    );
    // A verification key's `algorithm` is checked the same way, and blamed on its own key.
    let es = fixture("es256.p12");
    let extra = verification_key(&rsa, "ballerina") + "  algorithm = \"ES256\"\n";
    let log = Server::try_start(&config(&Signing::keystore(&es, "es256", None), &extra))
        .err()
        .unwrap();
    let errors: Vec<&str> = log.lines().filter(|l| l.contains(" ERROR ")).collect();
    assert_eq!(errors.len(), 1, "{log}");
    assert!(
        errors[0].ends_with(
            "apikey.verificationKeys[0].algorithm: certificate of alias \"ballerina\": ES256 \
             does not fit the key: it is an RSA key, which signs RS256 or PS256"
        ),
        "{log}"
    );
    // With `algorithm = "PS256"` the same RSA key is published, and accepted, as PS256 only.
    let extra = verification_key(&rsa, "ballerina") + "  algorithm = \"PS256\"\n";
    let srv = Server::start(&config(&Signing::keystore(&es, "es256", None), &extra));
    let doc = plain_get(srv.plain_addr.unwrap(), "/.well-known/jwks.json", "").json();
    assert_eq!(doc["keys"][1]["kid"], "ballerina");
    assert_eq!(doc["keys"][1]["alg"], "PS256");
}

/// RS256 to ES256: the ES256 key is published first, then signs while the RS256 key is
/// verification-only, then the RS256 key is retired. Keys of each stay valid exactly as long
/// as their key is listed, and a key never validates under the other's algorithm.
#[test]
fn rotation_from_rs256_to_es256() {
    let rsa = format!("{ROOT}/tests/fixtures/keystores/openssl3-default.p12");
    let es = fixture("es256.p12");
    let rsa_signing = Signing::keystore(&rsa, "ballerina", None);
    let es_signing = Signing::keystore(&es, "es256", None);
    let kinds = |plain: SocketAddr| -> Vec<(String, String, String)> {
        let doc = plain_get(plain, "/.well-known/jwks.json", "").json();
        doc["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                let s = |m: &str| k[m].as_str().unwrap().to_string();
                (s("kid"), s("kty"), s("alg"))
            })
            .collect()
    };
    let rs = |s: &str| (s.to_string(), "RSA".to_string(), "RS256".to_string());
    let ec = |s: &str| (s.to_string(), "EC".to_string(), "ES256".to_string());

    // 1. RS256 signs; the ES256 key is published ahead.
    let srv = Server::start(&config(&rsa_signing, &verification_key(&es, "es256")));
    let plain = srv.plain_addr.unwrap();
    assert_eq!(kinds(plain), vec![rs("ballerina"), ec("es256")]);
    let old = srv.client().apikey().text();
    assert_eq!(header(&old)["alg"], "RS256");
    assert_eq!(validate(plain, &old), 200);
    drop(srv);

    // 2. ES256 signs; RS256 keys still validate.
    let srv = Server::start(&config(&es_signing, &verification_key(&rsa, "ballerina")));
    let plain = srv.plain_addr.unwrap();
    assert_eq!(kinds(plain), vec![ec("es256"), rs("ballerina")]);
    let new = srv.client().apikey().text();
    assert_eq!(header(&new)["alg"], "ES256");
    assert_eq!(validate(plain, &old), 200);
    assert_eq!(validate(plain, &new), 200);
    // The old token's claims and signature under the new key's kid, or with the other alg:
    // refused either way.
    let swap = |token: &str, alg: &str, kid: &str| {
        let (_, rest) = token.split_once('.').unwrap();
        let h = format!(r#"{{"alg":"{alg}","typ":"JWT","kid":"{kid}"}}"#);
        format!("{}.{rest}", URL_SAFE_NO_PAD.encode(h))
    };
    for forged in [
        swap(&old, "RS256", "es256"),
        swap(&old, "ES256", "es256"),
        swap(&new, "ES256", "ballerina"),
        swap(&new, "RS256", "ballerina"),
    ] {
        assert_eq!(validate(plain, &forged), 401, "{}", header(&forged));
    }
    drop(srv);

    // 3. The RS256 key is retired: its keys stop validating, ES256 keys go on.
    let srv = Server::start(&config(&es_signing, ""));
    let plain = srv.plain_addr.unwrap();
    assert_eq!(kinds(plain), vec![ec("es256")]);
    assert_eq!(validate(plain, &old), 401);
    assert_eq!(validate(plain, &new), 200);
}
