//! Basic authentication: the `Authorization` header decoder and the `[b7a.users]` password formats.

use crate::config::User;
use crate::secret::Secret;
use base64::Engine;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};
use std::collections::HashMap;
use std::fmt;
use subtle::ConstantTimeEq;

/// Why a request carries no usable credentials. Messages never echo the header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    Missing,
    NotBasic,
    BadBase64,
    NotUtf8,
    NoColon,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthError::Missing => "Authorization header is missing",
            AuthError::NotBasic => "Authorization header does not use the Basic scheme",
            AuthError::BadBase64 => "Authorization header: Basic credentials are not valid base64",
            AuthError::NotUtf8 => "Authorization header: Basic credentials are not UTF-8",
            AuthError::NoColon => "Authorization header: Basic credentials lack the ':' separator",
        })
    }
}

impl std::error::Error for AuthError {}

#[derive(Debug)]
pub struct Credentials {
    pub user: String,
    pub password: Secret,
}

/// Longest base64 credential we decode; bounded by the header limit anyway, this keeps the
/// decoder's allocation small when limits are raised.
pub const MAX_CREDENTIALS_B64: usize = 4096;

/// Decodes an `Authorization` header value (`Basic <base64(user:pass)>`, scheme case-insensitive,
/// padding optional).
pub fn decode_basic(value: Option<&[u8]>) -> Result<Credentials, AuthError> {
    let value = value.ok_or(AuthError::Missing)?;
    let value = std::str::from_utf8(value).map_err(|_| AuthError::NotBasic)?;
    let value = value.trim();
    let (scheme, rest) = value.split_once([' ', '\t']).ok_or(AuthError::NotBasic)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(AuthError::NotBasic);
    }
    let b64 = rest.trim();
    if b64.len() > MAX_CREDENTIALS_B64 {
        return Err(AuthError::BadBase64);
    }
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let bytes = zeroize::Zeroizing::new(engine.decode(b64).map_err(|_| AuthError::BadBase64)?);
    let text = std::str::from_utf8(&bytes).map_err(|_| AuthError::NotUtf8)?;
    let (user, password) = text.split_once(':').ok_or(AuthError::NoColon)?;
    Ok(Credentials {
        user: user.to_string(),
        password: Secret::new(password.to_string()),
    })
}

/// A stored password, as written in `[b7a.users.NAME] password`.
#[derive(Clone, PartialEq, Eq)]
pub enum PasswordHash {
    /// No prefix: lowercase SHA-1 hex, the original's legacy default.
    Sha1(Vec<u8>),
    Sha256(Vec<u8>),
    Sha384(Vec<u8>),
    Sha512(Vec<u8>),
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PasswordHash::Sha1(_) => "PasswordHash::Sha1(..)",
            PasswordHash::Sha256(_) => "PasswordHash::Sha256(..)",
            PasswordHash::Sha384(_) => "PasswordHash::Sha384(..)",
            PasswordHash::Sha512(_) => "PasswordHash::Sha512(..)",
        })
    }
}

/// A password value that is in none of the accepted formats. Never echoes the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordFormatError(pub String);

impl fmt::Display for PasswordFormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PasswordFormatError {}

fn hex_decode(s: &str, len: usize, what: &str) -> Result<Vec<u8>, PasswordFormatError> {
    let bad = || {
        PasswordFormatError(format!(
            "{what} must be {} hex digits (the digest of the password, never the password itself)",
            len * 2
        ))
    };
    if s.len() != len * 2 || !s.is_ascii() {
        return Err(bad());
    }
    (0..len)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| bad()))
        .collect()
}

impl PasswordHash {
    pub fn parse(raw: &str) -> Result<PasswordHash, PasswordFormatError> {
        let raw = raw.trim();
        let prefixed = |prefix: &str| {
            raw.strip_prefix(prefix)
                .and_then(|r| r.strip_prefix('{'))
                .and_then(|r| r.strip_suffix('}'))
        };
        if let Some(h) = prefixed("@sha256:") {
            Ok(PasswordHash::Sha256(hex_decode(h, 32, "@sha256:{...}")?))
        } else if let Some(h) = prefixed("@sha384:") {
            Ok(PasswordHash::Sha384(hex_decode(h, 48, "@sha384:{...}")?))
        } else if let Some(h) = prefixed("@sha512:") {
            Ok(PasswordHash::Sha512(hex_decode(h, 64, "@sha512:{...}")?))
        } else if raw.starts_with('@') {
            Err(PasswordFormatError(
                "unknown password format; accepted: SHA-1 hex, @sha256:{hex}, @sha384:{hex}, @sha512:{hex}"
                    .into(),
            ))
        } else {
            Ok(PasswordHash::Sha1(hex_decode(
                &raw.to_ascii_lowercase(),
                20,
                "an unprefixed password (SHA-1)",
            )?))
        }
    }

    /// Constant-time comparison of the password's digest with the stored one.
    pub fn verify(&self, password: &[u8]) -> bool {
        let (stored, computed): (&[u8], Vec<u8>) = match self {
            PasswordHash::Sha1(h) => (h, Sha1::digest(password).to_vec()),
            PasswordHash::Sha256(h) => (h, Sha256::digest(password).to_vec()),
            PasswordHash::Sha384(h) => (h, Sha384::digest(password).to_vec()),
            PasswordHash::Sha512(h) => (h, Sha512::digest(password).to_vec()),
        };
        bool::from(stored.ct_eq(&computed))
    }
}

