//! Brute-force counts and locks shared through Redis (`[server] throttleStore = "redis"`), so
//! that failures spread over several nodes add up and a lock holds on every node.
//!
//! Per address and per user name (the name as 16 hex digits of its SHA-256: fixed-size keys,
//! no names in Redis), under the key prefix `P`:
//! - `P thr:<kind>:<id>`: the failure count, expiring `window` after the first failure;
//! - `P thr:<kind>l:<id>`: the lock, expiring when it runs out.
//!
//! A failure runs one Lua script (atomic on the server): increment, set the window's expiry,
//! and past the free failures set the lock for `base_lock * 2^(n - free - 1)`, at most the
//! kind's maximum, keeping the count alive as long as the lock so the next failure doubles it.
//! A check reads the lock's remaining time (`PTTL`). A success deletes the address's count and
//! lock. Which (user, address) pairs logged in before stays per node (see `throttle`).
//!
//! Each node also counts locally, always. When Redis does not answer, the shared counts are
//! skipped for `RETRY_AFTER` and the local ones decide; this is logged once per outage. So a
//! Redis outage weakens the throttle to its single-node strength, never stops logins, and costs
//! at most one timeout per `RETRY_AFTER`.

use crate::config::RedisConfig;
use crate::revocation::redis::ClientError;
use crate::throttle::{Kind, Policy, SharedCounts};
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long the shared counts are skipped after Redis failed to answer.
pub const RETRY_AFTER: Duration = Duration::from_secs(5);

/// KEYS[1] count, KEYS[2] lock; ARGV window ms, free failures, base lock ms, max lock ms.
const FAIL_SCRIPT: &str = r"
local n = redis.call('INCR', KEYS[1])
local window = tonumber(ARGV[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], window) end
local free = tonumber(ARGV[2])
if n > free then
  local d = n - free - 1
  if d > 20 then d = 20 end
  local lock = tonumber(ARGV[3]) * (2 ^ d)
  local maxl = tonumber(ARGV[4])
  if lock > maxl then lock = maxl end
  lock = math.floor(lock)
  if lock < 1 then lock = 1 end
  redis.call('SET', KEYS[2], '1', 'PX', lock)
  if redis.call('PTTL', KEYS[1]) < lock + window then
    redis.call('PEXPIRE', KEYS[1], lock + window)
  end
end
return n
";

pub struct RedisThrottle {
    client: redis::Client,
    prefix: String,
    connect_timeout: Duration,
    timeout: Duration,
    script: redis::Script,
    con: Mutex<Option<redis::Connection>>,
    /// Until when Redis is skipped after a failure.
    skip_until: Mutex<Option<Instant>>,
    /// Whether the outage was logged (once per outage).
    down: AtomicBool,
}

fn tag(kind: Kind) -> &'static str {
    match kind {
        Kind::Address => "a",
        Kind::User => "u",
    }
}

/// The key part for an address or user: 16 hex digits of SHA-256.
fn id(key: &str) -> String {
    Sha256::digest(key.as_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl RedisThrottle {
    /// Parses the URL; connects on first use (a node starts whether or not Redis answers).
    pub fn new(config: &RedisConfig) -> Result<RedisThrottle, ClientError> {
        let client = crate::revocation::redis::client(config)?;
        Ok(RedisThrottle {
            client,
            prefix: config.key_prefix.clone(),
            connect_timeout: config.connect_timeout,
            timeout: config.timeout,
            script: redis::Script::new(FAIL_SCRIPT),
            con: Mutex::new(None),
            skip_until: Mutex::new(None),
            down: AtomicBool::new(false),
        })
    }

    fn keys(&self, kind: Kind, key: &str) -> (String, String) {
        let t = tag(kind);
        let i = id(key);
        (
            format!("{}thr:{t}:{i}", self.prefix),
            format!("{}thr:{t}l:{i}", self.prefix),
        )
    }

    /// Runs `f` on the connection unless Redis is being skipped; None when skipped or failed.
    fn with<T>(
        &self,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Option<T> {
        {
            let mut skip = self.skip_until.lock().unwrap_or_else(|e| e.into_inner());
            match *skip {
                Some(t) if Instant::now() < t => return None,
                Some(_) => *skip = None,
                None => {}
            }
        }
        let mut guard = self.con.lock().unwrap_or_else(|e| e.into_inner());
        let result = (|| {
            if guard.is_none() {
                let c = self
                    .client
                    .get_connection_with_timeout(self.connect_timeout)?;
                c.set_read_timeout(Some(self.timeout))?;
                c.set_write_timeout(Some(self.timeout))?;
                *guard = Some(c);
            }
            match guard.as_mut() {
                Some(c) => f(c),
                None => Err(redis::RedisError::from(std::io::Error::other(
                    "no connection",
                ))),
            }
        })();
        match result {
            Ok(v) => {
                if self.down.swap(false, Ordering::Relaxed) {
                    crate::log::info("throttle: Redis answers again; failure counts are shared");
                }
                Some(v)
            }
            Err(e) => {
                *guard = None;
                *self.skip_until.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(Instant::now() + RETRY_AFTER);
                if !self.down.swap(true, Ordering::Relaxed) {
                    // The error's kind only: its text could carry connection details.
                    crate::log::warn(&format!(
                        "throttle: Redis did not answer ({:?}); counting failures on this node \
                         only until it does",
                        e.kind()
                    ));
                }
                None
            }
        }
    }
}

impl SharedCounts for RedisThrottle {
    fn locked(&self, kind: Kind, key: &str) -> Option<Duration> {
        let (_, lock) = self.keys(kind, key);
        let ms: i64 = self.with(|c| redis::cmd("PTTL").arg(&lock).query(c))?;
        (ms > 0).then(|| Duration::from_millis(ms as u64))
    }

    fn fail(&self, kind: Kind, key: &str, free: u32, p: &Policy, max_lock: Duration) {
        let (count, lock) = self.keys(kind, key);
        let ms = |d: Duration| d.as_millis().min(i64::MAX as u128) as i64;
        let _: Option<i64> = self.with(|c| {
            self.script
                .key(&count)
                .key(&lock)
                .arg(ms(p.window).max(1))
                .arg(free)
                .arg(ms(p.base_lock).max(1))
                .arg(ms(max_lock).max(1))
                .invoke(c)
        });
    }

    fn clear(&self, kind: Kind, key: &str) {
        let (count, lock) = self.keys(kind, key);
        let _: Option<i64> = self.with(|c| redis::cmd("DEL").arg(&count).arg(&lock).query(c));
    }
}
