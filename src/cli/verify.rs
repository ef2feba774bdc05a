//! `apikey-sts verify`: a key's header and claims, and whether this configuration accepts it.

use super::{
    load_config, unix_now, usage_error, Error, Topic, UsageError, VerifyArgs, EXIT_FAILURE,
    EXIT_OK, EXIT_USAGE, MAX_CLOCK_SKEW_SECONDS,
};
use apikey_sts::config::Config;
use apikey_sts::jwks::{JwksError, KeySet};
use apikey_sts::log;
use apikey_sts::revocation::{Revocation, Snapshot};
use apikey_sts::validator::{ApiRef, ClientFacts, Rules, SignatureCache, Validator};
use serde_json::Value;
use std::io::Read;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

/// Exit `EXIT_OK` valid, `EXIT_FAILURE` invalid, `EXIT_USAGE` usage or config error.
pub(super) fn main(config_path: &Path, state_dir: Option<&Path>, args: VerifyArgs) -> ExitCode {
    let token = match args.token.as_deref() {
        None => return usage_error(Topic::Verify, &UsageError::NoToken),
        Some("-") => {
            let mut s = String::new();
            let limit = apikey_sts::jwt::MAX_TOKEN_BYTES as u64 + 2;
            if let Err(e) = std::io::stdin().take(limit).read_to_string(&mut s) {
                return usage_error(Topic::Verify, &UsageError::TokenStdin(e));
            }
            s
        }
        Some(t) => t.to_string(),
    };
    let api = args.api.as_deref().map(|name| ApiRef {
        name: Some(name),
        version: args.version.as_deref(),
    });
    let facts = ClientFacts {
        ip: args.ip,
        referer: args.referer.as_deref(),
    };
    match report_for(config_path, state_dir, &token, api, &facts) {
        Ok((text, valid)) => {
            print!("{text}");
            ExitCode::from(if valid { EXIT_OK } else { EXIT_FAILURE })
        }
        Err(e) => {
            log::error(&e.to_string());
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn report_for(
    config_path: &Path,
    state_dir: Option<&Path>,
    token: &str,
    api: Option<ApiRef<'_>>,
    facts: &ClientFacts<'_>,
) -> Result<(String, bool), Error> {
    let now = unix_now();
    let c = load_config(config_path, state_dir)?;
    // Read-only: the running server may be appending to the same log.
    let revoked = match &c.revocation_file {
        Some(p) => Some(
            Snapshot::read(p, now, MAX_CLOCK_SKEW_SECONDS).map_err(|error| Error::Revocation {
                source: c.source.clone(),
                error,
            })?,
        ),
        None => None,
    };
    let revoked = revoked.map(|s| Arc::new(s) as Arc<dyn Revocation>);
    report(&c, token, api, facts, now, revoked).map_err(Error::Keys)
}

/// `apikey-sts verify TOKEN`: the report to print and whether the key is valid, using the
/// configured keys and the validator's checks. `api`, when given, is checked against the key's
/// allowed APIs even when `validateAllowedAPIs` is off. `facts` are what `--ip` and
/// `--referer` say about the client.
fn report(
    config: &Config,
    token: &str,
    api: Option<ApiRef<'_>>,
    facts: &ClientFacts<'_>,
    now: i64,
    revocation: Option<Arc<dyn Revocation>>,
) -> Result<(String, bool), JwksError> {
    let keys = Arc::new(KeySet::load(config, None)?);
    let mut rules = Rules::from_config(config);
    // Whoever names an API wants to know whether the key may call it, whatever the gateways
    // are configured to check.
    if api.is_some() {
        rules.validate_allowed_apis = true;
    }
    let v = Validator::new(rules, keys, SignatureCache::new(0, 1));
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
    let valid = match v.check_from(token, api, facts, now) {
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
