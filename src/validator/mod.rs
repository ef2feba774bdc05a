//! API key validation for edge gateways (the nginx `auth_request` pattern): `/validate` on the
//! plain-HTTP listener, and the checks behind the `verify` command.
//!
//! A request's key is checked in this order: found (header, then query: `key`), signature
//! (through the signature cache: `cache`), revocation, `iss`, `aud`, `exp`/`nbf`, allowed APIs
//! (`rules`), then key type, `permittedIP` and `permittedReferer` against what a trusted gateway
//! says of the client (`restrictions`); `check` runs that pipeline and `rejection` says why a
//! key was refused. Only the
//! signature result is cached; every other check runs on every request, so a cached key
//! expires on time.

mod cache;
mod check;
mod key;
mod rejection;
mod restrictions;
mod rules;
#[cfg(test)]
pub(crate) mod tests;

pub use cache::{cache_key, SignatureCache};
pub use check::Accepted;
pub use rejection::{Rejection, TimeClaim};
pub use restrictions::ClientFacts;
pub use rules::{ApiRef, Rules};

use crate::config::{Config, ValidatorConfig};
use crate::fault::{
    fault, FAULT_CLIENT_NOT_PERMITTED, FAULT_FORBIDDEN, FAULT_INVALID_CREDENTIALS,
    FAULT_KEY_TYPE_NOT_ACCEPTED, FAULT_MISSING_CREDENTIALS,
};
use crate::http::{Request, Response};
use crate::jwks::KeySet;
use crate::metrics::{self, ValidationResult};
use crate::revocation::{NothingRevoked, Revocation};
use std::net::IpAddr;
use std::sync::Arc;

/// The checks, the keys they verify against, the signature cache and the revocation lookup.
pub struct Validator {
    pub rules: Rules,
    keys: Arc<KeySet>,
    cache: SignatureCache,
    revocation: Arc<dyn Revocation>,
}

impl Validator {
    pub fn new(rules: Rules, keys: Arc<KeySet>, cache: SignatureCache) -> Self {
        Validator {
            rules,
            keys,
            cache,
            revocation: Arc::new(NothingRevoked),
        }
    }

    pub fn from_config(config: &Config, keys: Arc<KeySet>) -> Self {
        let v: ValidatorConfig = config.validator.clone().unwrap_or_default();
        Validator::new(
            Rules::from_config(config),
            keys,
            SignatureCache::new(v.cache_max_entries, v.cache_ttl_seconds),
        )
    }

    /// Installs the revocation lookup (the revocation log, or a read-only snapshot of it).
    pub fn with_revocation(mut self, revocation: Arc<dyn Revocation>) -> Self {
        self.revocation = revocation;
        self
    }

    pub fn cache(&self) -> &SignatureCache {
        &self.cache
    }

    /// `/validate` from the TCP peer `peer`: 200 with the key's facts as headers, 401 or 403
    /// with a fault body.
    pub fn validate(&self, req: &Request, peer: IpAddr, now: i64) -> (Response, Option<Accepted>) {
        let result = match self.find_key(req) {
            None => Err(Rejection::Missing),
            Some(key) => self.check_from(
                key.trim(),
                Some(ApiRef {
                    name: req.header_str(&self.rules.api_name_header),
                    version: req.header_str(&self.rules.api_version_header),
                }),
                &self.client_facts(req, peer),
                now,
            ),
        };
        match result {
            Ok(accepted) => {
                metrics::validation(ValidationResult::Valid);
                let sub = accepted.claim("sub").unwrap_or("");
                let keytype = accepted.claim("keytype").unwrap_or("");
                let jti = accepted.claim("jti").unwrap_or("");
                let body = ValidBody {
                    jti,
                    keytype,
                    sub,
                    valid: true,
                };
                let resp = Response::new(200, "application/json", body.to_json())
                    .header("X-Auth-Subject", header_safe(sub))
                    .header("X-Auth-Key-Type", header_safe(keytype))
                    .header("X-Auth-Jti", header_safe(jti))
                    .header("Cache-Control", "no-store");
                (resp, Some(accepted))
            }
            Err(r) => {
                metrics::validation(r.result());
                let status = r.status();
                let (code, message) = match (status, &r) {
                    (_, Rejection::KeyTypeNotAccepted { .. }) => {
                        (FAULT_KEY_TYPE_NOT_ACCEPTED, "Key Type Not Accepted")
                    }
                    (_, r) if r.is_client_restriction() => {
                        (FAULT_CLIENT_NOT_PERMITTED, "Client Not Permitted")
                    }
                    (403, _) => (FAULT_FORBIDDEN, "Forbidden"),
                    (_, Rejection::Missing) => (FAULT_MISSING_CREDENTIALS, "Missing Credentials"),
                    _ => (FAULT_INVALID_CREDENTIALS, "Invalid Credentials"),
                };
                let mut resp = fault(status, code, message, &r.to_string())
                    .header("Cache-Control", "no-store");
                if status == 401 {
                    resp = resp.header("WWW-Authenticate", "APIKey realm=\"apikey-sts\"");
                }
                (resp, None)
            }
        }
    }
}

/// The 200 body. A struct rather than `json!`: no map to build and free per request on the
/// gateway's hot path. Fields in sorted order, as clients have always received them.
#[derive(serde::Serialize)]
struct ValidBody<'a> {
    jti: &'a str,
    keytype: &'a str,
    sub: &'a str,
    valid: bool,
}

impl ValidBody<'_> {
    fn to_json(&self) -> Vec<u8> {
        // Serialising string fields into a Vec cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Claim values become header values: control and non-ASCII bytes (and `%`) are
/// percent-encoded so a header can never be split or carry bytes proxies reject.
fn header_safe(s: &str) -> String {
    let safe = |b: u8| (0x20..0x7f).contains(&b) && b != b'%';
    // The usual case: nothing to encode, one copy.
    if s.bytes().all(safe) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if safe(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