/// The configured users, looked up by name.
#[derive(Debug, Default)]
pub struct UserDb {
    users: HashMap<String, User>,
    /// Checked when the user is unknown, so that unknown and known users cost the same.
    decoy: Option<PasswordHash>,
}

impl UserDb {
    pub fn new(users: &[User]) -> UserDb {
        UserDb {
            decoy: users.first().map(|u| u.password.clone()),
            users: users.iter().map(|u| (u.name.clone(), u.clone())).collect(),
        }
    }

    /// The user if the password is right. Does the same hashing work whether or not the user
    /// exists, so response time does not reveal valid user names.
    pub fn authenticate(&self, creds: &Credentials) -> Option<&User> {
        let password = creds.password.expose().as_bytes();
        match self.users.get(&creds.user) {
            Some(u) if u.password.verify(password) => Some(u),
            Some(_) => None,
            None => {
                if let Some(d) = &self.decoy {
                    let _ = d.verify(password);
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, pw: &str) -> User {
        User {
            name: name.into(),
            password: PasswordHash::parse(pw).unwrap(),
            scopes: vec![],
        }
    }

    #[test]
    fn decodes_basic_any_case_with_or_without_padding() {
        let c = decode_basic(Some(b"Basic YWRtaW46YWRtaW4=")).unwrap();
        assert_eq!((c.user.as_str(), c.password.expose()), ("admin", "admin"));
        let c = decode_basic(Some(b"bAsIc   YWRtaW46YWRtaW4")).unwrap();
        assert_eq!(c.user, "admin");
        // Password may contain ':'.
        let v = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("u:p:q")
        );
        let c = decode_basic(Some(v.as_bytes())).unwrap();
        assert_eq!((c.user.as_str(), c.password.expose()), ("u", "p:q"));
    }

    #[test]
    fn rejects_malformed_headers() {
        assert_eq!(decode_basic(None).unwrap_err(), AuthError::Missing);
        assert_eq!(
            decode_basic(Some(b"Bearer abc")).unwrap_err(),
            AuthError::NotBasic
        );
        assert_eq!(
            decode_basic(Some(b"Basic")).unwrap_err(),
            AuthError::NotBasic
        );
        assert_eq!(
            decode_basic(Some(b"Basic !!!")).unwrap_err(),
            AuthError::BadBase64
        );
        assert_eq!(
            decode_basic(Some(b"Basic YWRtaW4=")).unwrap_err(),
            AuthError::NoColon
        );
        assert_eq!(
            decode_basic(Some(b"Basic /w==")).unwrap_err(),
            AuthError::NotUtf8
        );
        assert_eq!(
            decode_basic(Some(b"\xffBasic x")).unwrap_err(),
            AuthError::NotBasic
        );
    }

    #[test]
    fn credential_length_limit_at_and_past_edge() {
        // 4096 base64 chars = 3072 bytes "a:aaaa...".
        let raw = format!("a:{}", "a".repeat(3070));
        let b64 = base64::engine::general_purpose::STANDARD.encode(&raw);
        assert_eq!(b64.len(), MAX_CREDENTIALS_B64);
        assert!(decode_basic(Some(format!("Basic {b64}").as_bytes())).is_ok());
        let b64 = format!("{b64}QQ");
        assert_eq!(
            decode_basic(Some(format!("Basic {b64}").as_bytes())).unwrap_err(),
            AuthError::BadBase64
        );
    }

    #[test]
    fn legacy_and_prefixed_formats() {
        let sha1_admin = "d033e22ae348aeb5660fc2140aec35850c4da997";
        assert!(PasswordHash::parse(sha1_admin).unwrap().verify(b"admin"));
        assert!(PasswordHash::parse(&sha1_admin.to_uppercase())
            .unwrap()
            .verify(b"admin"));
        assert!(!PasswordHash::parse(sha1_admin).unwrap().verify(b"admin "));
        let s256 = "@sha256:{5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8}";
        assert!(PasswordHash::parse(s256).unwrap().verify(b"password"));
        let h384 = Sha384::digest(b"pw384");
        let s384 = format!("@sha384:{{{}}}", hex(&h384));
        assert!(PasswordHash::parse(&s384).unwrap().verify(b"pw384"));
        let h512 = Sha512::digest(b"pw512");
        let s512 = format!("@sha512:{{{}}}", hex(&h512));
        assert!(PasswordHash::parse(&s512).unwrap().verify(b"pw512"));
        assert!(!PasswordHash::parse(&s512).unwrap().verify(b"pw384"));
    }

    #[test]
    fn bad_formats_rejected_without_echo() {
        for bad in ["admin", "@md5:{abc}", "@sha256:{xyz}", "@sha256:5e88", ""] {
            let e = PasswordHash::parse(bad).unwrap_err();
            if !bad.is_empty() {
                assert!(!e.0.contains(bad), "{e}");
            }
        }
        // Multi-byte characters must not panic the hex decoder.
        assert!(PasswordHash::parse(&"é".repeat(20)).is_err());
    }

    #[test]
    fn userdb_authenticates() {
        let db = UserDb::new(&[user("admin", "d033e22ae348aeb5660fc2140aec35850c4da997")]);
        let ok = Credentials {
            user: "admin".into(),
            password: Secret::new("admin".into()),
        };
        assert_eq!(db.authenticate(&ok).map(|u| u.name.as_str()), Some("admin"));
        let bad = Credentials {
            user: "admin".into(),
            password: Secret::new("nope".into()),
        };
        assert!(db.authenticate(&bad).is_none());
        let unknown = Credentials {
            user: "eve".into(),
            password: Secret::new("admin".into()),
        };
        assert!(db.authenticate(&unknown).is_none());
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}
