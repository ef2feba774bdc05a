//! The shared store's state as `/health` and `/metrics` report it.

use super::*;

/// Store state for `/health` and `/metrics`: process-wide, as a process has one store.
pub struct Health {
    pub(super) configured: AtomicBool,
    pub(super) up: AtomicBool,
    /// Unix seconds of the last confirmed sync with Redis (0: never).
    pub(super) last_sync: AtomicI64,
    /// Malformed records read from Redis and skipped.
    pub(super) rejected: AtomicU64,
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

pub(super) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub(super) fn mark_up() {
    HEALTH.last_sync.store(unix_now(), Ordering::Relaxed);
    if !HEALTH.up.swap(true, Ordering::Relaxed) {
        crate::log::info("revocation store: Redis is reachable; following its change feed");
    }
}

pub(super) fn mark_down(e: &StoreError) {
    if HEALTH.up.swap(false, Ordering::Relaxed) {
        crate::log::warn(&format!(
            "revocation store: {e}; validating with the last known set, revocations get 503"
        ));
    }
}
