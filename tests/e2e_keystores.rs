//! Every keystore fixture through the real binary: the ones that should load issue keys that
//! `openssl` verifies against the certificate `openssl pkcs12` extracts from the same file, and
//! serve that certificate (and its chain) on TLS; the ones that should fail stop the binary
//! with exactly one ERROR line naming the keystore, never the password.
mod common;
use common::*;
use rustls::ClientConfig;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keystores");
const PW: &str = "ballerina";
/// Password of the fixtures whose messages name the alias "ballerina".
const Q: &str = "changeit";
const UNICODE_PW: &str = "pässwörd-€";
/// A wrong password that cannot appear in any message by accident.
const WRONG: &str = "hunter2-Wr0ng";

fn fixture(name: &str) -> String {
    format!("{DIR}/{name}")
}

/// One keystore reference in the config: path, password, alias.
#[derive(Clone, Copy)]
struct Store<'a> {
    path: &'a str,
    password: &'a str,
    alias: &'a str,
}

fn store<'a>(path: &'a str, password: &'a str, alias: &'a str) -> Store<'a> {
    Store {
        path,
        password,
        alias,
    }
}

/// A TOML basic string.
fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A minimal config: `listener` in `[listenerConfig]`, `issuer` in `[apikey.issuer.tokenConfig]`.
fn config(listener: Store, issuer: Store) -> String {
    format!(
        r#"[listenerConfig]
  host = "127.0.0.1"
  httpsPort = 0
  keyStorePath = {}
  keyStorePassword = {}
  certificateAlias = {}

[b7a.users]
  [b7a.users.admin]
    password = "d033e22ae348aeb5660fc2140aec35850c4da997"

[apikey.issuer]
  [apikey.issuer.tokenConfig]
    enabled = true
    keyStorePath = {}
    keyStorePassword = {}
    issuer = "https://localhost:9095/apikey"
    certificateAlias = {}
    validityTime = -1
"#,
        toml_str(listener.path),
        toml_str(listener.password),
        toml_str(listener.alias),
        toml_str(issuer.path),
        toml_str(issuer.password),
        toml_str(issuer.alias),
    )
}

// ---------------------------------------------------------------------------------------------
// Keystores that load
// ---------------------------------------------------------------------------------------------

/// What one run saw: the certificates the TLS listener served and the issued token.
struct Served {
    chain: Vec<Vec<u8>>,
    token: String,
    log: String,
}

/// Starts the binary with `listener`/`issuer`, connects pinned to the listener entry's leaf as
/// `openssl pkcs12` extracts it, fetches a key and verifies it with `openssl dgst` against the
/// issuer entry's certificate, also as `openssl pkcs12` extracts it.
fn serve(listener: Store, issuer: Store) -> Served {
    serve_with(listener, issuer, Client::connect)
}

/// `serve` with a chosen way to connect (given the address and the pinned leaf).
fn serve_with(
    listener: Store,
    issuer: Store,
    connect: impl Fn(SocketAddr, &[u8]) -> Client,
) -> Served {
    let tls_cert = cert_der_of_alias(listener.path, listener.password, listener.alias);
    let signer_cert = cert_der_of_alias(issuer.path, issuer.password, issuer.alias);
    let srv = Server::start(&config(listener, issuer));
    let mut c = connect(srv.addr, &tls_cert);
    let r = c.apikey();
    assert_eq!(r.status, 200, "{}", r.text());
    let token = r.text();
    assert_eq!(header(&token)["alg"], "RS256");
    assert_eq!(header(&token)["kid"], issuer.alias);
    assert_eq!(claims(&token)["sub"], "admin");
    assert!(
        openssl_verifies(&token, &signer_cert),
        "{}: token does not verify against its certificate",
        issuer.path
    );
    let tampered = token.replacen(".eyJ", ".eyK", 1);
    assert!(!openssl_verifies(&tampered, &signer_cert));
    let chain: Vec<Vec<u8>> = c
        .tls
        .conn
        .peer_certificates()
        .expect("server sent certificates")
        .iter()
        .map(|c| c.as_ref().to_vec())
        .collect();
    assert_eq!(chain.first(), Some(&tls_cert));
    let log = srv.log_text();
    assert!(!log.contains(" ERROR "), "{log}");
    for pw in [listener.password, issuer.password] {
        if !pw.is_empty() {
            assert!(!log.contains(pw), "password in log:\n{log}");
        }
    }
    Served { chain, token, log }
}

