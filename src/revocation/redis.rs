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
use super::{owner_id, snapshot, valid_jti, Entry, Live, RevocationError, Revoked, Revoker};
use super::{ADMIN_RESERVE, MAX_JTI_BYTES, MAX_REVOCATIONS};
use crate::config::RedisConfig;
use redis::Value;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

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
    let host_start = rest.find('/').unwrap_or(rest.len());
    match rest[..host_start].rfind('@') {
        Some(at) => {
            let user = rest[..at].split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{}", &rest[at + 1..])
        }
        None => url.to_string(),
    }
}

/// The password part of a URL (raw, as written), if any.
fn url_password(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let host_start = rest.find('/').unwrap_or(rest.len());
    let userinfo = &rest[..rest[..host_start].rfind('@')?];
    userinfo
        .split_once(':')
        .map(|(_, p)| p)
        .filter(|p| !p.is_empty())
}

/// Longest error text kept from the client library (it may quote what the server said).
pub const MAX_DETAIL_CHARS: usize = 200;

/// A client library error as a `StoreError`, with `secret` (and its decoded form) removed from
/// any text kept.
fn store_error(e: &redis::RedisError, secret: Option<&str>) -> StoreError {
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

/// Store state for `/health` and `/metrics`: process-wide, as a process has one store.
pub struct Health {
    configured: AtomicBool,
    up: AtomicBool,
    /// Unix seconds of the last confirmed sync with Redis (0: never).
    last_sync: AtomicI64,
    /// Malformed records read from Redis and skipped.
    rejected: AtomicU64,
}

pub static HEALTH: Health = Health {
    configured: AtomicBool::new(false),
    up: AtomicBool::new(false),
    last_sync: AtomicI64::new(0),
    rejected: AtomicU64::new(0),
};

/// What `/health` and `/metrics` say about the shared store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreState {
    pub up: bool,
    /// Seconds since the last confirmed sync; None if there never was one.
    pub since_sync: Option<i64>,
    pub rejected: u64,
}

/// None when no shared store is configured.
pub fn state(now: i64) -> Option<StoreState> {
    if !HEALTH.configured.load(Ordering::Relaxed) {
        return None;
    }
    let last = HEALTH.last_sync.load(Ordering::Relaxed);
    Some(StoreState {
        up: HEALTH.up.load(Ordering::Relaxed),
        since_sync: (last > 0).then(|| now.saturating_sub(last).max(0)),
        rejected: HEALTH.rejected.load(Ordering::Relaxed),
    })
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn mark_up() {
    HEALTH.last_sync.store(unix_now(), Ordering::Relaxed);
    if !HEALTH.up.swap(true, Ordering::Relaxed) {
        crate::log::info("revocation store: Redis is reachable; following its change feed");
    }
}

fn mark_down(e: &StoreError) {
    if HEALTH.up.swap(false, Ordering::Relaxed) {
        crate::log::warn(&format!(
            "revocation store: {e}; validating with the last known set, revocations get 503"
        ));
    }
}

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

/// A connection to Redis with the configured timeouts.
struct Link {
    client: redis::Client,
    password: Option<String>,
    connect_timeout: Duration,
    timeout: Duration,
}

impl Link {
    fn connect(&self, read_timeout: Duration) -> Result<redis::Connection, StoreError> {
        let err = |e: redis::RedisError| store_error(&e, self.password.as_deref());
        let con = self
            .client
            .get_connection_with_timeout(self.connect_timeout)
            .map_err(err)?;
        con.set_read_timeout(Some(read_timeout)).map_err(err)?;
        con.set_write_timeout(Some(self.timeout)).map_err(err)?;
        Ok(con)
    }

    fn err(&self) -> impl Fn(redis::RedisError) -> StoreError + '_ {
        move |e| store_error(&e, self.password.as_deref())
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

/// Most bytes read from `redisCaFile`.
pub const MAX_CA_FILE_BYTES: u64 = 1024 * 1024;

/// Why a Redis client could not be made from the config.
#[derive(Debug)]
pub enum ClientError {
    BadUrl,
    CaFile {
        path: String,
        error: std::io::Error,
    },
    CaTooLarge {
        path: String,
    },
    /// The file holds no certificate the TLS client accepts.
    CaInvalid {
        path: String,
    },
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::BadUrl => write!(f, "redisUrl is not a valid Redis URL"),
            ClientError::CaFile { path, error } => write!(f, "redisCaFile {path}: {error}"),
            ClientError::CaTooLarge { path } => write!(
                f,
                "redisCaFile {path}: over the {MAX_CA_FILE_BYTES}-byte limit"
            ),
            ClientError::CaInvalid { path } => {
                write!(f, "redisCaFile {path}: no usable PEM certificate")
            }
        }
    }
}

