//! The I/O edge's limits, end to end: who is shed at the connection cap, a client that never
//! reads, and the lingering close that keeps an error answer from being destroyed by a reset.
mod common;
use common::*;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

fn client_closed_within(c: &mut Client, within: Duration) -> bool {
    let sock = c.tls.sock.try_clone().unwrap();
    closed_within(&mut c.tls, &sock, within)
}

#[test]
fn at_the_cap_the_longest_idle_connection_is_shed_first() {
    let srv = Server::start(&default_config("[server]\nmaxConnections = 3\n"));
    // Three idle keep-alive connections, idle since one after the other.
    let mut idle: Vec<Client> = (0..3)
        .map(|_| {
            let mut c = srv.client();
            assert_eq!(c.get("/health", "").status, 200);
            c
        })
        .collect();
    // A fourth client: one of the three makes room, and it must be the one idle longest.
    let mut fresh = srv.client();
    assert_eq!(fresh.get("/health", "").status, 200);
    assert!(
        client_closed_within(&mut idle[0], Duration::from_secs(5)),
        "the longest-idle connection was kept"
    );
    for (i, c) in idle.iter_mut().enumerate().skip(1) {
        assert!(
            !client_closed_within(c, Duration::from_millis(200)),
            "connection {i} was shed instead of the longest-idle one"
        );
    }
    assert_eq!(idle[2].get("/health", "").status, 200);
}

fn plain_server(extra: &str) -> Server {
    Server::start(&default_config(&format!(
        "[validator]\nport = 0\n\n[server]\n{extra}"
    )))
}

#[test]
fn a_client_that_does_not_read_is_cut_off_after_write_timeout() {
    // Generous request and idle deadlines and request count, so that only the write deadline
    // can end this connection.
    let srv = plain_server(
        "writeTimeoutMs = 500\nrequestTimeoutMs = 600000\nidleTimeoutMs = 600000\n\
         maxRequestsPerConnection = 1000000\n",
    );
    let addr = srv.plain_addr.unwrap();
    let one = plain_get(addr, "/.well-known/jwks.json", "");
    assert_eq!(one.status, 200);
    // Enough answers to fill both sides' socket buffers many times over.
    let per_answer = one.body.len() + 200;
    let n = (64 << 20) / per_answer;
    let mut s = TcpStream::connect(addr).unwrap();
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let req = b"GET /.well-known/jwks.json HTTP/1.1\r\nHost: x\r\n\r\n";
        let mut batch = Vec::new();
        for _ in 0..64 {
            batch.extend_from_slice(req);
        }
        for _ in 0..n / 64 {
            if w.write_all(&batch).is_err() {
                return;
            }
        }
    });
    // The client reads nothing for well past the 500 ms deadline (the property is the timeout
    // itself: waiting is the test).
    std::thread::sleep(Duration::from_secs(3));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut got = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(k) => got += k,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                break false
            }
            Err(_) => break true,
        }
    };
    let _ = s.shutdown(Shutdown::Both);
    writer.join().unwrap();
    assert!(
        closed,
        "the server kept a non-reading client (read {got} bytes)"
    );
    assert!(
        got < n / 64 * 64 * one.body.len(),
        "every answer arrived ({got} bytes): nothing was cut off"
    );
    // The server still serves.
    assert_eq!(plain_get(addr, "/health", "").status, 200);
}

#[test]
fn an_error_answer_survives_the_input_that_follows_it() {
    let srv = plain_server("");
    let addr = srv.plain_addr.unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    // A request the server refuses at once, then far more input than it will ever read.
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let mut bytes = b"GARBAGE\r\n\r\n".to_vec();
        bytes.extend(std::iter::repeat_n(b'x', 1 << 20));
        if w.write_all(&bytes).is_err() {
            return false;
        }
        // More input a moment later, well inside the 2 s linger: a server that has closed by
        // now answers it with a reset.
        std::thread::sleep(Duration::from_millis(500));
        (0..4).all(|_| {
            let ok = w.write_all(&[b'y'; 4096]).is_ok();
            std::thread::sleep(Duration::from_millis(50));
            ok
        })
    });
    // Read only after every byte has been written (or the write failed): a server that closes
    // with unread input resets the connection, and the reset can destroy the unread answer.
    let wrote_all = writer.join().unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let r = read_response(&mut s, &mut Vec::new());
    assert!(
        wrote_all,
        "the server reset the connection while the client was sending"
    );
    let r = r.expect("the error answer was destroyed");
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.header("connection"), Some("close"));
}