/// `name` as both the TLS and the signing keystore.
fn loads(name: &str, password: &str, alias: &str) -> Served {
    let path = fixture(name);
    let s = store(&path, password, alias);
    let served = serve(s, s);
    assert_eq!(served.chain.len(), 1, "{name}: self-signed, chain of one");
    served
}

macro_rules! loads {
    ($($test:ident: $file:literal, $pw:expr;)*) => {$(
        #[test]
        fn $test() {
            loads($file, $pw, "ballerina");
        }
    )*};
}

loads! {
    loads_openssl3_default: "openssl3-default.p12", PW;
    loads_openssl_legacy: "openssl-legacy.p12", PW;
    loads_legacy_2des_rc2_128: "legacy-2des-rc2-128.p12", PW;
    loads_keytool_java17: "keytool-java17.p12", PW;
    loads_keytool_java17_legacy: "keytool-java17-legacy.p12", PW;
    loads_rsa3072: "rsa3072.p12", PW;
    loads_rsa4096: "rsa4096.p12", PW;
    loads_aes128_sha512: "aes128-sha512.p12", PW;
    loads_certpbe_none: "certpbe-none.p12", PW;
    loads_keypbe_none: "keypbe-none.p12", PW;
    loads_empty_password: "empty-password.p12", "";
    loads_unicode_password: "unicode-password.p12", UNICODE_PW;
    loads_unicode_password_legacy: "unicode-password-legacy.p12", UNICODE_PW;
}

#[test]
fn loads_without_mac_and_warns() {
    for name in ["nomac.p12", "unencrypted-nomac.p12"] {
        let served = loads(name, PW, "ballerina");
        assert!(
            served
                .log
                .contains(&format!("{}: keystore has no integrity MAC", fixture(name))),
            "{}",
            served.log
        );
    }
}

#[test]
fn two_entries_each_alias_signs_with_its_own_key() {
    let path = fixture("two-entries.p12");
    let certs: Vec<Vec<u8>> = ["ballerina", "wso2carbon"]
        .iter()
        .map(|a| cert_der_of_alias(&path, PW, a))
        .collect();
    assert_ne!(certs[0], certs[1]);
    for (i, alias) in ["ballerina", "wso2carbon"].into_iter().enumerate() {
        let s = store(&path, PW, alias);
        let served = serve(s, s);
        // serve() checked it verifies with this alias' certificate; not with the other one.
        assert!(
            !openssl_verifies(&served.token, &certs[1 - i]),
            "{alias}: token also verifies with the other entry's key"
        );
        assert_eq!(served.chain, vec![certs[i].clone()]);
    }
}

#[test]
fn listener_and_issuer_pick_different_aliases_of_one_keystore() {
    let path = fixture("two-entries.p12");
    let served = serve(
        store(&path, PW, "wso2carbon"),
        store(&path, PW, "ballerina"),
    );
    assert_eq!(
        served.chain,
        vec![cert_der_of_alias(&path, PW, "wso2carbon")]
    );
}

/// Subject or issuer of a DER certificate, as `openssl x509` prints it.
fn x509_name(der: &[u8], which: &str) -> String {
    let out = openssl(&["x509", "-inform", "DER", "-noout", which], Some(der));
    let text = String::from_utf8(out).unwrap();
    let (_, name) = text.trim().split_once('=').unwrap();
    name.trim().to_string()
}

fn connect_raw_key(addr: SocketAddr, cert: &[u8]) -> Client {
    let pem = openssl(&["x509", "-inform", "DER", "-pubkey", "-noout"], Some(cert));
    let spki = openssl(&["pkey", "-pubin", "-outform", "DER"], Some(&pem));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let cfg = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Verifier::new(
            Trust::PinnedRawKey {
                cert: cert.to_vec(),
                spki,
            },
            provider,
        ))
        .with_no_client_auth();
    Client::connect_with(addr, Arc::new(cfg))
}

