//! The record format shared through Redis, and its parser.
//!
//! A record is one line of ASCII: `<jti> <revoked_at> <expires_at|-> <by|->`, the same fields as
//! a file-log record without the checksum (Redis already frames each value). It is the value of
//! the per-`jti` key and the `r` field of each change-feed entry.
//!
//! Whatever Redis sends is untrusted: another deployment sharing the server, an operator's typo
//! or a compromised Redis can put anything there. The parser takes bytes, bounds them, applies
//! the file log's `jti` rules and returns a typed error; it never panics. Stream IDs are parsed
//! the same way, so the follower never resumes from a position it cannot name.

use super::{valid_jti, Entry};
use std::fmt;

/// Longest record accepted: a 128-byte `jti`, two 20-digit times, 16 hex digits and spaces.
pub const MAX_RECORD_BYTES: usize = 256;
/// Longest stream ID accepted: two 20-digit numbers and a dash.
pub const MAX_STREAM_ID_BYTES: usize = 41;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedError {
    TooLong,
    NotAscii,
    Fields,
    Jti,
    RevokedAt,
    ExpiresAt,
    By,
    StreamId,
}

impl fmt::Display for FeedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FeedError::TooLong => "record is too long",
            FeedError::NotAscii => "record is not printable ASCII",
            FeedError::Fields => "record does not have 4 fields",
            FeedError::Jti => "invalid jti",
            FeedError::RevokedAt => "invalid revoked_at",
            FeedError::ExpiresAt => "invalid expires_at",
            FeedError::By => "invalid by",
            FeedError::StreamId => "invalid stream id",
        })
    }
}

impl std::error::Error for FeedError {}

/// The record for a revocation.
pub fn format_record(jti: &str, e: &Entry) -> String {
    let exp = e.expires_at.map_or("-".to_string(), |x| x.to_string());
    let by = e.by.map_or("-".to_string(), |b| format!("{b:016x}"));
    format!("{jti} {} {exp} {by}", e.revoked_at)
}

/// Parses one record from untrusted bytes.
pub fn parse_record(bytes: &[u8]) -> Result<(String, Entry), FeedError> {
    if bytes.len() > MAX_RECORD_BYTES {
        return Err(FeedError::TooLong);
    }
    if !bytes.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        return Err(FeedError::NotAscii);
    }
    // All bytes are ASCII, so this cannot fail; an error is still mapped, never unwrapped.
    let text = std::str::from_utf8(bytes).map_err(|_| FeedError::NotAscii)?;
    let fields: Vec<&str> = text.split(' ').collect();
    let [jti, at, exp, by] = fields[..] else {
        return Err(FeedError::Fields);
    };
    if !valid_jti(jti) {
        return Err(FeedError::Jti);
    }
    let revoked_at = parse_i64(at).ok_or(FeedError::RevokedAt)?;
    let expires_at = match exp {
        "-" => None,
        x => Some(parse_i64(x).ok_or(FeedError::ExpiresAt)?),
    };
    let by = match by {
        "-" => None,
        h if h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Some(u64::from_str_radix(h, 16).map_err(|_| FeedError::By)?)
        }
        _ => return Err(FeedError::By),
    };
    Ok((
        jti.to_string(),
        Entry {
            revoked_at,
            expires_at,
            by,
        },
    ))
}

