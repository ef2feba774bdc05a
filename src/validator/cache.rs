//! The signature cache: tokens whose signature verified, by digest of the whole token.

use super::rules::numeric_date;
use crate::jwt::Verified;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// The cache key of a token: SHA-256 of all of it, header, claims and signature, so a token
/// with the same header and claims but another signature is a different entry. Taken over the
/// token's one canonical spelling (`jwt::canonical`), so that a padded signature is not a second
/// entry for the same key.
pub fn cache_key(token: &str) -> [u8; 32] {
    Sha256::digest(crate::jwt::canonical(token).as_bytes()).into()
}

struct CacheEntry {
    verified: Arc<Verified>,
    /// Unix seconds; never past the token's `exp`.
    expires_at: i64,
    seq: u64,
}

#[derive(Default)]
struct CacheInner {
    map: HashMap<[u8; 32], CacheEntry>,
    /// Insertion order for eviction; may hold stale (replaced or removed) keys.
    order: VecDeque<([u8; 32], u64)>,
    seq: u64,
}

/// Verified signatures by SHA-256 of the whole token: a hit means these exact bytes were
/// verified with this key set, so it is as safe as verifying again. Bounded (oldest evicted) and
/// expiring. One mutex: a hit holds it for a hash lookup and an `Arc` clone.
pub struct SignatureCache {
    max_entries: usize,
    ttl_seconds: i64,
    inner: Mutex<CacheInner>,
}

