//! The local copy of a shared store's live set, so that a node can start while Redis is down.
//!
//! It has the file log's format (header, one checksummed record per line), so `verify` and
//! `check-config` read it as they read a log. It is written whole: `<file>.tmp`, 0600, fsync'd,
//! renamed over the snapshot, folder fsync'd. A crash leaves the old snapshot or the new one. A
//! snapshot with a damaged or torn record was not written by us and is refused: serving a
//! partial set would un-revoke keys without saying so.

use super::{parse_log, private_options, record, tmp_path, Entry, RevocationError, HEADER};
use super::{MAX_LOG_BYTES, MAX_REVOCATIONS};
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

fn io_err<'a>(path: &'a Path, op: &'static str) -> impl FnOnce(io::Error) -> RevocationError + 'a {
    move |error| RevocationError::Io {
        path: path.display().to_string(),
        op,
        error,
    }
}

/// Replaces the snapshot at `path` with `entries`, after a first comment line `mark` (which
/// says what wrote the file; readers skip comment lines).
pub fn write_marked(
    path: &Path,
    mark: &str,
    entries: &[(String, Entry)],
) -> Result<(), RevocationError> {
    let mut out = String::with_capacity(mark.len() + HEADER.len() + entries.len() * 80);
    out.push_str(mark);
    out.push_str(HEADER);
    for (jti, e) in entries {
        out.push_str(&record(jti, e));
    }
    let tmp = tmp_path(path);
    {
        let mut f = private_options()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(io_err(path, "create the snapshot's temporary file"))?;
        f.write_all(out.as_bytes())
            .map_err(io_err(path, "write the snapshot"))?;
        f.sync_all().map_err(io_err(path, "fsync the snapshot"))?;
    }
    std::fs::rename(&tmp, path).map_err(io_err(path, "rename the snapshot"))?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The entries of the snapshot at `path` still live at `now`; None when there is none.
pub fn read(
    path: &Path,
    now: i64,
    grace: i64,
) -> Result<Option<Vec<(String, Entry)>>, RevocationError> {
    let p = path.display().to_string();
    let bytes = match std::fs::metadata(path) {
        Ok(m) if m.len() > MAX_LOG_BYTES => {
            return Err(RevocationError::TooLarge {
                path: p,
                bytes: m.len(),
            })
        }
        Ok(_) => std::fs::read(path).map_err(io_err(path, "read"))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path, "read")(e)),
    };
    let parsed = parse_log(&bytes).map_err(|(line, reason)| RevocationError::Corrupt {
        path: p.clone(),
        line,
        reason,
    })?;
    if let Some(torn) = parsed.torn {
        let line = torn
            .strip_prefix("line ")
            .and_then(|t| t.split(':').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        return Err(RevocationError::Corrupt {
            path: p,
            line,
            reason: "snapshot record damaged",
        });
    }
    let live: Vec<(String, Entry)> = parsed
        .records
        .into_iter()
        .filter(|(_, e)| e.live(now, grace))
        .collect();
    if live.len() > MAX_REVOCATIONS {
        return Err(RevocationError::Full);
    }
    Ok(Some(live))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn written_atomically_private_and_read_back() {
        let d = super::super::tests::dir("snap");
        let p = d.join("snap");
        assert!(read(&p, 0, 0).unwrap().is_none());
        let e = |exp| Entry {
            revoked_at: 1,
            expires_at: exp,
            by: Some(7),
        };
        let entries = vec![("a".to_string(), e(None)), ("b".to_string(), e(Some(10)))];
        write_marked(&p, "# test\n", &entries).unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(!tmp_path(&p).exists());
        assert_eq!(read(&p, 10, 0).unwrap().unwrap(), entries);
        // Past b's exp + grace only a is left.
        assert_eq!(read(&p, 11, 0).unwrap().unwrap(), entries[..1]);
        assert_eq!(read(&p, 11, 1).unwrap().unwrap(), entries);
        // A snapshot cut short is refused rather than served as a smaller set.
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 3]).unwrap();
        assert!(matches!(
            read(&p, 0, 0),
            Err(RevocationError::Corrupt { line: 4, .. })
        ));
    }

    #[test]
    fn an_oversized_or_unreachable_snapshot_is_an_error_not_an_empty_set() {
        let d = super::super::tests::dir("snap-limits");
        // Sparse: one byte past the limit costs no disk, and is refused before it is read.
        let big = d.join("big");
        File::create(&big)
            .unwrap()
            .set_len(MAX_LOG_BYTES + 1)
            .unwrap();
        assert!(matches!(
            read(&big, 0, 0),
            Err(RevocationError::TooLarge { bytes, .. }) if bytes == MAX_LOG_BYTES + 1
        ));
        // Only a missing file means "no snapshot"; a path that cannot be looked up is an error.
        let under_a_file = big.join("snap");
        assert!(matches!(
            read(&under_a_file, 0, 0),
            Err(RevocationError::Io { op: "read", .. })
        ));
    }
}
