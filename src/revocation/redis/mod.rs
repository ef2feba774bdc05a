//! Revocations shared through Redis: one truth for many nodes.
//!
//! Layout, under the configured key prefix `P`:
//! - `P rev:<jti>`: the revocation's record (see `feed`), expiring at the key's
//!   `exp + grace` (no expiry for keys without `exp`);
//! - `P feed`: a Redis Stream with one entry per revocation (field `r`: the record), trimmed
//!   to about `FEED_MAX_LEN` entries.
//!
//! Writing is one MULTI/EXEC transaction (the key and the feed entry, or neither), then `WAIT`
//! for `minReplicas` replicas when that is above 0. A revocation is acknowledged only after both
//! answered; a timeout, a dropped connection or too few replicas is a `StoreError`, which the
//! issuer answers with 503 and `Retry-After` (revoking again is safe: the write is idempotent).
//!
//! Each node keeps the whole live set in memory, so validation never waits on the network. At
//! open it reads the feed's last ID, then every `rev:` key (SCAN + MGET); a background thread
//! then follows the feed from that ID with a blocking `XREAD`. A revocation written between the
//! two reads is seen twice, which is harmless. After a lost connection the follower reconnects
//! and resumes from its last ID. Each read also checks that this ID is still in the feed: if the
//! feed was trimmed past it (a node lagging by more than `FEED_MAX_LEN`, or a Redis that lost
//! data), it reads the whole set again.
//!
//! The set is copied to a local snapshot (see `snapshot`) after each load and at most every
//! `SNAPSHOT_EVERY` while changes arrive, so a node can start while Redis is down. With neither
//! Redis nor a snapshot, `open` fails: a node that knows no revocations must not serve.
//!
//! Everything read from Redis is untrusted: records go through `feed::parse_record`, replies are
//! walked without indexing or unwrapping, and every read is bounded (`SCAN_COUNT` and
//! `FEED_BATCH` per reply, `MAX_REVOCATIONS` in all, `MAX_SCAN_ROUNDS` rounds). A malformed
//! record is skipped and counted, never applied.
//!
//! The Redis URL may hold a password. It is never logged: errors are described by kind, and
//! any text from the client library is scrubbed of the password before it is kept.

use super::feed::{self, StreamId};
use super::{snapshot, Entry, Live, RevocationError, Revoked, Revoker};
use super::{ADMIN_RESERVE, MAX_JTI_BYTES, MAX_REVOCATIONS};
use crate::config::RedisConfig;
use redis::Value;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

mod client;
mod error;
mod follow;
mod health;
#[cfg(test)]
mod tests;

pub use client::{client, ClientError, MAX_CA_FILE_BYTES};
use client::{link, Link};
pub use error::{redacted_url, StoreError, MAX_DETAIL_CHARS};
use error::{store_error, url_password};
use follow::{follow, load_all};
use health::{mark_up, HEALTH};
pub use health::{state, StoreState};

/// Feed entries kept (approximately: `MAXLEN ~`). A node away for longer reloads the set.
pub const FEED_MAX_LEN: usize = 100_000;
/// Keys asked for per SCAN round.
pub const SCAN_COUNT: usize = 1000;
/// SCAN rounds before a load gives up (a server that never ends a scan is broken or hostile).
pub const MAX_SCAN_ROUNDS: usize = 100_000;
/// Feed entries read per XREAD.
pub const FEED_BATCH: usize = 1000;
/// How long one XREAD blocks waiting for new entries.
pub const FOLLOW_BLOCK: Duration = Duration::from_millis(1000);
/// Most frequent snapshot rewrite while changes arrive.
pub const SNAPSHOT_EVERY: Duration = Duration::from_secs(1);
/// Longest wait between reconnection attempts.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(2);
/// How often entries past `exp + grace` are dropped from memory.
pub const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// `Retry-After` sent with a 503 when the store did not confirm.
pub const RETRY_AFTER_SECONDS: u32 = 2;
/// Latest expiry given to a Redis key (9999-12-31); a later `exp` gets no expiry at all.
const MAX_EXPIRE_AT: i64 = 253_402_300_799;
/// First line of a snapshot file, so a file log is never mistaken for one (and overwritten).
pub const SNAPSHOT_MARK: &str = "# apikey-sts redis snapshot\n";

/// Key names for one prefix.
#[derive(Debug, Clone)]
struct Keys {
    rev: String,
    feed: String,
}

impl Keys {
    fn new(prefix: &str) -> Keys {
        Keys {
            rev: format!("{prefix}rev:"),
            feed: format!("{prefix}feed"),
        }
    }
}

struct Inner {
    link: Link,
    keys: Keys,
    min_replicas: u32,
    grace: i64,
    snapshot: PathBuf,
    live: RwLock<Live>,
    /// The connection revocations are written on; None until needed and after a failure.
    writer: Mutex<Option<redis::Connection>>,
    max_live: usize,
    admin_reserve: usize,
    /// Set by the writer after its own write, so the follower rewrites the snapshot soon.
    dirty: AtomicBool,
}

