//! Why a key was refused, with its HTTP status and metrics label.

use crate::jwt::JwtError;
use crate::metrics::ValidationResult;
use crate::restriction::Claim;
use std::fmt;
use std::net::IpAddr;

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
    BadClaim(TimeClaim),
    /// No `jti`, or one the revocation list could not hold: such a key could never be revoked,
    /// so it is not accepted at all.
    NoRevocableJti,
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
    /// The key carries `permittedIP` and the client address is not in it.
    IpNotPermitted {
        ip: IpAddr,
    },
    /// The key carries `permittedReferer` and the client's referer matches none of it.
    RefererNotPermitted,
    /// The key is restricted but no trusted gateway gave the fact it needs in `header`.
    ClientUnknown {
        header: String,
    },
    /// `permittedIP` or `permittedReferer` of the key is not a valid value.
    BadRestriction(Claim),
    /// A key that is not PRODUCTION, where only PRODUCTION keys are accepted.
    KeyTypeNotAccepted {
        keytype: String,
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
            Rejection::BadClaim(c) => write!(f, "claim {} has the wrong type", c.name()),
            Rejection::NoRevocableJti => f.write_str(
                "claim jti is missing or not a revocable id (1..=128 of A-Z a-z 0-9 - _ . :)",
            ),
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
            Rejection::IpNotPermitted { ip } => {
                write!(f, "client address {ip} is not in the key's permittedIP")
            }
            Rejection::RefererNotPermitted => {
                f.write_str("the client's referer matches none of the key's permittedReferer")
            }
            Rejection::ClientUnknown { header } => write!(
                f,
                "the key is restricted but no trusted gateway sent the {header} header"
            ),
            Rejection::BadRestriction(c) => write!(f, "claim {c} is not a valid restriction"),
            Rejection::KeyTypeNotAccepted { keytype } => {
                write!(
                    f,
                    "keytype {keytype:?} is not accepted here: PRODUCTION keys only"
                )
            }
        }
    }
}

impl std::error::Error for Rejection {}

impl Rejection {
    /// 401 for a missing or bad key, 403 for a good key used on the wrong API, from the wrong
    /// client or of the wrong type.
    pub fn status(&self) -> u16 {
        match self {
            Rejection::ApiNotAllowed { .. }
            | Rejection::ApiUnspecified { .. }
            | Rejection::KeyTypeNotAccepted { .. } => 403,
            r if r.is_client_restriction() => 403,
            _ => 401,
        }
    }

    /// A refusal by `permittedIP` or `permittedReferer` (fault code 900912).
    pub fn is_client_restriction(&self) -> bool {
        self.result() == ValidationResult::ClientNotPermitted
    }

    /// The `result` of `apikey_sts_validations_total`.
    pub fn result(&self) -> ValidationResult {
        match self {
            Rejection::Missing => ValidationResult::Missing,
            Rejection::Token(JwtError::TooLong(_)) => ValidationResult::TooLong,
            Rejection::Token(JwtError::Malformed(_) | JwtError::DuplicateMember(_)) => {
                ValidationResult::Malformed
            }
            Rejection::Token(JwtError::CriticalExtension) => ValidationResult::CriticalExtension,
            Rejection::Token(JwtError::Algorithm(_) | JwtError::KeyAlgorithm { .. }) => {
                ValidationResult::BadAlgorithm
            }
            Rejection::Token(JwtError::UnknownKey(_)) => ValidationResult::UnknownKey,
            Rejection::Token(JwtError::BadSignature) => ValidationResult::BadSignature,
            Rejection::Token(
                JwtError::Signing(_) | JwtError::KeyRejected(_) | JwtError::Rng(_),
            ) => ValidationResult::Other,
            Rejection::WrongIssuer => ValidationResult::WrongIssuer,
            Rejection::WrongAudience => ValidationResult::WrongAudience,
            Rejection::Expired { .. } => ValidationResult::Expired,
            Rejection::NotYetValid { .. } => ValidationResult::NotYetValid,
            Rejection::BadClaim(_) | Rejection::NoRevocableJti => ValidationResult::BadClaim,
            Rejection::Revoked => ValidationResult::Revoked,
            Rejection::ApiNotAllowed { .. } => ValidationResult::ApiNotAllowed,
            Rejection::ApiUnspecified { .. } => ValidationResult::ApiUnspecified,
            Rejection::IpNotPermitted { .. }
            | Rejection::RefererNotPermitted
            | Rejection::ClientUnknown { .. }
            | Rejection::BadRestriction(_) => ValidationResult::ClientNotPermitted,
            Rejection::KeyTypeNotAccepted { .. } => ValidationResult::KeyTypeNotAccepted,
        }
    }
}

/// The NumericDate claims the validator reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeClaim {
    Exp,
    Nbf,
}

impl TimeClaim {
    pub fn name(self) -> &'static str {
        match self {
            TimeClaim::Exp => "exp",
            TimeClaim::Nbf => "nbf",
        }
    }
}
