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
            .is_some_and(|e| e.expires_at == expires_at || e.expires_at.is_none())
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
        let admitted = self.map.read().unwrap_or_else(|e| e.into_inner()).admit(
            jti,
            expires_at,
            by,
            self.max_live,
            self.admin_reserve,
        )?;
        if let Some(already) = admitted {
            return Ok(already);
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
mod tests;