impl SignatureCache {
    /// `max_entries` 0 turns caching off.
    pub fn new(max_entries: usize, ttl_seconds: i64) -> SignatureCache {
        SignatureCache {
            max_entries,
            ttl_seconds,
            inner: Mutex::new(CacheInner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheInner> {
        // The map stays consistent even if a holder panicked: keep using it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, digest: &[u8; 32], now: i64) -> Option<Arc<Verified>> {
        if self.max_entries == 0 {
            return None;
        }
        let mut c = self.lock();
        match c.map.get(digest) {
            Some(e) if now < e.expires_at => Some(Arc::clone(&e.verified)),
            Some(_) => {
                c.map.remove(digest);
                None
            }
            None => None,
        }
    }

    pub fn insert(&self, digest: [u8; 32], verified: Arc<Verified>, now: i64) {
        if self.max_entries == 0 {
            return;
        }
        let mut expires_at = now.saturating_add(self.ttl_seconds);
        if let Some(exp) = numeric_date(verified.claims.get("exp")) {
            expires_at = expires_at.min(exp);
        }
        if expires_at <= now {
            return;
        }
        let mut c = self.lock();
        while c.map.len() >= self.max_entries && !c.map.contains_key(&digest) {
            let Some((old, seq)) = c.order.pop_front() else {
                break;
            };
            if c.map.get(&old).is_some_and(|e| e.seq == seq) {
                c.map.remove(&old);
            }
        }
        c.seq += 1;
        let seq = c.seq;
        c.map.insert(
            digest,
            CacheEntry {
                verified,
                expires_at,
                seq,
            },
        );
        c.order.push_back((digest, seq));
        // Stale order entries (expired and removed on lookup) must not grow without bound.
        if c.order.len() > 2 * self.max_entries {
            let CacheInner { map, order, .. } = &mut *c;
            order.retain(|(d, s)| map.get(d).is_some_and(|e| e.seq == *s));
        }
    }

    /// 0 when caching is off.
    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt;

    const NOW: i64 = 1_700_000_000;

    #[test]
    fn cache_is_bounded_and_expires() {
        let cache = SignatureCache::new(2, 300);
        let entry = |exp: Option<i64>| {
            Arc::new(Verified {
                header: jwt::Header {
                    alg: "RS256".into(),
                    typ: None,
                    kid: None,
                },
                claims: match exp {
                    Some(e) => serde_json::json!({ "exp": e }),
                    None => serde_json::json!({}),
                },
            })
        };
        cache.insert([1; 32], entry(None), NOW);
        cache.insert([2; 32], entry(None), NOW);
        assert_eq!(cache.len(), 2);
        // At the limit: the oldest goes.
        cache.insert([3; 32], entry(None), NOW);
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&[1; 32], NOW).is_none());
        assert!(cache.get(&[3; 32], NOW).is_some());
        // TTL: gone at now + ttl.
        assert!(cache.get(&[3; 32], NOW + 299).is_some());
        assert!(cache.get(&[3; 32], NOW + 300).is_none());
        // Never past exp; already expired tokens are not stored.
        cache.insert([4; 32], entry(Some(NOW + 5)), NOW);
        assert!(cache.get(&[4; 32], NOW + 4).is_some());
        assert!(cache.get(&[4; 32], NOW + 5).is_none());
        cache.insert([5; 32], entry(Some(NOW)), NOW);
        assert!(cache.get(&[5; 32], NOW).is_none());
        // Re-inserting a present key does not evict another.
        let c2 = SignatureCache::new(1, 300);
        c2.insert([1; 32], entry(None), NOW);
        c2.insert([1; 32], entry(None), NOW);
        assert_eq!(c2.len(), 1);
        // Churn with expiries keeps the order queue bounded.
        let c3 = SignatureCache::new(4, 1);
        for i in 0..1000u32 {
            let mut d = [0u8; 32];
            d[..4].copy_from_slice(&i.to_le_bytes());
            c3.insert(d, entry(None), NOW + i64::from(i));
            let _ = c3.get(&d, NOW + i64::from(i) + 1);
        }
        assert!(c3.lock().order.len() <= 8);
        // Disabled.
        let off = SignatureCache::new(0, 300);
        off.insert([1; 32], entry(None), NOW);
        assert!(off.get(&[1; 32], NOW).is_none());
        assert!(off.is_empty());
    }

    /// A key inserted again (once it expired, or by two requests that missed at once) is the
    /// newest: the places its earlier inserts left in the eviction queue neither evict it nor
    /// let the cache outgrow its bound, and the next eviction takes the oldest other key.
    #[test]
    fn a_key_inserted_again_is_the_newest() {
        let verified = || {
            Arc::new(Verified {
                header: jwt::Header {
                    alg: "RS256".into(),
                    typ: None,
                    kid: None,
                },
                claims: serde_json::json!({}),
            })
        };
        let cache = SignatureCache::new(2, 300);
        assert!(cache.is_empty());
        let (a, b, c) = ([1; 32], [2; 32], [3; 32]);
        // Five inserts of two keys: the queue passes twice the bound and is compacted.
        for d in [a, b, a, b, a] {
            cache.insert(d, verified(), NOW);
        }
        assert_eq!(cache.len(), 2);
        assert!(!cache.is_empty());
        cache.insert(c, verified(), NOW);
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&a, NOW).is_some());
        assert!(cache.get(&b, NOW).is_none());
        assert!(cache.get(&c, NOW).is_some());
    }

    /// Keys that expire and are verified again leave stale places in the eviction queue that
    /// no eviction pops (the map is never full); the compaction bounds the queue even for a
    /// cache of one entry.
    #[test]
    fn the_eviction_queue_of_a_one_entry_cache_stays_bounded() {
        let cache = SignatureCache::new(1, 1);
        let verified = Arc::new(Verified {
            header: jwt::Header {
                alg: "RS256".into(),
                typ: None,
                kid: None,
            },
            claims: serde_json::json!({}),
        });
        for i in 0..100u8 {
            let now = NOW + i64::from(i);
            cache.insert([i; 32], Arc::clone(&verified), now);
            assert!(cache.get(&[i; 32], now).is_some());
            assert!(cache.get(&[i; 32], now + 1).is_none());
            assert!(cache.lock().order.len() <= 2, "after {i}");
        }
    }
}
