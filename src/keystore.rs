//! PKCS#12 (`.p12` / `.pfx`) keystore loading: private keys with their certificate chains.
//!
//! Reads what OpenSSL (legacy and 3.x defaults) and Java keytool (legacy and 12+) write:
//! PKCS#12 PBE (SHA-1 with 3DES / 2-key 3DES / RC2) and PBES2 (PBKDF2 + AES-CBC / 3DES-CBC)
//! encryption, HMAC-SHA1/SHA2 integrity. The file is untrusted input: every structure goes
//! through bounds-checked `der` decoders and all iteration counts are capped, so malformed
//! data yields an error, never a panic or an effectively endless key derivation.
//!
//! One file on purpose: it is one parser of one format (PFX → authenticated safe → bags →
//! decrypted keys and certificates), its private helpers (the PBE/PBES2 decryptors, the MAC
//! check, the bag walkers) serve only each other, and its tests drive the whole path with
//! fixtures; split, each part would only be read together with the others.

use std::fmt;
use std::path::Path;

use der::asn1::{AnyRef, BmpString, ObjectIdentifier, OctetString};
use der::{Decode, Encode, Tag, TagNumber, Tagged};
use hmac::digest::block_api::BlockSizeUser;
use hmac::digest::{Digest, FixedOutputReset};
use hmac::{EagerHash, Hmac, KeyInit, Mac};
use pkcs12::cms::content_info::ContentInfo;
use pkcs12::cms::encrypted_data::EncryptedData;
use pkcs12::kdf::{derive_key, Pkcs12KeyType};
use pkcs12::pbe_params::{EncryptedPrivateKeyInfo, Pbes2Params, Pkcs12PbeParams};
use pkcs12::pfx::Pfx;
use pkcs12::safe_bag::{SafeBag, SafeContents};
use pkcs12::{AuthenticatedSafe, CertBag, MacData};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use subtle::ConstantTimeEq;
use x509_cert::attr::Attributes;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoRef};
use x509_cert::Certificate;
use zeroize::{Zeroize, Zeroizing};

const OID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const OID_ENCRYPTED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.6");
const OID_FRIENDLY_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.20");
const OID_LOCAL_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.21");
pub const OID_RSA_ENCRYPTION: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// id-ecPublicKey (RFC 5480): an EC key; its parameters name the curve.
pub const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_PBES2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.13");
const OID_PBKDF2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.12");
const OID_AES128_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.2");
const OID_AES192_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.22");
const OID_AES256_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.42");
const OID_DES_EDE3_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.3.7");
const OID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const OID_SHA224: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.4");
const OID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const OID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const OID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");

const SUPPORTED_ENCRYPTION: &str = "PBES2 (PBKDF2 with HMAC-SHA1/SHA224/SHA256/SHA384/SHA512; \
     AES-128/192/256-CBC or DES-EDE3-CBC), pbeWithSHAAnd3-KeyTripleDES-CBC, \
     pbeWithSHAAnd2-KeyTripleDES-CBC, pbeWithSHAAnd128BitRC2-CBC, pbeWithSHAAnd40BitRC2-CBC";
const SUPPORTED_MAC: &str = "HMAC with SHA-1, SHA-224, SHA-256, SHA-384 or SHA-512";
const SUPPORTED_CONTENT: &str = "data, encryptedData";

/// Legitimate files use at most a few hundred thousand iterations; the cap keeps a hostile
/// file from pinning a CPU for minutes.
const MAX_ITERATIONS: u32 = 10_000_000;
/// safeContentsBag may nest; real files never go deeper than one level.
const MAX_BAG_NESTING: usize = 4;

/// Why a keystore could not be loaded or an entry could not be used.
/// Every message is one line, names the keystore and never contains the password.
#[derive(Debug)]
#[non_exhaustive]
pub enum KeystoreError {
    /// The file could not be read.
    Io { path: String, error: std::io::Error },
    /// The bytes are not a DER-encoded PKCS#12 PFX.
    NotPkcs12 { path: String, detail: String },
    /// The integrity MAC did not verify: wrong password (or a modified file).
    WrongPassword { path: String },
    /// No MAC, and decryption produced bad padding or garbage: wrong password.
    WrongPasswordNoMac { path: String },
    /// The outer structure is PKCS#12 but something inside is broken.
    Corrupt { path: String, detail: String },
    /// No key entry with that friendlyName.
    AliasNotFound {
        path: String,
        alias: String,
        available: Vec<String>,
    },
    /// The private key does not belong to the leaf certificate.
    KeyCertMismatch { path: String, alias: String },
    /// An algorithm the loader does not implement.
    UnsupportedAlgorithm {
        path: String,
        context: &'static str,
        oid: String,
        supported: &'static str,
    },
    /// A private key without a certificate paired to it.
    MissingCertificate { path: String, alias: String },
    /// `rsa_private_key` on a key that is not RSA.
    NotRsa {
        path: String,
        alias: String,
        algorithm_oid: String,
    },
}

impl KeystoreError {
    /// The keystore path (or source name) the error is about.
    pub fn path(&self) -> &str {
        match self {
            Self::Io { path, .. }
            | Self::NotPkcs12 { path, .. }
            | Self::WrongPassword { path }
            | Self::WrongPasswordNoMac { path }
            | Self::Corrupt { path, .. }
            | Self::AliasNotFound { path, .. }
            | Self::KeyCertMismatch { path, .. }
            | Self::UnsupportedAlgorithm { path, .. }
            | Self::MissingCertificate { path, .. }
            | Self::NotRsa { path, .. } => path,
        }
    }
}

impl fmt::Display for KeystoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Aliases come from the file or the caller: Debug-quote them so a newline in a
        // friendlyName cannot break the one-line log format.
        match self {
            Self::Io { path, error } => write!(f, "keystore {path}: cannot read file: {error}"),
            Self::NotPkcs12 { path, detail } => write!(
                f,
                "keystore {path}: not a PKCS#12 keystore (DER parse failed: {detail})"
            ),
            Self::WrongPassword { path } => {
                write!(f, "keystore {path}: wrong password (MAC verification failed)")
            }
            Self::WrongPasswordNoMac { path } => write!(
                f,
                "keystore {path}: wrong password (keystore has no MAC; decryption failed)"
            ),
            Self::Corrupt { path, detail } => {
                write!(f, "keystore {path}: corrupt PKCS#12 content: {detail}")
            }
            Self::AliasNotFound {
                path,
                alias,
                available,
            } => {
                write!(f, "keystore {path}: no key entry with alias {alias:?}; ")?;
                if available.is_empty() {
                    write!(f, "the keystore has no key entries")
                } else {
                    write!(f, "available aliases: {available:?}")
                }
            }
            Self::KeyCertMismatch { path, alias } => write!(
                f,
                "keystore {path}: entry {alias:?}: private key does not match the certificate's public key"
            ),
            Self::UnsupportedAlgorithm {
                path,
                context,
                oid,
                supported,
            } => write!(
                f,
                "keystore {path}: unsupported {context} algorithm {oid}; supported: {supported}"
            ),
            Self::MissingCertificate { path, alias } => write!(
                f,
                "keystore {path}: entry {alias:?} has a private key but no certificate"
            ),
            Self::NotRsa {
                path,
                alias,
                algorithm_oid,
            } => write!(
                f,
                "keystore {path}: entry {alias:?} is {}, not an RSA key; the issuer signs RS256, \
                 which needs one",
                algorithm_name(algorithm_oid)
            ),
        }
    }
}

