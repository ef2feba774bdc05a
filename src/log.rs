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
    let mut out = format!("{} {level} ", rfc3339(SystemTime::now()));
    // Control characters from peer-supplied values (paths) must not forge log lines.
    out.extend(msg.chars().map(|c| if c.is_control() { '?' } else { c }));
    out.push('\n');
    // The whole line in one write(2): stderr is unbuffered, and `eprintln!` with several
    // arguments issues one write per piece (six per request line). Errors are ignored: unlike
    // `eprint!`, a closed or broken stderr must not panic the server.
    let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), out.as_bytes());
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

/// `2026-11-28T06:11:43.123Z`
pub fn rfc3339(t: SystemTime) -> String {
    let (y, m, d, s, ms) = split(t);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
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
    format!(
        "{}, {d:02} {} {y:04} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[(m as usize - 1) % 12],
        s / 3600,
        s / 60 % 60,
        s % 60
    )
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
    }
}
