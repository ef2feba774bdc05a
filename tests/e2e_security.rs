//! Security properties end to end, against the real binary: the brute-force throttle's
//! bookkeeping and secrets kept out of error messages.
mod common;
use common::*;
use std::process::Command;
use std::time::Duration;

const WRONG: &str = "Basic YWRtaW46d3Jvbmc="; // admin:wrong

fn get(c: &mut Client, auth: Option<&str>) -> u16 {
    let h = auth.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    c.get("/apikey", &h).status
}

#[test]
fn requests_without_credentials_are_not_counted_as_failures() {
    let srv = Server::start(&default_config(""));
    let mut c = srv.client();
    // Far more than the five free failures: were they counted, the address would be locked.
    for _ in 0..20 {
        assert_eq!(get(&mut c, None), 401);
    }
    assert_eq!(get(&mut c, Some(ADMIN)), 200);
}

#[test]
fn a_reload_keeps_the_failure_counts() {
    // Failures answered at once: the lock below lasts only 1 s.
    let srv = Server::start(&default_config("[server]\nfailedLoginDelayMs = 1\n"));
    let mut c = srv.client();
    for _ in 0..5 {
        assert_eq!(get(&mut c, Some(WRONG)), 401);
    }
    let ok = Command::new("kill")
        .args(["-HUP", &srv.child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    assert!(
        srv.wait_log("reloaded", Duration::from_secs(10)),
        "{}",
        srv.log_text()
    );
    // The sixth failure in the window locks the address (for 1 s): only if the reload kept the
    // first five. The two requests go back to back on one connection, well inside that second.
    assert_eq!(get(&mut c, Some(WRONG)), 401);
    assert_eq!(
        get(&mut c, Some(WRONG)),
        429,
        "the reload reset the throttle"
    );
}

#[test]
fn a_toml_syntax_error_never_prints_the_secret() {
    let dir = TempDir::new("toml-secret");
    let text = default_config("").replace(
        "[listenerConfig]",
        "[listenerConfig]\nkeyStorePassword = \"Sup3rS3cret\n",
    );
    assert!(text.contains("Sup3rS3cret"));
    let conf = dir.write("micro-gw.conf", text);
    for args in [
        vec!["check-config", "--config", path_str(&conf)],
        vec!["--config", path_str(&conf)],
    ] {
        let out = Command::new(BIN).args(&args).output().unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{args:?}: {all}");
        assert!(!all.contains("Sup3r"), "{args:?} printed the secret: {all}");
        assert!(
            all.contains("listenerConfig.keyStorePassword") && all.contains("line "),
            "{args:?}: {all}"
        );
    }
}

#[test]
fn check_config_warns_when_a_hash_outlasts_the_failed_login_delay() {
    let hash = apikey_sts::auth::hash_password(b"pw", 100_000).unwrap();
    let dir = TempDir::new("slow-hash-warning");
    let run = |delay_ms: u32| {
        let conf = dir.write(
            "micro-gw.conf",
            default_config(&format!(
                "[server]\nfailedLoginDelayMs = {delay_ms}\n\n[b7a.users.carol]\npassword = '{hash}'\n"
            )),
        );
        let out = Command::new(BIN)
            .args(["check-config", "--config", path_str(&conf)])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // 100,000 iterations take milliseconds: more than 1 ms, far less than 10 s.
    let warned = run(1);
    assert!(
        warned.contains("user carol's password hash (100000 PBKDF2 iterations)"),
        "{warned}"
    );
    let quiet = run(10_000);
    assert!(!quiet.contains("carol"), "{quiet}");
}

#[test]
fn expect_100_continue_waits_for_the_credentials() {
    let srv = Server::start(&default_config(""));
    let head = |auth: &str| {
        format!(
            "POST /apikey HTTP/1.1\r\nHost: localhost\r\n{auth}Expect: 100-continue\r\n\
             Content-Type: application/json\r\nContent-Length: 16000\r\n\r\n"
        )
    };
    // Wrong, then missing, credentials: the final answer comes from the head alone. The client
    // never sends its 16,000 bytes, and is not asked to.
    for auth in [format!("Authorization: {WRONG}\r\n"), String::new()] {
        let mut c = srv.client();
        c.send(head(&auth).as_bytes());
        let r = c.read_response_or_interim();
        assert_eq!(r.status, 401, "{auth:?}: {}", r.text());
        assert_eq!(r.header("connection"), Some("close"));
    }
    // Good credentials: 100 Continue, then the body, then the key.
    let mut c = srv.client();
    c.send(head(&format!("Authorization: {ADMIN}\r\n")).as_bytes());
    assert_eq!(c.read_response_or_interim().status, 100);
    let body = format!("{{\"validityTime\":60{}}}", " ".repeat(16000 - 19));
    assert_eq!(body.len(), 16000);
    c.send(body.as_bytes());
    assert_eq!(c.read_response().status, 200);
}

#[test]
fn secrets_readable_by_every_local_user_are_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("modes");
    let ks = dir.write("ks.p12", std::fs::read(dev_keystore()).unwrap());
    let conf = dir.write(
        "micro-gw.conf",
        default_config("").replace(&dev_keystore(), path_str(&ks)),
    );
    let warnings = |conf_mode: u32, ks_mode: u32| {
        std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(conf_mode)).unwrap();
        std::fs::set_permissions(&ks, std::fs::Permissions::from_mode(ks_mode)).unwrap();
        let out = Command::new(BIN)
            .args(["check-config", "--config", path_str(&conf)])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains("readable by every local user"))
            .map(String::from)
            .collect::<Vec<_>>()
    };
    let both = warnings(0o644, 0o604);
    assert_eq!(both.len(), 2, "{both:?}");
    assert!(both.iter().any(|w| w.contains(path_str(&conf))), "{both:?}");
    assert!(both.iter().any(|w| w.contains(path_str(&ks))), "{both:?}");
    assert_eq!(warnings(0o640, 0o600), Vec::<String>::new());
}
