//! One request from the start of a buffer: the head through httparse, then the rules httparse
//! leaves to us (limits, `Host`, framing, `Expect`), then the body.

use super::{HttpError, Malformed, ParseLimits, Request};

/// Longest chunk-size line (`1a2b;ext=...`) we read before calling it malformed.
pub const MAX_CHUNK_LINE_BYTES: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A whole request and how many bytes of the buffer it used.
    Complete(Request, usize),
    /// More bytes are needed. `expect_continue` is set once the headers are in and the client
    /// waits for `100 Continue` before sending its body.
    Incomplete { expect_continue: bool },
}

enum Framing {
    None,
    Length(usize),
    Chunked,
}

/// Parses one request from the start of `buf`. Call again with more bytes on `Incomplete`;
/// call again on the rest of the buffer after `Complete` (pipelining).
pub fn parse(buf: &[u8], limits: &ParseLimits) -> Result<Parsed, HttpError> {
    let mut storage = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut req = httparse::Request::new(&mut storage);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if let Some((_, e)) = first_limit_exceeded(buf, limits) {
                return Err(e);
            }
            return Ok(Parsed::Incomplete {
                expect_continue: false,
            });
        }
        Err(e) => {
            // Answer what a reader of the bytes as they arrive meets first, so the error does not
            // depend on how the request was split: a limit passed before the syntax error showed
            // (a head cut off by the size limit reads as malformed to httparse), else the error.
            if let Some((at, limit)) = first_limit_exceeded(buf, limits) {
                let mut probe = vec![httparse::EMPTY_HEADER; limits.max_headers];
                if httparse::Request::new(&mut probe)
                    .parse(&buf[..at - 1])
                    .is_ok()
                {
                    return Err(limit);
                }
            }
            return Err(match e {
                httparse::Error::TooManyHeaders => HttpError::TooManyHeaders,
                httparse::Error::Version => HttpError::VersionNotSupported,
                e => HttpError::BadRequest(match e {
                    httparse::Error::HeaderName => Malformed::HeaderName,
                    httparse::Error::HeaderValue => Malformed::HeaderValue,
                    httparse::Error::NewLine => Malformed::LineEnding,
                    httparse::Error::Status | httparse::Error::Token => Malformed::RequestLine,
                    _ => Malformed::Syntax,
                }),
            });
        }
    };
    let target = req.path.unwrap_or("");
    if target.len() > limits.max_uri_bytes || head_len > limits.max_header_bytes {
        // Both may be over: report the one passed first, as on a partial head.
        return Err(match first_limit_exceeded(&buf[..head_len], limits) {
            Some((_, e)) => e,
            None if target.len() > limits.max_uri_bytes => HttpError::UriTooLong,
            None => HttpError::HeadersTooLarge,
        });
    }
    let minor_version = req.version.unwrap_or(1);
    let mut request = head_of(&req);
    check_singletons(&request)?;

    let framing = framing(&request, limits)?;
    let expect_continue = match request.header_str("expect") {
        None => false,
        Some(e) if e.eq_ignore_ascii_case("100-continue") => minor_version == 1,
        Some(_) => return Err(HttpError::ExpectationFailed),
    };
    let rest = &buf[head_len..];
    let body_len = match framing {
        Framing::None => 0,
        Framing::Length(n) => {
            if rest.len() < n {
                return Ok(Parsed::Incomplete { expect_continue });
            }
            request.body = rest[..n].to_vec();
            n
        }
        Framing::Chunked => match dechunk(rest, limits)? {
            Some((body, used)) => {
                request.body = body;
                used
            }
            None => return Ok(Parsed::Incomplete { expect_continue }),
        },
    };
    Ok(Parsed::Complete(request, head_len + body_len))
}

/// The request line and headers as a `Request` with an empty body.
fn head_of(req: &httparse::Request<'_, '_>) -> Request {
    Request {
        method: req.method.unwrap_or("").to_string(),
        target: req.path.unwrap_or("").to_string(),
        minor_version: req.version.unwrap_or(1),
        headers: req
            .headers
            .iter()
            .map(|h| (h.name.to_string(), h.value.to_vec()))
            .collect(),
        body: Vec::new(),
    }
}