impl std::error::Error for ClientError {}

/// A client for `config`: `rediss://` checks the server's certificate against `redisCaFile`,
/// or the system's trust store without it.
pub fn client(config: &RedisConfig) -> Result<redis::Client, ClientError> {
    let plain = redis::Client::open(config.url.expose()).map_err(|_| ClientError::BadUrl)?;
    let Some(ca) = &config.ca_file else {
        return Ok(plain);
    };
    let path = ca.display().to_string();
    let meta = std::fs::metadata(ca).map_err(|error| ClientError::CaFile {
        path: path.clone(),
        error,
    })?;
    if meta.len() > MAX_CA_FILE_BYTES {
        return Err(ClientError::CaTooLarge { path });
    }
    let pem = std::fs::read(ca).map_err(|error| ClientError::CaFile {
        path: path.clone(),
        error,
    })?;
    // An empty trust store would fail every handshake as "unknown issuer": say it here.
    {
        use rustls::pki_types::pem::PemObject;
        let certs = rustls::pki_types::CertificateDer::pem_slice_iter(&pem);
        if certs.filter(Result::is_ok).count() == 0 {
            return Err(ClientError::CaInvalid { path });
        }
    }
    redis::Client::build_with_tls(
        config.url.expose(),
        redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(pem),
        },
    )
    .map_err(|_| ClientError::CaInvalid { path })
}

fn link(config: &RedisConfig) -> Result<Link, ClientError> {
    let client = client(config)?;
    Ok(Link {
        client,
        password: url_password(config.url.expose()).map(str::to_string),
        connect_timeout: config.connect_timeout,
        timeout: config.timeout,
    })
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
                let mut v: Vec<(String, Entry)> = entries.into_iter().collect();
                v.sort_by(|a, b| (a.1.revoked_at, &a.0).cmp(&(b.1.revoked_at, &b.0)));
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
        if !valid_jti(jti) {
            return Err(RevocationError::BadJti);
        }
        let i = &self.inner;
        let owner = owner_id(by.name());
        let entry = Entry {
            revoked_at: now,
            expires_at,
            by: Some(owner),
        };
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
        merge(
            &mut i.live.write().unwrap_or_else(|e| e.into_inner()),
            jti,
            entry,
        );
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
    let mut v: Vec<(String, Entry)> = map
        .entries
        .iter()
        .filter(|(_, e)| e.live(now, i.grace))
        .map(|(k, e)| (k.clone(), *e))
        .collect();
    v.sort_by(|a, b| (a.1.revoked_at, &a.0).cmp(&(b.1.revoked_at, &b.0)));
    v
}

/// Adds `e` unless the set already holds `jti` at least as long.
fn merge(map: &mut Live, jti: &str, e: Entry) {
    let keep_old = map
        .entries
        .get(jti)
        .is_some_and(|old| match (old.expires_at, e.expires_at) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(a), Some(b)) => a >= b,
        });
    if !keep_old {
        map.insert(jti.to_string(), e);
    }
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
    let mut v: Vec<(String, Entry)> = m.into_iter().collect();
    v.sort_by(|a, b| (a.1.revoked_at, &a.0).cmp(&(b.1.revoked_at, &b.0)));
    Ok((v, rejected))
}

