//! Drop-in for a real Microgateway installation: a config shaped like the distribution's own
//! (`tests/fixtures/micro-gw-distribution.conf`), in a Microgateway home layout, starts unchanged
//! but for its address, from the home folder with a relative `--config` and from elsewhere with
//! an absolute one. A key fetched with curl verifies against the keystore's certificate
//! (openssl), and every key apikey-sts does not use is named in one warning.
mod common;
use common::*;
use std::path::Path;
use std::process::{Command, Output};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/micro-gw-distribution.conf"
);

/// The keys and sections of the fixture that apikey-sts does not use.
const UNUSED: [&str; 10] = [
    "[listenerConfig.httpPort]",
    "[listenerConfig.trustStorePath]",
    "[listenerConfig.trustStorePassword]",
    "[listenerConfig.tokenListenerPort]",
    "[keyManager]",
    "[keymanager]",
    "[jwtTokenConfig]",
    "[analytics]",
    "[httpClients]",
    "[throttlingConfig]",
];

/// Where a Microgateway home keeps its config.
const CONF: &str = "conf/micro-gw.conf";
/// Where a Microgateway home keeps the keystore the original's defaults name.
const KEYSTORE: &str = "runtime/bre/security/ballerinaKeystore.p12";

/// A Microgateway home: `conf/micro-gw.conf` (the fixture, on an ephemeral loopback port) and
/// `runtime/bre/security/ballerinaKeystore.p12` (the development keystore: alias `ballerina`,
/// password `ballerina`, as the distribution's).
fn mgw_home() -> TempDir {
    let home = TempDir::new("mgw-home");
    std::fs::create_dir_all(home.0.join("conf")).unwrap();
    std::fs::create_dir_all(home.0.join(KEYSTORE).parent().unwrap()).unwrap();
    std::fs::copy(dev_keystore(), home.0.join(KEYSTORE)).unwrap();
    let text = std::fs::read_to_string(FIXTURE).unwrap();
    let text = text
        .replace("host = \"0.0.0.0\"", "host = \"127.0.0.1\"")
        .replace("httpsPort = 9095", "httpsPort = 0");
    assert!(text.contains("httpsPort = 0") && text.contains("\"127.0.0.1\""));
    home.write(CONF, text);
    home
}

/// The server, run in `cwd` with `--config config_arg` and no `MGW_RUNTIME_HOME`.
fn start(home: TempDir, cwd: &Path, config_arg: &Path) -> Server {
    let config = home.0.join(CONF);
    let mut cmd = Command::new(BIN);
    cmd.current_dir(cwd)
        .arg("--config")
        .arg(config_arg)
        .env_remove("MGW_RUNTIME_HOME");
    Server::spawn(home, config, cmd).unwrap_or_else(|log| panic!("did not start:\n{log}"))
}

