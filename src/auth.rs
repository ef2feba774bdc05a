//! Basic authentication: the `Authorization` header decoder and the `[b7a.users]` password formats.

use crate::secret::Secret;
use base64::Engine;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// A `[b7a.users.NAME]` entry: who may log in, with what, and with which scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub password: PasswordHash,
    pub scopes: Vec<String>,
}

/// Why a request carries no usable credentials. Messages never echo the header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    Missing,
    NotBasic,
    BadBase64,
    NotUtf8,
    NoColon,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthError::Missing => "Authorization header is missing",
            AuthError::NotBasic => "Authorization header does not use the Basic scheme",
            AuthError::BadBase64 => "Authorization header: Basic credentials are not valid base64",
            AuthError::NotUtf8 => "Authorization header: Basic credentials are not UTF-8",
            AuthError::NoColon => "Authorization header: Basic credentials lack the ':' separator",
        })
    }
}

impl std::error::Error for AuthError {}

#[derive(Debug)]
pub struct Credentials {
    pub user: String,
    pub password: Secret,
}

/// Longest base64 credential we decode; bounded by the header limit anyway, this keeps the
/// decoder's allocation small when limits are raised.
pub const MAX_CREDENTIALS_B64: usize = 4096;

/// Decodes an `Authorization` header value (`Basic <base64(user:pass)>`, scheme case-insensitive,
/// padding optional).
pub fn decode_basic(value: Option<&[u8]>) -> Result<Credentials, AuthError> {
    let value = value.ok_or(AuthError::Missing)?;
    let value = std::str::from_utf8(value).map_err(|_| AuthError::NotBasic)?;
    let value = value.trim();
    let (scheme, rest) = value.split_once([' ', '\t']).ok_or(AuthError::NotBasic)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(AuthError::NotBasic);
    }
    let b64 = rest.trim();
    if b64.len() > MAX_CREDENTIALS_B64 {
        return Err(AuthError::BadBase64);
    }
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let bytes = zeroize::Zeroizing::new(engine.decode(b64).map_err(|_| AuthError::BadBase64)?);
    let text = std::str::from_utf8(&bytes).map_err(|_| AuthError::NotUtf8)?;
    let (user, password) = text.split_once(':').ok_or(AuthError::NoColon)?;
    Ok(Credentials {
        user: user.to_string(),
        password: Secret::new(password.to_string()),
    })
}

/// A stored password, as written in `[b7a.users.NAME] password`.
#[derive(Clone, PartialEq, Eq)]
pub enum PasswordHash {
    /// No prefix: lowercase SHA-1 hex, the original's legacy default.
    Sha1(Vec<u8>),
    Sha256(Vec<u8>),
    Sha384(Vec<u8>),
    Sha512(Vec<u8>),
    /// `$pbkdf2-sha256$i=N,l=L$salt$hash` (PHC string format, B64 without padding), or
    /// passlib's `$pbkdf2-sha256$N$salt$hash` (its "adapted base64" writes `.` for `+`).
    Pbkdf2Sha256 {
        iterations: u32,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
}

/// Iterations `hash-password` uses: OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256.
pub const PBKDF2_DEFAULT_ITERATIONS: u32 = 600_000;
/// Accepted range when reading a config: below is too weak, above lets a config stall startup.
pub const PBKDF2_MIN_ITERATIONS: u32 = 10_000;
pub const PBKDF2_MAX_ITERATIONS: u32 = 10_000_000;

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PasswordHash::Sha1(_) => "PasswordHash::Sha1(..)",
            PasswordHash::Sha256(_) => "PasswordHash::Sha256(..)",
            PasswordHash::Sha384(_) => "PasswordHash::Sha384(..)",
            PasswordHash::Sha512(_) => "PasswordHash::Sha512(..)",
            PasswordHash::Pbkdf2Sha256 { .. } => "PasswordHash::Pbkdf2Sha256(..)",
        })
    }
}

/// A password value that is in none of the accepted formats. Never echoes the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordFormatError(pub String);

impl fmt::Display for PasswordFormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PasswordFormatError {}

