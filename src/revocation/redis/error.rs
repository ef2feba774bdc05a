//! Why the shared store did not confirm, with the Redis password kept out of every message.

use super::*;
use crate::config::url_authority;

/// Why the shared store did not confirm. Never carries the Redis password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// No connection: refused, unreachable, or the handshake failed (`detail` is scrubbed).
    Unreachable { detail: String },
    /// Redis did not answer within `timeoutMs`.
    Timeout,
    /// Fewer replicas than `minReplicas` confirmed within the timeout.
    Replicas { wanted: u32, got: i64 },
    /// Redis answered with an error (its code only, e.g. `NOAUTH`, `READONLY`).
    Refused { code: String },
    /// The reply had a shape no Redis sends for this command.
    BadReply(&'static str),
    /// More live revocations in Redis than a node holds (`MAX_REVOCATIONS`).
    TooMany,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Unreachable { detail } => write!(f, "Redis is unreachable ({detail})"),
            StoreError::Timeout => write!(f, "Redis did not answer in time"),
            StoreError::Replicas { wanted, got } => write!(
                f,
                "{got} of the {wanted} replicas required ([apikey.revocation] minReplicas) \
                 confirmed in time"
            ),
            StoreError::Refused { code } => write!(f, "Redis refused the command ({code})"),
            StoreError::BadReply(what) => write!(f, "unexpected reply from Redis: {what}"),
            StoreError::TooMany => write!(
                f,
                "Redis holds more than {MAX_REVOCATIONS} live revocations under this prefix"
            ),
        }
    }
}

impl std::error::Error for StoreError {}

/// `redis://user:***@host:6379/0`: the URL as it may be logged.
pub fn redacted_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(not a URL)".into();
    };
    let authority = url_authority(url);
    match authority.rfind('@') {
        Some(at) => {
            let user = authority[..at].split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{}", &rest[at + 1..])
        }
        None => url.to_string(),
    }
}

/// The password part of a URL (raw, as written), if any.
pub(super) fn url_password(url: &str) -> Option<&str> {
    let authority = url_authority(url);
    let userinfo = &authority[..authority.rfind('@')?];
    userinfo
        .split_once(':')
        .map(|(_, p)| p)
        .filter(|p| !p.is_empty())
}

/// Longest error text kept from the client library (it may quote what the server said).
pub const MAX_DETAIL_CHARS: usize = 200;

/// A client library error as a `StoreError`, with `secret` (and its decoded form) removed from
/// any text kept.
pub(super) fn store_error(e: &redis::RedisError, secret: Option<&str>) -> StoreError {
    if e.is_timeout() {
        return StoreError::Timeout;
    }
    if let Some(code) = e.code() {
        if !e.is_io_error() {
            return StoreError::Refused {
                code: code
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric())
                    .take(32)
                    .collect(),
            };
        }
    }
    let mut detail = e.to_string();
    if let Some(s) = secret {
        for form in [s.to_string(), percent_decode(s)] {
            if !form.is_empty() {
                detail = detail.replace(&form, "***");
            }
        }
    }
    StoreError::Unreachable {
        detail: detail.chars().take(MAX_DETAIL_CHARS).collect(),
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (b[i], b.get(i + 1).copied(), b.get(i + 2).copied()) {
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