/// A key algorithm in words, for messages; the OID only when it is not one of these.
pub(crate) fn algorithm_name(oid: &str) -> String {
    match oid {
        "1.2.840.10045.2.1" => "an EC (ECDSA) key".into(),
        "1.3.101.112" => "an Ed25519 key".into(),
        "1.3.101.113" => "an Ed448 key".into(),
        "1.3.101.110" => "an X25519 key".into(),
        "1.3.101.111" => "an X448 key".into(),
        "1.2.840.113549.1.1.10" => "an RSA-PSS-only key".into(),
        "1.2.840.10040.4.1" => "a DSA key".into(),
        "1.2.840.10046.2.1" => "a Diffie-Hellman key".into(),
        other => format!("a key of an unknown algorithm (OID {other})"),
    }
}

impl std::error::Error for KeystoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// A private key and its certificate chain.
pub struct KeyEntry {
    /// friendlyName of the key bag (or of its certificate); empty when neither has one.
    pub alias: String,
    /// Private key as PKCS#8 PrivateKeyInfo DER.
    pub key_pkcs8_der: Zeroizing<Vec<u8>>,
    /// DER certificates: the leaf paired with the key first, then the issuers found in the file.
    pub cert_chain_der: Vec<Vec<u8>>,
    /// Origin, for error messages.
    source: String,
}

impl fmt::Debug for KeyEntry {
    // Hand-written so key material never reaches a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyEntry")
            .field("alias", &self.alias)
            .field("key_pkcs8_der", &"<redacted>")
            .field("cert_chain_len", &self.cert_chain_der.len())
            .finish()
    }
}

impl KeyEntry {
    /// The RSA private key for the JWT signer; error (naming the alias and the key's algorithm
    /// OID) if not RSA. Also checks the key matches the leaf certificate's public key.
    pub fn rsa_private_key(&self) -> Result<rsa::PrivateKey, KeystoreError> {
        let oid = self.key_algorithm_oid()?;
        if oid != OID_RSA_ENCRYPTION {
            return Err(KeystoreError::NotRsa {
                path: self.source.clone(),
                alias: self.alias.clone(),
                algorithm_oid: oid.to_string(),
            });
        }
        let key = rsa::PrivateKey::from_pkcs8_der(&self.key_pkcs8_der).map_err(|e| {
            KeystoreError::Corrupt {
                path: self.source.clone(),
                detail: format!("entry {:?}: invalid RSA private key: {e}", self.alias),
            }
        })?;
        let spki = self.leaf_spki_der()?;
        let mismatch = || KeystoreError::KeyCertMismatch {
            path: self.source.clone(),
            alias: self.alias.clone(),
        };
        let cert_key = rsa::PublicKey::from_public_key_der(&spki).map_err(|_| mismatch())?;
        if cert_key != key.to_public_key() {
            return Err(mismatch());
        }
        Ok(key)
    }

    /// Leaf certificate's SubjectPublicKeyInfo DER.
    pub fn leaf_spki_der(&self) -> Result<Vec<u8>, KeystoreError> {
        let leaf =
            self.cert_chain_der
                .first()
                .ok_or_else(|| KeystoreError::MissingCertificate {
                    path: self.source.clone(),
                    alias: self.alias.clone(),
                })?;
        let corrupt = |e: der::Error| KeystoreError::Corrupt {
            path: self.source.clone(),
            detail: format!("entry {:?}: invalid certificate: {e}", self.alias),
        };
        Certificate::from_der(leaf)
            .map_err(corrupt)?
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(corrupt)
    }

    /// Checks that `spki_der` (the public half of this entry's key, as a SubjectPublicKeyInfo
    /// computed by e.g. the TLS library) is the leaf certificate's key; `KeyCertMismatch` if not.
    /// Works for any key type: compares the algorithm OID and the key bits.
    pub fn check_public_key(&self, spki_der: &[u8]) -> Result<(), KeystoreError> {
        let leaf = self.leaf_spki_der()?;
        let mismatch = || KeystoreError::KeyCertMismatch {
            path: self.source.clone(),
            alias: self.alias.clone(),
        };
        let cert = SubjectPublicKeyInfoRef::from_der(&leaf).map_err(|_| mismatch())?;
        let key = SubjectPublicKeyInfoRef::from_der(spki_der).map_err(|_| mismatch())?;
        if cert.algorithm.oid == key.algorithm.oid
            && cert.subject_public_key == key.subject_public_key
        {
            Ok(())
        } else {
            Err(mismatch())
        }
    }

    /// As `check_public_key`, for the key bits alone (a certificate's subjectPublicKey: what
    /// a signer derives from the private key).
    pub fn check_public_key_bits(&self, bits: &[u8]) -> Result<(), KeystoreError> {
        let leaf = self.leaf_spki_der()?;
        let cert = SubjectPublicKeyInfoRef::from_der(&leaf).ok();
        match cert.and_then(|c| c.subject_public_key.as_bytes().map(|b| b == bits)) {
            Some(true) => Ok(()),
            _ => Err(KeystoreError::KeyCertMismatch {
                path: self.source.clone(),
                alias: self.alias.clone(),
            }),
        }
    }

    fn key_algorithm_oid(&self) -> Result<ObjectIdentifier, KeystoreError> {
        pkcs8::PrivateKeyInfoRef::from_der(&self.key_pkcs8_der)
            .map(|pki| pki.algorithm.oid)
            .map_err(|e| KeystoreError::Corrupt {
                path: self.source.clone(),
                detail: format!("entry {:?}: invalid PKCS#8 private key: {e}", self.alias),
            })
    }
}

/// The key entries of a PKCS#12 file.
pub struct Keystore {
    entries: Vec<KeyEntry>,
    had_no_mac: bool,
    source: String,
}

impl fmt::Debug for Keystore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keystore")
            .field("source", &self.source)
            .field("entries", &self.entries)
            .field("had_no_mac", &self.had_no_mac)
            .finish()
    }
}

impl Keystore {
    /// Reads and parses the file. `path` appears in every error message; the password never does.
    pub fn load(path: &Path, password: &str) -> Result<Keystore, KeystoreError> {
        let source = path.display().to_string();
        // Keystores with plain key bags hold the key unencrypted in the file: wipe our copy.
        let bytes = Zeroizing::new(std::fs::read(path).map_err(|error| KeystoreError::Io {
            path: source.clone(),
            error,
        })?);
        Self::parse(&bytes, password, &source)
    }

    /// Same on bytes (for tests and fuzzing). `source` names the origin in messages.
    pub fn parse(bytes: &[u8], password: &str, source: &str) -> Result<Keystore, KeystoreError> {
        Parser::new(source, password).parse(bytes)
    }

