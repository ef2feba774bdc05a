use super::*;
use std::sync::Arc;

const ADMIN: Revoker<'static> = Revoker::Admin("root");

/// A scratch directory under the system temp dir, removed when the test ends (pass or panic),
/// so repeated runs do not fill the disk CI builds on.
pub(super) struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(super) fn dir(tag: &str) -> Scratch {
    let d = std::env::temp_dir().join(format!("apikey-sts-rev-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    Scratch(d)
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

#[test]
fn debug_names_the_log_and_nothing_else() {
    let d = dir("debug");
    let p = d.join("rev.log");
    let (s, _) = RevocationStore::open(&p, 100, 0).unwrap();
    let shown = format!("{s:?}");
    assert!(
        shown.starts_with("RevocationStore") && shown.contains("rev.log"),
        "{shown}"
    );
}

#[test]
fn a_log_past_the_size_limit_is_refused_unread() {
    let d = dir("large");
    let p = d.join("rev.log");
    // Sparse: one byte past the limit costs no disk, and it must be refused before reading.
    let f = std::fs::File::create(&p).unwrap();
    f.set_len(MAX_LOG_BYTES + 1).unwrap();
    drop(f);
    let err = RevocationStore::open(&p, 100, 0).unwrap_err();
    assert!(
        matches!(err, RevocationError::TooLarge { bytes, .. } if bytes == MAX_LOG_BYTES + 1),
        "{err}"
    );
}

/// At open the log is rewritten only when something is to be dropped: a dead entry goes at
/// once, while a log of live entries keeps its file (same inode).
#[test]
fn startup_rewrites_the_log_only_to_drop_something() {
    use std::os::unix::fs::MetadataExt;
    let d = dir("startup");
    let p = d.join("rev.log");
    let (s, _) = RevocationStore::open(&p, 100, 0).unwrap();
    s.revoke("live", Some(1_000), 100, ADMIN).unwrap();
    s.revoke("dead", Some(150), 100, ADMIN).unwrap();
    drop(s);
    let inode = std::fs::metadata(&p).unwrap().ino();
    let (s, r) = RevocationStore::open(&p, 120, 0).unwrap();
    assert_eq!((r.records, r.live), (2, 2));
    assert_eq!(
        std::fs::metadata(&p).unwrap().ino(),
        inode,
        "rewritten for nothing"
    );
    drop(s);
    let (_s, r) = RevocationStore::open(&p, 200, 0).unwrap();
    assert_eq!((r.records, r.live), (2, 1));
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains("live") && !text.contains("dead"), "{text}");
}

/// The compaction policy at its edge: with `compact_every` 2 and only dead entries, the check
/// runs every second append and compacts once records > 2 * live + 2, so at the fourth.
#[test]
fn compaction_policy_at_its_edge() {
    let d = dir("policy");
    let p = d.join("rev.log");
    let (mut s, _) = RevocationStore::open(&p, 100, 0).unwrap();
    s.set_compact_every(2);
    let got: Vec<Revoked> = (0..4)
        .map(|i| s.revoke(&format!("d{i}"), Some(50), 100, ADMIN).unwrap())
        .collect();
    assert_eq!(
        got,
        [
            Revoked::Appended,
            Revoked::Appended,
            Revoked::Appended,
            Revoked::Compacted { live: 0 }
        ]
    );
}

/// A log that cannot be looked at (here a symbolic link to itself) is an error at once, never
/// taken for a missing, empty log.
#[test]
fn an_unreadable_log_is_not_taken_for_a_missing_one() {
    let d = dir("loop");
    let p = d.join("rev.log");
    std::os::unix::fs::symlink("rev.log", &p).unwrap();
    let err = RevocationStore::open(&p, 100, 0).unwrap_err();
    assert!(
        matches!(err, RevocationError::Io { op: "read", .. }),
        "{err}"
    );
}

/// `Snapshot::read` (for `verify` and `check-config`) refuses what the store's `open` refuses:
/// a log past the size limit before reading it, and a log it cannot look at; only a missing log
/// is an empty one.
#[test]
fn a_snapshot_of_an_oversized_or_unreadable_log_is_an_error_not_an_empty_set() {
    let d = dir("snapread");
    let missing = Snapshot::read(&d.join("none.log"), 100, 0).unwrap();
    assert!(missing.jtis.is_empty() && missing.report == LoadReport::default());
    let large = d.join("large.log");
    // Sparse: one byte past the limit costs no disk.
    let f = std::fs::File::create(&large).unwrap();
    f.set_len(MAX_LOG_BYTES + 1).unwrap();
    drop(f);
    let err = Snapshot::read(&large, 100, 0).unwrap_err();
    assert!(
        matches!(err, RevocationError::TooLarge { bytes, .. } if bytes == MAX_LOG_BYTES + 1),
        "{err}"
    );
    let looped = d.join("loop.log");
    std::os::unix::fs::symlink("loop.log", &looped).unwrap();
    let err = Snapshot::read(&looped, 100, 0).unwrap_err();
    assert!(
        matches!(err, RevocationError::Io { op: "read", .. }),
        "{err}"
    );
}

/// The size limit is hundreds of megabytes: a log of a few megabytes (here mostly one long
/// comment line) is read by the store and by `Snapshot::read`.
#[test]
fn a_log_of_a_few_megabytes_is_within_the_size_limit() {
    let d = dir("megabytes");
    let p = d.join("rev.log");
    let kept = record(
        "kept",
        &Entry {
            revoked_at: 1,
            expires_at: None,
            by: None,
        },
    );
    let text = format!("{HEADER}#{}\n{kept}", "x".repeat(4 << 20));
    std::fs::write(&p, text).unwrap();
    let snap = Snapshot::read(&p, 100, 0).unwrap();
    assert!(snap.jtis.contains("kept"), "{:?}", snap.report);
    let (s, r) = RevocationStore::open(&p, 100, 0).unwrap();
    assert_eq!((r.records, r.live), (1, 1));
    assert!(s.is_revoked("kept"));
}

/// A repeated revocation writes nothing, and a token's own `exp` given after a revocation by
/// `jti` (for good) does not make it end.
#[test]
fn a_repeated_revocation_writes_nothing_and_one_for_good_stays_for_good() {
    let d = dir("again");
    let p = d.join("rev.log");
    let (s, _) = RevocationStore::open(&p, 100, 0).unwrap();
    assert_eq!(
        s.revoke("t", Some(500), 100, ADMIN).unwrap(),
        Revoked::Appended
    );
    assert_eq!(
        s.revoke("t", Some(500), 101, ADMIN).unwrap(),
        Revoked::Already
    );
    assert_eq!(s.revoke("g", None, 100, ADMIN).unwrap(), Revoked::Appended);
    assert_eq!(
        s.revoke("g", Some(500), 101, ADMIN).unwrap(),
        Revoked::Already
    );
    drop(s);
    let (s, r) = RevocationStore::open(&p, 600, 0).unwrap();
    assert_eq!(r.records, 2);
    assert!(s.is_revoked("g") && !s.is_revoked("t"));
}

/// `Store` hands each question to the store it wraps: by `jti`, by a token's claims, and the
/// list of live revocations.
#[test]
fn the_store_answers_for_the_file_log_it_wraps() {
    let d = dir("store");
    let (s, _) = RevocationStore::open(&d.join("rev.log"), 100, 0).unwrap();
    let store = store::Store::File(Box::new(s));
    assert_eq!(
        store.revoke("a", Some(500), 100, ADMIN).unwrap(),
        Revoked::Appended
    );
    assert!(store.is_revoked("a"));
    assert!(!store.is_revoked("b"));
    let by_claims: &dyn Revocation = &store;
    assert!(by_claims.is_revoked(&serde_json::json!({"jti": "a"})));
    assert!(!by_claims.is_revoked(&serde_json::json!({"jti": "b"})));
    let listed: Vec<_> = store
        .list(100)
        .into_iter()
        .map(|(j, e)| (j, e.expires_at))
        .collect();
    assert_eq!(listed, [("a".to_string(), Some(500))]);
}

/// A second revocation of a `jti` may lengthen the one in place but never shorten it: one with
/// an earlier end writes nothing, and a log that holds a longer record before a shorter one
/// keeps the longer when it is replayed.
#[test]
fn a_shorter_revocation_never_shortens_one_in_place() {
    let d = dir("shorter");
    let p = d.join("rev.log");
    let (s, _) = RevocationStore::open(&p, 100, 0).unwrap();
    assert_eq!(
        s.revoke("t", Some(500), 100, ADMIN).unwrap(),
        Revoked::Appended
    );
    assert_eq!(
        s.revoke("t", Some(300), 100, ADMIN).unwrap(),
        Revoked::Already
    );
    assert_eq!(
        s.revoke("t", Some(700), 100, ADMIN).unwrap(),
        Revoked::Appended
    );
    drop(s);
    let (s, r) = RevocationStore::open(&p, 600, 0).unwrap();
    assert_eq!(r.records, 2);
    assert!(s.is_revoked("t"), "still revoked after 500, until 700");
    drop(s);

    let entry = |exp| Entry {
        revoked_at: 1,
        expires_at: Some(exp),
        by: None,
    };
    let p = d.join("older.log");
    std::fs::write(
        &p,
        format!(
            "{HEADER}{}{}",
            record("t", &entry(900)),
            record("t", &entry(200))
        ),
    )
    .unwrap();
    let (s, _) = RevocationStore::open(&p, 150, 0).unwrap();
    let kept: Vec<_> = s
        .list(150)
        .into_iter()
        .map(|(j, e)| (j, e.expires_at))
        .collect();
    assert_eq!(
        kept,
        [("t".to_string(), Some(900))],
        "the longer record wins, whatever the order"
    );
}

/// An admin revoking for good what a user revoked until `exp` takes the entry over: the user's
/// place is freed, exactly one.
#[test]
fn an_entry_taken_over_by_an_admin_frees_one_place_of_its_user() {
    let d = dir("takeover");
    let (s, _) = RevocationStore::open(&d.join("rev.log"), 100, 0).unwrap();
    let bob = Revoker::User {
        name: "bob",
        cap: 2,
    };
    s.revoke("b0", Some(500), 100, bob).unwrap();
    s.revoke("b1", Some(500), 100, bob).unwrap();
    assert_eq!(s.revoke("b0", None, 100, ADMIN).unwrap(), Revoked::Appended);
    s.revoke("b2", Some(500), 100, bob).unwrap();
    assert!(matches!(
        s.revoke("b3", Some(500), 100, bob),
        Err(RevocationError::UserCap { cap: 2 })
    ));
}

/// Compaction counts each user's live entries again: the cap holds across it.
#[test]
fn the_user_cap_holds_across_a_compaction() {
    let d = dir("capcompact");
    let (s, _) = RevocationStore::open(&d.join("rev.log"), 100, 0).unwrap();
    let bob = Revoker::User {
        name: "bob",
        cap: 2,
    };
    s.revoke("b0", None, 100, bob).unwrap();
    s.revoke("b1", Some(150), 100, bob).unwrap();
    s.compact(200).unwrap();
    // b1 is gone: one place is free, and only one.
    s.revoke("b2", None, 200, bob).unwrap();
    assert!(matches!(
        s.revoke("b3", None, 200, bob),
        Err(RevocationError::UserCap { cap: 2 })
    ));
}

/// The validator asks with the verified claims: revoked means a string `jti` in the store.
#[test]
fn the_validator_asks_by_the_claims_jti() {
    let d = dir("claims");
    let p = d.join("rev.log");
    let (s, _) = RevocationStore::open(&p, 100, 0).unwrap();
    s.revoke("gone", None, 100, ADMIN).unwrap();
    let snap = Snapshot::read(&p, 100, 0).unwrap();
    let stores: [&dyn Revocation; 2] = [&s, &snap];
    for r in stores {
        assert!(r.is_revoked(&serde_json::json!({"jti": "gone", "sub": "bob"})));
        assert!(!r.is_revoked(&serde_json::json!({"jti": "kept"})));
        assert!(!r.is_revoked(&serde_json::json!({"sub": "gone"})));
        assert!(!r.is_revoked(&serde_json::json!({"jti": 7})));
    }
    assert!(!NothingRevoked.is_revoked(&serde_json::json!({"jti": "gone"})));
}

#[test]
fn merge_keeps_the_longest_revocation() {
    let e = |exp| Entry {
        revoked_at: 1,
        expires_at: exp,
        by: None,
    };
    let mut m = Live::default();
    m.merge("k".into(), e(Some(5)));
    m.merge("k".into(), e(Some(3)));
    assert_eq!(m.entries["k"].expires_at, Some(5));
    m.merge("k".into(), e(None));
    m.merge("k".into(), e(Some(9)));
    assert_eq!(m.entries["k"].expires_at, None);
}
