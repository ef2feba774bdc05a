//! Behind a load balancer, end to end: a real HAProxy (TCP mode, `send-proxy-v2`) in front of
//! the HTTPS listener and a real nginx (`X-Forwarded-For`) in front of the validator listener,
//! each started by the test on loopback and stopped by its PID. Clients pick their source
//! address with `curl --interface 127.0.0.X`; the proxies connect from 127.0.0.5, the one
//! trusted address, so that the test's own direct connections (from 127.0.0.1) are untrusted.
//!
//! Tools: `haproxy`, `nginx` and `curl`, installed by `tests/install-tools.sh`. A missing tool
//! fails the test, naming it.
mod common;
use common::*;
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The address the proxies connect from; the only trusted one.
const PROXY_SOURCE: &str = "127.0.0.5";
const WRONG: &str = "admin:wrong";
const RIGHT: &str = "admin:admin";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn find_bin(name: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin"]
        .iter()
        .map(|d| PathBuf::from(d).join(name))
        .find(|p| p.is_file())
}

/// A proxy process (HAProxy or nginx) in the foreground; killed by PID on drop.
struct Proxy {
    child: Child,
    dir: TempDir,
    /// The proxy's listening addresses, in the order of the config's placeholders.
    ports: Vec<u16>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proxy {
    /// Runs `bin` with `args` (the config path replaces `@CONF@`), and waits until it accepts
    /// on every port.
    fn start(bin: &str, conf: &str, args: &[&str], ports: Vec<u16>) -> Proxy {
        let exe = find_bin(bin);
        require_tool(exe.is_some(), bin);
        let dir = TempDir::new(bin);
        let conf = dir.write(
            &format!("{bin}.conf"),
            conf.replace("@DIR@", path_str(&dir.0)),
        );
        let args: Vec<String> = args
            .iter()
            .map(|a| {
                a.replace("@CONF@", path_str(&conf))
                    .replace("@DIR@", path_str(&dir.0))
            })
            .collect();
        let child = Command::new(exe.unwrap())
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.0.join("stderr.log")).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
        let mut p = Proxy { child, dir, ports };
        let deadline = Instant::now() + Duration::from_secs(15);
        for port in p.ports.clone() {
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                let exited = p.child.try_wait().ok().flatten();
                if exited.is_some() || Instant::now() > deadline {
                    panic!("{bin} did not start ({exited:?}):\n{}", p.logs());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        p
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("stderr.log")).unwrap_or_default()
    }

    fn addr(&self, i: usize) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.ports[i]))
    }
}

/// HAProxy in TCP mode: the first port passes connections on with a PROXY v2 header, the
/// second without any.
fn haproxy(server: SocketAddr) -> Proxy {
    let (with, without) = (free_port(), free_port());
    let conf = format!(
        "global\n  maxconn 64\n\
         defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n\
         listen with_header\n  bind 127.0.0.1:{with}\n  \
           server s {server} source {PROXY_SOURCE} send-proxy-v2\n\
         listen without_header\n  bind 127.0.0.1:{without}\n  \
           server s {server} source {PROXY_SOURCE}\n"
    );
    Proxy::start(
        "haproxy",
        &conf,
        &["-db", "-f", "@CONF@"],
        vec![with, without],
    )
}

/// HAProxy in TCP mode sending a PROXY v1 (text) header to `server`.
fn haproxy_v1(server: SocketAddr) -> Proxy {
    let port = free_port();
    let conf = format!(
        "global\n  maxconn 64\n\
         defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n\
         listen v1\n  bind 127.0.0.1:{port}\n  \
           server s {server} source {PROXY_SOURCE} send-proxy\n"
    );
    Proxy::start("haproxy", &conf, &["-db", "-f", "@CONF@"], vec![port])
}

/// nginx forwarding everything to `upstream` (a URL), appending the client to
/// `X-Forwarded-For`.
fn nginx(upstream: &str) -> Proxy {
    let port = free_port();
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid @DIR@/nginx.pid;\n\
         error_log @DIR@/error.log info;\nevents {{ worker_connections 64; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path @DIR@/tmp-body;\n  \
           proxy_temp_path @DIR@/tmp-proxy;\n  fastcgi_temp_path @DIR@/tmp-fastcgi;\n  \
           uwsgi_temp_path @DIR@/tmp-uwsgi;\n  scgi_temp_path @DIR@/tmp-scgi;\n  \
           server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      \
             proxy_pass {upstream};\n      proxy_bind {PROXY_SOURCE};\n      \
             proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n    }}\n  }}\n}}\n"
    );
    Proxy::start(
        "nginx",
        &conf,
        &["-p", "@DIR@", "-e", "@DIR@/startup.log", "-c", "@CONF@"],
        vec![port],
    )
}

