//! API key validation for edge gateways (the nginx `auth_request` pattern), on the plain-HTTP
//! listener: `/validate`, plus `/metrics`, the JWKS and `/health`. It never serves `/apikey`.
//!
//! A request's key is checked in this order: found (header, then query), signature (through the
//! verified-key cache), revocation, `iss`, `aud`, `exp`/`nbf`, allowed APIs. Only the signature
//! result is cached; every other check runs on every request, so a cached key expires on time.

use crate::config::{Config, ValidatorConfig};
use crate::http::{Request, Response};
use crate::jwks::{Jwks, KeySet};
use crate::jwt::{self, JwtError, Verified};
use crate::server::{Context, Handler};
use crate::{app, metrics};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};

/// Fault code of the original gateway for "resource forbidden".
pub const FAULT_FORBIDDEN: u32 = 900908;

/// Why a key was refused. Messages name the header or claim at fault; they go to the gateway
/// (and the log line's status), never include the key itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// No key in any configured header or query parameter.
    Missing,
    /// Structure, algorithm, kid or signature (from `jwt::verify`).
    Token(JwtError),
    /// `iss` is not the configured issuer.
    WrongIssuer,
    /// `aud` does not contain the configured audience.
    WrongAudience,
    Expired {
        exp: i64,
    },
    NotYetValid {
        nbf: i64,
    },
    /// A registered claim has the wrong type.
    BadClaim(&'static str),
    Revoked,
    /// The API named in the request headers is not in the key's allowedAPIs/subscribedAPIs.
    ApiNotAllowed {
        header: String,
        name: String,
        version: Option<String>,
    },
    /// validateAllowedAPIs is on but the gateway did not say which API is being called.
    ApiUnspecified {
        header: String,
    },
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Missing => f.write_str("no API key in the request"),
            Rejection::Token(e) => e.fmt(f),
            Rejection::WrongIssuer => f.write_str("claim iss is not the configured issuer"),
            Rejection::WrongAudience => {
                f.write_str("claim aud does not contain the configured audience")
            }
            Rejection::Expired { exp } => write!(f, "key expired (claim exp = {exp})"),
            Rejection::NotYetValid { nbf } => write!(f, "key not valid yet (claim nbf = {nbf})"),
            Rejection::BadClaim(c) => write!(f, "claim {c} has the wrong type"),
            Rejection::Revoked => f.write_str("key has been revoked"),
            Rejection::ApiNotAllowed {
                header,
                name,
                version,
            } => write!(
                f,
                "API {name:?} version {} (from header {header} and its version header) is not \
                 in the key's allowedAPIs or subscribedAPIs",
                version
                    .as_deref()
                    .map_or("(none)".into(), |v| format!("{v:?}"))
            ),
            Rejection::ApiUnspecified { header } => write!(
                f,
                "validateAllowedAPIs is on but the request has no {header} header"
            ),
        }
    }
}

impl std::error::Error for Rejection {}

impl Rejection {
    /// 401 for a missing or bad key, 403 for a good key used on the wrong API.
    pub fn status(&self) -> u16 {
        match self {
            Rejection::ApiNotAllowed { .. } | Rejection::ApiUnspecified { .. } => 403,
            _ => 401,
        }
    }

    /// The `result` label of `apikey_sts_validations_total`.
    pub fn label(&self) -> &'static str {
        match self {
            Rejection::Missing => "missing",
            Rejection::Token(JwtError::TooLong(_)) => "too_long",
            Rejection::Token(JwtError::Malformed(_) | JwtError::DuplicateMember(_)) => "malformed",
            Rejection::Token(JwtError::CriticalExtension) => "critical_extension",
            Rejection::Token(JwtError::Algorithm(_)) => "bad_algorithm",
            Rejection::Token(JwtError::UnknownKey(_)) => "unknown_key",
            Rejection::Token(JwtError::BadSignature) => "bad_signature",
            Rejection::Token(JwtError::Sign(_)) => "other",
            Rejection::WrongIssuer => "wrong_issuer",
            Rejection::WrongAudience => "wrong_audience",
            Rejection::Expired { .. } => "expired",
            Rejection::NotYetValid { .. } => "not_yet_valid",
            Rejection::BadClaim(_) => "bad_claim",
            Rejection::Revoked => "revoked",
            Rejection::ApiNotAllowed { .. } => "api_not_allowed",
            Rejection::ApiUnspecified { .. } => "api_unspecified",
        }
    }
}

/// Revocation hook: consulted on every validation after the signature is known good, cache hit
/// or not, so a revoked key stops working at once. `claims` is the verified claims object (`jti`,
/// `sub`, `iat`, ...).
pub trait Revocation: Send + Sync {
    fn is_revoked(&self, claims: &Value) -> bool;
}

/// The default until a revocation list exists.
pub struct NothingRevoked;

impl Revocation for NothingRevoked {
    fn is_revoked(&self, _: &Value) -> bool {
        false
    }
}

/// The checks `[apikey.tokenConfigs]` and `[validator]` configure.
#[derive(Debug, Clone)]
pub struct Rules {
    pub issuer: String,
    pub audience: Option<String>,
    pub validate_allowed_apis: bool,
    pub clock_skew_seconds: i64,
    pub key_headers: Vec<String>,
    pub key_query_params: Vec<String>,
    pub api_name_header: String,
    pub api_version_header: String,
}

