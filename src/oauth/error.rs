//! The error answers of the token endpoint (RFC 6749 §5.2), shared by introspection's request
//! errors: `{"error": CODE, "error_description": TEXT}`, never cached.

use super::{ParamsError, ScopeError};
use crate::http::Response;

/// An OAuth error, by its RFC 6749 §5.2 code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OAuthError {
    InvalidRequest(InvalidRequest),
    /// Client authentication failed or was missing (401 with `WWW-Authenticate`).
    InvalidClient,
    UnsupportedGrantType,
    InvalidScope(ScopeError),
}

/// What is wrong with a request answered `invalid_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidRequest {
    Params(ParamsError),
    MissingGrantType,
    MissingToken,
    /// The client authenticates with HTTP Basic only; a body secret is refused rather than
    /// ignored so that a client that sends both learns which one counted.
    SecretInBody,
    /// A body `client_id` that is not the Basic user.
    ClientIdMismatch,
}

impl std::fmt::Display for InvalidRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InvalidRequest::Params(e) => e.fmt(f),
            InvalidRequest::MissingGrantType => f.write_str("grant_type is required"),
            InvalidRequest::MissingToken => f.write_str("token is required"),
            InvalidRequest::SecretInBody => f.write_str(
                "client_secret in the body is not accepted; authenticate with HTTP Basic",
            ),
            InvalidRequest::ClientIdMismatch => {
                f.write_str("client_id in the body differs from the authenticated client")
            }
        }
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OAuthError::InvalidRequest(e) => e.fmt(f),
            OAuthError::InvalidClient => f.write_str("client authentication failed"),
            OAuthError::UnsupportedGrantType => {
                f.write_str("only the client_credentials grant is supported")
            }
            OAuthError::InvalidScope(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for OAuthError {}

impl From<ParamsError> for OAuthError {
    fn from(e: ParamsError) -> Self {
        OAuthError::InvalidRequest(InvalidRequest::Params(e))
    }
}

impl OAuthError {
    /// The `error` member.
    pub fn code(&self) -> &'static str {
        match self {
            OAuthError::InvalidRequest(_) => "invalid_request",
            OAuthError::InvalidClient => "invalid_client",
            OAuthError::UnsupportedGrantType => "unsupported_grant_type",
            OAuthError::InvalidScope(_) => "invalid_scope",
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            OAuthError::InvalidClient => 401,
            _ => 400,
        }
    }

    /// The answer. Descriptions are fixed sentences (never request bytes), so they stay within
    /// the characters §5.2 allows.
    pub fn response(&self) -> Response {
        let body = serde_json::json!({
            "error": self.code(),
            "error_description": self.to_string(),
        });
        let r = Response::new(self.status(), "application/json", body.to_string())
            .header("Cache-Control", "no-store")
            .header("Pragma", "no-cache");
        match self {
            OAuthError::InvalidClient => {
                r.header("WWW-Authenticate", r#"Basic realm="apikey-sts""#)
            }
            _ => r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(e: &OAuthError) -> serde_json::Value {
        serde_json::from_slice(&e.response().body).unwrap()
    }

    #[test]
    fn shapes_follow_rfc6749_5_2() {
        let cases = [
            (OAuthError::InvalidClient, 401, "invalid_client"),
            (
                OAuthError::InvalidRequest(InvalidRequest::MissingGrantType),
                400,
                "invalid_request",
            ),
            (
                OAuthError::UnsupportedGrantType,
                400,
                "unsupported_grant_type",
            ),
            (
                OAuthError::InvalidScope(ScopeError::Unknown),
                400,
                "invalid_scope",
            ),
            (
                OAuthError::InvalidScope(ScopeError::NotGranted),
                400,
                "invalid_scope",
            ),
        ];
        for (e, status, code) in cases {
            let r = e.response();
            assert_eq!(r.status, status);
            assert_eq!(r.header_value("Cache-Control"), Some("no-store"));
            let b = body(&e);
            assert_eq!(b["error"], code);
            let d = b["error_description"].as_str().unwrap();
            // §5.2: %x20-21 / %x23-5B / %x5D-7E.
            assert!(d
                .bytes()
                .all(|c| (0x20..=0x7e).contains(&c) && c != b'"' && c != b'\\'));
            assert_eq!(b.as_object().unwrap().len(), 2);
            assert_eq!(
                r.header_value("WWW-Authenticate").is_some(),
                status == 401,
                "{code}"
            );
        }
    }
}
