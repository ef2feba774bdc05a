//! The file log: appends fsync'd before a revocation is acknowledged, one writer per log
//! (flock), compaction by atomic rename. The module doc of `revocation` explains each choice.

use super::*;

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
pub(super) type Opener = Box<dyn Fn(&Path) -> io::Result<Box<dyn LogFile>> + Send + Sync>;

pub(super) fn open_for_append(path: &Path) -> io::Result<Box<dyn LogFile>> {
    let f = private_options().create(true).append(true).open(path)?;
    Ok(Box::new(f))
}

pub(super) struct Writer {
    file: Box<dyn LogFile>,
    /// Records in the file (live or not).
    records: usize,
    appends: usize,
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

pub(super) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

pub(super) fn tmp_path(path: &Path) -> PathBuf {
    sibling(path, ".tmp")
}

/// The lock file that makes one process the log's only writer.
pub fn lock_path(path: &Path) -> PathBuf {
    sibling(path, ".lock")
}

/// Owner read and write only, whatever the umask.
pub(super) const FILE_MODE: u32 = 0o600;

pub(super) fn private_options() -> OpenOptions {
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
    pub(super) fn open_with(
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
                map.merge(jti, e);
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
        let entry = Entry::revoked(jti, expires_at, now, by)?;
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
        map.live_oldest_first(now, self.grace)
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
            map.live_oldest_first(now, self.grace)
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
