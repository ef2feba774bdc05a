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
pub mod redis;
pub mod snapshot;
pub mod store;

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

pub fn valid_jti(jti: &str) -> bool {
    !jti.is_empty()
        && jti.len() <= MAX_JTI_BYTES
        && jti
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

fn record_checksum(body: &str) -> String {
    Sha256::digest(body.as_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn record(jti: &str, e: &Entry) -> String {
    let exp = e.expires_at.map_or("-".to_string(), |x| x.to_string());
    let by = e.by.map_or("-".to_string(), |b| format!("{b:016x}"));
    let body = format!("{jti} {} {exp} {by}", e.revoked_at);
    let c = record_checksum(&body);
    format!("{body} {c}\n")
}

fn parse_record(line: &str) -> Result<(String, Entry), &'static str> {
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

/// The file operations an append needs.
pub trait LogFile: Send {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Makes the appended bytes durable (fsync of the data).
    fn sync(&mut self) -> io::Result<()>;
}

impl LogFile for File {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.write_all(bytes)
    }
    fn sync(&mut self) -> io::Result<()> {
        self.sync_data()
    }
}

/// Opens the log for appending (at open, and again after each compaction).
type Opener = Box<dyn Fn(&Path) -> io::Result<Box<dyn LogFile>> + Send + Sync>;

fn open_for_append(path: &Path) -> io::Result<Box<dyn LogFile>> {
    let f = private_options().create(true).append(true).open(path)?;
    Ok(Box::new(f))
}

struct Writer {
    file: Box<dyn LogFile>,
    /// Records in the file (live or not).
    records: usize,
    appends: usize,
}

/// The live entries, and how many of them each user revoked.
#[derive(Default)]
struct Live {
    entries: HashMap<String, Entry>,
    per_owner: HashMap<u64, usize>,
}

impl Live {
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

pub struct RevocationStore {
    path: PathBuf,
    /// Held (flock) for the life of the store; released by the kernel when the process dies.
    _lock: File,
    /// Seconds an entry outlives its key's `exp`.
    grace: i64,
    writer: Mutex<Writer>,
    opener: Opener,
    map: RwLock<Live>,
    compact_every: usize,
    max_live: usize,
    admin_reserve: usize,
    compactions: std::sync::atomic::AtomicUsize,
}

impl fmt::Debug for RevocationStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevocationStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn tmp_path(path: &Path) -> PathBuf {
    sibling(path, ".tmp")
}

/// The lock file that makes one process the log's only writer.
pub fn lock_path(path: &Path) -> PathBuf {
    sibling(path, ".lock")
}

/// Owner read and write only, whatever the umask.
const FILE_MODE: u32 = 0o600;

fn private_options() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.mode(FILE_MODE);
    o
}

impl RevocationStore {
    /// Locks the log against other writers, then loads (or creates) it, repairs a torn tail
    /// and drops the entries whose `exp + grace` has passed.
    pub fn open(
        path: &Path,
        now: i64,
        grace: i64,
    ) -> Result<(RevocationStore, LoadReport), RevocationError> {
        Self::open_with(path, now, grace, Box::new(open_for_append))
    }

    /// As `open`, appending through the files `opener` gives.
    fn open_with(
        path: &Path,
        now: i64,
        grace: i64,
        opener: Opener,
    ) -> Result<(RevocationStore, LoadReport), RevocationError> {
        let p = path.display().to_string();
        let io_err = |op: &'static str| {
            let p = p.clone();
            move |error| RevocationError::Io { path: p, op, error }
        };
        let lock = lock_path(path);
        let lock_file = private_options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock)
            .map_err(io_err("open the lock file"))?;
        match lock_file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(RevocationError::Locked {
                    path: p,
                    lock: lock.display().to_string(),
                })
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io_err("lock")(e)),
        }
        let mut report = LoadReport::default();
        let tmp = tmp_path(path);
        if tmp.exists() {
            // A compaction died before its rename: the log itself is complete.
            std::fs::remove_file(&tmp).map_err(io_err("remove the stale compaction file"))?;
            report.stale_tmp_removed = true;
        }
        let bytes = match std::fs::metadata(path) {
            Ok(m) if m.len() > MAX_LOG_BYTES => {
                return Err(RevocationError::TooLarge {
                    path: p,
                    bytes: m.len(),
                })
            }
            Ok(_) => std::fs::read(path).map_err(io_err("read"))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_err("read")(e)),
        };
        let parsed = parse_log(&bytes).map_err(|(line, reason)| RevocationError::Corrupt {
            path: p.clone(),
            line,
            reason,
        })?;
        report.records = parsed.records.len();
        report.torn = parsed.torn.clone();
        let mut map = Live::default();
        for (jti, e) in parsed.records {
            if e.live(now, grace) {
                map.insert(jti, e);
            }
        }
        report.live = map.entries.len();
        let file = opener(path).map_err(io_err("open for appending"))?;
        let mode = std::fs::metadata(path)
            .map_err(io_err("stat"))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(FILE_MODE))
                .map_err(io_err("narrow the permissions of"))?;
        }
        let store = RevocationStore {
            path: path.to_path_buf(),
            _lock: lock_file,
            grace,
            writer: Mutex::new(Writer {
                file,
                records: report.records,
                appends: 0,
            }),
            opener,
            map: RwLock::new(map),
            compact_every: COMPACT_EVERY,
            max_live: MAX_REVOCATIONS,
            admin_reserve: ADMIN_RESERVE,
            compactions: std::sync::atomic::AtomicUsize::new(0),
        };
        // Rewrite at startup when anything is to be dropped: a torn tail must not have new
        // records glued to it, and expired entries need not be read again.
        if parsed.torn.is_some() || report.live < report.records || bytes.is_empty() {
            store.compact(now)?;
        }
        Ok((store, report))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// See `COMPACT_EVERY`; at least 1.
    pub fn set_compact_every(&mut self, n: usize) {
        self.compact_every = n.max(1);
    }

    /// Most live entries, and how many of the last places only admins may fill (see
    /// `MAX_REVOCATIONS`, `ADMIN_RESERVE`).
    pub fn set_capacity(&mut self, max_live: usize, admin_reserve: usize) {
        self.max_live = max_live;
        self.admin_reserve = admin_reserve.min(max_live);
    }

    /// Compactions done since open (for logs and tests).
    pub fn compactions(&self) -> usize {
        self.compactions.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn io(&self, op: &'static str) -> impl FnOnce(io::Error) -> RevocationError + '_ {
        move |error| RevocationError::Io {
            path: self.path.display().to_string(),
            op,
            error,
        }
    }

    /// Records a revocation durably (fsync'd) before returning. Revoking twice is fine.
    pub fn revoke(
        &self,
        jti: &str,
        expires_at: Option<i64>,
        now: i64,
        by: Revoker<'_>,
    ) -> Result<Revoked, RevocationError> {
        if !valid_jti(jti) {
            return Err(RevocationError::BadJti);
        }
        let owner = owner_id(by.name());
        let entry = Entry {
            revoked_at: now,
            expires_at,
            by: Some(owner),
        };
        let mut w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        {
            let map = self.map.read().unwrap_or_else(|e| e.into_inner());
            if map
                .entries
                .get(jti)
                .is_some_and(|e| e.expires_at == expires_at || e.expires_at.is_none())
            {
                return Ok(Revoked::Already);
            }
            let room = match by {
                Revoker::Admin(_) => self.max_live,
                Revoker::User { cap, .. } => {
                    if map.per_owner.get(&owner).copied().unwrap_or(0) >= cap {
                        return Err(RevocationError::UserCap { cap });
                    }
                    self.max_live - self.admin_reserve
                }
            };
            if map.entries.len() >= room {
                return Err(RevocationError::Full);
            }
        }
        w.file
            .append(record(jti, &entry).as_bytes())
            .map_err(self.io("append"))?;
        w.file.sync().map_err(self.io("fsync"))?;
        w.records += 1;
        w.appends += 1;
        self.map
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(jti.to_string(), entry);
        // Counting live entries is O(n): do it once per `compact_every` appends.
        if w.appends >= self.compact_every {
            w.appends = 0;
            let live = self
                .map
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .entries
                .values()
                .filter(|e| e.live(now, self.grace))
                .count();
            if w.records > 2 * live + self.compact_every {
                self.compact_locked(&mut w, now)?;
                return Ok(Revoked::Compacted { live: w.records });
            }
        }
        Ok(Revoked::Appended)
    }

    pub fn is_revoked(&self, jti: &str) -> bool {
        self.map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .entries
            .contains_key(jti)
    }

    /// Live revocations, oldest first.
    pub fn list(&self, now: i64) -> Vec<(String, Entry)> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<(String, Entry)> = map
            .entries
            .iter()
            .filter(|(_, e)| e.live(now, self.grace))
            .map(|(k, e)| (k.clone(), *e))
            .collect();
        v.sort_by(|a, b| (a.1.revoked_at, &a.0).cmp(&(b.1.revoked_at, &b.0)));
        v
    }

    /// Rewrites the log with only the entries live at `now`.
    pub fn compact(&self, now: i64) -> Result<(), RevocationError> {
        let mut w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        self.compact_locked(&mut w, now)
    }

    fn compact_locked(&self, w: &mut Writer, now: i64) -> Result<(), RevocationError> {
        let live = {
            let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
            map.retain_live(now, self.grace);
            let mut v: Vec<(String, Entry)> =
                map.entries.iter().map(|(k, e)| (k.clone(), *e)).collect();
            v.sort_by(|a, b| (a.1.revoked_at, &a.0).cmp(&(b.1.revoked_at, &b.0)));
            v
        };
        let tmp = tmp_path(&self.path);
        let mut out = String::with_capacity(HEADER.len() + live.len() * 80);
        out.push_str(HEADER);
        for (jti, e) in &live {
            out.push_str(&record(jti, e));
        }
        {
            let mut f = private_options()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)
                .map_err(self.io("create the compaction file"))?;
            f.write_all(out.as_bytes())
                .map_err(self.io("write the compaction file"))?;
            f.sync_all().map_err(self.io("fsync the compaction file"))?;
        }
        std::fs::rename(&tmp, &self.path).map_err(self.io("rename the compaction file"))?;
        // The rename is durable only once the folder is.
        let dir = self
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        w.file = (self.opener)(&self.path).map_err(self.io("reopen after compaction"))?;
        w.records = live.len();
        self.compactions
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
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
mod tests {
    use super::*;
    use std::sync::Arc;

    const ADMIN: Revoker<'static> = Revoker::Admin("root");

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("apikey-sts-rev-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn revoke_persists_across_reopen() {
        let d = dir("persist");
        let p = d.join("rev.log");
        let (s, r) = RevocationStore::open(&p, 100, 0).unwrap();
        assert_eq!(r.records, 0);
        s.revoke("a-1", None, 100, ADMIN).unwrap();
        s.revoke("b-2", Some(500), 100, ADMIN).unwrap();
        s.revoke("a-1", None, 101, ADMIN).unwrap();
        assert!(s.is_revoked("a-1") && s.is_revoked("b-2") && !s.is_revoked("c"));
        drop(s);
        let (s, r) = RevocationStore::open(&p, 200, 0).unwrap();
        assert_eq!((r.records, r.live, r.torn), (2, 2, None));
        assert!(s.is_revoked("a-1") && s.is_revoked("b-2"));
        // After b-2's exp it is dropped at the next start; a-1 never expires.
        drop(s);
        let (s, r) = RevocationStore::open(&p, 501, 0).unwrap();
        assert_eq!(r.live, 1);
        assert!(s.is_revoked("a-1") && !s.is_revoked("b-2"));
        assert_eq!(s.list(501).len(), 1);
    }

    #[test]
    fn torn_tail_is_reported_and_cut() {
        let d = dir("torn");
        let p = d.join("rev.log");
        let good = format!(
            "{HEADER}{}{}",
            record(
                "x1",
                &Entry {
                    revoked_at: 1,
                    expires_at: None,
                    by: None,
                }
            ),
            record(
                "x2",
                &Entry {
                    revoked_at: 2,
                    expires_at: None,
                    by: None,
                }
            )
        );
        // Every possible cut inside the last record keeps the first one.
        let first_len = HEADER.len()
            + record(
                "x1",
                &Entry {
                    revoked_at: 1,
                    expires_at: None,
                    by: None,
                },
            )
            .len();
        for cut in first_len + 1..good.len() {
            std::fs::write(&p, &good.as_bytes()[..cut]).unwrap();
            let (s, r) = RevocationStore::open(&p, 0, 0).unwrap();
            assert!(s.is_revoked("x1"), "cut {cut}");
            assert!(!s.is_revoked("x2"), "cut {cut}");
            assert!(r.torn.is_some(), "cut {cut}");
            // The file was rewritten: a new record is not glued to the torn one.
            s.revoke("x3", None, 3, ADMIN).unwrap();
            drop(s);
            let (s, r) = RevocationStore::open(&p, 0, 0).unwrap();
            assert!(s.is_revoked("x1") && s.is_revoked("x3") && r.torn.is_none());
        }
    }

    #[test]
    fn damage_before_the_end_stops_loading() {
        let d = dir("corrupt");
        let p = d.join("rev.log");
        let a = record(
            "x1",
            &Entry {
                revoked_at: 1,
                expires_at: None,
                by: None,
            },
        );
        let b = record(
            "x2",
            &Entry {
                revoked_at: 2,
                expires_at: None,
                by: None,
            },
        );
        std::fs::write(&p, format!("{HEADER}{}{b}", a.replace("x1", "y1"))).unwrap();
        let e = RevocationStore::open(&p, 0, 0).unwrap_err();
        assert!(
            e.to_string()
                .contains("line 2 is damaged (checksum mismatch)"),
            "{e}"
        );
        assert!(e.to_string().contains("rev.log"));
    }

    #[test]
    fn stale_tmp_removed_and_jti_checked() {
        let d = dir("tmp");
        let p = d.join("rev.log");
        std::fs::write(tmp_path(&p), "half a compaction").unwrap();
        let (s, r) = RevocationStore::open(&p, 0, 0).unwrap();
        assert!(r.stale_tmp_removed);
        assert!(!tmp_path(&p).exists());
        for bad in ["", "has space", "new\nline", &"a".repeat(MAX_JTI_BYTES + 1)] {
            assert!(matches!(
                s.revoke(bad, None, 0, ADMIN),
                Err(RevocationError::BadJti)
            ));
        }
        assert!(s.revoke(&"a".repeat(MAX_JTI_BYTES), None, 0, ADMIN).is_ok());
    }

    #[test]
    fn compaction_under_concurrent_revocations_loses_nothing() {
        let d = dir("compact");
        let p = d.join("rev.log");
        let (s, _) = RevocationStore::open(&p, 0, 0).unwrap();
        let s = Arc::new(s);
        // Many short-lived entries force automatic compactions while others write.
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let s = Arc::clone(&s);
                std::thread::spawn(move || {
                    for i in 0..800 {
                        let exp = if i % 2 == 0 { Some(10) } else { None };
                        s.revoke(&format!("t{t}-{i}"), exp, 5, ADMIN).unwrap();
                        if i % 100 == 0 {
                            s.compact(5).unwrap();
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(Arc::try_unwrap(s).unwrap());
        // Reopen before the short ones expire: every revocation is there.
        let (s, r) = RevocationStore::open(&p, 6, 0).unwrap();
        assert_eq!(r.live, 3200, "{r:?}");
        for t in 0..4 {
            for i in 0..800 {
                assert!(s.is_revoked(&format!("t{t}-{i}")));
            }
        }
    }

    #[test]
    fn expired_entries_trigger_automatic_compaction() {
        let d = dir("auto");
        let p = d.join("rev.log");
        let (mut s, _) = RevocationStore::open(&p, 0, 0).unwrap();
        s.set_compact_every(4);
        let before = s.compactions();
        for i in 0..20 {
            s.revoke(&format!("short-{i}"), Some(10), 1, ADMIN).unwrap();
        }
        // Nothing has expired yet: the log holds all 20, no automatic rewrite needed.
        assert_eq!(s.compactions(), before);
        for i in 0..8 {
            s.revoke(&format!("long-{i}"), None, 11, ADMIN).unwrap();
        }
        assert!(s.compactions() > before);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(!text.contains("short-"), "{text}");
        assert!(text.contains("long-0"));
        assert!(!s.is_revoked("short-0") && s.is_revoked("long-7"));
    }

    #[test]
    fn a_second_writer_is_refused_and_changes_nothing() {
        let d = dir("lock");
        let p = d.join("rev.log");
        let (s, _) = RevocationStore::open(&p, 0, 0).unwrap();
        s.revoke("first", None, 1, ADMIN).unwrap();
        // A dead entry and a stale compaction file: things a second open would otherwise act on.
        s.revoke("dead", Some(1), 1, ADMIN).unwrap();
        std::fs::write(tmp_path(&p), "stale").unwrap();
        let before = std::fs::read(&p).unwrap();
        let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&p).unwrap());
        match RevocationStore::open(&p, 100, 0) {
            Err(RevocationError::Locked { path, lock }) => {
                assert_eq!(path, p.display().to_string());
                assert_eq!(lock, lock_path(&p).display().to_string());
            }
            other => panic!("expected Locked, got {other:?}"),
        }
        assert_eq!(std::fs::read(&p).unwrap(), before);
        assert_eq!(
            std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&p).unwrap()),
            inode
        );
        assert!(tmp_path(&p).exists());
        // The first store keeps writing to the file that is still the log.
        s.revoke("second", None, 2, ADMIN).unwrap();
        // A reader needs no lock.
        let snap = Snapshot::read(&p, 2, 0).unwrap();
        assert!(snap.jtis.contains("first") && snap.jtis.contains("second"));
        drop(s);
        let (s, _) = RevocationStore::open(&p, 3, 0).unwrap();
        assert!(s.is_revoked("first") && s.is_revoked("second"));
    }

    #[test]
    fn entries_outlive_exp_by_the_grace_period() {
        let d = dir("grace");
        let p = d.join("rev.log");
        let (s, _) = RevocationStore::open(&p, 0, 60).unwrap();
        s.revoke("k", Some(100), 50, ADMIN).unwrap();
        s.compact(160).unwrap();
        assert!(
            s.is_revoked("k"),
            "dropped at compaction inside exp + grace"
        );
        assert_eq!(s.list(160).len(), 1);
        drop(s);
        let (s, r) = RevocationStore::open(&p, 160, 60).unwrap();
        assert!(s.is_revoked("k"), "dropped at open inside exp + grace");
        assert_eq!(r.live, 1);
        assert_eq!(Snapshot::read(&p, 160, 60).unwrap().report.live, 1);
        assert_eq!(Snapshot::read(&p, 161, 60).unwrap().report.live, 0);
        drop(s);
        let (s, r) = RevocationStore::open(&p, 161, 60).unwrap();
        assert!(!s.is_revoked("k"));
        assert_eq!(r.live, 0);
    }

    #[test]
    fn log_lock_and_compaction_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let d = dir("mode");
        let p = d.join("rev.log");
        std::fs::write(&p, HEADER).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let (s, _) = RevocationStore::open(&p, 0, 0).unwrap();
        assert_eq!(mode(&p), 0o600, "an existing log is narrowed");
        assert_eq!(mode(&lock_path(&p)), 0o600);
        s.revoke("a", None, 0, ADMIN).unwrap();
        s.compact(0).unwrap();
        assert_eq!(mode(&p), 0o600, "the compacted log");
        let fresh = d.join("fresh.log");
        let (_s2, _) = RevocationStore::open(&fresh, 0, 0).unwrap();
        assert_eq!(mode(&fresh), 0o600, "a new log");
    }

    /// What the store did to its log file, and which operation to fail.
    #[derive(Clone, Default)]
    struct Watch {
        events: Arc<Mutex<Vec<&'static str>>>,
        fail: Arc<Mutex<Option<&'static str>>>,
    }

    struct WatchedFile {
        file: File,
        watch: Watch,
    }

    impl WatchedFile {
        fn note(&self, op: &'static str) -> io::Result<()> {
            self.watch.events.lock().unwrap().push(op);
            if *self.watch.fail.lock().unwrap() == Some(op) {
                return Err(io::Error::other("injected failure"));
            }
            Ok(())
        }
    }

    impl LogFile for WatchedFile {
        fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
            self.note("write")?;
            self.file.write_all(bytes)
        }
        fn sync(&mut self) -> io::Result<()> {
            self.note("sync")?;
            self.file.sync_data()
        }
    }

    fn watched(p: &Path, w: &Watch) -> RevocationStore {
        let w = w.clone();
        let opener: Opener = Box::new(move |path| {
            let file = private_options().create(true).append(true).open(path)?;
            Ok(Box::new(WatchedFile {
                file,
                watch: w.clone(),
            }))
        });
        RevocationStore::open_with(p, 0, 0, opener).unwrap().0
    }

    #[test]
    fn every_acknowledged_revocation_is_synced_after_its_write() {
        let d = dir("sync");
        let p = d.join("rev.log");
        let w = Watch::default();
        let s = watched(&p, &w);
        w.events.lock().unwrap().clear();
        for i in 0..5 {
            assert_eq!(
                s.revoke(&format!("k{i}"), None, 1, ADMIN).unwrap(),
                Revoked::Appended
            );
            let ev = w.events.lock().unwrap().clone();
            assert_eq!(ev, ["write", "sync"].repeat(i + 1), "after revocation {i}");
        }
        // Nothing to write for a repeat.
        assert_eq!(s.revoke("k0", None, 2, ADMIN).unwrap(), Revoked::Already);
        assert_eq!(w.events.lock().unwrap().len(), 10);
    }

    #[test]
    fn a_failed_write_or_sync_is_not_acknowledged() {
        let d = dir("fail");
        let p = d.join("rev.log");
        let w = Watch::default();
        let s = watched(&p, &w);
        s.revoke("before", None, 1, ADMIN).unwrap();
        let len = std::fs::metadata(&p).unwrap().len();
        *w.fail.lock().unwrap() = Some("write");
        match s.revoke("lost-write", None, 1, ADMIN) {
            Err(RevocationError::Io { op: "append", .. }) => {}
            other => panic!("a failed write gave {other:?}"),
        }
        assert!(!s.is_revoked("lost-write"));
        assert_eq!(std::fs::metadata(&p).unwrap().len(), len);
        *w.fail.lock().unwrap() = Some("sync");
        match s.revoke("lost-sync", None, 1, ADMIN) {
            Err(RevocationError::Io { op: "fsync", .. }) => {}
            other => panic!("a failed fsync gave {other:?}"),
        }
        assert!(!s.is_revoked("lost-sync"));
        // Once the file works again, so does revoking; the earlier entry is intact.
        *w.fail.lock().unwrap() = None;
        s.revoke("after", None, 1, ADMIN).unwrap();
        assert!(s.is_revoked("before") && s.is_revoked("after"));
    }

    #[test]
    fn users_are_capped_and_admins_keep_a_reserve() {
        let d = dir("cap");
        let p = d.join("rev.log");
        let (mut s, _) = RevocationStore::open(&p, 0, 0).unwrap();
        s.set_capacity(10, 4);
        let bob = Revoker::User {
            name: "bob",
            cap: 3,
        };
        for i in 0..3 {
            s.revoke(&format!("bob-{i}"), None, 1, bob).unwrap();
        }
        // At the cap: the fourth is refused, a repeat is still fine.
        assert!(matches!(
            s.revoke("bob-3", None, 1, bob),
            Err(RevocationError::UserCap { cap: 3 })
        ));
        assert_eq!(s.revoke("bob-0", None, 1, bob).unwrap(), Revoked::Already);
        // The count survives a restart (it is in the log), and expiry frees places.
        s.revoke(
            "alice-0",
            None,
            1,
            Revoker::User {
                name: "alice",
                cap: 3,
            },
        )
        .unwrap();
        drop(s);
        let (mut s, _) = RevocationStore::open(&p, 2, 0).unwrap();
        s.set_capacity(10, 4);
        assert!(matches!(
            s.revoke("bob-3", None, 2, bob),
            Err(RevocationError::UserCap { cap: 3 })
        ));
        s.revoke(
            "carol-0",
            None,
            2,
            Revoker::User {
                name: "carol",
                cap: 3,
            },
        )
        .unwrap();
        s.revoke(
            "carol-1",
            None,
            2,
            Revoker::User {
                name: "carol",
                cap: 3,
            },
        )
        .unwrap();
        // 6 live: users may fill up to 10 - 4 = 6; admins up to 10.
        assert!(matches!(
            s.revoke(
                "dave-0",
                None,
                2,
                Revoker::User {
                    name: "dave",
                    cap: 3
                }
            ),
            Err(RevocationError::Full)
        ));
        for i in 0..4 {
            s.revoke(&format!("admin-{i}"), None, 2, ADMIN).unwrap();
        }
        assert!(matches!(
            s.revoke("admin-4", None, 2, ADMIN),
            Err(RevocationError::Full)
        ));
        // Short-lived entries of bob's free his places once they are dropped.
        let (mut s2, _) = RevocationStore::open(&d.join("cap2.log"), 0, 0).unwrap();
        s2.set_capacity(10, 0);
        for i in 0..3 {
            s2.revoke(&format!("b{i}"), Some(5), 1, bob).unwrap();
        }
        assert!(s2.revoke("b3", Some(5), 1, bob).is_err());
        s2.compact(6).unwrap();
        s2.revoke("b3", Some(50), 6, bob).unwrap();
    }

    #[test]
    fn records_without_by_still_load() {
        // A record as older releases wrote it: four fields, the check over the first three.
        let body = "old-1 5 -";
        let line = format!("{body} {}\n", record_checksum(body));
        let parsed = parse_log(format!("# apikey-sts revocations v1\n{line}").as_bytes()).unwrap();
        assert_eq!(
            parsed.records,
            vec![(
                "old-1".to_string(),
                Entry {
                    revoked_at: 5,
                    expires_at: None,
                    by: None
                }
            )]
        );
        let e = Entry {
            revoked_at: 1,
            expires_at: Some(2),
            by: Some(owner_id("bob")),
        };
        let parsed = parse_log(record("new-1", &e).as_bytes()).unwrap();
        assert_eq!(parsed.records, vec![("new-1".to_string(), e)]);
        for bad in [
            "x 1 - zzzzzzzzzzzzzzzz 0000000000000000",
            "x 1 - 12 0000000000000000",
        ] {
            let body_len = bad.len() - 17;
            let line = format!(
                "{} {}\n",
                &bad[..body_len],
                record_checksum(&bad[..body_len])
            );
            assert!(parse_log(line.as_bytes()).unwrap().torn.is_some(), "{bad}");
        }
    }

    #[test]
    fn parse_log_on_every_prefix_and_bit_flip() {
        let log = format!(
            "{HEADER}{}{}",
            record(
                "x1",
                &Entry {
                    revoked_at: 1,
                    expires_at: Some(9),
                    by: None,
                }
            ),
            record(
                "x2",
                &Entry {
                    revoked_at: 2,
                    expires_at: None,
                    by: None,
                }
            )
        );
        let b = log.as_bytes();
        let all = parse_log(b).unwrap();
        assert_eq!((all.records.len(), all.torn.is_none()), (2, true));
        let first_end = HEADER.len() + log[HEADER.len()..].find('\n').unwrap() + 1;
        for i in 0..b.len() {
            // A prefix is a log cut short by a crash: never an error, and it keeps exactly the
            // complete records before the cut.
            let p = parse_log(&b[..i]).unwrap_or_else(|e| panic!("prefix {i}: {e:?}"));
            let want = usize::from(i >= first_end);
            assert_eq!(p.records, all.records[..want], "prefix {i}");
            assert!(p.good_len <= i);
            assert_eq!(p.torn.is_some(), p.good_len < i, "prefix {i}");
            // A flipped byte never yields a record that was not written: the damaged line is
            // refused (an error, or a torn tail when it is the last).
            let mut m = b.to_vec();
            m[i] ^= 0x41;
            if let Ok(p) = parse_log(&m) {
                for r in &p.records {
                    assert!(all.records.contains(r), "flip at {i} made {r:?}");
                }
                if i >= HEADER.len() {
                    assert!(
                        p.records.len() < 2 || p.torn.is_some(),
                        "flip at {i} unnoticed"
                    );
                }
            }
        }
    }
}
