//! The log's line format: one checksummed record per line, and the parser that reads a log back
//! (a torn last line is reported, damage elsewhere is an error). Pure, for tests and fuzzing.

use super::*;

pub fn valid_jti(jti: &str) -> bool {
    !jti.is_empty()
        && jti.len() <= MAX_JTI_BYTES
        && jti
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

pub(super) fn record_checksum(body: &str) -> String {
    Sha256::digest(body.as_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(super) fn record(jti: &str, e: &Entry) -> String {
    let exp = e.expires_at.map_or("-".to_string(), |x| x.to_string());
    let by = e.by.map_or("-".to_string(), |b| format!("{b:016x}"));
    let body = format!("{jti} {} {exp} {by}", e.revoked_at);
    let c = record_checksum(&body);
    format!("{body} {c}\n")
}

pub(super) fn parse_record(line: &str) -> Result<(String, Entry), &'static str> {
    let fields: Vec<&str> = line.splitn(6, ' ').collect();
    let (jti, at, exp, by, c) = match fields[..] {
        [jti, at, exp, c] => (jti, at, exp, None, c),
        [jti, at, exp, by, c] => (jti, at, exp, Some(by), c),
        _ => return Err("wrong number of fields"),
    };
    let body_len = line.len() - c.len() - 1;
    if record_checksum(&line[..body_len]) != c {
        return Err("checksum mismatch");
    }
    let by = match by {
        None | Some("-") => None,
        Some(h) if h.len() == 16 => Some(u64::from_str_radix(h, 16).map_err(|_| "invalid by")?),
        Some(_) => return Err("invalid by"),
    };
    if !valid_jti(jti) {
        return Err("invalid jti");
    }
    let revoked_at = at.parse().map_err(|_| "invalid revoked_at")?;
    let expires_at = match exp {
        "-" => None,
        x => Some(x.parse().map_err(|_| "invalid expires_at")?),
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

/// The records of a log, and where the intact part ends. Pure, for tests and fuzzing.
/// Err((line, reason)) when a record other than the last is damaged.
#[derive(Debug, PartialEq, Eq)]
pub struct Parsed {
    pub records: Vec<(String, Entry)>,
    /// Bytes of intact records (what to keep when the tail is torn).
    pub good_len: usize,
    pub torn: Option<String>,
}

pub fn parse_log(bytes: &[u8]) -> Result<Parsed, (usize, &'static str)> {
    let mut records = Vec::new();
    let mut pos = 0;
    let mut line_no = 0;
    while pos < bytes.len() {
        line_no += 1;
        let rest = &bytes[pos..];
        let (line, next, complete) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], pos + i + 1, true),
            None => (rest, bytes.len(), false),
        };
        let is_last = next == bytes.len();
        let parsed = if !complete {
            Err("no end of line")
        } else {
            match std::str::from_utf8(line) {
                Ok(l) if l.starts_with('#') || l.is_empty() => {
                    pos = next;
                    continue;
                }
                Ok(l) => parse_record(l),
                Err(_) => Err("not UTF-8"),
            }
        };
        match parsed {
            Ok(r) => records.push(r),
            Err(reason) if is_last => {
                return Ok(Parsed {
                    records,
                    good_len: pos,
                    torn: Some(format!("line {line_no}: {reason}")),
                })
            }
            Err(reason) => return Err((line_no, reason)),
        }
        pos = next;
    }
    Ok(Parsed {
        records,
        good_len: bytes.len(),
        torn: None,
    })
}
