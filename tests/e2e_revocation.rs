//! Revocation end to end: revoke, validate -> 401, restart -> still 401, kill -9 mid-stream,
//! torn log tail.
mod common;
use common::*;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const ROOT_AUTH: &str = "Basic cm9vdDpyb290"; // root:root
const BOB_AUTH: &str = "Basic Ym9iOmJvYg=="; // bob:bob

/// The bundled config plus a validator, an admin-scoped user and a plain one; the revocation
/// log lives at `log` (outside the server's temp dir, so it survives restarts).
fn config(log: &Path) -> String {
    config_with(log, "")
}

/// As `config`, with more keys in `[apikey.revocation]`.
fn config_with(log: &Path, revocation_keys: &str) -> String {
    let root = apikey_sts::auth::hash_password(b"root", 10_000).unwrap();
    let bob = apikey_sts::auth::hash_password(b"bob", 10_000).unwrap();
    default_config(&format!(
        "[validator]\nport = 0\n\n[b7a.users.root]\npassword = '{root}'\nscopes = \"apikey:admin\"\n\
         [b7a.users.bob]\npassword = '{bob}'\n"
    ))
    .replace(
        "file = \"revocations.log\"",
        &format!("file = \"{}\"\n{revocation_keys}", log.display()),
    )
}

fn start(dir: &TempDir, log: &Path) -> Server {
    let srv_dir = TempDir::new("rev-srv");
    let conf = srv_dir.write("micro-gw.conf", config(log));
    let _ = dir;
    Server::start_with(srv_dir, conf, &[]).unwrap_or_else(|l| panic!("{l}"))
}