/// `curl` from source address `from`: the status, or None if the connection failed.
fn curl(from: &str, url: &str, user: &str, headers: &[&str]) -> Option<u16> {
    require_tool(find_bin("curl").is_some(), "curl");
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sk",
        "--max-time",
        "20",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
    ])
    .args(["--interface", from, "-u", user, url]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out = cmd.output().expect("curl runs");
    let code: u16 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    (out.status.success() && code != 0).then_some(code)
}

fn https_config(proxy_protocol: bool) -> String {
    let text = default_config(&format!(
        "[server]\ntrustedProxies = [\"{PROXY_SOURCE}\"]\nhandshakeTimeoutMs = 1000\n"
    ));
    if proxy_protocol {
        text.replace("httpsPort = 0", "httpsPort = 0\nproxyProtocol = true")
    } else {
        text
    }
}

/// Six wrong passwords lock an address (five are free, the sixth is checked and locks).
fn lock_out(from: &str, url: &str, headers: &[&str]) {
    for i in 0..6 {
        assert_eq!(curl(from, url, WRONG, headers), Some(401), "attempt {i}");
    }
}

#[test]
fn haproxy_proxy_v2_throttles_the_client_not_the_proxy() {
    let srv = Server::start(&https_config(true));
    let ha = haproxy(srv.addr);
    let url = format!("https://{}/apikey", ha.addr(0));
    assert_eq!(
        curl("127.0.0.2", &url, RIGHT, &[]),
        Some(200),
        "{}",
        ha.logs()
    );
    lock_out("127.0.0.2", &url, &[]);
    assert_eq!(curl("127.0.0.2", &url, RIGHT, &[]), Some(429));
    // Another client through the same HAProxy is not locked.
    assert_eq!(curl("127.0.0.3", &url, RIGHT, &[]), Some(200));
    // The log names the client, and the proxy it came through.
    assert!(
        srv.wait_log("127.0.0.2 \"GET /apikey\" 429", Duration::from_secs(5)),
        "{}",
        srv.log_text()
    );
    assert!(srv.log_text().contains(&format!("via {PROXY_SOURCE}:")));
}