fn bulk(v: &Value) -> Option<&[u8]> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

/// The feed's newest ID, or 0-0 when it is empty.
fn last_id(con: &mut redis::Connection, link: &Link, keys: &Keys) -> Result<StreamId, StoreError> {
    let v: Value = redis::cmd("XREVRANGE")
        .arg(&keys.feed)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query(con)
        .map_err(link.err())?;
    let Value::Array(entries) = v else {
        return Err(StoreError::BadReply("XREVRANGE did not answer a list"));
    };
    match entries.first() {
        None => Ok(StreamId::default()),
        Some(Value::Array(e)) => e
            .first()
            .and_then(bulk)
            .and_then(|id| StreamId::parse(id).ok())
            .ok_or(StoreError::BadReply("XREVRANGE entry without a valid id")),
        Some(_) => Err(StoreError::BadReply("XREVRANGE entry is not a list")),
    }
}

/// The whole live set from Redis, and the feed position it is current at.
#[allow(clippy::type_complexity)]
fn load_all(
    con: &mut redis::Connection,
    link: &Link,
    keys: &Keys,
    now: i64,
    grace: i64,
) -> Result<(HashMap<String, Entry>, StreamId, u64), StoreError> {
    // The position first: whatever is written during the scan is also in the feed after it.
    let position = last_id(con, link, keys)?;
    let mut out: HashMap<String, Entry> = HashMap::new();
    let mut rejected = 0u64;
    let mut cursor: Vec<u8> = b"0".to_vec();
    let pattern = format!("{}*", keys.rev);
    for _ in 0..MAX_SCAN_ROUNDS {
        let v: Value = redis::cmd("SCAN")
            .arg(&cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(SCAN_COUNT)
            .query(con)
            .map_err(link.err())?;
        let Value::Array(parts) = v else {
            return Err(StoreError::BadReply("SCAN did not answer a list"));
        };
        let (Some(next), Some(Value::Array(found))) = (parts.first().and_then(bulk), parts.get(1))
        else {
            return Err(StoreError::BadReply("SCAN reply is not [cursor, keys]"));
        };
        if next.len() > 20 || !next.iter().all(u8::is_ascii_digit) {
            return Err(StoreError::BadReply("SCAN cursor is not a number"));
        }
        cursor = next.to_vec();
        let names: Vec<&[u8]> = found
            .iter()
            .filter_map(bulk)
            .filter(|k| k.len() <= keys.rev.len() + MAX_JTI_BYTES)
            .take(SCAN_COUNT * 10)
            .collect();
        if !names.is_empty() {
            let mut mget = redis::cmd("MGET");
            for n in &names {
                mget.arg(*n);
            }
            let v: Value = mget.query(con).map_err(link.err())?;
            let Value::Array(values) = v else {
                return Err(StoreError::BadReply("MGET did not answer a list"));
            };
            for (name, value) in names.iter().zip(&values) {
                let Some(raw) = bulk(value) else {
                    continue; // expired or deleted between SCAN and MGET
                };
                match feed::parse_record(raw) {
                    Ok((jti, e)) if name.get(keys.rev.len()..) == Some(jti.as_bytes()) => {
                        if e.live(now, grace) {
                            merge_map(&mut out, jti, e);
                        }
                    }
                    _ => rejected += 1,
                }
            }
            if out.len() > MAX_REVOCATIONS {
                return Err(StoreError::TooMany);
            }
        }
        if cursor == b"0" {
            HEALTH.rejected.fetch_add(rejected, Ordering::Relaxed);
            return Ok((out, position, rejected));
        }
    }
    Err(StoreError::BadReply("SCAN did not finish"))
}

fn merge_map(map: &mut HashMap<String, Entry>, jti: String, e: Entry) {
    let keep_old = map
        .get(&jti)
        .is_some_and(|old| match (old.expires_at, e.expires_at) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(a), Some(b)) => a >= b,
        });
    if !keep_old {
        map.insert(jti, e);
    }
}

