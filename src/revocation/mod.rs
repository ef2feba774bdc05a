//! Durable revocations: an append-only log, fsync'd before a revocation is acknowledged.
//!
//! Each record is one line: `<jti> <revoked_at> <expires_at|-> <by> <check>`. `<by>` names who
//! revoked it: 16 hex digits of the SHA-256 of the user name (fixed width, any name, no names on
//! disk), or `-` when unknown. Lines without `<by>`, as older releases wrote them, still load.
//! The check is the first 16 hex digits of SHA-256 over the fields before it, so a record cut
//! short by a crash, or damaged, is recognised. Loading keeps every intact record. A torn *last* record, which is what
//! a crash during an append leaves behind, is reported and cut off the file. A damaged record
//! anywhere else stops startup: silently dropping a revocation would un-revoke a key.
//!
//! Compaction rewrites only the live entries. It writes `<file>.tmp`, fsyncs it, renames it over
//! the log and fsyncs the folder. A crash at any point leaves either the old log or the new one,
//! both complete. A stale `.tmp` is removed at the next start. Compaction holds the writer lock,
//! so no revocation can land in the old file after it has been copied.
//!
//! One process writes a log. `open` takes an exclusive `flock` on `<file>.lock` before it reads
//! or repairs anything, and holds it for the life of the store. A second server started with the
//! same config (a second terminal, a typo'd unit) stops at that lock: were it to compact, it would
//! rename a new file over the log while the first process went on appending to the old, unlinked
//! inode, and every revocation acknowledged after that would vanish at the next restart. The
//! lock is on a file beside the log, not the log itself, because compaction replaces the log's
//! inode. `Snapshot` (for `verify` and `check-config`) takes no lock and never writes.
//!
//! An entry outlives its key's `exp` by a grace period given at open: the validator accepts a
//! key until `exp + clockSkewSeconds`, so dropping the entry at `exp` would revive a revoked key
//! for that long after a restart or compaction. Callers pass the largest skew any configuration
//! may set, so a reload that widens the skew cannot revive anything either.
//!
//! Capacity is shared fairly: a user without `apikey:admin` may hold at most a configured number
//! of live revocations (`Revoker::User`'s cap), and the last `admin_reserve` places of the store
//! are for admins only, so no user can fill the store and stop admins from revoking.
//!
//! Appends go through the `LogFile` trait, so that tests can see each write and fsync, and make
//! either fail.
//!
//! The log, its compaction file and the lock file are created 0600: the list of revoked `jti`s
//! is nobody else's business. An existing log with wider permissions is narrowed at open.

pub mod feed;
mod file;
mod record;
pub mod redis;
pub mod snapshot;
pub mod store;

use file::*;
pub use file::{lock_path, LogFile, RevocationStore};
use record::*;
pub use record::{parse_log, valid_jti, Parsed};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

const HEADER: &str = "# apikey-sts revocations v2\n";
/// Longest `jti` accepted: ours are 36-character UUIDs; other issuers' may be longer.
pub const MAX_JTI_BYTES: usize = 128;
/// Most live revocations held; past it new revocations are refused (and said so).
pub const MAX_REVOCATIONS: usize = 1_000_000;
/// Places at the top of the store that only admins may fill.
pub const ADMIN_RESERVE: usize = 10_000;
pub use crate::config::{COMPACT_EVERY, MAX_PER_USER};
/// Largest log file read at startup.
pub const MAX_LOG_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Debug)]
pub enum RevocationError {
    Io {
        path: String,
        op: &'static str,
        error: io::Error,
    },
    Corrupt {
        path: String,
        line: usize,
        reason: &'static str,
    },
    TooLarge {
        path: String,
        bytes: u64,
    },
    /// Another process holds the log's lock file.
    Locked {
        path: String,
        lock: String,
    },
    BadJti,
    Full,
    /// The user already holds `cap` live revocations.
    UserCap {
        cap: usize,
    },
    /// The shared store (Redis) did not confirm the write: nothing was acknowledged.
    Unavailable(redis::StoreError),
}

