//! `certFile` and `keyFile`: a certificate chain and its private key in PEM files (certbot's
//! `fullchain.pem` and `privkey.pem`, a Kubernetes TLS secret), read into the same one-entry
//! `Keystore` a PKCS#12 file gives, so everything after loading is shared.
//!
//! The key may be PKCS#8 (`BEGIN PRIVATE KEY`), PKCS#1 RSA (`BEGIN RSA PRIVATE KEY`) or SEC1 EC
//! (`BEGIN EC PRIVATE KEY`), unencrypted; the last two are wrapped into PKCS#8, the form the
//! signer and TLS take. PEM is decoded by rustls' `pki-types`, already a dependency.

use crate::keystore::{Keystore, OID_EC_PUBLIC_KEY, OID_RSA_ENCRYPTION};
use der::asn1::{AnyRef, ObjectIdentifier, OctetStringRef};
use der::{Decode, Encode, Reader, SliceReader, Tag, TagNumber, Tagged};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::fmt;
use std::io::Read;
use std::path::Path;
use zeroize::Zeroizing;

/// Largest PEM file read: a full chain is a few KiB.
const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// Which of the two files an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PemFile {
    Cert,
    Key,
}

/// Why the PEM files cannot be used. Messages name the file, never its contents.
#[derive(Debug)]
pub enum PemError {
    Read {
        file: PemFile,
        path: String,
        error: std::io::Error,
    },
    TooLarge {
        file: PemFile,
        path: String,
    },
    /// Not PEM, or a section is broken (`what` says how, without the text).
    Syntax {
        file: PemFile,
        path: String,
        what: &'static str,
    },
    NoCertificate {
        path: String,
    },
    NoKey {
        path: String,
    },
    Encrypted {
        path: String,
    },
    /// The key's inner structure is unusable.
    BadKey {
        path: String,
        what: &'static str,
    },
}

impl PemError {
    pub fn file(&self) -> PemFile {
        match self {
            PemError::Read { file, .. }
            | PemError::TooLarge { file, .. }
            | PemError::Syntax { file, .. } => *file,
            PemError::NoCertificate { .. } => PemFile::Cert,
            PemError::NoKey { .. } | PemError::Encrypted { .. } | PemError::BadKey { .. } => {
                PemFile::Key
            }
        }
    }
}

impl fmt::Display for PemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PemError::Read { path, error, .. } => write!(f, "{path}: cannot read: {error}"),
            PemError::TooLarge { path, .. } => {
                write!(f, "{path}: larger than {MAX_PEM_BYTES} bytes")
            }
            PemError::Syntax { path, what, .. } => write!(f, "{path}: not valid PEM: {what}"),
            PemError::NoCertificate { path } => {
                write!(f, "{path}: no certificate (BEGIN CERTIFICATE) found")
            }
            PemError::NoKey { path } => write!(
                f,
                "{path}: no private key found (BEGIN PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)"
            ),
            PemError::Encrypted { path } => write!(
                f,
                "{path}: the private key is encrypted; decrypt it (openssl pkey -in KEY -out \
                 PLAIN) and protect the file instead"
            ),
            PemError::BadKey { path, what } => write!(f, "{path}: unusable private key: {what}"),
        }
    }
}

impl std::error::Error for PemError {}

/// Reads `cert_file` (leaf first, then its issuers) and `key_file` as the keystore entry
/// `alias`. The key is checked against the certificate later, by whoever uses it.
pub fn load(cert_file: &Path, key_file: &Path, alias: &str) -> Result<Keystore, PemError> {
    let certs = read(cert_file, PemFile::Cert)?;
    let key = read(key_file, PemFile::Key)?;
    parse(
        &certs,
        &key,
        alias,
        &cert_file.display().to_string(),
        &key_file.display().to_string(),
    )
}