#[test]
fn with_chain_serves_leaf_and_intermediates_in_order() {
    let path = fixture("with-chain.p12");
    let s = store(&path, PW, "ballerina");
    let served = serve_with(s, s, connect_raw_key);
    // The leaf is X.509 v1: the server must not insist on v3 (rustls' own check would).
    let text = openssl(
        &["x509", "-inform", "DER", "-noout", "-text"],
        Some(&served.chain[0]),
    );
    assert!(String::from_utf8_lossy(&text).contains("Version: 1 (0x0)"));
    let mut ca: Vec<Vec<u8>> = pem_certs(&pkcs12_certs_pem(&path, PW, "-cacerts"))
        .into_iter()
        .map(|(_, der)| der)
        .collect();
    assert_eq!(ca.len(), 2, "fixture holds root and intermediate");
    assert_eq!(served.chain.len(), 3, "leaf, intermediate, root");
    let mut served_ca = served.chain[1..].to_vec();
    ca.sort();
    served_ca.sort();
    assert_eq!(served_ca, ca, "served CA certificates are the file's");
    // Ordered: each certificate is issued by the next one.
    for pair in served.chain.windows(2) {
        assert_eq!(
            x509_name(&pair[0], "-issuer"),
            x509_name(&pair[1], "-subject")
        );
    }
    assert_eq!(x509_name(&served.chain[0], "-subject"), "CN = localhost");
}

#[test]
fn ec_keystore_serves_tls_while_an_rsa_keystore_signs() {
    let ec = fixture("ec-p256.p12");
    let rsa = fixture("openssl3-default.p12");
    let served = serve(store(&ec, Q, "ballerina"), store(&rsa, PW, "ballerina"));
    assert_eq!(served.chain, vec![cert_der_of_alias(&ec, Q, "ballerina")]);
    let key = openssl(
        &["x509", "-inform", "DER", "-noout", "-text"],
        Some(&served.chain[0]),
    );
    assert!(String::from_utf8_lossy(&key).contains("id-ecPublicKey"));
}

// ---------------------------------------------------------------------------------------------
// Keystores and conditions that must stop the binary
// ---------------------------------------------------------------------------------------------

/// Runs the binary to its exit (killed and failed after 20 s): exit code and stderr.
fn run_to_exit(config_text: &str) -> (Option<i32>, String) {
    let dir = TempDir::new("ks-fail");
    let conf = dir.write("micro-gw.conf", config_text);
    let err_path = dir.0.join("stderr.txt");
    let err_file = std::fs::File::create(&err_path).unwrap();
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err_file)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "server did not exit:\n{}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    (status.code(), std::fs::read_to_string(&err_path).unwrap())
}

/// Starts the binary and expects it to fail: non-zero exit, exactly one ERROR line, naming
/// `bad.path`, without `bad.password` anywhere in the log (after removing `allowed`, text
/// the message legitimately contains, e.g. an alias list). Returns the message after "ERROR ".
fn fails(listener: Store, issuer: Store, bad: Store, allowed: &str) -> String {
    fails_keyed(listener, issuer, bad, allowed).1
}

/// As `fails`, with the config key the message names (`listenerConfig.keyStorePath`, ...)
/// apart: the message is `CONFIG: KEY: REST`, and REST is returned with KEY.
fn fails_keyed(listener: Store, issuer: Store, bad: Store, allowed: &str) -> (String, String) {
    let (code, log) = run_to_exit(&config(listener, issuer));
    assert!(
        matches!(code, Some(c) if c != 0),
        "exit code {code:?}:\n{log}"
    );
    let errors: Vec<&str> = log.lines().filter(|l| l.contains(" ERROR ")).collect();
    assert_eq!(errors.len(), 1, "exactly one ERROR line:\n{log}");
    let msg = errors[0].split_once(" ERROR ").unwrap().1.to_string();
    assert!(msg.contains(bad.path), "path missing: {msg}");
    if !bad.password.is_empty() {
        let scrubbed = log.replace(allowed, "");
        assert!(!scrubbed.contains(bad.password), "password in log:\n{log}");
    }
    eprintln!("{msg}");
    let (_config, rest) = msg.split_once(": ").expect("CONFIG: KEY: message");
    let (key, rest) = rest.split_once(": ").expect("KEY: message");
    (key.to_string(), rest.to_string())
}

