//! The checks `[apikey.tokenConfigs]` and `[validator]` configure, and the claim checks that
//! apply them to a verified token.

use super::{Rejection, TimeClaim};
use crate::client_addr::TrustedProxies;
use crate::config::Config;
use serde_json::Value;

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
    /// `[validator] gatewayAddresses`: whose client-address and referer headers are taken.
    pub gateway_addresses: TrustedProxies,
    pub client_ip_header: String,
    pub referer_header: String,
    pub production_only: bool,
    pub production_only_apis: Vec<String>,
    /// `Authorization: Bearer <key>` is read after `key_headers`.
    pub accept_bearer: bool,
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
            gateway_addresses: v.gateway_addresses,
            client_ip_header: v.client_ip_header,
            referer_header: v.referer_header,
            production_only: v.production_only,
            production_only_apis: v.production_only_apis,
            accept_bearer: v.accept_bearer,
        }
    }
}

/// The API a request is for, as the gateway names it.
#[derive(Debug, Clone, Copy)]
pub struct ApiRef<'a> {
    pub name: Option<&'a str>,
    pub version: Option<&'a str>,
}

impl Rules {
    /// `iss`, `aud`, `exp`/`nbf` (with the clock skew) and, when validateAllowedAPIs is on and
    /// `api` is given, the allowed APIs; in that order.
    pub fn check_claims(
        &self,
        claims: &Value,
        api: Option<ApiRef<'_>>,
        now: i64,
    ) -> Result<(), Rejection> {
        if claims.get("iss").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err(Rejection::WrongIssuer);
        }
        // Revocation works by jti: a key without a usable one would be irrevocable.
        if !claims
            .get("jti")
            .and_then(Value::as_str)
            .is_some_and(crate::revocation::valid_jti)
        {
            return Err(Rejection::NoRevocableJti);
        }
        if let Some(aud) = &self.audience {
            let ok = match claims.get("aud") {
                Some(Value::String(s)) => s == aud,
                Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(aud.as_str())),
                _ => false,
            };
            if !ok {
                return Err(Rejection::WrongAudience);
            }
        }
        let skew = self.clock_skew_seconds;
        if let Some(v) = claims.get("exp") {
            let exp = numeric_date(Some(v)).ok_or(Rejection::BadClaim(TimeClaim::Exp))?;
            // RFC 7519 4.1.4: not accepted on or after exp; the skew forgives slow clocks.
            if now >= exp.saturating_add(skew) {
                return Err(Rejection::Expired { exp });
            }
        }
        if let Some(v) = claims.get("nbf") {
            let nbf = numeric_date(Some(v)).ok_or(Rejection::BadClaim(TimeClaim::Nbf))?;
            if now.saturating_add(skew) < nbf {
                return Err(Rejection::NotYetValid { nbf });
            }
        }
        if self.validate_allowed_apis {
            if let Some(api) = api {
                self.check_api(claims, api)?;
            }
        }
        Ok(())
    }

    fn check_api(&self, claims: &Value, api: ApiRef<'_>) -> Result<(), Rejection> {
        let Some(name) = api.name.filter(|n| !n.is_empty()) else {
            return Err(Rejection::ApiUnspecified {
                header: self.api_name_header.clone(),
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
                header: self.api_name_header.clone(),
                name: name.to_string(),
                version: version.map(String::from),
            })
        }
    }
}

/// A NumericDate claim (RFC 7519: seconds, possibly fractional); None when absent or not a
/// number.
pub(super) fn numeric_date(v: Option<&Value>) -> Option<i64> {
    let v = v?;
    v.as_i64().or_else(|| {
        v.as_f64()
            .filter(|f| f.is_finite())
            .map(|f| f.floor().clamp(i64::MIN as f64, i64::MAX as f64) as i64)
    })
}