fn validate(addr: SocketAddr, token: &str) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(
        format!(
            "GET /validate HTTP/1.1\r\nHost: x\r\napikey: {token}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    read_response(&mut s, &mut Vec::new()).unwrap().status
}

fn post(c: &mut Client, auth: &str, content_type: &str, body: &str) -> Resp {
    c.send(
        format!(
            "POST /apikey/revoke HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    c.read_response()
}

fn form(c: &mut Client, auth: &str, body: &str) -> Resp {
    post(c, auth, "application/x-www-form-urlencoded", body)
}

/// The jtis `GET /apikey/revoked` lists, oldest first.
fn revoked_jtis(srv: &Server) -> Vec<String> {
    let list = srv
        .client()
        .get(
            "/apikey/revoked",
            &format!("Authorization: {ROOT_AUTH}\r\n"),
        )
        .json();
    list["revoked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["jti"].as_str().unwrap().to_string())
        .collect()
}

fn log_path(dir: &TempDir) -> PathBuf {
    dir.0.join("revocations.log")
}

#[test]
fn revoke_validate_restart_and_permissions() {
    let dir = TempDir::new("rev");
    let log = log_path(&dir);
    let srv = start(&dir, &log);
    let v = srv.plain_addr.expect("validator listener");
    let mut c = srv.client();
    let admin_token = c.apikey().text();
    let other_token = c.apikey().text();
    assert_eq!(validate(v, &admin_token), 200);

    // admin revokes its own key by presenting it (form body, RFC 7009 style).
    let r = form(
        &mut c,
        ADMIN,
        &format!("token={admin_token}&token_type_hint=access_token"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(validate(v, &admin_token), 401);
    assert_eq!(validate(v, &other_token), 200);
    // Revoking again, or an unknown token, is still 200.
    assert_eq!(
        form(&mut c, ADMIN, &format!("token={admin_token}")).status,
        200
    );
    assert_eq!(form(&mut c, ADMIN, "token=not.a.token").status, 200);
    // bob may not revoke admin's key, nor anything by jti.
    let jti = claims(&other_token)["jti"].as_str().unwrap().to_string();
    assert_eq!(
        form(&mut c, BOB_AUTH, &format!("token={other_token}")).status,
        403
    );
    let by_jti = post(
        &mut c,
        BOB_AUTH,
        "application/json",
        &format!("{{\"jti\":\"{jti}\"}}"),
    );
    assert_eq!(by_jti.status, 403);
    // A missing scope is "forbidden" (900908), not an unclassified error.
    assert_eq!(by_jti.json()["fault"]["code"], 900908, "{}", by_jti.text());
    assert_eq!(validate(v, &other_token), 200);
    // Wrong credentials: 401; no target: 400.
    assert_eq!(
        form(&mut c, "Basic cm9vdDp4", &format!("jti={jti}")).status,
        401
    );
    assert_eq!(form(&mut c, ROOT_AUTH, "nothing=here").status, 400);
    // root (apikey:admin) revokes by jti, JSON body.
    let r = post(
        &mut c,
        ROOT_AUTH,
        "application/json",
        &format!("{{\"jti\":\"{jti}\"}}"),
    );
    assert_eq!(r.status, 200);
    assert_eq!(validate(v, &other_token), 401);
    // The listing: admins only.
    let list = c.get(
        "/apikey/revoked",
        &format!("Authorization: {ROOT_AUTH}\r\n"),
    );
    assert_eq!(list.status, 200);
    assert_eq!(list.json()["count"], 2);
    // The bundled development admin has the apikey:admin scope, as README's examples assume.
    let listed_by_admin = c.get("/apikey/revoked", &format!("Authorization: {ADMIN}\r\n"));
    assert_eq!(listed_by_admin.status, 200, "{}", listed_by_admin.text());
    let listing = c.get("/apikey/revoked", &format!("Authorization: {BOB_AUTH}\r\n"));
    assert_eq!(listing.status, 403);
    assert_eq!(
        listing.json()["fault"]["code"],
        900908,
        "{}",
        listing.text()
    );
    assert_eq!(
        c.get("/apikey/revoke", &format!("Authorization: {ROOT_AUTH}\r\n"))
            .status,
        405
    );

    // Restart: both stay revoked.
    drop(c);
    drop(srv);
    let srv = start(&dir, &log);
    let v = srv.plain_addr.unwrap();
    assert_eq!(validate(v, &admin_token), 401);
    assert_eq!(validate(v, &other_token), 401);
    let fresh = srv.client().apikey().text();
    assert_eq!(validate(v, &fresh), 200);
    // `verify` reads the same log (without writing it) and agrees.
    let verify = |t: &str| {
        std::process::Command::new(BIN)
            .args(["verify", t, "--config", path_str(&srv.config)])
            .output()
            .unwrap()
    };
    let out = verify(&admin_token);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("revoked"),
        "{out:?}"
    );
    assert_eq!(verify(&fresh).status.code(), Some(0));
}

#[test]
fn kill_9_mid_stream_loses_no_acknowledged_revocation() {
    let dir = TempDir::new("rev-kill");
    let log = log_path(&dir);
    let mut srv = start(&dir, &log);
    let addr = srv.addr;
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let acked2 = std::sync::Arc::clone(&acked);
    let writer = std::thread::spawn(move || {
        let mut c = Client::connect(addr, &dev_cert());
        for i in 0..100_000 {
            let jti = format!("stream-{i}");
            c.send(
                format!(
                    "POST /apikey/revoke HTTP/1.1\r\nHost: localhost\r\nAuthorization: {ROOT_AUTH}\r\nContent-Length: {}\r\n\r\njti={jti}",
                    jti.len() + 4
                )
                .as_bytes(),
            );
            match read_response(&mut c.tls, &mut Vec::new()) {
                Some(r) if r.status == 200 => acked2.lock().unwrap().push(jti),
                _ => return,
            }
        }
    });
    let t = Instant::now();
    while acked.lock().unwrap().len() < 50 && t.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(10));
    }
    srv.child.kill().unwrap(); // SIGKILL
    srv.child.wait().unwrap();
    writer.join().unwrap();
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 50, "only {} acknowledged", acked.len());

    let srv = start(&dir, &log);
    let listed: std::collections::HashSet<String> = revoked_jtis(&srv).into_iter().collect();
    for jti in &acked {
        assert!(
            listed.contains(jti.as_str()),
            "{jti} was acknowledged but lost"
        );
    }
}

#[test]
fn torn_log_tail_loads_and_is_reported() {
    let dir = TempDir::new("rev-torn");
    let log = log_path(&dir);
    // Make a real log with two revocations, then cut the last record in half.
    {
        let srv = start(&dir, &log);
        let mut c = srv.client();
        assert_eq!(form(&mut c, ROOT_AUTH, "jti=first-one").status, 200);
        assert_eq!(form(&mut c, ROOT_AUTH, "jti=second-one").status, 200);
    }
    let bytes = std::fs::read(&log).unwrap();
    std::fs::write(&log, &bytes[..bytes.len() - 10]).unwrap();
    let srv = start(&dir, &log);
    assert!(
        srv.wait_log("torn last record", Duration::from_secs(5)),
        "{}",
        srv.log_text()
    );
    assert_eq!(revoked_jtis(&srv), vec!["first-one".to_string()]);
    // Damage in the middle stops startup with a clear message.
    drop(srv);
    let mut bytes = std::fs::read(&log).unwrap();
    bytes.extend_from_slice(b"garbage line\nlast-line 1 - 0000000000000000\n");
    std::fs::write(&log, &bytes).unwrap();
    let srv_dir = TempDir::new("rev-srv");
    let conf = srv_dir.write("micro-gw.conf", config(&log));
    let err = Server::start_with(srv_dir, conf, &[])
        .err()
        .expect("must refuse a damaged log");
    assert!(err.contains("is damaged"), "{err}");
}

/// A key signed with the development keystore's private key, as the server would sign it, but
/// with any `exp`: here one so far in the past that no configuration could accept it.
fn signed_key(jti: &str, exp: i64) -> String {
    use apikey_sts::jwt;
    let ks = apikey_sts::keystore::Keystore::load(Path::new(&dev_keystore()), "ballerina").unwrap();
    let key = ks.entry("ballerina").unwrap().rsa_private_key().unwrap();
    let claims = jwt::Claims {
        sub: "admin".into(),
        iss: "https://localhost:9095/apikey".into(),
        aud: None,
        iat: exp - 10,
        exp: Some(exp),
        jti: jti.into(),
        keytype: "PRODUCTION".into(),
        allowed_apis: Vec::new(),
        permitted_ip: None,
        permitted_referer: None,
    };
    jwt::encode("ballerina", &claims, &jwt::RsaSigner::new(key)).unwrap()
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn compaction_under_concurrent_revocations_loses_nothing() {
    const COMPACT_EVERY: usize = 8;
    let dir = TempDir::new("rev-compact");
    let log = log_path(&dir);
    let srv_dir = TempDir::new("rev-srv");
    let text = config(&log).replace(
        &format!("file = \"{}\"", log.display()),
        &format!(
            "file = \"{}\"\n  compactEvery = {COMPACT_EVERY}",
            log.display()
        ),
    );
    let conf = srv_dir.write("micro-gw.conf", text);
    let srv = Server::start_with(srv_dir, conf, &[]).unwrap_or_else(|l| panic!("{l}"));
    // One login first: root's PBKDF2 result is then cached, and four clients logging in at
    // once are not turned away by the slow-hash gate (503, tested in e2e_ops).
    let mut c = srv.client();
    assert_eq!(
        c.get(
            "/apikey/revoked",
            &format!("Authorization: {ROOT_AUTH}\r\n")
        )
        .status,
        200
    );
    // Dead weight: keys that expired long before any clock skew could accept them, three for
    // each permanent jti (the log is rewritten once it holds over twice its live entries plus
    // compactEvery). They are signed up front so that the four clients below only revoke.
    let past = now_secs() - 2 * 3600;
    let batches: Vec<Vec<Option<String>>> = (0..4)
        .map(|w| {
            (0..40)
                .map(|i| (i % 4 != 0).then(|| signed_key(&format!("dead-{w}-{i}"), past)))
                .collect()
        })
        .collect();
    // Four clients at once, so that the log crosses its compaction threshold many times while
    // the others are appending.
    let addr = srv.addr;
    let workers: Vec<_> = batches
        .into_iter()
        .enumerate()
        .map(|(w, batch)| {
            std::thread::spawn(move || {
                let mut c = Client::connect(addr, &dev_cert());
                let mut perm = Vec::new();
                for (i, dead) in batch.iter().enumerate() {
                    let body = match dead {
                        Some(key) => format!("token={key}"),
                        None => {
                            perm.push(format!("perm-{w}-{i}"));
                            format!("jti=perm-{w}-{i}")
                        }
                    };
                    assert_eq!(form(&mut c, ROOT_AUTH, &body).status, 200);
                }
                perm
            })
        })
        .collect();
    let perm: Vec<String> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    let compactions = srv.log_text().matches("revocations: compacted").count();
    assert!(
        compactions >= 2,
        "{compactions} compactions during 160 concurrent revocations:\n{}",
        srv.log_text()
    );
    // The policy's bound: at each check (every COMPACT_EVERY appends) a log over
    // 2 * live + COMPACT_EVERY records is rewritten; dead entries may linger below that.
    let records = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .count();
    assert!(
        records <= 2 * perm.len() + 2 * COMPACT_EVERY,
        "{records} records for {} live entries",
        perm.len()
    );
    drop(c);
    drop(srv);
    // A restart drops every dead entry and keeps every live one.
    let srv = start(&dir, &log);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("dead-"), "dead entries survived a restart");
    let listed: std::collections::HashSet<String> = revoked_jtis(&srv).into_iter().collect();
    assert_eq!(listed.len(), perm.len());
    for j in &perm {
        assert!(listed.contains(j.as_str()), "{j} lost");
    }
}

#[test]
fn a_second_process_cannot_take_the_log() {
    let dir = TempDir::new("rev-second");
    let log = log_path(&dir);
    let a = start(&dir, &log);
    let mut c = a.client();
    let first = c.apikey().text();
    assert_eq!(form(&mut c, ADMIN, &format!("token={first}")).status, 200);
    let before = std::fs::read(&log).unwrap();
    let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&log).unwrap());

    // B: the same binary, the same config file.
    let out = std::process::Command::new(BIN)
        .args(["--config", path_str(&a.config)])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = out.id();
    let waiter = std::thread::spawn(move || out.wait_with_output().unwrap());
    let t = Instant::now();
    while !waiter.is_finished() && t.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    if !waiter.is_finished() {
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
        panic!("a second process started on a log another process holds");
    }
    let out = waiter.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].contains(path_str(&log)) && lines[0].contains("another process holds"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&log).unwrap(), before, "B changed the log");
    assert_eq!(
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&log).unwrap()),
        inode,
        "B replaced the log"
    );

    // A goes on; after A's restart, everything A acknowledged is still refused.
    let second = c.apikey().text();
    assert_eq!(form(&mut c, ADMIN, &format!("token={second}")).status, 200);
    drop(c);
    drop(a);
    let a = start(&dir, &log);
    let v = a.plain_addr.unwrap();
    assert_eq!(validate(v, &first), 401);
    assert_eq!(validate(v, &second), 401);
}

