//! Running as a service: version and help, hash-password at a terminal, the state directory,
//! systemd (unit file and notify protocol) and PEM keys.

mod common;

use common::*;
use std::process::Command;

fn run(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().unwrap()
}

#[test]
fn version_and_help() {
    let out = run(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("apikey-sts {}\n", env!("CARGO_PKG_VERSION"))
    );
    let out = run(&["check-config", "--help"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("usage: apikey-sts check-config"), "{text}");
    assert!(
        text.contains("exit status: 0 usable; 1 not usable"),
        "{text}"
    );
    // What the help promises for a usage error is what happens.
    let out = run(&["check-config", "--bogus"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("unknown argument \"--bogus\""), "{err}");
    assert!(err.contains("usage: apikey-sts check-config"), "{err}");
    // ... and for an unusable config.
    let out = run(&["check-config", "--config=/nonexistent/micro-gw.conf"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn startup_log_names_the_version() {
    let srv = Server::start(&default_config(""));
    let version = format!("(apikey-sts {}, workers=", env!("CARGO_PKG_VERSION"));
    // The harness learns the address before the line reaches its copy of the log.
    assert!(srv.wait_log(&version, std::time::Duration::from_secs(10)));
    let log = srv.log_text();
    let line = log.lines().find(|l| l.contains(&version)).unwrap();
    assert!(line.contains(" INFO listening on https://"), "{line}");
}

/// Drives `hash-password` on a real pseudo-terminal (python3's `pty`): answers the two prompts
/// with `first` and `second`, and returns the exit code and everything the terminal showed.
fn hash_password_at_a_terminal(first: &str, second: &str) -> (i32, String) {
    const SCRIPT: &str = r#"
import os, pty, signal, sys
binary, first, second = sys.argv[1:4]
signal.alarm(60)
pid, fd = pty.fork()
if pid == 0:
    os.execv(binary, [binary, "hash-password", "--iterations", "10000"])
out = b""
def until(marker):
    global out
    while marker not in out:
        chunk = os.read(fd, 1024)
        if not chunk:
            sys.exit("end of output before %r: %r" % (marker, out))
        out += chunk
until(b"New password: ")
os.write(fd, first.encode() + b"\n")
until(b"Repeat it: ")
os.write(fd, second.encode() + b"\n")
while True:
    try:
        chunk = os.read(fd, 1024)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(out)
sys.exit(os.waitstatus_to_exitcode(status))
"#;
    let out = Command::new("python3")
        .args(["-c", SCRIPT, BIN, first, second])
        .output()
        .expect("python3 is installed");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn hash_password_asks_twice_without_echo_at_a_terminal() {
    let (code, shown) = hash_password_at_a_terminal("s3cr3t-tty", "s3cr3t-tty");
    assert_eq!(code, 0, "{shown}");
    assert!(!shown.contains("s3cr3t-tty"), "echoed: {shown}");
    let value = shown
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("$pbkdf2-sha256$"))
        .unwrap_or_else(|| panic!("no hash in {shown:?}"));
    let hash = apikey_sts::auth::PasswordHash::parse(value).unwrap();
    assert!(hash.verify(b"s3cr3t-tty"));
    assert!(!hash.verify(b"s3cr3t-tty\n"));

    let (code, shown) = hash_password_at_a_terminal("first-s3cr3t", "second-s3cr3t");
    assert_eq!(code, 1, "{shown}");
    assert!(shown.contains("the two passwords differ"), "{shown}");
    assert!(
        !shown.contains("$pbkdf2") && !shown.contains("s3cr3t"),
        "{shown}"
    );
}

#[test]
fn hash_password_reads_stdin_when_it_is_not_a_terminal() {
    // No prompt, one read: a single line is the password.
    let out = run_with_stdin(
        Command::new(BIN).args(["hash-password", "--iterations", "10000"]),
        b"piped-pw\n",
    )
    .unwrap();
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let value = String::from_utf8(out.stdout).unwrap();
    let hash = apikey_sts::auth::PasswordHash::parse(value.trim()).unwrap();
    assert!(hash.verify(b"piped-pw"));
}

/// The binary started with `args` and `env`, its stderr lines collected as they come.
struct Proc {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    log: Vec<String>,
}

impl Proc {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Proc {
        use std::io::BufRead;
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env_remove("STATE_DIRECTORY")
            .env_remove("NOTIFY_SOCKET")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc {
            child,
            lines,
            log: Vec::new(),
        }
    }

    /// Waits for a log line containing `needle` and returns it.
    fn wait_line(&mut self, needle: &str) -> String {
        let end = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if let Some(l) = self.log.iter().find(|l| l.contains(needle)) {
                return l.clone();
            }
            let left = end.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => self.log.push(l),
                Err(_) => panic!("no line with {needle:?} in:\n{}", self.log.join("\n")),
            }
        }
    }
}

impl Proc {
    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `--state-dir`, else `$STATE_DIRECTORY`, else beside the config with a warning: where the
/// server opens a relative `[apikey.revocation] file`.
#[test]
fn revocation_log_goes_under_the_state_directory() {
    let dir = TempDir::new("state");
    let config = dir.write("micro-gw.conf", default_config(""));
    let config = path_str(&config).to_string();
    let flag_dir = dir.0.join("flag");
    let env_dir = dir.0.join("systemd");
    std::fs::create_dir_all(&flag_dir).unwrap();
    std::fs::create_dir_all(&env_dir).unwrap();
    let where_opened = |args: &[&str], env: &[(&str, &str)]| {
        let mut p = Proc::start(args, env);
        let line = p.wait_line("revocations: ");
        p.wait_line("listening on https://");
        let warned = p
            .log
            .iter()
            .any(|l| l.contains("WARN") && l.contains("no state directory"));
        (line, warned)
    };
    let flag = path_str(&flag_dir);
    let env = path_str(&env_dir);

    let (line, warned) = where_opened(
        &["--config", &config, &format!("--state-dir={flag}")],
        &[("STATE_DIRECTORY", env)],
    );
    assert!(
        line.ends_with(&format!("in {flag}/revocations.log")),
        "{line}"
    );
    assert!(!warned);
    assert!(flag_dir.join("revocations.log.lock").exists());

    let (line, warned) = where_opened(&["--config", &config], &[("STATE_DIRECTORY", env)]);
    assert!(
        line.ends_with(&format!("in {env}/revocations.log")),
        "{line}"
    );
    assert!(!warned);

    let (line, warned) = where_opened(&["--config", &config], &[]);
    let beside = format!("{}/revocations.log", path_str(&dir.0));
    assert!(line.ends_with(&format!("in {beside}")), "{line}");
    assert!(warned);

    // An absolute file is used as written, whatever the state directory.
    let absolute = dir.0.join("abs.log");
    let text = default_config("").replace(
        "file = \"revocations.log\"",
        &format!("file = \"{}\"", path_str(&absolute)),
    );
    let config2 = dir.write("abs.conf", text);
    let (line, warned) = where_opened(&["--config", path_str(&config2), "--state-dir", flag], &[]);
    assert!(
        line.ends_with(&format!("in {}", path_str(&absolute))),
        "{line}"
    );
    assert!(!warned);
}

/// The next datagram on a test-owned notify socket.
fn next_notify(socket: &std::os::unix::net::UnixDatagram) -> String {
    let mut buf = [0u8; 4096];
    let n = socket
        .recv(&mut buf)
        .expect("a notify message within the timeout");
    String::from_utf8(buf[..n].to_vec()).unwrap()
}

/// `CLOCK_MONOTONIC` in microseconds, read by another program (python3's `time.monotonic_ns`).
fn monotonic_usec_now() -> u64 {
    let out = Command::new("python3")
        .args(["-c", "import time; print(time.monotonic_ns() // 1000)"])
        .output()
        .expect("python3 is installed");
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn systemd_notify_ready_reloading_stopping() {
    use std::os::unix::net::UnixDatagram;
    let dir = TempDir::new("notify");
    let sock_path = dir.0.join("notify.sock");
    let socket = UnixDatagram::bind(&sock_path).unwrap();
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let config = dir.write("micro-gw.conf", default_config("[validator]\nport = 0\n"));
    let mut p = Proc::start(
        &[
            "--config",
            path_str(&config),
            "--state-dir",
            path_str(&dir.0),
        ],
        &[("NOTIFY_SOCKET", path_str(&sock_path))],
    );
    assert_eq!(next_notify(&socket), "READY=1");
    // READY=1 means both listeners are bound and answering.
    let https = listening_addr(&p.wait_line("listening on https://"), false).unwrap();
    let plain = listening_addr(&p.wait_line("listening on http://"), true).unwrap();
    assert_eq!(
        Client::connect(https, &dev_cert())
            .get("/health", "")
            .status,
        200
    );
    assert_eq!(plain_get(plain, "/health", "").status, 200);

    let before = monotonic_usec_now();
    p.signal("-HUP");
    let reloading = next_notify(&socket);
    let after = monotonic_usec_now();
    let usec: u64 = reloading
        .strip_prefix("RELOADING=1\nMONOTONIC_USEC=")
        .unwrap_or_else(|| panic!("{reloading:?}"))
        .parse()
        .unwrap();
    assert!(
        (before..=after).contains(&usec),
        "{before} <= {usec} <= {after}"
    );
    assert_eq!(next_notify(&socket), "READY=1");
    p.wait_line("reloaded");

    p.signal("-TERM");
    assert_eq!(next_notify(&socket), "STOPPING=1");
    assert!(p.child.wait().unwrap().success());
}

/// An abstract `NOTIFY_SOCKET` (`@name`), as systemd may pass in containers.
#[test]
fn systemd_notify_to_an_abstract_socket() {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let name = format!("apikey-sts-test-{}", std::process::id());
    let socket =
        UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let dir = TempDir::new("notify-abstract");
    let config = dir.write("micro-gw.conf", default_config(""));
    let _p = Proc::start(
        &[
            "--config",
            path_str(&config),
            "--state-dir",
            path_str(&dir.0),
        ],
        &[("NOTIFY_SOCKET", &format!("@{name}"))],
    );
    assert_eq!(next_notify(&socket), "READY=1");
}

/// `systemd-analyze verify` accepts `dist/systemd/apikey-sts.service` without a single warning
/// (it reports unknown values as warnings with exit status 0), with `ExecStart` pointing at the
/// binary under test, which must exist for the check to pass.
#[test]
fn systemd_unit_verifies() {
    let unit = std::fs::read_to_string(format!("{ROOT}/dist/systemd/apikey-sts.service")).unwrap();
    for line in [
        "Type=notify",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "DynamicUser=yes",
        "StateDirectory=apikey-sts",
        "ConfigurationDirectory=apikey-sts",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "NoNewPrivileges=yes",
        "SystemCallFilter=@system-service",
        "CapabilityBoundingSet=",
        "#AmbientCapabilities=CAP_NET_BIND_SERVICE",
    ] {
        assert!(unit.lines().any(|l| l == line), "missing {line}");
    }
    let exec = "ExecStart=/usr/local/bin/apikey-sts ";
    assert!(unit.contains(exec));
    let dir = TempDir::new("unit");
    let tested = dir.write(
        "apikey-sts.service",
        unit.replace(exec, &format!("ExecStart={BIN} ")),
    );
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&tested)
        .env("SYSTEMD_LOG_LEVEL", "warning")
        .output();
    require_tool(out.is_ok(), "systemd-analyze (apt-get install -y systemd)");
    let out = out.unwrap();
    let said =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && said.trim().is_empty(), "{said}");
}

/// Key material made by `openssl` in a temp dir, as a CA, certbot and a key owner would.
struct PemSet {
    dir: TempDir,
}

impl PemSet {
    fn new() -> PemSet {
        let set = PemSet {
            dir: TempDir::new("pem"),
        };
        set.ssl(
            "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
             -out ca.pem -subj /CN=test-CA -days 2",
        );
        set.issue("a");
        set
    }

    fn path(&self, name: &str) -> String {
        path_str(&self.dir.0.join(name)).to_string()
    }

    /// Runs `openssl` in the set's folder; `args` are separated by whitespace.
    fn ssl(&self, args: &str) -> Vec<u8> {
        let out = Command::new("openssl")
            .args(args.split_whitespace())
            .current_dir(&self.dir.0)
            .output()
            .expect("openssl is installed");
        assert!(
            out.status.success(),
            "openssl {args}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// A fresh generation of keys: an ECDSA P-256 TLS key (SEC1 `tls-sec1.key` and PKCS#8
    /// `tls-p8.key`) with `fullchain.pem` (an X.509 v3 leaf with a DNS name, as a public CA
    /// issues, then the CA), and an RSA signing key (PKCS#8 `sign-p8.key`, PKCS#1
    /// `sign-p1.key`) with its self-signed `sign.pem`. `tag` marks the certificates' names.
    fn issue(&self, tag: &str) {
        self.ssl("ecparam -name prime256v1 -genkey -noout -out tls-sec1.key");
        self.ssl("pkcs8 -topk8 -nocrypt -in tls-sec1.key -out tls-p8.key");
        self.ssl(&format!(
            "req -new -key tls-sec1.key -subj /CN=localhost-{tag} -out leaf.csr"
        ));
        self.dir
            .write("leaf.ext", "subjectAltName = DNS:localhost\n");
        self.ssl(
            "x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -set_serial 7 -days 2 \
             -extfile leaf.ext -out leaf.pem",
        );
        let chain = [
            std::fs::read(self.dir.0.join("leaf.pem")).unwrap(),
            std::fs::read(self.dir.0.join("ca.pem")).unwrap(),
        ]
        .concat();
        self.dir.write("fullchain.pem", chain);
        self.ssl("genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sign-p8.key");
        self.ssl("rsa -in sign-p8.key -traditional -out sign-p1.key");
        self.ssl(&format!(
            "req -x509 -new -key sign-p8.key -subj /CN=signer-{tag} -days 2 -out sign.pem"
        ));
    }

    fn der(&self, pem: &str) -> Vec<u8> {
        self.ssl(&format!("x509 -in {pem} -outform DER"))
    }

    /// The bundled config with PEM files in place of both keystores.
    fn config(&self, tls_key: &str, sign_key: &str) -> String {
        let ks = format!(
            "keyStorePath = \"{}\"\n  keyStorePassword = \"ballerina\"",
            dev_keystore()
        );
        let text = default_config("");
        assert_eq!(text.matches(&ks).count(), 1, "{text}");
        let text = text.replacen(
            &ks,
            &format!(
                "certFile = \"{}\"\n  keyFile = \"{}\"",
                self.path("fullchain.pem"),
                self.path(tls_key)
            ),
            1,
        );
        let ks = ks.replace("\n  ", "\n    ");
        assert_eq!(text.matches(&ks).count(), 1, "{text}");
        text.replacen(
            &ks,
            &format!(
                "certFile = \"{}\"\n    keyFile = \"{}\"",
                self.path("sign.pem"),
                self.path(sign_key)
            ),
            1,
        )
    }
}

/// TLS with the ECDSA key and its chain, signing with the RSA key: the client gets the leaf and
/// the CA, and the key verifies against the signing certificate, as `openssl` reads them.
fn serves_with_pem(set: &PemSet, srv: &Server) {
    let leaf = set.der("leaf.pem");
    let mut c = Client::connect(srv.addr, &leaf);
    let r = c.apikey();
    assert_eq!(r.status, 200, "{}", r.text());
    let chain: Vec<Vec<u8>> = c
        .tls
        .conn
        .peer_certificates()
        .unwrap()
        .iter()
        .map(|c| c.as_ref().to_vec())
        .collect();
    assert_eq!(chain, vec![leaf, set.der("ca.pem")]);
    assert!(openssl_verifies(&r.text(), &set.der("sign.pem")));
}

#[test]
fn pem_keys_in_every_format() {
    let set = PemSet::new();
    for (tls_key, sign_key) in [
        ("tls-sec1.key", "sign-p1.key"),
        ("tls-p8.key", "sign-p8.key"),
    ] {
        let srv = Server::start(&set.config(tls_key, sign_key));
        serves_with_pem(&set, &srv);
        // `verify` reads the issuer's PEM files too.
        let token = Client::connect(srv.addr, &set.der("leaf.pem"))
            .apikey()
            .text();
        let out = run(&["verify", &token, "--config", path_str(&srv.config)]);
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && said.contains("\nvalid"), "{said}");
        let log = srv.log_text();
        assert!(!log.contains(" ERROR "), "{log}");
    }
}

#[test]
fn sighup_picks_up_renewed_pem_files() {
    let set = PemSet::new();
    let srv = Server::start(&set.config("tls-sec1.key", "sign-p1.key"));
    serves_with_pem(&set, &srv);
    let old_leaf = set.der("leaf.pem");
    let old_signer = set.der("sign.pem");
    // certbot renews: new keys and certificates under the same names.
    set.issue("b");
    assert_ne!(set.der("leaf.pem"), old_leaf);
    let ok = Command::new("kill")
        .args(["-HUP", &srv.child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    assert!(srv.wait_log("reloaded", std::time::Duration::from_secs(20)));
    serves_with_pem(&set, &srv);
    let mut c = Client::connect(srv.addr, &set.der("leaf.pem"));
    assert!(!openssl_verifies(&c.apikey().text(), &old_signer));
}

/// A PEM problem stops startup (check-config exit 1) with the config key that named the file,
/// and never a line of the key file.
#[test]
fn pem_errors_name_the_config_key() {
    let set = PemSet::new();
    set.ssl("pkcs8 -topk8 -in sign-p8.key -passout pass:pw -out enc.key");
    set.dir.write("empty.pem", "not a certificate\n");
    let check = |config: String| {
        let conf = set.dir.write("check.conf", config);
        let out = run(&["check-config", "--config", path_str(&conf)]);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8(out.stderr).unwrap();
        for key in [
            "tls-sec1.key",
            "tls-p8.key",
            "sign-p8.key",
            "sign-p1.key",
            "enc.key",
        ] {
            let text = std::fs::read_to_string(set.dir.0.join(key)).unwrap();
            for line in text.lines().filter(|l| !l.starts_with("-----")) {
                assert!(!err.contains(line), "key material in {err}");
            }
        }
        let line = err
            .lines()
            .find(|l| l.contains(" ERROR "))
            .unwrap()
            .to_string();
        line.split_once(" ERROR ").unwrap().1.to_string()
    };
    let conf = set.path("check.conf");
    let msg = check(set.config("tls-sec1.key", "enc.key"));
    assert!(
        msg.starts_with(&format!("{conf}: apikey.issuer.tokenConfig.keyFile: "))
            && msg.contains("encrypted"),
        "{msg}"
    );
    let msg = check(set.config("tls-sec1.key", "tls-p8.key"));
    assert!(
        msg.starts_with(&format!("{conf}: apikey.issuer.tokenConfig.keyFile: "))
            && msg.contains("private key does not match the certificate's public key")
            && !msg.contains("1.2.840"),
        "{msg}"
    );
    // The RSA key with the ECDSA certificate: not the certificate's key.
    let msg = check(set.config("sign-p8.key", "sign-p1.key"));
    assert!(
        msg.starts_with(&format!("{conf}: listenerConfig.keyFile: "))
            && msg.contains("does not match the certificate"),
        "{msg}"
    );
    let msg = check(
        set.config("tls-sec1.key", "sign-p1.key")
            .replace("sign.pem", "empty.pem"),
    );
    assert!(
        msg.starts_with(&format!("{conf}: apikey.issuer.tokenConfig.certFile: "))
            && msg.contains("no certificate"),
        "{msg}"
    );
    // A key TLS cannot serve with (Ed448), with its own certificate.
    set.ssl("genpkey -algorithm ed448 -out ed448.key");
    set.ssl("req -x509 -new -key ed448.key -subj /CN=ed448 -days 2 -out fullchain.pem");
    let msg = check(set.config("ed448.key", "sign-p1.key"));
    assert!(
        msg.starts_with(&format!("{conf}: listenerConfig.keyFile: "))
            && msg.contains("cannot serve TLS"),
        "{msg}"
    );
    set.issue("c");
    let msg = check(set.config("missing.key", "sign-p1.key"));
    assert!(
        msg.starts_with(&format!("{conf}: listenerConfig.keyFile: "))
            && msg.contains("cannot read"),
        "{msg}"
    );
}
