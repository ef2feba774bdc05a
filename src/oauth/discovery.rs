//! `GET /.well-known/oauth-authorization-server` (RFC 8414): where the endpoints are, built from
//! the public base URL (what clients reach, which behind a load balancer is not the listener's
//! own address).

use super::{INTROSPECT_PATH, TOKEN_PATH};
use crate::http::Response;

pub const DISCOVERY_PATH: &str = "/.well-known/oauth-authorization-server";

/// The public base URL: the configured one, else the scheme and authority of `issuer` (the
/// default issuer `https://localhost:9095/apikey` gives `https://localhost:9095`). None when
/// neither exists (an issuer that is not an http(s) URL and no `publicBaseUrl`).
pub fn base_url(configured: Option<&str>, issuer: &str) -> Option<String> {
    if let Some(c) = configured {
        return Some(c.trim_end_matches('/').to_string());
    }
    let (scheme, rest) = issuer.split_once("://")?;
    if !matches!(scheme, "https" | "http") {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    (!authority.is_empty()).then(|| format!("{scheme}://{authority}"))
}

/// The path part of an http(s) issuer URL (`/apikey` for `https://host/apikey`), if any.
fn issuer_path(issuer: &str) -> Option<&str> {
    let (_, rest) = issuer.split_once("://")?;
    let path = &rest[rest.find('/')?..];
    (path != "/").then_some(path.trim_end_matches('/'))
}

/// The metadata's paths: the plain one, and the one RFC 8414 §3.1 derives from an issuer with
/// a path (`/.well-known/oauth-authorization-server/apikey`), which standard clients ask for.
pub fn is_discovery_path(path: &str, issuer: &str) -> bool {
    match path.strip_prefix(DISCOVERY_PATH) {
        Some("") => true,
        Some(suffix) => issuer_path(issuer) == Some(suffix),
        None => false,
    }
}

/// The metadata document. `issuer` is the `iss` of our keys (§3.3: the client checks they are
/// equal); `algs` the algorithms keys are signed with.
pub fn metadata(issuer: &str, base: &str, algs: &[&str]) -> Response {
    let url = |path: &str| format!("{base}{path}");
    let basic = ["client_secret_basic"];
    let body = serde_json::json!({
        "issuer": issuer,
        "token_endpoint": url(TOKEN_PATH),
        "jwks_uri": url("/.well-known/jwks.json"),
        "revocation_endpoint": url("/apikey/revoke"),
        "introspection_endpoint": url(INTROSPECT_PATH),
        "grant_types_supported": [super::CLIENT_CREDENTIALS],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": basic,
        "revocation_endpoint_auth_methods_supported": basic,
        "introspection_endpoint_auth_methods_supported": basic,
        "access_token_signing_alg_values_supported": algs,
    });
    Response::new(200, "application/json", body.to_string()).header("Cache-Control", "max-age=300")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_is_configured_or_the_issuers_origin() {
        let iss = "https://sts.example:9095/apikey";
        assert_eq!(
            base_url(None, iss).as_deref(),
            Some("https://sts.example:9095")
        );
        assert_eq!(
            base_url(Some("https://lb.example/"), iss).as_deref(),
            Some("https://lb.example")
        );
        assert_eq!(base_url(None, "http://h").as_deref(), Some("http://h"));
        assert_eq!(base_url(None, "urn:apikey-sts"), None);
        assert_eq!(base_url(None, "ftp://h/x"), None);
        assert_eq!(base_url(None, "https:///x"), None);
    }

    #[test]
    fn paths_plain_and_derived_from_the_issuer() {
        let iss = "https://h/apikey";
        assert!(is_discovery_path(DISCOVERY_PATH, iss));
        assert!(is_discovery_path(
            "/.well-known/oauth-authorization-server/apikey",
            iss
        ));
        assert!(!is_discovery_path(
            "/.well-known/oauth-authorization-server/other",
            iss
        ));
        assert!(!is_discovery_path(
            "/.well-known/oauth-authorization-serverx",
            iss
        ));
        assert!(!is_discovery_path(
            "/.well-known/oauth-authorization-server/",
            "https://h"
        ));
        assert!(!is_discovery_path("/.well-known/openid-configuration", iss));
    }

    #[test]
    fn metadata_names_every_endpoint_under_the_base() {
        let r = metadata("https://h/apikey", "https://lb", &["RS256"]);
        let m: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(m["issuer"], "https://h/apikey");
        assert_eq!(m["token_endpoint"], "https://lb/apikey/token");
        assert_eq!(m["jwks_uri"], "https://lb/.well-known/jwks.json");
        assert_eq!(m["revocation_endpoint"], "https://lb/apikey/revoke");
        assert_eq!(m["introspection_endpoint"], "https://lb/apikey/introspect");
        assert_eq!(
            m["grant_types_supported"],
            serde_json::json!(["client_credentials"])
        );
        assert_eq!(
            m["token_endpoint_auth_methods_supported"],
            serde_json::json!(["client_secret_basic"])
        );
        assert_eq!(
            m["access_token_signing_alg_values_supported"],
            serde_json::json!(["RS256"])
        );
    }
}
