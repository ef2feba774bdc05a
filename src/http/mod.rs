//! HTTP/1.x, sans I/O: bytes in, typed requests (or a typed error) out; typed responses in,
//! bytes out. Nothing here touches a socket: the server feeds in what it read and writes out
//! what it is given, and fuzzers and tests drive the same code directly.
//!
//! - `parse`: one request from the start of a buffer (syntax, framing, size limits).
//! - `conn`: one connection's progress over many requests (pipelining, `Expect: 100-continue`,
//!   the parse-attempt cap) and the single decision whether it stays open (`CloseReason`).
//! - `response`: the response type and its wire form.

mod conn;
mod parse;
mod response;

pub use conn::{requested_close, CloseReason, Connection, Polled, CONTINUE, MAX_PARSE_ATTEMPTS};
pub use parse::{parse, parse_head, Parsed, MAX_CHUNK_LINE_BYTES};
pub use response::{reason, Response};

use std::fmt;

/// Size and count limits applied while parsing (see `config::Limits` for the defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseLimits {
    /// Request line plus headers, up to and including the blank line.
    pub max_header_bytes: usize,
    pub max_uri_bytes: usize,
    pub max_headers: usize,
    /// Decoded body bytes (after de-chunking).
    pub max_body_bytes: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_header_bytes: 8 * 1024,
            max_uri_bytes: 2 * 1024,
            max_headers: 64,
            max_body_bytes: 16 * 1024,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpError {
    /// Request line and headers exceed `max_header_bytes`.
    HeadersTooLarge,
    TooManyHeaders,
    UriTooLong,
    BodyTooLarge,
    /// A syntax or framing error.
    BadRequest(Malformed),
    /// A transfer coding other than `chunked`.
    UnsupportedTransferEncoding,
    /// An `Expect` other than `100-continue`.
    ExpectationFailed,
    VersionNotSupported,
}

/// Which part of a request is malformed (all answered 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    RequestLine,
    HeaderName,
    HeaderValue,
    LineEnding,
    /// Any other syntax error httparse reports.
    Syntax,
    ContentLength,
    ConflictingContentLength,
    /// Both `Transfer-Encoding` and `Content-Length` (the classic smuggling vector).
    BothFramings,
    ChunkSize,
    /// A chunk-size line longer than `MAX_CHUNK_LINE_BYTES`.
    ChunkLineTooLong,
    BareLfInChunked,
    ChunkDataNotCrlf,
    /// An HTTP/1.1 request without `Host` (RFC 9112 §3.2).
    MissingHost,
    /// More than one `Host` field line (RFC 9112 §3.2).
    DuplicateHost,
    /// More than one `Authorization`: which one to check would be a guess.
    DuplicateAuthorization,
    /// Incomplete after `MAX_PARSE_ATTEMPTS` parses.
    TooManyPieces,
}

impl Malformed {
    fn as_str(self) -> &'static str {
        match self {
            Malformed::RequestLine => "invalid request line",
            Malformed::HeaderName => "invalid header name",
            Malformed::HeaderValue => "invalid header value",
            Malformed::LineEnding => "invalid line ending",
            Malformed::Syntax => "malformed request",
            Malformed::ContentLength => "invalid Content-Length",
            Malformed::ConflictingContentLength => "conflicting Content-Length headers",
            Malformed::BothFramings => "both Transfer-Encoding and Content-Length",
            Malformed::ChunkSize => "invalid chunk size",
            Malformed::ChunkLineTooLong => "chunk line too long",
            Malformed::BareLfInChunked => "bare LF in chunked body",
            Malformed::ChunkDataNotCrlf => "chunk data not followed by CRLF",
            Malformed::MissingHost => "HTTP/1.1 request without Host",
            Malformed::DuplicateHost => "more than one Host header",
            Malformed::DuplicateAuthorization => "more than one Authorization header",
            Malformed::TooManyPieces => "request arrived in too many pieces",
        }
    }
}

impl HttpError {
    pub fn status(&self) -> u16 {
        match self {
            HttpError::HeadersTooLarge | HttpError::TooManyHeaders => 431,
            HttpError::UriTooLong => 414,
            HttpError::BodyTooLarge => 413,
            HttpError::BadRequest(_) => 400,
            HttpError::UnsupportedTransferEncoding => 501,
            HttpError::ExpectationFailed => 417,
            HttpError::VersionNotSupported => 505,
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::HeadersTooLarge => f.write_str("request headers are too large"),
            HttpError::TooManyHeaders => f.write_str("request has too many headers"),
            HttpError::UriTooLong => f.write_str("request URI is too long"),
            HttpError::BodyTooLarge => f.write_str("request body is too large"),
            HttpError::BadRequest(why) => write!(f, "bad request: {}", why.as_str()),
            HttpError::UnsupportedTransferEncoding => {
                f.write_str("Transfer-Encoding: only chunked is supported")
            }
            HttpError::ExpectationFailed => f.write_str("Expect: only 100-continue is supported"),
            HttpError::VersionNotSupported => {
                f.write_str("only HTTP/1.0 and HTTP/1.1 are supported")
            }
        }
    }
}

impl std::error::Error for HttpError {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The request target as sent (`/apikey?x=y`).
    pub target: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// Names as sent; look them up with `header`, which ignores case.
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Request {
    /// First header of that name, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name)
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(str::trim)
    }

    /// How many field lines carry `name`, case-insensitively.
    pub fn header_count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }

    pub fn path(&self) -> &str {
        self.target.split(['?', '#']).next().unwrap_or("")
    }

    pub fn query(&self) -> Option<&str> {
        self.target
            .split_once('?')
            .map(|(_, q)| q.split('#').next().unwrap_or(""))
    }

    /// Serialises the request again (for the parser's round-trip fuzz target and tests).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128 + self.body.len());
        out.extend_from_slice(self.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.target.as_bytes());
        out.extend_from_slice(if self.minor_version == 0 {
            b" HTTP/1.0\r\n"
        } else {
            b" HTTP/1.1\r\n"
        });
        for (n, v) in &self.headers {
            if n.eq_ignore_ascii_case("transfer-encoding")
                || n.eq_ignore_ascii_case("content-length")
            {
                continue;
            }
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
        if !self.body.is_empty() {
            out.extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error's text is the detail of the fault body the client gets: each error reads
    /// differently, and a 400 says which part of the request was malformed.
    #[test]
    fn every_error_message_says_what_went_wrong() {
        use Malformed::*;
        let malformed = [
            RequestLine,
            HeaderName,
            HeaderValue,
            LineEnding,
            Syntax,
            ContentLength,
            ConflictingContentLength,
            BothFramings,
            ChunkSize,
            ChunkLineTooLong,
            BareLfInChunked,
            ChunkDataNotCrlf,
            MissingHost,
            DuplicateHost,
            DuplicateAuthorization,
            TooManyPieces,
        ];
        let mut errors = vec![
            HttpError::HeadersTooLarge,
            HttpError::TooManyHeaders,
            HttpError::UriTooLong,
            HttpError::BodyTooLarge,
            HttpError::UnsupportedTransferEncoding,
            HttpError::ExpectationFailed,
            HttpError::VersionNotSupported,
        ];
        errors.extend(malformed.map(HttpError::BadRequest));
        let texts: std::collections::HashSet<String> =
            errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(texts.len(), errors.len(), "{texts:?}");
        assert!(HttpError::BadRequest(MissingHost)
            .to_string()
            .contains("without Host"));
    }
}