fn hex_decode(s: &str, len: usize, what: &str) -> Result<Vec<u8>, PasswordFormatError> {
    let bad = || {
        PasswordFormatError(format!(
            "{what} must be {} hex digits (the digest of the password, never the password itself)",
            len * 2
        ))
    };
    if s.len() != len * 2 || !s.is_ascii() {
        return Err(bad());
    }
    (0..len)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| bad()))
        .collect()
}

impl PasswordHash {
    pub fn parse(raw: &str) -> Result<PasswordHash, PasswordFormatError> {
        let raw = raw.trim();
        let prefixed = |prefix: &str| {
            raw.strip_prefix(prefix)
                .and_then(|r| r.strip_prefix('{'))
                .and_then(|r| r.strip_suffix('}'))
        };
        if let Some(h) = prefixed("@sha256:") {
            Ok(PasswordHash::Sha256(hex_decode(h, 32, "@sha256:{...}")?))
        } else if let Some(h) = prefixed("@sha384:") {
            Ok(PasswordHash::Sha384(hex_decode(h, 48, "@sha384:{...}")?))
        } else if let Some(h) = prefixed("@sha512:") {
            Ok(PasswordHash::Sha512(hex_decode(h, 64, "@sha512:{...}")?))
        } else if let Some(phc) = raw.strip_prefix("$pbkdf2-sha256$") {
            parse_pbkdf2(phc)
        } else if raw.starts_with('@') || raw.starts_with('$') {
            Err(PasswordFormatError(
                "unknown password format; accepted: $pbkdf2-sha256$... (apikey-sts hash-password), SHA-1 hex, @sha256:{hex}, @sha384:{hex}, @sha512:{hex}"
                    .into(),
            ))
        } else {
            Ok(PasswordHash::Sha1(hex_decode(
                &raw.to_ascii_lowercase(),
                20,
                "an unprefixed password (SHA-1)",
            )?))
        }
    }

    /// Slow hashes get the verified-credentials cache and the concurrency gate.
    pub fn is_slow(&self) -> bool {
        matches!(self, PasswordHash::Pbkdf2Sha256 { .. })
    }

    /// Constant-time comparison of the password's digest with the stored one.
    pub fn verify(&self, password: &[u8]) -> bool {
        let (stored, computed): (&[u8], Vec<u8>) = match self {
            PasswordHash::Pbkdf2Sha256 {
                iterations,
                salt,
                hash,
            } => {
                let mut out = vec![0u8; hash.len()];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, *iterations, &mut out);
                (hash, out)
            }
            PasswordHash::Sha1(h) => (h, Sha1::digest(password).to_vec()),
            PasswordHash::Sha256(h) => (h, Sha256::digest(password).to_vec()),
            PasswordHash::Sha384(h) => (h, Sha384::digest(password).to_vec()),
            PasswordHash::Sha512(h) => (h, Sha512::digest(password).to_vec()),
        };
        bool::from(stored.ct_eq(&computed))
    }
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD_NO_PAD;

fn parse_pbkdf2(phc: &str) -> Result<PasswordHash, PasswordFormatError> {
    let bad = |what: &str| {
        PasswordFormatError(format!(
            "$pbkdf2-sha256$ value: {what} (expected $pbkdf2-sha256$i=ITERATIONS,l=LENGTH$SALT$HASH)"
        ))
    };
    let mut parts = phc.split('$');
    let (Some(params), Some(salt), Some(hash), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("wrong number of fields"));
    };
    let mut iterations = None;
    let mut length = None;
    // passlib's form: the rounds alone, no `i=`.
    if !params.is_empty() && params.bytes().all(|b| b.is_ascii_digit()) {
        iterations = params.parse::<u32>().ok();
    } else {
        for kv in params.split(',') {
            match kv.split_once('=') {
                Some(("i", v)) => iterations = v.parse::<u32>().ok(),
                Some(("l", v)) => length = v.parse::<usize>().ok(),
                _ => return Err(bad("unknown parameter")),
            }
        }
    }
    let iterations = iterations.ok_or_else(|| bad("missing or invalid i="))?;
    if !(PBKDF2_MIN_ITERATIONS..=PBKDF2_MAX_ITERATIONS).contains(&iterations) {
        return Err(bad(&format!(
            "iterations must be {PBKDF2_MIN_ITERATIONS}..={PBKDF2_MAX_ITERATIONS}"
        )));
    }
    // passlib writes '.' for '+' ("adapted base64"); accept both.
    let salt = B64
        .decode(salt.replace('.', "+"))
        .map_err(|_| bad("salt is not base64"))?;
    let hash = B64
        .decode(hash.replace('.', "+"))
        .map_err(|_| bad("hash is not base64"))?;
    if !(8..=64).contains(&salt.len()) {
        return Err(bad("salt must be 8..=64 bytes"));
    }
    if !(16..=64).contains(&hash.len()) || length.is_some_and(|l| l != hash.len()) {
        return Err(bad("hash must be 16..=64 bytes and match l="));
    }
    Ok(PasswordHash::Pbkdf2Sha256 {
        iterations,
        salt,
        hash,
    })
}

