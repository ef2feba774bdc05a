//! The signers: JWS signatures (RFC 7515 §5.1) over `header.claims`, one algorithm each.

use super::{Algorithm, JwtError};
use rsa::signature::{SignatureEncoding, Signer as _};
use rsa::PrivateKey;
use sha2::Sha256;

/// Makes the JWS signature of one algorithm, in the form RFC 7518 gives it.
pub trait Signer: Send + Sync {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, JwtError>;
    /// The token header's `alg`.
    fn algorithm(&self) -> Algorithm;
}

enum RsaPadding {
    Pkcs1(rsa::pkcs1v15::SigningKey<Sha256>),
    Pss(rsa::pss::SigningKey<Sha256>),
}

/// The default signer for RSA keys: the pure-Rust `rsa` crate (blinded with the OS RNG).
pub struct RsaSigner {
    key: RsaPadding,
}

impl RsaSigner {
    /// RS256 (PKCS#1 v1.5, deterministic).
    pub fn new(key: PrivateKey) -> Self {
        RsaSigner {
            key: RsaPadding::Pkcs1(rsa::pkcs1v15::SigningKey::new(key)),
        }
    }

    /// PS256: PSS with MGF1-SHA-256 and a 32-byte random salt (RFC 7518 §3.5), so every
    /// signature differs.
    pub fn pss(key: PrivateKey) -> Self {
        RsaSigner {
            key: RsaPadding::Pss(rsa::pss::SigningKey::new(key)),
        }
    }
}

impl Signer for RsaSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, JwtError> {
        let signed = match &self.key {
            RsaPadding::Pkcs1(k) => k.try_sign(message).map(|s| s.to_vec()),
            RsaPadding::Pss(k) => k.try_sign(message).map(|s| s.to_vec()),
        };
        signed.map_err(|e| JwtError::Signing(e.to_string()))
    }

    fn algorithm(&self) -> Algorithm {
        match self.key {
            RsaPadding::Pkcs1(_) => Algorithm::Rs256,
            RsaPadding::Pss(_) => Algorithm::Ps256,
        }
    }
}

enum ProviderKey {
    Rsa(
        aws_lc_rs::rsa::KeyPair,
        &'static aws_lc_rs::signature::RsaSignatureEncoding,
    ),
    Ecdsa(aws_lc_rs::signature::EcdsaKeyPair),
    Ed25519(aws_lc_rs::signature::Ed25519KeyPair),
}

/// Every algorithm through the crypto provider TLS already uses (aws-lc-rs). Its RS256
/// tokens are byte-identical to `RsaSigner`'s (PKCS#1 v1.5 is deterministic).
pub struct ProviderSigner {
    key: ProviderKey,
    algorithm: Algorithm,
}

impl ProviderSigner {
    /// `pkcs8_der`: the private key as PKCS#8, of a type `algorithm` fits.
    pub fn new(pkcs8_der: &[u8], algorithm: Algorithm) -> Result<Self, JwtError> {
        use aws_lc_rs::signature::{
            EcdsaKeyPair, Ed25519KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING,
            ECDSA_P384_SHA384_FIXED_SIGNING, RSA_PKCS1_SHA256, RSA_PSS_SHA256,
        };
        let rejected = |e: aws_lc_rs::error::KeyRejected| JwtError::KeyRejected(e.to_string());
        let rsa = |encoding| {
            aws_lc_rs::rsa::KeyPair::from_pkcs8(pkcs8_der)
                .map(|k| ProviderKey::Rsa(k, encoding))
                .map_err(rejected)
        };
        // The FIXED signing forms give JWS's r || s (RFC 7518 §3.4), not TLS's DER.
        let ecdsa = |alg| {
            EcdsaKeyPair::from_pkcs8(alg, pkcs8_der)
                .map(ProviderKey::Ecdsa)
                .map_err(rejected)
        };
        let key = match algorithm {
            Algorithm::Rs256 => rsa(&RSA_PKCS1_SHA256)?,
            Algorithm::Ps256 => rsa(&RSA_PSS_SHA256)?,
            Algorithm::Es256 => ecdsa(&ECDSA_P256_SHA256_FIXED_SIGNING)?,
            Algorithm::Es384 => ecdsa(&ECDSA_P384_SHA384_FIXED_SIGNING)?,
            Algorithm::EdDsa => Ed25519KeyPair::from_pkcs8(pkcs8_der)
                .map(ProviderKey::Ed25519)
                .map_err(rejected)?,
        };
        Ok(ProviderSigner { key, algorithm })
    }