/// Where the set came from at open, for the startup log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loaded {
    /// Read from Redis: `live` entries, `rejected` malformed records skipped.
    Redis { live: usize, rejected: u64 },
    /// Redis was unreachable: read from the local snapshot.
    Snapshot { live: usize, why: StoreError },
}

/// Why `open` failed.
#[derive(Debug)]
pub enum OpenError {
    Client(ClientError),
    /// Redis is unreachable and there is no snapshot to start from.
    NoSnapshot {
        path: String,
        why: StoreError,
    },
    /// The snapshot could not be read or written.
    Snapshot(RevocationError),
    /// The `file` holds a file log, not a snapshot: it would be overwritten.
    NotASnapshot {
        path: String,
    },
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Client(e) => e.fmt(f),
            OpenError::NoSnapshot { path, why } => write!(
                f,
                "{why}, and there is no snapshot at {path} to start from: refusing to start \
                 without knowing the revoked keys. Start Redis, or restore the snapshot"
            ),
            OpenError::Snapshot(e) => write!(f, "snapshot: {e}"),
            OpenError::NotASnapshot { path } => write!(
                f,
                "{path} is a revocation log, not a Redis snapshot: import it with \
                 `apikey-sts revocations import {path}` and give [apikey.revocation] file a \
                 new path"
            ),
        }
    }
}

impl std::error::Error for OpenError {}

/// The shared revocation set: Redis, mirrored in memory.
pub struct RedisStore {
    inner: Arc<Inner>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("snapshot", &self.inner.snapshot)
            .finish_non_exhaustive()
    }
}

/// Whether `path` may be written as a snapshot: absent, empty, or one of ours.
fn check_snapshot_file(path: &Path) -> Result<(), OpenError> {
    use std::io::Read;
    let mut head = [0u8; SNAPSHOT_MARK.len()];
    match std::fs::File::open(path) {
        Err(_) => Ok(()),
        Ok(mut f) => {
            let mut n = 0;
            while n < head.len() {
                match f.read(&mut head[n..]) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => n += k,
                }
            }
            if n == 0 || head[..n] == SNAPSHOT_MARK.as_bytes()[..n] && n == head.len() {
                Ok(())
            } else {
                Err(OpenError::NotASnapshot {
                    path: path.display().to_string(),
                })
            }
        }
    }
}

/// Writes the snapshot: the mark line, then the log format.
fn write_snapshot(path: &Path, entries: &[(String, Entry)]) -> Result<(), RevocationError> {
    snapshot::write_marked(path, SNAPSHOT_MARK, entries)
}

impl RedisStore {
    /// Loads the set from Redis (or, with Redis down, from the snapshot at `snapshot_path`) and
    /// starts following the change feed.
    pub fn open(
        config: &RedisConfig,
        snapshot_path: &Path,
        now: i64,
        grace: i64,
    ) -> Result<(RedisStore, Loaded), OpenError> {
        check_snapshot_file(snapshot_path)?;
        let link = link(config).map_err(OpenError::Client)?;
        HEALTH.configured.store(true, Ordering::Relaxed);
        let loaded = link.connect(link.timeout).and_then(|mut con| {
            load_all(&mut con, &link, &Keys::new(&config.key_prefix), now, grace)
        });
        let (live, position, report) = match loaded {
            Ok((entries, position, rejected)) => {
                mark_up();
                let v = entries.live_oldest_first(now, grace);
                write_snapshot(snapshot_path, &v).map_err(OpenError::Snapshot)?;
                let live = v.len();
                (v, Some(position), Loaded::Redis { live, rejected })
            }
            Err(why) => {
                let Some(v) =
                    snapshot::read(snapshot_path, now, grace).map_err(OpenError::Snapshot)?
                else {
                    return Err(OpenError::NoSnapshot {
                        path: snapshot_path.display().to_string(),
                        why,
                    });
                };
                HEALTH.up.store(false, Ordering::Relaxed);
                let live = v.len();
                (v, None, Loaded::Snapshot { live, why })
            }
        };
        let mut map = Live::default();
        for (jti, e) in live {
            map.insert(jti, e);
        }
        let inner = Arc::new(Inner {
            link,
            keys: Keys::new(&config.key_prefix),
            min_replicas: config.min_replicas,
            grace,
            snapshot: snapshot_path.to_path_buf(),
            live: RwLock::new(map),
            writer: Mutex::new(None),
            max_live: MAX_REVOCATIONS,
            admin_reserve: ADMIN_RESERVE,
            dirty: AtomicBool::new(false),
        });
        let weak = Arc::downgrade(&inner);
        // Without the follower the set would silently go stale: failing to start it is fatal.
        std::thread::Builder::new()
            .name("revocation-feed".into())
            .spawn(move || follow(weak, position))
            .map_err(|e| {
                OpenError::Snapshot(RevocationError::Io {
                    path: "revocation-feed thread".into(),
                    op: "start",
                    error: e,
                })
            })?;
        Ok((RedisStore { inner }, report))
    }

    pub fn snapshot_path(&self) -> &Path {
        &self.inner.snapshot
    }