impl Rules {
    /// `iss` defaults to the issuer's own when `[apikey.tokenConfigs]` names none.
    pub fn from_config(config: &Config) -> Rules {
        let v = config.validator.clone().unwrap_or_default();
        Rules {
            issuer: config
                .validation
                .issuer
                .clone()
                .unwrap_or_else(|| config.issuer.issuer.clone()),
            audience: config.validation.audience.clone(),
            validate_allowed_apis: config.validation.validate_allowed_apis,
            clock_skew_seconds: v.clock_skew_seconds,
            key_headers: v.key_headers,
            key_query_params: v.key_query_params,
            api_name_header: v.api_name_header,
            api_version_header: v.api_version_header,
        }
    }
}

/// The API a request is for, as the gateway names it.
#[derive(Debug, Clone, Copy)]
pub struct ApiRef<'a> {
    pub name: Option<&'a str>,
    pub version: Option<&'a str>,
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
pub struct VerifyCache {
    max_entries: usize,
    ttl_seconds: i64,
    inner: Mutex<CacheInner>,
}

impl VerifyCache {
    /// `max_entries` 0 turns caching off.
    pub fn new(max_entries: usize, ttl_seconds: i64) -> VerifyCache {
        VerifyCache {
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

    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A NumericDate claim (RFC 7519: seconds, possibly fractional); None when absent or not a
/// number.
fn numeric_date(v: Option<&Value>) -> Option<i64> {
    let v = v?;
    v.as_i64().or_else(|| {
        v.as_f64()
            .filter(|f| f.is_finite())
            .map(|f| f.floor().clamp(i64::MIN as f64, i64::MAX as f64) as i64)
    })
}

/// A key that passed every check.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub verified: Arc<Verified>,
    pub from_cache: bool,
}

impl Accepted {
    fn claim(&self, name: &str) -> Option<&str> {
        self.verified.claims.get(name).and_then(Value::as_str)
    }
}

/// The validator listener's handler.
pub struct Validator {
    pub rules: Rules,
    keys: Arc<KeySet>,
    jwks: Arc<Jwks>,
    cache: VerifyCache,
    revocation: Arc<dyn Revocation>,
}

impl Validator {
    pub fn new(rules: Rules, keys: Arc<KeySet>, jwks: Arc<Jwks>, cache: VerifyCache) -> Self {
        Validator {
            rules,
            keys,
            jwks,
            cache,
            revocation: Arc::new(NothingRevoked),
        }
    }

    pub fn from_config(config: &Config, keys: Arc<KeySet>, jwks: Arc<Jwks>) -> Self {
        let v: ValidatorConfig = config.validator.clone().unwrap_or_default();
        Validator::new(
            Rules::from_config(config),
            keys,
            jwks,
            VerifyCache::new(v.cache_max_entries, v.cache_ttl_seconds),
        )
    }

    /// Installs the revocation check (a later issue's revocation list).
    pub fn with_revocation(mut self, revocation: Arc<dyn Revocation>) -> Self {
        self.revocation = revocation;
        self
    }

    pub fn cache(&self) -> &VerifyCache {
        &self.cache
    }

    /// Every check on one token. `api` is None when the caller has no API to check against
    /// (the `verify` command without `--api`); with validateAllowedAPIs a request always has one.
    pub fn check(
        &self,
        token: &str,
        api: Option<ApiRef<'_>>,
        now: i64,
    ) -> Result<Accepted, Rejection> {
        let (verified, from_cache) = self.verify_signature(token, now)?;
        let claims = &verified.claims;
        if self.revocation.is_revoked(claims) {
            return Err(Rejection::Revoked);
        }
        if claims.get("iss").and_then(Value::as_str) != Some(self.rules.issuer.as_str()) {
            return Err(Rejection::WrongIssuer);
        }
        if let Some(aud) = &self.rules.audience {
            let ok = match claims.get("aud") {
                Some(Value::String(s)) => s == aud,
                Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(aud.as_str())),
                _ => false,
            };
            if !ok {
                return Err(Rejection::WrongAudience);
            }
        }
        let skew = self.rules.clock_skew_seconds;
        if let Some(v) = claims.get("exp") {
            let exp = numeric_date(Some(v)).ok_or(Rejection::BadClaim("exp"))?;
            // RFC 7519 4.1.4: not accepted on or after exp; the skew forgives slow clocks.
            if now >= exp.saturating_add(skew) {
                return Err(Rejection::Expired { exp });
            }
        }
        if let Some(v) = claims.get("nbf") {
            let nbf = numeric_date(Some(v)).ok_or(Rejection::BadClaim("nbf"))?;
            if now.saturating_add(skew) < nbf {
                return Err(Rejection::NotYetValid { nbf });
            }
        }
        if self.rules.validate_allowed_apis {
            if let Some(api) = api {
                self.check_api(claims, api)?;
            }
        }
        Ok(Accepted {
            verified,
            from_cache,
        })
    }

    fn verify_signature(&self, token: &str, now: i64) -> Result<(Arc<Verified>, bool), Rejection> {
        if token.len() > jwt::MAX_TOKEN_BYTES {
            return Err(Rejection::Token(JwtError::TooLong(token.len())));
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(v) = self.cache.get(&digest, now) {
            metrics::validation_cache(true);
            return Ok((v, true));
        }
        if self.cache.max_entries > 0 {
            metrics::validation_cache(false);
        }
        let keys = &self.keys;
        let verified =
            Arc::new(jwt::verify(token, &|kid| keys.key_for(kid)).map_err(Rejection::Token)?);
        self.cache.insert(digest, Arc::clone(&verified), now);
        Ok((verified, false))
    }

    fn check_api(&self, claims: &Value, api: ApiRef<'_>) -> Result<(), Rejection> {
        let Some(name) = api.name.filter(|n| !n.is_empty()) else {
            return Err(Rejection::ApiUnspecified {
                header: self.rules.api_name_header.clone(),
            });
        };
        let version = api.version.filter(|v| !v.is_empty());
        let listed = |field: &str| {
            claims
                .get(field)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|e| {
                    let s = |k: &str| e.get(k).and_then(Value::as_str);
                    s("name") == Some(name)
                        && match s("version") {
                            // "*" matches any version (a reported bug of the original: it did not).
                            Some("*") => true,
                            Some(v) => Some(v) == version,
                            None => false,
                        }
                })
        };
        if listed("allowedAPIs") || listed("subscribedAPIs") {
            Ok(())
        } else {
            Err(Rejection::ApiNotAllowed {
                header: self.rules.api_name_header.clone(),
                name: name.to_string(),
                version: version.map(String::from),
            })
        }
    }

    /// The key in the request: the configured headers first (any case), then the configured
    /// query parameters of `X-Original-URI` (what nginx forwards) and of the request itself.
    pub fn find_key<'r>(&self, req: &'r Request) -> Option<Cow<'r, str>> {
        for name in &self.rules.key_headers {
            if let Some(v) = req.header_str(name).filter(|v| !v.is_empty()) {
                return Some(Cow::Borrowed(v));
            }
        }
        let original = req
            .header_str("x-original-uri")
            .and_then(|u| u.split_once('?'))
            .map(|(_, q)| q.split('#').next().unwrap_or(""));
        for query in [original, req.query()].into_iter().flatten() {
            for pair in query.split('&') {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                if value.is_empty() {
                    continue;
                }
                let name = percent_decode(name);
                if self.rules.key_query_params.iter().any(|n| *n == name) {
                    return Some(percent_decode(value));
                }
            }
        }
        None
    }

    /// `/validate`: 200 with the key's facts as headers, 401 or 403 with a fault body.
    pub fn validate(&self, req: &Request, now: i64) -> (Response, Option<Accepted>) {
        let result = match self.find_key(req) {
            None => Err(Rejection::Missing),
            Some(key) => self.check(
                key.trim(),
                Some(ApiRef {
                    name: req.header_str(&self.rules.api_name_header),
                    version: req.header_str(&self.rules.api_version_header),
                }),
                now,
            ),
        };
        match result {
            Ok(accepted) => {
                metrics::validation("valid");
                let sub = accepted.claim("sub").unwrap_or("");
                let keytype = accepted.claim("keytype").unwrap_or("");
                let jti = accepted.claim("jti").unwrap_or("");
                let body = serde_json::json!({
                    "valid": true, "sub": sub, "keytype": keytype, "jti": jti
                });
                let resp = Response::new(200, "application/json", body.to_string())
                    .header("X-Auth-Subject", header_safe(sub))
                    .header("X-Auth-Key-Type", header_safe(keytype))
                    .header("X-Auth-Jti", header_safe(jti))
                    .header("Cache-Control", "no-store");
                (resp, Some(accepted))
            }
            Err(r) => {
                metrics::validation(r.label());
                let status = r.status();
                let (code, message) = match (status, &r) {
                    (403, _) => (FAULT_FORBIDDEN, "Forbidden"),
                    (_, Rejection::Missing) => {
                        (app::FAULT_MISSING_CREDENTIALS, "Missing Credentials")
                    }
                    _ => (app::FAULT_INVALID_CREDENTIALS, "Invalid Credentials"),
                };
                let mut resp = app::fault(status, code, message, &r.to_string())
                    .header("Cache-Control", "no-store");
                if status == 401 {
                    resp = resp.header("WWW-Authenticate", "APIKey realm=\"apikey-sts\"");
                }
                (resp, None)
            }
        }
    }

    pub fn route(&self, req: &Request, ctx: &Context) -> app::Outcome {
        match req.path() {
            "/validate" => {
                // auth_request subrequests keep the client's method: any method validates.
                let (response, accepted) = self.validate(req, ctx.now);
                app::Outcome {
                    response,
                    user: accepted
                        .as_ref()
                        .and_then(|a| a.claim("sub"))
                        .map(String::from),
                    jti: accepted
                        .as_ref()
                        .and_then(|a| a.claim("jti"))
                        .map(String::from),
                }
            }
            "/metrics" => get_only(req, || {
                Response::new(200, metrics::CONTENT_TYPE, metrics::render())
                    .header("Cache-Control", "no-store")
            }),
            "/.well-known/jwks.json" | "/apikey/jwks" => self.jwks.respond(req).into(),
            "/health" => get_only(req, || health(ctx.now)),
            _ => app::fault(
                404,
                app::FAULT_UNCLASSIFIED,
                "Not Found",
                "no such resource",
            )
            .into(),
        }
    }
}

