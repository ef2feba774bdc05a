//! `POST /apikey/token`: the client-credentials grant (RFC 6749 §4.4). The client
//! authenticates with HTTP Basic (§2.3.1) only; the body carries `grant_type`, optionally
//! `scope`, and optionally `client_id` when it names the Basic user.

use super::{parse_params, parse_scope, InvalidRequest, OAuthError, Scope};
use crate::http::Response;

pub const TOKEN_PATH: &str = "/apikey/token";

/// The one grant type served.
pub const CLIENT_CREDENTIALS: &str = "client_credentials";

/// A well-formed client-credentials request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    pub scope: Vec<Scope>,
}

/// Reads a token request's body for the client `user` authenticated by HTTP Basic.
pub fn parse_token_request(
    content_type: Option<&str>,
    body: &[u8],
    user: &str,
) -> Result<TokenRequest, OAuthError> {
    let p = parse_params(
        content_type,
        body,
        &["grant_type", "scope", "client_id", "client_secret"],
    )?;
    if p.get("client_secret").is_some() {
        return Err(OAuthError::InvalidRequest(InvalidRequest::SecretInBody));
    }
    if p.get("client_id").is_some_and(|id| id != user) {
        return Err(OAuthError::InvalidRequest(InvalidRequest::ClientIdMismatch));
    }
    match p.get("grant_type") {
        None => return Err(OAuthError::InvalidRequest(InvalidRequest::MissingGrantType)),
        Some(CLIENT_CREDENTIALS) => {}
        Some(_) => return Err(OAuthError::UnsupportedGrantType),
    }
    let scope = parse_scope(p.get("scope").unwrap_or("")).map_err(OAuthError::InvalidScope)?;
    Ok(TokenRequest { scope })
}

/// The successful answer (§5.1); `expires_in` only for a key that expires.
pub fn token_response(access_token: &str, expires_in: Option<i64>) -> Response {
    let mut body = serde_json::json!({"access_token": access_token, "token_type": "Bearer"});
    if let Some(n) = expires_in {
        body["expires_in"] = n.into();
    }
    Response::new(200, "application/json", body.to_string())
        .header("Cache-Control", "no-store")
        .header("Pragma", "no-cache")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::ScopeError;

    const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

    fn parse(body: &str) -> Result<TokenRequest, OAuthError> {
        parse_token_request(FORM, body.as_bytes(), "alice")
    }

    #[test]
    fn client_credentials_with_and_without_scope() {
        assert_eq!(
            parse("grant_type=client_credentials"),
            Ok(TokenRequest { scope: vec![] })
        );
        assert_eq!(
            parse("grant_type=client_credentials&client_id=alice&scope=api%3AA%2520B%3Av1")
                .map(|r| r.scope),
            Ok(vec![Scope::Api {
                name: "A B".into(),
                version: "v1".into()
            }])
        );
    }

    #[test]
    fn errors_by_rfc_code() {
        let code = |b: &str| parse(b).unwrap_err().code();
        assert_eq!(code(""), "invalid_request");
        assert_eq!(code("grant_type="), "invalid_request");
        assert_eq!(code("scope=x"), "invalid_request");
        assert_eq!(code("grant_type=password"), "unsupported_grant_type");
        assert_eq!(
            code("grant_type=authorization_code"),
            "unsupported_grant_type"
        );
        assert_eq!(
            code("grant_type=client_credentials&grant_type=client_credentials"),
            "invalid_request"
        );
        assert_eq!(
            code("grant_type=client_credentials&client_secret=x"),
            "invalid_request"
        );
        assert_eq!(
            code("grant_type=client_credentials&client_id=bob"),
            "invalid_request"
        );
        assert_eq!(
            code("grant_type=client_credentials&scope=openid"),
            "invalid_scope"
        );
        assert_eq!(
            parse_token_request(None, b"grant_type=client_credentials", "alice")
                .unwrap_err()
                .code(),
            "invalid_request"
        );
        assert_eq!(
            parse("grant_type=client_credentials&scope=api:x"),
            Err(OAuthError::InvalidScope(ScopeError::BadApi))
        );
    }

    #[test]
    fn answer_is_never_cached() {
        let r = token_response("k", Some(60));
        assert_eq!(r.header_value("Cache-Control"), Some("no-store"));
        let b: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            b,
            serde_json::json!({"access_token": "k", "token_type": "Bearer", "expires_in": 60})
        );
        let b: serde_json::Value = serde_json::from_slice(&token_response("k", None).body).unwrap();
        assert_eq!(b.get("expires_in"), None);
    }
}