/// As `load`, on the files' bytes; `cert_path` and `key_path` name them in errors.
pub fn parse(
    certs: &[u8],
    key_pem: &[u8],
    alias: &str,
    cert_path: &str,
    key_path: &str,
) -> Result<Keystore, PemError> {
    let chain = CertificateDer::pem_slice_iter(certs)
        .map(|c| c.map(|c| c.as_ref().to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| syntax(PemFile::Cert, cert_path, &e))?;
    if chain.is_empty() {
        return Err(PemError::NoCertificate {
            path: cert_path.to_string(),
        });
    }
    let key_path = key_path.to_string();
    // PKCS#8 `BEGIN ENCRYPTED PRIVATE KEY`, or OpenSSL's older `Proc-Type: 4,ENCRYPTED` header
    // in a PKCS#1 or SEC1 block: the base64 is ciphertext.
    if contains(key_pem, b"BEGIN ENCRYPTED PRIVATE KEY")
        || contains(key_pem, b"Proc-Type: 4,ENCRYPTED")
    {
        return Err(PemError::Encrypted { path: key_path });
    }
    let key = match PrivateKeyDer::from_pem_slice(key_pem) {
        Ok(k) => k,
        Err(pem::Error::NoItemsFound) => return Err(PemError::NoKey { path: key_path }),
        Err(e) => return Err(syntax(PemFile::Key, &key_path, &e)),
    };
    let pkcs8 = to_pkcs8(&key).map_err(|what| PemError::BadKey {
        path: key_path.clone(),
        what,
    })?;
    Ok(Keystore::single(alias, pkcs8, chain, key_path))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The file's bytes, wiped on drop (the key file is a secret).
fn read(path: &Path, file: PemFile) -> Result<Zeroizing<Vec<u8>>, PemError> {
    let shown = || path.display().to_string();
    let mut bytes = Zeroizing::new(Vec::new());
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_PEM_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|error| PemError::Read {
            file,
            path: shown(),
            error,
        })?;
    if bytes.len() as u64 > MAX_PEM_BYTES {
        return Err(PemError::TooLarge {
            file,
            path: shown(),
        });
    }
    Ok(bytes)
}

/// The PEM decoder's complaint in words of our own: its messages may quote a line of the file.
fn syntax(file: PemFile, path: &str, e: &pem::Error) -> PemError {
    let what = match e {
        pem::Error::MissingSectionEnd { .. } => "a section has no END line",
        pem::Error::IllegalSectionStart { .. } => "a malformed BEGIN line",
        pem::Error::Base64Decode(_) => "a section is not valid base64",
        pem::Error::SectionTooLarge => "a section is too large",
        _ => "unreadable",
    };
    PemError::Syntax {
        file,
        path: path.to_string(),
        what,
    }
}

/// The key as PKCS#8 PrivateKeyInfo DER.
fn to_pkcs8(key: &PrivateKeyDer<'_>) -> Result<Zeroizing<Vec<u8>>, &'static str> {
    match key {
        PrivateKeyDer::Pkcs8(k) => Ok(Zeroizing::new(k.secret_pkcs8_der().to_vec())),
        PrivateKeyDer::Pkcs1(k) => wrap(OID_RSA_ENCRYPTION, AnyRef::NULL, k.secret_pkcs1_der()),
        PrivateKeyDer::Sec1(k) => {
            let sec1 = k.secret_sec1_der();
            let curve = sec1_curve(sec1).ok_or("an EC key without its curve (SEC1 parameters)")?;
            let curve_der = curve
                .to_der()
                .map_err(|_| "an EC curve that cannot be encoded")?;
            let params = AnyRef::from_der(&curve_der).map_err(|_| "an EC curve out of place")?;
            wrap(OID_EC_PUBLIC_KEY, params, sec1)
        }
        _ => Err("a key type other than PKCS#8, PKCS#1 RSA or SEC1 EC"),
    }
}

fn wrap(
    oid: ObjectIdentifier,
    parameters: AnyRef<'_>,
    key: &[u8],
) -> Result<Zeroizing<Vec<u8>>, &'static str> {
    let key = OctetStringRef::new(key).map_err(|_| "too large")?;
    let info = pkcs8::PrivateKeyInfoRef::new(
        pkcs8::AlgorithmIdentifierRef {
            oid,
            parameters: Some(parameters),
        },
        key,
    );
    info.to_der()
        .map(Zeroizing::new)
        .map_err(|_| "cannot be re-encoded as PKCS#8")
}

/// The named curve of a SEC1 `ECPrivateKey` (RFC 5915): its `[0] parameters`, which OpenSSL
/// always writes.
fn sec1_curve(sec1: &[u8]) -> Option<ObjectIdentifier> {
    let seq = AnyRef::from_der(sec1).ok()?;
    if seq.tag() != Tag::Sequence {
        return None;
    }
    let mut r = SliceReader::new(seq.value()).ok()?;
    let params = Tag::ContextSpecific {
        constructed: true,
        number: TagNumber(0),
    };
    while !r.is_finished() {
        let item = AnyRef::decode(&mut r).ok()?;
        if item.tag() == params {
            return ObjectIdentifier::from_der(item.value()).ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "tests/fixtures/test-rsa2048.key";

    /// Every prefix and many corruptions of a real key file give an error or a key, never a
    /// panic; and no error message quotes the file.
    #[test]
    fn untrusted_bytes_never_panic_or_leak() {
        let key = std::fs::read(KEY).unwrap();
        let cert = b"-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";
        let body_line = String::from_utf8_lossy(&key)
            .lines()
            .nth(1)
            .unwrap()
            .to_string();
        let check = |k: &[u8]| {
            if let Err(e) = parse(cert, k, "a", "c.pem", "k.pem") {
                assert!(!e.to_string().contains(&body_line[..16]), "{e}");
            }
        };
        for n in 0..key.len() {
            check(&key[..n]);
        }
        for i in (0..key.len()).step_by(7) {
            for b in [0u8, b'-', b'\n', b'A', 0xff] {
                let mut k = key.clone();
                k[i] = b;
                check(&k);
            }
        }
        // Certificate bytes that are not one reach the key checks later; here, PEM only.
        assert!(parse(b"", &key, "a", "c.pem", "k.pem").is_err());
    }

    #[test]
    fn pkcs1_and_pkcs8_give_the_same_key() {
        let pkcs8 = std::fs::read(KEY).unwrap();
        let cert = b"-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";
        let ks = parse(cert, &pkcs8, "a", "c", "k").unwrap();
        let der = ks.entry("a").unwrap().key_pkcs8_der.clone();
        let PrivateKeyDer::Pkcs8(p8) = PrivateKeyDer::from_pem_slice(&pkcs8).unwrap() else {
            panic!("fixture is PKCS#8")
        };
        let info = pkcs8::PrivateKeyInfoRef::from_der(p8.secret_pkcs8_der()).unwrap();
        let pkcs1 = info.private_key.as_bytes();
        let wrapped = wrap(OID_RSA_ENCRYPTION, AnyRef::NULL, pkcs1).unwrap();
        assert_eq!(*wrapped, *der);
    }
}
