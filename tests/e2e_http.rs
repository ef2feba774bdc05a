//! HTTP on the wire against the real binary: pipelining over TLS, and the request rules of
//! RFC 9112 (Host, Transfer-Encoding in HTTP/1.0, one Authorization).
mod common;
use common::*;
use rustls::ClientConnection;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};

/// A TLS connection whose writing and reading run on two threads: a client pipelining more
/// than the socket buffers hold must read while it writes, or both ends stall.
struct SplitTls {
    conn: Arc<Mutex<ClientConnection>>,
    sock: TcpStream,
    /// Ciphertext read from the socket and not yet given to rustls.
    pending: Vec<u8>,
}

impl SplitTls {
    fn connect(srv: &Server) -> SplitTls {
        let mut c = srv.client();
        while c.tls.conn.is_handshaking() {
            c.tls.conn.complete_io(&mut c.tls.sock).unwrap();
        }
        SplitTls {
            conn: Arc::new(Mutex::new(c.tls.conn)),
            sock: c.tls.sock,
            pending: Vec::new(),
        }
    }

    /// Writes `data` from another thread, encrypting under the lock and sending outside it.
    fn write_in_background(&self, data: Vec<u8>) -> std::thread::JoinHandle<()> {
        let conn = Arc::clone(&self.conn);
        let mut sock = self.sock.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut pos = 0;
            let mut wire = Vec::new();
            while pos < data.len() {
                {
                    let mut c = conn.lock().unwrap();
                    pos += c.writer().write(&data[pos..]).unwrap();
                    while c.wants_write() {
                        c.write_tls(&mut wire).unwrap();
                    }
                }
                sock.write_all(&wire).unwrap();
                wire.clear();
            }
        })
    }
}

impl Read for SplitTls {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            {
                let mut c = self.conn.lock().unwrap();
                match c.reader().read(out) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
                // Plaintext is drained: feed rustls more (it refuses while plaintext is unread).
                if !self.pending.is_empty() {
                    let mut rest = &self.pending[..];
                    c.read_tls(&mut rest)?;
                    let used = self.pending.len() - rest.len();
                    self.pending.drain(..used);
                    c.process_new_packets().map_err(io::Error::other)?;
                    continue;
                }
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self.sock.read(&mut chunk)?;
            if n == 0 {
                return Ok(0);
            }
            self.pending.extend_from_slice(&chunk[..n]);
        }
    }
}

const HEALTH: &str = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";

/// Pipelines `n` health checks over TLS in one write; returns the responses read before the
/// server closed or all `n` arrived.
fn pipeline_over_tls(srv: &Server, n: usize) -> (Vec<Resp>, SplitTls) {
    let mut tls = SplitTls::connect(srv);
    let writer = tls.write_in_background(HEALTH.repeat(n).into_bytes());
    let mut buf = Vec::new();
    let mut got = Vec::new();
    while got.len() < n {
        match read_response(&mut tls, &mut buf) {
            Some(r) => got.push(r),
            None => break,
        }
    }
    writer.join().unwrap();
    (got, tls)
}

#[test]
fn thousands_of_pipelined_requests_over_tls_are_all_answered() {
    let srv = Server::start(&default_config(
        "[server]\nmaxRequestsPerConnection = 100000\n",
    ));
    let (got, _tls) = pipeline_over_tls(&srv, 5000);
    assert_eq!(got.len(), 5000, "answers before the server closed");
    assert!(got.iter().all(|r| r.status == 200));
    assert!(got.iter().all(|r| r.header("connection").is_none()));
}

#[test]
fn pipelining_over_tls_stops_at_the_request_limit() {
    let limit = 2000;
    let srv = Server::start(&default_config(&format!(
        "[server]\nmaxRequestsPerConnection = {limit}\n"
    )));
    let (got, mut tls) = pipeline_over_tls(&srv, limit);
    assert_eq!(got.len(), limit);
    let (last, rest) = got.split_last().unwrap();
    assert!(rest.iter().all(|r| r.header("connection").is_none()));
    assert_eq!(last.header("connection"), Some("close"));
    // Then the server closes: nothing more to read.
    let mut tail = Vec::new();
    let _ = tls.read_to_end(&mut tail);
    assert!(
        tail.is_empty(),
        "{} bytes after the last answer",
        tail.len()
    );
}

/// Sends one raw request on a new TLS connection; the response and whether the server closed
/// the connection after it.
fn exchange(srv: &Server, request: &str) -> (Resp, bool) {
    let mut c = srv.client();
    c.send(request.as_bytes());
    let r = c.read_response();
    let mut rest = Vec::new();
    // A kept connection answers a second request; a closed one reads EOF.
    let _ = c.tls.write_all(HEALTH.as_bytes());
    let _ = c.tls.flush();
    let closed = match read_response(&mut c.tls, &mut rest) {
        Some(next) => {
            assert_eq!(next.status, 200);
            false
        }
        None => true,
    };
    (r, closed)
}

#[test]
fn http11_without_host_or_with_two_is_refused() {
    let srv = Server::start(&default_config(""));
    for request in [
        "GET /health HTTP/1.1\r\n\r\n",
        "GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    ] {
        let (r, closed) = exchange(&srv, request);
        assert_eq!(r.status, 400, "{request:?}: {}", r.text());
        assert!(r.text().contains("Host"), "{}", r.text());
        assert!(closed);
    }
    // HTTP/1.0 predates Host.
    let (r, _) = exchange(&srv, "GET /health HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 200);
}

#[test]
fn http10_with_transfer_encoding_closes_after_the_response() {
    let srv = Server::start(&default_config(""));
    let (r, closed) = exchange(
        &srv,
        "GET /health HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(closed);
    // The same client without a body stays connected, and is told so.
    let (r, closed) = exchange(
        &srv,
        "GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    );
    assert_eq!(r.header("connection"), Some("keep-alive"));
    assert!(!closed);
}

#[test]
fn two_authorization_headers_are_refused() {
    let srv = Server::start(&default_config(""));
    let (r, closed) = exchange(
        &srv,
        &format!(
            "GET /apikey HTTP/1.1\r\nHost: x\r\nAuthorization: {ADMIN}\r\nAuthorization: Basic bm9ib2R5Om5vcGU=\r\n\r\n"
        ),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("Authorization"), "{}", r.text());
    assert!(closed);
}