    /// A keystore of one entry, read from elsewhere (PEM files); `source` names the key's origin
    /// in messages.
    pub fn single(
        alias: &str,
        key_pkcs8_der: Zeroizing<Vec<u8>>,
        cert_chain_der: Vec<Vec<u8>>,
        source: String,
    ) -> Keystore {
        Keystore {
            entries: vec![KeyEntry {
                alias: alias.to_string(),
                key_pkcs8_der,
                cert_chain_der,
                source: source.clone(),
            }],
            had_no_mac: false,
            source,
        }
    }

    /// Aliases (friendlyNames) of the key entries, in file order.
    pub fn aliases(&self) -> Vec<&str> {
        self.entries.iter().map(|e| e.alias.as_str()).collect()
    }

    /// Entry by friendlyName; error lists the aliases that exist.
    pub fn entry(&self, alias: &str) -> Result<&KeyEntry, KeystoreError> {
        let entry = self
            .entries
            .iter()
            .find(|e| e.alias == alias)
            .ok_or_else(|| KeystoreError::AliasNotFound {
                path: self.source.clone(),
                alias: alias.to_owned(),
                available: self.entries.iter().map(|e| e.alias.clone()).collect(),
            })?;
        if entry.cert_chain_der.is_empty() {
            return Err(KeystoreError::MissingCertificate {
                path: self.source.clone(),
                alias: entry.alias.clone(),
            });
        }
        Ok(entry)
    }

    /// true when the file had no MAC (caller logs a warning).
    pub fn had_no_mac(&self) -> bool {
        self.had_no_mac
    }
}

/// Password encodings: PBES2 takes UTF-8 bytes, PKCS#12 PBE and the MAC take a BMPString.
struct Passwords {
    utf8: Zeroizing<Vec<u8>>,
    /// BMPString forms, standard first: UTF-16BE plus two zero bytes (RFC 7292 B.1, so ""
    /// is `00 00`). Then what other writers produced: zero bytes for "", and for non-ASCII
    /// passwords each UTF-8 byte widened to 16 bits (OpenSSL before 1.1.0).
    bmp_forms: Vec<Zeroizing<Vec<u8>>>,
    /// Index of the form that verified the MAC; decryption tries it first.
    preferred: usize,
}

impl Passwords {
    fn new(password: &str) -> Self {
        let mut bmp = Zeroizing::new(Vec::with_capacity(password.len() * 2 + 2));
        for unit in password.encode_utf16() {
            bmp.extend_from_slice(&unit.to_be_bytes());
        }
        bmp.extend_from_slice(&[0, 0]);
        let mut bmp_forms = vec![bmp];
        if password.is_empty() {
            bmp_forms.push(Zeroizing::new(Vec::new()));
        } else if !password.is_ascii() {
            let mut widened = Zeroizing::new(Vec::with_capacity(password.len() * 2 + 2));
            for byte in password.bytes() {
                widened.extend_from_slice(&[0, byte]);
            }
            widened.extend_from_slice(&[0, 0]);
            bmp_forms.push(widened);
        }
        Self {
            utf8: Zeroizing::new(password.as_bytes().to_vec()),
            bmp_forms,
            preferred: 0,
        }
    }

    /// BMP forms to try for PKCS#12 PBE decryption, best first.
    fn bmp_candidates(&self) -> impl Iterator<Item = &[u8]> {
        let preferred = self.bmp_forms.get(self.preferred);
        preferred
            .into_iter()
            .chain(
                self.bmp_forms
                    .iter()
                    .enumerate()
                    .filter(move |(i, _)| *i != self.preferred)
                    .map(|(_, f)| f),
            )
            .map(|f| f.as_slice())
    }
}

#[derive(Default)]
struct BagAttrs {
    name: Option<String>,
    local_key_id: Option<Vec<u8>>,
}

struct RawKey {
    pkcs8: Zeroizing<Vec<u8>>,
    attrs: BagAttrs,
}

struct RawCert {
    der: Vec<u8>,
    attrs: BagAttrs,
    parsed: Option<Certificate>,
}

/// Failure of one decryption attempt, before it is mapped to a user-facing error.
enum DecryptFailure {
    /// Bad padding: typical of a wrong password.
    BadPadding,
    Error(KeystoreError),
}

struct Parser<'a> {
    source: &'a str,
    pw: Passwords,
    had_mac: bool,
    keys: Vec<RawKey>,
    certs: Vec<RawCert>,
}

impl<'a> Parser<'a> {
    fn new(source: &'a str, password: &str) -> Self {
        Self {
            source,
            pw: Passwords::new(password),
            had_mac: false,
            keys: Vec::new(),
            certs: Vec::new(),
        }
    }

    fn corrupt(&self, detail: impl fmt::Display) -> KeystoreError {
        KeystoreError::Corrupt {
            path: self.source.to_owned(),
            detail: detail.to_string(),
        }
    }

    fn not_pkcs12(&self, e: der::Error) -> KeystoreError {
        KeystoreError::NotPkcs12 {
            path: self.source.to_owned(),
            detail: e.to_string(),
        }
    }

    fn unsupported(
        &self,
        context: &'static str,
        oid: &ObjectIdentifier,
        supported: &'static str,
    ) -> KeystoreError {
        KeystoreError::UnsupportedAlgorithm {
            path: self.source.to_owned(),
            context,
            oid: oid.to_string(),
            supported,
        }
    }

    /// Garbage after decryption means a wrong password when there was no MAC to tell us.
    fn bad_plaintext(&self, what: &str, e: impl fmt::Display) -> KeystoreError {
        if self.had_mac {
            self.corrupt(format_args!("{what}: {e}"))
        } else {
            KeystoreError::WrongPasswordNoMac {
                path: self.source.to_owned(),
            }
        }
    }

    fn parse(mut self, bytes: &[u8]) -> Result<Keystore, KeystoreError> {
        let pfx = Pfx::from_der(bytes).map_err(|e| self.not_pkcs12(e))?;
        if pfx.auth_safe.content_type != OID_DATA {
            // signedData here means public-key integrity mode.
            return Err(self.unsupported(
                "integrity mode (authSafe content type)",
                &pfx.auth_safe.content_type,
                "data (password integrity)",
            ));
        }
        let auth_safe_bytes =
            any_to_octet_string(&pfx.auth_safe.content).map_err(|e| self.not_pkcs12(e))?;

        if let Some(mac) = &pfx.mac_data {
            self.had_mac = true;
            self.verify_mac(mac, &auth_safe_bytes)?;
        }

        let safes = AuthenticatedSafe::from_der(&auth_safe_bytes)
            .map_err(|e| self.corrupt(format_args!("authenticated safe: {e}")))?;
        for content in &safes {
            self.process_content_info(content)?;
        }
        let entries = self.assemble();
        Ok(Keystore {
            entries,
            had_no_mac: !self.had_mac,
            source: self.source.to_owned(),
        })
    }

