// Property checks shared by the libFuzzer targets (fuzz/fuzz_targets/*.rs) and the corpus replay
// test (tests/fuzz_corpus.rs). Both `include!` this file inside a `mod checks { ... }`, so it
// must only use crates that both the main package and the fuzz package depend on
// (apikey_sts, rsa, base64, serde_json).
//
// Every check panics on a violated property; a panic is what libFuzzer reports as a crash and
// what `cargo test` reports as a failure, so a fuzzer finding kept in fuzz/regressions/<target>/
// becomes a regression test.

use apikey_sts::issuer;
use apikey_sts::auth::{self, AuthError, PasswordHash};
use apikey_sts::config::{Config, Environment};
use apikey_sts::http::{
    self, CloseReason, Connection, HttpError, Malformed, ParseLimits, Parsed, Polled, Request,
    Response,
};
use apikey_sts::jwt::{self, AllowedApi, Claims, JwtError, RsaSigner};
use apikey_sts::keystore::Keystore;
use base64::Engine;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Every target by name, as named in fuzz/Cargo.toml and under corpus_seed/ and regressions/.
/// A target's property check: panics when a property is violated.
pub type Check = fn(&[u8]);

pub const TARGETS: &[(&str, Check)] = &[
    ("fuzz_http_request", http_request),
    ("fuzz_http_roundtrip", http_roundtrip),
    ("fuzz_http_structured", http_structured),
    ("fuzz_http_conn", http_conn),
    ("fuzz_config", config),
    ("fuzz_basic_auth", basic_auth),
    ("fuzz_jwt_verify", jwt_verify),
    ("fuzz_jwt_roundtrip", jwt_roundtrip),
    ("fuzz_validity_body", validity_body),
    ("fuzz_issue_body", issue_body),
    ("fuzz_keystore", keystore),
    ("fuzz_pem", pem),
    ("fuzz_revocation_log", revocation_log),
    ("fuzz_revoke_body", revoke_body),
    ("fuzz_validator_request", validator_request),
    ("fuzz_proxy_protocol", proxy_protocol),
    ("fuzz_feed_record", feed_record),
    ("fuzz_token_form", token_form),
];

/// Largest keystore input the keystore target looks at (`-max_len` in run.sh matches).
pub const MAX_KEYSTORE_INPUT: usize = 16 * 1024;

// ---------------------------------------------------------------------------------------------
// A tiny deterministic byte reader, in the spirit of `arbitrary::Unstructured`. The structured
// targets decode their input with it rather than with `arbitrary` so that `cargo test` of the main
// crate (which cannot depend on the fuzz crate or on `arbitrary`) decodes a corpus file exactly
// as the fuzzer did. Reads past the end yield zeros / empty slices.

pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    pub fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.u8();
        }
        u64::from_le_bytes(b)
    }

    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        if n <= 256 {
            self.u8() as usize % n
        } else {
            self.u16() as usize % n
        }
    }

    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (a, b) = self.data.split_at(n);
        self.data = b;
        a
    }

    /// A length-prefixed byte string of at most `max` bytes.
    pub fn blob(&mut self, max: usize) -> &'a [u8] {
        let n = self.below(max + 1);
        self.bytes(n)
    }

    /// A length-prefixed string whose bytes are drawn from `alphabet`.
    pub fn pick_from_alphabet(&mut self, alphabet: &[u8], max: usize) -> Vec<u8> {
        self.blob(max)
            .iter()
            .map(|&b| alphabet[b as usize % alphabet.len()])
            .collect()
    }

    /// Arbitrary (lossy) UTF-8 text of at most `max` input bytes.
    pub fn text(&mut self, max: usize) -> String {
        String::from_utf8_lossy(self.blob(max)).into_owned()
    }

    pub fn rest(&mut self) -> &'a [u8] {
        let r = self.data;
        self.data = &[];
        r
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP

/// Small limits so that short inputs reach every limit check.
pub const SMALL_LIMITS: ParseLimits = ParseLimits {
    max_header_bytes: 256,
    max_uri_bytes: 48,
    max_headers: 4,
    max_body_bytes: 64,
};

fn limit_sets() -> [ParseLimits; 2] {
    [ParseLimits::default(), SMALL_LIMITS]
}

/// An error must map to a status the server can answer with (4xx/5xx, with a reason phrase) and
/// a one-line message (it ends up in a response body and a log line).
pub fn check_http_error(e: &HttpError) {
    let s = e.status();
    assert!(
        matches!(s, 400 | 413 | 414 | 417 | 431 | 501 | 505),
        "{e:?} maps to unexpected status {s}"
    );
    assert_ne!(
        http::reason(s),
        "Unknown",
        "{e:?}: no reason phrase for {s}"
    );
    let msg = e.to_string();
    assert!(!msg.is_empty() && !msg.contains(['\r', '\n']), "{msg:?}");
}

fn content_length(req: &Request) -> Option<usize> {
    req.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| {
            std::str::from_utf8(v)
                .expect("accepted Content-Length is ASCII")
                .trim()
                .parse()
                .expect("accepted Content-Length is a number")
        })
}

fn is_chunked(req: &Request) -> bool {
    req.headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"))
}

/// Invariants of one accepted request: within limits, framing honoured, accessors total.
pub fn check_request(req: &Request, used: usize, buf: &[u8], l: &ParseLimits) {
    assert!(
        used > 0 && used <= buf.len(),
        "used {used} of {}",
        buf.len()
    );
    assert!(req.minor_version <= 1, "version 1.{}", req.minor_version);
    assert!(req.target.len() <= l.max_uri_bytes, "target over limit");
    assert!(req.headers.len() <= l.max_headers, "headers over limit");
    assert!(req.body.len() <= l.max_body_bytes, "body over limit");
    assert!(!req.method.is_empty(), "empty method accepted");
    let te = is_chunked(req);
    match content_length(req) {
        Some(n) => {
            assert!(!te, "both Content-Length and Transfer-Encoding accepted");
            assert_eq!(req.body.len(), n, "body length differs from Content-Length");
            let head = used - n;
            assert!(
                head <= l.max_header_bytes,
                "head of {head} bytes over limit"
            );
            assert_eq!(
                &buf[head..used],
                &req.body[..],
                "body is not the bytes after the head"
            );
        }
        None if !te => {
            assert!(req.body.is_empty(), "body without framing");
            assert!(
                used <= l.max_header_bytes,
                "head of {used} bytes over limit"
            );
        }
        None => {}
    }
    // Accessors used by the handlers and the server must be total.
    let _ = (
        req.path(),
        req.query(),
        http::requested_close(req),
        req.header_str("expect"),
    );
    assert!(req.target.starts_with(req.path()));
}

/// Parses `buf` like the server does: one request after another, the rest of the buffer after
/// each `Complete`.
pub fn http_request(data: &[u8]) {
    for l in limit_sets() {
        let mut pos = 0;
        while pos < data.len() {
            let buf = &data[pos..];
            let r = http::parse(buf, &l);
            assert_eq!(r, http::parse(buf, &l), "parse is not deterministic");
            match r {
                Ok(Parsed::Complete(req, used)) => {
                    check_request(&req, used, buf, &l);
                    // What follows the request (pipelined bytes) must not change it ...
                    assert_eq!(
                        http::parse(&buf[..used], &l),
                        Ok(Parsed::Complete(req.clone(), used)),
                        "request changes with the bytes after it"
                    );
                    // ... and one byte less is never enough.
                    assert!(
                        matches!(
                            http::parse(&buf[..used - 1], &l),
                            Ok(Parsed::Incomplete { .. })
                        ),
                        "a strict prefix of a complete request is not Incomplete"
                    );
                    pos += used;
                }
                Ok(Parsed::Incomplete { .. }) => break,
                Err(e) => {
                    check_http_error(&e);
                    break;
                }
            }
        }
    }
}

