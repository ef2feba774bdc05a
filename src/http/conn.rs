//! One connection's HTTP, sans I/O: bytes in, requests out, responses in, bytes out.
//!
//! `Connection` holds what outlives one parse: the unparsed input, how far the search for the
//! end of the head got, how many times the current request was found incomplete, whether
//! `100 Continue` went out, how many requests were answered, and whether the connection stays
//! open. The server pumps bytes between it and a socket; tests and the fuzzer drive it directly.
//!
//! The calls go in a cycle: `receive` what arrived, `poll_request` until it says `NeedMore`, and
//! `send` one response for each request it returned. Whether the connection ends after a
//! response is decided here only, once, and kept as a `CloseReason`.

use super::response::{self, Framing};
use super::{parse, parse_head, HttpError, Malformed, ParseLimits, Parsed, Request, Response};
use std::time::SystemTime;

/// A request still incomplete after this many parses is refused. Each parse rescans the
/// request, so a client trickling a body byte by byte would otherwise cost quadratic CPU;
/// legitimate clients need a handful (one per TCP segment at most).
pub const MAX_PARSE_ATTEMPTS: usize = 512;

/// The interim response a client sending `Expect: 100-continue` waits for.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Why a connection ends after the response being sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// An HTTP/1.1 request with `Connection: close`.
    ClientAsked,
    /// An HTTP/1.0 request without `Connection: keep-alive`.
    Http10,
    /// An HTTP/1.0 request with `Transfer-Encoding`: RFC 9112 §6.1 has the server close after
    /// answering, since a 1.0 intermediary may not have understood the framing.
    Http10TransferEncoding,
    /// The connection answered its `max_requests`.
    RequestLimit,
    /// The server is shutting down: in-flight requests are answered, nothing more is read.
    ShuttingDown,
    /// The input cannot be read as HTTP; the error response is the last.
    ProtocolError(HttpError),
    /// A response no request asked for (the 408 for a request that never completed).
    Unsolicited,
    /// A request waiting for `100 Continue` was answered from its head: its body may still
    /// arrive, and would be read as the next request.
    ExpectationRefused,
}

/// What `poll_request` found in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Polled {
    /// A whole request: answer it with `send` before polling again.
    Request(Request),
    /// The client waits for `CONTINUE` before it sends the body; this is the request's head
    /// (its body empty). Check it, then either call `proceed` and write `CONTINUE`, or `send`
    /// a final answer, which is the connection's last. Given once per request.
    Expect(Request),
    /// The input holds no whole request: read more.
    NeedMore,
    /// A request was returned and `send` has not answered it yet.
    AwaitingSend,
    /// No more requests will be read (`close_reason` says why); the rest of the input is
    /// ignored.
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Reading,
    /// A head waiting for `100 Continue` was returned: `proceed` or `send` comes next.
    Expecting {
        head_only: bool,
        keep_alive_header: bool,
    },
    /// A response is owed for the request last returned (or for a protocol error).
    Answering {
        head_only: bool,
        /// An HTTP/1.0 client asked to keep the connection: it must be told it was kept.
        keep_alive_header: bool,
    },
    Closed,
}

/// The HTTP state of one connection.
#[derive(Debug)]
pub struct Connection {
    limits: ParseLimits,
    max_requests: usize,
    input: Vec<u8>,
    /// Bytes arrived since the last parse found the input incomplete.
    fresh: bool,
    /// `input` length already searched for the blank line that ends the head.
    scanned: usize,
    head_seen: bool,
    /// Parses of the current request that found it incomplete.
    attempts: usize,
    continue_sent: bool,
    served: usize,
    shutting_down: bool,
    state: State,
    close: Option<CloseReason>,
}

impl Connection {
    /// A connection that answers at most `max_requests` requests (at least one).
    pub fn new(limits: ParseLimits, max_requests: usize) -> Connection {
        Connection {
            limits,
            max_requests: max_requests.max(1),
            input: Vec::new(),
            fresh: false,
            scanned: 0,
            head_seen: false,
            attempts: 0,
            continue_sent: false,
            served: 0,
            shutting_down: false,
            state: State::Reading,
            close: None,
        }
    }