impl fmt::Display for RevocationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RevocationError::Io { path, op, error } => write!(f, "{path}: cannot {op}: {error}"),
            RevocationError::Corrupt { path, line, reason } => write!(
                f,
                "{path}: line {line} is damaged ({reason}); only the last line may be torn. \
                 Repair or delete that line by hand"
            ),
            RevocationError::TooLarge { path, bytes } => {
                write!(
                    f,
                    "{path}: {bytes} bytes is over the {MAX_LOG_BYTES}-byte limit"
                )
            }
            RevocationError::Locked { path, lock } => write!(
                f,
                "{path}: another process holds this revocation log (lock {lock}); stop it, or \
                 give this instance its own [apikey.revocation] file"
            ),
            RevocationError::BadJti => write!(
                f,
                "jti must be 1..={MAX_JTI_BYTES} characters of A-Z a-z 0-9 - _ . :"
            ),
            RevocationError::Full => write!(f, "revocation store is full"),
            RevocationError::UserCap { cap } => write!(
                f,
                "this user already holds {cap} live revocations, the most allowed \
                 ([apikey.revocation] maxPerUser); an apikey:admin user can revoke more"
            ),
            RevocationError::Unavailable(e) => {
                write!(f, "the shared revocation store did not confirm: {e}")
            }
        }
    }
}

impl std::error::Error for RevocationError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub revoked_at: i64,
    /// The key's own `exp`; None for keys that never expire (they stay revoked for good).
    pub expires_at: Option<i64>,
    /// Who revoked it (`owner_id` of the user name); None in records that do not say.
    pub by: Option<u64>,
}

/// The fixed-width identity recorded for a user name.
pub fn owner_id(user: &str) -> u64 {
    let d = Sha256::digest(user.as_bytes());
    u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

/// Who asks for a revocation, and so which limits apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoker<'a> {
    /// An `apikey:admin` user: no per-user cap, and the admin reserve is open.
    Admin(&'a str),
    /// Any other user: at most `cap` live revocations.
    User { name: &'a str, cap: usize },
}

impl Revoker<'_> {
    fn name(&self) -> &str {
        match self {
            Revoker::Admin(n) | Revoker::User { name: n, .. } => n,
        }
    }
}

impl Entry {
    /// The entry a store records for `by` revoking `jti` now; an ill-formed `jti` is refused
    /// before any store looks at it.
    fn revoked(
        jti: &str,
        expires_at: Option<i64>,
        now: i64,
        by: Revoker<'_>,
    ) -> Result<Entry, RevocationError> {
        if !valid_jti(jti) {
            return Err(RevocationError::BadJti);
        }
        Ok(Entry {
            revoked_at: now,
            expires_at,
            by: Some(owner_id(by.name())),
        })
    }

    /// Whether this revocation lasts at least until `expires_at` (None: for good). A second
    /// revocation of a `jti` may lengthen the one in place, never shorten it.
    fn outlasts(&self, expires_at: Option<i64>) -> bool {
        match (self.expires_at, expires_at) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(mine), Some(other)) => mine >= other,
        }
    }

    /// Whether a validator could still accept the key: until `exp + grace` inclusive.
    fn live(&self, now: i64, grace: i64) -> bool {
        self.expires_at
            .is_none_or(|e| e.saturating_add(grace) >= now)
    }
}

/// What an acknowledged revocation did to the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    /// The `jti` was already revoked at least as long: nothing was written.
    Already,
    /// One record was appended and fsync'd.
    Appended,
    /// Appended, then the log was rewritten to hold only its `live` entries.
    Compacted { live: usize },
}

/// What loading found, for the startup log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    pub records: usize,
    pub live: usize,
    /// Description of a torn last record that was dropped.
    pub torn: Option<String>,
    pub stale_tmp_removed: bool,
}

/// The live entries, and how many of them each user revoked.
#[derive(Default)]
struct Live {
    entries: HashMap<String, Entry>,
    per_owner: HashMap<u64, usize>,
}

impl Live {
    /// Whether a revocation of `jti` by `by` may be added: Ok(Some(Already)) when it is revoked
    /// at least as long already (nothing to write), Ok(None) to write it, or which limit refuses
    /// it. `max_live` is the store's size, the last `admin_reserve` places of which only admins
    /// may fill.
    fn admit(
        &self,
        jti: &str,
        expires_at: Option<i64>,
        by: Revoker<'_>,
        max_live: usize,
        admin_reserve: usize,
    ) -> Result<Option<Revoked>, RevocationError> {
        if self
            .entries
            .get(jti)
            .is_some_and(|e| e.outlasts(expires_at))
        {
            return Ok(Some(Revoked::Already));
        }
        let room = match by {
            Revoker::Admin(_) => max_live,
            Revoker::User { name, cap } => {
                if self.per_owner.get(&owner_id(name)).copied().unwrap_or(0) >= cap {
                    return Err(RevocationError::UserCap { cap });
                }
                max_live - admin_reserve
            }
        };
        if self.entries.len() >= room {
            return Err(RevocationError::Full);
        }
        Ok(None)
    }