    /// The public key as a certificate's subjectPublicKey holds it (PKCS#1 RSAPublicKey, the
    /// uncompressed EC point, or the 32 Ed25519 bytes): to check key and certificate match.
    pub fn public_key(&self) -> &[u8] {
        use aws_lc_rs::signature::KeyPair;
        match &self.key {
            ProviderKey::Rsa(k, _) => k.public_key().as_ref(),
            ProviderKey::Ecdsa(k) => k.public_key().as_ref(),
            ProviderKey::Ed25519(k) => k.public_key().as_ref(),
        }
    }
}

impl Signer for ProviderSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, JwtError> {
        let failed = |_| JwtError::Signing("the crypto provider failed to sign".into());
        match &self.key {
            ProviderKey::Rsa(k, encoding) => {
                let mut sig = vec![0; k.public_modulus_len()];
                let rng = aws_lc_rs::rand::SystemRandom::new();
                k.sign(*encoding, &rng, message, &mut sig).map_err(failed)?;
                Ok(sig)
            }
            ProviderKey::Ecdsa(k) => {
                let rng = aws_lc_rs::rand::SystemRandom::new();
                Ok(k.sign(&rng, message).map_err(failed)?.as_ref().to_vec())
            }
            ProviderKey::Ed25519(k) => Ok(k.sign(message).as_ref().to_vec()),
        }
    }

    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::tests::{algorithm_fixture, claims, test_key};
    use crate::jwt::{encode, verify, VerificationKey};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey};

    /// A fixture's signer for `alg` and its certificate's key, bound to `alg`.
    fn pair(name: &str, alg: Algorithm) -> (ProviderSigner, VerificationKey) {
        let (pkcs8, spki) = algorithm_fixture(name);
        let signer = ProviderSigner::new(&pkcs8, alg).unwrap();
        let key = VerificationKey::from_spki(&spki, Some(alg)).unwrap();
        (signer, key)
    }

    fn signature(token: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD
            .decode(token.rsplit('.').next().unwrap())
            .unwrap()
    }

    #[test]
    fn every_algorithm_round_trips_with_its_header() {
        for (name, alg, sig_len) in [
            ("es256", Algorithm::Es256, 64),
            ("es256-keytool", Algorithm::Es256, 64),
            ("es384", Algorithm::Es384, 96),
            ("ed25519", Algorithm::EdDsa, 64),
            ("ed25519-keytool", Algorithm::EdDsa, 64),
        ] {
            let (signer, key) = pair(name, alg);
            assert_eq!(signer.algorithm(), alg);
            let t = encode(name, &claims(), &signer).unwrap();
            let header = URL_SAFE_NO_PAD
                .decode(t.split('.').next().unwrap())
                .unwrap();
            assert_eq!(
                String::from_utf8(header).unwrap(),
                format!(r#"{{"alg":"{alg}","typ":"JWT","kid":"{name}"}}"#)
            );
            assert_eq!(signature(&t).len(), sig_len, "{name}");
            let v = verify(&t, &|_| Some(&key)).unwrap();
            assert_eq!(v.claims["sub"], "admin");
            assert_eq!(v.header.alg, alg.name());
            // One flipped bit of the signature fails.
            let mut sig = signature(&t);
            sig[sig_len / 2] ^= 1;
            let (signed, _) = t.rsplit_once('.').unwrap();
            let bad = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(&sig));
            assert_eq!(
                verify(&bad, &|_| Some(&key)).unwrap_err(),
                JwtError::BadSignature
            );
        }
    }

    /// RFC 7518 §3.4: ES256 is r || s, 32 bytes each, not the DER SEQUENCE TLS uses; the DER
    /// form of the same signature is refused.
    #[test]
    fn es256_is_fixed_r_s_and_der_is_refused() {
        let (signer, key) = pair("es256", Algorithm::Es256);
        let t = encode("es256", &claims(), &signer).unwrap();
        let sig = signature(&t);
        assert_eq!(sig.len(), 64);
        // A DER signature starts with SEQUENCE (0x30) and is 70 to 72 bytes; r || s has no
        // structure to find. The DER form of our r and s:
        let int = |b: &[u8]| {
            let b = &b[b.iter().position(|&x| x != 0).unwrap_or(31)..];
            let mut v = vec![0x02];
            if b[0] & 0x80 != 0 {
                v.extend([b.len() as u8 + 1, 0]);
            } else {
                v.push(b.len() as u8);
            }
            v.extend(b);
            v
        };
        let body = [int(&sig[..32]), int(&sig[32..])].concat();
        let der = [vec![0x30, body.len() as u8], body].concat();
        assert!(verify(&t, &|_| Some(&key)).is_ok());
        let (signed, _) = t.rsplit_once('.').unwrap();
        let as_der = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(&der));
        assert_eq!(
            verify(&as_der, &|_| Some(&key)).unwrap_err(),
            JwtError::BadSignature
        );
        // Two signatures of the same claims differ (ECDSA's random k) and both verify.
        let t2 = encode("es256", &claims(), &signer).unwrap();
        assert_ne!(t, t2);
        assert!(verify(&t2, &|_| Some(&key)).is_ok());
    }

    /// RFC 8037: Ed25519 signatures are deterministic.
    #[test]
    fn eddsa_is_deterministic() {
        let (signer, _) = pair("ed25519", Algorithm::EdDsa);
        let a = encode("ed25519", &claims(), &signer).unwrap();
        assert_eq!(a, encode("ed25519", &claims(), &signer).unwrap());
    }

    /// PS256 is randomised: no byte equality between signers, so each signer's tokens are
    /// checked by the other implementation.
    #[test]
    fn ps256_from_either_signer_verifies_with_the_other() {
        let der = test_key().to_pkcs8_der().unwrap();
        let spki = test_key().to_public_key().to_public_key_der().unwrap();
        let key = VerificationKey::from_spki(spki.as_bytes(), Some(Algorithm::Ps256)).unwrap();
        let rsa = RsaSigner::pss(test_key().clone());
        let provider = ProviderSigner::new(der.as_bytes(), Algorithm::Ps256).unwrap();
        assert_eq!(rsa.algorithm(), Algorithm::Ps256);
        let a = encode("k", &claims(), &rsa).unwrap();
        let b = encode("k", &claims(), &provider).unwrap();
        assert_ne!(a, encode("k", &claims(), &rsa).unwrap());
        // `verify` uses the `rsa` crate for PS256; aws-lc checks the `rsa` crate's token.
        assert!(verify(&b, &|_| Some(&key)).is_ok());
        assert!(verify(&a, &|_| Some(&key)).is_ok());
        let (signed, _) = a.rsplit_once('.').unwrap();
        aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::RSA_PSS_2048_8192_SHA256,
            provider.public_key(),
        )
        .verify(signed.as_bytes(), &signature(&a))
        .unwrap();
        // The RS256 key of the same RSA key refuses both.
        let rs = VerificationKey::rs256(test_key().to_public_key());
        assert!(matches!(
            verify(&a, &|_| Some(&rs)).unwrap_err(),
            JwtError::KeyAlgorithm {
                token: Algorithm::Ps256,
                key: Algorithm::Rs256
            }
        ));
    }

    #[test]
    fn provider_refuses_a_key_of_another_type() {
        let (ec, _) = algorithm_fixture("es256");
        let (ed, _) = algorithm_fixture("ed25519");
        let rsa = test_key().to_pkcs8_der().unwrap();
        for (der, alg) in [
            (&ec[..], Algorithm::Rs256),
            (&ec[..], Algorithm::Es384),
            (&ec[..], Algorithm::EdDsa),
            (&ed[..], Algorithm::Es256),
            (rsa.as_bytes(), Algorithm::Es256),
            (rsa.as_bytes(), Algorithm::EdDsa),
        ] {
            assert!(
                matches!(ProviderSigner::new(der, alg), Err(JwtError::KeyRejected(_))),
                "{alg}"
            );
        }
    }
}