/// The config value for `password`, salted from the OS RNG.
pub fn hash_password(password: &[u8], iterations: u32) -> Result<String, getrandom::Error> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt)?;
    let mut hash = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password, &salt, iterations, &mut hash);
    Ok(format!(
        "$pbkdf2-sha256$i={iterations},l=32${}${}",
        B64.encode(salt),
        B64.encode(hash)
    ))
}

/// Result of a login attempt.
#[derive(Debug, PartialEq, Eq)]
pub enum Login<'a> {
    Ok(&'a User),
    Invalid,
    /// Too many slow hashes are running: answer 503 rather than queue CPU work.
    Busy,
}

/// How long a verified slow-hash login is remembered.
pub const LOGIN_CACHE_TTL: Duration = Duration::from_secs(300);
/// Most remembered logins; past it the oldest is dropped.
pub const LOGIN_CACHE_MAX: usize = 1024;

/// Remembers recent successful slow-hash logins under a keyed digest, so that a client that logs
/// in again costs one HMAC instead of a PBKDF2. Wrong passwords never hit it.
struct LoginCache {
    key: [u8; 32],
    map: Mutex<HashMap<[u8; 32], Instant>>,
}

impl LoginCache {
    fn new() -> LoginCache {
        let mut key = [0u8; 32];
        // Without OS randomness the cache is merely disabled (all-zero key is never used).
        let ok = getrandom::fill(&mut key).is_ok();
        LoginCache {
            key: if ok { key } else { [0; 32] },
            map: Mutex::new(HashMap::new()),
        }
    }

    fn enabled(&self) -> bool {
        self.key != [0; 32]
    }

    fn digest(&self, user: &str, password: &[u8]) -> [u8; 32] {
        use hmac::{KeyInit, Mac};
        let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(user.as_bytes());
        mac.update(&[0]);
        mac.update(password);
        mac.finalize().into_bytes().into()
    }

    fn hit(&self, d: &[u8; 32], now: Instant) -> bool {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(d).is_some_and(|&exp| exp > now)
    }

    fn insert(&self, d: [u8; 32], now: Instant) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= LOGIN_CACHE_MAX {
            map.retain(|_, exp| *exp > now);
            if map.len() >= LOGIN_CACHE_MAX {
                if let Some(k) = map.iter().min_by_key(|(_, e)| **e).map(|(k, _)| *k) {
                    map.remove(&k);
                }
            }
        }
        map.insert(d, now + LOGIN_CACHE_TTL);
    }
}

/// The configured users, looked up by name.
///
/// An unknown user costs no hashing at all. Failed logins do not tell users apart by their
/// timing because the issuer answers every failure at the same fixed delay (held by the
/// server's timers, see `service::Outcome::hold`), not because every failure does the slowest
/// hash's work: a decoy hash would let a flood of made-up names take the slow-hash slots.
pub struct UserDb {
    users: HashMap<String, User>,
    cache: LoginCache,
    /// Slow hashes running now, and the most allowed at once.
    slow_inflight: AtomicUsize,
    max_slow: usize,
}

impl std::fmt::Debug for UserDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserDb")
            .field("users", &self.users.len())
            .finish_non_exhaustive()
    }
}

