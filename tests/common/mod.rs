//! End-to-end harness: starts the real binary on a temporary config and talks real TLS to it.
#![allow(dead_code)]

pub mod nginx;
pub mod verifier;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
pub use verifier::{Trust, Verifier};

pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");
pub const BIN: &str = env!("CARGO_BIN_EXE_apikey-sts");
pub const ADMIN: &str = "Basic YWRtaW46YWRtaW4=";

pub fn dev_keystore() -> String {
    format!("{ROOT}/conf/security/dev-keystore.p12")
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "apikey-sts-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, contents).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The bundled default config, made to listen on an ephemeral loopback port with absolute
/// keystore paths; `extra` is appended (more sections).
pub fn default_config(extra: &str) -> String {
    let text = std::fs::read_to_string(format!("{ROOT}/conf/micro-gw.conf")).unwrap();
    let text = text
        .replace("host = \"0.0.0.0\"", "host = \"127.0.0.1\"")
        .replace("httpsPort = 9095", "httpsPort = 0")
        .replace(
            "\"security/dev-keystore.p12\"",
            &format!("\"{}\"", dev_keystore()),
        );
    format!("{text}\n{extra}\n")
}

/// A running server process; killed on drop.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    /// Plain-HTTP listener address, when the config has one.
    pub plain_addr: Option<SocketAddr>,
    pub log: Arc<Mutex<Vec<String>>>,
    pub dir: TempDir,
    pub config: PathBuf,
}

