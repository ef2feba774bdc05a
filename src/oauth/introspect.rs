//! `POST /apikey/introspect` (RFC 7662): `token=...` in, `{"active": true, ...}` for a key that
//! passes every `/validate` check, `{"active": false}` and nothing more for anything else.

use super::{parse_params, InvalidRequest, OAuthError};
use crate::http::Response;
use serde_json::{Map, Value};

pub const INTROSPECT_PATH: &str = "/apikey/introspect";

/// The `token` of an introspection request (`token_type_hint` is accepted and not needed:
/// we have one kind of token).
pub fn parse_introspect_request(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<String, OAuthError> {
    let p = parse_params(content_type, body, &["token", "token_type_hint"])?;
    p.get("token")
        .map(String::from)
        .ok_or(OAuthError::InvalidRequest(InvalidRequest::MissingToken))
}

/// The answer for an accepted key: the §2.2 members it has (`sub`, `iss`, `iat`, `exp`, `nbf`,
/// `jti`, `aud`), `token_type` `Bearer`, `client_id` (the user it was issued to), and, as in the
/// key, `keytype`, the APIs it may call (`allowedAPIs`) and its `permittedIP` and
/// `permittedReferer`.
pub fn active(claims: &Value) -> Response {
    let mut out = Map::new();
    out.insert("active".into(), true.into());
    for name in [
        "sub",
        "iss",
        "iat",
        "exp",
        "nbf",
        "jti",
        "aud",
        "keytype",
        "allowedAPIs",
        "permittedIP",
        "permittedReferer",
    ] {
        if let Some(v) = claims.get(name) {
            out.insert(name.into(), v.clone());
        }
    }
    if let Some(sub) = claims.get("sub") {
        out.insert("client_id".into(), sub.clone());
    }
    out.insert("token_type".into(), "Bearer".into());
    answer(Value::Object(out))
}

/// The answer for anything that is not an accepted key (§2.2: nothing more is said).
pub fn inactive() -> Response {
    answer(serde_json::json!({"active": false}))
}

fn answer(body: Value) -> Response {
    Response::new(200, "application/json", body.to_string())
        .header("Cache-Control", "no-store")
        .header("Pragma", "no-cache")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_token() {
        let ct = Some("application/x-www-form-urlencoded");
        assert_eq!(
            parse_introspect_request(ct, b"token=a.b.c&token_type_hint=access_token"),
            Ok("a.b.c".into())
        );
        assert_eq!(
            parse_introspect_request(ct, b"token_type_hint=x"),
            Err(OAuthError::InvalidRequest(InvalidRequest::MissingToken))
        );
        assert!(parse_introspect_request(ct, b"token=a&token=b").is_err());
    }

    #[test]
    fn active_copies_claims_and_inactive_says_nothing_more() {
        let claims = serde_json::json!({
            "sub": "alice", "iss": "i", "iat": 1, "exp": 2, "jti": "j", "keytype": "PRODUCTION",
            "allowedAPIs": [{"name": "A", "version": "v1"}], "secret": "no"
        });
        let a: Value = serde_json::from_slice(&active(&claims).body).unwrap();
        assert_eq!(a["active"], true);
        assert_eq!(a["sub"], "alice");
        assert_eq!(a["client_id"], "alice");
        assert_eq!(a["token_type"], "Bearer");
        assert_eq!(a["allowedAPIs"][0]["name"], "A");
        assert_eq!(a.get("secret"), None);
        let i: Value = serde_json::from_slice(&inactive().body).unwrap();
        assert_eq!(i, serde_json::json!({"active": false}));
    }
}