impl UserDb {
    /// `max_slow`: slow hashes allowed at once; keep it below the worker count so that issuing
    /// keys to cached or legacy-hash users goes on while PBKDF2 runs.
    pub fn new(users: &[User], max_slow: usize) -> UserDb {
        UserDb {
            users: users.iter().map(|u| (u.name.clone(), u.clone())).collect(),
            cache: LoginCache::new(),
            slow_inflight: AtomicUsize::new(0),
            max_slow: max_slow.max(1),
        }
    }

    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.get(name)
    }

    /// Checks the password. An unknown user is refused at once, without hashing.
    pub fn authenticate(&self, creds: &Credentials) -> Login<'_> {
        let password = creds.password.expose().as_bytes();
        let user = self.users.get(&creds.user);
        let Some(user) = user else {
            return Login::Invalid;
        };
        let hash = &user.password;
        let ok = if hash.is_slow() {
            // The gate bounds slow checks whether or not the cache can remember them: without a
            // random cache key every PBKDF2 login is a slow check.
            let now = Instant::now();
            let digest = self
                .cache
                .enabled()
                .then(|| self.cache.digest(&creds.user, password));
            if digest.as_ref().is_some_and(|d| self.cache.hit(d, now)) {
                true
            } else {
                let running = self.slow_inflight.fetch_add(1, Ordering::AcqRel);
                if running >= self.max_slow {
                    self.slow_inflight.fetch_sub(1, Ordering::AcqRel);
                    return Login::Busy;
                }
                crate::metrics::set_slow_checks(running + 1);
                let ok = hash.verify(password);
                self.slow_inflight.fetch_sub(1, Ordering::AcqRel);
                crate::metrics::set_slow_checks(self.slow_inflight.load(Ordering::Acquire));
                if let (true, Some(d)) = (ok, digest) {
                    self.cache.insert(d, now);
                }
                ok
            }
        } else {
            hash.verify(password)
        };
        if ok {
            Login::Ok(user)
        } else {
            Login::Invalid
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, pw: &str) -> User {
        User {
            name: name.into(),
            password: PasswordHash::parse(pw).unwrap(),
            scopes: vec![],
        }
    }

    #[test]
    fn decodes_basic_any_case_with_or_without_padding() {
        let c = decode_basic(Some(b"Basic YWRtaW46YWRtaW4=")).unwrap();
        assert_eq!((c.user.as_str(), c.password.expose()), ("admin", "admin"));
        let c = decode_basic(Some(b"bAsIc   YWRtaW46YWRtaW4")).unwrap();
        assert_eq!(c.user, "admin");
        // Password may contain ':'.
        let v = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("u:p:q")
        );
        let c = decode_basic(Some(v.as_bytes())).unwrap();
        assert_eq!((c.user.as_str(), c.password.expose()), ("u", "p:q"));
    }

    #[test]
    fn rejects_malformed_headers() {
        assert_eq!(decode_basic(None).unwrap_err(), AuthError::Missing);
        assert_eq!(
            decode_basic(Some(b"Bearer abc")).unwrap_err(),
            AuthError::NotBasic
        );
        assert_eq!(
            decode_basic(Some(b"Basic")).unwrap_err(),
            AuthError::NotBasic
        );
        assert_eq!(
            decode_basic(Some(b"Basic !!!")).unwrap_err(),
            AuthError::BadBase64
        );
        assert_eq!(
            decode_basic(Some(b"Basic YWRtaW4=")).unwrap_err(),
            AuthError::NoColon
        );
        assert_eq!(
            decode_basic(Some(b"Basic /w==")).unwrap_err(),
            AuthError::NotUtf8
        );
        assert_eq!(
            decode_basic(Some(b"\xffBasic x")).unwrap_err(),
            AuthError::NotBasic
        );
    }

    #[test]
    fn credential_length_limit_at_and_past_edge() {
        // 4096 base64 chars = 3072 bytes "a:aaaa...".
        let raw = format!("a:{}", "a".repeat(3070));
        let b64 = base64::engine::general_purpose::STANDARD.encode(&raw);
        assert_eq!(b64.len(), MAX_CREDENTIALS_B64);
        assert!(decode_basic(Some(format!("Basic {b64}").as_bytes())).is_ok());
        let b64 = format!("{b64}QQ");
        assert_eq!(
            decode_basic(Some(format!("Basic {b64}").as_bytes())).unwrap_err(),
            AuthError::BadBase64
        );
    }

    #[test]
    fn legacy_and_prefixed_formats() {
        let sha1_admin = "d033e22ae348aeb5660fc2140aec35850c4da997";
        assert!(PasswordHash::parse(sha1_admin).unwrap().verify(b"admin"));
        assert!(PasswordHash::parse(&sha1_admin.to_uppercase())
            .unwrap()
            .verify(b"admin"));
        assert!(!PasswordHash::parse(sha1_admin).unwrap().verify(b"admin "));
        let s256 = "@sha256:{5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8}";
        assert!(PasswordHash::parse(s256).unwrap().verify(b"password"));
        let h384 = Sha384::digest(b"pw384");
        let s384 = format!("@sha384:{{{}}}", hex(&h384));
        assert!(PasswordHash::parse(&s384).unwrap().verify(b"pw384"));
        let h512 = Sha512::digest(b"pw512");
        let s512 = format!("@sha512:{{{}}}", hex(&h512));
        assert!(PasswordHash::parse(&s512).unwrap().verify(b"pw512"));
        assert!(!PasswordHash::parse(&s512).unwrap().verify(b"pw384"));
    }

    #[test]
    fn bad_formats_rejected_without_echo() {
        for bad in ["admin", "@md5:{abc}", "@sha256:{xyz}", "@sha256:5e88", ""] {
            let e = PasswordHash::parse(bad).unwrap_err();
            if !bad.is_empty() {
                assert!(!e.0.contains(bad), "{e}");
            }
        }
        // Multi-byte characters must not panic the hex decoder.
        assert!(PasswordHash::parse(&"é".repeat(20)).is_err());
    }

    #[test]
    fn userdb_authenticates() {
        let db = UserDb::new(
            &[user("admin", "d033e22ae348aeb5660fc2140aec35850c4da997")],
            1,
        );
        let ok = Credentials {
            user: "admin".into(),
            password: Secret::new("admin".into()),
        };
        assert!(matches!(db.authenticate(&ok), Login::Ok(u) if u.name == "admin"));
        let bad = Credentials {
            user: "admin".into(),
            password: Secret::new("nope".into()),
        };
        assert_eq!(db.authenticate(&bad), Login::Invalid);
        let unknown = Credentials {
            user: "eve".into(),
            password: Secret::new("admin".into()),
        };
        assert_eq!(db.authenticate(&unknown), Login::Invalid);
    }

    #[test]
    fn pbkdf2_round_trip_and_cache() {
        let v = hash_password(b"s3cret", PBKDF2_MIN_ITERATIONS).unwrap();
        assert!(v.starts_with("$pbkdf2-sha256$i=10000,l=32$"));
        let h = PasswordHash::parse(&v).unwrap();
        assert!(h.verify(b"s3cret"));
        assert!(!h.verify(b"s3cret "));
        // Two hashes of one password differ (salted).
        assert_ne!(v, hash_password(b"s3cret", PBKDF2_MIN_ITERATIONS).unwrap());
        let db = UserDb::new(&[user("ops", &v)], 1);
        let creds = |pw: &str| Credentials {
            user: "ops".into(),
            password: Secret::new(pw.into()),
        };
        assert!(matches!(db.authenticate(&creds("s3cret")), Login::Ok(_)));
        // Second login is served from the cache.
        assert!(matches!(db.authenticate(&creds("s3cret")), Login::Ok(_)));
        assert_eq!(db.authenticate(&creds("wrong")), Login::Invalid);
        // Gate full: a slow hash is refused, a cached login still passes.
        db.slow_inflight.store(1, Ordering::SeqCst);
        assert_eq!(db.authenticate(&creds("wrong")), Login::Busy);
        assert!(matches!(db.authenticate(&creds("s3cret")), Login::Ok(_)));
        // An unknown user is refused without hashing: it needs no slot, so a flood of made-up
        // names can never take the slots from real users.
        let ghost = Credentials {
            user: "ghost".into(),
            password: Secret::new("s3cret".into()),
        };
        assert_eq!(db.authenticate(&ghost), Login::Invalid);
    }

    #[test]
    fn hashes_made_by_passlib_verify() {
        // Made by passlib 1.7.4: pbkdf2_sha256.using(rounds=29000, salt=bytes(range(16)))
        // .hash("correct horse"); its hash has a '.' where standard base64 has '+'.
        let a = "$pbkdf2-sha256$29000$AAECAwQFBgcICQoLDA0ODw$ZvLORN3Wu1.2s6Mb0kBKZ43bylSsC/t0Vz5rE9nJPNg";
        let h = PasswordHash::parse(a).unwrap();
        assert!(h.verify(b"correct horse"));
        assert!(!h.verify(b"correct horsf"));
        // pbkdf2_sha256.using(rounds=12345, salt_size=16).hash("p\u{e4}ssw\u{f6}rd") (UTF-8).
        let b = "$pbkdf2-sha256$12345$JgRAyLkXwrg3ZixlrDUmxA$nS2MSwToSAE1vDimTAjViavhYOchieNOmOp/cpUU6LQ";
        assert!(PasswordHash::parse(b)
            .unwrap()
            .verify("p\u{e4}ssw\u{f6}rd".as_bytes()));
        // The rounds are bounded as for `i=`.
        assert!(PasswordHash::parse(&a.replace("$29000$", "$9999$")).is_err());
        assert!(PasswordHash::parse(&a.replace("$29000$", "$$")).is_err());
    }

    #[test]
    fn verified_login_cache_expires_and_is_bounded() {
        let c = LoginCache::new();
        assert!(c.enabled());
        let now = Instant::now();
        let d = c.digest("ops", b"pw");
        c.insert(d, now);
        assert!(c.hit(&d, now + LOGIN_CACHE_TTL - Duration::from_millis(1)));
        assert!(
            !c.hit(&d, now + LOGIN_CACHE_TTL),
            "an entry outlived its TTL"
        );
        // At the bound: the 1,025th login drops the oldest one, not the newest.
        let c = LoginCache::new();
        let digests: Vec<[u8; 32]> = (0..=LOGIN_CACHE_MAX)
            .map(|i| c.digest(&format!("u{i}"), b"pw"))
            .collect();
        for (i, d) in digests.iter().enumerate() {
            c.insert(*d, now + Duration::from_millis(i as u64));
        }
        let at = now + Duration::from_millis(LOGIN_CACHE_MAX as u64);
        assert_eq!(c.map.lock().unwrap().len(), LOGIN_CACHE_MAX);
        assert!(!c.hit(&digests[0], at), "the oldest entry was kept");
        assert!(c.hit(&digests[1], at));
        assert!(
            c.hit(&digests[LOGIN_CACHE_MAX], at),
            "the newest entry was dropped"
        );
    }

    #[test]
    fn pbkdf2_known_vector_and_bad_params() {
        // RFC 7914 section 11 test vector (PBKDF2-HMAC-SHA256, c=80000 is too slow in a test;
        // use the c=1 vector through the primitive and the parser's bounds separately).
        let mut out = [0u8; 64];
        pbkdf2::pbkdf2_hmac::<Sha256>(b"passwd", b"salt", 1, &mut out);
        assert_eq!(hex(&out[..8]), "55ac046e56e3089f");
        let salt = B64.encode([1u8; 16]);
        let hash = B64.encode([2u8; 32]);
        let ok = format!("$pbkdf2-sha256$i=10000,l=32${salt}${hash}");
        assert!(PasswordHash::parse(&ok).is_ok());
        for bad in [
            format!("$pbkdf2-sha256$i=9999,l=32${salt}${hash}"),
            format!("$pbkdf2-sha256$i=10000001,l=32${salt}${hash}"),
            format!("$pbkdf2-sha256$i=10000,l=31${salt}${hash}"),
            format!("$pbkdf2-sha256$i=10000,l=32${salt}"),
            format!("$pbkdf2-sha256$i=10000,x=1${salt}${hash}"),
            format!("$pbkdf2-sha256$i=10000,l=32$!!${hash}"),
            "$argon2id$v=19$m=65536,t=3,p=4$abc$def".to_string(),
        ] {
            assert!(PasswordHash::parse(&bad).is_err(), "{bad}");
        }
        assert!(
            PasswordHash::parse(&format!("$pbkdf2-sha256$i=10000000,l=32${salt}${hash}")).is_ok()
        );
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    const SHA1_ADMIN: &str = "d033e22ae348aeb5660fc2140aec35850c4da997";

    fn creds(name: &str, pw: &str) -> Credentials {
        Credentials {
            user: name.into(),
            password: Secret::new(pw.into()),
        }
    }

    #[test]
    fn every_auth_error_names_its_check() {
        let all = [
            AuthError::Missing,
            AuthError::NotBasic,
            AuthError::BadBase64,
            AuthError::NotUtf8,
            AuthError::NoColon,
        ];
        let messages: Vec<String> = all.iter().map(|e| e.to_string()).collect();
        for m in &messages {
            assert!(m.starts_with("Authorization header"), "{m}");
        }
        let distinct: std::collections::HashSet<&String> = messages.iter().collect();
        assert_eq!(distinct.len(), all.len(), "{messages:?}");
    }

    #[test]
    fn debug_output_names_the_format_and_hides_the_digest() {
        let h = PasswordHash::parse(SHA1_ADMIN).unwrap();
        assert_eq!(format!("{h:?}"), "PasswordHash::Sha1(..)");
        let u = format!("{:?}", user("admin", SHA1_ADMIN));
        assert!(u.contains("PasswordHash::Sha1(..)"), "{u}");
        assert!(!u.contains(&SHA1_ADMIN[..8]), "{u}");
        let db = format!(
            "{:?}",
            UserDb::new(&[user("admin", SHA1_ADMIN), user("ops", SHA1_ADMIN)], 1)
        );
        assert!(db.starts_with("UserDb") && db.contains("users: 2"), "{db}");
        assert!(
            !db.contains(&SHA1_ADMIN[..8]) && !db.contains("admin"),
            "{db}"
        );
    }

    #[test]
    fn an_unknown_scheme_is_refused_as_unknown_not_as_bad_hex() {
        for raw in ["@md5:{abc}", "$argon2id$v=19$m=65536,t=3,p=4$abc$def"] {
            let e = PasswordHash::parse(raw).unwrap_err();
            assert!(
                e.to_string()
                    .starts_with("unknown password format; accepted: $pbkdf2-sha256$"),
                "{e}"
            );
        }
        let e = PasswordHash::parse("admin").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("an unprefixed password (SHA-1) must be 40 hex digits"),
            "{e}"
        );
    }

    #[test]
    fn a_legacy_hash_needs_no_slow_hash_slot() {
        // The gate is full, as while PBKDF2 logins run: legacy (fast) hashes are still checked.
        let db = UserDb::new(&[user("admin", SHA1_ADMIN)], 1);
        db.slow_inflight.store(1, Ordering::SeqCst);
        assert!(matches!(
            db.authenticate(&creds("admin", "admin")),
            Login::Ok(_)
        ));
        assert_eq!(db.authenticate(&creds("admin", "nope")), Login::Invalid);
    }

    #[test]
    fn without_a_random_key_the_login_cache_is_not_used() {
        let v = hash_password(b"s3cret", PBKDF2_MIN_ITERATIONS).unwrap();
        let mut db = UserDb::new(&[user("ops", &v)], 1);
        db.cache = LoginCache {
            key: [0; 32],
            map: Mutex::new(HashMap::new()),
        };
        assert!(!db.cache.enabled());
        assert!(matches!(
            db.authenticate(&creds("ops", "s3cret")),
            Login::Ok(_)
        ));
        // An all-zero key would make the digests guessable: nothing is remembered under it.
        assert!(db.cache.map.lock().unwrap().is_empty());
    }

    #[test]
    fn without_the_login_cache_slow_checks_still_pass_the_gate() {
        let v = hash_password(b"s3cret", PBKDF2_MIN_ITERATIONS).unwrap();
        let mut db = UserDb::new(&[user("ops", &v)], 1);
        db.cache = LoginCache {
            key: [0; 32],
            map: Mutex::new(HashMap::new()),
        };
        // The one slot is taken, as while another PBKDF2 login runs.
        db.slow_inflight.store(1, Ordering::SeqCst);
        assert_eq!(db.authenticate(&creds("ops", "s3cret")), Login::Busy);
        db.slow_inflight.store(0, Ordering::SeqCst);
        assert!(matches!(
            db.authenticate(&creds("ops", "s3cret")),
            Login::Ok(_)
        ));
        assert_eq!(db.slow_inflight.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn users_are_looked_up_by_exact_name() {
        let db = UserDb::new(&[user("admin", SHA1_ADMIN)], 1);
        assert_eq!(db.user("admin").map(|u| u.name.as_str()), Some("admin"));
        assert!(db.user("Admin").is_none());
        assert!(db.user("eve").is_none());
    }
}