/// `{"status":"UP"}`, or `DEGRADED` while the shared revocation store (Redis) is unreachable.
/// Degraded is still 200: validation and issuing go on with the last known set, and a load
/// balancer that took every node out whenever Redis blinked would turn a Redis outage into a
/// full one. Monitors read the status field or `/metrics`.
fn health(now: i64) -> Response {
    match crate::revocation::redis::state(now) {
        Some(s) if !s.up => Response::new(
            200,
            "application/json",
            serde_json::json!({
                "status": "DEGRADED",
                "revocationStore": "DOWN",
                "secondsSinceSync": s.since_sync,
            })
            .to_string(),
        ),
        _ => Response::new(200, "application/json", r#"{"status":"UP"}"#),
    }
}

fn get_only(req: &Request, ok: impl FnOnce() -> Response) -> app::Outcome {
    if req.method == "GET" || req.method == "HEAD" {
        ok().into()
    } else {
        app::fault(
            405,
            app::FAULT_UNCLASSIFIED,
            "Method Not Allowed",
            "method not allowed on this resource",
        )
        .header("Allow", "GET, HEAD")
        .into()
    }
}

impl Handler for Validator {
    fn handle(&self, req: &Request, ctx: &Context) -> app::Outcome {
        self.route(req, ctx)
    }
}

/// `%XX` decoding; malformed escapes are kept as they are (the token then fails to verify).
fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// Claim values become header values: control and non-ASCII bytes (and `%`) are
/// percent-encoded so a header can never be split or carry bytes proxies reject.
fn header_safe(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x20..0x7f).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `apikey-sts verify TOKEN`: the report to print and whether the key is valid, using the
/// configured keys and the validator's checks. `api` is checked only when given.
pub fn verify_report(
    config: &Config,
    token: &str,
    api: Option<ApiRef<'_>>,
    now: i64,
    revocation: Option<Arc<dyn Revocation>>,
) -> Result<(String, bool), crate::jwks::JwksError> {
    let keys = Arc::new(KeySet::load(config, None)?);
    let jwks = Arc::new(Jwks::new(&keys));
    let v = Validator::new(
        Rules::from_config(config),
        keys,
        jwks,
        VerifyCache::new(0, 1),
    );
    let v = match revocation {
        Some(r) => v.with_revocation(r),
        None => v,
    };
    let token = token.trim();
    let mut out = String::new();
    // Decoded for display whatever the verdict; never trusted.
    let mut parts = token.split('.');
    for (label, part) in [("header", parts.next()), ("claims", parts.next())] {
        let shown = part
            .and_then(|p| {
                base64::Engine::decode(
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                    p.trim_end_matches('='),
                )
                .ok()
            })
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|j| serde_json::to_string_pretty(&j).ok())
            .unwrap_or_else(|| "(not decodable)".into());
        out.push_str(&format!("{label}: {shown}\n"));
    }
    let valid = match v.check(token, api, now) {
        Ok(_) => {
            out.push_str("valid");
            if v.rules.validate_allowed_apis && api.is_none() {
                out.push_str(" (allowed APIs not checked: no --api given)");
            }
            out.push('\n');
            true
        }
        Err(r) => {
            out.push_str(&format!("invalid: {r}\n"));
            false
        }
    };
    Ok((out, valid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwks::PublishedKey;
    use crate::jwt::tests::test_key;
    use crate::jwt::{encode, AllowedApi, Claims, RsaSigner};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    const ISS: &str = "https://localhost:9095/apikey";
    const NOW: i64 = 1_700_000_000;

    fn keyset() -> Arc<KeySet> {
        Arc::new(
            KeySet::new(vec![(
                PublishedKey {
                    kid: "ballerina".into(),
                    public: test_key().to_public_key(),
                    chain: vec![],
                    active: true,
                },
                "k".into(),
            )])
            .unwrap(),
        )
    }

    fn rules() -> Rules {
        let d = ValidatorConfig::default();
        Rules {
            issuer: ISS.into(),
            audience: None,
            validate_allowed_apis: false,
            clock_skew_seconds: 60,
            key_headers: d.key_headers,
            key_query_params: d.key_query_params,
            api_name_header: d.api_name_header,
            api_version_header: d.api_version_header,
        }
    }

    fn validator(rules: Rules, cache: usize) -> Validator {
        let keys = keyset();
        let jwks = Arc::new(Jwks::new(&keys));
        Validator::new(rules, keys, jwks, VerifyCache::new(cache, 300))
    }

    fn claims() -> Claims {
        Claims {
            sub: "admin".into(),
            iss: ISS.into(),
            aud: None,
            iat: NOW,
            exp: None,
            jti: "0d5b5f6c-0000-4000-8000-000000000000".into(),
            keytype: "PRODUCTION".into(),
            allowed_apis: vec![
                AllowedApi {
                    name: "Petstore".into(),
                    version: "1.0.0".into(),
                },
                AllowedApi {
                    name: "MyAPI".into(),
                    version: "*".into(),
                },
            ],
        }
    }

    fn token(c: &Claims) -> String {
        encode("ballerina", c, &RsaSigner::new(test_key().clone())).unwrap()
    }

    /// A token signed over arbitrary header and claims JSON.
    fn raw_token(header: &str, claims: &str) -> String {
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let sig = crate::jwt::Signer::sign(&RsaSigner::new(test_key().clone()), signed.as_bytes())
            .unwrap();
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    fn req(target: &str, headers: &[(&str, &str)]) -> Request {
        Request {
            method: "GET".into(),
            target: target.into(),
            minor_version: 1,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
                .collect(),
            body: vec![],
        }
    }

    #[test]
    fn valid_key_gets_forwardable_headers() {
        let v = validator(rules(), 10);
        let t = token(&claims());
        let (r, a) = v.validate(&req("/validate", &[("apikey", &t)]), NOW);
        assert_eq!(r.status, 200);
        assert_eq!(r.header_value("X-Auth-Subject"), Some("admin"));
        assert_eq!(r.header_value("X-Auth-Key-Type"), Some("PRODUCTION"));
        assert_eq!(
            r.header_value("X-Auth-Jti"),
            Some("0d5b5f6c-0000-4000-8000-000000000000")
        );
        assert!(!a.unwrap().from_cache);
        // Second time: from the cache.
        let (_, a) = v.validate(&req("/validate", &[("apikey", &t)]), NOW);
        assert!(a.unwrap().from_cache);
    }

    #[test]
    fn key_is_found_in_any_configured_place() {
        let v = validator(rules(), 0);
        let t = token(&claims());
        let ok = |r: Request| v.validate(&r, NOW).0.status;
        assert_eq!(ok(req("/validate", &[("X-API-KEY", &t)])), 200);
        assert_eq!(ok(req("/validate", &[("x-api-key", &t)])), 200);
        assert_eq!(ok(req("/validate", &[("API_KEY", &t)])), 200);
        assert_eq!(ok(req(&format!("/validate?api_key={t}"), &[])), 200);
        let uri = format!("/pets/1?x=1&apikey={t}#frag");
        assert_eq!(ok(req("/validate", &[("X-Original-URI", &uri)])), 200);
        let enc = format!("/pets?apikey={}", t.replace('.', "%2E"));
        assert_eq!(ok(req("/validate", &[("X-Original-URI", &enc)])), 200);
        // Empty values and other names are not keys.
        assert_eq!(ok(req("/validate?apikey=&token=x", &[("apikey", "")])), 401);
        let (r, _) = v.validate(&req("/validate?Authorization=x", &[]), NOW);
        assert_eq!(r.status, 401);
        assert_eq!(
            serde_json::from_slice::<Value>(&r.body).unwrap()["fault"]["code"],
            app::FAULT_MISSING_CREDENTIALS
        );
        // Configured names replace the defaults.
        let mut custom = rules();
        custom.key_headers = vec!["X-Key".into()];
        custom.key_query_params = vec!["k".into()];
        let v2 = validator(custom, 0);
        assert_eq!(
            v2.validate(&req("/validate", &[("x-key", &t)]), NOW)
                .0
                .status,
            200
        );
        assert_eq!(
            v2.validate(&req("/validate", &[("apikey", &t)]), NOW)
                .0
                .status,
            401
        );
        assert_eq!(
            v2.validate(&req(&format!("/validate?k={t}"), &[]), NOW)
                .0
                .status,
            200
        );
    }

    #[test]
    fn signature_algorithm_issuer_audience() {
        let v = validator(rules(), 10);
        let t = token(&claims());
        let check = |v: &Validator, t: &str| v.check(t, None, NOW).map(|_| ());
        // Tampered claims.
        let mut parts: Vec<String> = t.split('.').map(String::from).collect();
        let mut c = URL_SAFE_NO_PAD.decode(&parts[1]).unwrap();
        c[12] ^= 1;
        parts[1] = URL_SAFE_NO_PAD.encode(c);
        assert_eq!(
            check(&v, &parts.join(".")),
            Err(Rejection::Token(JwtError::BadSignature))
        );
        // alg none, HS256 (even "signed" with the public key as secret): always refused.
        let body = serde_json::to_string(&claims()).unwrap();
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"ballerina"}"#),
            URL_SAFE_NO_PAD.encode(&body)
        );
        assert_eq!(check(&v, &none).unwrap_err().label(), "bad_algorithm");
        let hs = raw_token(r#"{"alg":"HS256","kid":"ballerina"}"#, &body);
        assert_eq!(check(&v, &hs).unwrap_err().label(), "bad_algorithm");
        let unknown = raw_token(r#"{"alg":"RS256","kid":"retired"}"#, &body);
        assert_eq!(check(&v, &unknown).unwrap_err().label(), "unknown_key");
        // No kid: the active key.
        let nokid = raw_token(r#"{"alg":"RS256"}"#, &body);
        assert!(check(&v, &nokid).is_ok());
        // Issuer.
        let mut c = claims();
        c.iss = "https://evil.example/apikey".into();
        assert_eq!(check(&v, &token(&c)), Err(Rejection::WrongIssuer));
        let noiss = raw_token(r#"{"alg":"RS256"}"#, r#"{"sub":"a"}"#);
        assert_eq!(check(&v, &noiss), Err(Rejection::WrongIssuer));
        // Audience, when configured: string or array.
        let mut r = rules();
        r.audience = Some("gw".into());
        let va = validator(r, 0);
        assert_eq!(check(&va, &t), Err(Rejection::WrongAudience));
        let mut c = claims();
        c.aud = Some("gw".into());
        assert!(check(&va, &token(&c)).is_ok());
        let arr = raw_token(
            r#"{"alg":"RS256"}"#,
            &format!(r#"{{"iss":"{ISS}","aud":["x","gw"]}}"#),
        );
        assert!(check(&va, &arr).is_ok());
        let wrong = raw_token(
            r#"{"alg":"RS256"}"#,
            &format!(r#"{{"iss":"{ISS}","aud":7}}"#),
        );
        assert_eq!(check(&va, &wrong), Err(Rejection::WrongAudience));
    }

    #[test]
    fn time_checks_with_skew_at_and_past_edges() {
        let v = validator(rules(), 10);
        let mut c = claims();
        c.exp = Some(NOW);
        let t = token(&c);
        // Valid until exp + skew, exclusive.
        assert!(v.check(&t, None, NOW + 59).is_ok());
        assert_eq!(
            v.check(&t, None, NOW + 60).unwrap_err(),
            Rejection::Expired { exp: NOW }
        );
        let nbf = |n: i64| {
            raw_token(
                r#"{"alg":"RS256"}"#,
                &format!(r#"{{"iss":"{ISS}","nbf":{n}}}"#),
            )
        };
        assert!(v.check(&nbf(NOW + 60), None, NOW).is_ok());
        assert_eq!(
            v.check(&nbf(NOW + 61), None, NOW).unwrap_err().label(),
            "not_yet_valid"
        );
        let bad = raw_token(
            r#"{"alg":"RS256"}"#,
            &format!(r#"{{"iss":"{ISS}","exp":"soon"}}"#),
        );
        assert_eq!(
            v.check(&bad, None, NOW).unwrap_err(),
            Rejection::BadClaim("exp")
        );
        let frac = raw_token(
            r#"{"alg":"RS256"}"#,
            &format!(r#"{{"iss":"{ISS}","exp":{NOW}.5}}"#),
        );
        assert!(v.check(&frac, None, NOW).is_ok());
        let huge = raw_token(
            r#"{"alg":"RS256"}"#,
            &format!(r#"{{"iss":"{ISS}","exp":1e300}}"#),
        );
        assert!(v.check(&huge, None, NOW).is_ok());
        // Zero skew: expired exactly at exp.
        let mut r = rules();
        r.clock_skew_seconds = 0;
        let strict = validator(r, 0);
        assert!(strict.check(&t, None, NOW - 1).is_ok());
        assert!(strict.check(&t, None, NOW).is_err());
    }

    #[test]
    fn allowed_apis_and_wildcard_version() {
        let mut r = rules();
        r.validate_allowed_apis = true;
        let v = validator(r, 10);
        let t = token(&claims());
        let status = |h: &[(&str, &str)]| {
            let mut all = vec![("apikey", t.as_str())];
            all.extend_from_slice(h);
            v.validate(&req("/validate", &all), NOW).0.status
        };
        assert_eq!(
            status(&[("X-API-Name", "Petstore"), ("X-API-Version", "1.0.0")]),
            200
        );
        assert_eq!(
            status(&[("x-api-name", "MyAPI"), ("x-api-version", "7")]),
            200
        );
        assert_eq!(status(&[("X-API-Name", "MyAPI")]), 200);
        assert_eq!(
            status(&[("X-API-Name", "Petstore"), ("X-API-Version", "2")]),
            403
        );
        assert_eq!(status(&[("X-API-Name", "Petstore")]), 403);
        assert_eq!(
            status(&[("X-API-Name", "petstore"), ("X-API-Version", "1.0.0")]),
            403
        );
        assert_eq!(
            status(&[("X-API-Name", "Other"), ("X-API-Version", "1")]),
            403
        );
        assert_eq!(status(&[]), 403);
        // subscribedAPIs (API Manager-issued keys) count too; garbage shapes never match.
        let sub = raw_token(
            r#"{"alg":"RS256"}"#,
            &format!(
                r#"{{"iss":"{ISS}","allowedAPIs":"x","subscribedAPIs":[1,{{"name":"S","version":"v1","context":"/s"}}]}}"#
            ),
        );
        let api = |n, ver| {
            Some(ApiRef {
                name: Some(n),
                version: Some(ver),
            })
        };
        assert!(v.check(&sub, api("S", "v1"), NOW).is_ok());
        assert_eq!(
            v.check(&sub, api("S", "v2"), NOW).unwrap_err().status(),
            403
        );
        // A bad key is 401 even on an allowed API.
        let (r, _) = v.validate(
            &req("/validate", &[("apikey", "x.y.z"), ("X-API-Name", "MyAPI")]),
            NOW,
        );
        assert_eq!(r.status, 401);
    }

    #[test]
    fn cache_hits_still_check_expiry_and_revocation() {
        struct RevokeAll;
        impl Revocation for RevokeAll {
            fn is_revoked(&self, c: &Value) -> bool {
                c["jti"] == "0d5b5f6c-0000-4000-8000-000000000000"
            }
        }
        let v = validator(rules(), 10);
        let mut c = claims();
        c.exp = Some(NOW + 100);
        let t = token(&c);
        assert!(!v.check(&t, None, NOW).unwrap().from_cache);
        assert!(v.check(&t, None, NOW + 10).unwrap().from_cache);
        // The cache entry ends at exp; the exp check (with skew) runs regardless.
        assert!(v.check(&t, None, NOW + 100).is_ok());
        assert_eq!(v.check(&t, None, NOW + 160).unwrap_err().label(), "expired");
        let v = v.with_revocation(Arc::new(RevokeAll));
        assert_eq!(v.check(&t, None, NOW).unwrap_err(), Rejection::Revoked);
    }

    #[test]
    fn cache_is_bounded_and_expires() {
        let cache = VerifyCache::new(2, 300);
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
        let c2 = VerifyCache::new(1, 300);
        c2.insert([1; 32], entry(None), NOW);
        c2.insert([1; 32], entry(None), NOW);
        assert_eq!(c2.len(), 1);
        // Churn with expiries keeps the order queue bounded.
        let c3 = VerifyCache::new(4, 1);
        for i in 0..1000u32 {
            let mut d = [0u8; 32];
            d[..4].copy_from_slice(&i.to_le_bytes());
            c3.insert(d, entry(None), NOW + i64::from(i));
            let _ = c3.get(&d, NOW + i64::from(i) + 1);
        }
        assert!(c3.lock().order.len() <= 8);
        // Disabled.
        let off = VerifyCache::new(0, 300);
        off.insert([1; 32], entry(None), NOW);
        assert!(off.get(&[1; 32], NOW).is_none());
        assert!(off.is_empty());
    }

    #[test]
    fn repeated_checks_are_served_from_the_cache() {
        // How fast a hit is belongs to the benchmark (bench/run.sh, section 4); this checks
        // that the repeat skips the RSA verify at all.
        let v = validator(rules(), 10);
        let t = token(&claims());
        assert!(!v.check(&t, None, NOW).unwrap().from_cache);
        for _ in 0..100 {
            assert!(v.check(&t, None, NOW).unwrap().from_cache);
        }
    }

    #[test]
    fn hostile_inputs_never_panic() {
        let v = validator(rules(), 10);
        let long = "a".repeat(jwt::MAX_TOKEN_BYTES + 1);
        let at = format!("{}.{}.", "a".repeat(jwt::MAX_TOKEN_BYTES - 2), "");
        for k in [
            "", ".", "..", "%", "%%", "%zz", "%e2%82", "a.b.c", &long, &at, "\u{0}", "é.é.é",
        ] {
            let q = format!("/validate?apikey={k}");
            for r in [req(&q, &[]), req("/validate", &[("X-Original-URI", &q)])] {
                let (resp, accepted) = v.validate(&r, NOW);
                assert_eq!(resp.status, 401, "{k:?}");
                assert!(accepted.is_none(), "{k:?}");
            }
            assert!(v.check(k, None, NOW).is_err(), "{k:?}");
        }
        assert_eq!(v.check(&long, None, NOW).unwrap_err().label(), "too_long");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%41%4a"), "AJ");
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(header_safe("a b\r\nc%é"), "a b%0D%0Ac%25%C3%A9");
    }

    #[test]
    fn routes() {
        let v = validator(rules(), 10);
        let ctx = Context {
            peer: "127.0.0.1:1".parse().unwrap(),
            now: NOW,
        };
        let status = |m: &str, p: &str| {
            let mut r = req(p, &[]);
            r.method = m.into();
            v.route(&r, &ctx).response.status
        };
        assert_eq!(status("GET", "/apikey"), 404);
        assert_eq!(status("POST", "/apikey"), 404);
        assert_eq!(status("GET", "/validate"), 401);
        assert_eq!(status("POST", "/validate"), 401);
        assert_eq!(status("GET", "/metrics"), 200);
        assert_eq!(status("POST", "/metrics"), 405);
        assert_eq!(status("GET", "/.well-known/jwks.json"), 200);
        assert_eq!(status("GET", "/apikey/jwks"), 200);
        assert_eq!(status("GET", "/health"), 200);
        let t = token(&claims());
        let out = v.route(&req("/validate", &[("apikey", &t)]), &ctx);
        assert_eq!(out.user.as_deref(), Some("admin"));
        assert!(out.jti.is_some());
    }

    #[test]
    fn every_rejection_label_is_a_metric_label() {
        for r in [
            Rejection::Missing,
            Rejection::Token(JwtError::TooLong(1)),
            Rejection::Token(JwtError::Malformed("x")),
            Rejection::Token(JwtError::Algorithm("none".into())),
            Rejection::Token(JwtError::UnknownKey("k".into())),
            Rejection::Token(JwtError::BadSignature),
            Rejection::WrongIssuer,
            Rejection::WrongAudience,
            Rejection::Expired { exp: 1 },
            Rejection::NotYetValid { nbf: 1 },
            Rejection::BadClaim("exp"),
            Rejection::Revoked,
            Rejection::ApiNotAllowed {
                header: "h".into(),
                name: "n".into(),
                version: None,
            },
            Rejection::ApiUnspecified { header: "h".into() },
        ] {
            assert!(metrics::VALIDATION_RESULTS.contains(&r.label()), "{r:?}");
            assert!(!r.to_string().is_empty());
        }
    }

    const BASE: &str = r#"
[listenerConfig]
  keyStorePath = "ks.p12"
  keyStorePassword = "pw"
[apikey.issuer.tokenConfig]
  keyStorePath = "ks.p12"
  keyStorePassword = "pw"
  issuer = "https://localhost:9095/apikey"
  certificateAlias = "ballerina"
"#;

    fn parse(extra: &str) -> Result<Config, crate::config::ConfigError> {
        let env = crate::config::Environment {
            runtime_home: "/opt".into(),
            var: &|_| None,
        };
        Config::parse(
            &format!("{BASE}\n{extra}"),
            "t.conf",
            std::path::Path::new("/etc/sts"),
            &env,
        )
    }

    fn err_key(extra: &str) -> String {
        parse(extra).unwrap_err().key
    }

    #[test]
    fn validator_section_defaults_and_switch() {
        assert!(parse("").unwrap().validator.is_none());
        assert!(parse("[validator]\nenabled = false\n")
            .unwrap()
            .validator
            .is_none());
        let v = parse("[validator]\n").unwrap().validator.unwrap();
        assert_eq!(v, ValidatorConfig::default());
        assert_eq!(v.host, "127.0.0.1");
        assert_eq!(v.port, 9096);
        assert_eq!(v.key_headers, ["apikey", "api_key", "X-API-Key"]);
        assert_eq!(v.key_query_params, v.key_headers);
        let c = parse("[validator]\nfancy = 1\n").unwrap();
        assert!(c.warnings.iter().any(|w| w.contains("[validator.fancy]")));
        // Rules fall back to the issuer's iss.
        let r = Rules::from_config(&c);
        assert_eq!(r.issuer, "https://localhost:9095/apikey");
        assert_eq!(r.clock_skew_seconds, 60);
    }

    #[test]
    fn validator_limits_at_and_past_edges() {
        let ok = |extra: &str| {
            parse(&format!("[validator]\n{extra}\n"))
                .unwrap()
                .validator
                .unwrap()
        };
        let bad = |extra: &str| err_key(&format!("[validator]\n{extra}\n"));
        assert_eq!(ok("port = 0").port, 0);
        assert_eq!(ok("port = 65535").port, 65535);
        assert_eq!(bad("port = 65536"), "validator.port");
        assert_eq!(bad("port = -1"), "validator.port");
        assert_eq!(ok("clockSkewSeconds = 0").clock_skew_seconds, 0);
        assert_eq!(ok("clockSkewSeconds = 3600").clock_skew_seconds, 3600);
        assert_eq!(bad("clockSkewSeconds = 3601"), "validator.clockSkewSeconds");
        assert_eq!(bad("clockSkewSeconds = -1"), "validator.clockSkewSeconds");
        assert_eq!(ok("cacheMaxEntries = 0").cache_max_entries, 0);
        assert_eq!(
            ok("cacheMaxEntries = 1000000").cache_max_entries,
            crate::config::MAX_CACHE_MAX_ENTRIES
        );
        assert_eq!(
            bad("cacheMaxEntries = 1000001"),
            "validator.cacheMaxEntries"
        );
        assert_eq!(bad("cacheTtlSeconds = 0"), "validator.cacheTtlSeconds");
        assert_eq!(ok("cacheTtlSeconds = 1").cache_ttl_seconds, 1);
        assert_eq!(ok("cacheTtlSeconds = 86400").cache_ttl_seconds, 86400);
        assert_eq!(bad("cacheTtlSeconds = 86401"), "validator.cacheTtlSeconds");
        assert_eq!(bad("host = \" \""), "validator.host");
        assert_eq!(bad("port = \"9096\""), "validator.port");
    }

    #[test]
    fn key_names_lists() {
        let ok = |extra: &str| {
            parse(&format!("[validator]\n{extra}\n"))
                .unwrap()
                .validator
                .unwrap()
        };
        let bad = |extra: &str| err_key(&format!("[validator]\n{extra}\n"));
        assert_eq!(
            ok(r#"keyHeaders = ["X-Key", "k"]"#).key_headers,
            ["X-Key", "k"]
        );
        assert_eq!(
            ok(r#"keyQueryParams = " a , b ""#).key_query_params,
            ["a", "b"]
        );
        assert_eq!(bad(r#"keyHeaders = []"#), "validator.keyHeaders");
        assert_eq!(bad(r#"keyHeaders = " , ""#), "validator.keyHeaders");
        assert_eq!(bad(r#"keyHeaders = ["a b"]"#), "validator.keyHeaders");
        assert_eq!(bad(r#"keyHeaders = ["ok", 1]"#), "validator.keyHeaders[1]");
        assert_eq!(bad("keyHeaders = 1"), "validator.keyHeaders");
        let names = |n: usize| {
            (0..n)
                .map(|i| format!("\"h{i}\""))
                .collect::<Vec<_>>()
                .join(",")
        };
        let max = crate::config::MAX_KEY_NAMES;
        assert_eq!(
            ok(&format!("keyHeaders = [{}]", names(max)))
                .key_headers
                .len(),
            max
        );
        assert_eq!(
            bad(&format!("keyHeaders = [{}]", names(max + 1))),
            "validator.keyHeaders"
        );
        assert_eq!(ok(r#"apiNameHeader = "X-Api""#).api_name_header, "X-Api");
        assert_eq!(
            bad(r#"apiVersionHeader = "X Api""#),
            "validator.apiVersionHeader"
        );
    }

    #[test]
    fn verification_keys_section() {
        let c = parse(
            r#"
[[apikey.verificationKeys]]
  certificateAlias = "old"
[[apikey.verificationKeys]]
  certificateAlias = "other"
  keyStorePath = "other.p12"
  keyStorePassword = "secret2"
"#,
        )
        .unwrap();
        assert_eq!(c.verification_keys.len(), 2);
        let (a, b) = (&c.verification_keys[0], &c.verification_keys[1]);
        assert_eq!(a.certificate_alias, "old");
        assert_eq!(a.key_store_path, c.issuer.key_store_path);
        assert_eq!(a.key_store_password.expose(), "pw");
        assert_eq!(
            b.key_store_path,
            std::path::PathBuf::from("/etc/sts/other.p12")
        );
        assert_eq!(b.key_store_password.expose(), "secret2");
        assert!(!format!("{c:?}").contains("secret2"));
        assert_eq!(
            err_key("[[apikey.verificationKeys]]\n  keyStorePath = \"x\"\n"),
            "apikey.verificationKeys[0].certificateAlias"
        );
        assert_eq!(
            err_key("[apikey]\nverificationKeys = \"old\"\n"),
            "apikey.verificationKeys"
        );
        let entries =
            |n: usize| "[[apikey.verificationKeys]]\ncertificateAlias = \"a\"\n".repeat(n);
        let max = crate::config::MAX_VERIFICATION_KEYS;
        assert_eq!(parse(&entries(max)).unwrap().verification_keys.len(), max);
        assert_eq!(err_key(&entries(max + 1)), "apikey.verificationKeys");
        let c = parse("[[apikey.verificationKeys]]\ncertificateAlias = \"a\"\nkid = 1\n").unwrap();
        assert!(c
            .warnings
            .iter()
            .any(|w| w.contains("[apikey.verificationKeys[0].kid]")));
    }
}