/// Feed entries as (id, the `r` field if any).
type FeedBatch = Vec<(StreamId, Option<Vec<u8>>)>;

/// One XREAD reply: the entries after `after`, at most `FEED_BATCH`, as (id, record bytes);
/// empty when the block timed out with nothing new. None when `after` is no longer in the feed
/// once the read returned: the feed was trimmed past this node, so entries between `after` and
/// the reply may be missing, and the caller must read the whole set again. (Trimming removes the
/// oldest entries first: while `after` is still there, nothing after it was removed.) The check
/// is pipelined behind the XREAD, so Redis answers it right after the read unblocks.
fn read_feed(
    con: &mut redis::Connection,
    link: &Link,
    keys: &Keys,
    after: StreamId,
) -> Result<Option<FeedBatch>, StoreError> {
    let id = after.to_string();
    let mut pipe = redis::pipe();
    pipe.cmd("XREAD")
        .arg("COUNT")
        .arg(FEED_BATCH)
        .arg("BLOCK")
        .arg(FOLLOW_BLOCK.as_millis() as u64)
        .arg("STREAMS")
        .arg(&keys.feed)
        .arg(&id);
    pipe.cmd("XRANGE").arg(&keys.feed).arg(&id).arg(&id);
    let (v, check): (Value, Value) = pipe.query(con).map_err(link.err())?;
    let batch = parse_xread(v, after)?;
    let present = matches!(check, Value::Array(ref a) if !a.is_empty());
    // 0-0 (the feed was empty when the set was read) is never an entry; see `follow`.
    if !present && after != StreamId::default() {
        return Ok(None);
    }
    Ok(Some(batch))
}

/// Walks an XREAD reply (RESP2 array or RESP3 map form) without trusting its shape.
pub fn parse_xread(v: Value, after: StreamId) -> Result<FeedBatch, StoreError> {
    let streams: Vec<Value> = match v {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(s) => s
            .into_iter()
            .filter_map(|s| match s {
                Value::Array(mut pair) if pair.len() == 2 => pair.pop(),
                _ => None,
            })
            .collect(),
        Value::Map(m) => m.into_iter().map(|(_, v)| v).collect(),
        _ => return Err(StoreError::BadReply("XREAD did not answer a list")),
    };
    let mut out = Vec::new();
    let mut last = after;
    for s in streams {
        let Value::Array(entries) = s else {
            return Err(StoreError::BadReply("XREAD stream is not a list"));
        };
        for entry in entries.into_iter().take(FEED_BATCH) {
            let Value::Array(parts) = entry else {
                return Err(StoreError::BadReply("XREAD entry is not a list"));
            };
            let mut parts = parts.into_iter();
            let id = parts
                .next()
                .as_ref()
                .and_then(bulk)
                .and_then(|b| StreamId::parse(b).ok())
                .ok_or(StoreError::BadReply("XREAD entry without a valid id"))?;
            // IDs only grow: a reply going backwards would make the follower loop or skip.
            if id <= last {
                return Err(StoreError::BadReply("XREAD ids out of order"));
            }
            last = id;
            let record = match parts.next() {
                Some(Value::Array(fields)) => fields
                    .chunks(2)
                    .find(|kv| kv.first().and_then(bulk) == Some(b"r"))
                    .and_then(|kv| kv.get(1))
                    .and_then(bulk)
                    .map(<[u8]>::to_vec),
                Some(Value::Map(fields)) => fields
                    .iter()
                    .find(|(k, _)| bulk(k) == Some(b"r"))
                    .and_then(|(_, v)| bulk(v))
                    .map(<[u8]>::to_vec),
                _ => None,
            };
            out.push((id, record));
        }
    }
    Ok(out)
}