fn without_framing(req: &Request) -> Vec<(String, Vec<u8>)> {
    req.headers
        .iter()
        .filter(|(n, _)| {
            !n.eq_ignore_ascii_case("transfer-encoding")
                && !n.eq_ignore_ascii_case("content-length")
        })
        .cloned()
        .collect()
}

/// Anything the parser accepts, serialised with `Request::to_bytes` and parsed again, is the
/// same request (framing headers aside: `to_bytes` re-frames with Content-Length).
pub fn http_roundtrip(data: &[u8]) {
    for l in limit_sets() {
        let Ok(Parsed::Complete(req, _)) = http::parse(data, &l) else {
            continue;
        };
        let bytes = req.to_bytes();
        // `to_bytes` writes `Name: value` and CRLF even where the input had `Name:value` or a bare
        // LF, so the head may grow: the header-size limit is about the wire, not the request.
        let relaxed = ParseLimits {
            max_header_bytes: l.max_header_bytes.max(bytes.len()),
            ..l
        };
        let again = match http::parse(&bytes, &relaxed) {
            Ok(Parsed::Complete(r, used)) => {
                assert_eq!(
                    used,
                    bytes.len(),
                    "re-serialised request not consumed whole"
                );
                r
            }
            other => panic!(
                "re-serialised request does not parse: {other:?}\nrequest: {req:?}\nbytes: {:?}",
                String::from_utf8_lossy(&bytes)
            ),
        };
        assert_eq!(again.method, req.method);
        assert_eq!(again.target, req.target);
        assert_eq!(again.minor_version, req.minor_version);
        assert_eq!(again.body, req.body);
        assert_eq!(without_framing(&again), without_framing(&req));
        // `to_bytes` re-frames a chunked body, and HTTP/1.0 closes after Transfer-Encoding.
        if !is_chunked(&req) {
            assert_eq!(http::requested_close(&again), http::requested_close(&req));
        }
        assert_eq!(again.to_bytes(), bytes, "to_bytes is not a fixpoint");
    }
}

/// Feeding `buf` to the parser in growing prefixes (as bytes arrive from the network) must give
/// one consistent answer: `Incomplete` until the first definite answer; then, for longer prefixes,
/// the same `Complete` (when a request completed) or the same error. A request that parses
/// `Complete(_, n)` on the whole buffer is `Incomplete` on every prefix shorter than `n`.
pub fn check_incremental(buf: &[u8], l: &ParseLimits, splits: &[usize], exhaustive: bool) {
    let mut points: Vec<usize> = if exhaustive {
        (0..=buf.len()).collect()
    } else {
        let mut p: Vec<usize> = splits.iter().map(|&s| s % (buf.len() + 1)).collect();
        p.extend([0, buf.len()]);
        p
    };
    points.sort_unstable();
    points.dedup();
    let full = http::parse(buf, l);
    let mut first: Option<(usize, Result<Parsed, HttpError>)> = None;
    let mut expect_seen = false;
    for &p in &points {
        let r = http::parse(&buf[..p], l);
        match &first {
            None => match r {
                Ok(Parsed::Incomplete { expect_continue }) => {
                    assert!(
                        expect_continue || !expect_seen,
                        "expect_continue went back to false at {p}"
                    );
                    expect_seen |= expect_continue;
                }
                other => first = Some((p, other)),
            },
            Some((at, answer)) => assert_eq!(
                &r,
                answer,
                "prefix {p} parses differently from prefix {at}\nbuffer: {:?}",
                String::from_utf8_lossy(buf)
            ),
        }
    }
    match (&full, &first) {
        (Ok(Parsed::Incomplete { .. }), None) => {}
        (Ok(Parsed::Complete(_, n)), Some((at, _))) => {
            assert!(at >= n, "prefix {at} < {n} was already Complete");
            if exhaustive {
                assert_eq!(
                    at, n,
                    "first definite answer at {at}, not at the request end {n}"
                );
            }
        }
        (Err(_), Some(_)) => {}
        other => panic!("inconsistent: {other:?}"),
    }
}

const METHODS: &[&str] = &[
    "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT",
];
const TCHAR: &[u8] =
    b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const TARGET_CHARS: &[u8] =
    b"/abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%?=&+:@!$'()*,;";
const VALUE_CHARS: &[u8] =
    b" abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%/?=&+:@!$'()*,;\"<>[]{}\\^`|#";
const HEADER_NAMES: &[&str] = &[
    "Host",
    "User-Agent",
    "Accept",
    "Authorization",
    "Connection",
    "Content-Type",
    "X-Request-Id",
    "Keep-Alive",
];

/// How the generated request frames its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    None,
    Length,
    Chunked,
    /// Invalid framings: wrong length, both headers, unknown coding, broken chunks.
    Broken(u8),
}

/// A request built from fuzz input: the rendered bytes, and the request the parser must return
/// when the generator stayed within the grammar and the limits (`expected`).
pub struct Generated {
    pub bytes: Vec<u8>,
    /// Bytes of the first request (the rest is a pipelined tail).
    pub first_len: usize,
    pub expected: Option<Request>,
    pub limits: ParseLimits,
    pub splits: Vec<usize>,
}

fn hex_size(r: &mut Reader, n: usize) -> String {
    let mut s = if r.bool() {
        format!("{n:x}")
    } else {
        format!("{n:X}")
    };
    if r.u8().is_multiple_of(8) {
        s = format!("00{s}");
    }
    s
}