    fn verify_mac(&mut self, mac: &MacData, data: &[u8]) -> Result<(), KeystoreError> {
        let iterations = self.check_iterations(mac.iterations, "MAC")?;
        let salt = mac.mac_salt.as_bytes();
        let expected = mac.mac.digest.as_bytes();
        let oid = mac.mac.algorithm.oid;
        let check = |pw: &[u8]| -> Option<bool> {
            Some(match oid {
                OID_SHA1 => mac_matches::<sha1::Sha1>(pw, salt, iterations, data, expected),
                OID_SHA224 => mac_matches::<sha2::Sha224>(pw, salt, iterations, data, expected),
                OID_SHA256 => mac_matches::<sha2::Sha256>(pw, salt, iterations, data, expected),
                OID_SHA384 => mac_matches::<sha2::Sha384>(pw, salt, iterations, data, expected),
                OID_SHA512 => mac_matches::<sha2::Sha512>(pw, salt, iterations, data, expected),
                _ => return None,
            })
        };
        for (i, form) in self.pw.bmp_forms.iter().enumerate() {
            match check(form) {
                None => return Err(self.unsupported("MAC digest", &oid, SUPPORTED_MAC)),
                Some(true) => {
                    self.pw.preferred = i;
                    return Ok(());
                }
                Some(false) => {}
            }
        }
        Err(KeystoreError::WrongPassword {
            path: self.source.to_owned(),
        })
    }

    fn check_iterations(&self, iterations: i32, what: &str) -> Result<i32, KeystoreError> {
        match u32::try_from(iterations) {
            Ok(n) if (1..=MAX_ITERATIONS).contains(&n) => Ok(iterations),
            _ => Err(self.corrupt(format_args!(
                "{what} iteration count {iterations} outside the supported range 1..={MAX_ITERATIONS}"
            ))),
        }
    }

    fn process_content_info(&mut self, content: &ContentInfo) -> Result<(), KeystoreError> {
        if content.content_type == OID_DATA {
            let os = any_to_octet_string(&content.content)
                .map_err(|e| self.corrupt(format_args!("data content: {e}")))?;
            let bags =
                decode_bags(&os).map_err(|e| self.corrupt(format_args!("safe contents: {e}")))?;
            self.process_bags(&bags.0, 0, false)
        } else if content.content_type == OID_ENCRYPTED_DATA {
            let der = content
                .content
                .to_der()
                .map_err(|e| self.corrupt(format_args!("encrypted data: {e}")))?;
            let enc = EncryptedData::from_der(&der)
                .map_err(|e| self.corrupt(format_args!("encrypted data: {e}")))?;
            let info = &enc.enc_content_info;
            let ciphertext = info
                .encrypted_content
                .as_ref()
                .map(OctetString::as_bytes)
                .unwrap_or_default();
            let plain = self.decrypt(&info.content_enc_alg, ciphertext)?;
            let bags = decode_bags(&plain)
                .map_err(|e| self.bad_plaintext("decrypted safe contents", e))?;
            self.process_bags(&bags.0, 0, true)
        } else {
            // envelopedData: public-key privacy mode.
            Err(self.unsupported(
                "authenticated safe content type",
                &content.content_type,
                SUPPORTED_CONTENT,
            ))
        }
    }

    fn process_bags(
        &mut self,
        bags: &[SafeBag],
        depth: usize,
        decrypted: bool,
    ) -> Result<(), KeystoreError> {
        for bag in bags {
            self.process_bag(bag, depth, decrypted)?;
        }
        Ok(())
    }

    /// `decrypted`: the bag came out of decryption, so garbage may mean a wrong password.
    fn process_bag(
        &mut self,
        bag: &SafeBag,
        depth: usize,
        decrypted: bool,
    ) -> Result<(), KeystoreError> {
        let bag_err = |p: &Self, what: &str, e: der::Error| {
            if decrypted {
                p.bad_plaintext(what, e)
            } else {
                p.corrupt(format_args!("{what}: {e}"))
            }
        };
        // pkcs12's SafeBag keeps the `[0] EXPLICIT` wrapper in bag_value.
        let value = explicit0(&bag.bag_value).map_err(|e| bag_err(self, "safe bag value", e))?;
        let attrs = parse_attrs(bag.bag_attributes.as_ref());
        match bag.bag_id {
            pkcs12::PKCS_12_KEY_BAG_OID => {
                let pkcs8 = Zeroizing::new(value.to_vec());
                pkcs8::PrivateKeyInfoRef::from_der(&pkcs8)
                    .map_err(|e| bag_err(self, "key bag", e))?;
                self.keys.push(RawKey { pkcs8, attrs });
            }
            pkcs12::PKCS_12_PKCS8_KEY_BAG_OID => {
                let epki = EncryptedPrivateKeyInfo::from_der(value)
                    .map_err(|e| bag_err(self, "shrouded key bag", e))?;
                let pkcs8 =
                    self.decrypt(&epki.encryption_algorithm, epki.encrypted_data.as_bytes())?;
                pkcs8::PrivateKeyInfoRef::from_der(&pkcs8)
                    .map_err(|e| self.bad_plaintext("decrypted private key", e))?;
                self.keys.push(RawKey { pkcs8, attrs });
            }
            pkcs12::PKCS_12_CERT_BAG_OID => {
                let cert_bag =
                    CertBag::from_der(value).map_err(|e| bag_err(self, "certificate bag", e))?;
                // sdsiCertificate and other types cannot be part of a TLS/JWT chain.
                if cert_bag.cert_id == pkcs12::PKCS_12_X509_CERT_OID {
                    let der = cert_bag.cert_value.as_bytes().to_vec();
                    // Unparsable certificates stay usable as opaque leaf bytes; they only
                    // cannot take part in the issuer walk.
                    let parsed = Certificate::from_der(&der).ok();
                    self.certs.push(RawCert { der, attrs, parsed });
                }
            }
            pkcs12::PKCS_12_SAFE_CONTENTS_BAG_OID => {
                if depth >= MAX_BAG_NESTING {
                    return Err(self.corrupt("safeContentsBag nested too deeply"));
                }
                let inner =
                    decode_bags(value).map_err(|e| bag_err(self, "nested safe contents", e))?;
                self.process_bags(&inner.0, depth + 1, decrypted)?;
            }
            // CRL and secret bags carry nothing the service uses.
            _ => {}
        }
        Ok(())
    }

    fn decrypt(
        &self,
        alg: &AlgorithmIdentifierOwned,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
        let result = if alg.oid == OID_PBES2 {
            self.decrypt_pbes2(alg, ciphertext)
        } else {
            let cipher = match alg.oid {
                pkcs12::PKCS_12_PBE_WITH_SHAAND3_KEY_TRIPLE_DES_CBC => LegacyCipher::TripleDes3,
                pkcs12::PKCS_12_PBE_WITH_SHAAND2_KEY_TRIPLE_DES_CBC => LegacyCipher::TripleDes2,
                pkcs12::PKCS_12_PBE_WITH_SHAAND128_BIT_RC2_CBC => LegacyCipher::Rc2_128,
                pkcs12::PKCS_12_PBEWITH_SHAAND40_BIT_RC2_CBC => LegacyCipher::Rc2_40,
                _ => return Err(self.unsupported("encryption", &alg.oid, SUPPORTED_ENCRYPTION)),
            };
            self.decrypt_pkcs12_pbe(cipher, alg, ciphertext)
        };
        result.map_err(|f| match f {
            DecryptFailure::Error(e) => e,
            DecryptFailure::BadPadding if self.had_mac => {
                self.corrupt("decryption failed although the MAC verified (separate key password?)")
            }
            DecryptFailure::BadPadding => KeystoreError::WrongPasswordNoMac {
                path: self.source.to_owned(),
            },
        })
    }