/// The follower thread: keeps the in-memory set in step with Redis until the store is dropped.
fn follow(store: Weak<Inner>, mut position: Option<StreamId>) {
    let mut con: Option<redis::Connection> = None;
    let mut verified = position.is_some();
    let mut delay = Duration::from_millis(50);
    let mut last_snapshot = Instant::now();
    let mut last_prune = Instant::now();
    let mut dirty = false;
    loop {
        let Some(i) = store.upgrade() else { return };
        let step = (|| -> Result<(), StoreError> {
            if con.is_none() {
                con = Some(i.link.connect(FOLLOW_BLOCK + i.link.timeout)?);
            }
            let c = con.as_mut().ok_or(StoreError::BadReply("no connection"))?;
            // From 0-0 (the feed was empty when the set was read) nothing tells whether the
            // feed was trimmed since: right after that read it was not, after a reconnect it
            // may have been, so the set is read again. Any other position is checked by
            // `read_feed` on every read.
            let resumable = match position {
                Some(p) => p != StreamId::default() || verified,
                None => false,
            };
            if !resumable {
                let now = unix_now();
                let (entries, at, rejected) = load_all(c, &i.link, &i.keys, now, i.grace)?;
                let mut map = Live::default();
                for (jti, e) in entries {
                    map.insert(jti, e);
                }
                let live = map.entries.len();
                *i.live.write().unwrap_or_else(|e| e.into_inner()) = map;
                crate::log::info(&format!(
                    "revocation store: read {live} live revocations from Redis{}",
                    if rejected > 0 {
                        format!(" ({rejected} malformed records skipped)")
                    } else {
                        String::new()
                    }
                ));
                position = Some(at);
                dirty = true;
            }
            verified = true;
            mark_up();
            let after = position.unwrap_or_default();
            let Some(batch) = read_feed(c, &i.link, &i.keys, after)? else {
                crate::log::warn(&format!(
                    "revocation store: the change feed was trimmed past this node's position \
                     {after}; reading the whole set again"
                ));
                position = None;
                return Ok(());
            };
            mark_up();
            if let Some((last, _)) = batch.last() {
                position = Some(*last);
            }
            let now = unix_now();
            let mut bad = 0u64;
            let mut map = i.live.write().unwrap_or_else(|e| e.into_inner());
            for (_, rec) in batch {
                match rec.as_deref().map(feed::parse_record) {
                    Some(Ok((jti, e))) => {
                        if e.live(now, i.grace) {
                            if map.entries.len() >= i.max_live && !map.entries.contains_key(&jti) {
                                bad += 1;
                                continue;
                            }
                            merge(&mut map, &jti, e);
                            dirty = true;
                        }
                    }
                    _ => bad += 1,
                }
            }
            drop(map);
            if bad > 0 {
                HEALTH.rejected.fetch_add(bad, Ordering::Relaxed);
                crate::log::warn(&format!(
                    "revocation store: skipped {bad} malformed feed records (or past {} live \
                     revocations)",
                    i.max_live
                ));
            }
            Ok(())
        })();
        if let Err(e) = step {
            con = None;
            // Whatever happened while disconnected is unknown (see `resumable`).
            verified = false;
            mark_down(&e);
            drop(i);
            std::thread::sleep(delay);
            delay = (delay * 2).min(MAX_RETRY_DELAY);
            continue;
        }
        delay = Duration::from_millis(50);
        if i.dirty.swap(false, Ordering::Relaxed) {
            dirty = true;
        }
        if last_prune.elapsed() >= PRUNE_EVERY {
            last_prune = Instant::now();
            i.live
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .retain_live(unix_now(), i.grace);
            dirty = true;
        }
        if dirty && last_snapshot.elapsed() >= SNAPSHOT_EVERY {
            let v = sorted_live(&i, unix_now());
            match write_snapshot(&i.snapshot, &v) {
                Ok(()) => {
                    dirty = false;
                    last_snapshot = Instant::now();
                }
                Err(e) => crate::log::error(&format!("revocation store: {e}")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted_and_errors_scrubbed() {
        assert_eq!(
            redacted_url("redis://app:s3cr%40t@h:6379/0"),
            "redis://app:***@h:6379/0"
        );
        assert_eq!(redacted_url("redis://h:1/2"), "redis://h:1/2");
        assert_eq!(redacted_url("redis://:pw@h"), "redis://:***@h");
        assert_eq!(url_password("redis://u:p%40w@h:1/0"), Some("p%40w"));
        assert_eq!(url_password("redis://h:1/0"), None);
        let e = redis::RedisError::from(std::io::Error::other("failed for p@w and p%40w"));
        let StoreError::Unreachable { detail } = store_error(&e, Some("p%40w")) else {
            panic!()
        };
        assert!(
            !detail.contains("p@w") && !detail.contains("p%40w"),
            "{detail}"
        );
        // Long text is cut at MAX_DETAIL_CHARS characters, never inside one.
        for len in [MAX_DETAIL_CHARS - 1, MAX_DETAIL_CHARS, MAX_DETAIL_CHARS + 1] {
            let text = "€".repeat(len);
            let e = redis::RedisError::from(std::io::Error::other(text));
            let StoreError::Unreachable { detail } = store_error(&e, None) else {
                panic!()
            };
            assert!(detail.chars().count() <= MAX_DETAIL_CHARS, "{len}");
        }
    }

    fn entry(id: &str, rec: &[u8]) -> Value {
        Value::Array(vec![
            Value::BulkString(id.as_bytes().to_vec()),
            Value::Array(vec![
                Value::BulkString(b"r".to_vec()),
                Value::BulkString(rec.to_vec()),
            ]),
        ])
    }

    fn reply(entries: Vec<Value>) -> Value {
        Value::Array(vec![Value::Array(vec![
            Value::BulkString(b"feed".to_vec()),
            Value::Array(entries),
        ])])
    }

    #[test]
    fn xread_replies_are_walked_without_trust() {
        let got = parse_xread(
            reply(vec![entry("1-0", b"a 1 - -"), entry("2-0", b"junk")]),
            StreamId::default(),
        )
        .unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].0, StreamId { ms: 2, seq: 0 });
        assert_eq!(
            parse_xread(Value::Nil, StreamId::default()).unwrap(),
            vec![]
        );
        for bad in [
            Value::Int(3),
            reply(vec![Value::Int(1)]),
            reply(vec![entry("x", b"a 1 - -")]),
            // Not after the position, or going backwards.
            reply(vec![entry("0-0", b"a 1 - -")]),
            reply(vec![entry("2-0", b"a 1 - -"), entry("1-0", b"b 1 - -")]),
        ] {
            assert!(
                parse_xread(bad.clone(), StreamId::default()).is_err(),
                "{bad:?}"
            );
        }
        // A batch longer than FEED_BATCH is cut at it.
        let many = (1..=FEED_BATCH + 5)
            .map(|n| entry(&format!("{n}-0"), b"a 1 - -"))
            .collect();
        assert_eq!(
            parse_xread(reply(many), StreamId::default()).unwrap().len(),
            FEED_BATCH
        );
        // An entry without an `r` field has no record (skipped and counted by the follower).
        let no_r = Value::Array(vec![
            Value::BulkString(b"9-0".to_vec()),
            Value::Array(vec![]),
        ]);
        assert_eq!(
            parse_xread(reply(vec![no_r]), StreamId::default()).unwrap()[0].1,
            None
        );
    }

    #[test]
    fn merge_keeps_the_longest_revocation() {
        let e = |exp| Entry {
            revoked_at: 1,
            expires_at: exp,
            by: None,
        };
        let mut m = Live::default();
        merge(&mut m, "k", e(Some(5)));
        merge(&mut m, "k", e(Some(3)));
        assert_eq!(m.entries["k"].expires_at, Some(5));
        merge(&mut m, "k", e(None));
        merge(&mut m, "k", e(Some(9)));
        assert_eq!(m.entries["k"].expires_at, None);
    }
}
