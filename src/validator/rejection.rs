//! Why a key was refused, with its HTTP status and metrics label.

use crate::jwt::JwtError;
use std::fmt;

/// Why a key was refused. Messages name the header or claim at fault; they go to the gateway
/// (and the log line's status), never include the key itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// No key in any configured header or query parameter.
    Missing,
    /// Structure, algorithm, kid or signature (from `jwt::verify`).
    Token(JwtError),
    /// `iss` is not the configured issuer.
    WrongIssuer,
    /// `aud` does not contain the configured audience.
    WrongAudience,
    Expired {
        exp: i64,
    },
    NotYetValid {
        nbf: i64,
    },
    /// A registered claim has the wrong type.
    BadClaim(&'static str),
    Revoked,
    /// The API named in the request headers is not in the key's allowedAPIs/subscribedAPIs.
    ApiNotAllowed {
        header: String,
        name: String,
        version: Option<String>,
    },
    /// validateAllowedAPIs is on but the gateway did not say which API is being called.
    ApiUnspecified {
        header: String,
    },
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Missing => f.write_str("no API key in the request"),
            Rejection::Token(e) => e.fmt(f),
            Rejection::WrongIssuer => f.write_str("claim iss is not the configured issuer"),
            Rejection::WrongAudience => {
                f.write_str("claim aud does not contain the configured audience")
            }
            Rejection::Expired { exp } => write!(f, "key expired (claim exp = {exp})"),
            Rejection::NotYetValid { nbf } => write!(f, "key not valid yet (claim nbf = {nbf})"),
            Rejection::BadClaim(c) => write!(f, "claim {c} has the wrong type"),
            Rejection::Revoked => f.write_str("key has been revoked"),
            Rejection::ApiNotAllowed {
                header,
                name,
                version,
            } => write!(
                f,
                "API {name:?} version {} (from header {header} and its version header) is not \
                 in the key's allowedAPIs or subscribedAPIs",
                version
                    .as_deref()
                    .map_or("(none)".into(), |v| format!("{v:?}"))
            ),
            Rejection::ApiUnspecified { header } => write!(
                f,
                "validateAllowedAPIs is on but the request has no {header} header"
            ),
        }
    }
}

impl std::error::Error for Rejection {}

impl Rejection {
    /// 401 for a missing or bad key, 403 for a good key used on the wrong API.
    pub fn status(&self) -> u16 {
        match self {
            Rejection::ApiNotAllowed { .. } | Rejection::ApiUnspecified { .. } => 403,
            _ => 401,
        }
    }

    /// The `result` label of `apikey_sts_validations_total`.
    pub fn label(&self) -> &'static str {
        match self {
            Rejection::Missing => "missing",
            Rejection::Token(JwtError::TooLong(_)) => "too_long",
            Rejection::Token(JwtError::Malformed(_)) => "malformed",
            Rejection::Token(JwtError::Algorithm(_)) => "bad_algorithm",
            Rejection::Token(JwtError::UnknownKey(_)) => "unknown_key",
            Rejection::Token(JwtError::BadSignature) => "bad_signature",
            Rejection::Token(JwtError::Sign(_)) => "other",
            Rejection::WrongIssuer => "wrong_issuer",
            Rejection::WrongAudience => "wrong_audience",
            Rejection::Expired { .. } => "expired",
            Rejection::NotYetValid { .. } => "not_yet_valid",
            Rejection::BadClaim(_) => "bad_claim",
            Rejection::Revoked => "revoked",
            Rejection::ApiNotAllowed { .. } => "api_not_allowed",
            Rejection::ApiUnspecified { .. } => "api_unspecified",
        }
    }
}
