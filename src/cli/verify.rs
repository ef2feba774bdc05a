//! `apikey-sts verify`: a key's header and claims, and whether this configuration accepts it.

use apikey_sts::config::Config;
use apikey_sts::jwks::{JwksError, KeySet};
use apikey_sts::revocation::Revocation;
use apikey_sts::validator::{ApiRef, Rules, Validator, VerifyCache};
use serde_json::Value;
use std::sync::Arc;

/// `apikey-sts verify TOKEN`: the report to print and whether the key is valid, using the
/// configured keys and the validator's checks. `api` is checked only when given.
pub fn verify_report(
    config: &Config,
    token: &str,
    api: Option<ApiRef<'_>>,
    now: i64,
    revocation: Option<Arc<dyn Revocation>>,
) -> Result<(String, bool), JwksError> {
    let keys = Arc::new(KeySet::load(config, None)?);
    let v = Validator::new(Rules::from_config(config), keys, VerifyCache::new(0, 1));
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
