//! The revocation store the issuer and the validator use: the file log (one node) or Redis
//! (many nodes). Both keep the live set in memory, so checking a key never blocks.

use super::redis::RedisStore;
use super::{Entry, RevocationError, RevocationStore, Revoked, Revoker};

#[derive(Debug)]
pub enum Store {
    /// The local append-only log (`store = "file"`).
    File(Box<RevocationStore>),
    /// The shared set in Redis, mirrored in memory (`store = "redis"`).
    Redis(RedisStore),
}

impl Store {
    /// Records a revocation; returns once it is durable (fsync'd, or confirmed by Redis).
    pub fn revoke(
        &self,
        jti: &str,
        expires_at: Option<i64>,
        now: i64,
        by: Revoker<'_>,
    ) -> Result<Revoked, RevocationError> {
        match self {
            Store::File(s) => s.revoke(jti, expires_at, now, by),
            Store::Redis(s) => s.revoke(jti, expires_at, now, by),
        }
    }

    pub fn is_revoked(&self, jti: &str) -> bool {
        match self {
            Store::File(s) => s.is_revoked(jti),
            Store::Redis(s) => s.is_revoked(jti),
        }
    }

    /// Live revocations, oldest first.
    pub fn list(&self, now: i64) -> Vec<(String, Entry)> {
        match self {
            Store::File(s) => s.list(now),
            Store::Redis(s) => s.list(now),
        }
    }

    /// The local file: the log, or the Redis store's snapshot.
    pub fn path(&self) -> &std::path::Path {
        match self {
            Store::File(s) => s.path(),
            Store::Redis(s) => s.snapshot_path(),
        }
    }
}

impl super::Revocation for Store {
    fn is_revoked(&self, claims: &serde_json::Value) -> bool {
        claims
            .get("jti")
            .and_then(|j| j.as_str())
            .is_some_and(|j| Store::is_revoked(self, j))
    }
}
