//! JSON Web Tokens (RFC 7515/7519) signed RS256, PS256, ES256, ES384 or EdDSA (RFC 7518,
//! RFC 8037): encoding, strict decoding and verification against keys bound to one algorithm.

mod key;
mod sign;

pub use crate::config::Algorithm;
pub use key::{KeyType, PublicKey, PublicKeyError, UnfitAlgorithm, VerificationKey};
pub use sign::{ProviderSigner, RsaSigner, Signer};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtError {
    /// The signer failed to sign (its own message); a server-side fault, never the client's.
    Signing(String),
    /// The crypto provider refused the signing key (its message).
    KeyRejected(String),
    /// The OS random number generator failed (drawing a `jti`).
    Rng(getrandom::Error),
    TooLong(usize),
    Malformed(&'static str),
    /// An algorithm not supported, `none` and HS256 included.
    Algorithm(String),
    /// A supported algorithm, but not the one the token's key is bound to.
    KeyAlgorithm {
        token: Algorithm,
        key: Algorithm,
    },
    UnknownKey(String),
    BadSignature,
    /// The header or the claims name one member twice (see `strict_json`).
    DuplicateMember(String),
    /// The header has `crit`: RFC 7515 §4.1.11 says a recipient must reject a JWS whose
    /// critical extensions it does not understand, and we understand none.
    CriticalExtension,
}

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwtError::Signing(e) => write!(f, "signing failed: {e}"),
            JwtError::KeyRejected(e) => write!(f, "signing failed: provider rejected the key: {e}"),
            JwtError::Rng(e) => write!(f, "signing failed: OS RNG failed: {e}"),
            JwtError::TooLong(n) => {
                write!(
                    f,
                    "token is {n} bytes, longer than the {MAX_TOKEN_BYTES}-byte limit"
                )
            }
            JwtError::Malformed(what) => write!(f, "malformed token: {what}"),
            JwtError::Algorithm(a) => {
                write!(
                    f,
                    "token algorithm {a:?} is not accepted (RS256, PS256, ES256, ES384, EdDSA)"
                )
            }
            JwtError::KeyAlgorithm { token, key } => write!(
                f,
                "token algorithm {token} is not its key's: the key verifies {key} only"
            ),
            JwtError::UnknownKey(kid) => {
                write!(f, "token key id {kid:?} is not a known signing key")
            }
            JwtError::BadSignature => f.write_str("token signature does not verify"),
            JwtError::DuplicateMember(name) => {
                write!(f, "malformed token: member {name:?} appears more than once")
            }
            JwtError::CriticalExtension => {
                f.write_str("token header lists critical extensions (crit); none is supported")
            }
        }
    }
}

impl std::error::Error for JwtError {}

impl JwtError {
    /// A failure of the server's own (signer, key or RNG), never caused by a token.
    pub fn is_server_fault(&self) -> bool {
        matches!(
            self,
            JwtError::Signing(_) | JwtError::KeyRejected(_) | JwtError::Rng(_)
        )
    }
}

/// Longest token we try to decode.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub alg: String,
    pub typ: Option<String>,
    pub kid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllowedApi {
    pub name: String,
    pub version: String,
}

/// The claims of an API key, in the original's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub aud: Option<String>,
    pub iat: i64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub exp: Option<i64>,
    pub jti: String,
    pub keytype: String,
    #[serde(rename = "allowedAPIs", default)]
    pub allowed_apis: Vec<AllowedApi>,
    /// Comma-separated addresses and CIDR blocks the key may be used from (WSO2's name).
    #[serde(
        rename = "permittedIP",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub permitted_ip: Option<String>,
    /// Comma-separated URL patterns the key may be used from (WSO2's name).
    #[serde(
        rename = "permittedReferer",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub permitted_referer: Option<String>,
}

/// `header.claims.signature`, each part base64url without padding.
pub fn encode(kid: &str, claims: &Claims, signer: &dyn Signer) -> Result<String, JwtError> {
    let header = Header {
        alg: signer.algorithm().name().into(),
        typ: Some("JWT".into()),
        kid: Some(kid.into()),
    };
    let header = serde_json::to_vec(&header).map_err(|e| JwtError::Signing(e.to_string()))?;
    let claims = serde_json::to_vec(claims).map_err(|e| JwtError::Signing(e.to_string()))?;
    // Sized once for all three parts (an RSA-4096 signature is the longest, 512 bytes): the
    // token is otherwise regrown as each part is appended.
    let b64_len = |n: usize| n.div_ceil(3) * 4;
    let mut token =
        String::with_capacity(b64_len(header.len()) + b64_len(claims.len()) + 2 + b64_len(512));
    URL_SAFE_NO_PAD.encode_string(header, &mut token);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(claims, &mut token);
    let sig = signer.sign(token.as_bytes())?;
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(sig, &mut token);
    Ok(token)
}