    /// How many more bytes `receive` should be given now. Room for one maximal request plus
    /// framing overhead: `poll_request` errors before this fills on any single request, so the
    /// bound only paces pipelining clients.
    pub fn room(&self) -> usize {
        let cap = self.limits.max_header_bytes + 2 * self.limits.max_body_bytes + 4096;
        cap.saturating_sub(self.input.len())
    }

    /// Appends bytes read from the peer.
    pub fn receive(&mut self, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.input.extend_from_slice(bytes);
            self.fresh = true;
        }
    }

    /// True while part of a request (or pipelined requests) is buffered.
    pub fn has_input(&self) -> bool {
        !self.input.is_empty()
    }

    /// Requests returned by `poll_request` so far.
    pub fn served(&self) -> usize {
        self.served
    }

    /// Makes the next response the last: the server stops, in-flight requests still get their
    /// answer.
    pub fn shut_down(&mut self) {
        self.shutting_down = true;
    }

    /// Why the connection ends once the pending output is written; None while it stays open.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.close
    }

    /// The next request from the input, if a whole one is there.
    pub fn poll_request(&mut self) -> Result<Polled, HttpError> {
        match self.state {
            State::Answering { .. } | State::Expecting { .. } => return Ok(Polled::AwaitingSend),
            State::Closed => return Ok(Polled::Closed),
            State::Reading => {}
        }
        if !self.fresh || self.head_pending() {
            return Ok(Polled::NeedMore);
        }
        let parsed = if self.attempts >= MAX_PARSE_ATTEMPTS {
            Err(HttpError::BadRequest(Malformed::TooManyPieces))
        } else {
            parse(&self.input, &self.limits)
        };
        match parsed {
            Ok(Parsed::Complete(req, used)) => {
                self.input.drain(..used);
                self.fresh = !self.input.is_empty();
                self.scanned = 0;
                self.head_seen = false;
                self.attempts = 0;
                self.continue_sent = false;
                self.served += 1;
                self.close = requested_close(&req)
                    .or((self.served >= self.max_requests).then_some(CloseReason::RequestLimit));
                self.state = State::Answering {
                    head_only: req.method == "HEAD",
                    keep_alive_header: req.minor_version == 0,
                };
                Ok(Polled::Request(req))
            }
            Ok(Parsed::Incomplete { expect_continue }) => {
                self.attempts += 1;
                self.fresh = false;
                if expect_continue && !self.continue_sent {
                    self.continue_sent = true;
                    // The head parsed a moment ago, so it parses again.
                    if let Some(head) = parse_head(&self.input, &self.limits) {
                        self.state = State::Expecting {
                            head_only: head.method == "HEAD",
                            keep_alive_header: false,
                        };
                        return Ok(Polled::Expect(head));
                    }
                }
                Ok(Polled::NeedMore)
            }
            Err(e) => {
                self.close = Some(CloseReason::ProtocolError(e));
                self.state = State::Answering {
                    head_only: false,
                    keep_alive_header: false,
                };
                Err(e)
            }
        }
    }

    /// After `Polled::Expect`: the head is accepted; write `CONTINUE` and read the body.
    pub fn proceed(&mut self) {
        if let State::Expecting { .. } = self.state {
            self.state = State::Reading;
        }
    }

    /// Appends the wire form of `resp` to `out`: the answer to the request last returned (HEAD
    /// gets no body), or, with none owed, a last response that closes the connection.
    pub fn send(&mut self, resp: &Response, now: SystemTime, out: &mut Vec<u8>) {
        let (head_only, keep_alive_header) = match self.state {
            State::Expecting {
                head_only,
                keep_alive_header,
            } => {
                self.close.get_or_insert(CloseReason::ExpectationRefused);
                (head_only, keep_alive_header)
            }
            State::Answering {
                head_only,
                keep_alive_header,
            } => {
                if self.shutting_down && self.close.is_none() {
                    self.close = Some(CloseReason::ShuttingDown);
                }
                (head_only, keep_alive_header)
            }
            State::Reading | State::Closed => {
                self.close.get_or_insert(CloseReason::Unsolicited);
                (false, false)
            }
        };
        let close = self.close.is_some();
        let framing = Framing {
            close,
            keep_alive_header: keep_alive_header && !close,
            head_only,
        };
        response::write(resp, framing, &crate::log::http_date(now), out);
        self.state = if close { State::Closed } else { State::Reading };
    }

    /// True while the request head cannot be complete: no blank line has arrived yet and the
    /// size limit is not passed. Saves re-parsing the head on every trickled byte.
    fn head_pending(&mut self) -> bool {
        if self.head_seen {
            return false;
        }
        let from = self.scanned.saturating_sub(3).min(self.input.len());
        let tail = &self.input[from..];
        self.scanned = self.input.len();
        // A blank line is a `\n` followed by `\n` or `\r\n`: one pass that looks past each `\n`
        // only, since this runs on every read of every request.
        let found = tail
            .iter()
            .enumerate()
            .any(|(i, &b)| b == b'\n' && matches!(tail[i + 1..], [b'\n', ..] | [b'\r', b'\n', ..]));
        if found {
            self.head_seen = true;
            return false;
        }
        self.input.len() <= self.limits.max_header_bytes
    }
}

