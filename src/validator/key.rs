//! Where a request carries its key: the configured headers, `Authorization: Bearer`, then query
//! parameters of the original request.

use super::Validator;
use crate::form;
use crate::http::Request;
use std::borrow::Cow;

/// Headers in which a gateway forwards the original request's URI: `X-Original-URI` (nginx
/// `auth_request`), `X-Forwarded-Uri` (Traefik and Caddy `forward_auth`).
pub const ORIGINAL_URI_HEADERS: [&str; 2] = ["x-original-uri", "x-forwarded-uri"];

impl Validator {
    /// The key in the request: the configured headers first (any case), then
    /// `Authorization: Bearer` (RFC 6750 §2.1, when `acceptBearer`), then the configured query
    /// parameters of the original URI (`ORIGINAL_URI_HEADERS`) and of the request itself (which
    /// is the original path under Envoy's `ext_authz`: `/validate/<path>?<query>`).
    /// A parameter that does not decode is kept as written; such a key then fails to verify.
    pub fn find_key<'r>(&self, req: &'r Request) -> Option<Cow<'r, str>> {
        for name in &self.rules.key_headers {
            if let Some(v) = req.header_str(name).filter(|v| !v.is_empty()) {
                return Some(Cow::Borrowed(v));
            }
        }
        if self.rules.accept_bearer {
            if let Some(key) = req.header_str("authorization").and_then(bearer) {
                return Some(Cow::Borrowed(key));
            }
        }
        let original = ORIGINAL_URI_HEADERS.iter().filter_map(|h| {
            req.header_str(h)
                .and_then(|u| u.split_once('?'))
                .map(|(_, q)| q.split('#').next().unwrap_or(""))
        });
        for query in original.chain(req.query()) {
            for pair in query.split('&') {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                if value.is_empty() {
                    continue;
                }
                let name = form::decode(name).unwrap_or(Cow::Borrowed(name));
                if self.rules.key_query_params.iter().any(|n| *n == name) {
                    return Some(form::decode(value).unwrap_or(Cow::Borrowed(value)));
                }
            }
        }
        None
    }
}

/// The credentials of an `Authorization: Bearer <token>` value (scheme in any case); None for
/// another scheme or an empty token.
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