pub fn generate_request(data: &[u8]) -> Generated {
    let mut r = Reader::new(data);
    let flags = r.u8();
    let limits = if flags & 1 == 0 {
        ParseLimits::default()
    } else {
        SMALL_LIMITS
    };
    let mut well_formed = true;

    let method = if !r.u8().is_multiple_of(8) {
        METHODS[r.below(METHODS.len())].as_bytes().to_vec()
    } else {
        let m = r.blob(12).to_vec();
        well_formed &= !m.is_empty() && m.iter().all(|b| TCHAR.contains(b));
        m
    };
    let mut target = b"/".to_vec();
    if !r.u8().is_multiple_of(8) {
        target.extend(r.pick_from_alphabet(TARGET_CHARS, 64));
        if r.u8().is_multiple_of(16) {
            target.extend(std::iter::repeat_n(b'a', r.below(3000)));
        }
    } else {
        target = r.blob(24).to_vec();
        well_formed &= !target.is_empty() && target.iter().all(|b| TARGET_CHARS.contains(b));
    }
    let minor: u8 = if r.bool() { 1 } else { 0 };
    let version: Vec<u8> = match r.u8() % 16 {
        0 => {
            well_formed = false;
            r.blob(10).to_vec()
        }
        _ => format!("HTTP/1.{minor}").into_bytes(),
    };
    let eol: &[u8] = if flags & 2 == 0 { b"\r\n" } else { b"\n" };

    let mut headers: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let n_headers = r.below(8);
    for _ in 0..n_headers {
        let name = match r.u8() % 8 {
            0 => {
                let n = r.blob(12).to_vec();
                well_formed &= n.iter().all(|b| TCHAR.contains(b));
                n
            }
            1 => r.pick_from_alphabet(TCHAR, 16),
            _ => HEADER_NAMES[r.below(HEADER_NAMES.len())]
                .as_bytes()
                .to_vec(),
        };
        // The oracle below adds the framing headers itself.
        well_formed &= !name.is_empty()
            && ![&b"content-length"[..], b"transfer-encoding", b"expect"]
                .iter()
                .any(|f| name.eq_ignore_ascii_case(f));
        let mut value = if r.u8().is_multiple_of(8) {
            let v = r.blob(16).to_vec();
            well_formed &= v.iter().all(|b| VALUE_CHARS.contains(b));
            v
        } else {
            r.pick_from_alphabet(VALUE_CHARS, 40)
        };
        // httparse drops surrounding whitespace; keep the oracle exact.
        while value.first() == Some(&b' ') || value.last() == Some(&b' ') {
            if value.first() == Some(&b' ') {
                value.remove(0);
            } else {
                value.pop();
            }
        }
        if r.u8().is_multiple_of(32) {
            value.extend(std::iter::repeat_n(b'v', r.below(9000)));
        }
        headers.push((name, value));
    }
    if r.u8().is_multiple_of(8) {
        headers.push((b"Expect".to_vec(), b"100-continue".to_vec()));
    }

    let body = r.blob(200).to_vec();
    let framing = match r.u8() % 16 {
        0..=3 => Framing::None,
        4..=8 => Framing::Length,
        9..=13 => Framing::Chunked,
        x => Framing::Broken(x),
    };
    let body = if framing == Framing::None {
        Vec::new()
    } else {
        body
    };
    let mut body_bytes = Vec::new();
    let mut extra_body = 0usize; // body bytes over the limit via big chunks
    match framing {
        Framing::None => {}
        Framing::Length => {
            headers.push((
                b"Content-Length".to_vec(),
                body.len().to_string().into_bytes(),
            ));
            body_bytes.extend_from_slice(&body);
        }
        Framing::Chunked | Framing::Broken(_) => {
            headers.push((b"Transfer-Encoding".to_vec(), b"chunked".to_vec()));
            let mut rest = &body[..];
            while !rest.is_empty() {
                let n = (r.below(64) + 1).min(rest.len());
                let size = hex_size(&mut r, n);
                body_bytes.extend_from_slice(size.as_bytes());
                if r.u8().is_multiple_of(8) {
                    body_bytes.extend_from_slice(b";ext=");
                    body_bytes.extend(r.pick_from_alphabet(TCHAR, 8));
                }
                body_bytes.extend_from_slice(b"\r\n");
                body_bytes.extend_from_slice(&rest[..n]);
                body_bytes.extend_from_slice(b"\r\n");
                rest = &rest[n..];
            }
            if r.u8().is_multiple_of(32) {
                // A chunk past the body limit.
                let n = limits.max_body_bytes + 1 - body.len().min(limits.max_body_bytes);
                extra_body = n;
                body_bytes.extend_from_slice(format!("{n:x}\r\n").as_bytes());
                body_bytes.extend(std::iter::repeat_n(b'x', n));
                body_bytes.extend_from_slice(b"\r\n");
            }
            body_bytes.extend_from_slice(b"0\r\n");
            for _ in 0..r.below(3) {
                body_bytes.extend_from_slice(b"X-Trailer: ");
                body_bytes.extend(r.pick_from_alphabet(VALUE_CHARS, 16));
                body_bytes.extend_from_slice(b"\r\n");
            }
            body_bytes.extend_from_slice(b"\r\n");
        }
    }
    if let Framing::Broken(x) = framing {
        well_formed = false;
        match x {
            14 => {
                // Corrupt one byte of the chunked body, or add a conflicting framing header.
                match r.u8() % 4 {
                    0 => headers.push((b"Content-Length".to_vec(), b"3".to_vec())),
                    1 => {
                        let last = headers.len() - 1;
                        headers[last].1 =
                            [&b"gzip, "[..], b"chunked", b"identity", b" "][r.below(4)].to_vec()
                    }
                    _ => {
                        if !body_bytes.is_empty() {
                            let i = r.below(body_bytes.len());
                            body_bytes[i] = r.u8();
                        }
                    }
                }
            }
            _ => {
                // Content-Length that lies about the body.
                let last = headers.len() - 1;
                headers[last] = (
                    b"Content-Length".to_vec(),
                    match r.u8() % 4 {
                        0 => b"-1".to_vec(),
                        1 => b"99999999999999999999".to_vec(),
                        2 => (body.len() + 1 + r.below(32)).to_string().into_bytes(),
                        _ => r.blob(6).to_vec(),
                    },
                );
                body_bytes = body.clone();
            }
        }
    }

    let mut bytes = Vec::new();
    bytes.extend_from_slice(&method);
    bytes.push(b' ');
    bytes.extend_from_slice(&target);
    bytes.push(b' ');
    bytes.extend_from_slice(&version);
    bytes.extend_from_slice(eol);
    for (n, v) in &headers {
        bytes.extend_from_slice(n);
        bytes.push(b':');
        if !r.u8().is_multiple_of(4) {
            bytes.push(b' ');
        }
        bytes.extend_from_slice(v);
        bytes.extend_from_slice(eol);
    }
    bytes.extend_from_slice(eol);
    let head_len = bytes.len();
    bytes.extend_from_slice(&body_bytes);
    let first_len = bytes.len();

    // A pipelined tail: another request or garbage.
    match r.u8() % 4 {
        0 => bytes.extend_from_slice(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"),
        1 => bytes.extend_from_slice(r.blob(32)),
        _ => {}
    }
    let splits: Vec<usize> = (0..r.below(12)).map(|_| r.u16() as usize).collect();

    let count = |name: &[u8]| {
        headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    };
    // RFC 9112 §3.2: exactly one Host in HTTP/1.1, at most one in 1.0; one Authorization.
    let hosts = count(b"host");
    well_formed &= hosts == 1 || (hosts == 0 && minor == 0);
    well_formed &= count(b"authorization") <= 1;
    well_formed &= head_len <= limits.max_header_bytes
        && target.len() <= limits.max_uri_bytes
        && headers.len() <= limits.max_headers
        && body.len() + extra_body <= limits.max_body_bytes;
    let expected = well_formed.then(|| Request {
        method: String::from_utf8(method).unwrap(),
        target: String::from_utf8(target).unwrap(),
        minor_version: minor,
        headers: headers
            .into_iter()
            .map(|(n, v)| (String::from_utf8(n).unwrap(), v))
            .collect(),
        body,
    });
    Generated {
        bytes,
        first_len,
        expected,
        limits,
        splits,
    }
}

/// A generated request (method, target, headers, chunked or length body, pipelined tail) split
/// at arbitrary points: the incremental answers agree, and a well-formed request parses to
/// exactly what was generated.
pub fn http_structured(data: &[u8]) {
    let g = generate_request(data);
    let l = &g.limits;
    let full = http::parse(&g.bytes, l);
    if let Some(want) = &g.expected {
        assert_eq!(
            full,
            Ok(Parsed::Complete(want.clone(), g.first_len)),
            "well-formed request misparsed\nbytes: {:?}",
            String::from_utf8_lossy(&g.bytes)
        );
    }
    match &full {
        Ok(Parsed::Complete(req, used)) => check_request(req, *used, &g.bytes, l),
        Err(e) => check_http_error(e),
        Ok(Parsed::Incomplete { .. }) => {}
    }
    check_incremental(&g.bytes, l, &g.splits, g.bytes.len() <= 700);
    // The same check on the raw fuzz input, for split-point coverage of arbitrary bytes.
    if data.len() <= 256 {
        check_incremental(data, &SMALL_LIMITS, &[], true);
    }
}

/// The requests the parser finds in `stream` one after another, how the stream ends after
/// them (`Ok(())` for an incomplete or empty rest, or the error), and where that rest starts.
type ParsedStream = (Vec<Request>, Result<(), HttpError>, usize);

fn parse_all(stream: &[u8], l: &ParseLimits) -> ParsedStream {
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        match http::parse(&stream[pos..], l) {
            Ok(Parsed::Complete(req, used)) => {
                out.push(req);
                pos += used;
            }
            Ok(Parsed::Incomplete { .. }) => return (out, Ok(()), pos),
            Err(e) => return (out, Err(e), pos),
        }
    }
}