/// The close the request itself asks for (its version, `Connection`, `Transfer-Encoding`).
pub fn requested_close(req: &Request) -> Option<CloseReason> {
    let has = |token: &str| {
        req.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
            .flat_map(|(_, v)| v.split(|&b| b == b','))
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    };
    if req.minor_version == 0 {
        if req.header_count("transfer-encoding") > 0 {
            Some(CloseReason::Http10TransferEncoding)
        } else if has("keep-alive") {
            None
        } else {
            Some(CloseReason::Http10)
        }
    } else if has("close") {
        Some(CloseReason::ClientAsked)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn conn() -> Connection {
        Connection::new(ParseLimits::default(), 100)
    }

    fn request(c: &mut Connection) -> Request {
        match c.poll_request() {
            Ok(Polled::Request(r)) => r,
            other => panic!("no request: {other:?}"),
        }
    }

    /// Sends a 200 with a small body; returns the wire text.
    fn answer(c: &mut Connection) -> String {
        answer_with(c, &Response::new(200, "text/plain", "ok"))
    }

    fn answer_with(c: &mut Connection, resp: &Response) -> String {
        let mut out = Vec::new();
        c.send(resp, UNIX_EPOCH, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn pipelined_requests_come_out_in_order() {
        let mut c = conn();
        c.receive(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /c HTTP/1.1\r\nHost: x\r\n\r\nGET /d HT");
        assert_eq!(request(&mut c).path(), "/a");
        assert_eq!(c.poll_request(), Ok(Polled::AwaitingSend));
        let a = answer(&mut c);
        assert!(a.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(a.contains("\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n"));
        assert!(a.ends_with("Content-Length: 2\r\n\r\nok"));
        let b = request(&mut c);
        assert_eq!((b.path(), &b.body[..]), ("/b", &b"abc"[..]));
        answer(&mut c);
        assert_eq!(request(&mut c).path(), "/c");
        answer(&mut c);
        assert_eq!(c.poll_request(), Ok(Polled::NeedMore));
        assert!(c.has_input());
        c.receive(b"TP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(request(&mut c).path(), "/d");
        answer(&mut c);
        assert!(!c.has_input());
        assert_eq!(c.served(), 4);
        assert_eq!(c.close_reason(), None);
    }

    #[test]
    fn chunked_request_arriving_byte_by_byte() {
        let req = b"POST /apikey HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\n{\"va\r\n3\r\nlid\r\n0\r\nX-T: 1\r\n\r\n";
        let mut c = conn();
        for (i, b) in req.iter().enumerate() {
            c.receive(&[*b]);
            let polled = c.poll_request().unwrap();
            if i + 1 < req.len() {
                assert_eq!(polled, Polled::NeedMore, "byte {i}");
            } else {
                let Polled::Request(r) = polled else {
                    panic!("{polled:?}")
                };
                assert_eq!(r.body, b"{\"valid");
            }
        }
    }

    #[test]
    fn expect_continue_is_given_once_then_the_body_is_read() {
        let mut c = conn();
        c.receive(
            b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
        );
        let Ok(Polled::Expect(head)) = c.poll_request() else {
            panic!("no Expect")
        };
        assert_eq!((head.method.as_str(), head.target.as_str()), ("POST", "/"));
        assert!(head.body.is_empty());
        assert_eq!(head.header_str("content-length"), Some("4"));
        // Nothing more until the edge decides.
        assert_eq!(c.poll_request(), Ok(Polled::AwaitingSend));
        c.proceed();
        assert_eq!(c.poll_request(), Ok(Polled::NeedMore));
        c.receive(b"ab");
        assert_eq!(c.poll_request(), Ok(Polled::NeedMore));
        c.receive(b"cd");
        assert_eq!(request(&mut c).body, b"abcd");
        answer(&mut c);
        // The next request may ask again.
        c.receive(
            b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
        );
        assert!(matches!(c.poll_request(), Ok(Polled::Expect(_))));
        // HTTP/1.0 clients do not wait for it.
        let mut c = conn();
        c.receive(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n");
        assert_eq!(c.poll_request(), Ok(Polled::NeedMore));
    }

    #[test]
    fn an_expectation_refused_from_the_head_ends_the_connection() {
        let mut c = conn();
        c.receive(
            b"POST /apikey HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 9\r\n\r\n",
        );
        assert!(matches!(c.poll_request(), Ok(Polled::Expect(_))));
        let mut out = Vec::new();
        c.send(
            &Response::new(401, "text/plain", "no"),
            std::time::UNIX_EPOCH,
            &mut out,
        );
        assert!(out.starts_with(b"HTTP/1.1 401 "));
        assert!(String::from_utf8_lossy(&out).contains("Connection: close"));
        assert_eq!(c.close_reason(), Some(CloseReason::ExpectationRefused));
        // The body the client may send anyway is never read as a request.
        c.receive(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(c.poll_request(), Ok(Polled::Closed));
    }

    #[test]
    fn head_gets_the_length_but_no_body() {
        let mut c = conn();
        c.receive(
            b"HEAD /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        request(&mut c);
        let resp = Response::new(200, "application/json", r#"{"status":"UP"}"#);
        assert!(answer_with(&mut c, &resp).ends_with("Content-Length: 15\r\n\r\n"));
        request(&mut c);
        assert!(answer_with(&mut c, &resp).ends_with("\r\n\r\n{\"status\":\"UP\"}"));
    }

    #[test]
    fn not_modified_never_carries_a_body() {
        let mut c = conn();
        c.receive(b"GET /jwks HTTP/1.1\r\nHost: x\r\n\r\n");
        request(&mut c);
        let s = answer_with(&mut c, &Response::new(304, "application/json", "{}"));
        assert!(s.starts_with("HTTP/1.1 304 Not Modified\r\n"));
        assert!(
            s.ends_with("\r\n\r\n") && !s.contains("Content-Length"),
            "{s}"
        );
        assert_eq!(c.close_reason(), None);
    }

    #[test]
    fn what_the_client_asks_decides_keep_alive() {
        let cases: [(&[u8], Option<CloseReason>, &str); 6] = [
            (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", None, "\r\n\r\nok"),
            (
                b"GET / HTTP/1.1\r\nHost: x\r\nConnection: foo, Close\r\n\r\n",
                Some(CloseReason::ClientAsked),
                "Connection: close\r\n\r\nok",
            ),
            (
                b"GET / HTTP/1.0\r\n\r\n",
                Some(CloseReason::Http10),
                "Connection: close\r\n\r\nok",
            ),
            (
                b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
                None,
                "Connection: keep-alive\r\n\r\nok",
            ),
            (
                b"POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                Some(CloseReason::Http10TransferEncoding),
                "Connection: close\r\n\r\nok",
            ),
            (
                b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                None,
                "Content-Length: 2\r\n\r\nok",
            ),
        ];
        for (bytes, reason, tail) in cases {
            let mut c = conn();
            c.receive(bytes);
            c.receive(b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
            request(&mut c);
            assert_eq!(c.close_reason(), reason, "{bytes:?}");
            let s = answer(&mut c);
            assert!(s.ends_with(tail), "{s}");
            // Nothing after a closing response is read, even if it arrived.
            let next = c.poll_request().unwrap();
            if reason.is_some() {
                assert_eq!(next, Polled::Closed);
            } else {
                assert!(matches!(next, Polled::Request(_)));
            }
        }
    }

    #[test]
    fn request_limit_at_and_past_edge() {
        let mut c = Connection::new(ParseLimits::default(), 3);
        c.receive(&b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".repeat(4));
        for _ in 0..2 {
            request(&mut c);
            assert!(!answer(&mut c).contains("Connection: close"));
        }
        request(&mut c);
        assert_eq!(c.close_reason(), Some(CloseReason::RequestLimit));
        assert!(answer(&mut c).contains("Connection: close"));
        assert_eq!(c.poll_request(), Ok(Polled::Closed));
        assert_eq!(c.served(), 3);
    }

    #[test]
    fn shutting_down_makes_the_next_response_the_last() {
        let mut c = conn();
        c.receive(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
        request(&mut c);
        c.shut_down();
        assert!(answer(&mut c).contains("Connection: close"));
        assert_eq!(c.close_reason(), Some(CloseReason::ShuttingDown));
        assert_eq!(c.poll_request(), Ok(Polled::Closed));
    }

    #[test]
    fn limit_errors_end_the_connection() {
        let l = ParseLimits::default();
        let mut body = format!(
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            l.max_body_bytes + 1
        );
        body.push_str("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        let cases = [
            (body, 413),
            (
                format!(
                    "GET /{} HTTP/1.1\r\nHost: x\r\n\r\n",
                    "a".repeat(l.max_uri_bytes)
                ),
                414,
            ),
            (
                format!(
                    "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
                    "a".repeat(l.max_header_bytes)
                ),
                431,
            ),
            ("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n".to_string(), 400),
            ("GET / HTTP/1.1\r\n\r\n".to_string(), 400),
        ];
        for (bytes, status) in cases {
            let mut c = conn();
            c.receive(bytes.as_bytes());
            let e = c.poll_request().unwrap_err();
            assert_eq!(e.status(), status, "{bytes}");
            assert_eq!(c.close_reason(), Some(CloseReason::ProtocolError(e)));
            let s = answer_with(&mut c, &Response::new(status, "application/json", "{}"));
            assert!(s.contains("Connection: close\r\n"), "{s}");
            assert_eq!(c.poll_request(), Ok(Polled::Closed));
        }
    }

    #[test]
    fn a_blank_line_is_found_wherever_the_reads_split_it() {
        // CRLF, bare LF, and the two mixed: each head is whole only with its last byte, however
        // the bytes are cut into two reads, and a lone `\r` or a `\r\r` is no blank line.
        for head in [
            "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET / HTTP/1.1\nHost: x\n\n",
            "GET / HTTP/1.1\r\nHost: x\n\r\n",
            "GET / HTTP/1.1\nHost: x\r\n\n",
        ] {
            let bytes = head.as_bytes();
            for cut in 0..bytes.len() {
                let mut c = conn();
                c.receive(&bytes[..cut]);
                assert_eq!(c.poll_request(), Ok(Polled::NeedMore), "{head:?} at {cut}");
                c.receive(&bytes[cut..bytes.len() - 1]);
                assert_eq!(c.poll_request(), Ok(Polled::NeedMore), "{head:?} at {cut}");
                c.receive(&bytes[bytes.len() - 1..]);
                assert!(
                    matches!(c.poll_request(), Ok(Polled::Request(_))),
                    "{head:?}"
                );
            }
        }
        let mut c = conn();
        c.receive(b"GET / HTTP/1.1\r\nHost: x\r\r\nX: \r\n");
        assert_eq!(c.poll_request(), Ok(Polled::NeedMore));
        assert!(!c.head_seen);
    }

    /// A head, then the body one byte per `receive`: the head's parse and each byte's make
    /// `body + 1` parses, `body` of them incomplete.
    fn trickle(body: usize) -> Result<Polled, HttpError> {
        let mut c = conn();
        c.receive(
            format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {body}\r\n\r\n").as_bytes(),
        );
        assert_eq!(c.poll_request(), Ok(Polled::NeedMore));
        for _ in 0..body - 1 {
            c.receive(b"x");
            assert_eq!(c.poll_request(), Ok(Polled::NeedMore));
        }
        c.receive(b"x");
        c.poll_request()
    }

    #[test]
    fn parse_attempts_at_and_past_the_cap() {
        // MAX - 1 incomplete parses, then the whole request; MAX incomplete ones are too many.
        assert!(matches!(
            trickle(MAX_PARSE_ATTEMPTS - 1),
            Ok(Polled::Request(_))
        ));
        assert_eq!(
            trickle(MAX_PARSE_ATTEMPTS),
            Err(HttpError::BadRequest(Malformed::TooManyPieces))
        );
        // Bytes of a head still looking for its blank line are not parses.
        let mut c = conn();
        let head = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
            "a".repeat(2 * MAX_PARSE_ATTEMPTS)
        );
        for b in head.bytes() {
            c.receive(&[b]);
            let _ = c.poll_request().unwrap();
        }
        assert_eq!(c.served(), 1);
        // Polling again without new bytes does not count either.
        let mut c = conn();
        c.receive(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n");
        for _ in 0..2 * MAX_PARSE_ATTEMPTS {
            assert_eq!(c.poll_request(), Ok(Polled::NeedMore));
        }
        c.receive(b"x");
        assert!(matches!(c.poll_request(), Ok(Polled::Request(_))));
    }

    #[test]
    fn an_unsolicited_response_is_the_last() {
        let mut c = conn();
        c.receive(b"GET / HTTP/1.1\r\n");
        assert_eq!(c.poll_request(), Ok(Polled::NeedMore));
        let s = answer_with(&mut c, &Response::new(408, "application/json", "{}"));
        assert!(s.starts_with("HTTP/1.1 408 Request Timeout\r\n"));
        assert!(s.contains("Connection: close\r\n"));
        assert_eq!(c.close_reason(), Some(CloseReason::Unsolicited));
        assert_eq!(c.poll_request(), Ok(Polled::Closed));
    }

    #[test]
    fn room_bounds_the_input() {
        let l = ParseLimits::default();
        let mut c = conn();
        let cap = c.room();
        assert_eq!(cap, l.max_header_bytes + 2 * l.max_body_bytes + 4096);
        c.receive(&b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".repeat(10));
        assert_eq!(c.room(), cap - 270);
    }

    #[test]
    fn a_refused_expectation_has_a_body_unless_the_request_was_head() {
        for (method, with_body) in [("POST", true), ("HEAD", false)] {
            let mut c = conn();
            c.receive(
                format!(
                    "{method} / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 9\r\n\r\n"
                )
                .as_bytes(),
            );
            assert!(matches!(c.poll_request(), Ok(Polled::Expect(_))));
            let s = answer_with(&mut c, &Response::new(401, "text/plain", "no"));
            assert!(s.contains("Content-Length: 2\r\n"), "{s}");
            assert_eq!(s.ends_with("\r\n\r\nno"), with_body, "{s}");
        }
    }
}
