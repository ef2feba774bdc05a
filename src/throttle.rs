//! Brute-force protection for Basic authentication.
//!
//! Policy (also in README.md):
//! - Per client address: `free_failures` failed logins within `window` are free; each further one
//!   locks the address for a delay that doubles from `base_lock` up to `max_lock`. While locked,
//!   every attempt from that address gets 429 with `Retry-After`, without checking the password.
//! - Per user name: the same with `user_free_failures`. This stops a distributed attack on one
//!   account. So that an attacker cannot lock a user out, addresses that logged in successfully as
//!   that user within `known_for` are exempt from the user lock, and a user lock never lasts
//!   longer than `max_user_lock`.
//! - IPv6 addresses are grouped by /64, because one host usually owns a whole /64.
//! - Memory is bounded: each table holds at most `max_entries` entries. When it is full, the
//!   unlocked entry seen longest ago is dropped. A locked entry stays until its lock has run out,
//!   so a flood of made-up names or addresses cannot push a real lock out. When every entry is
//!   locked, a new key is not tracked until a lock runs out: its failures go uncounted in that
//!   table, which the other table (address or user) still covers, and every tracked lock holds.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub free_failures: u32,
    pub user_free_failures: u32,
    pub window: Duration,
    pub base_lock: Duration,
    pub max_lock: Duration,
    pub max_user_lock: Duration,
    pub known_for: Duration,
    pub max_entries: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            free_failures: 5,
            user_free_failures: 10,
            window: Duration::from_secs(300),
            base_lock: Duration::from_secs(1),
            max_lock: Duration::from_secs(900),
            max_user_lock: Duration::from_secs(60),
            known_for: Duration::from_secs(24 * 3600),
            max_entries: 10_000,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    window_start: Instant,
    locked_until: Option<Instant>,
    last_seen: Instant,
}

/// The key used for an address: IPv6 by /64.
fn addr_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut s = v6.segments();
                s[4..].fill(0);
                IpAddr::V6(s.into())
            }
        },
    }
}

struct Table<K> {
    map: HashMap<K, Entry>,
}

impl<K: Hash + Eq + Clone> Table<K> {
    fn new() -> Self {
        Table {
            map: HashMap::new(),
        }
    }

    fn locked(&self, k: &K, now: Instant) -> Option<Duration> {
        self.map
            .get(k)
            .and_then(|e| e.locked_until)
            .filter(|&u| u > now)
            .map(|u| u - now)
    }

    fn fail(&mut self, k: K, now: Instant, free: u32, p: &Policy, max_lock: Duration) {
        if !self.map.contains_key(&k) && self.map.len() >= p.max_entries && !self.evict(now) {
            return;
        }
        let e = self.map.entry(k).or_insert(Entry {
            failures: 0,
            window_start: now,
            locked_until: None,
            last_seen: now,
        });
        if now.duration_since(e.window_start) > p.window && e.locked_until.is_none_or(|u| u <= now)
        {
            e.failures = 0;
            e.window_start = now;
        }
        e.failures = e.failures.saturating_add(1);
        e.last_seen = now;
        if e.failures > free {
            let doublings = (e.failures - free - 1).min(20);
            let lock = p.base_lock.saturating_mul(1 << doublings).min(max_lock);
            e.locked_until = Some(now + lock);
        }
    }

    /// Drops the unlocked entry seen longest ago; false when every entry is locked.
    fn evict(&mut self, now: Instant) -> bool {
        let victim = self
            .map
            .iter()
            .filter(|(_, e)| e.locked_until.is_none_or(|u| u <= now))
            .min_by_key(|(_, e)| e.last_seen)
            .map(|(k, _)| k.clone());
        match victim {
            Some(k) => {
                self.map.remove(&k);
                true
            }
            None => false,
        }
    }
}

/// Outcome of the pre-check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Refuse with 429; retry after this long.
    Locked(Duration),
}

/// Which table a shared count belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Address,
    User,
}