/// The head of the request at the start of `buf`, without its body; None unless the head is
/// complete. For checking a request that waits for `100 Continue` before its body is sent:
/// `parse` has checked the same head already.
pub fn parse_head(buf: &[u8], limits: &ParseLimits) -> Option<Request> {
    let mut storage = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut req = httparse::Request::new(&mut storage);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(_)) => Some(head_of(&req)),
        _ => None,
    }
}

/// Headers that must appear once: `Host` (exactly once in HTTP/1.1, at most once in 1.0, RFC 9112
/// §3.2) and `Authorization` (at most once: answering for one of two credentials would be a
/// guess, and a proxy in front might have checked the other).
fn check_singletons(req: &Request) -> Result<(), HttpError> {
    match req.header_count("host") {
        0 if req.minor_version == 1 => return Err(HttpError::BadRequest(Malformed::MissingHost)),
        0 | 1 => {}
        _ => return Err(HttpError::BadRequest(Malformed::DuplicateHost)),
    }
    if req.header_count("authorization") > 1 {
        return Err(HttpError::BadRequest(Malformed::DuplicateAuthorization));
    }
    Ok(())
}

/// The first size limit that a head arriving byte by byte passes, and the length of the shortest
/// prefix of `buf` that passes it; None while `buf` is within the limits.
fn first_limit_exceeded(buf: &[u8], limits: &ParseLimits) -> Option<(usize, HttpError)> {
    let line_end = buf.iter().position(|&b| b == b'\n');
    let line = &buf[..line_end.unwrap_or(buf.len())];
    // The target starts after the method; without a second space it is still arriving.
    let uri = line.iter().position(|&b| b == b' ').and_then(|sp| {
        let target = &line[sp + 1..];
        let target_len = target
            .iter()
            .position(|&b| b == b' ')
            .unwrap_or(target.len());
        (target_len > limits.max_uri_bytes)
            .then_some((sp + 1 + limits.max_uri_bytes + 1, HttpError::UriTooLong))
    });
    let head = (buf.len() > limits.max_header_bytes)
        .then_some((limits.max_header_bytes + 1, HttpError::HeadersTooLarge));
    match (uri, head) {
        (Some(u), Some(h)) => Some(if h.0 < u.0 { h } else { u }),
        (u, h) => u.or(h),
    }
}

fn framing(req: &Request, limits: &ParseLimits) -> Result<Framing, HttpError> {
    let mut te: Option<Vec<u8>> = None;
    let mut cl: Option<usize> = None;
    for (name, value) in &req.headers {
        if name.eq_ignore_ascii_case("transfer-encoding") {
            if te.is_some() {
                // Several codings stacked: we only ever accept a single `chunked`.
                return Err(HttpError::UnsupportedTransferEncoding);
            }
            te = Some(value.trim_ascii().to_vec());
        } else if name.eq_ignore_ascii_case("content-length") {
            let bad = HttpError::BadRequest(Malformed::ContentLength);
            let v = value.trim_ascii();
            if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
                return Err(bad);
            }
            let n: usize = std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or(bad)?;
            if cl.is_some_and(|old| old != n) {
                return Err(HttpError::BadRequest(Malformed::ConflictingContentLength));
            }
            cl = Some(n);
        }
    }
    match (te, cl) {
        // Both present is the classic smuggling vector (RFC 9112 6.3): refuse outright.
        (Some(_), Some(_)) => Err(HttpError::BadRequest(Malformed::BothFramings)),
        (Some(te), None) => {
            if te.eq_ignore_ascii_case(b"chunked") {
                Ok(Framing::Chunked)
            } else {
                Err(HttpError::UnsupportedTransferEncoding)
            }
        }
        (None, Some(n)) if n > limits.max_body_bytes => Err(HttpError::BodyTooLarge),
        (None, Some(n)) => Ok(Framing::Length(n)),
        (None, None) => Ok(Framing::None),
    }
}