/// The address in the server's "listening on https://..." (or, with `plain`, "http://") line.
pub fn listening_addr(line: &str, plain: bool) -> Option<SocketAddr> {
    let marker = if plain {
        "listening on http://"
    } else {
        "listening on https://"
    };
    line.split(marker)
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

impl Server {
    pub fn start(config_text: &str) -> Server {
        Server::try_start(config_text).unwrap_or_else(|log| panic!("server did not start:\n{log}"))
    }

    /// Starts the binary; Err(log) if it exits or does not announce its port in time.
    pub fn try_start(config_text: &str) -> Result<Server, String> {
        let dir = TempDir::new("srv");
        let config = dir.write("micro-gw.conf", config_text);
        Server::start_with(dir, config, &[])
    }

    pub fn start_with(
        dir: TempDir,
        config: PathBuf,
        env: &[(&str, &str)],
    ) -> Result<Server, String> {
        let mut cmd = Command::new(BIN);
        cmd.arg("--config").arg(&config);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Server::spawn(dir, config, cmd)
    }

    /// Runs `cmd` (the binary with its arguments, working directory and environment) and waits
    /// for its listening lines. `config` is the config file it reads, for the harness.
    pub fn spawn(dir: TempDir, config: PathBuf, mut cmd: Command) -> Result<Server, String> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let log2 = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                for plain in [false, true] {
                    if let Some(addr) = listening_addr(&line, plain) {
                        let _ = tx.send((addr, plain));
                    }
                }
                log2.lock().unwrap().push(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut addr = None;
        let mut plain_addr = None;
        let wants_plain = std::fs::read_to_string(&config)
            .unwrap_or_default()
            .contains("[validator]");
        while addr.is_none() || (wants_plain && plain_addr.is_none()) {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok((a, false)) => addr = Some(a),
                Ok((a, true)) => plain_addr = Some(a),
                Err(_) => {
                    if let Ok(Some(_)) = child.try_wait() {
                        std::thread::sleep(Duration::from_millis(100));
                        return Err(log.lock().unwrap().join("\n"));
                    }
                    if Instant::now() > deadline {
                        let _ = child.kill();
                        return Err(log.lock().unwrap().join("\n"));
                    }
                }
            }
        }
        Ok(Server {
            child,
            addr: addr.unwrap(),
            plain_addr,
            log,
            dir,
            config,
        })
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Waits until a log line contains `needle`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if self.log_text().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn client(&self) -> Client {
        Client::connect(self.addr, &dev_cert())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The leaf certificate (DER) of the development keystore, read with `openssl` so the test does
/// not trust our own keystore code.
pub fn dev_cert() -> Vec<u8> {
    static CERT: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    CERT.get_or_init(|| cert_der_of(&dev_keystore(), "ballerina"))
        .clone()
}

/// `openssl pkcs12 -nokeys -clcerts` then `openssl x509 -outform DER`.
pub fn cert_der_of(p12: &str, password: &str) -> Vec<u8> {
    let pem = openssl(
        &[
            "pkcs12",
            "-in",
            p12,
            "-passin",
            &format!("pass:{password}"),
            "-nokeys",
            "-clcerts",
        ],
        None,
    );
    openssl(&["x509", "-outform", "DER"], Some(&pem))
}

/// Runs `cmd` with `input` on its stdin (then closed), capturing stdout and stderr.
pub fn run_with_stdin(cmd: &mut Command, input: &[u8]) -> std::io::Result<std::process::Output> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let written = stdin.write_all(input);
    drop(stdin);
    let out = child.wait_with_output()?;
    written.map(|()| out)
}

pub fn openssl(args: &[&str], stdin: Option<&[u8]>) -> Vec<u8> {
    let out = run_with_stdin(
        Command::new("openssl").args(args),
        stdin.unwrap_or_default(),
    )
    .expect("openssl is installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Fails, naming the command to run, when a tool the end-to-end tests drive is missing. The
/// tests do not install tools themselves: CI runs `tests/install-tools.sh` before `cargo test`.
/// The Python of the virtual environment `tests/install-tools.sh` puts PyJWT in.
pub fn venv_python() -> String {
    format!("{ROOT}/target/py-venv/bin/python")
}

pub fn pyjwt_ready() -> bool {
    Command::new(venv_python())
        .args(["-c", "import jwt, cryptography"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

pub fn require_tool(ready: bool, what: &str) {
    assert!(
        ready,
        "{what} is not installed: run `bash tests/install-tools.sh` (apt-get install -y \
         nginx-light; python3 -m venv target/py-venv; target/py-venv/bin/python -m pip install \
         pyjwt cryptography authlib requests)"
    );
}

/// Verifies `token` with `openssl dgst -sha256 -verify` against the certificate `cert_der`.
pub fn openssl_verifies(token: &str, cert_der: &[u8]) -> bool {
    use base64::Engine;
    let dir = TempDir::new("verify");
    let (signed, sig) = token.rsplit_once('.').unwrap();
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sig)
        .unwrap();
    let cert = dir.write("cert.der", cert_der);
    let pubkey = openssl(
        &[
            "x509",
            "-inform",
            "DER",
            "-in",
            cert.to_str().unwrap(),
            "-pubkey",
            "-noout",
        ],
        None,
    );
    let pubkey = dir.write("pub.pem", pubkey);
    let sigf = dir.write("sig.bin", sig);
    let data = dir.write("data.txt", signed);
    Command::new("openssl")
        .args([
            "dgst",
            "-sha256",
            "-verify",
            pubkey.to_str().unwrap(),
            "-signature",
            sigf.to_str().unwrap(),
            data.to_str().unwrap(),
        ])
        .output()
        .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("Verified OK"))
        .unwrap_or(false)
}

pub fn claims(token: &str) -> serde_json::Value {
    use base64::Engine;
    let part = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

pub fn header(token: &str) -> serde_json::Value {
    use base64::Engine;
    let part = token.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

pub fn client_config(
    cert: &[u8],
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let cfg = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions)
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Verifier::new(Trust::Pinned(cert.to_vec()), provider))
        .with_no_client_auth();
    Arc::new(cfg)
}

pub struct Client {
    pub tls: StreamOwned<ClientConnection, TcpStream>,
    buf: Vec<u8>,
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }
}

impl Client {
    pub fn connect(addr: SocketAddr, cert: &[u8]) -> Client {
        Client::connect_with(addr, client_config(cert, rustls::DEFAULT_VERSIONS))
    }

    pub fn connect_with(addr: SocketAddr, cfg: Arc<ClientConfig>) -> Client {
        let sock = TcpStream::connect(addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let conn = ClientConnection::new(cfg, ServerName::try_from("localhost").unwrap()).unwrap();
        Client {
            tls: StreamOwned::new(conn, sock),
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.tls.write_all(bytes).unwrap();
        self.tls.flush().unwrap();
    }

    /// Reads one response (Content-Length framed, as the server always sends).
    pub fn read_response(&mut self) -> Resp {
        read_response(&mut self.tls, &mut self.buf).expect("a response")
    }

    /// Reads one response, `100 Continue` included.
    pub fn read_response_or_interim(&mut self) -> Resp {
        read_any_response(&mut self.tls, &mut self.buf, false).expect("a response")
    }

    pub fn get(&mut self, path: &str, extra_headers: &str) -> Resp {
        self.send(
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra_headers}\r\n").as_bytes(),
        );
        self.read_response()
    }

    pub fn apikey(&mut self) -> Resp {
        self.get("/apikey", &format!("Authorization: {ADMIN}\r\n"))
    }
}

/// Reads one HTTP response from `r`, keeping extra bytes in `buf`. None on EOF before one.
pub fn read_response(r: &mut impl Read, buf: &mut Vec<u8>) -> Option<Resp> {
    read_any_response(r, buf, true)
}

/// As `read_response`, but a `100 Continue` is returned too, unless `skip_interim`.
pub fn read_any_response(r: &mut impl Read, buf: &mut Vec<u8>, skip_interim: bool) -> Option<Resp> {
    loop {
        if let Some(end) = find(buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let mut lines = head.split("\r\n");
            let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
            let headers: Vec<(String, String)> = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
                .collect();
            if status == 100 && skip_interim {
                buf.drain(..end + 4);
                continue;
            }
            let len: usize = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let mut chunk = [0u8; 8192];
                let n = r.read(&mut chunk).ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = buf[end + 4..end + 4 + len].to_vec();
            buf.drain(..end + 4 + len);
            return Some(Resp {
                status,
                headers,
                body,
            });
        }
        let mut chunk = [0u8; 8192];
        let n = match r.read(&mut chunk) {
            Ok(n) => n,
            Err(_) => return None,
        };
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Like `openssl`, but returns stderr as the error instead of panicking.
pub fn try_openssl(args: &[&str], stdin: Option<&[u8]>) -> Result<Vec<u8>, String> {
    let out = run_with_stdin(
        Command::new("openssl").args(args),
        stdin.unwrap_or_default(),
    )
    .map_err(|e| format!("cannot run openssl: {e}"))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// `openssl pkcs12 -nokeys <which>` (`-clcerts`, `-cacerts` or `""` for all) as PEM text with
/// bag attributes; retried with `-legacy` for files using OpenSSL 3's legacy algorithms
/// (RC2, 3DES).
pub fn pkcs12_certs_pem(p12: &str, password: &str, which: &str) -> String {
    let pass = format!("pass:{password}");
    let mut args = vec!["pkcs12", "-in", p12, "-passin", &pass, "-nokeys"];
    if !which.is_empty() {
        args.push(which);
    }
    let out = try_openssl(&args, None).or_else(|first| {
        args.push("-legacy");
        try_openssl(&args, None).map_err(|second| format!("{first}\n-legacy: {second}"))
    });
    let out = out.unwrap_or_else(|e| panic!("openssl pkcs12 {p12}: {e}"));
    String::from_utf8(out).unwrap()
}

/// Splits `openssl pkcs12` PEM output into (bag attribute text, certificate DER) pairs.
pub fn pem_certs(pem: &str) -> Vec<(String, Vec<u8>)> {
    use base64::Engine;
    let mut out = Vec::new();
    let mut attrs = String::new();
    let mut body: Option<String> = None;
    for line in pem.lines() {
        match (&mut body, line.trim()) {
            (None, "-----BEGIN CERTIFICATE-----") => body = Some(String::new()),
            (None, l) => {
                attrs.push_str(l);
                attrs.push('\n');
            }
            (Some(b), "-----END CERTIFICATE-----") => {
                let der = base64::engine::general_purpose::STANDARD
                    .decode(b.as_bytes())
                    .unwrap();
                out.push((std::mem::take(&mut attrs), der));
                body = None;
            }
            (Some(b), l) => b.push_str(l),
        }
    }
    out
}

/// The leaf certificate (DER) of entry `alias` (its friendlyName), as `openssl pkcs12` extracts it.
pub fn cert_der_of_alias(p12: &str, password: &str, alias: &str) -> Vec<u8> {
    let wanted = format!("friendlyName: {alias}\n");
    let certs = pem_certs(&pkcs12_certs_pem(p12, password, "-clcerts"));
    let mut matching = certs.into_iter().filter(|(a, _)| a.contains(&wanted));
    let (_, der) = matching
        .next()
        .unwrap_or_else(|| panic!("openssl finds no certificate for alias {alias} in {p12}"));
    assert!(matching.next().is_none(), "alias {alias} twice in {p12}");
    der
}

/// One plain-HTTP request on a fresh connection (the validator listener, nginx in front of it).
/// `extra_headers` are full `Name: value\r\n` lines.
pub fn plain_request(addr: SocketAddr, method: &str, target: &str, extra_headers: &str) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(
        format!(
            "{method} {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{extra_headers}\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let mut buf = Vec::new();
    read_response(&mut s, &mut buf).expect("a response")
}

pub fn plain_get(addr: SocketAddr, target: &str, extra_headers: &str) -> Resp {
    plain_request(addr, "GET", target, extra_headers)
}

/// True when the peer closes the connection (EOF or reset) within `within`.
pub fn closed_within(s: &mut impl Read, sock: &TcpStream, within: Duration) -> bool {
    sock.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 4096];
    let end = Instant::now() + within;
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return false
            }
            Err(_) => return true,
        }
        if Instant::now() > end {
            return false;
        }
    }
}

/// `closed_within` for a plain TCP stream.
pub fn stream_closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let sock = s.try_clone().unwrap();
    closed_within(s, &sock, within)
}
