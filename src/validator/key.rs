//! Where a request carries its key: the configured headers, then query parameters.

use super::Validator;
use crate::form;
use crate::http::Request;
use std::borrow::Cow;

impl Validator {
    /// The key in the request: the configured headers first (any case), then the configured
    /// query parameters of `X-Original-URI` (what nginx forwards) and of the request itself.
    /// A parameter that does not decode is kept as written; such a key then fails to verify.
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
                let name = form::decode(name).unwrap_or(Cow::Borrowed(name));
                if self.rules.key_query_params.iter().any(|n| *n == name) {
                    return Some(form::decode(value).unwrap_or(Cow::Borrowed(value)));
                }
            }
        }
        None
    }
}