/// Checks one response as `Connection::send` wrote it: a status line, `Connection: close`
/// exactly when the connection ends, a `Content-Length` that frames the body (none for 304),
/// and no body for HEAD or 304.
fn check_wire_response(out: &[u8], resp: &Response, head_only: bool, closing: bool) {
    let text = String::from_utf8_lossy(out);
    let end = text.find("\r\n\r\n").expect("response head ends") + 4;
    let head = &text[..end];
    assert!(
        head.starts_with(&format!("HTTP/1.1 {} ", resp.status)),
        "{head}"
    );
    assert!(head.contains("\r\nDate: "), "{head}");
    assert_eq!(head.contains("\r\nConnection: close\r\n"), closing, "{head}");
    let length = head
        .split("\r\n")
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .map(|v| v.parse::<usize>().expect("numeric Content-Length"));
    if resp.status == 304 {
        assert_eq!(length, None, "304 with a Content-Length");
        assert_eq!(out.len(), end, "304 with a body");
    } else {
        assert_eq!(length, Some(resp.body.len()));
        let body = if head_only { 0 } else { resp.body.len() };
        assert_eq!(out.len(), end + body, "body not framed by Content-Length");
    }
}

/// `Connection` fed a stream in arbitrary pieces, answering each request: it returns exactly
/// the requests `parse` finds one after another (up to the one after which it closes), ends the
/// same way (an error or a need for more bytes), frames every response as it promised, asks
/// for `100 Continue` at most once per request and only when the request wants it, answers at
/// most `max_requests`, and reads nothing after it closed.
/// Input: a flags byte (limits, request cap, shutdown), a count of piece sizes, the sizes, and
/// the stream.
pub fn http_conn(data: &[u8]) {
    let mut r = Reader::new(data);
    let flags = r.u8();
    let limits = if flags & 1 == 0 {
        ParseLimits::default()
    } else {
        SMALL_LIMITS
    };
    let max_requests = if flags & 2 == 0 {
        100
    } else {
        1 + (flags as usize >> 4) % 4
    };
    let shut_down_after = (flags & 4 != 0).then_some((flags as usize >> 3) % 4);
    let sizes: Vec<usize> = (0..r.below(64))
        .map(|_| 1 + r.below(64))
        .collect();
    let stream = r.rest();
    let (want, want_end, rest_at) = parse_all(stream, &limits);

    let mut c = Connection::new(limits, max_requests);
    let mut got: Vec<Request> = Vec::new();
    let mut pos = 0;
    let mut piece = 0;
    let mut error = None;
    let mut continued = false;
    let mut shut = false;
    'feed: loop {
        let n = sizes.get(piece).copied().unwrap_or(stream.len() - pos).min(stream.len() - pos);
        piece += 1;
        c.receive(&stream[pos..pos + n]);
        pos += n;
        loop {
            match c.poll_request() {
                Ok(Polled::Request(req)) => {
                    assert!(c.served() <= max_requests);
                    if shut_down_after == Some(got.len()) {
                        c.shut_down();
                        shut = true;
                    }
                    let head_only = req.method == "HEAD";
                    let resp = match req.target.len() % 3 {
                        0 => Response::new(304, "application/json", Vec::new()),
                        _ => Response::new(200, "text/plain", req.target.as_bytes()),
                    };
                    let mut out = Vec::new();
                    c.send(&resp, std::time::UNIX_EPOCH, &mut out);
                    let closing = c.close_reason().is_some();
                    check_wire_response(&out, &resp, head_only, closing);
                    let reason = http::requested_close(&req)
                        .or((c.served() == max_requests).then_some(CloseReason::RequestLimit))
                        .or(shut.then_some(CloseReason::ShuttingDown));
                    assert_eq!(c.close_reason(), reason);
                    got.push(req);
                    continued = false;
                }
                Ok(Polled::Expect(head)) => {
                    assert!(!continued, "100 Continue twice for one request");
                    assert!(head.body.is_empty(), "the head of an expecting request has a body");
                    continued = true;
                    c.proceed();
                    let mut rest = &stream[..pos];
                    let mut seen = 0;
                    // The pending request (after those answered) asked for it.
                    while seen < got.len() {
                        let Ok(Parsed::Complete(_, used)) = http::parse(rest, &limits) else {
                            panic!("an answered request does not parse");
                        };
                        rest = &rest[used..];
                        seen += 1;
                    }
                    assert_eq!(
                        http::parse(rest, &limits),
                        Ok(Parsed::Incomplete {
                            expect_continue: true
                        })
                    );
                }
                Ok(Polled::NeedMore) => break,
                Ok(Polled::AwaitingSend) => panic!("AwaitingSend after send"),
                Ok(Polled::Closed) => break 'feed,
                Err(e) => {
                    check_http_error(&e);
                    assert_ne!(
                        e,
                        HttpError::BadRequest(Malformed::TooManyPieces),
                        "at most 65 pieces"
                    );
                    assert_eq!(c.close_reason(), Some(CloseReason::ProtocolError(e)));
                    let resp = Response::new(e.status(), "text/plain", e.to_string());
                    let mut out = Vec::new();
                    c.send(&resp, std::time::UNIX_EPOCH, &mut out);
                    check_wire_response(&out, &resp, false, true);
                    error = Some(e);
                }
            }
        }
        if pos == stream.len() {
            break;
        }
    }
    assert!(got.len() <= want.len(), "more requests than the parser finds");
    assert_eq!(got[..], want[..got.len()], "requests differ from parse's");
    match c.close_reason() {
        Some(CloseReason::ProtocolError(e)) => {
            assert_eq!(got.len(), want.len());
            assert_eq!(Err(e), want_end);
            assert_eq!(error, Some(e));
        }
        Some(_) => {}
        None => {
            assert_eq!(got.len(), want.len(), "requests left unread");
            if want_end.is_err() {
                // The connection waits for the end of a head before parsing it; the parser
                // answers on a syntax error at once.
                let rest = &stream[rest_at..];
                let ended = rest.windows(2).any(|w| w == b"\n\n")
                    || rest.windows(3).any(|w| w == b"\n\r\n");
                assert!(
                    !ended && rest.len() <= limits.max_header_bytes,
                    "error not reported: {want_end:?}"
                );
            }
        }
    }
    // A closed connection stays closed, whatever else arrives.
    if c.close_reason().is_some() {
        c.receive(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(c.poll_request(), Ok(Polled::Closed));
    }
}

// ---------------------------------------------------------------------------------------------
// Config

pub const CONFIG_SOURCE: &str = "fuzz.conf";

fn config_var(name: &str) -> Option<String> {
    match name {
        "KS_PASS" => Some("from-env".into()),
        "EMPTY" => Some(String::new()),
        "HOME" => Some("/home/sts".into()),
        _ => None,
    }
}

