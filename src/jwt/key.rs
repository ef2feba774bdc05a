//! Key types, the algorithms each may sign, and public keys bound to one algorithm.
//!
//! A token's `alg` only selects among what its key allows, and every key allows exactly one
//! algorithm (RFC 8725 §3.1): a token cannot make an RSA key verify ECDSA, nor use a public
//! key as an HMAC secret.

use super::{Algorithm, JwtError};
use der::asn1::ObjectIdentifier;
use der::Decode;
use pkcs8::spki::{AlgorithmIdentifierRef, SubjectPublicKeyInfoRef};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier as _;
use sha2::Sha256;
use std::fmt;

const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_EC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");

/// What a key is, as far as signing tokens goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyType {
    Rsa,
    EcP256,
    EcP384,
    Ed25519,
    /// A key no supported algorithm uses; the words say what it is ("an Ed448 key").
    Unsupported(String),
}

impl KeyType {
    /// The type of a PKCS#8 or SubjectPublicKeyInfo algorithm identifier.
    fn of(alg: &AlgorithmIdentifierRef<'_>) -> KeyType {
        match alg.oid {
            OID_RSA => KeyType::Rsa,
            OID_ED25519 => KeyType::Ed25519,
            OID_EC => match alg.parameters_oid() {
                Ok(OID_P256) => KeyType::EcP256,
                Ok(OID_P384) => KeyType::EcP384,
                Ok(curve) => KeyType::Unsupported(format!("an EC key on curve {curve}")),
                Err(_) => KeyType::Unsupported("an EC key without a named curve".into()),
            },
            other => KeyType::Unsupported(crate::keystore::algorithm_name(&other.to_string())),
        }
    }

    /// The type of a PKCS#8 PrivateKeyInfo; None when it is not one.
    pub fn of_pkcs8(der: &[u8]) -> Option<KeyType> {
        pkcs8::PrivateKeyInfoRef::from_der(der)
            .ok()
            .map(|k| KeyType::of(&k.algorithm))
    }

    /// What the key can sign; the first is its default.
    pub fn algorithms(&self) -> &'static [Algorithm] {
        match self {
            KeyType::Rsa => &[Algorithm::Rs256, Algorithm::Ps256],
            KeyType::EcP256 => &[Algorithm::Es256],
            KeyType::EcP384 => &[Algorithm::Es384],
            KeyType::Ed25519 => &[Algorithm::EdDsa],
            KeyType::Unsupported(_) => &[],
        }
    }

    /// `configured` if the key can sign it, else the key's default.
    pub fn choose(&self, configured: Option<Algorithm>) -> Result<Algorithm, UnfitAlgorithm> {
        let fits = self.algorithms();
        match configured {
            Some(a) if fits.contains(&a) => Ok(a),
            None if !fits.is_empty() => Ok(fits[0]),
            _ => Err(UnfitAlgorithm {
                configured,
                key: self.clone(),
            }),
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyType::Rsa => "an RSA key",
            KeyType::EcP256 => "an EC P-256 key",
            KeyType::EcP384 => "an EC P-384 key",
            KeyType::Ed25519 => "an Ed25519 key",
            KeyType::Unsupported(what) => what,
        })
    }
}

/// The configured algorithm (or, with none configured, every algorithm) does not fit the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnfitAlgorithm {
    pub configured: Option<Algorithm>,
    pub key: KeyType,
}

impl fmt::Display for UnfitAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(a) = self.configured {
            write!(f, "{a} does not fit the key: ")?;
        }
        let fits = self.key.algorithms();
        if fits.is_empty() {
            write!(
                f,
                "it is {}, which no supported algorithm signs (RSA keys sign RS256 or PS256, EC \
                 P-256 ES256, EC P-384 ES384, Ed25519 EdDSA)",
                self.key
            )
        } else {
            let names: Vec<&str> = fits.iter().map(|a| a.name()).collect();
            write!(f, "it is {}, which signs {}", self.key, names.join(" or "))
        }
    }
}

impl std::error::Error for UnfitAlgorithm {}

/// Why a certificate's public key cannot verify tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKeyError {
    /// Not a SubjectPublicKeyInfo, or its key bits are not a key of its type.
    Malformed(&'static str),
    /// A key no supported algorithm uses, or one the configured algorithm does not fit.
    Unfit(UnfitAlgorithm),
}