/// Failure counts and locks kept outside the process (`throttle_store`: Redis), so that every
/// node sees the same locks. The local tables are kept as well and decide alone when the shared
/// store does not answer.
pub trait SharedCounts: Send + Sync {
    /// The remaining lock on an address or user; None when unlocked or unknown.
    fn locked(&self, kind: Kind, key: &str) -> Option<Duration>;
    /// Counts a failure and locks past `free` failures, as the local tables do.
    fn fail(&self, kind: Kind, key: &str, free: u32, p: &Policy, max_lock: Duration);
    /// Forgets the failures and lock (after a successful login from the address).
    fn clear(&self, kind: Kind, key: &str);
}

pub struct Throttle {
    policy: Policy,
    inner: Mutex<Inner>,
    shared: Option<Box<dyn SharedCounts>>,
}

struct Inner {
    addrs: Table<IpAddr>,
    users: Table<String>,
    /// (user, address) pairs that logged in successfully, and when.
    known: HashMap<(String, IpAddr), Instant>,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle::new(Policy::default())
    }
}

impl Throttle {
    pub fn new(policy: Policy) -> Throttle {
        Throttle {
            policy,
            inner: Mutex::new(Inner {
                addrs: Table::new(),
                users: Table::new(),
                known: HashMap::new(),
            }),
            shared: None,
        }
    }