#[test]
fn a_revoked_key_stays_refused_after_exp_across_a_restart() {
    let dir = TempDir::new("rev-skew");
    let log = log_path(&dir);
    let srv = start(&dir, &log);
    let mut c = srv.client();
    let body = r#"{"validityTime":1}"#;
    c.send(
        format!(
            "POST /apikey HTTP/1.1\r\nHost: localhost\r\nAuthorization: {ADMIN}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    let token = c.read_response().text();
    let exp = claims(&token)["exp"].as_i64().unwrap();
    assert_eq!(form(&mut c, ADMIN, &format!("token={token}")).status, 200);
    drop(c);
    drop(srv);
    // Past exp, but inside the validator's default 60 s clock skew: a key nobody revoked would
    // still be accepted now. Waiting on the clock is the property under test.
    while now_secs() <= exp + 1 {
        std::thread::sleep(Duration::from_millis(100));
    }
    let srv = start(&dir, &log);
    assert_eq!(validate(srv.plain_addr.unwrap(), &token), 401);
    let out = std::process::Command::new(BIN)
        .args(["verify", &token, "--config", path_str(&srv.config)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("revoked"),
        "{out:?}"
    );
    // The control: an unrevoked key of the same age is still inside the skew and valid.
    let mut c = srv.client();
    c.send(
        format!(
            "POST /apikey HTTP/1.1\r\nHost: localhost\r\nAuthorization: {ADMIN}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    let fresh = c.read_response().text();
    let fresh_exp = claims(&fresh)["exp"].as_i64().unwrap();
    while now_secs() <= fresh_exp + 1 {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(validate(srv.plain_addr.unwrap(), &fresh), 200);
}

#[test]
fn a_user_holds_at_most_max_per_user_revocations_and_admins_more() {
    let dir = TempDir::new("rev-cap");
    let log = log_path(&dir);
    let srv_dir = TempDir::new("rev-srv");
    let conf = srv_dir.write("micro-gw.conf", config_with(&log, "maxPerUser = 2"));
    let srv = Server::start_with(srv_dir, conf, &[]).unwrap_or_else(|l| panic!("{l}"));
    let mut c = srv.client();
    let bob_keys: Vec<String> = (0..3)
        .map(|_| {
            c.get("/apikey", &format!("Authorization: {BOB_AUTH}\r\n"))
                .text()
        })
        .collect();
    for k in &bob_keys[..2] {
        assert_eq!(form(&mut c, BOB_AUTH, &format!("token={k}")).status, 200);
    }
    // Past the cap: a clear 403, and the key is not revoked.
    let r = form(&mut c, BOB_AUTH, &format!("token={}", bob_keys[2]));
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("maxPerUser"), "{}", r.text());
    assert_eq!(r.json()["fault"]["code"], 900908, "{}", r.text());
    // Revoking one already revoked is still fine.
    assert_eq!(
        form(&mut c, BOB_AUTH, &format!("token={}", bob_keys[0])).status,
        200
    );
    // An admin is not capped, and may revoke bob's third key.
    for i in 0..3 {
        assert_eq!(
            form(&mut c, ROOT_AUTH, &format!("jti=admin-{i}")).status,
            200
        );
    }
    assert_eq!(
        form(&mut c, ROOT_AUTH, &format!("token={}", bob_keys[2])).status,
        200
    );
    let v = srv.plain_addr.unwrap();
    for k in &bob_keys {
        assert_eq!(validate(v, k), 401);
    }
}