/// `curl -k -u admin:admin https://ADDR/apikey` gets a key that openssl verifies against the
/// certificate of the home's keystore.
fn serves_verifiable_keys(srv: &Server) {
    let out = Command::new("curl")
        .args(["-sS", "-k", "-u", "admin:admin"])
        .arg(format!("https://{}/apikey", srv.addr))
        .output()
        .expect("curl is installed (tests/install-tools.sh)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap();
    let cert = cert_der_of(path_str(&srv.dir.0.join(KEYSTORE)), "ballerina");
    assert!(openssl_verifies(&token, &cert), "{token}");
    assert_eq!(header(&token)["kid"], "ballerina");
    let c = claims(&token);
    assert_eq!(c["iss"], "https://localhost:9095/apikey");
    assert_eq!(c["sub"], "admin");
    assert!(c.get("exp").is_none(), "validityTime = -1: {c}");
}

/// Each unused key and section in exactly one warning; nothing used is called unused.
fn warns_once_per_unused_key(log: &str) {
    let warnings: Vec<&str> = log.lines().filter(|l| l.contains("WARN")).collect();
    for name in UNUSED {
        let n = warnings.iter().filter(|l| l.contains(name)).count();
        assert_eq!(n, 1, "{name} is named {n} times in:\n{log}");
    }
    let unused: Vec<&&str> = warnings.iter().filter(|l| l.contains("ignoring")).collect();
    assert_eq!(unused.len(), UNUSED.len(), "{log}");
    for used in [
        "[listenerConfig.host]",
        "[listenerConfig.httpsPort]",
        "[listenerConfig.keyStore",
        "[b7a",
        "[apikey",
    ] {
        assert!(
            !unused.iter().any(|l| l.contains(used)),
            "{used} called unused:\n{log}"
        );
    }
    // The issuer's keystore comes from the original's defaults, and that is said aloud.
    for defaulted in [
        "apikey.issuer.tokenConfig.keyStorePath is not set",
        "apikey.issuer.tokenConfig.keyStorePassword is not set",
    ] {
        assert!(log.contains(defaulted), "{defaulted}:\n{log}");
    }
}

#[test]
fn distribution_config_starts_from_the_home_folder_with_a_relative_config() {
    let home = mgw_home();
    let cwd = home.0.clone();
    let srv = start(home, &cwd, Path::new(CONF));
    serves_verifiable_keys(&srv);
    warns_once_per_unused_key(&srv.log_text());
}

#[test]
fn distribution_config_starts_from_elsewhere_with_an_absolute_config() {
    let home = mgw_home();
    let config = home.0.join(CONF);
    let elsewhere = TempDir::new("elsewhere");
    let srv = start(home, &elsewhere.0, &config);
    serves_verifiable_keys(&srv);
    warns_once_per_unused_key(&srv.log_text());
}

fn check_config(cwd: &Path, config_arg: &Path, runtime_home: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(cwd)
        .arg("check-config")
        .arg("--config")
        .arg(config_arg);
    match runtime_home {
        Some(h) => cmd.env("MGW_RUNTIME_HOME", h),
        None => cmd.env_remove("MGW_RUNTIME_HOME"),
    };
    cmd.output().unwrap()
}

#[test]
fn runtime_home_is_resolved_once_and_a_relative_one_against_the_working_directory() {
    let home = mgw_home();
    let name = home.0.file_name().unwrap().to_str().unwrap().to_string();
    let above = home.0.parent().unwrap();
    // A relative --config from the folder above the home: `<name>/conf/..` is the home.
    let out = check_config(above, &Path::new(&name).join(CONF), None);
    assert!(out.status.success(), "{out:?}");
    // The config outside any home, and a relative MGW_RUNTIME_HOME: relative to the working
    // directory, not to the config's folder.
    let etc = TempDir::new("etc");
    let conf = etc.write("micro-gw.conf", std::fs::read(home.0.join(CONF)).unwrap());
    let out = check_config(above, &conf, Some(&name));
    assert!(out.status.success(), "{out:?}");
    let out = check_config(&etc.0, &conf, Some(&name));
    assert!(!out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    let expected = etc.0.join(&name).join(KEYSTORE);
    assert!(err.contains(path_str(&expected)), "{err}");
}

#[test]
fn listener_size_limits_are_the_servers_at_their_edges() {
    let srv = Server::start(&default_config("").replace(
        "httpsPort = 0",
        "httpsPort = 0\n  maxUriLength = 64\n  maxEntityBodySize = 32",
    ));
    let log = srv.log_text();
    assert!(!log.contains("[listenerConfig.maxUriLength]"), "{log}");
    let mut c = srv.client();
    let path = |len: usize| format!("/{}", "a".repeat(len - 1));
    assert_eq!(c.get(&path(64), "").status, 404);
    assert_eq!(srv.client().get(&path(65), "").status, 414);
    let post = |body: &str| {
        let mut c = srv.client();
        c.send(
            format!(
                "POST /apikey HTTP/1.1\r\nHost: localhost\r\nAuthorization: {ADMIN}\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
        c.read_response().status
    };
    let body = format!("{:<32}", "{\"validityTime\":600}");
    assert_eq!(post(&body), 200);
    assert_eq!(post(&format!("{body} ")), 413);
}