#[test]
fn proxy_protocol_listener_closes_connections_without_a_trusted_header() {
    let srv = Server::start(&https_config(true));
    let ha = haproxy(srv.addr);

    // A trusted proxy that sends no header: closed, never served as the proxy itself.
    let url = format!("https://{}/apikey", ha.addr(1));
    assert_eq!(curl("127.0.0.2", &url, RIGHT, &[]), None);
    assert!(
        srv.wait_log("no PROXY protocol header; closed", Duration::from_secs(5)),
        "{}",
        srv.log_text()
    );

    // A trusted proxy whose header does not complete within the handshake deadline.
    let mut s = TcpStream::connect(ha.addr(1)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"\r\n\r\n\0\r\nQUIT\n\x21").unwrap();
    let mut buf = [0u8; 64];
    assert!(matches!(s.read(&mut buf), Ok(0) | Err(_)));

    // An untrusted peer with a well-formed header naming someone else: refused before a byte
    // is read, so the TLS handshake that follows fails.
    let mut sock = TcpStream::connect(srv.addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut header = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c".to_vec();
    header.extend_from_slice(&[127, 0, 0, 9, 127, 0, 0, 1, 0x30, 0x39, 0x01, 0xbb]);
    sock.write_all(&header).unwrap();
    let cfg = client_config(&dev_cert(), rustls::DEFAULT_VERSIONS);
    let conn = ClientConnection::new(cfg, ServerName::try_from("localhost").unwrap()).unwrap();
    let mut tls = StreamOwned::new(conn, sock);
    let served = tls
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .and_then(|()| tls.flush())
        .and_then(|()| tls.read(&mut buf));
    assert!(matches!(served, Ok(0) | Err(_)), "{served:?}");
    assert!(
        srv.wait_log(
            "not a trusted proxy on a PROXY protocol listener; closed",
            Duration::from_secs(5)
        ),
        "{}",
        srv.log_text()
    );
    assert!(!srv.log_text().contains("127.0.0.9"));
}

#[test]
fn x_forwarded_for_from_an_untrusted_peer_is_ignored() {
    let srv = Server::start(&https_config(false));
    let url = format!("https://{}/apikey", srv.addr);
    // Each attempt claims another address; all are charged to the real peer.
    for i in 0..6 {
        let xff = format!("X-Forwarded-For: 198.51.100.{i}");
        assert_eq!(curl("127.0.0.2", &url, WRONG, &[&xff]), Some(401), "{i}");
    }
    let xff = "X-Forwarded-For: 198.51.100.99";
    assert_eq!(curl("127.0.0.2", &url, RIGHT, &[xff]), Some(429));
    assert!(
        !srv.log_text().contains("198.51.100."),
        "{}",
        srv.log_text()
    );
}

#[test]
fn nginx_x_forwarded_for_names_the_client_on_the_validator_listener() {
    let srv = Server::start(
        &https_config(false).replace("[server]", "[validator]\nport = 0\n\n[server]"),
    );
    let ng = nginx(&format!(
        "http://{}",
        srv.plain_addr.expect("validator listener")
    ));
    let url = format!("http://{}/health", ng.addr(0));
    // The client forges an address to the left; nginx appends the one it saw.
    let status = curl("127.0.0.2", &url, RIGHT, &["X-Forwarded-For: 203.0.113.66"]);
    assert_eq!(status, Some(200), "{}", ng.logs());
    assert!(
        srv.wait_log("127.0.0.2 \"GET /health\" 200", Duration::from_secs(5)),
        "{}",
        srv.log_text()
    );
    assert!(srv.log_text().contains(&format!("via {PROXY_SOURCE}:")));
    assert!(!srv.log_text().contains("203.0.113.66"));
    // nginx sets X-Forwarded-For and passes a client's `Forwarded` on: which one nginx wrote
    // cannot be told, so the request is refused rather than served under either address.
    let status = curl("127.0.0.2", &url, RIGHT, &["Forwarded: for=203.0.113.88"]);
    assert_eq!(status, Some(400));
    assert!(srv.wait_log("\"GET /health\" 400", Duration::from_secs(5)));
    assert!(!srv.log_text().contains("203.0.113.88"));
    // The same header straight from an untrusted peer is ignored.
    let direct = srv.plain_addr.unwrap();
    let r = plain_get(direct, "/health", "X-Forwarded-For: 203.0.113.77\r\n");
    assert_eq!(r.status, 200);
    assert!(srv.wait_log("127.0.0.1:", Duration::from_secs(5)));
    assert!(!srv.log_text().contains("203.0.113.77"));
}

#[test]
fn x_forwarded_for_through_nginx_throttles_the_client() {
    // nginx in front of the HTTPS listener (TLS to the upstream): the throttle follows the
    // client that nginx names, not nginx.
    let srv = Server::start(&https_config(false));
    let ng = nginx(&format!("https://{}", srv.addr));
    let url = format!("http://{}/apikey", ng.addr(0));
    lock_out("127.0.0.2", &url, &["X-Forwarded-For: 203.0.113.1"]);
    assert_eq!(curl("127.0.0.2", &url, RIGHT, &[]), Some(429));
    assert_eq!(curl("127.0.0.3", &url, RIGHT, &[]), Some(200));
}

#[test]
fn trusted_proxies_change_only_at_a_restart() {
    let srv = Server::start(&https_config(false));
    let conf = std::fs::read_to_string(&srv.config).unwrap();
    std::fs::write(&srv.config, conf.replace(PROXY_SOURCE, "127.0.0.0/8")).unwrap();
    let hup = Command::new("kill")
        .args(["-HUP", &srv.child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    assert!(
        srv.wait_log(
            "reload: trustedProxies and proxyProtocol apply only after a restart",
            Duration::from_secs(5)
        ),
        "{}",
        srv.log_text()
    );
    // The running list still stands: an X-Forwarded-For from 127.0.0.2 is not believed.
    let url = format!("https://{}/health", srv.addr);
    assert_eq!(
        curl("127.0.0.2", &url, RIGHT, &["X-Forwarded-For: 198.51.100.7"]),
        Some(200)
    );
    assert!(srv.wait_log("127.0.0.2:", Duration::from_secs(5)));
    assert!(!srv.log_text().contains("198.51.100.7"));
}

#[test]
fn haproxy_proxy_v1_names_the_client_on_the_plain_listener() {
    let srv = Server::start(&https_config(false).replace(
        "[server]",
        "[validator]\nport = 0\nproxyProtocol = true\n\n[server]",
    ));
    let plain = srv.plain_addr.expect("validator listener");
    let ha = haproxy_v1(plain);
    let url = format!("http://{}/health", ha.addr(0));
    assert_eq!(
        curl("127.0.0.2", &url, RIGHT, &[]),
        Some(200),
        "{}",
        ha.logs()
    );
    assert!(
        srv.wait_log("127.0.0.2 \"GET /health\" 200", Duration::from_secs(5)),
        "{}",
        srv.log_text()
    );
    assert!(srv.log_text().contains(&format!("via {PROXY_SOURCE}:")));
    // Straight to the listener, without a header, from an untrusted peer: closed unanswered.
    let mut s = TcpStream::connect(plain).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let _ = s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut buf = [0u8; 64];
    assert!(matches!(s.read(&mut buf), Ok(0) | Err(_)));
}