/// `Config::parse` on arbitrary text: an error names the file (and a TOML error is one line);
/// a config it accepts satisfies the documented invariants.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = Environment {
        runtime_home: PathBuf::from("/opt/mgw"),
        var: &config_var,
    };
    let base = Path::new("/etc/sts");
    match Config::parse(text, CONFIG_SOURCE, base, &env) {
        Err(e) => {
            assert_eq!(e.file, CONFIG_SOURCE);
            assert!(!e.message.is_empty());
            if e.message.starts_with("not valid TOML") {
                assert!(!e.to_string().contains('\n'), "multi-line TOML error: {e}");
            }
        }
        Ok(c) => {
            assert!(c.listener.key_store_path.is_absolute());
            assert!(c.issuer.key_store_path.is_absolute());
            assert!(c.issuer.audience.as_deref() != Some(""));
            assert!(c.validation.audience.as_deref() != Some(""));
            for api in &c.issuer.apis {
                assert!(!api.versions.is_empty());
                for v in &api.versions {
                    assert!(!v.is_empty() && v.trim() == v, "version {v:?}");
                }
            }
            for u in &c.users {
                for s in &u.scopes {
                    assert!(!s.is_empty() && !s.contains([',', ' ']), "scope {s:?}");
                }
            }
            let l = &c.limits;
            assert!(l.workers >= 1 && l.max_connections >= 1);
            assert!(l.max_header_bytes >= 1 && l.max_uri_bytes >= 1);
            assert!(l.max_headers >= 1 && l.max_body_bytes >= 1);
            assert!(l.max_requests_per_connection >= 1);
            for w in &c.warnings {
                assert!(w.starts_with(CONFIG_SOURCE), "{w}");
            }
            // Secrets never show in Debug output.
            let dbg = format!("{c:?}");
            for s in [&c.listener.key_store_password, &c.issuer.key_store_password] {
                assert_eq!(format!("{s:?}"), "Secret(***)");
            }
            // Deterministic.
            let again = Config::parse(text, CONFIG_SOURCE, base, &env).expect("parses twice");
            assert_eq!(format!("{again:?}"), dbg);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Basic auth and password hashes

/// Characters of the fixed texts of `PasswordFormatError`. A value containing any other character
/// cannot appear in a message unless the message echoes it.
const PASSWORD_MESSAGE_CHARS: &str =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 $@{}.,:;=()_/-'\"+<>[]*";

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `decode_basic` on an arbitrary header value and `PasswordHash::parse` on arbitrary text.
pub fn basic_auth(data: &[u8]) {
    assert_eq!(auth::decode_basic(None).unwrap_err(), AuthError::Missing);
    match auth::decode_basic(Some(data)) {
        Ok(c) => {
            let text = std::str::from_utf8(data).expect("accepted header is UTF-8");
            assert!(
                text.trim()
                    .get(..5)
                    .is_some_and(|s| s.eq_ignore_ascii_case("basic")),
                "accepted a non-Basic header"
            );
            assert!(!c.user.contains(':'), "user name with ':'");
            // Round trip: the canonical encoding of what was decoded decodes to the same.
            let raw = format!("{}:{}", c.user, c.password.expose());
            let canon = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(raw.as_bytes())
            );
            if canon.len() <= auth::MAX_CREDENTIALS_B64 + 6 {
                let again = auth::decode_basic(Some(canon.as_bytes())).expect("canonical form");
                assert_eq!(again.user, c.user);
                assert_eq!(again.password.expose(), c.password.expose());
            }
        }
        Err(e) => {
            assert_ne!(e, AuthError::Missing);
            let m = e.to_string();
            assert!(!m.is_empty() && !m.contains('\n'));
        }
    }

    let text = String::from_utf8_lossy(data);
    match PasswordHash::parse(&text) {
        Ok(h) => {
            let canon = match &h {
                PasswordHash::Sha1(d) => {
                    assert_eq!(d.len(), 20);
                    hex(d)
                }
                PasswordHash::Sha256(d) => {
                    assert_eq!(d.len(), 32);
                    format!("@sha256:{{{}}}", hex(d))
                }
                PasswordHash::Sha384(d) => {
                    assert_eq!(d.len(), 48);
                    format!("@sha384:{{{}}}", hex(d))
                }
                PasswordHash::Sha512(d) => {
                    assert_eq!(d.len(), 64);
                    format!("@sha512:{{{}}}", hex(d))
                }
                PasswordHash::Pbkdf2Sha256 {
                    iterations,
                    salt,
                    hash,
                } => {
                    assert!(
                        (auth::PBKDF2_MIN_ITERATIONS..=auth::PBKDF2_MAX_ITERATIONS)
                            .contains(iterations),
                        "{iterations} iterations accepted"
                    );
                    assert!((8..=64).contains(&salt.len()) && (16..=64).contains(&hash.len()));
                    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
                    format!(
                        "$pbkdf2-sha256$i={iterations},l={}${}${}",
                        hash.len(),
                        b64.encode(salt),
                        b64.encode(hash)
                    )
                }
            };
            assert_eq!(PasswordHash::parse(&canon).as_ref(), Ok(&h), "{canon}");
            // PBKDF2 at up to 10M iterations is too slow to run per input.
            if !h.is_slow() {
                let _ = h.verify(data);
            }
        }
        Err(e) => {
            assert!(!e.0.is_empty() && !e.0.contains(['\n', '\r']), "{:?}", e.0);
            // Never echoes the value (checked where the value cannot be part of a fixed text).
            let raw = text.trim();
            if raw.chars().any(|c| !PASSWORD_MESSAGE_CHARS.contains(c)) {
                assert!(!e.0.contains(raw), "message echoes the value: {:?}", e.0);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// JWT

pub const KID: &str = "ballerina";

/// The fixed test key (tests/fixtures/test-rsa2048.key), parsed once.
pub fn test_private_key() -> &'static rsa::PrivateKey {
    static KEY: OnceLock<rsa::PrivateKey> = OnceLock::new();
    KEY.get_or_init(|| {
        use rsa::pkcs8::DecodePrivateKey;
        rsa::PrivateKey::from_pkcs8_pem(include_str!("../tests/fixtures/test-rsa2048.key"))
            .expect("test fixture key")
    })
}

pub fn test_public_key() -> &'static jwt::VerificationKey {
    static KEY: OnceLock<jwt::VerificationKey> = OnceLock::new();
    KEY.get_or_init(|| jwt::VerificationKey::rs256(test_private_key().to_public_key()))
}

fn signer() -> &'static RsaSigner {
    static S: OnceLock<RsaSigner> = OnceLock::new();
    S.get_or_init(|| RsaSigner::new(test_private_key().clone()))
}

fn check_jwt_error(e: &JwtError) {
    let m = e.to_string();
    assert!(!m.contains(['\n', '\r']), "multi-line JWT error {m:?}");
    assert!(
        !e.is_server_fault(),
        "verify reported a signing error"
    );
}

/// `jwt::verify` on arbitrary text with the test key under kid "ballerina" (and for no kid).
pub fn jwt_verify(data: &[u8]) {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let key_for = |kid: Option<&str>| match kid {
        None | Some(KID) => Some(test_public_key()),
        Some(_) => None,
    };
    match jwt::verify(token, &key_for) {
        Ok(v) => {
            assert_eq!(v.header.alg, "RS256");
            assert!(v.claims.is_object());
            assert!(token.len() <= jwt::MAX_TOKEN_BYTES);
            // The signature covers the first two segments as sent: any change there fails.
            let (signed, _) = token.rsplit_once('.').expect("three segments");
            let mut tampered = signed.as_bytes().to_vec();
            let i = tampered.len() / 2;
            tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
            let tampered = format!(
                "{}{}",
                String::from_utf8_lossy(&tampered),
                &token[signed.len()..]
            );
            assert!(
                jwt::verify(&tampered, &key_for).is_err(),
                "tampered token verifies"
            );
        }
        Err(e) => {
            check_jwt_error(&e);
            if token.len() > jwt::MAX_TOKEN_BYTES {
                assert_eq!(e, JwtError::TooLong(token.len()));
            }
        }
    }
}

/// Claims built from fuzz input, signed with the test key and verified: the round trip gives
/// the same claims and header; a change to any byte of the token breaks verification.
pub fn jwt_roundtrip(data: &[u8]) {
    let mut r = Reader::new(data);
    let kid = r.text(24);
    let claims = Claims {
        sub: r.text(40),
        iss: r.text(60),
        aud: r.bool().then(|| r.text(40)),
        iat: r.u64() as i64,
        exp: r.bool().then(|| r.u64() as i64),
        jti: r.text(40),
        keytype: r.text(16),
        allowed_apis: (0..r.below(8))
            .map(|_| AllowedApi {
                name: r.text(30),
                version: r.text(10),
            })
            .collect(),
        permitted_ip: None,
        permitted_referer: None,
    };
    let token = jwt::encode(&kid, &claims, signer()).expect("signing never fails");
    let key_for = |k: Option<&str>| (k == Some(kid.as_str())).then(test_public_key);
    if token.len() > jwt::MAX_TOKEN_BYTES {
        assert_eq!(
            jwt::verify(&token, &key_for).unwrap_err(),
            JwtError::TooLong(token.len())
        );
        return;
    }
    let v = jwt::verify(&token, &key_for).expect("freshly signed token verifies");
    assert_eq!(v.header.kid.as_deref(), Some(kid.as_str()));
    assert_eq!(v.header.typ.as_deref(), Some("JWT"));
    let back: Claims = serde_json::from_value(v.claims).expect("claims decode");
    assert_eq!(back, claims);
    // Another kid is not accepted.
    let other = |_: Option<&str>| None;
    assert!(matches!(
        jwt::verify(&token, &other),
        Err(JwtError::UnknownKey(_))
    ));
    // Any single-byte change (to another base64url character or a separator) is rejected.
    let pos = r.below(token.len().max(1)) % token.len();
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=";
    let mut t = token.clone().into_bytes();
    let old = t[pos];
    let mut new = alphabet[r.below(alphabet.len())];
    if new == old {
        new = if old == b'A' { b'B' } else { b'A' };
    }
    t[pos] = new;
    let t = String::from_utf8(t).unwrap();
    match jwt::verify(&t, &key_for) {
        Ok(_) => panic!(
            "token with byte {pos} changed {:?}->{:?} verifies",
            old as char, new as char
        ),
        Err(e) => check_jwt_error(&e),
    }
}

// ---------------------------------------------------------------------------------------------
// The {"validityTime": N} body

/// The whole `/apikey` body parse: never panics, errors are one line, the validity agrees with
/// `requested_validity`, every cap holds, and restrictions come back in their canonical form
/// (which parses to the same value).
pub fn issue_body(data: &[u8]) {
    use apikey_sts::restriction::{PermittedIp, PermittedReferer, MAX_RESTRICTION_ENTRIES};
    let got = issuer::parse_issue_body(data);
    let r = match got {
        Err(e) => {
            assert!(!e.to_string().contains('\n'));
            return;
        }
        Ok(r) => r,
    };
    assert_eq!(issuer::requested_validity(data), Ok(r.validity));
    if let Some(apis) = &r.apis {
        assert!(!apis.is_empty() && apis.len() <= issuer::MAX_REQUESTED_APIS);
        for a in apis {
            for f in [&a.name, &a.version] {
                assert!(!f.is_empty() && f.len() <= issuer::MAX_API_FIELD_BYTES);
            }
        }
    }
    if let Some(p) = &r.permitted_ip {
        assert_eq!(PermittedIp::parse(p.as_str()).as_ref(), Ok(p));
        assert!(p.as_str().split(',').count() <= MAX_RESTRICTION_ENTRIES);
    }
    if let Some(p) = &r.permitted_referer {
        assert_eq!(PermittedReferer::parse(p.as_str()).as_ref(), Ok(p));
        assert!(p.as_str().split(',').count() <= MAX_RESTRICTION_ENTRIES);
    }
}

/// `requested_validity` agrees with a plain serde_json reading of the body, and
/// `effective_validity` only ever shortens the configured validity, within bounds.
pub fn validity_body(data: &[u8]) {
    let got = issuer::requested_validity(data);
    if let Err(e) = &got {
        assert!(!e.to_string().contains('\n'));
    }
    if data.iter().all(u8::is_ascii_whitespace) {
        assert_eq!(got, Ok(None));
    } else {
        match serde_json::from_slice::<serde_json::Value>(data) {
            Err(_) => assert_eq!(got, Err(issuer::BodyError::NotJson)),
            Ok(v) => match v.as_object() {
                None => assert_eq!(got, Err(issuer::BodyError::NotObject)),
                Some(o) => match o.get("validityTime") {
                    None => assert_eq!(got, Ok(None)),
                    Some(n) if n.is_i64() => assert_eq!(got, Ok(n.as_i64())),
                    Some(n) if n.is_u64() => assert_eq!(got, Ok(Some(i64::MAX))),
                    Some(_) => assert_eq!(got, Err(issuer::BodyError::NotInteger)),
                },
            },
        }
    }
    let requested = got.ok().flatten();
    for configured in [
        -1,
        0,
        1,
        600,
        3600,
        issuer::MAX_VALIDITY_SECONDS,
        i64::MAX,
        i64::MIN,
    ] {
        let eff = issuer::effective_validity(configured, requested);
        if eff != configured {
            assert!(
                eff > 0 && eff <= issuer::MAX_VALIDITY_SECONDS,
                "{configured} -> {eff}"
            );
            assert!(
                configured <= 0 || eff < configured,
                "{configured} -> {eff}: lengthened"
            );
            assert_eq!(
                Some(eff),
                requested.map(|r| r.min(issuer::MAX_VALIDITY_SECONDS))
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// PKCS#12 keystores

pub const KEYSTORE_SOURCE: &str = "fuzz.p12";

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// The keystore bytes and password an input stands for: an input starting with 0x30 (a DER
/// SEQUENCE, as every PFX does) is a whole file opened with "ballerina"; any other input is
/// `[len % 32][password bytes (lossy UTF-8)][file]`.
pub fn keystore_input(data: &[u8]) -> (String, &[u8]) {
    match data.split_first() {
        None => ("ballerina".into(), data),
        Some((0x30, _)) => ("ballerina".into(), data),
        Some((&n, rest)) => {
            let n = (n as usize % 32).min(rest.len());
            let (pw, file) = rest.split_at(n);
            (String::from_utf8_lossy(pw).into_owned(), file)
        }
    }
}

fn check_keystore_message(msg: &str, password: &str, file: &[u8]) {
    assert!(
        msg.contains(KEYSTORE_SOURCE),
        "message does not name the keystore: {msg}"
    );
    check_key_message(msg, password, file);
}

/// An error about a key read from the keystore but judged elsewhere (the certificate's public
/// key as the validator reads it): one line, never the password. It need not name the keystore:
/// the JWKS wraps it with the config key that names the keystore, and the alias
/// (`JwksError::PublicKey`).
fn check_key_message(msg: &str, password: &str, file: &[u8]) {
    assert!(
        !msg.contains(['\n', '\r']),
        "multi-line keystore error {msg:?}"
    );
    // The password must never be echoed. Only decidable when the file itself does not contain
    // it (friendly names may legitimately equal it) and it cannot be a word of the fixed texts:
    // at least 6 characters with a non-ASCII one (messages are ASCII apart from file data).
    let bmp: Vec<u8> = password
        .encode_utf16()
        .flat_map(|u| u.to_be_bytes())
        .collect();
    if password.chars().count() >= 6
        && !password.is_ascii()
        && !password.contains('\u{fffd}')
        && !contains(file, password.as_bytes())
        && !contains(file, &bmp)
    {
        assert!(!msg.contains(password), "password echoed: {msg}");
    }
}

/// `Keystore::parse` on arbitrary bytes (at most 16 KiB): an error or a keystore whose entries can
/// be inspected, never a panic; every error is one line, names the source and hides the password.
pub fn keystore(data: &[u8]) {
    if data.len() > MAX_KEYSTORE_INPUT {
        return;
    }
    let (password, file) = keystore_input(data);
    match Keystore::parse(file, &password, KEYSTORE_SOURCE) {
        Err(e) => {
            assert_eq!(e.path(), KEYSTORE_SOURCE);
            check_keystore_message(&e.to_string(), &password, file);
        }
        Ok(ks) => {
            let _ = ks.had_no_mac();
            let mut aliases: Vec<String> = ks.aliases().iter().map(|s| s.to_string()).collect();
            aliases.push("no-such-alias".into());
            for alias in &aliases {
                match ks.entry(alias) {
                    Ok(entry) => {
                        if let Err(e) = entry.rsa_private_key() {
                            check_keystore_message(&e.to_string(), &password, file);
                        }
                        match entry.leaf_spki_der() {
                            Err(e) => check_keystore_message(&e.to_string(), &password, file),
                            // The certificate's key as the JWKS and the validator read it.
                            Ok(spki) => {
                                if let Err(e) = jwt::VerificationKey::from_spki(&spki, None) {
                                    check_key_message(&e.to_string(), &password, file);
                                }
                            }
                        }
                        let _ = jwt::KeyType::of_pkcs8(&entry.key_pkcs8_der);
                    }
                    Err(e) => check_keystore_message(&e.to_string(), &password, file),
                }
            }
        }
    }
}

/// `certFile` and `keyFile` bytes from one input: split at the first NUL byte (PEM has none);
/// without one, both are the whole input, like a single file holding key and chain.
pub fn pem_input(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, data),
    }
}

/// `pem::parse` (certFile/keyFile): never panics; every message is one line, names the file
/// it is about and quotes no line of either file (a key line is a secret); a loaded entry's
/// key checks fail the same way.
pub fn pem(data: &[u8]) {
    use apikey_sts::pem::{parse, PemFile};
    if data.len() > MAX_KEYSTORE_INPUT {
        return;
    }
    let (certs, key) = pem_input(data);
    let check = |msg: &str| {
        assert!(!msg.contains(['\n', '\r']), "multi-line PEM error {msg:?}");
        // The secret lines of a PEM file are base64, which has no spaces. A line with spaces is
        // text, and the fuzzer learns whole sentences of our own messages and writes them into
        // its inputs; such a line in the message quotes us, not the file.
        for line in key.split(|&b| b == b'\n').chain(certs.split(|&b| b == b'\n')) {
            let line = String::from_utf8_lossy(line);
            let line = line.trim();
            if line.len() >= 12 && !line.starts_with("-----") && !line.contains(char::is_whitespace)
            {
                assert!(!msg.contains(line), "{msg:?} quotes the file");
            }
        }
    };
    match parse(certs, key, "a", "cert.pem", "key.pem") {
        Err(e) => {
            let msg = e.to_string();
            check(&msg);
            let named = match e.file() {
                PemFile::Cert => "cert.pem",
                PemFile::Key => "key.pem",
            };
            assert!(msg.starts_with(named), "{msg:?}");
        }
        Ok(ks) => {
            let entry = ks.entry("a").expect("the one entry");
            if let Err(e) = entry.rsa_private_key() {
                check(&e.to_string());
            }
            match entry.leaf_spki_der() {
                Err(e) => check(&e.to_string()),
                Ok(spki) => {
                    if let Err(e) = jwt::VerificationKey::from_spki(&spki, None) {
                        check(&e.to_string());
                    }
                }
            }
            let _ = jwt::KeyType::of_pkcs8(&entry.key_pkcs8_der);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Revocation log (the file read at startup), revocation request bodies, validator requests.

/// `revocation::parse_log`: never panics; the intact prefix it reports parses again to the same
/// records with nothing torn; an untorn log is intact to its end.
pub fn revocation_log(data: &[u8]) {
    use apikey_sts::revocation::parse_log;
    match parse_log(data) {
        Ok(p) => {
            assert!(p.good_len <= data.len());
            if p.torn.is_none() {
                assert_eq!(p.good_len, data.len());
            }
            let again = parse_log(&data[..p.good_len]).expect("the intact prefix parses");
            assert_eq!(again.records, p.records);
            assert!(again.torn.is_none());
            for (jti, _) in &p.records {
                assert!(apikey_sts::revocation::valid_jti(jti), "{jti:?}");
            }
        }
        Err((line, reason)) => {
            assert!(line >= 1);
            assert!(!reason.is_empty());
        }
    }
}

/// `issuer::parse_revoke_body`, as JSON and as a form: never panics, deterministic, never returns
/// an empty target.
pub fn revoke_body(data: &[u8]) {
    use apikey_sts::issuer::{parse_revoke_body, RevokeTarget};
    for ct in [Some("application/json"), Some("application/x-www-form-urlencoded"), None] {
        let a = parse_revoke_body(ct, data);
        assert_eq!(a, parse_revoke_body(ct, data));
        match a {
            Ok(RevokeTarget::Token(t)) | Ok(RevokeTarget::Jti(t)) => assert!(!t.is_empty()),
            Err(e) => assert!(!e.to_string().contains('\n')),
        }
    }
}

/// The OAuth form bodies (`oauth::parse_token_request`, `parse_introspect_request`) and the
/// `scope` syntax: never panic, deterministic; the scopes of an accepted request and the
/// introspected token are non-empty, and every error description stays
/// within the characters RFC 6749 §5.2 allows.
pub fn token_form(data: &[u8]) {
    use apikey_sts::oauth::{
        parse_introspect_request, parse_scope, parse_token_request, OAuthError, Scope,
    };
    let allowed = |e: &OAuthError| {
        let d = e.to_string();
        assert!(
            d.bytes().all(|c| (0x20..=0x7e).contains(&c) && c != b'"' && c != b'\\'),
            "{d:?}"
        );
        assert!(matches!(e.response().status, 400 | 401));
    };
    let ct = Some("application/x-www-form-urlencoded");
    let a = parse_token_request(ct, data, "admin");
    assert_eq!(a, parse_token_request(ct, data, "admin"));
    match &a {
        Ok(r) => {
            for Scope::Api { name, version } in &r.scope {
                assert!(!name.is_empty() && !version.is_empty());
            }
        }
        Err(e) => allowed(e),
    }
    match parse_introspect_request(ct, data) {
        Ok(t) => assert!(!t.is_empty()),
        Err(e) => allowed(&e),
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let parsed = parse_scope(s);
        assert_eq!(parsed, parse_scope(s));
        if let Err(e) = parsed {
            allowed(&OAuthError::InvalidScope(e));
        }
    }
}

fn validator() -> &'static apikey_sts::validator::Validator {
    use apikey_sts::jwks::{KeySet, PublishedKey};
    use apikey_sts::validator::{Rules, Validator, SignatureCache};
    use std::sync::Arc;
    static V: OnceLock<Validator> = OnceLock::new();
    V.get_or_init(|| {
        let keys = Arc::new(
            KeySet::new(vec![(
                PublishedKey {
                    kid: KID.into(),
                    key: test_public_key().clone(),
                    chain: vec![],
                    active: true,
                },
                "fuzz".into(),
            )])
            .expect("one key"),
        );
        let rules = Rules {
            issuer: "https://localhost:9095/apikey".into(),
            audience: None,
            validate_allowed_apis: true,
            clock_skew_seconds: 60,
            key_headers: vec!["apikey".into(), "api_key".into(), "X-API-Key".into()],
            key_query_params: vec!["apikey".into(), "api_key".into()],
            api_name_header: "X-API-Name".into(),
            api_version_header: "X-API-Version".into(),
            // The fuzzer's requests come "from" loopback: its client headers are believed.
            gateway_addresses: apikey_sts::client_addr::TrustedProxies::new(vec![
                "127.0.0.0/8".parse().expect("a CIDR"),
            ]),
            client_ip_header: "X-Real-IP".into(),
            referer_header: "X-Original-Referer".into(),
            production_only: false,
            production_only_apis: vec!["Sandboxless".into()],
            accept_bearer: true,
        };
        Validator::new(rules, keys, SignatureCache::new(64, 60))
    })
}

/// A request from bytes through the validator: never panics, answers only 200/401/403/404/405,
/// and 200 only for a key that `jwt::verify` accepts.
pub fn validator_request(data: &[u8]) {
    let Ok(Parsed::Complete(req, _)) = http::parse(data, &ParseLimits::default()) else {
        return;
    };
    let client = std::net::Ipv4Addr::LOCALHOST.into();
    let (resp, accepted) = validator().validate(&req, client, 1_764_300_000);
    assert!(
        matches!(resp.status, 200 | 400 | 401 | 403 | 404 | 405),
        "status {}",
        resp.status
    );
    if resp.status == 200 {
        assert!(accepted.is_some());
    }
}

// ---------------------------------------------------------------------------------------------
// PROXY protocol

/// `apikey_sts::proxy_protocol::parse`, on raw bytes and on headers built from the input:
/// - it never panics, and looks at no more than `MAX_HEADER_BYTES`;
/// - a header is at most `MAX_HEADER_BYTES` long and no longer than the input, the same header
///   is found in its own bytes, and every shorter prefix of it needs more;
/// - an error is final: more bytes never turn it into a header, and needing more is stable
///   under truncation;
/// - a v1 or v2 header built from an address (input byte 0 odd) gives back that address and its
///   own length, whatever follows it.
pub fn proxy_protocol(data: &[u8]) {
    use apikey_sts::proxy_protocol::{parse, Parsed, MAX_HEADER_BYTES, V2_SIGNATURE};
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

    let check = |buf: &[u8]| {
        match parse(buf) {
            Ok(Parsed::Header(h)) => {
                assert!(h.len <= buf.len() && h.len <= MAX_HEADER_BYTES, "{h:?}");
                assert_eq!(parse(&buf[..h.len]), Ok(Parsed::Header(h)));
                let step = (h.len / 64).max(1);
                for n in (0..h.len).step_by(step) {
                    assert_eq!(parse(&buf[..n]), Ok(Parsed::NeedMore), "prefix {n} of {h:?}");
                }
            }
            Ok(Parsed::NeedMore) => {
                assert!(buf.len() < MAX_HEADER_BYTES, "needs more past the limit");
                let cut = buf.len() / 2;
                assert_eq!(parse(&buf[..cut]), Ok(Parsed::NeedMore));
            }
            Err(e) => {
                let mut more = buf.to_vec();
                more.extend_from_slice(b"\r\n\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0");
                assert!(parse(&more).is_err(), "{e} turned into a header");
                assert!(!e.to_string().is_empty());
            }
        }
    };
    check(data);

    let mut r = Reader::new(data);
    if r.u8() & 1 == 0 {
        return;
    }
    let v6 = r.bool();
    let ip = if v6 {
        let mut o = [0u8; 16];
        o.copy_from_slice(&r.u64().to_be_bytes().repeat(2));
        o[..8].copy_from_slice(&r.u64().to_be_bytes());
        IpAddr::V6(Ipv6Addr::from(o))
    } else {
        IpAddr::V4(Ipv4Addr::from(r.u64() as u32))
    };
    let port = r.u16();
    let addr = SocketAddr::new(ip, port);
    let mut wire = Vec::new();
    if r.bool() {
        let proto = if v6 { "TCP6" } else { "TCP4" };
        let dst = if v6 { "::1" } else { "127.0.0.1" };
        wire.extend_from_slice(format!("PROXY {proto} {ip} {dst} {port} 443\r\n").as_bytes());
    } else {
        let tlvs = r.blob(64);
        let mut payload = Vec::new();
        match ip {
            IpAddr::V4(a) => {
                payload.extend_from_slice(&a.octets());
                payload.extend_from_slice(&[127, 0, 0, 1]);
            }
            IpAddr::V6(a) => {
                payload.extend_from_slice(&a.octets());
                payload.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
            }
        }
        payload.extend_from_slice(&port.to_be_bytes());
        payload.extend_from_slice(&443u16.to_be_bytes());
        payload.extend_from_slice(tlvs);
        wire.extend_from_slice(&V2_SIGNATURE);
        wire.push(0x21);
        wire.push(if v6 { 0x21 } else { 0x11 });
        wire.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        wire.extend_from_slice(&payload);
    }
    let len = wire.len();
    wire.extend_from_slice(r.rest());
    match parse(&wire) {
        Ok(Parsed::Header(h)) => {
            assert_eq!(h.len, len);
            assert_eq!(h.source, Some(addr));
        }
        other => panic!("built header for {addr} parsed as {other:?}"),
    }
    check(&wire);
}

/// `revocation::feed::parse_record` and `StreamId::parse`, on what a Redis server sends: never
/// panic; an accepted record has a valid `jti`, fits the size bound and prints back to a record
/// that parses to the same entry; an accepted stream ID prints back to itself.
pub fn feed_record(data: &[u8]) {
    use apikey_sts::revocation::feed::{format_record, parse_record, StreamId, MAX_RECORD_BYTES};
    if let Ok((jti, e)) = parse_record(data) {
        assert!(data.len() <= MAX_RECORD_BYTES);
        assert!(apikey_sts::revocation::valid_jti(&jti), "{jti:?}");
        let again = format_record(&jti, &e);
        assert!(again.len() <= MAX_RECORD_BYTES);
        assert_eq!(parse_record(again.as_bytes()), Ok((jti, e)));
    }
    if let Ok(id) = StreamId::parse(data) {
        assert_eq!(StreamId::parse(id.to_string().as_bytes()), Ok(id));
        assert_eq!(id.to_string().as_bytes(), data, "one spelling per id");
    }
}
