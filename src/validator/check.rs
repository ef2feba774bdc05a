//! The check pipeline: signature (through the cache), revocation, then the claim rules.

use super::{ApiRef, ClientFacts, Rejection, Validator};
use crate::jwt::{self, JwtError, Verified};
use crate::metrics;
use serde_json::Value;
use std::sync::Arc;

/// A key that passed every check.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub verified: Arc<Verified>,
    pub from_cache: bool,
}

impl Accepted {
    pub fn claim(&self, name: &str) -> Option<&str> {
        self.verified.claims.get(name).and_then(Value::as_str)
    }
}

impl Validator {
    /// Every check on one token. `api` is None when the caller has no API to check against
    /// (the `verify` command without `--api`); with validateAllowedAPIs a request always has one.
    /// Without client facts: a key with `permittedIP` or `permittedReferer` is refused.
    pub fn check(
        &self,
        token: &str,
        api: Option<ApiRef<'_>>,
        now: i64,
    ) -> Result<Accepted, Rejection> {
        self.check_from(token, api, &ClientFacts::default(), now)
    }

    /// `check` for a client the gateway described: the restrictions run last.
    pub fn check_from(
        &self,
        token: &str,
        api: Option<ApiRef<'_>>,
        facts: &ClientFacts<'_>,
        now: i64,
    ) -> Result<Accepted, Rejection> {
        let accepted = self.check_token(token, api, now)?;
        self.rules
            .check_restrictions(&accepted.verified.claims, api, facts)?;
        Ok(accepted)
    }

    /// The checks of the token itself (signature, revocation, claims), not of who presents it:
    /// introspection answers whether a key is good, and its `permittedIP`, `permittedReferer`
    /// and `keytype` are the caller's to apply.
    pub fn check_token(
        &self,
        token: &str,
        api: Option<ApiRef<'_>>,
        now: i64,
    ) -> Result<Accepted, Rejection> {
        let (verified, from_cache) = self.verify_signature(token, now)?;
        if self.revocation.is_revoked(&verified.claims) {
            return Err(Rejection::Revoked);
        }
        self.rules.check_claims(&verified.claims, api, now)?;
        Ok(Accepted {
            verified,
            from_cache,
        })
    }

    fn verify_signature(&self, token: &str, now: i64) -> Result<(Arc<Verified>, bool), Rejection> {
        if token.len() > jwt::MAX_TOKEN_BYTES {
            return Err(Rejection::Token(JwtError::TooLong(token.len())));
        }
        let digest = super::cache::cache_key(token);
        if let Some(v) = self.cache.get(&digest, now) {
            metrics::validation_cache(true);
            return Ok((v, true));
        }
        if self.cache.max_entries() > 0 {
            metrics::validation_cache(false);
        }
        let keys = &self.keys;
        let verified =
            Arc::new(jwt::verify(token, &|kid| keys.key_for(kid)).map_err(Rejection::Token)?);
        self.cache.insert(digest, Arc::clone(&verified), now);
        Ok((verified, false))
    }
}