    /// Adds `e` unless `jti` is already revoked at least as long: how every store folds in
    /// records it did not admit itself (a log replayed, another node's stream).
    fn merge(&mut self, jti: String, e: Entry) {
        if !self
            .entries
            .get(&jti)
            .is_some_and(|old| old.outlasts(e.expires_at))
        {
            self.insert(jti, e);
        }
    }

    /// The entries a validator could still accept at `now`, oldest revocation first (then by
    /// `jti`): the order of the log, the snapshot and the list.
    fn live_oldest_first(&self, now: i64, grace: i64) -> Vec<(String, Entry)> {
        let mut v: Vec<(String, Entry)> = self
            .entries
            .iter()
            .filter(|(_, e)| e.live(now, grace))
            .map(|(k, e)| (k.clone(), *e))
            .collect();
        v.sort_by(|a, b| (a.1.revoked_at, &a.0).cmp(&(b.1.revoked_at, &b.0)));
        v
    }

    fn insert(&mut self, jti: String, e: Entry) {
        if let Some(old) = self.entries.insert(jti, e) {
            self.forget_owner(old.by);
        }
        if let Some(b) = e.by {
            *self.per_owner.entry(b).or_insert(0) += 1;
        }
    }

    fn forget_owner(&mut self, by: Option<u64>) {
        if let Some(b) = by {
            if let Some(n) = self.per_owner.get_mut(&b) {
                *n -= 1;
                if *n == 0 {
                    self.per_owner.remove(&b);
                }
            }
        }
    }

    fn retain_live(&mut self, now: i64, grace: i64) {
        self.entries.retain(|_, e| e.live(now, grace));
        self.per_owner.clear();
        for b in self.entries.values().filter_map(|e| e.by) {
            *self.per_owner.entry(b).or_insert(0) += 1;
        }
    }
}

/// The revocation lookup the validator makes: consulted on every validation after the signature
/// is known good, cache hit or not, so a revoked key stops working at once. `claims` is the
/// verified claims object (`jti`, `sub`, `iat`, ...).
pub trait Revocation: Send + Sync {
    fn is_revoked(&self, claims: &serde_json::Value) -> bool;
}

/// For a validator with no revocation log configured.
pub struct NothingRevoked;

impl Revocation for NothingRevoked {
    fn is_revoked(&self, _: &serde_json::Value) -> bool {
        false
    }
}

/// Validators refuse a token whose `jti` is in the store, on every request (cache hit or not).
impl Revocation for RevocationStore {
    fn is_revoked(&self, claims: &serde_json::Value) -> bool {
        claims
            .get("jti")
            .and_then(|j| j.as_str())
            .is_some_and(|j| RevocationStore::is_revoked(self, j))
    }
}

/// The live revocations in a log, read without changing the file (for `check-config` and
/// `verify`, which must not race the running server's writes).
#[derive(Debug, Default)]
pub struct Snapshot {
    pub jtis: std::collections::HashSet<String>,
    pub report: LoadReport,
}

impl Snapshot {
    /// `grace` as for `RevocationStore::open`.
    pub fn read(path: &Path, now: i64, grace: i64) -> Result<Snapshot, RevocationError> {
        let p = path.display().to_string();
        let bytes = match std::fs::metadata(path) {
            Ok(m) if m.len() > MAX_LOG_BYTES => {
                return Err(RevocationError::TooLarge {
                    path: p,
                    bytes: m.len(),
                })
            }
            Ok(_) => std::fs::read(path).map_err(|error| RevocationError::Io {
                path: p.clone(),
                op: "read",
                error,
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(error) => {
                return Err(RevocationError::Io {
                    path: p,
                    op: "read",
                    error,
                })
            }
        };
        let parsed = parse_log(&bytes).map_err(|(line, reason)| RevocationError::Corrupt {
            path: p.clone(),
            line,
            reason,
        })?;
        let mut s = Snapshot::default();
        s.report.records = parsed.records.len();
        s.report.torn = parsed.torn;
        s.jtis = parsed
            .records
            .into_iter()
            .filter(|(_, e)| e.live(now, grace))
            .map(|(j, _)| j)
            .collect();
        s.report.live = s.jtis.len();
        Ok(s)
    }
}

impl Revocation for Snapshot {
    fn is_revoked(&self, claims: &serde_json::Value) -> bool {
        claims
            .get("jti")
            .and_then(|j| j.as_str())
            .is_some_and(|j| self.jtis.contains(j))
    }
}

#[cfg(test)]
mod tests;
