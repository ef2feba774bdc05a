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