impl fmt::Display for PublicKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublicKeyError::Malformed(what) => write!(f, "unusable public key: {what}"),
            PublicKeyError::Unfit(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for PublicKeyError {}

/// A public key's material, by type.
#[derive(Clone, PartialEq, Eq)]
pub enum PublicKey {
    Rsa(rsa::PublicKey),
    /// The uncompressed SEC1 point: `04 || x || y`.
    EcP256(Vec<u8>),
    EcP384(Vec<u8>),
    /// The 32-byte RFC 8032 public key.
    Ed25519(Vec<u8>),
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PublicKey::Rsa(_) => "PublicKey::Rsa",
            PublicKey::EcP256(_) => "PublicKey::EcP256",
            PublicKey::EcP384(_) => "PublicKey::EcP384",
            PublicKey::Ed25519(_) => "PublicKey::Ed25519",
        })
    }
}

impl PublicKey {
    /// The key of a SubjectPublicKeyInfo (a certificate's), with its type.
    pub fn from_spki(der: &[u8]) -> Result<(PublicKey, KeyType), PublicKeyError> {
        let spki = SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|_| PublicKeyError::Malformed("not a SubjectPublicKeyInfo"))?;
        let kind = KeyType::of(&spki.algorithm);
        let bits = spki
            .subject_public_key
            .as_bytes()
            .ok_or(PublicKeyError::Malformed("key bits are not whole bytes"))?;
        // Only the uncompressed form gives the JWK's x and y without point arithmetic; it is
        // what every CA and OpenSSL write.
        let point = |len: usize| {
            if bits.len() == 1 + 2 * len && bits[0] == 4 {
                Ok(bits.to_vec())
            } else {
                Err(PublicKeyError::Malformed(
                    "the EC point is not in uncompressed form",
                ))
            }
        };
        let key = match &kind {
            KeyType::Rsa => PublicKey::Rsa(
                rsa::PublicKey::from_public_key_der(der)
                    .map_err(|_| PublicKeyError::Malformed("not an RSA public key"))?,
            ),
            KeyType::EcP256 => PublicKey::EcP256(point(32)?),
            KeyType::EcP384 => PublicKey::EcP384(point(48)?),
            KeyType::Ed25519 if bits.len() == 32 => PublicKey::Ed25519(bits.to_vec()),
            KeyType::Ed25519 => {
                return Err(PublicKeyError::Malformed(
                    "an Ed25519 public key is 32 bytes",
                ))
            }
            KeyType::Unsupported(_) => {
                return Err(PublicKeyError::Unfit(UnfitAlgorithm {
                    configured: None,
                    key: kind,
                }))
            }
        };
        Ok((key, kind))
    }
}

/// A public key and the one algorithm tokens signed with it may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationKey {
    public: PublicKey,
    algorithm: Algorithm,
}

impl VerificationKey {
    /// The key of a SubjectPublicKeyInfo for `configured`, or for its type's default algorithm.
    pub fn from_spki(
        der: &[u8],
        configured: Option<Algorithm>,
    ) -> Result<VerificationKey, PublicKeyError> {
        let (public, kind) = PublicKey::from_spki(der)?;
        let algorithm = kind.choose(configured).map_err(PublicKeyError::Unfit)?;
        Ok(VerificationKey { public, algorithm })
    }