    /// Writes a revocation to Redis; returns once Redis (and `minReplicas` replicas) hold it.
    pub fn revoke(
        &self,
        jti: &str,
        expires_at: Option<i64>,
        now: i64,
        by: Revoker<'_>,
    ) -> Result<Revoked, RevocationError> {
        let entry = Entry::revoked(jti, expires_at, now, by)?;
        let i = &self.inner;
        let admitted = i.live.read().unwrap_or_else(|e| e.into_inner()).admit(
            jti,
            expires_at,
            by,
            i.max_live,
            i.admin_reserve,
        )?;
        if let Some(already) = admitted {
            return Ok(already);
        }
        write_entry(i, jti, &entry).map_err(RevocationError::Unavailable)?;
        i.live
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .merge(jti.to_string(), entry);
        i.dirty.store(true, Ordering::Relaxed);
        Ok(Revoked::Appended)
    }

    pub fn is_revoked(&self, jti: &str) -> bool {
        self.inner
            .live
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .entries
            .contains_key(jti)
    }

    /// Live revocations, oldest first.
    pub fn list(&self, now: i64) -> Vec<(String, Entry)> {
        sorted_live(&self.inner, now)
    }
}

fn sorted_live(i: &Inner, now: i64) -> Vec<(String, Entry)> {
    let map = i.live.read().unwrap_or_else(|e| e.into_inner());
    map.live_oldest_first(now, i.grace)
}

/// The transaction (key + feed entry), then `WAIT` when replicas are required.
fn write_entry(i: &Inner, jti: &str, e: &Entry) -> Result<(), StoreError> {
    let rec = feed::format_record(jti, e);
    let mut guard = i.writer.lock().unwrap_or_else(|e| e.into_inner());
    let result = (|| {
        if guard.is_none() {
            *guard = Some(i.link.connect(i.link.timeout)?);
        }
        let con = guard
            .as_mut()
            .ok_or(StoreError::BadReply("no connection"))?;
        set_and_append(con, &i.link, &i.keys, jti, &rec, e.expires_at, i.grace)?;
        if i.min_replicas > 0 {
            // WAIT's own timeout is shorter than the socket's, so Redis answers (with the count
            // so far) before the read gives up.
            let ms = (i.link.timeout.as_millis() as u64 * 3 / 4).max(1);
            let got: i64 = redis::cmd("WAIT")
                .arg(i.min_replicas)
                .arg(ms)
                .query(con)
                .map_err(i.link.err())?;
            if got < i64::from(i.min_replicas) {
                return Err(StoreError::Replicas {
                    wanted: i.min_replicas,
                    got,
                });
            }
        }
        Ok(())
    })();
    if let Err(StoreError::Timeout | StoreError::Unreachable { .. }) = &result {
        // The connection may be mid-reply: never reuse it.
        *guard = None;
    }
    result
}

fn set_and_append(
    con: &mut redis::Connection,
    link: &Link,
    keys: &Keys,
    jti: &str,
    rec: &str,
    expires_at: Option<i64>,
    grace: i64,
) -> Result<(), StoreError> {
    let mut pipe = redis::pipe();
    pipe.atomic();
    let set = pipe.cmd("SET").arg(format!("{}{jti}", keys.rev)).arg(rec);
    if let Some(exp) = expires_at {
        let at = exp.saturating_add(grace).max(1);
        if at <= MAX_EXPIRE_AT {
            set.arg("EXAT").arg(at);
        }
    }
    set.ignore();
    pipe.cmd("XADD")
        .arg(&keys.feed)
        .arg("MAXLEN")
        .arg("~")
        .arg(FEED_MAX_LEN)
        .arg("*")
        .arg("r")
        .arg(rec)
        .ignore();
    pipe.query::<()>(con).map_err(link.err())
}

/// Writes one entry as a revocation would (used by `revocations import`).
pub fn import_entry(
    config: &RedisConfig,
    con: &mut Option<redis::Connection>,
    jti: &str,
    e: &Entry,
    grace: i64,
) -> Result<(), StoreError> {
    let link = link(config).map_err(|e| StoreError::Unreachable {
        detail: e.to_string(),
    })?;
    if con.is_none() {
        *con = Some(link.connect(link.timeout)?);
    }
    let c = con.as_mut().ok_or(StoreError::BadReply("no connection"))?;
    let keys = Keys::new(&config.key_prefix);
    set_and_append(
        c,
        &link,
        &keys,
        jti,
        &feed::format_record(jti, e),
        e.expires_at,
        grace,
    )
}

/// Every live entry in Redis (used by `revocations export`).
pub fn export_all(
    config: &RedisConfig,
    now: i64,
    grace: i64,
) -> Result<(Vec<(String, Entry)>, u64), StoreError> {
    let link = link(config).map_err(|e| StoreError::Unreachable {
        detail: e.to_string(),
    })?;
    let mut con = link.connect(link.timeout)?;
    let (m, _, rejected) = load_all(&mut con, &link, &Keys::new(&config.key_prefix), now, grace)?;
    Ok((m.live_oldest_first(now, grace), rejected))
}