/// A token whose signature has been checked; claims are not yet judged (iss, exp, ...).
#[derive(Debug, Clone)]
pub struct Verified {
    pub header: Header,
    pub claims: serde_json::Value,
}

/// A segment without its base64 padding. Some releases of the original padded their segments,
/// so padding is accepted, but only as much as base64 itself would add: `sig`, `sig=` and
/// `sig===` must not be three spellings of one token.
fn unpad(part: &str) -> Result<&str, JwtError> {
    let bare = part.trim_end_matches('=');
    let pad = part.len() - bare.len();
    if pad > 0 && (pad > 2 || !part.len().is_multiple_of(4)) {
        return Err(JwtError::Malformed("segment has wrong base64 padding"));
    }
    Ok(bare)
}

fn b64(part: &str) -> Result<Vec<u8>, JwtError> {
    URL_SAFE_NO_PAD
        .decode(unpad(part)?)
        .map_err(|_| JwtError::Malformed("segment is not base64url"))
}

/// The one spelling of a token that caches and logs use: the signature segment without padding
/// (the header and claims segments are signed as they are, so their spelling is fixed). A token
/// `verify` would refuse for its padding comes back unchanged.
pub fn canonical(token: &str) -> std::borrow::Cow<'_, str> {
    match token.rsplit_once('.') {
        Some((signed, sig)) if sig.ends_with('=') => match unpad(sig) {
            Ok(bare) => format!("{signed}.{bare}").into(),
            Err(_) => token.into(),
        },
        _ => token.into(),
    }
}

/// Strict JSON (no duplicate members) of one decoded segment.
fn json(bytes: &[u8], what: &'static str) -> Result<serde_json::Value, JwtError> {
    crate::strict_json::parse(bytes).map_err(|e| match e {
        crate::strict_json::StrictJsonError::DuplicateMember(name) => {
            JwtError::DuplicateMember(name)
        }
        crate::strict_json::StrictJsonError::Syntax => JwtError::Malformed(what),
    })
}

/// Checks structure, algorithm and signature. `key_for` maps a `kid` (None when the header has
/// none) to the key it names; the token's `alg` must be the one that key is bound to.
pub fn verify<'k>(
    token: &str,
    key_for: &dyn Fn(Option<&str>) -> Option<&'k VerificationKey>,
) -> Result<Verified, JwtError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(JwtError::TooLong(token.len()));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed("expected three dot-separated segments"));
    };
    const BAD_HEADER: &str = "header is not a JSON object with alg";
    let header = json(&b64(h)?, BAD_HEADER)?;
    if header.get("crit").is_some() {
        return Err(JwtError::CriticalExtension);
    }
    let header: Header =
        serde_json::from_value(header).map_err(|_| JwtError::Malformed(BAD_HEADER))?;
    let Some(alg) = Algorithm::from_name(&header.alg) else {
        return Err(JwtError::Algorithm(header.alg));
    };
    let key = key_for(header.kid.as_deref())
        .ok_or_else(|| JwtError::UnknownKey(header.kid.clone().unwrap_or_default()))?;
    let signed = &token[..h.len() + 1 + c.len()];
    key.verify(alg, signed.as_bytes(), &b64(s)?)?;
    let claims = json(&b64(c)?, "claims are not JSON")?;
    if !claims.is_object() {
        return Err(JwtError::Malformed("claims are not a JSON object"));
    }
    Ok(Verified { header, claims })
}

/// A random (version 4) UUID from the OS RNG, as the `jti`.
pub fn uuid_v4() -> Result<String, JwtError> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(JwtError::Rng)?;
    Ok(uuid_v4_from(b))
}