    /// An RSA key for RS256 (tests and tools that hold an `rsa` key).
    pub fn rs256(key: rsa::PublicKey) -> VerificationKey {
        VerificationKey {
            public: PublicKey::Rsa(key),
            algorithm: Algorithm::Rs256,
        }
    }

    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Checks `signature` over `message` with this key's algorithm, and only that one.
    pub(super) fn verify(
        &self,
        alg: Algorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), JwtError> {
        use aws_lc_rs::signature::{
            UnparsedPublicKey, VerificationAlgorithm, ECDSA_P256_SHA256_FIXED,
            ECDSA_P384_SHA384_FIXED, ED25519,
        };
        if alg != self.algorithm {
            return Err(JwtError::KeyAlgorithm {
                token: alg,
                key: self.algorithm,
            });
        }
        let provider = |alg: &'static dyn VerificationAlgorithm, key: &[u8]| {
            UnparsedPublicKey::new(alg, key)
                .verify(message, signature)
                .map_err(|_| JwtError::BadSignature)
        };
        match (&self.public, self.algorithm) {
            (PublicKey::Rsa(key), Algorithm::Rs256) => {
                let sig = rsa::pkcs1v15::Signature::try_from(signature)
                    .map_err(|_| JwtError::BadSignature)?;
                rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key.clone())
                    .verify(message, &sig)
                    .map_err(|_| JwtError::BadSignature)
            }
            (PublicKey::Rsa(key), Algorithm::Ps256) => {
                let sig =
                    rsa::pss::Signature::try_from(signature).map_err(|_| JwtError::BadSignature)?;
                // RFC 7518 §3.5: the salt is as long as the hash (the `new` default).
                rsa::pss::VerifyingKey::<Sha256>::new(key.clone())
                    .verify(message, &sig)
                    .map_err(|_| JwtError::BadSignature)
            }
            // The FIXED forms take JWS's r || s (RFC 7518 §3.4), not DER.
            (PublicKey::EcP256(point), Algorithm::Es256) => {
                provider(&ECDSA_P256_SHA256_FIXED, point)
            }
            (PublicKey::EcP384(point), Algorithm::Es384) => {
                provider(&ECDSA_P384_SHA384_FIXED, point)
            }
            (PublicKey::Ed25519(key), Algorithm::EdDsa) => provider(&ED25519, key),
            // `from_spki` binds only fitting pairs.
            _ => Err(JwtError::BadSignature),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_type_fits_only_its_algorithms() {
        assert_eq!(KeyType::Rsa.choose(None), Ok(Algorithm::Rs256));
        assert_eq!(
            KeyType::Rsa.choose(Some(Algorithm::Ps256)),
            Ok(Algorithm::Ps256)
        );
        assert_eq!(KeyType::EcP256.choose(None), Ok(Algorithm::Es256));
        assert_eq!(KeyType::EcP384.choose(None), Ok(Algorithm::Es384));
        assert_eq!(KeyType::Ed25519.choose(None), Ok(Algorithm::EdDsa));
        for kind in [
            KeyType::Rsa,
            KeyType::EcP256,
            KeyType::EcP384,
            KeyType::Ed25519,
        ] {
            for a in Algorithm::ALL {
                let fits = kind.algorithms().contains(&a);
                assert_eq!(kind.choose(Some(a)).is_ok(), fits, "{kind} {a}");
            }
        }
        let e = KeyType::Rsa.choose(Some(Algorithm::Es256)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "ES256 does not fit the key: it is an RSA key, which signs RS256 or PS256"
        );
        let e = KeyType::Ed25519.choose(Some(Algorithm::Rs256)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "RS256 does not fit the key: it is an Ed25519 key, which signs EdDSA"
        );
        let ed448 = KeyType::Unsupported("an Ed448 key".into());
        assert!(ed448.choose(None).unwrap_err().to_string().starts_with(
            "it is an Ed448 key, which no supported algorithm signs (RSA keys sign RS256"
        ));
    }

    #[test]
    fn pkcs8_key_types_come_from_the_algorithm_identifier() {
        use crate::jwt::tests::{algorithm_fixture, test_key};
        use rsa::pkcs8::EncodePrivateKey;
        let rsa = test_key().to_pkcs8_der().unwrap();
        assert_eq!(KeyType::of_pkcs8(rsa.as_bytes()), Some(KeyType::Rsa));
        for (name, kind) in [
            ("es256", KeyType::EcP256),
            ("es384", KeyType::EcP384),
            ("ed25519", KeyType::Ed25519),
        ] {
            assert_eq!(KeyType::of_pkcs8(&algorithm_fixture(name).0), Some(kind));
        }
        // A public key is not a PKCS#8 private key.
        let (_, spki) = algorithm_fixture("es256");
        assert_eq!(KeyType::of_pkcs8(&spki), None);
        assert_eq!(KeyType::of_pkcs8(b"not a key"), None);
    }

    /// Debug output says which kind of key it is and shows none of the key.
    #[test]
    fn debug_names_the_key_type_only() {
        use crate::jwt::tests::{algorithm_fixture, test_public};
        for (name, shown) in [
            ("es256", "PublicKey::EcP256"),
            ("es384", "PublicKey::EcP384"),
            ("ed25519", "PublicKey::Ed25519"),
        ] {
            let (key, _) = PublicKey::from_spki(&algorithm_fixture(name).1).unwrap();
            assert_eq!(format!("{key:?}"), shown);
        }
        assert_eq!(format!("{:?}", test_public().public()), "PublicKey::Rsa");
    }