/// A decimal integer: an optional `-` and 1 to 19 digits; no `+`, spaces or leading zeros
/// beyond a lone `0`, so each value has one spelling.
fn parse_i64(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty()
        || digits.len() > 19
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// A Redis stream ID, `<ms>-<seq>`, ordered as Redis orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub fn parse(bytes: &[u8]) -> Result<StreamId, FeedError> {
        if bytes.is_empty() || bytes.len() > MAX_STREAM_ID_BYTES {
            return Err(FeedError::StreamId);
        }
        let text = std::str::from_utf8(bytes).map_err(|_| FeedError::StreamId)?;
        let (ms, seq) = text.split_once('-').ok_or(FeedError::StreamId)?;
        let num = |s: &str| -> Result<u64, FeedError> {
            // No leading zeros: Redis never sends them, and each ID keeps one spelling.
            if s.is_empty()
                || s.len() > 20
                || !s.bytes().all(|b| b.is_ascii_digit())
                || (s.len() > 1 && s.starts_with('0'))
            {
                return Err(FeedError::StreamId);
            }
            s.parse().map_err(|_| FeedError::StreamId)
        };
        Ok(StreamId {
            ms: num(ms)?,
            seq: num(seq)?,
        })
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::revocation::MAX_JTI_BYTES;

    #[test]
    fn records_round_trip() {
        for e in [
            Entry {
                revoked_at: 5,
                expires_at: None,
                by: None,
            },
            Entry {
                revoked_at: -1,
                expires_at: Some(i64::MAX),
                by: Some(u64::MAX),
            },
            Entry {
                revoked_at: i64::MIN,
                expires_at: Some(0),
                by: Some(0),
            },
        ] {
            let jti = "a".repeat(MAX_JTI_BYTES);
            let r = format_record(&jti, &e);
            assert!(r.len() <= MAX_RECORD_BYTES, "{}", r.len());
            assert_eq!(parse_record(r.as_bytes()), Ok((jti, e)));
        }
    }

    #[test]
    fn bad_records_are_refused_by_name() {
        let long = format!("{} 1 - -", "a".repeat(MAX_JTI_BYTES + 1));
        for (bad, want) in [
            (&b"x 1 - -\n"[..], FeedError::NotAscii),
            (b"x 1 -", FeedError::Fields),
            (b"x 1 - - -", FeedError::Fields),
            (b"x  1 - -", FeedError::Fields),
            (b"x/y 1 - -", FeedError::Jti),
            (b" 1 - -", FeedError::Jti),
            (long.as_bytes(), FeedError::Jti),
            (b"x +1 - -", FeedError::RevokedAt),
            (b"x 01 - -", FeedError::RevokedAt),
            (b"x 99999999999999999999 - -", FeedError::RevokedAt),
            (b"x 1 1e3 -", FeedError::ExpiresAt),
            (b"x 1 - abc", FeedError::By),
            (b"x 1 - +000000000000000", FeedError::By),
            (b"x 1 - 00000000000000000", FeedError::By),
            (b"x\xff1 - -", FeedError::NotAscii),
        ] {
            assert_eq!(parse_record(bad).map(|_| ()), Err(want), "{bad:?}");
        }
        // At and past the size limit.
        let at = format!("x 1 - -{}", " ".repeat(MAX_RECORD_BYTES - 7));
        assert_eq!(at.len(), MAX_RECORD_BYTES);
        assert_eq!(parse_record(at.as_bytes()), Err(FeedError::Fields));
        let past = "x".repeat(MAX_RECORD_BYTES + 1);
        assert_eq!(parse_record(past.as_bytes()), Err(FeedError::TooLong));
    }

    #[test]
    fn every_feed_error_reads_differently() {
        use FeedError::*;
        let all = [
            TooLong, NotAscii, Fields, Jti, RevokedAt, ExpiresAt, By, StreamId,
        ];
        let texts: std::collections::HashSet<String> = all.iter().map(|e| e.to_string()).collect();
        assert_eq!(texts.len(), all.len(), "{texts:?}");
        assert!(texts.iter().all(|t| !t.is_empty()));
    }

    #[test]
    fn stream_ids_parse_order_and_bound() {
        let a = StreamId::parse(b"1700000000000-0").unwrap();
        let b = StreamId::parse(b"1700000000000-12").unwrap();
        assert!(a < b);
        assert_eq!(b.to_string(), "1700000000000-12");
        let max = format!("{}-{}", u64::MAX, u64::MAX);
        assert_eq!(max.len(), MAX_STREAM_ID_BYTES);
        assert!(StreamId::parse(max.as_bytes()).is_ok());
        for bad in [
            &b""[..],
            b"1",
            b"-1",
            b"1-",
            b"a-1",
            b"1-1-1",
            b"18446744073709551616-0",
            b"01-0",
            b"1-00",
            b"+1-0",
            b"1-+0",
            format!("{max}0").as_bytes(),
        ] {
            assert_eq!(StreamId::parse(bad), Err(FeedError::StreamId), "{bad:?}");
        }
    }
}