    /// As `new`, with counts and locks shared with other nodes through `shared`.
    pub fn with_shared(policy: Policy, shared: Box<dyn SharedCounts>) -> Throttle {
        Throttle {
            shared: Some(shared),
            ..Throttle::new(policy)
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether an attempt from `ip` as `user` may check its password now.
    pub fn check(&self, ip: IpAddr, user: Option<&str>, now: Instant) -> Verdict {
        let ip = addr_key(ip);
        let check_user = {
            let g = self.lock();
            if let Some(d) = g.addrs.locked(&ip, now) {
                return Verdict::Locked(d);
            }
            match user {
                Some(user) => {
                    let known = g
                        .known
                        .get(&(user.to_string(), ip))
                        .is_some_and(|&t| now.duration_since(t) < self.policy.known_for);
                    if !known {
                        if let Some(d) = g.users.locked(&user.to_string(), now) {
                            return Verdict::Locked(d);
                        }
                    }
                    !known
                }
                None => false,
            }
        };
        // The shared store is asked without holding the local lock: it may wait on the network.
        if let Some(s) = &self.shared {
            if let Some(d) = s.locked(Kind::Address, &ip.to_string()) {
                return Verdict::Locked(d);
            }
            if let (true, Some(user)) = (check_user, user) {
                if let Some(d) = s.locked(Kind::User, user) {
                    return Verdict::Locked(d.min(self.policy.max_user_lock));
                }
            }
        }
        Verdict::Allow
    }

    pub fn failure(&self, ip: IpAddr, user: Option<&str>, now: Instant) {
        let ip = addr_key(ip);
        let p = &self.policy;
        let mut g = self.lock();
        g.addrs.fail(ip, now, p.free_failures, p, p.max_lock);
        if let Some(user) = user {
            g.users.fail(
                user.to_string(),
                now,
                p.user_free_failures,
                p,
                p.max_user_lock,
            );
        }
        drop(g);
        if let Some(s) = &self.shared {
            s.fail(
                Kind::Address,
                &ip.to_string(),
                p.free_failures,
                p,
                p.max_lock,
            );
            if let Some(user) = user {
                s.fail(Kind::User, user, p.user_free_failures, p, p.max_user_lock);
            }
        }
    }

    pub fn success(&self, ip: IpAddr, user: &str, now: Instant) {
        let ip = addr_key(ip);
        if let Some(s) = &self.shared {
            s.clear(Kind::Address, &ip.to_string());
        }
        let mut g = self.lock();
        g.addrs.map.remove(&ip);
        if !g.known.contains_key(&(user.to_string(), ip))
            && g.known.len() >= self.policy.max_entries
        {
            let known_for = self.policy.known_for;
            g.known.retain(|_, t| now.duration_since(*t) < known_for);
            if g.known.len() >= self.policy.max_entries {
                if let Some(k) = g
                    .known
                    .iter()
                    .min_by_key(|(_, t)| **t)
                    .map(|(k, _)| k.clone())
                {
                    g.known.remove(&k);
                }
            }
        }
        g.known.insert((user.to_string(), ip), now);
    }

    /// Entries held, for tests and metrics: (addresses, users, known pairs).
    pub fn sizes(&self) -> (usize, usize, usize) {
        let g = self.lock();
        (g.addrs.map.len(), g.users.map.len(), g.known.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn address_locks_after_free_failures_and_doubles() {
        let t = Throttle::default();
        let a = ip("10.0.0.1");
        let now = Instant::now();
        for _ in 0..5 {
            assert_eq!(t.check(a, None, now), Verdict::Allow);
            t.failure(a, None, now);
        }
        // Exactly at the edge: five failures are free.
        assert_eq!(t.check(a, None, now), Verdict::Allow);
        t.failure(a, None, now);
        assert_eq!(
            t.check(a, None, now),
            Verdict::Locked(Duration::from_secs(1))
        );
        t.failure(a, None, now);
        assert_eq!(
            t.check(a, None, now),
            Verdict::Locked(Duration::from_secs(2))
        );
        for _ in 0..30 {
            t.failure(a, None, now);
        }
        assert_eq!(
            t.check(a, None, now),
            Verdict::Locked(Duration::from_secs(900))
        );
        // Another address is unaffected; the lock expires.
        assert_eq!(t.check(ip("10.0.0.2"), None, now), Verdict::Allow);
        assert_eq!(
            t.check(a, None, now + Duration::from_secs(901)),
            Verdict::Allow
        );
    }

    #[test]
    fn success_clears_address_failures() {
        let t = Throttle::default();
        let a = ip("10.0.0.1");
        let now = Instant::now();
        for _ in 0..5 {
            t.failure(a, Some("admin"), now);
        }
        t.success(a, "admin", now);
        t.failure(a, Some("admin"), now);
        assert_eq!(t.check(a, Some("admin"), now), Verdict::Allow);
    }

    #[test]
    fn distributed_attack_locks_user_but_not_for_known_addresses() {
        let t = Throttle::default();
        let now = Instant::now();
        let home = ip("192.0.2.7");
        t.success(home, "admin", now);
        for i in 0..11 {
            t.failure(ip(&format!("198.51.100.{i}")), Some("admin"), now);
        }
        let fresh = ip("203.0.113.9");
        assert!(matches!(
            t.check(fresh, Some("admin"), now),
            Verdict::Locked(_)
        ));
        assert_eq!(t.check(home, Some("admin"), now), Verdict::Allow);
        assert_eq!(t.check(fresh, Some("other"), now), Verdict::Allow);
        // The user lock is capped.
        for i in 0..40 {
            t.failure(ip(&format!("198.51.101.{i}")), Some("admin"), now);
        }
        match t.check(fresh, Some("admin"), now) {
            Verdict::Locked(d) => assert!(d <= Duration::from_secs(60)),
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn ipv6_grouped_by_64() {
        let t = Throttle::default();
        let now = Instant::now();
        for i in 0..6 {
            t.failure(ip(&format!("2001:db8:1:2::{i}")), None, now);
        }
        assert!(matches!(
            t.check(ip("2001:db8:1:2::ffff"), None, now),
            Verdict::Locked(_)
        ));
        assert_eq!(t.check(ip("2001:db8:1:3::1"), None, now), Verdict::Allow);
    }

    #[test]
    fn memory_bounded_at_and_past_edge() {
        let t = Throttle::new(Policy {
            max_entries: 100,
            ..Policy::default()
        });
        let now = Instant::now();
        for i in 0..100u32 {
            t.failure(IpAddr::from(i.to_be_bytes()), Some(&format!("u{i}")), now);
        }
        assert_eq!(t.sizes().0, 100);
        assert_eq!(t.sizes().1, 100);
        for i in 100..300u32 {
            t.failure(IpAddr::from(i.to_be_bytes()), Some(&format!("u{i}")), now);
            t.success(IpAddr::from(i.to_be_bytes()), &format!("u{i}"), now);
        }
        let (a, u, k) = t.sizes();
        assert!(a <= 100 && u <= 100 && k <= 100, "{a} {u} {k}");
    }

    #[test]
    fn a_flood_of_names_cannot_evict_a_lock() {
        let t = Throttle::new(Policy {
            max_entries: 50,
            ..Policy::default()
        });
        let now = Instant::now();
        // Fifteen failures: locked for 16 s, and the oldest entry in the table.
        for i in 0..15 {
            t.failure(ip(&format!("198.51.100.{i}")), Some("victim"), now);
        }
        let fresh = ip("203.0.113.9");
        assert!(matches!(
            t.check(fresh, Some("victim"), now),
            Verdict::Locked(_)
        ));
        // Many more made-up names than the table holds, each failing once from its own address.
        let soon = now + Duration::from_secs(1);
        for i in 0..500u32 {
            t.failure(
                IpAddr::from((i + 1000).to_be_bytes()),
                Some(&format!("x{i}")),
                soon,
            );
        }
        assert!(t.sizes().1 <= 50);
        assert!(
            matches!(t.check(fresh, Some("victim"), soon), Verdict::Locked(_)),
            "the flood evicted a locked entry"
        );
        // Once the lock has run out, the entry may go like any other.
        let later = now + Duration::from_secs(61);
        for i in 0..500u32 {
            t.failure(
                IpAddr::from((i + 5000).to_be_bytes()),
                Some(&format!("y{i}")),
                later,
            );
        }
        assert_eq!(t.check(fresh, Some("victim"), later), Verdict::Allow);
    }

    #[test]
    fn a_full_table_of_locks_keeps_them_all() {
        let t = Throttle::new(Policy {
            max_entries: 3,
            ..Policy::default()
        });
        let now = Instant::now();
        for a in ["10.0.0.1", "10.0.0.2", "10.0.0.3"] {
            for _ in 0..6 {
                t.failure(ip(a), None, now);
            }
        }
        // At the cap, every entry locked: a fourth address is not tracked...
        for _ in 0..10 {
            t.failure(ip("10.0.0.4"), None, now);
        }
        assert_eq!(t.sizes().0, 3);
        assert_eq!(t.check(ip("10.0.0.4"), None, now), Verdict::Allow);
        // ...and the three locks hold.
        for a in ["10.0.0.1", "10.0.0.2", "10.0.0.3"] {
            assert!(
                matches!(t.check(ip(a), None, now), Verdict::Locked(_)),
                "{a}"
            );
        }
    }

    #[test]
    fn eviction_drops_the_oldest_unlocked_entry() {
        let t = Throttle::new(Policy {
            max_entries: 2,
            ..Policy::default()
        });
        let now = Instant::now();
        let (old, new) = (ip("10.0.0.1"), ip("10.0.0.2"));
        for _ in 0..5 {
            t.failure(old, None, now);
        }
        let later = now + Duration::from_secs(1);
        for _ in 0..5 {
            t.failure(new, None, later);
        }
        // A third address at the cap: the oldest entry goes, the newer one keeps its count.
        t.failure(ip("10.0.0.3"), None, later);
        t.failure(new, None, later);
        assert!(
            matches!(t.check(new, None, later), Verdict::Locked(_)),
            "the newer entry was evicted"
        );
        t.failure(old, None, later);
        assert_eq!(
            t.check(old, None, later),
            Verdict::Allow,
            "the oldest entry was kept"
        );
    }

    #[test]
    fn ipv4_mapped_addresses_count_as_their_ipv4_address() {
        let t = Throttle::default();
        let now = Instant::now();
        for _ in 0..6 {
            t.failure(ip("::ffff:10.0.0.1"), None, now);
        }
        assert!(matches!(
            t.check(ip("10.0.0.1"), None, now),
            Verdict::Locked(_)
        ));
        // On a `::` listener every IPv4 client is mapped: one must not lock out the others,
        // which would share a /64 if the address were not unmapped.
        assert_eq!(t.check(ip("::ffff:10.0.0.2"), None, now), Verdict::Allow);
        assert_eq!(t.check(ip("::ffff:10.9.9.9"), None, now), Verdict::Allow);
    }

    #[test]
    fn edges_of_the_lock_and_the_window() {
        let t = Throttle::default();
        let a = ip("10.0.0.1");
        let now = Instant::now();
        for _ in 0..6 {
            t.failure(a, None, now);
        }
        // A 1 s lock: held until its last instant, over at exactly 1 s.
        let end = now + Duration::from_secs(1);
        assert!(matches!(
            t.check(a, None, end - Duration::from_nanos(1)),
            Verdict::Locked(_)
        ));
        assert_eq!(t.check(a, None, end), Verdict::Allow);
        // A failure exactly one window after the first still counts in it...
        let b = ip("10.0.0.2");
        for _ in 0..5 {
            t.failure(b, None, now);
        }
        t.failure(b, None, now + Duration::from_secs(300));
        assert!(matches!(
            t.check(b, None, now + Duration::from_secs(300)),
            Verdict::Locked(_)
        ));
        // ...and once the window has passed and the lock has run out, the count starts over.
        let later = now + Duration::from_secs(301);
        t.failure(a, None, later);
        assert_eq!(
            t.check(a, None, later),
            Verdict::Allow,
            "the count did not reset"
        );
    }

    #[test]
    fn a_known_address_is_exempt_for_exactly_known_for() {
        let t = Throttle::default();
        let t0 = Instant::now();
        let home = ip("192.0.2.7");
        t.success(home, "admin", t0);
        let day = t0 + Duration::from_secs(24 * 3600);
        // Fifteen failures from elsewhere lock the user for 16 s, from a second before the end.
        for i in 0..15 {
            t.failure(
                ip(&format!("198.51.100.{i}")),
                Some("admin"),
                day - Duration::from_secs(1),
            );
        }
        let just_before = day - Duration::from_nanos(1);
        assert_eq!(t.check(home, Some("admin"), just_before), Verdict::Allow);
        assert!(matches!(
            t.check(home, Some("admin"), day),
            Verdict::Locked(_)
        ));
    }

    #[test]
    fn the_known_addresses_are_bounded_and_keep_the_live_ones() {
        let t = Throttle::new(Policy {
            max_entries: 2,
            ..Policy::default()
        });
        let t0 = Instant::now();
        let (a, b, c) = (ip("10.0.0.1"), ip("10.0.0.2"), ip("10.0.0.3"));
        t.success(b, "bob", t0);
        t.success(a, "alice", t0 + Duration::from_secs(1));
        // Full: logging in again from a known place drops nobody.
        t.success(a, "alice", t0 + Duration::from_secs(2));
        assert_eq!(t.sizes().2, 2);
        // Past b's 24 hours: a new place replaces the expired entry, not the live one.
        let later = t0 + Duration::from_secs(24 * 3600 + 1);
        t.success(c, "carol", later);
        assert_eq!(t.sizes().2, 2);
        for i in 0..15 {
            t.failure(ip(&format!("198.51.100.{i}")), Some("alice"), later);
        }
        assert_eq!(
            t.check(a, Some("alice"), later),
            Verdict::Allow,
            "a live known address was dropped"
        );
    }

    #[test]
    fn window_resets_failures() {
        let t = Throttle::default();
        let a = ip("10.0.0.1");
        let now = Instant::now();
        for _ in 0..5 {
            t.failure(a, None, now);
        }
        let later = now + Duration::from_secs(301);
        t.failure(a, None, later);
        assert_eq!(t.check(a, None, later), Verdict::Allow);
    }
}