    fn decrypt_pkcs12_pbe(
        &self,
        cipher: LegacyCipher,
        alg: &AlgorithmIdentifierOwned,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, DecryptFailure> {
        let params = alg
            .parameters
            .as_ref()
            .ok_or_else(|| DecryptFailure::Error(self.corrupt("PBE parameters missing")))
            .and_then(|p| {
                p.to_der()
                    .and_then(|d| Pkcs12PbeParams::from_der(&d))
                    .map_err(|e| {
                        DecryptFailure::Error(self.corrupt(format_args!("PBE parameters: {e}")))
                    })
            })?;
        let iterations = self
            .check_iterations(params.iterations, "PBE")
            .map_err(DecryptFailure::Error)?;
        let salt = params.salt.as_bytes();
        self.pw
            .bmp_candidates()
            .find_map(|pw| cipher.decrypt(pw, salt, iterations, ciphertext))
            .ok_or(DecryptFailure::BadPadding)
    }

    fn decrypt_pbes2(
        &self,
        alg: &AlgorithmIdentifierOwned,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, DecryptFailure> {
        let fail = |detail: String| DecryptFailure::Error(self.corrupt(detail));
        let params_der = alg
            .parameters
            .as_ref()
            .ok_or_else(|| fail("PBES2 parameters missing".into()))?
            .to_der()
            .map_err(|e| fail(format!("PBES2 parameters: {e}")))?;
        // Generic decode first so an unknown KDF or cipher is reported by OID.
        let generic = Pbes2Params::from_der(&params_der)
            .map_err(|e| fail(format!("PBES2 parameters: {e}")))?;
        if generic.kdf.oid != OID_PBKDF2 {
            return Err(DecryptFailure::Error(self.unsupported(
                "PBES2 key derivation",
                &generic.kdf.oid,
                SUPPORTED_ENCRYPTION,
            )));
        }
        let enc_oid = generic.encryption.oid;
        if ![
            OID_AES128_CBC,
            OID_AES192_CBC,
            OID_AES256_CBC,
            OID_DES_EDE3_CBC,
        ]
        .contains(&enc_oid)
        {
            return Err(DecryptFailure::Error(self.unsupported(
                "PBES2 cipher",
                &enc_oid,
                SUPPORTED_ENCRYPTION,
            )));
        }
        let params =
            pkcs5::pbes2::Parameters::from_der(&params_der).map_err(|e| match e.kind() {
                der::ErrorKind::OidUnknown { oid } => DecryptFailure::Error(self.unsupported(
                    "PBKDF2 PRF",
                    &oid,
                    SUPPORTED_ENCRYPTION,
                )),
                _ => fail(format!("PBES2 parameters: {e}")),
            })?;
        let iterations = params
            .kdf
            .pbkdf2()
            .map(|p| p.iteration_count)
            .unwrap_or_default();
        if !(1..=MAX_ITERATIONS).contains(&iterations) {
            return Err(fail(format!(
                "PBKDF2 iteration count {iterations} outside the supported range 1..={MAX_ITERATIONS}"
            )));
        }
        let mut buf = Zeroizing::new(ciphertext.to_vec());
        let len = params
            .decrypt_in_place(self.pw.utf8.as_slice(), &mut buf)
            .map_err(|e| match e {
                pkcs5::Error::DecryptFailed => DecryptFailure::BadPadding,
                pkcs5::Error::UnsupportedAlgorithm { oid } => {
                    DecryptFailure::Error(self.unsupported("PBES2", &oid, SUPPORTED_ENCRYPTION))
                }
                other => fail(format!("PBES2: {other}")),
            })?
            .len();
        buf.truncate(len);
        Ok(buf)
    }

    /// Pairs keys with certificates and orders each chain.
    fn assemble(&mut self) -> Vec<KeyEntry> {
        let keys = std::mem::take(&mut self.keys);
        let single_key = keys.len() == 1;
        keys.into_iter()
            .map(|key| {
                let leaf = self.find_leaf(&key.attrs, single_key);
                let alias = key
                    .attrs
                    .name
                    .clone()
                    .or_else(|| leaf.and_then(|i| self.certs.get(i)?.attrs.name.clone()))
                    .unwrap_or_default();
                KeyEntry {
                    alias,
                    key_pkcs8_der: key.pkcs8,
                    cert_chain_der: leaf.map(|i| self.chain_from(i)).unwrap_or_default(),
                    source: self.source.to_owned(),
                }
            })
            .collect()
    }

    fn find_leaf(&self, key: &BagAttrs, single_key: bool) -> Option<usize> {
        if let Some(id) = &key.local_key_id {
            if let Some(i) = self
                .certs
                .iter()
                .position(|c| c.attrs.local_key_id.as_ref() == Some(id))
            {
                return Some(i);
            }
        }
        // Some writers set only friendlyName; don't steal a cert that carries another key's id.
        if let Some(name) = &key.name {
            if let Some(i) = self
                .certs
                .iter()
                .position(|c| c.attrs.local_key_id.is_none() && c.attrs.name.as_ref() == Some(name))
            {
                return Some(i);
            }
        }
        if !single_key {
            return None;
        }
        if self.certs.len() == 1 {
            return Some(0);
        }
        // One key with an unlabelled chain: the leaf is the only cert that issued nothing.
        let issued_nothing: Vec<usize> = (0..self.certs.len())
            .filter(|&i| {
                let Some(ci) = self.certs.get(i).and_then(|c| c.parsed.as_ref()) else {
                    return false;
                };
                !self.certs.iter().enumerate().any(|(j, cj)| {
                    j != i
                        && cj.parsed.as_ref().is_some_and(|cj| {
                            cj.tbs_certificate().issuer() == ci.tbs_certificate().subject()
                        })
                })
            })
            .collect();
        match issued_nothing.as_slice() {
            [only] => Some(*only),
            _ => None,
        }
    }

    fn chain_from(&self, leaf: usize) -> Vec<Vec<u8>> {
        let mut used = vec![false; self.certs.len()];
        let mut chain = Vec::new();
        let mut current = leaf;
        while let Some(cert) = self.certs.get(current) {
            chain.push(cert.der.clone());
            if let Some(flag) = used.get_mut(current) {
                *flag = true;
            }
            let Some(parsed) = &cert.parsed else { break };
            let tbs = parsed.tbs_certificate();
            if tbs.issuer() == tbs.subject() {
                break; // self-signed: top of the chain
            }
            let next = self.certs.iter().enumerate().position(|(j, c)| {
                !used.get(j).copied().unwrap_or(true)
                    && c.parsed
                        .as_ref()
                        .is_some_and(|p| p.tbs_certificate().subject() == tbs.issuer())
            });
            match next {
                Some(j) => current = j,
                None => break,
            }
        }
        chain
    }
}

#[derive(Clone, Copy)]
enum LegacyCipher {
    TripleDes3,
    TripleDes2,
    Rc2_128,
    Rc2_40,
}

impl LegacyCipher {
    /// PKCS#12 PBE (RFC 7292 appendix B/C): SHA-1 KDF with ID 1 for the key, ID 2 for the IV.
    fn decrypt(
        self,
        password_bmp: &[u8],
        salt: &[u8],
        iterations: i32,
        ciphertext: &[u8],
    ) -> Option<Zeroizing<Vec<u8>>> {
        use cbc::cipher::block_padding::Pkcs7;
        use cbc::cipher::{BlockModeDecrypt, InnerIvInit, KeyIvInit};

        let key_len = match self {
            Self::TripleDes3 => 24,
            Self::TripleDes2 | Self::Rc2_128 => 16,
            Self::Rc2_40 => 5,
        };
        let kdf = |id, len| {
            Zeroizing::new(derive_key::<sha1::Sha1>(
                password_bmp,
                salt,
                id,
                iterations,
                len,
            ))
        };
        let key = kdf(Pkcs12KeyType::EncryptionKey, key_len);
        let iv = kdf(Pkcs12KeyType::Iv, 8);
        let mut buf = Zeroizing::new(ciphertext.to_vec());
        let plain_len = match self {
            Self::TripleDes3 => cbc::Decryptor::<des::TdesEde3>::new_from_slices(&key, &iv)
                .ok()?
                .decrypt_padded::<Pkcs7>(&mut buf)
                .ok()?
                .len(),
            Self::TripleDes2 => cbc::Decryptor::<des::TdesEde2>::new_from_slices(&key, &iv)
                .ok()?
                .decrypt_padded::<Pkcs7>(&mut buf)
                .ok()?
                .len(),
            Self::Rc2_128 | Self::Rc2_40 => {
                let rc2 = rc2::Rc2::new_with_eff_key_len(&key, key_len * 8);
                cbc::Decryptor::inner_iv_slice_init(rc2, &iv)
                    .ok()?
                    .decrypt_padded::<Pkcs7>(&mut buf)
                    .ok()?
                    .len()
            }
        };
        buf.truncate(plain_len);
        Some(buf)
    }
}

/// HMAC over `data` keyed by the PKCS#12 KDF (ID 3) with the MAC's own hash.
fn mac_matches<D>(pw: &[u8], salt: &[u8], iterations: i32, data: &[u8], expected: &[u8]) -> bool
where
    D: Digest + FixedOutputReset + BlockSizeUser + EagerHash,
{
    let key = Zeroizing::new(derive_key::<D>(
        pw,
        salt,
        Pkcs12KeyType::Mac,
        iterations,
        <D as Digest>::output_size(),
    ));
    let Ok(mut mac) = <Hmac<D> as KeyInit>::new_from_slice(&key) else {
        return false;
    };
    mac.update(data);
    let computed = mac.finalize().into_bytes();
    computed.as_slice().ct_eq(expected).into()
}

/// Content of a `[0] EXPLICIT` wrapper (the whole inner TLV).
fn explicit0(bytes: &[u8]) -> der::Result<&[u8]> {
    let any = AnyRef::from_der(bytes)?;
    let expected = Tag::ContextSpecific {
        constructed: true,
        number: TagNumber(0),
    };
    if any.tag() != expected {
        return Err(any.tag().unexpected_error(Some(expected)).into());
    }
    Ok(any.value())
}

/// Content of an OCTET STRING held in an `Any`; wiped on drop because `data` contents may
/// hold unencrypted key bags.
fn any_to_octet_string(any: &der::Any) -> der::Result<Zeroizing<Vec<u8>>> {
    let der = Zeroizing::new(any.to_der()?);
    Ok(Zeroizing::new(
        OctetString::from_der(&der)?.into_bytes().into_vec(),
    ))
}

/// Decoded safe bags. Plain keyBags hold key material in `bag_value`: wipe it on drop.
struct Bags(SafeContents);

impl Drop for Bags {
    fn drop(&mut self) {
        for bag in &mut self.0 {
            bag.bag_value.zeroize();
        }
    }
}

fn decode_bags(bytes: &[u8]) -> der::Result<Bags> {
    SafeContents::from_der(bytes).map(Bags)
}

/// friendlyName and localKeyId; malformed attribute values are ignored, not fatal.
fn parse_attrs(attrs: Option<&Attributes>) -> BagAttrs {
    let mut out = BagAttrs::default();
    for attr in attrs.into_iter().flat_map(|a| a.iter()) {
        let Some(value) = attr.values.iter().next() else {
            continue;
        };
        if attr.oid == OID_FRIENDLY_NAME && out.name.is_none() {
            out.name = value.decode_as::<BmpString>().ok().map(|s| s.to_string());
        } else if attr.oid == OID_LOCAL_KEY_ID && out.local_key_id.is_none() {
            out.local_key_id = value
                .decode_as::<OctetString>()
                .ok()
                .map(|s| s.as_bytes().to_vec());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::traits::PublicKeyParts;

    macro_rules! fixture {
        ($name:literal) => {
            (
                &include_bytes!(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/tests/fixtures/keystores/",
                    $name
                ))[..],
                concat!("tests/fixtures/keystores/", $name),
            )
        };
    }

    const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keystores/");
    const PW: &str = "ballerina";
    const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";

    fn load((bytes, source): (&[u8], &str), pw: &str) -> Keystore {
        match Keystore::parse(bytes, pw, source) {
            Ok(ks) => ks,
            Err(e) => panic!("{source} should load: {e}"),
        }
    }

    fn fail((bytes, source): (&[u8], &str), pw: &str) -> KeystoreError {
        let err = Keystore::parse(bytes, pw, source).expect_err("should fail");
        assert_message(&err, source, pw);
        err
    }

    fn assert_message(err: &KeystoreError, source: &str, pw: &str) {
        let msg = err.to_string();
        assert!(msg.contains(source), "{msg:?} lacks the path");
        assert!(!msg.contains('\n'), "{msg:?} is not one line");
        if !pw.is_empty() {
            assert!(!msg.contains(pw), "{msg:?} leaks the password");
        }
        assert_eq!(err.path(), source);
    }

    /// Loads the RSA key, checks its size, chain length and that it matches the leaf.
    fn check_rsa(ks: &Keystore, alias: &str, bits: usize, chain_len: usize) -> rsa::PrivateKey {
        let entry = ks.entry(alias).expect("entry");
        assert_eq!(entry.alias, alias);
        assert_eq!(entry.cert_chain_der.len(), chain_len, "chain of {alias}");
        let key = entry.rsa_private_key().expect("rsa key");
        assert_eq!(key.size() * 8, bits);
        let spki = entry.leaf_spki_der().expect("spki");
        let cert_key = rsa::PublicKey::from_public_key_der(&spki).expect("cert key");
        assert_eq!(cert_key, key.to_public_key());
        key
    }

    fn single_rsa(f: (&[u8], &str), pw: &str, bits: usize) -> Keystore {
        let ks = load(f, pw);
        assert_eq!(ks.aliases(), vec!["ballerina"]);
        check_rsa(&ks, "ballerina", bits, 1);
        ks
    }

    #[test]
    fn openssl3_default() {
        let ks = single_rsa(fixture!("openssl3-default.p12"), PW, 2048);
        assert!(!ks.had_no_mac());
    }

    #[test]
    fn openssl_legacy_3des_rc2_40_sha1_mac() {
        let ks = single_rsa(fixture!("openssl-legacy.p12"), PW, 2048);
        assert!(!ks.had_no_mac());
    }

    #[test]
    fn legacy_2des_rc2_128() {
        single_rsa(fixture!("legacy-2des-rc2-128.p12"), PW, 2048);
    }

    #[test]
    fn keytool_java17() {
        single_rsa(fixture!("keytool-java17.p12"), PW, 2048);
    }

    #[test]
    fn keytool_java17_legacy() {
        single_rsa(fixture!("keytool-java17-legacy.p12"), PW, 2048);
    }

    #[test]
    fn rsa_sizes() {
        single_rsa(fixture!("rsa3072.p12"), PW, 3072);
        single_rsa(fixture!("rsa4096.p12"), PW, 4096);
    }

    #[test]
    fn aes128_sha512_mac() {
        single_rsa(fixture!("aes128-sha512.p12"), PW, 2048);
    }

    #[test]
    fn unencrypted_cert_bags() {
        single_rsa(fixture!("certpbe-none.p12"), PW, 2048);
    }

    #[test]
    fn plain_key_bag() {
        single_rsa(fixture!("keypbe-none.p12"), PW, 2048);
    }

    #[test]
    fn no_mac() {
        let ks = single_rsa(fixture!("nomac.p12"), PW, 2048);
        assert!(ks.had_no_mac());
        let ks = single_rsa(fixture!("unencrypted-nomac.p12"), PW, 2048);
        assert!(ks.had_no_mac());
    }

    #[test]
    fn empty_password() {
        single_rsa(fixture!("empty-password.p12"), "", 2048);
        let err = fail(fixture!("empty-password.p12"), "not-empty");
        assert!(matches!(err, KeystoreError::WrongPassword { .. }), "{err}");
    }

    #[test]
    fn unicode_password() {
        let pw = "p\u{e4}ssw\u{f6}rd-\u{20ac}";
        single_rsa(fixture!("unicode-password.p12"), pw, 2048);
        single_rsa(fixture!("unicode-password-legacy.p12"), pw, 2048);
        let err = fail(fixture!("unicode-password.p12"), "passwoerd");
        assert!(matches!(err, KeystoreError::WrongPassword { .. }), "{err}");
    }

    #[test]
    fn two_entries_selectable_by_alias() {
        let ks = load(fixture!("two-entries.p12"), PW);
        let mut aliases = ks.aliases();
        aliases.sort_unstable();
        assert_eq!(aliases, vec!["ballerina", "wso2carbon"]);
        let a = check_rsa(&ks, "ballerina", 2048, 1);
        let b = check_rsa(&ks, "wso2carbon", 2048, 1);
        assert_ne!(a.to_public_key(), b.to_public_key());
        let a_cert = &ks.entry("ballerina").expect("a").cert_chain_der;
        let b_cert = &ks.entry("wso2carbon").expect("b").cert_chain_der;
        assert_ne!(a_cert, b_cert);
    }

    #[test]
    fn chain_is_ordered_leaf_first() {
        let ks = load(fixture!("with-chain.p12"), PW);
        assert_eq!(ks.aliases(), vec!["ballerina"]);
        check_rsa(&ks, "ballerina", 2048, 3);
        let chain: Vec<Certificate> = ks
            .entry("ballerina")
            .expect("entry")
            .cert_chain_der
            .iter()
            .map(|c| Certificate::from_der(c).expect("cert"))
            .collect();
        for pair in chain.windows(2) {
            assert_eq!(
                pair[0].tbs_certificate().issuer(),
                pair[1].tbs_certificate().subject()
            );
        }
        let root = chain[2].tbs_certificate();
        assert_eq!(root.issuer(), root.subject());
        assert_ne!(
            chain[0].tbs_certificate().issuer(),
            chain[0].tbs_certificate().subject()
        );
    }

    #[test]
    fn ec_key_loads_but_is_not_rsa() {
        let (bytes, source) = fixture!("ec-p256.p12");
        let ks = load((bytes, source), "changeit");
        assert_eq!(ks.aliases(), vec!["ballerina"]);
        let entry = ks.entry("ballerina").expect("entry");
        assert_eq!(entry.cert_chain_der.len(), 1);
        let pki = pkcs8::PrivateKeyInfoRef::from_der(&entry.key_pkcs8_der).expect("pkcs8");
        assert_eq!(pki.algorithm.oid.to_string(), OID_EC_PUBLIC_KEY);
        assert!(!entry.leaf_spki_der().expect("spki").is_empty());
        let err = entry.rsa_private_key().expect_err("not rsa");
        assert!(matches!(err, KeystoreError::NotRsa { .. }), "{err}");
        assert_message(&err, source, "changeit");
        let msg = err.to_string();
        // The algorithm in words, not as an OID.
        assert!(
            msg.contains("is an EC (ECDSA) key, not an RSA key")
                && !msg.contains(OID_EC_PUBLIC_KEY)
                && msg.contains("ballerina"),
            "{msg}"
        );
    }

    #[test]
    fn wrong_password_with_mac() {
        for f in [
            fixture!("openssl3-default.p12"),
            fixture!("openssl-legacy.p12"),
            fixture!("keytool-java17.p12"),
        ] {
            let err = fail(f, "hunter2-secret");
            assert!(matches!(err, KeystoreError::WrongPassword { .. }), "{err}");
            assert!(err
                .to_string()
                .contains("wrong password (MAC verification failed)"));
        }
    }

    /// Every MAC digest the original's keystores may carry is checked with its own hash: a
    /// SHA-224 or SHA-384 MAC opens with the right password and is refused with a wrong one.
    #[test]
    fn mac_digests_sha224_and_sha384() {
        for f in [fixture!("mac-sha224.p12"), fixture!("mac-sha384.p12")] {
            single_rsa(f, PW, 2048);
            let err = fail(f, "hunter2-secret");
            assert!(matches!(err, KeystoreError::WrongPassword { .. }), "{err}");
        }
    }

    /// PBES2 with a PBKDF2 PRF we do not implement is "unsupported", naming the PRF, not a
    /// corrupt file: the hmacWithSHA256 OID of `nomac.p12` (no MAC, so the edit goes unnoticed
    /// until decryption) becomes the unassigned 1.2.840.113549.2.127.
    #[test]
    fn unknown_pbkdf2_prf_is_unsupported() {
        let (bytes, source) = fixture!("nomac.p12");
        let prf = [0x06, 0x08, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x09];
        let at = bytes
            .windows(prf.len())
            .position(|w| w == prf)
            .expect("nomac.p12 names hmacWithSHA256");
        let mut patched = bytes.to_vec();
        patched[at + prf.len() - 1] = 0x7f;
        let err = fail((&patched[..], source), PW);
        match &err {
            KeystoreError::UnsupportedAlgorithm { context, oid, .. } => {
                assert_eq!(
                    (*context, oid.as_str()),
                    ("PBKDF2 PRF", "1.2.840.113549.2.127")
                )
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn wrong_password_without_mac() {
        let err = fail(fixture!("nomac.p12"), "hunter2-secret");
        assert!(
            matches!(err, KeystoreError::WrongPasswordNoMac { .. }),
            "{err}"
        );
    }

    #[test]
    fn corrupted_mac_is_rejected() {
        let err = fail(fixture!("corrupted.p12"), PW);
        assert!(matches!(err, KeystoreError::WrongPassword { .. }), "{err}");
    }

    #[test]
    fn not_pkcs12() {
        for f in [fixture!("truncated.p12"), fixture!("not-pkcs12.p12")] {
            let err = fail(f, PW);
            assert!(matches!(err, KeystoreError::NotPkcs12 { .. }), "{err}");
        }
        let err = fail((&[][..], "empty-input"), PW);
        assert!(matches!(err, KeystoreError::NotPkcs12 { .. }), "{err}");
    }

    #[test]
    fn unsupported_algorithm_names_oid() {
        let err = fail(fixture!("unsupported-rc4.p12"), "hunter2-secret");
        // The MAC is checked before decryption.
        assert!(matches!(err, KeystoreError::WrongPassword { .. }), "{err}");
        let err = fail(fixture!("unsupported-rc4.p12"), PW);
        assert!(
            matches!(err, KeystoreError::UnsupportedAlgorithm { .. }),
            "{err}"
        );
        let msg = err.to_string();
        assert!(msg.contains("1.2.840.113549.1.12.1.1"), "{msg}");
        assert!(msg.contains("pbeWithSHAAnd3-KeyTripleDES-CBC"), "{msg}");
    }

    #[test]
    fn key_cert_mismatch() {
        let (bytes, source) = fixture!("key-cert-mismatch.p12");
        let ks = load((bytes, source), "changeit");
        let entry = ks.entry("ballerina").expect("entry");
        let err = entry.rsa_private_key().expect_err("mismatch");
        assert!(
            matches!(err, KeystoreError::KeyCertMismatch { .. }),
            "{err}"
        );
        assert_message(&err, source, "changeit");
    }

    #[test]
    fn check_public_key_compares_algorithm_and_key_bits() {
        let ks = load(fixture!("two-entries.p12"), PW);
        let a = ks.entry("ballerina").expect("entry");
        let b = ks.entry("wso2carbon").expect("entry");
        let spki_a = a.leaf_spki_der().expect("spki");
        assert!(a.check_public_key(&spki_a).is_ok());
        let err = b.check_public_key(&spki_a).expect_err("other key");
        assert!(
            matches!(err, KeystoreError::KeyCertMismatch { .. }),
            "{err}"
        );
        assert!(b.check_public_key(b"\x30\x00").is_err());
        assert!(b.check_public_key(&[]).is_err());
        // The EC key against its own certificate.
        let ec = load(fixture!("ec-p256.p12"), "changeit");
        let e = ec.entry("ballerina").expect("entry");
        assert!(e
            .check_public_key(&e.leaf_spki_der().expect("spki"))
            .is_ok());
        assert!(e.check_public_key(&spki_a).is_err());
    }

    #[test]
    fn key_without_certificate() {
        let (bytes, source) = fixture!("key-only.p12");
        let ks = load((bytes, source), "changeit");
        assert_eq!(ks.aliases(), vec!["ballerina"]);
        let err = ks.entry("ballerina").expect_err("no cert");
        assert!(
            matches!(err, KeystoreError::MissingCertificate { .. }),
            "{err}"
        );
        assert_message(&err, source, "changeit");
    }

    #[test]
    fn alias_not_found_lists_aliases() {
        let (bytes, source) = fixture!("two-entries.p12");
        let ks = load((bytes, source), PW);
        let err = ks.entry("nope").expect_err("missing alias");
        assert!(matches!(err, KeystoreError::AliasNotFound { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains(source) && msg.contains("\"nope\""), "{msg}");
        assert!(
            msg.contains("ballerina") && msg.contains("wso2carbon"),
            "{msg}"
        );
    }

    #[test]
    fn load_from_path() {
        let path = std::path::PathBuf::from(DIR).join("openssl3-default.p12");
        let ks = Keystore::load(&path, PW).expect("load");
        assert_eq!(ks.aliases(), vec!["ballerina"]);

        let missing = std::path::PathBuf::from(DIR).join("does-not-exist.p12");
        let err = Keystore::load(&missing, PW).expect_err("missing");
        assert!(matches!(err, KeystoreError::Io { .. }), "{err}");
        assert_message(&err, &missing.display().to_string(), PW);

        let err = Keystore::load(&path, "hunter2-secret").expect_err("wrong pw");
        assert_message(&err, &path.display().to_string(), "hunter2-secret");
    }

    #[test]
    fn debug_output_redacts_key() {
        let ks = load(fixture!("openssl3-default.p12"), PW);
        let dbg = format!("{ks:?}");
        assert!(dbg.contains("redacted") && dbg.contains("ballerina"));
    }

    /// Every prefix of valid files must be rejected cleanly (no panic, no hang).
    #[test]
    fn prefixes_never_panic() {
        for (bytes, source) in [
            fixture!("openssl3-default.p12"),
            fixture!("openssl-legacy.p12"),
            fixture!("keytool-java17.p12"),
            fixture!("unencrypted-nomac.p12"),
            fixture!("with-chain.p12"),
        ] {
            for len in 0..bytes.len() {
                let prefix = bytes.get(..len).unwrap_or_default();
                assert!(
                    Keystore::parse(prefix, PW, source).is_err(),
                    "{source}[..{len}]"
                );
            }
        }
    }

    /// Byte flips in a file without MAC or encryption reach every inner parser.
    #[test]
    fn bit_flips_never_panic() {
        {
            let (bytes, source) = fixture!("unencrypted-nomac.p12");
            let original = load((bytes, source), PW);
            let original_key = &original.entry("ballerina").expect("entry").key_pkcs8_der;
            let mut buf = bytes.to_vec();
            for i in 0..buf.len() {
                for mask in [0x01u8, 0x80, 0xff] {
                    buf[i] ^= mask;
                    if let Ok(ks) = Keystore::parse(&buf, PW, source) {
                        for alias in ks.aliases() {
                            if let Ok(e) = ks.entry(alias) {
                                // RSA parsing is slow in debug builds: only when the key changed.
                                if e.key_pkcs8_der != *original_key {
                                    let _ = e.rsa_private_key();
                                }
                                let _ = e.leaf_spki_der();
                            }
                        }
                    }
                    buf[i] ^= mask;
                }
            }
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for len in 0..512usize {
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state.to_le_bytes()[0]
                })
                .collect();
            assert!(Keystore::parse(&data, PW, "garbage").is_err());
            // Also behind a plausible SEQUENCE header.
            let mut framed = vec![0x30, 0x82, (len >> 8) as u8, len as u8];
            framed.extend_from_slice(&data);
            assert!(Keystore::parse(&framed, PW, "garbage").is_err());
        }
    }
}