/// Finds the next CRLF-terminated line at `buf[from..]`, at most `max` bytes long. Returns the
/// line with its CRLF and the offset after it.
fn line(buf: &[u8], from: usize, max: usize) -> Result<Option<(&[u8], usize)>, HttpError> {
    let rest = buf.get(from..).unwrap_or(&[]);
    match rest.iter().position(|&b| b == b'\n') {
        Some(i) if i > max => Err(HttpError::BadRequest(Malformed::ChunkLineTooLong)),
        Some(i) if i == 0 || rest[i - 1] != b'\r' => {
            Err(HttpError::BadRequest(Malformed::BareLfInChunked))
        }
        Some(i) => Ok(Some((&rest[..=i], from + i + 1))),
        None if rest.len() > max => Err(HttpError::BadRequest(Malformed::ChunkLineTooLong)),
        None => Ok(None),
    }
}

/// The size on a whole chunk-size line (with its CRLF). httparse reads the digits and skips
/// extensions; it takes an empty size for zero, which RFC 9112 §7.1 does not allow.
fn chunk_size(size_line: &[u8]) -> Result<u64, HttpError> {
    let bad = HttpError::BadRequest(Malformed::ChunkSize);
    if !size_line.first().is_some_and(u8::is_ascii_hexdigit) {
        return Err(bad);
    }
    match httparse::parse_chunk_size(size_line) {
        Ok(httparse::Status::Complete((used, size))) if used == size_line.len() => Ok(size),
        _ => Err(bad),
    }
}

