//! The response type handlers return, and its wire form. Framing (`Content-Length`,
//! `Connection`, whether a body goes out at all) is not the handler's choice: `Connection::send`
//! decides it from the request and the connection, and `write` renders that decision.

/// A response as a handler builds it: status, its own headers and the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type", content_type.to_string())],
            body: body.into(),
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }

    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How a response goes on the wire, as `Connection::send` decided it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Framing {
    /// Announce `Connection: close`.
    pub close: bool,
    /// Announce `Connection: keep-alive` (an HTTP/1.0 client that asked to keep it open).
    pub keep_alive_header: bool,
    /// Answering HEAD: the `Content-Length` of the body a GET gets, and no body.
    pub head_only: bool,
}

/// RFC 9110 §6.4.1 and §8.6: 204 and 304 never have content, and neither sends
/// `Content-Length` (for a 304 it would have to be the length of the 200's body, which the
/// handler did not produce).
fn bodiless(status: u16) -> bool {
    matches!(status, 100..=199 | 204 | 304)
}

/// Appends the wire form of `resp` to `out`.
pub(super) fn write(resp: &Response, framing: Framing, date: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(resp.status.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason(resp.status).as_bytes());
    out.extend_from_slice(b"\r\nServer: apikey-sts\r\nDate: ");
    out.extend_from_slice(date.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (n, v) in &resp.headers {
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b": ");
        // Values are ours, but a CR/LF would split the response: drop them defensively.
        out.extend(v.bytes().filter(|&b| b != b'\r' && b != b'\n'));
        out.extend_from_slice(b"\r\n");
    }
    let bodiless = bodiless(resp.status);
    if !bodiless {
        out.extend_from_slice(b"Content-Length: ");
        out.extend_from_slice(resp.body.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if framing.close {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if framing.keep_alive_header {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !framing.head_only && !bodiless {
        out.extend_from_slice(&resp.body);
    }
}

pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        417 => "Expectation Failed",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(resp: &Response, framing: Framing) -> String {
        let mut out = Vec::new();
        write(resp, framing, "Thu, 01 Jan 1970 00:00:00 GMT", &mut out);
        String::from_utf8(out).unwrap()
    }

    const KEEP: Framing = Framing {
        close: false,
        keep_alive_header: false,
        head_only: false,
    };

    #[test]
    fn response_bytes() {
        let s = render(
            &Response::new(200, "text/plain", "tok").header("X-A", "b\r\nInjected: 1"),
            KEEP,
        );
        assert!(s.starts_with(
            "HTTP/1.1 200 OK\r\nServer: apikey-sts\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
        ));
        assert!(s.contains("X-A: bInjected: 1\r\n"));
        assert!(s.ends_with("Content-Length: 3\r\n\r\ntok"));
        let s = render(
            &Response::new(401, "application/json", "{}"),
            Framing {
                close: true,
                head_only: true,
                ..KEEP
            },
        );
        assert!(s.ends_with("Content-Length: 2\r\nConnection: close\r\n\r\n"));
        let s = render(
            &Response::new(200, "application/json", "{}"),
            Framing {
                keep_alive_header: true,
                ..KEEP
            },
        );
        assert!(s.ends_with("Content-Length: 2\r\nConnection: keep-alive\r\n\r\n{}"));
    }

    #[test]
    fn not_modified_has_no_body_and_no_length() {
        let s = render(
            &Response::new(304, "application/json", "ignored").header("ETag", "\"x\""),
            KEEP,
        );
        assert!(s.ends_with("ETag: \"x\"\r\n\r\n"), "{s}");
        assert!(!s.contains("Content-Length"));
    }

    #[test]
    fn every_status_we_send_has_its_registered_reason_phrase() {
        // RFC 9110 section 15, and RFC 4918 section 11.5 for 507.
        for (status, phrase) in [
            (100, "Continue"),
            (200, "OK"),
            (204, "No Content"),
            (304, "Not Modified"),
            (400, "Bad Request"),
            (401, "Unauthorized"),
            (403, "Forbidden"),
            (404, "Not Found"),
            (405, "Method Not Allowed"),
            (408, "Request Timeout"),
            (413, "Content Too Large"),
            (414, "URI Too Long"),
            (417, "Expectation Failed"),
            (429, "Too Many Requests"),
            (431, "Request Header Fields Too Large"),
            (500, "Internal Server Error"),
            (501, "Not Implemented"),
            (503, "Service Unavailable"),
            (505, "HTTP Version Not Supported"),
            (507, "Insufficient Storage"),
        ] {
            assert_eq!(reason(status), phrase);
            let s = render(&Response::new(status, "text/plain", ""), KEEP);
            assert!(
                s.starts_with(&format!("HTTP/1.1 {status} {phrase}\r\n")),
                "{s}"
            );
        }
    }
}
