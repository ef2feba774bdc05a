//! One-line logs on stderr, and the date formats they and HTTP need.
//!
//! Callers pass only what may be shown: no password, `Authorization` value or token ever
//! reaches these functions (the request log takes typed fields, not headers).

use std::time::{SystemTime, UNIX_EPOCH};

pub fn info(msg: &str) {
    line("INFO", msg);
}

pub fn warn(msg: &str) {
    line("WARN", msg);
}

pub fn error(msg: &str) {
    line("ERROR", msg);
}

fn line(level: &str, msg: &str) {
    // Built by hand into one buffer: a line is written per request, and `format!` with padded
    // numbers costs several times the work of the digits themselves.
    let mut out = String::with_capacity(RFC3339_LEN + level.len() + msg.len() + 3);
    push_rfc3339(&mut out, SystemTime::now());
    out.push(' ');
    out.push_str(level);
    out.push(' ');
    // Control characters from peer-supplied values (paths) must not forge log lines.
    if msg.chars().any(char::is_control) {
        out.extend(msg.chars().map(|c| if c.is_control() { '?' } else { c }));
    } else {
        out.push_str(msg);
    }
    out.push('\n');
    // The whole line in one write(2): stderr is unbuffered, and `eprintln!` with several
    // arguments issues one write per piece (six per request line). Errors are ignored: unlike
    // `eprint!`, a closed or broken stderr must not panic the server.
    let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), out.as_bytes());
}

/// `n` in decimal, zero-padded to at least `width` digits (up to 20, the most a u64 has).
fn push_padded(out: &mut String, n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut start = digits.len();
    let mut rest = n;
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let start = start.min(digits.len().saturating_sub(width));
    out.extend(digits[start..].iter().map(|&d| char::from(d)));
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn split(t: SystemTime) -> (i64, u32, u32, u64, u32) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (y, m, day) = civil_from_days((secs / 86_400) as i64);
    (y, m, day, secs % 86_400, d.subsec_millis())
}

/// The length of `2026-11-28T06:11:43.123Z` (years 1000 to 9999).
const RFC3339_LEN: usize = 24;

/// `2026-11-28T06:11:43.123Z`
pub fn rfc3339(t: SystemTime) -> String {
    let mut out = String::with_capacity(RFC3339_LEN);
    push_rfc3339(&mut out, t);
    out
}

fn push_rfc3339(out: &mut String, t: SystemTime) {
    let (y, m, d, s, ms) = split(t);
    push_padded(out, y.unsigned_abs(), 4);
    for (sep, n) in [
        ('-', u64::from(m)),
        ('-', u64::from(d)),
        ('T', s / 3600),
        (':', s / 60 % 60),
        (':', s % 60),
    ] {
        out.push(sep);
        push_padded(out, n, 2);
    }
    out.push('.');
    push_padded(out, u64::from(ms), 3);
    out.push('Z');
}

/// IMF-fixdate for the `Date` header: `Sat, 28 Nov 2026 06:11:43 GMT`.
pub fn http_date(t: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, m, d, s, _) = split(t);
    let days = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0);
    let mut out = String::with_capacity(29);
    out.push_str(DAYS[(days % 7) as usize]);
    out.push_str(", ");
    push_padded(&mut out, u64::from(d), 2);
    out.push(' ');
    out.push_str(MONTHS[(m as usize - 1) % 12]);
    out.push(' ');
    push_padded(&mut out, y.unsigned_abs(), 4);
    for (sep, n) in [(' ', s / 3600), (':', s / 60 % 60), (':', s % 60)] {
        out.push(sep);
        push_padded(&mut out, n, 2);
    }
    out.push_str(" GMT");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_known_instants() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_846_303_123);
        assert_eq!(rfc3339(t), "2026-11-28T06:11:43.123Z");
        assert_eq!(http_date(t), "Sat, 28 Nov 2026 06:11:43 GMT");
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(&rfc3339(leap)[..10], "2000-02-29");
        let end = UNIX_EPOCH + Duration::from_millis(253_402_300_799_999); // the last ms of 9999
        assert_eq!(rfc3339(end), "9999-12-31T23:59:59.999Z");
        assert_eq!(http_date(end), "Fri, 31 Dec 9999 23:59:59 GMT");
        let after = UNIX_EPOCH + Duration::from_secs(253_402_300_800);
        assert_eq!(rfc3339(after), "10000-01-01T00:00:00.000Z");
    }

    #[test]
    fn numbers_are_padded_to_at_least_their_width() {
        let padded = |n, w| {
            let mut s = String::new();
            push_padded(&mut s, n, w);
            s
        };
        assert_eq!(padded(7, 2), "07");
        assert_eq!(padded(0, 3), "000");
        assert_eq!(padded(12, 2), "12");
        assert_eq!(padded(123, 2), "123");
        assert_eq!(padded(u64::MAX, 4), u64::MAX.to_string());
        assert_eq!(padded(5, 20), format!("{:020}", 5));
    }
}