/// Decodes a chunked body; `None` while incomplete. Returns the body and bytes consumed.
fn dechunk(buf: &[u8], limits: &ParseLimits) -> Result<Option<(Vec<u8>, usize)>, HttpError> {
    let mut body = Vec::new();
    let mut pos = 0;
    loop {
        let Some((size_line, next)) = line(buf, pos, MAX_CHUNK_LINE_BYTES)? else {
            return Ok(None);
        };
        let size = chunk_size(size_line)?;
        pos = next;
        if size == 0 {
            // Trailers, bounded like headers, ending in an empty line.
            let trailer_start = pos;
            loop {
                let Some((l, next)) = line(buf, pos, limits.max_header_bytes)? else {
                    if buf.len() - trailer_start > limits.max_header_bytes {
                        return Err(HttpError::HeadersTooLarge);
                    }
                    return Ok(None);
                };
                pos = next;
                if pos - trailer_start > limits.max_header_bytes {
                    return Err(HttpError::HeadersTooLarge);
                }
                if l == b"\r\n" {
                    return Ok(Some((body, pos)));
                }
            }
        }
        if size > (limits.max_body_bytes - body.len()) as u64 {
            return Err(HttpError::BodyTooLarge);
        }
        let size = size as usize;
        let Some(data) = buf.get(pos..pos + size) else {
            return Ok(None);
        };
        match buf.get(pos + size..pos + size + 2) {
            None => return Ok(None),
            Some(b"\r\n") => {}
            Some(_) => return Err(HttpError::BadRequest(Malformed::ChunkDataNotCrlf)),
        }
        body.extend_from_slice(data);
        pos += size + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lim() -> ParseLimits {
        ParseLimits::default()
    }

    fn complete(buf: &[u8]) -> (Request, usize) {
        match parse(buf, &lim()).unwrap() {
            Parsed::Complete(r, n) => (r, n),
            other => panic!("incomplete: {other:?}"),
        }
    }

    const CURL: &[u8] = b"GET /apikey HTTP/1.1\r\nHost: localhost:9095\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\nAuthorization:Basic YWRtaW46YWRtaW4=\r\n\r\n";

    #[test]
    fn parses_curl_request() {
        let (r, n) = complete(CURL);
        assert_eq!(n, CURL.len());
        assert_eq!(r.method, "GET");
        assert_eq!(r.path(), "/apikey");
        assert_eq!(
            r.header("authorization"),
            Some(&b"Basic YWRtaW46YWRtaW4="[..])
        );
    }

    #[test]
    fn every_prefix_is_incomplete_not_error() {
        for i in 0..CURL.len() {
            assert!(
                matches!(parse(&CURL[..i], &lim()), Ok(Parsed::Incomplete { .. })),
                "prefix {i}"
            );
        }
    }

    #[test]
    fn content_length_body_and_pipelining() {
        let two = b"POST /apikey HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /health HTTP/1.1\r\nHost: x\r\n\r\n";
        let (r, n) = complete(two);
        assert_eq!(r.body, b"abc");
        let (r2, n2) = complete(&two[n..]);
        assert_eq!(r2.path(), "/health");
        assert_eq!(n + n2, two.len());
    }

    #[test]
    fn chunked_body_with_extensions_and_trailers() {
        let req = b"POST /apikey HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\n{\"va\r\n3 ; q\r\nlid\r\n0\r\nX-T: 1\r\n\r\n";
        let (r, n) = complete(req);
        assert_eq!(r.body, b"{\"valid");
        assert_eq!(n, req.len());
        for i in 0..req.len() {
            assert!(matches!(
                parse(&req[..i], &lim()),
                Ok(Parsed::Incomplete { .. })
            ));
        }
    }

    #[test]
    fn chunked_errors() {
        let bad = |body: &[u8]| {
            let mut r =
                b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            r.extend_from_slice(body);
            parse(&r, &lim()).unwrap_err()
        };
        let m = HttpError::BadRequest;
        assert_eq!(bad(b"zz\r\n"), m(Malformed::ChunkSize));
        // httparse reads an empty size as zero; the grammar wants at least one digit.
        assert_eq!(bad(b"\r\n\r\n"), m(Malformed::ChunkSize));
        assert_eq!(bad(b";x\r\n\r\n"), m(Malformed::ChunkSize));
        assert_eq!(bad(b"3\n"), m(Malformed::BareLfInChunked));
        assert_eq!(bad(b"3;a\nb\r\n"), m(Malformed::BareLfInChunked));
        assert_eq!(bad(b"3\r\nabcX\r\n"), m(Malformed::ChunkDataNotCrlf));
        // 16 hex digits are the most a u64 holds; 17 are refused.
        assert_eq!(bad(b"00000000000000001\r\n"), m(Malformed::ChunkSize));
        assert_eq!(bad(b"ffffffffffffffff\r\n"), HttpError::BodyTooLarge);
        assert_eq!(bad(b"4001\r\n"), HttpError::BodyTooLarge);
        let gz = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
        assert_eq!(
            parse(gz, &lim()).unwrap_err(),
            HttpError::UnsupportedTransferEncoding
        );
        let both = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n";
        assert_eq!(parse(both, &lim()).unwrap_err(), m(Malformed::BothFramings));
    }

    #[test]
    fn chunk_line_limit_at_and_past_edge() {
        let with_ext = |line_len: usize| {
            // "1;" + padding + CRLF is `line_len` bytes up to the LF.
            let mut r =
                b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1;".to_vec();
            r.extend(std::iter::repeat_n(b'e', line_len - 3));
            r.extend_from_slice(b"\r\nx\r\n0\r\n\r\n");
            r
        };
        assert!(matches!(
            parse(&with_ext(MAX_CHUNK_LINE_BYTES), &lim()),
            Ok(Parsed::Complete(..))
        ));
        assert_eq!(
            parse(&with_ext(MAX_CHUNK_LINE_BYTES + 1), &lim()).unwrap_err(),
            HttpError::BadRequest(Malformed::ChunkLineTooLong)
        );
        // Still arriving, no LF yet: refused once longer than the limit, not before.
        let head = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        let mut at = head.clone();
        at.extend(std::iter::repeat_n(b'1', MAX_CHUNK_LINE_BYTES));
        assert!(matches!(parse(&at, &lim()), Ok(Parsed::Incomplete { .. })));
        at.push(b'1');
        assert_eq!(
            parse(&at, &lim()).unwrap_err(),
            HttpError::BadRequest(Malformed::ChunkLineTooLong)
        );
    }

    #[test]
    fn body_limit_at_and_past_edge() {
        let l = lim();
        let at = format!(
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            l.max_body_bytes
        );
        let mut buf = at.into_bytes();
        buf.extend(std::iter::repeat_n(b'x', l.max_body_bytes));
        assert!(matches!(parse(&buf, &l), Ok(Parsed::Complete(..))));
        let past = format!(
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            l.max_body_bytes + 1
        );
        assert_eq!(
            parse(past.as_bytes(), &l).unwrap_err(),
            HttpError::BodyTooLarge
        );
        // Chunked: exactly the limit decodes, one more byte does not.
        let chunked = |n: usize| {
            let mut r =
                b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            r.extend_from_slice(format!("{:x}\r\n", n - 1).as_bytes());
            r.extend(std::iter::repeat_n(b'x', n - 1));
            r.extend_from_slice(b"\r\n1\r\ny\r\n0\r\n\r\n");
            r
        };
        assert!(matches!(
            parse(&chunked(l.max_body_bytes), &l),
            Ok(Parsed::Complete(..))
        ));
        assert_eq!(
            parse(&chunked(l.max_body_bytes + 1), &l).unwrap_err(),
            HttpError::BodyTooLarge
        );
    }

    #[test]
    fn header_limits_at_and_past_edge() {
        let l = lim();
        let head = |total: usize| {
            let start = b"GET / HTTP/1.1\r\nHost: x\r\nX: ".to_vec();
            let fill = total - start.len() - 4;
            let mut r = start;
            r.extend(std::iter::repeat_n(b'a', fill));
            r.extend_from_slice(b"\r\n\r\n");
            assert_eq!(r.len(), total);
            r
        };
        assert!(matches!(
            parse(&head(l.max_header_bytes), &l),
            Ok(Parsed::Complete(..))
        ));
        assert_eq!(
            parse(&head(l.max_header_bytes + 1), &l).unwrap_err(),
            HttpError::HeadersTooLarge
        );
        // Still-arriving head past the limit is refused before it ends.
        let partial = &head(l.max_header_bytes + 100)[..l.max_header_bytes + 1];
        assert_eq!(parse(partial, &l).unwrap_err(), HttpError::HeadersTooLarge);
        let mut many = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
        for i in 1..l.max_headers {
            many.extend_from_slice(format!("H{i}: v\r\n").as_bytes());
        }
        let mut more = many.clone();
        many.extend_from_slice(b"\r\n");
        assert!(matches!(parse(&many, &l), Ok(Parsed::Complete(..))));
        more.extend_from_slice(b"Hx: v\r\n\r\n");
        assert_eq!(parse(&more, &l).unwrap_err(), HttpError::TooManyHeaders);
    }

    #[test]
    fn uri_limit_at_and_past_edge() {
        let l = lim();
        let uri = |n: usize| format!("/{}", "a".repeat(n - 1));
        let ok = format!("GET {} HTTP/1.1\r\nHost: x\r\n\r\n", uri(l.max_uri_bytes));
        assert!(matches!(parse(ok.as_bytes(), &l), Ok(Parsed::Complete(..))));
        let long = format!(
            "GET {} HTTP/1.1\r\nHost: x\r\n\r\n",
            uri(l.max_uri_bytes + 1)
        );
        assert_eq!(
            parse(long.as_bytes(), &l).unwrap_err(),
            HttpError::UriTooLong
        );
        let arriving = format!("GET {}", uri(l.max_uri_bytes + 1));
        assert_eq!(
            parse(arriving.as_bytes(), &l).unwrap_err(),
            HttpError::UriTooLong
        );
    }

    #[test]
    fn errors_do_not_depend_on_how_the_bytes_arrive() {
        // Found by fuzz_http_structured: a request line broken at its first byte read as 400
        // when that byte came alone but as 414 once a long target had arrived too.
        let l = ParseLimits {
            max_uri_bytes: 48,
            max_header_bytes: 256,
            ..lim()
        };
        let long = "a".repeat(100);
        for (buf, want) in [
            (
                format!("\x01ET /{long} HTTP/1.1\r\n\r\n"),
                HttpError::BadRequest(Malformed::RequestLine),
            ),
            (
                format!("GET /{long} HTTP/2.0\r\n\r\n"),
                HttpError::UriTooLong,
            ),
            (
                format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "v".repeat(300)),
                HttpError::HeadersTooLarge,
            ),
            (
                format!(
                    "GET / HTTP/1.1\r\nX: {}\r\nBad Name: v\r\n\r\n",
                    "v".repeat(300)
                ),
                HttpError::HeadersTooLarge,
            ),
            (
                format!("GET / HTTP/1.1\r\nBad Name: {}\r\n\r\n", "v".repeat(300)),
                HttpError::BadRequest(Malformed::HeaderName),
            ),
            (
                "GET / HTTP/1.1\r\nX: y\r\n\r\n".to_string(),
                HttpError::BadRequest(Malformed::MissingHost),
            ),
        ] {
            let buf = buf.as_bytes();
            assert_eq!(parse(buf, &l), Err(want), "{buf:?}");
            let mut first = None;
            for i in 0..=buf.len() {
                match (parse(&buf[..i], &l), &first) {
                    (Ok(Parsed::Incomplete { .. }), None) => {}
                    (r, None) => first = Some(r),
                    (r, Some(f)) => assert_eq!(&r, f, "prefix {i} of {buf:?}"),
                }
            }
            assert_eq!(first, Some(Err(want)));
        }
        // A URI limit above the header limit: the header limit is passed first.
        let wide = ParseLimits {
            max_uri_bytes: 300,
            max_header_bytes: 100,
            ..lim()
        };
        let buf = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(400));
        assert_eq!(
            parse(buf.as_bytes(), &wide),
            Err(HttpError::HeadersTooLarge)
        );
        assert_eq!(
            parse(&buf.as_bytes()[..101], &wide),
            Err(HttpError::HeadersTooLarge)
        );
    }

    #[test]
    fn host_and_authorization_appear_once() {
        let p = |s: &str| parse(s.as_bytes(), &lim());
        let m = HttpError::BadRequest;
        assert_eq!(
            p("GET / HTTP/1.1\r\n\r\n").unwrap_err(),
            m(Malformed::MissingHost)
        );
        assert_eq!(
            p("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n").unwrap_err(),
            m(Malformed::DuplicateHost)
        );
        assert_eq!(
            p("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n").unwrap_err(),
            m(Malformed::DuplicateHost)
        );
        // HTTP/1.0 predates Host: none is fine there.
        assert!(matches!(
            p("GET / HTTP/1.0\r\n\r\n"),
            Ok(Parsed::Complete(..))
        ));
        assert!(matches!(
            p("GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Basic x\r\n\r\n"),
            Ok(Parsed::Complete(..))
        ));
        assert_eq!(
            p("GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Basic x\r\nauthorization: Basic y\r\n\r\n")
                .unwrap_err(),
            m(Malformed::DuplicateAuthorization)
        );
        // Refused before the body is waited for, so no `100 Continue` goes out first.
        assert_eq!(
            p("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n").unwrap_err(),
            m(Malformed::MissingHost)
        );
    }

    #[test]
    fn expect_and_versions() {
        let r = b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
        assert_eq!(
            parse(r, &lim()).unwrap(),
            Parsed::Incomplete {
                expect_continue: true
            }
        );
        let r = b"POST / HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n\r\n";
        assert_eq!(parse(r, &lim()).unwrap_err(), HttpError::ExpectationFailed);
        assert_eq!(
            parse(b"GET / HTTP/2.0\r\n\r\n", &lim())
                .unwrap_err()
                .status(),
            505
        );
    }

    #[test]
    fn bad_syntax_is_400() {
        for bad in [
            &b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n"[..],
            b"\x00\x01\x02 / HTTP/1.1\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        ] {
            assert_eq!(parse(bad, &lim()).unwrap_err().status(), 400, "{bad:?}");
        }
    }

    #[test]
    fn round_trip() {
        let (r, _) = complete(b"POST /apikey?x=1 HTTP/1.1\r\nHost: x\r\nA: b\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n");
        let again = r.to_bytes();
        let (r2, n) = complete(&again);
        assert_eq!(n, again.len());
        assert_eq!(r2.body, r.body);
        assert_eq!(r2.query(), Some("x=1"));
    }

    #[test]
    fn trailer_limit_at_and_past_edge() {
        // The trailers after the last chunk, blank line included, are bounded like a head.
        let l = ParseLimits {
            max_header_bytes: 100,
            ..lim()
        };
        let head = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";
        let with_trailers = |total: usize, end: bool| {
            let mut r = head.to_vec();
            r.extend_from_slice(b"A: b\r\n");
            let fill = total - 6 - if end { 4 } else { 0 };
            r.extend(std::iter::repeat_n(b'v', fill));
            if end {
                r.extend_from_slice(b"\r\n\r\n");
            }
            r
        };
        // Complete: `A: b\r\n`, `vvv...\r\n`, `\r\n` make `total` bytes.
        assert!(matches!(
            parse(&with_trailers(100, true), &l),
            Ok(Parsed::Complete(_, n)) if n == head.len() + 100
        ));
        assert_eq!(
            parse(&with_trailers(101, true), &l).unwrap_err(),
            HttpError::HeadersTooLarge
        );
        // Still arriving: refused once past the limit, not before.
        assert!(matches!(
            parse(&with_trailers(100, false), &l),
            Ok(Parsed::Incomplete { .. })
        ));
        assert_eq!(
            parse(&with_trailers(101, false), &l).unwrap_err(),
            HttpError::HeadersTooLarge
        );
    }

    #[test]
    fn content_length_digits_at_and_past_edge() {
        let p = |cl: &str| {
            parse(
                format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {cl}\r\n\r\n").as_bytes(),
                &lim(),
            )
        };
        // 19 digits are read (and the value is then over the body limit); 20 are malformed,
        // even when their value is small.
        assert_eq!(p(&"9".repeat(19)), Err(HttpError::BodyTooLarge));
        assert_eq!(
            p(&format!("{:020}", 1)),
            Err(HttpError::BadRequest(Malformed::ContentLength))
        );
        assert_eq!(p(&format!("{:019}", 0)).map(|_| ()), Ok(()));
    }

    /// `parse` on `buf`, checked to be also the first answer other than `Incomplete` that the
    /// prefixes of `buf` get: the answer must not depend on how the bytes arrive.
    fn answer(buf: &[u8], l: &ParseLimits) -> Result<Parsed, HttpError> {
        let first = (0..=buf.len())
            .map(|i| parse(&buf[..i], l))
            .find(|r| !matches!(r, Ok(Parsed::Incomplete { .. })));
        let whole = parse(buf, l);
        assert_eq!(first.as_ref(), Some(&whole), "{buf:?}");
        whole
    }

    #[test]
    fn each_syntax_error_names_the_part_it_is_in() {
        let m = HttpError::BadRequest;
        for (buf, want) in [
            (
                &b"G\x01T / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
                m(Malformed::RequestLine),
            ),
            (
                b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
                m(Malformed::HeaderName),
            ),
            (
                b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n",
                m(Malformed::HeaderValue),
            ),
            (
                b"GET / HTTP/1.1\rXHost: x\r\n\r\n",
                m(Malformed::LineEnding),
            ),
            (
                b"\rXGET / HTTP/1.1\r\nHost: x\r\n\r\n",
                m(Malformed::LineEnding),
            ),
        ] {
            assert_eq!(answer(buf, &lim()), Err(want));
        }
    }

    #[test]
    fn a_bad_byte_within_a_limit_is_malformed_and_past_it_is_the_limit() {
        // Whichever a reader of the arriving bytes meets first: the bad byte when it is the last
        // one within the limit, the limit when the bad byte is the first one past it.
        let l = ParseLimits {
            max_uri_bytes: 48,
            max_header_bytes: 256,
            ..lim()
        };
        let bad_target_byte = |at: usize| {
            let mut t = vec![b'a'; 100];
            t[0] = b'/';
            t[at - 1] = 0x01;
            let mut r = b"GET ".to_vec();
            r.extend(t);
            r.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\n\r\n");
            r
        };
        assert_eq!(
            answer(&bad_target_byte(48), &l),
            Err(HttpError::BadRequest(Malformed::RequestLine))
        );
        assert_eq!(answer(&bad_target_byte(49), &l), Err(HttpError::UriTooLong));

        let l = ParseLimits {
            max_header_bytes: 64,
            ..lim()
        };
        let bad_head_byte = |at: usize| {
            let mut r = b"GET / HTTP/1.1\r\nHost: x\r\nX: ".to_vec();
            r.extend(std::iter::repeat_n(b'v', 100));
            r[at - 1] = 0x00;
            r.extend_from_slice(b"\r\n\r\n");
            r
        };
        assert_eq!(
            answer(&bad_head_byte(64), &l),
            Err(HttpError::BadRequest(Malformed::HeaderValue))
        );
        assert_eq!(
            answer(&bad_head_byte(65), &l),
            Err(HttpError::HeadersTooLarge)
        );
    }

    #[test]
    fn a_byte_past_both_limits_is_reported_as_a_long_target() {
        // `GET ` and 48 target bytes fill a 52-byte head limit: the next target byte passes both.
        // The target is the more precise answer, and the one a limit on the head alone would hide.
        let req = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(99));
        for (max_header_bytes, want) in [
            (51, HttpError::HeadersTooLarge),
            (52, HttpError::UriTooLong),
            (53, HttpError::UriTooLong),
        ] {
            let l = ParseLimits {
                max_uri_bytes: 48,
                max_header_bytes,
                ..lim()
            };
            assert_eq!(answer(req.as_bytes(), &l), Err(want), "{max_header_bytes}");
        }
    }

    #[test]
    fn an_arriving_head_exactly_at_its_limits_is_incomplete() {
        let l = ParseLimits {
            max_uri_bytes: 48,
            max_header_bytes: 128,
            ..lim()
        };
        let incomplete = Ok(Parsed::Incomplete {
            expect_continue: false,
        });
        let target = format!("GET /{}", "a".repeat(47));
        assert_eq!(parse(target.as_bytes(), &l), incomplete);
        assert_eq!(
            parse(format!("{target}a").as_bytes(), &l),
            Err(HttpError::UriTooLong)
        );
        let head = format!("GET / HTTP/1.1\r\nHost: x\r\nX: {}", "v".repeat(100));
        assert_eq!(head.len(), 128);
        assert_eq!(parse(head.as_bytes(), &l), incomplete);
        assert_eq!(
            parse(format!("{head}v").as_bytes(), &l),
            Err(HttpError::HeadersTooLarge)
        );
    }

    #[test]
    fn a_long_target_after_a_leading_empty_line_is_too_long() {
        // httparse skips empty lines before the request line, so the target is not on the
        // first line of the buffer.
        let l = lim();
        let req = |n: usize| format!("\r\nGET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(n - 1));
        assert!(matches!(
            parse(req(l.max_uri_bytes).as_bytes(), &l),
            Ok(Parsed::Complete(..))
        ));
        assert_eq!(
            parse(req(l.max_uri_bytes + 1).as_bytes(), &l),
            Err(HttpError::UriTooLong)
        );
    }

    #[test]
    fn a_round_trip_keeps_the_http_version() {
        for minor in [0u8, 1] {
            let (r, _) = complete(format!("GET /x HTTP/1.{minor}\r\nHost: x\r\n\r\n").as_bytes());
            assert_eq!(r.minor_version, minor);
            let (again, _) = complete(&r.to_bytes());
            assert_eq!(again, r);
        }
    }
}