fn good_path() -> String {
    fixture("openssl3-default.p12")
}

/// `bad` as the issuer keystore (TLS on a good one), then as the TLS keystore (issuer on a good
/// one): both runs fail with the same message, which is returned.
fn fails_both_ways(bad: Store, allowed: &str) -> String {
    let good = good_path();
    let good = store(&good, PW, "ballerina");
    let (issuer_key, as_issuer) = fails_keyed(good, bad, bad, allowed);
    let (listener_key, as_listener) = fails_keyed(bad, good, bad, allowed);
    assert_eq!(as_issuer, as_listener);
    // The same fault, blamed on the key that pointed there.
    let field = issuer_key
        .strip_prefix("apikey.issuer.tokenConfig.")
        .unwrap_or_else(|| panic!("{issuer_key}"));
    assert!(
        ["keyStorePath", "certificateAlias"].contains(&field),
        "{field}"
    );
    assert_eq!(listener_key, format!("listenerConfig.{field}"));
    as_issuer
}

#[test]
fn missing_file() {
    let dir = TempDir::new("ks-missing");
    let path = dir.0.join("does-not-exist.p12");
    let path = path_str(&path);
    let msg = fails_both_ways(store(path, WRONG, "ballerina"), "");
    assert_eq!(
        msg,
        format!("keystore {path}: cannot read file: No such file or directory (os error 2)")
    );
}

#[test]
fn unreadable_file() {
    let dir = TempDir::new("ks-unreadable");
    // A directory cannot be read as a file, whoever we run as.
    let sub = dir.0.join("keystore.p12");
    std::fs::create_dir(&sub).unwrap();
    let path = path_str(&sub);
    let msg = fails_both_ways(store(path, WRONG, "ballerina"), "");
    assert_eq!(
        msg,
        format!("keystore {path}: cannot read file: Is a directory (os error 21)")
    );

    // A symbolic link loop cannot be opened, whoever we run as (CI runs as root).
    let (a, b) = (dir.0.join("loop-a.p12"), dir.0.join("loop-b.p12"));
    std::os::unix::fs::symlink(&b, &a).unwrap();
    std::os::unix::fs::symlink(&a, &b).unwrap();
    let path = path_str(&a);
    let msg = fails_both_ways(store(path, PW, "ballerina"), "");
    assert_eq!(
        msg,
        format!(
            "keystore {path}: cannot read file: Too many levels of symbolic links (os error 40)"
        )
    );

    // chmod 000: only meaningful when permissions apply to us (not as root); the two cases
    // above hold for root too.
    use std::os::unix::fs::PermissionsExt;
    let file = dir.write(
        "locked.p12",
        std::fs::read(fixture("openssl3-default.p12")).unwrap(),
    );
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::read(&file).is_ok() {
        eprintln!(
            "skipping the chmod 000 sub-case: this process can read a mode 000 file \
             (running as root), so the binary could too"
        );
        return;
    }
    let path = path_str(&file);
    let msg = fails_both_ways(store(path, PW, "ballerina"), "");
    assert_eq!(
        msg,
        format!("keystore {path}: cannot read file: Permission denied (os error 13)")
    );
}

#[test]
fn not_pkcs12_and_truncated() {
    for name in ["not-pkcs12.p12", "truncated.p12"] {
        let path = fixture(name);
        let msg = fails_both_ways(store(&path, WRONG, "ballerina"), "");
        let prefix = format!("keystore {path}: not a PKCS#12 keystore (DER parse failed: ");
        assert!(msg.starts_with(&prefix), "{msg}");
        assert!(msg.ends_with(')'), "{msg}");
    }
}

#[test]
fn corrupted_mac_is_reported_as_wrong_password() {
    let path = fixture("corrupted.p12");
    // The right password: only the flipped MAC byte is wrong.
    let msg = fails_both_ways(store(&path, PW, "ballerina"), "");
    assert_eq!(
        msg,
        format!("keystore {path}: wrong password (MAC verification failed)")
    );
}

