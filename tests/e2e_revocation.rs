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
    let root = apikey_sts::auth::hash_password(b"root", 10_000).unwrap();
    let bob = apikey_sts::auth::hash_password(b"bob", 10_000).unwrap();
    default_config(&format!(
        "[validator]\nport = 0\n\n[b7a.users.root]\npassword = '{root}'\nscopes = \"apikey:admin\"\n\
         [b7a.users.bob]\npassword = '{bob}'\n"
    ))
    .replace("file = \"revocations.log\"", &format!("file = \"{}\"", log.display()))
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
    assert_eq!(
        post(
            &mut c,
            BOB_AUTH,
            "application/json",
            &format!("{{\"jti\":\"{jti}\"}}")
        )
        .status,
        403
    );
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
    assert_eq!(
        c.get("/apikey/revoked", &format!("Authorization: {BOB_AUTH}\r\n"))
            .status,
        403
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
                    "POST /apikey/revoke HTTP/1.1\r\nAuthorization: {ROOT_AUTH}\r\nContent-Length: {}\r\n\r\njti={jti}",
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

#[test]
fn compaction_under_concurrent_revocations_loses_nothing() {
    let dir = TempDir::new("rev-compact");
    let log = log_path(&dir);
    let srv_dir = TempDir::new("rev-srv");
    let text = config(&log).replace(
        &format!("file = \"{}\"", log.display()),
        &format!("file = \"{}\"\n  compactEvery = 8", log.display()),
    );
    let conf = srv_dir.write("micro-gw.conf", text);
    let srv = Server::start_with(srv_dir, conf, &[]).unwrap_or_else(|l| panic!("{l}"));
    // 40 short-lived keys, revoked by their holder: dead weight once they expire.
    let mut c = srv.client();
    let mut short = Vec::new();
    for _ in 0..40 {
        let body = r#"{"validityTime":1}"#;
        c.send(format!("POST /apikey HTTP/1.1\r\nAuthorization: {ADMIN}\r\nContent-Length: {}\r\n\r\n{body}", body.len()).as_bytes());
        let t = c.read_response().text();
        assert_eq!(form(&mut c, ADMIN, &format!("token={t}")).status, 200);
        short.push(claims(&t)["jti"].as_str().unwrap().to_string());
    }
    std::thread::sleep(Duration::from_millis(2100));
    // One login first: root's PBKDF2 result is then cached, and four clients logging in at
    // once are not turned away by the slow-hash gate (503, tested in e2e_ops).
    assert_eq!(
        c.get(
            "/apikey/revoked",
            &format!("Authorization: {ROOT_AUTH}\r\n")
        )
        .status,
        200
    );
    // Four clients revoke permanent jtis at once; compactions run in between.
    let addr = srv.addr;
    let workers: Vec<_> = (0..4)
        .map(|w| {
            std::thread::spawn(move || {
                let mut c = Client::connect(addr, &dev_cert());
                (0..40)
                    .map(|i| {
                        let jti = format!("perm-{w}-{i}");
                        let r = form(&mut c, ROOT_AUTH, &format!("jti={jti}"));
                        assert_eq!(r.status, 200);
                        jti
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let perm: Vec<String> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        short.iter().all(|j| !text.contains(j.as_str())),
        "expired entries were not compacted away"
    );
    drop(c);
    drop(srv);
    let srv = start(&dir, &log);
    let listed: std::collections::HashSet<String> = revoked_jtis(&srv).into_iter().collect();
    assert_eq!(listed.len(), perm.len());
    for j in &perm {
        assert!(listed.contains(j.as_str()), "{j} lost");
    }
}