    /// An EC point must be `04 || x || y` of the curve's size, and an Ed25519 key 32 bytes.
    #[test]
    fn malformed_ec_points_and_ed25519_keys_are_refused() {
        use crate::jwt::tests::algorithm_fixture;
        let (_, spki) = algorithm_fixture("es256");
        assert!(PublicKey::from_spki(&spki).is_ok());
        // The point ends the SubjectPublicKeyInfo. 06 (the hybrid form) has the length of an
        // uncompressed point but is not one.
        let mut hybrid = spki.clone();
        let at = hybrid.len() - 65;
        assert_eq!(hybrid[at], 4);
        hybrid[at] = 6;
        assert_eq!(
            PublicKey::from_spki(&hybrid),
            Err(PublicKeyError::Malformed(
                "the EC point is not in uncompressed form"
            ))
        );
        // An Ed25519 SubjectPublicKeyInfo is a 12-byte prefix and the key; the lengths in the
        // prefix (bytes 1 and 10) are rewritten for a key one byte shorter or longer.
        let (_, spki) = algorithm_fixture("ed25519");
        assert_eq!((spki.len(), spki[1], spki[10]), (44, 42, 33));
        assert!(PublicKey::from_spki(&spki).is_ok());
        let resized = |len: usize| {
            let mut der = spki[..12].to_vec();
            der[1] = (10 + len) as u8;
            der[10] = (len + 1) as u8;
            der.extend(std::iter::repeat_n(7u8, len));
            der
        };
        for len in [31, 33] {
            assert_eq!(
                PublicKey::from_spki(&resized(len)),
                Err(PublicKeyError::Malformed(
                    "an Ed25519 public key is 32 bytes"
                )),
                "{len}"
            );
        }
        assert!(PublicKey::from_spki(&resized(32)).is_ok());
    }
}

/// A token's `alg` never chooses the key's algorithm: each key verifies only its own.
#[cfg(test)]
mod confusion {
    use super::*;
    use crate::jwt::tests::{algorithm_fixture, claims, test_key, test_public};
    use crate::jwt::{encode, verify, ProviderSigner, RsaSigner};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use hmac::{Hmac, KeyInit, Mac};

    fn ec_key() -> VerificationKey {
        VerificationKey::from_spki(&algorithm_fixture("es256").1, None).unwrap()
    }

    /// A token whose header is replaced by `header`, keeping claims and signature.
    fn with_header(token: &str, header: &str) -> String {
        let (_, rest) = token.split_once('.').unwrap();
        format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header))
    }

    #[test]
    fn rsa_and_ec_keys_refuse_each_others_algorithms() {
        let rs = encode("k", &claims(), &RsaSigner::new(test_key().clone())).unwrap();
        let (pkcs8, _) = algorithm_fixture("es256");
        let es = encode(
            "k",
            &claims(),
            &ProviderSigner::new(&pkcs8, Algorithm::Es256).unwrap(),
        )
        .unwrap();
        let (ec, rsa) = (ec_key(), test_public());
        assert!(verify(&rs, &|_| Some(&rsa)).is_ok());
        assert!(verify(&es, &|_| Some(&ec)).is_ok());
        // Each token, presented for the other key, with its own or the other's alg.
        for (token, key, algs) in [
            (&rs, &ec, ["RS256", "ES256"]),
            (&es, &rsa, ["ES256", "RS256"]),
        ] {
            for alg in algs {
                let t = with_header(token, &format!(r#"{{"alg":"{alg}","kid":"k"}}"#));
                let e = verify(&t, &|_| Some(key)).unwrap_err();
                assert!(
                    matches!(e, JwtError::KeyAlgorithm { .. } | JwtError::BadSignature),
                    "{alg}: {e}"
                );
                // The only way past the algorithm check is the key's own one, and then the
                // signature is the other algorithm's.
                if alg != key.algorithm().name() {
                    assert!(matches!(e, JwtError::KeyAlgorithm { .. }), "{e}");
                }
            }
        }
    }

    /// The classic: HS256 keyed with the bytes of the published public key.
    #[test]
    fn hs256_with_the_public_key_as_secret_is_refused() {
        for key in [test_public(), ec_key()] {
            let secret: Vec<u8> = match key.public() {
                PublicKey::Rsa(k) => {
                    use rsa::pkcs8::EncodePublicKey;
                    k.to_public_key_der().unwrap().as_bytes().to_vec()
                }
                PublicKey::EcP256(p) | PublicKey::EcP384(p) | PublicKey::Ed25519(p) => p.clone(),
            };
            let mut t = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","kid":"k"}"#);
            t.push('.');
            t.push_str(&URL_SAFE_NO_PAD.encode(r#"{"sub":"admin","jti":"j"}"#));
            let mut mac = Hmac::<Sha256>::new_from_slice(&secret).unwrap();
            mac.update(t.as_bytes());
            let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
            let t = format!("{t}.{sig}");
            assert_eq!(
                verify(&t, &|_| Some(&key)).unwrap_err(),
                JwtError::Algorithm("HS256".into())
            );
        }
    }

    #[test]
    fn algorithm_names_are_exact() {
        for a in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(a.name()), Some(a));
        }
        for other in ["rs256", "EDDSA", "Ed25519", "ES512", "HS256", "none", ""] {
            assert_eq!(Algorithm::from_name(other), None, "{other}");
        }
    }
}