#[test]
fn wrong_password() {
    for name in [
        "openssl3-default.p12",
        "openssl-legacy.p12",
        "keytool-java17.p12",
        "empty-password.p12",
    ] {
        let path = fixture(name);
        let msg = fails_both_ways(store(&path, WRONG, "ballerina"), "");
        assert_eq!(
            msg,
            format!("keystore {path}: wrong password (MAC verification failed)")
        );
    }
    // Empty password on a keystore that has one.
    let path = fixture("rsa3072.p12");
    let msg = fails_both_ways(store(&path, "", "ballerina"), "");
    assert_eq!(
        msg,
        format!("keystore {path}: wrong password (MAC verification failed)")
    );
    // No MAC: the decryption padding gives it away.
    let path = fixture("nomac.p12");
    let msg = fails_both_ways(store(&path, WRONG, "ballerina"), "");
    assert_eq!(
        msg,
        format!("keystore {path}: wrong password (keystore has no MAC; decryption failed)")
    );
}

#[test]
fn alias_not_found_lists_the_aliases() {
    let path = fixture("two-entries.p12");
    let list = r#"["ballerina", "wso2carbon"]"#;
    // The password is also an alias here: only the alias list may contain it.
    let msg = fails_both_ways(store(&path, PW, "wso2"), list);
    assert_eq!(
        msg,
        format!("keystore {path}: no key entry with alias \"wso2\"; available aliases: {list}")
    );
    let path = fixture("ec-p256.p12");
    let msg = fails_both_ways(store(&path, Q, "Ballerina"), "");
    assert_eq!(
        msg,
        format!(
            "keystore {path}: no key entry with alias \"Ballerina\"; \
             available aliases: [\"ballerina\"]"
        )
    );
}

#[test]
fn key_and_certificate_do_not_match() {
    let path = fixture("key-cert-mismatch.p12");
    let msg = fails_both_ways(store(&path, Q, "ballerina"), "");
    assert_eq!(
        msg,
        format!(
            "keystore {path}: entry \"ballerina\": private key does not match the \
             certificate's public key"
        )
    );
}

#[test]
fn unsupported_algorithm_names_oid_and_supported() {
    let path = fixture("unsupported-rc4.p12");
    // The right password (the MAC verifies), so the RC4-encrypted key bag is reached.
    let msg = fails_both_ways(store(&path, PW, "ballerina"), "");
    let prefix = format!(
        "keystore {path}: unsupported encryption algorithm 1.2.840.113549.1.12.1.1; supported: "
    );
    assert!(msg.starts_with(&prefix), "{msg}");
    for name in [
        "PBES2",
        "AES-128/192/256-CBC",
        "pbeWithSHAAnd3-KeyTripleDES-CBC",
    ] {
        assert!(msg.contains(name), "{msg}");
    }
}

#[test]
fn key_without_certificate() {
    let path = fixture("key-only.p12");
    let msg = fails_both_ways(store(&path, Q, "ballerina"), "");
    assert_eq!(
        msg,
        format!("keystore {path}: entry \"ballerina\" has a private key but no certificate")
    );
}

/// An Ed448 key: no algorithm here signs with it, and the one line says what it is and which
/// key types sign what.
#[test]
fn unsupported_key_type_cannot_sign() {
    let path = format!("{ROOT}/tests/fixtures/algorithms/ed448.p12");
    let ed448 = store(&path, PW, "ed448");
    let good = good_path();
    let (key, msg) = fails_keyed(store(&good, PW, "ballerina"), ed448, ed448, "");
    assert_eq!(key, "apikey.issuer.tokenConfig.keyStorePath");
    assert_eq!(
        msg,
        format!(
            "{path} (entry \"ed448\"): it is an Ed448 key, which no supported algorithm signs \
             (RSA keys sign RS256 or PS256, EC P-256 ES256, EC P-384 ES384, Ed25519 EdDSA)"
        )
    );
    // Also when it is the only keystore (listener too).
    assert_eq!(fails(ed448, ed448, ed448, ""), msg);
}