/// The 8-4-4-4-12 hex form of `b` with the version (4) and variant (10) bits set. Written
/// digit by digit into one allocation: it is part of every key.
fn uuid_v4_from(mut b: [u8; 16]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push(char::from(HEX[usize::from(byte >> 4)]));
        s.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    s
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rsa::PrivateKey;
    use std::sync::OnceLock;

    /// One small key for all tests: generating RSA keys is slow in debug builds.
    pub(crate) fn test_key() -> &'static PrivateKey {
        static KEY: OnceLock<PrivateKey> = OnceLock::new();
        KEY.get_or_init(|| {
            use rsa::pkcs8::DecodePrivateKey;
            PrivateKey::from_pkcs8_pem(include_str!("../../tests/fixtures/test-rsa2048.key"))
                .expect("test fixture key")
        })
    }

    /// The PKCS#8 private key and the certificate's SubjectPublicKeyInfo of the fixture
    /// `tests/fixtures/algorithms/NAME.p12` (alias NAME).
    pub(crate) fn algorithm_fixture(name: &str) -> (Vec<u8>, Vec<u8>) {
        let path = format!(
            "{}/tests/fixtures/algorithms/{name}.p12",
            env!("CARGO_MANIFEST_DIR")
        );
        let ks = crate::keystore::Keystore::load(std::path::Path::new(&path), "ballerina")
            .expect("algorithm fixture");
        let entry = ks.entry(name).expect("alias is the file's stem");
        (
            entry.key_pkcs8_der.to_vec(),
            entry.leaf_spki_der().expect("certificate"),
        )
    }

    /// The public half of `test_key`, for RS256.
    pub(crate) fn test_public() -> VerificationKey {
        VerificationKey::rs256(test_key().to_public_key())
    }

    pub(crate) fn claims() -> Claims {
        Claims {
            sub: "admin".into(),
            iss: "https://localhost:9095/apikey".into(),
            aud: None,
            iat: 1_700_000_000,
            exp: None,
            jti: "0d5b5f6c-0000-4000-8000-000000000000".into(),
            keytype: "PRODUCTION".into(),
            allowed_apis: vec![AllowedApi {
                name: "MyAPI".into(),
                version: "*".into(),
            }],
            permitted_ip: None,
            permitted_referer: None,
        }
    }

    #[test]
    fn encodes_header_and_claims_in_original_shape() {
        let signer = RsaSigner::new(test_key().clone());
        let t = encode("ballerina", &claims(), &signer).unwrap();
        assert!(!t.contains('='));
        let parts: Vec<&str> = t.split('.').collect();
        assert_eq!(
            URL_SAFE_NO_PAD.decode(parts[0]).unwrap(),
            br#"{"alg":"RS256","typ":"JWT","kid":"ballerina"}"#
        );
        let c = String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(
            c,
            r#"{"sub":"admin","iss":"https://localhost:9095/apikey","iat":1700000000,"jti":"0d5b5f6c-0000-4000-8000-000000000000","keytype":"PRODUCTION","allowedAPIs":[{"name":"MyAPI","version":"*"}]}"#
        );
    }

    #[test]
    fn both_signers_give_identical_tokens() {
        use rsa::pkcs8::EncodePrivateKey;
        let der = test_key().to_pkcs8_der().unwrap();
        let provider = ProviderSigner::new(der.as_bytes(), Algorithm::Rs256).unwrap();
        let rsa = RsaSigner::new(test_key().clone());
        let a = encode("ballerina", &claims(), &rsa).unwrap();
        let b = encode("ballerina", &claims(), &provider).unwrap();
        assert_eq!(a, b);
        let public = test_public();
        assert!(verify(&b, &|_| Some(&public)).is_ok());
        assert!(ProviderSigner::new(b"not a key", Algorithm::Rs256).is_err());
    }

    #[test]
    fn verify_roundtrip_and_tamper() {
        let signer = RsaSigner::new(test_key().clone());
        let public = test_public();
        let keys = |kid: Option<&str>| (kid == Some("ballerina")).then_some(&public);
        let t = encode("ballerina", &claims(), &signer).unwrap();
        let v = verify(&t, &keys).unwrap();
        assert_eq!(v.claims["sub"], "admin");
        // The signature with the padding base64 would give it (padded producers) is accepted,
        // and has the unpadded token as its canonical form; any other padding is refused.
        let sig_len = t.rsplit('.').next().unwrap().len();
        let pad = (4 - sig_len % 4) % 4;
        assert!(pad > 0, "the test key's signature needs padding");
        let padded = format!("{t}{}", "=".repeat(pad));
        assert!(verify(&padded, &keys).is_ok());
        assert_eq!(canonical(&padded), t.as_str());
        assert_eq!(canonical(&t), t.as_str());
        for wrong in 1..=4 {
            if wrong == pad {
                continue;
            }
            let bad = format!("{t}{}", "=".repeat(wrong));
            assert!(
                matches!(verify(&bad, &keys), Err(JwtError::Malformed(_))),
                "{wrong} '='"
            );
            assert_eq!(canonical(&bad), bad.as_str());
        }
        // Flip one claim character.
        let mut parts: Vec<String> = t.split('.').map(String::from).collect();
        let mut c = URL_SAFE_NO_PAD.decode(&parts[1]).unwrap();
        c[10] ^= 1;
        parts[1] = URL_SAFE_NO_PAD.encode(c);
        assert_eq!(
            verify(&parts.join("."), &keys).unwrap_err(),
            JwtError::BadSignature
        );
        assert!(matches!(
            verify(&t.replacen("eyJ", "eyK", 1), &keys).unwrap_err(),
            JwtError::Malformed(_) | JwtError::BadSignature
        ));
    }

    /// A token over any header and claims text, signed with the test key.
    fn sign_raw(header: &str, claims: &str) -> String {
        let signer = RsaSigner::new(test_key().clone());
        let mut t = URL_SAFE_NO_PAD.encode(header);
        t.push('.');
        URL_SAFE_NO_PAD.encode_string(claims, &mut t);
        let sig = signer.sign(t.as_bytes()).unwrap();
        t.push('.');
        URL_SAFE_NO_PAD.encode_string(sig, &mut t);
        t
    }

    #[test]
    fn critical_extensions_and_duplicate_members_are_refused() {
        let public = test_public();
        let keys = |kid: Option<&str>| (kid == Some("k")).then_some(&public);
        let header = r#"{"alg":"RS256","kid":"k"}"#;
        let claims = r#"{"sub":"alice","jti":"j"}"#;
        assert!(verify(&sign_raw(header, claims), &keys).is_ok());
        for crit in [r#"["exp"]"#, "[]", r#""x""#] {
            let h = format!(r#"{{"alg":"RS256","kid":"k","crit":{crit}}}"#);
            assert_eq!(
                verify(&sign_raw(&h, claims), &keys).unwrap_err(),
                JwtError::CriticalExtension,
                "{h}"
            );
        }
        assert_eq!(
            verify(&sign_raw(header, r#"{"sub":"alice","sub":"admin"}"#), &keys).unwrap_err(),
            JwtError::DuplicateMember("sub".into())
        );
        assert_eq!(
            verify(
                &sign_raw(
                    header,
                    r#"{"sub":"a","allowedAPIs":[{"name":"x","name":"y"}]}"#
                ),
                &keys
            )
            .unwrap_err(),
            JwtError::DuplicateMember("name".into())
        );
        assert_eq!(
            verify(
                &sign_raw(r#"{"alg":"RS256","kid":"k","kid":"k"}"#, claims),
                &keys
            )
            .unwrap_err(),
            JwtError::DuplicateMember("kid".into())
        );
    }

    #[test]
    fn rejects_none_and_other_algorithms_and_unknown_kid() {
        let public = test_public();
        let keys = |kid: Option<&str>| (kid == Some("ballerina")).then_some(&public);
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"ballerina"}"#),
            URL_SAFE_NO_PAD.encode(r#"{"sub":"x"}"#)
        );
        assert_eq!(
            verify(&none, &keys).unwrap_err(),
            JwtError::Algorithm("none".into())
        );
        let hs = none.replace(
            &URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"ballerina"}"#),
            &URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","kid":"ballerina"}"#),
        );
        assert!(matches!(verify(&hs, &keys), Err(JwtError::Algorithm(_))));
        let signer = RsaSigner::new(test_key().clone());
        let t = encode("other", &claims(), &signer).unwrap();
        assert_eq!(
            verify(&t, &keys).unwrap_err(),
            JwtError::UnknownKey("other".into())
        );
    }

    #[test]
    fn length_limit_at_and_past_edge() {
        let public = test_public();
        let keys = |_: Option<&str>| Some(&public);
        let at = "a".repeat(MAX_TOKEN_BYTES);
        assert!(matches!(verify(&at, &keys), Err(JwtError::Malformed(_))));
        let past = "a".repeat(MAX_TOKEN_BYTES + 1);
        assert_eq!(
            verify(&past, &keys).unwrap_err(),
            JwtError::TooLong(MAX_TOKEN_BYTES + 1)
        );
    }

    #[test]
    fn garbage_never_panics() {
        let public = test_public();
        let keys = |_: Option<&str>| Some(&public);
        for t in [
            "",
            ".",
            "..",
            "...",
            "a.b.c",
            "e30.e30.",
            "eyJhbGciOiJSUzI1NiJ9.e30.AA",
        ] {
            assert!(verify(t, &keys).is_err(), "{t}");
        }
    }

    /// README: "a token of at most 8 KiB (when verifying)". A real token of exactly 8,192
    /// bytes verifies; one byte more is refused for its length before it is decoded.
    #[test]
    fn a_token_of_exactly_8_kib_verifies() {
        const LIMIT: usize = 8 * 1024;
        let public = test_public();
        let keys = |_: Option<&str>| Some(&public);
        // A token's length is known before signing: unpadded base64 of header and claims, and
        // of the 256-byte signature. Unpadded base64 has no length of the form 4k + 1, so the
        // kid's length is varied as well as the subject's.
        let b64_len = |n: usize| (4 * n).div_ceil(3);
        let header = |kid: &str| {
            serde_json::to_vec(&Header {
                alg: "RS256".into(),
                typ: Some("JWT".into()),
                kid: Some(kid.into()),
            })
            .unwrap()
            .len()
        };
        let (h0, c0) = (header(""), serde_json::to_vec(&claims()).unwrap().len());
        let c0 = c0 - claims().sub.len();
        let (k, s) = (1..4)
            .flat_map(|k| (0..LIMIT).map(move |s| (k, s)))
            .find(|&(k, s)| b64_len(h0 + k) + 1 + b64_len(c0 + s) + 1 + b64_len(256) == LIMIT)
            .unwrap();
        let c = Claims {
            sub: "a".repeat(s),
            ..claims()
        };
        let t = encode(&"k".repeat(k), &c, &RsaSigner::new(test_key().clone())).unwrap();
        assert_eq!(t.len(), LIMIT);
        assert_eq!(verify(&t, &keys).unwrap().claims["sub"], c.sub.as_str());
        assert_eq!(
            verify(&format!("{t}="), &keys).unwrap_err(),
            JwtError::TooLong(LIMIT + 1)
        );
    }

    /// One `=` ends a segment of 4k + 3 characters and two one of 4k + 2; no base64 length
    /// takes three. Only those two spellings are stripped; any other is left as it is, for
    /// `verify` to refuse.
    #[test]
    fn canonical_strips_only_the_padding_base64_would_add() {
        assert_eq!(canonical("h.c.abc="), "h.c.abc");
        assert_eq!(canonical("h.c.ab=="), "h.c.ab");
        assert_eq!(canonical("h.c.abcde==="), "h.c.abcde===");
        assert_eq!(canonical("h.c.abcd="), "h.c.abcd=");
        assert_eq!(canonical("h.c.a===="), "h.c.a====");
        // The usual token, without padding, is its own canonical form, not a copy: every
        // request's cache key is computed over it.
        assert!(matches!(
            canonical("h.c.abcd"),
            std::borrow::Cow::Borrowed("h.c.abcd")
        ));
    }

    /// A signer's, a key's or the RNG's failure is the server's; every refusal of a token is
    /// the client's.
    #[test]
    fn only_signer_key_and_rng_failures_are_server_faults() {
        for e in [
            JwtError::Signing("x".into()),
            JwtError::KeyRejected("x".into()),
            JwtError::Rng(getrandom::Error::UNSUPPORTED),
        ] {
            assert!(e.is_server_fault(), "{e}");
        }
        for e in [
            JwtError::TooLong(1),
            JwtError::Malformed("x"),
            JwtError::Algorithm("none".into()),
            JwtError::KeyAlgorithm {
                token: Algorithm::Es256,
                key: Algorithm::Rs256,
            },
            JwtError::UnknownKey("k".into()),
            JwtError::BadSignature,
            JwtError::DuplicateMember("sub".into()),
            JwtError::CriticalExtension,
        ] {
            assert!(!e.is_server_fault(), "{e}");
        }
    }

    /// Version 4 and variant 10xx on every id: the six fixed bits are set over random bytes,
    /// so a few ids are checked (a stray fixed bit shows in about every other one).
    #[test]
    fn uuid_is_v4() {
        let first = uuid_v4().unwrap();
        for _ in 0..64 {
            let u = uuid_v4().unwrap();
            assert_eq!(u.len(), 36);
            let b: Vec<char> = u.chars().collect();
            assert_eq!(b[14], '4', "{u}");
            assert!(matches!(b[19], '8' | '9' | 'a' | 'b'), "{u}");
            assert_ne!(u, first);
        }
    }

    #[test]
    fn uuid_known_answers() {
        let counting: [u8; 16] = std::array::from_fn(|i| i as u8 * 0x11);
        assert_eq!(
            uuid_v4_from(counting),
            "00112233-4455-4677-8899-aabbccddeeff"
        );
        assert_eq!(
            uuid_v4_from([0xff; 16]),
            "ffffffff-ffff-4fff-bfff-ffffffffffff"
        );
        assert_eq!(
            uuid_v4_from([0; 16]),
            "00000000-0000-4000-8000-000000000000"
        );
    }
}
