//! Revocations shared through a real `redis-server` (tests/install-tools.sh installs it): three
//! apikey-sts nodes, one Redis each test, started on a free loopback port in a temp folder with
//! an fsync'd AOF and stopped by PID. Tests wait for events (a status code, a log line, a file's
//! content), each with a generous bound, never for a fixed time.
mod common;
use common::*;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ROOT_AUTH: &str = "Basic cm9vdDpyb290"; // root:root
/// Bound on every wait for something to propagate or recover.
const PATIENCE: Duration = Duration::from_secs(30);

fn redis_server() -> &'static str {
    let p = "/usr/bin/redis-server";
    assert!(
        Path::new(p).exists()
            || Command::new("redis-server")
                .arg("--version")
                .output()
                .is_ok(),
        "redis-server is missing: run tests/install-tools.sh"
    );
    if Path::new(p).exists() {
        p
    } else {
        "redis-server"
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One redis-server process; killed (by PID) on drop.
struct Redis {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    extra: Vec<String>,
}

impl Redis {
    fn start(dir: &TempDir, name: &str, extra: &[&str]) -> Redis {
        let d = dir.0.join(name);
        std::fs::create_dir_all(&d).unwrap();
        let mut r = Redis {
            child: None,
            port: free_port(),
            dir: d,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        r.restart();
        r
    }

    /// Starts (again) on the same port and folder, so it reads its AOF.
    fn restart(&mut self) {
        let child = Command::new(redis_server())
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(&self.dir)
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .args(["--daemonize", "no", "--logfile", "redis.log"])
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let end = Instant::now() + PATIENCE;
        while Instant::now() < end {
            if self.ping() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {} did not answer PING", self.port);
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn pid(&self) -> String {
        self.child.as_ref().unwrap().id().to_string()
    }

    /// One command over raw RESP (inline form), the reply's first line and bulk body.
    fn raw(&self, command: &str) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        s.write_all(format!("{command}\r\n").as_bytes()).ok()?;
        let mut r = BufReader::new(s);
        let mut first = String::new();
        r.read_line(&mut first).ok()?;
        if let Some(len) = first.strip_prefix('$') {
            let n: i64 = len.trim().parse().ok()?;
            if n < 0 {
                return Some(String::new());
            }
            let mut body = vec![0; n as usize + 2];
            std::io::Read::read_exact(&mut r, &mut body).ok()?;
            return Some(String::from_utf8_lossy(&body).into_owned());
        }
        Some(first)
    }

    fn ping(&self) -> bool {
        self.raw("PING")
            .is_some_and(|l| l.starts_with("+PONG") || l.starts_with("-NOAUTH"))
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.pid()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = Command::new("kill")
                .args(["-CONT", &c.id().to_string()])
                .status();
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A node's config: the bundled one plus a validator and an admin user, the revocations in
/// Redis at `url`, the snapshot at `snapshot`.
fn node_config(url: &str, snapshot: &Path, more: &str) -> String {
    let timeout = default_timeout(more);
    let root = apikey_sts::auth::hash_password(b"root", 10_000).unwrap();
    default_config(&format!(
        "[validator]\nport = 0\n\n[b7a.users.root]\npassword = '{root}'\nscopes = \"apikey:admin\"\n"
    ))
    .replace(
        "file = \"revocations.log\"",
        &format!(
            "file = \"{}\"\n  store = \"redis\"\n  redisUrl = \"{url}\"\n  {timeout}\n  \
             connectTimeoutMs = 500\n{more}",
            snapshot.display()
        ),
    )
}

/// The tests' short Redis timeout (1 s), unless `more` sets its own.
fn default_timeout(more: &str) -> &'static str {
    if more.contains("timeoutMs") {
        ""
    } else {
        "timeoutMs = 1000"
    }
}

fn try_node(url: &str, snapshot: &Path, more: &str) -> Result<Server, String> {
    let dir = TempDir::new("redis-node");
    let conf = dir.write("micro-gw.conf", node_config(url, snapshot, more));
    Server::start_with(dir, conf, &[])
}

fn node(url: &str, snapshot: &Path) -> Server {
    try_node(url, snapshot, "").unwrap_or_else(|l| panic!("node did not start:\n{l}"))
}

fn validate(srv: &Server, token: &str) -> u16 {
    let v = srv.plain_addr.expect("validator");
    validate_at(v, token)
}

fn validate_at(v: SocketAddr, token: &str) -> u16 {
    plain_get(v, "/validate", &format!("apikey: {token}\r\n")).status
}

fn revoke(srv: &Server, token: &str) -> Resp {
    let body = format!("token={token}");
    let mut c = srv.client();
    c.send(
        format!(
            "POST /apikey/revoke HTTP/1.1\r\nHost: x\r\nAuthorization: {ROOT_AUTH}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    c.read_response()
}

fn issue(srv: &Server) -> String {
    let r = srv.client().apikey();
    assert_eq!(r.status, 200, "{}", r.text());
    r.text()
}

/// Polls until `f` holds; panics with `what` after `PATIENCE`.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + PATIENCE;
    while Instant::now() < end {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for: {what}");
}

fn health(srv: &Server) -> serde_json::Value {
    plain_get(srv.plain_addr.unwrap(), "/health", "").json()
}

fn metric(srv: &Server, name: &str) -> Option<i64> {
    plain_get(srv.plain_addr.unwrap(), "/metrics", "")
        .text()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
}

struct Cluster {
    dir: TempDir,
    redis: Redis,
    nodes: Vec<Server>,
}

impl Cluster {
    fn start(tag: &str) -> Cluster {
        let dir = TempDir::new(tag);
        let redis = Redis::start(&dir, "redis", &[]);
        let nodes = (0..3)
            .map(|i| node(&redis.url(), &dir.0.join(format!("snap-{i}"))))
            .collect();
        Cluster { dir, redis, nodes }
    }

    fn snapshot(&self, i: usize) -> PathBuf {
        self.dir.0.join(format!("snap-{i}"))
    }
}

#[test]
fn a_revocation_on_one_node_is_refused_on_every_node() {
    let c = Cluster::start("redis-fanout");
    let token = issue(&c.nodes[0]);
    let other = issue(&c.nodes[1]);
    for n in &c.nodes {
        assert_eq!(validate(n, &token), 200);
        assert_eq!(metric(n, "apikey_sts_revocation_store_up"), Some(1));
        assert_eq!(health(n)["status"], "UP");
    }
    let r = revoke(&c.nodes[0], &token);
    assert_eq!(r.status, 200, "{}", r.text());
    // Acknowledged means in Redis: the key and the feed entry are there now.
    let jti = claims(&token)["jti"].as_str().unwrap().to_string();
    let rec = c.redis.raw(&format!("GET apikey-sts:rev:{jti}")).unwrap();
    assert!(rec.starts_with(&format!("{jti} ")), "{rec:?}");
    assert!(c
        .redis
        .raw("XLEN apikey-sts:feed")
        .unwrap()
        .starts_with(":1"));
    // The key expires when no validator can accept it any more: exp + the largest skew.
    let exp = claims(&token)["exp"].as_i64();
    let ttl = c
        .redis
        .raw(&format!("EXPIRETIME apikey-sts:rev:{jti}"))
        .unwrap();
    let want = exp.map_or(-1, |e| e + apikey_sts::config::MAX_CLOCK_SKEW_SECONDS);
    assert_eq!(ttl.trim(), format!(":{want}"));
    assert_eq!(
        validate(&c.nodes[0], &token),
        401,
        "the revoking node at once"
    );
    for n in &c.nodes[1..] {
        eventually("the other nodes refuse the key", || {
            validate(n, &token) == 401
        });
        assert_eq!(validate(n, &other), 200);
        let list = n
            .client()
            .get(
                "/apikey/revoked",
                &format!("Authorization: {ROOT_AUTH}\r\n"),
            )
            .json();
        assert_eq!(list["count"], 1, "{list}");
    }
    // Revoking again is idempotent.
    assert_eq!(revoke(&c.nodes[2], &token).status, 200);
}

#[test]
fn redis_stopped_revocations_503_validation_goes_on() {
    let c = Cluster::start("redis-stop");
    let revoked = issue(&c.nodes[0]);
    assert_eq!(revoke(&c.nodes[0], &revoked).status, 200);
    eventually("B refuses", || validate(&c.nodes[1], &revoked) == 401);
    let fresh = issue(&c.nodes[0]);
    c.redis.signal("-STOP");
    let t = Instant::now();
    let r = revoke(&c.nodes[0], &fresh);
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(t.elapsed() < PATIENCE);
    assert!(r.header("retry-after").is_some(), "{:?}", r.text());
    assert!(!r.text().contains("redis://"), "{}", r.text());
    for n in &c.nodes {
        assert_eq!(validate(n, &fresh), 200, "validation goes on");
        assert_eq!(validate(n, &revoked), 401, "with the last known set");
        eventually("health says degraded", || health(n)["status"] == "DEGRADED");
        assert_eq!(metric(n, "apikey_sts_revocation_store_up"), Some(0));
    }
    assert!(c.nodes[1].wait_log("validating with the last known set", PATIENCE));
    c.redis.signal("-CONT");
    for n in &c.nodes {
        eventually("health is UP again", || health(n)["status"] == "UP");
        eventually("metrics say up", || {
            metric(n, "apikey_sts_revocation_store_up") == Some(1)
        });
        let age = metric(n, "apikey_sts_revocation_store_sync_age_seconds").unwrap();
        assert!((0..5).contains(&age), "{age}");
    }
    assert_eq!(revoke(&c.nodes[0], &fresh).status, 200);
    for n in &c.nodes {
        eventually("all refuse after recovery", || validate(n, &fresh) == 401);
    }
}

#[test]
fn redis_killed_mid_stream_loses_no_acknowledged_revocation() {
    let mut c = Cluster::start("redis-kill");
    let tokens: Vec<String> = (0..120).map(|_| issue(&c.nodes[0])).collect();
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let acked2 = std::sync::Arc::clone(&acked);
    let addr = c.nodes[0].addr;
    let writer = std::thread::spawn(move || {
        let mut cl = Client::connect(addr, &dev_cert());
        for t in tokens {
            let body = format!("token={t}");
            cl.send(
                format!(
                    "POST /apikey/revoke HTTP/1.1\r\nHost: x\r\nAuthorization: {ROOT_AUTH}\r\n\
                     Content-Type: application/x-www-form-urlencoded\r\n\
                     Content-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
            match read_response(&mut cl.tls, &mut Vec::new()) {
                Some(r) if r.status == 200 => acked2.lock().unwrap().push(t),
                Some(r) if r.status == 503 => {}
                _ => return,
            }
        }
    });
    eventually("40 acknowledged", || acked.lock().unwrap().len() >= 40);
    c.redis.kill9();
    writer.join().unwrap();
    c.redis.restart();
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 40);
    for n in &c.nodes {
        for t in &acked {
            eventually("every acknowledged key refused on every node", || {
                validate(n, t) == 401
            });
        }
    }
}

#[test]
fn a_killed_node_learns_what_it_missed() {
    let mut c = Cluster::start("redis-node-kill");
    let token = issue(&c.nodes[0]);
    let mut b = c.nodes.remove(1);
    b.child.kill().unwrap(); // SIGKILL
    b.child.wait().unwrap();
    drop(b);
    assert_eq!(revoke(&c.nodes[0], &token).status, 200);
    let b = node(&c.redis.url(), &c.snapshot(1));
    assert_eq!(validate(&b, &token), 401);
}

#[test]
fn a_node_starts_from_its_snapshot_while_redis_is_down() {
    let mut c = Cluster::start("redis-snap");
    let token = issue(&c.nodes[0]);
    assert_eq!(revoke(&c.nodes[0], &token).status, 200);
    let jti = claims(&token)["jti"].as_str().unwrap().to_string();
    let snap = c.snapshot(1);
    eventually("B's snapshot holds the revocation", || {
        std::fs::read_to_string(&snap).is_ok_and(|s| s.contains(&jti))
    });
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&snap).unwrap().permissions().mode() & 0o777,
        0o600
    );
    drop(c.nodes.remove(1));
    c.redis.kill9();
    let b = node(&c.redis.url(), &snap);
    assert!(
        b.wait_log("starting from the snapshot", PATIENCE),
        "{}",
        b.log_text()
    );
    assert_eq!(validate(&b, &token), 401);
    assert_eq!(health(&b)["status"], "DEGRADED");
    assert_eq!(revoke(&b, &issue(&b)).status, 503);
    // `verify` reads the snapshot as it reads a log.
    let out = Command::new(BIN)
        .args(["verify", &token, "--config", path_str(&b.config)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    drop(b);
    std::fs::remove_file(&snap).unwrap();
    let err = try_node(&c.redis.url(), &snap, "")
        .err()
        .expect("no Redis and no snapshot: must refuse to start");
    assert!(err.contains("refusing to start"), "{err}");
    assert!(!err.contains("password"), "{err}");
}

#[test]
fn a_file_log_is_never_taken_for_a_snapshot() {
    let dir = TempDir::new("redis-notsnap");
    let redis = Redis::start(&dir, "redis", &[]);
    let log = dir.write("revocations.log", "# apikey-sts revocations v2\n");
    let err = try_node(&redis.url(), &log, "").err().expect("must refuse");
    assert!(err.contains("revocations import"), "{err}");
    assert_eq!(
        std::fs::read(&log).unwrap(),
        b"# apikey-sts revocations v2\n"
    );
}

#[test]
fn the_password_never_reaches_the_log() {
    let dir = TempDir::new("redis-auth");
    let redis = Redis::start(&dir, "redis", &["--requirepass", "Sup3rS3cret"]);
    let snap = dir.0.join("snap");
    let good = format!("redis://:Sup3rS3cret@127.0.0.1:{}/0", redis.port);
    let n = try_node(&good, &snap, "").unwrap_or_else(|l| panic!("{l}"));
    let token = issue(&n);
    assert_eq!(revoke(&n, &token).status, 200);
    assert!(!n.log_text().contains("Sup3rS3cret"), "{}", n.log_text());
    drop(n);
    std::fs::remove_file(&snap).unwrap();
    let bad = format!("redis://:Wr0ngS3cret@127.0.0.1:{}/0", redis.port);
    let err = try_node(&bad, &snap, "").err().expect("wrong password");
    assert!(!err.contains("Wr0ngS3cret"), "{err}");
    assert!(err.contains("refusing to start"), "{err}");
}

#[test]
fn min_replicas_waits_for_the_replica() {
    let dir = TempDir::new("redis-replica");
    let primary = Redis::start(&dir, "primary", &[]);
    let replica = Redis::start(
        &dir,
        "replica",
        &["--replicaof", "127.0.0.1", &primary.port.to_string()],
    );
    eventually("the replica is in sync", || {
        primary
            .raw("INFO replication")
            .is_some_and(|i| i.contains("connected_slaves:1") && i.contains("state=online"))
    });
    // WAIT gets the whole timeout: on a loaded machine the replica's acknowledgement can take
    // longer than the default 2 s, and the property is that the 200 waits for it, not how fast.
    let n = try_node(
        &primary.url(),
        &dir.0.join("snap"),
        "  minReplicas = 1\n  timeoutMs = 8000\n",
    )
    .unwrap_or_else(|l| panic!("{l}"));
    let token = issue(&n);
    assert_eq!(revoke(&n, &token).status, 200);
    // Acknowledged only once the replica had it: it is there now.
    let jti = claims(&token)["jti"].as_str().unwrap().to_string();
    let rec = replica.raw(&format!("GET apikey-sts:rev:{jti}")).unwrap();
    assert!(rec.starts_with(&jti), "{rec:?}");
    replica.signal("-STOP");
    let r = revoke(&n, &issue(&n));
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.text().contains("replicas"), "{}", r.text());
    replica.signal("-CONT");
}

#[test]
fn import_and_export_move_the_live_set() {
    use apikey_sts::revocation::{RevocationStore, Revoker};
    let dir = TempDir::new("redis-migrate");
    let redis = Redis::start(&dir, "redis", &[]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let log = dir.0.join("old.log");
    {
        let (s, _) = RevocationStore::open(&log, now, 3600).unwrap();
        let by = Revoker::Admin("root");
        s.revoke("old-forever", None, now, by).unwrap();
        s.revoke("old-later", Some(now + 600), now, by).unwrap();
        s.revoke("old-dead", Some(now - 7200), now, by).unwrap();
    }
    let conf = dir.write(
        "migrate.conf",
        node_config(&redis.url(), &dir.0.join("snap"), ""),
    );
    let cli = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .args(["--config", path_str(&conf)])
            .output()
            .unwrap()
    };
    for _ in 0..2 {
        let out = cli(&["revocations", "import", path_str(&log)]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "{out:?}");
        assert!(text.contains("imported 2 live"), "{text}");
        assert!(text.contains("1 expired skipped"), "{text}");
    }
    assert!(redis
        .raw("GET apikey-sts:rev:old-forever")
        .unwrap()
        .starts_with("old-forever "));
    let n = node(&redis.url(), &dir.0.join("snap"));
    let list = n
        .client()
        .get(
            "/apikey/revoked",
            &format!("Authorization: {ROOT_AUTH}\r\n"),
        )
        .json();
    assert_eq!(list["count"], 2, "{list}");
    drop(n);
    let out_file = dir.0.join("exported.log");
    let out = cli(&["revocations", "export", path_str(&out_file)]);
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(&out_file).unwrap();
    assert!(
        text.contains("old-forever ") && text.contains("old-later "),
        "{text}"
    );
    assert!(!text.contains("old-dead"), "{text}");
    // The export is a file log a `store = "file"` server loads.
    let (s, r) = RevocationStore::open(&out_file, now, 3600).unwrap();
    assert_eq!(r.live, 2);
    assert!(s.is_revoked("old-later"));
    drop(s);
    // Never over an existing file.
    let again = cli(&["revocations", "export", path_str(&out_file)]);
    assert!(!again.status.success());
    // Without Redis, import fails and says it may be run again.
    drop(redis);
    let out = cli(&["revocations", "import", path_str(&log)]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("importing again is safe"),
        "{out:?}"
    );
}

#[test]
fn failures_spread_over_three_nodes_lock_the_address_on_all() {
    let dir = TempDir::new("redis-throttle");
    let redis = Redis::start(&dir, "redis", &[]);
    let nodes: Vec<Server> = (0..3)
        .map(|i| {
            let text = node_config(&redis.url(), &dir.0.join(format!("snap-{i}")), "").replace(
                "[validator]",
                "[server]\nthrottleStore = \"redis\"\n\n[validator]",
            );
            let d = TempDir::new("redis-node");
            let conf = d.write("micro-gw.conf", text);
            Server::start_with(d, conf, &[]).unwrap_or_else(|l| panic!("{l}"))
        })
        .collect();
    const WRONG: &str = "Basic cm9vdDp4"; // root:x
    let attempt = |n: &Server, auth: &str| {
        n.client()
            .get("/apikey", &format!("Authorization: {auth}\r\n"))
            .status
    };
    // Six failures, two per node: each node alone would allow five.
    for i in 0..6 {
        assert_eq!(attempt(&nodes[i % 3], WRONG), 401, "failure {i}");
    }
    // The first node, which saw two failures, refuses the address (the lock lasts a second).
    assert_eq!(attempt(&nodes[0], WRONG), 429);
    // Every node refuses it. Each further failure doubles the lock, so when a pass comes after
    // the lock ran out it adds a failure and the next pass finds a longer lock. Two passes at
    // most: counting alone, no node reaches six failures in them.
    let mut passes = 0;
    loop {
        let got: Vec<u16> = nodes.iter().map(|n| attempt(n, WRONG)).collect();
        if got.iter().all(|s| *s == 429) {
            break;
        }
        passes += 1;
        assert!(passes < 2, "not locked everywhere: {got:?}");
    }
    assert_eq!(
        attempt(&nodes[2], ROOT_AUTH),
        429,
        "even the right password"
    );
    assert!(nodes[1]
        .log_text()
        .contains("failure counts shared through Redis"));
    // Redis gone: logins go on, counted locally, and that is said once.
    drop(redis);
    let other = nodes[2].client().get(
        "/apikey",
        "Authorization: Basic bm9ib2R5Ong=\r\n", // nobody:x
    );
    assert!(matches!(other.status, 401 | 429), "{}", other.status);
    assert!(nodes[2].wait_log("counting failures on this node only", PATIENCE));
    for _ in 0..3 {
        nodes[2]
            .client()
            .get("/apikey", "Authorization: Basic bm9ib2R5Ong=\r\n");
    }
    assert_eq!(
        nodes[2]
            .log_text()
            .matches("counting failures on this node only")
            .count(),
        1
    );
}

#[test]
fn a_node_whose_feed_position_was_trimmed_reads_the_whole_set_again() {
    let c = Cluster::start("redis-trim");
    let b = &c.nodes[1];
    let pid = b.child.id().to_string();
    let warm = issue(&c.nodes[0]);
    assert_eq!(revoke(&c.nodes[0], &warm).status, 200);
    eventually("B follows the feed", || validate(b, &warm) == 401);
    let stop = |sig: &str| {
        assert!(Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
            .success())
    };
    // While B is stopped, two revocations, then the feed is emptied (as MAXLEN trimming does
    // to a node that lags too far), then a third: B's position is gone from the feed, and the
    // second revocation is in no read B could still make.
    let keys: Vec<String> = (0..3).map(|_| issue(&c.nodes[0])).collect();
    stop("-STOP");
    assert_eq!(revoke(&c.nodes[0], &keys[0]).status, 200);
    assert_eq!(revoke(&c.nodes[0], &keys[1]).status, 200);
    assert!(c.redis.raw("XTRIM apikey-sts:feed MAXLEN 0").is_some());
    assert_eq!(revoke(&c.nodes[0], &keys[2]).status, 200);
    stop("-CONT");
    for k in &keys {
        eventually("B refuses every key", || validate(b, k) == 401);
    }
    assert!(
        b.wait_log("reading the whole set again", PATIENCE),
        "{}",
        b.log_text()
    );
}

#[test]
fn rediss_checks_the_server_certificate() {
    let dir = TempDir::new("redis-tls");
    let p = |name: &str| dir.0.join(name).display().to_string();
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &p("ca.key"),
            "-out",
            &p("ca.pem"),
            "-days",
            "2",
            "-subj",
            "/CN=apikey-sts test CA",
        ],
        None,
    );
    openssl(
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &p("srv.key"),
            "-out",
            &p("srv.csr"),
            "-subj",
            "/CN=127.0.0.1",
        ],
        None,
    );
    dir.write("ext.cnf", "subjectAltName=IP:127.0.0.1\n");
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            &p("srv.csr"),
            "-CA",
            &p("ca.pem"),
            "-CAkey",
            &p("ca.key"),
            "-CAcreateserial",
            "-out",
            &p("srv.pem"),
            "-days",
            "2",
            "-extfile",
            &p("ext.cnf"),
        ],
        None,
    );
    let tls_port = free_port().to_string();
    let redis = Redis::start(
        &dir,
        "redis",
        &[
            "--tls-port",
            &tls_port,
            "--tls-cert-file",
            &p("srv.pem"),
            "--tls-key-file",
            &p("srv.key"),
            "--tls-ca-cert-file",
            &p("ca.pem"),
            "--tls-auth-clients",
            "no",
        ],
    );
    let url = format!("rediss://127.0.0.1:{tls_port}/0");
    let snap = dir.0.join("snap");
    let ca = format!("  redisCaFile = \"{}\"\n", p("ca.pem"));
    let n = try_node(&url, &snap, &ca).unwrap_or_else(|l| panic!("{l}"));
    let token = issue(&n);
    assert_eq!(revoke(&n, &token).status, 200);
    let jti = claims(&token)["jti"].as_str().unwrap().to_string();
    assert!(redis
        .raw(&format!("GET apikey-sts:rev:{jti}"))
        .unwrap()
        .starts_with(&jti));
    drop(n);
    // The system's trust store does not know this CA: the connection is refused, and with no
    // snapshot the node does not start.
    std::fs::remove_file(&snap).unwrap();
    let err = try_node(&url, &snap, "")
        .err()
        .expect("untrusted certificate");
    assert!(err.contains("refusing to start"), "{err}");
    // redisCaFile at its size limit (the CA padded with blank lines) and one byte past it.
    let limit = apikey_sts::revocation::redis::MAX_CA_FILE_BYTES as usize;
    let mut pem = std::fs::read(p("ca.pem")).unwrap();
    pem.resize(limit, b'\n');
    dir.write("ca-at-limit.pem", &pem);
    let at = format!("  redisCaFile = \"{}\"\n", p("ca-at-limit.pem"));
    drop(try_node(&url, &snap, &at).unwrap_or_else(|l| panic!("{l}")));
    pem.push(b'\n');
    dir.write("ca-past-limit.pem", &pem);
    let past = format!("  redisCaFile = \"{}\"\n", p("ca-past-limit.pem"));
    let err = try_node(&url, &snap, &past)
        .err()
        .expect("CA file past the limit");
    assert!(err.contains("-byte limit"), "{err}");
    // A file that is no certificate is named as such.
    dir.write("junk.pem", "not a certificate");
    let err = try_node(
        &url,
        &snap,
        &format!("  redisCaFile = \"{}\"\n", p("junk.pem")),
    )
    .err()
    .expect("junk CA file");
    assert!(err.contains("redisCaFile"), "{err}");
}

#[test]
fn malformed_records_in_redis_are_skipped_and_counted() {
    let dir = TempDir::new("redis-junk");
    let redis = Redis::start(&dir, "redis", &[]);
    // Written by something else sharing the prefix: junk, a record whose jti is not its key's,
    // a bad jti, an oversized record; and one good record.
    let long = "x".repeat(apikey_sts::revocation::feed::MAX_RECORD_BYTES + 1);
    for cmd in [
        "SET apikey-sts:rev:junk garbage".to_string(),
        "SET apikey-sts:rev:mine \"other 1 - -\"".to_string(),
        "SET apikey-sts:rev:bad/jti \"bad/jti 1 - -\"".to_string(),
        format!("SET apikey-sts:rev:long {long}"),
        "SET apikey-sts:rev:good-one \"good-one 1 - -\"".to_string(),
    ] {
        assert!(redis.raw(&cmd).unwrap().starts_with("+OK"), "{cmd}");
    }
    let n = node(&redis.url(), &dir.0.join("snap"));
    assert!(
        n.wait_log("4 malformed records skipped", PATIENCE),
        "{}",
        n.log_text()
    );
    let listed = |n: &Server| {
        n.client()
            .get(
                "/apikey/revoked",
                &format!("Authorization: {ROOT_AUTH}\r\n"),
            )
            .json()
    };
    assert_eq!(listed(&n)["revoked"][0]["jti"], "good-one");
    assert_eq!(listed(&n)["count"], 1);
    // The same through the feed: the bad entries are skipped, the good one applied.
    for cmd in [
        "XADD apikey-sts:feed * r garbage".to_string(),
        "XADD apikey-sts:feed * x no-r-field".to_string(),
        format!("XADD apikey-sts:feed * r {long}"),
        "XADD apikey-sts:feed * r \"fed-one 2 - -\"".to_string(),
    ] {
        assert!(redis.raw(&cmd).is_some(), "{cmd}");
    }
    eventually("the good feed record is applied", || {
        listed(&n)["count"] == 2
    });
    eventually("the bad ones are counted", || {
        metric(&n, "apikey_sts_revocation_store_rejected_total") == Some(7)
    });
    assert_eq!(health(&n)["status"], "UP");
}

/// The ACL user docs/multi-node.md recommends: exactly these commands, only the prefix's keys.
const ACL_USER: &str = "apikey-sts on >Acl-Pa55 ~apikey-sts:* +set +mget +scan +xadd +xread \
                        +xrange +xrevrange +wait +multi +exec +select +evalsha \
                        +script|load +incr +pexpire +pttl +del";

#[test]
fn the_documented_acl_user_is_enough() {
    let dir = TempDir::new("redis-acl");
    let args: Vec<&str> = std::iter::once("--user")
        .chain(ACL_USER.split_whitespace())
        .collect();
    let redis = Redis::start(&dir, "redis", &args);
    let url = format!("redis://apikey-sts:Acl-Pa55@127.0.0.1:{}/0", redis.port);
    let nodes: Vec<Server> = (0..2)
        .map(|i| {
            let text = node_config(&url, &dir.0.join(format!("snap-{i}")), "").replace(
                "[validator]",
                "[server]\nthrottleStore = \"redis\"\n\n[validator]",
            );
            let d = TempDir::new("redis-node");
            let conf = d.write("micro-gw.conf", text);
            Server::start_with(d, conf, &[]).unwrap_or_else(|l| panic!("{l}"))
        })
        .collect();
    let token = issue(&nodes[0]);
    assert_eq!(revoke(&nodes[0], &token).status, 200);
    eventually("B refuses", || validate(&nodes[1], &token) == 401);
    // A failed login runs the throttle's script (EVALSHA, SCRIPT LOAD the first time).
    let r = nodes[1]
        .client()
        .get("/apikey", "Authorization: Basic cm9vdDp4\r\n");
    assert_eq!(r.status, 401);
    let count = redis.raw("KEYS apikey-sts:thr:*").unwrap();
    assert!(count.starts_with("*2"), "{count:?}");
    for n in &nodes {
        let log = n.log_text();
        assert!(
            !log.contains("did not answer") && !log.contains("refused"),
            "{log}"
        );
        assert!(!log.contains("Acl-Pa55"), "{log}");
    }
}
