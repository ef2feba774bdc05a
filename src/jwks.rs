//! The verification keys: which public keys tokens in circulation may be signed with, and their
//! RFC 7517 JSON Web Key Set.
//!
//! The set is the issuer's active signing key plus every `[[apikey.verificationKeys]]` entry
//! (keys being rotated in or out). It is built once at startup (and on each reload); the JWKS
//! document and its ETag are computed then, never per request.

use crate::config::{Algorithm, Config, VerificationKeyConfig};
use crate::http::{Request, Response};
use crate::jwt::{PublicKey, PublicKeyError, UnfitAlgorithm, VerificationKey};
use crate::keystore::{KeyEntry, Keystore, KeystoreError};
use crate::pem::{self, PemError, PemFile};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rsa::traits::PublicKeyParts;
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::Path;

/// How long gateways may cache the key set. A key added as verification-only must be published
/// at least this long before the issuer starts signing with it (see docs/key-rotation.md).
pub const JWKS_MAX_AGE_SECONDS: u32 = 300;

#[derive(Debug)]
pub enum JwksError {
    /// A keystore named by `key` (a config key) could not be loaded or lacks the alias.
    Keystore { key: String, error: KeystoreError },
    /// The issuer's `certFile` or `keyFile` (named by `key`) could not be used.
    Pem { key: String, error: PemError },
    /// The certificate of `alias` holds no key that can verify tokens (with the configured
    /// `algorithm`, when there is one).
    PublicKey {
        key: String,
        alias: String,
        error: PublicKeyError,
    },
    /// Two different keys share a `kid` (tokens name their key by alias only).
    DuplicateKid { key: String, kid: String },
}

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwksError::Keystore { key, error } => write!(f, "{key}: {error}"),
            JwksError::Pem { key, error } => write!(f, "{key}: {error}"),
            JwksError::PublicKey { key, alias, error } => {
                write!(f, "{key}: certificate of alias {alias:?}: {error}")
            }
            JwksError::DuplicateKid { key, kid } => write!(
                f,
                "{key}: alias {kid:?} is already used by a different key; tokens name their \
                 key by alias, so every signing and verification key needs its own alias"
            ),
        }
    }
}

impl std::error::Error for JwksError {}

/// One public key tokens may be signed with.
#[derive(Clone)]
pub struct PublishedKey {
    /// The alias; tokens carry it as `kid`.
    pub kid: String,
    /// The public key and the one algorithm its tokens use.
    pub key: VerificationKey,
    /// Certificate chain, leaf first (DER).
    pub chain: Vec<Vec<u8>>,
    /// The key the issuer signs new tokens with.
    pub active: bool,
}

impl fmt::Debug for PublishedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublishedKey")
            .field("kid", &self.kid)
            .field("active", &self.active)
            .finish()
    }
}

impl PublishedKey {
    /// The public key of `entry`'s leaf certificate (the private key is not needed, nor read),
    /// bound to `algorithm` or, when None, to its type's default. `key` names the config key in
    /// errors.
    pub fn from_entry(
        entry: &KeyEntry,
        algorithm: Option<Algorithm>,
        key: &str,
        active: bool,
    ) -> Result<Self, JwksError> {
        let spki = entry.leaf_spki_der().map_err(|error| JwksError::Keystore {
            key: key.to_string(),
            error,
        })?;
        let verification =
            VerificationKey::from_spki(&spki, algorithm).map_err(|error| JwksError::PublicKey {
                key: key.to_string(),
                alias: entry.alias.clone(),
                error,
            })?;
        Ok(PublishedKey {
            kid: entry.alias.clone(),
            key: verification,
            chain: entry.cert_chain_der.clone(),
            active,
        })
    }

    /// RFC 7517 JWK with the RFC 7518 RSA or EC members or the RFC 8037 OKP ones; `x5c` is
    /// standard base64 (RFC 7517 4.7).
    pub fn to_jwk(&self) -> serde_json::Value {
        let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
        let mut jwk = match self.key.public() {
            PublicKey::Rsa(k) => serde_json::json!({
                "kty": "RSA",
                "n": b64(&k.n_bytes()),
                "e": b64(&k.e_bytes()),
            }),
            // The point is 04 || x || y, each coordinate the curve's size (RFC 7518 §6.2.1.2).
            PublicKey::EcP256(p) | PublicKey::EcP384(p) => {
                let (x, y) = p[1..].split_at((p.len() - 1) / 2);
                let crv = if p.len() == 65 { "P-256" } else { "P-384" };
                serde_json::json!({ "kty": "EC", "crv": crv, "x": b64(x), "y": b64(y) })
            }
            PublicKey::Ed25519(x) => {
                serde_json::json!({ "kty": "OKP", "crv": "Ed25519", "x": b64(x) })
            }
        };
        jwk["use"] = "sig".into();
        jwk["alg"] = self.key.algorithm().name().into();
        jwk["kid"] = self.kid.clone().into();
        jwk["x5c"] = self
            .chain
            .iter()
            .map(|c| STANDARD.encode(c))
            .collect::<Vec<_>>()
            .into();
        if let Some(leaf) = self.chain.first() {
            jwk["x5t#S256"] = URL_SAFE_NO_PAD.encode(Sha256::digest(leaf)).into();
        }
        jwk
    }
}

/// The keys a token may be verified with, by `kid`.
#[derive(Debug, Clone)]
pub struct KeySet {
    /// Active key first, then verification-only keys in config order.
    keys: Vec<PublishedKey>,
}

impl KeySet {
    /// `keys` must hold at most one active key; duplicates of a kid with the same public key are
    /// dropped, a kid naming two different keys is an error.
    pub fn new(keys: Vec<(PublishedKey, String)>) -> Result<KeySet, JwksError> {
        let mut out: Vec<PublishedKey> = Vec::with_capacity(keys.len());
        for (k, config_key) in keys {
            if let Some(existing) = out.iter().find(|e| e.kid == k.kid) {
                if existing.key != k.key {
                    return Err(JwksError::DuplicateKid {
                        key: config_key,
                        kid: k.kid,
                    });
                }
                continue;
            }
            out.push(k);
        }
        out.sort_by_key(|k| !k.active);
        Ok(KeySet { keys: out })
    }

    /// Loads the issuer's signing key and every configured verification key. `issuer_ks` is the
    /// already-loaded issuer keystore, if the caller has it (saves a slow second decode).
    pub fn load(config: &Config, issuer_ks: Option<&Keystore>) -> Result<KeySet, JwksError> {
        let issuer = &config.issuer;
        let issuer_key = "apikey.issuer.tokenConfig.keyStorePath";
        let loaded;
        let issuer_ks = match issuer_ks {
            Some(ks) => ks,
            None => {
                loaded = match &issuer.pem {
                    None => load_keystore(
                        &issuer.key_store_path,
                        issuer.key_store_password.expose(),
                        issuer_key,
                    )?,
                    Some(files) => {
                        pem::load(&files.cert_file, &files.key_file, &issuer.certificate_alias)
                            .map_err(|error| JwksError::Pem {
                                key: match error.file() {
                                    PemFile::Cert => "apikey.issuer.tokenConfig.certFile",
                                    PemFile::Key => "apikey.issuer.tokenConfig.keyFile",
                                }
                                .into(),
                                error,
                            })?
                    }
                };
                &loaded
            }
        };
        let alias_key = "apikey.issuer.tokenConfig.certificateAlias";
        let entry = issuer_ks
            .entry(&issuer.certificate_alias)
            .map_err(|error| JwksError::Keystore {
                key: alias_key.into(),
                error,
            })?;
        let mut keys = vec![(
            PublishedKey::from_entry(entry, issuer.algorithm, alias_key, true)
                .map_err(|e| blame_algorithm(e, "apikey.issuer.tokenConfig.algorithm"))?,
            alias_key.to_string(),
        )];
        // Other keystores are decoded once each, however many aliases they contribute.
        let mut others: Vec<(&VerificationKeyConfig, Keystore)> = Vec::new();
        for (i, vk) in config.verification_keys.iter().enumerate() {
            let prefix = format!("apikey.verificationKeys[{i}]");
            let same_as_issuer = vk.key_store_path == issuer.key_store_path
                && vk.key_store_password == issuer.key_store_password;
            let ks = if same_as_issuer {
                issuer_ks
            } else if let Some(pos) = others.iter().position(|(c, _)| {
                c.key_store_path == vk.key_store_path
                    && c.key_store_password == vk.key_store_password
            }) {
                &others[pos].1
            } else {
                let ks = load_keystore(
                    &vk.key_store_path,
                    vk.key_store_password.expose(),
                    &format!("{prefix}.keyStorePath"),
                )?;
                others.push((vk, ks));
                &others[others.len() - 1].1
            };
            let alias_key = format!("{prefix}.certificateAlias");
            let entry = ks
                .entry(&vk.certificate_alias)
                .map_err(|error| JwksError::Keystore {
                    key: alias_key.clone(),
                    error,
                })?;
            keys.push((
                PublishedKey::from_entry(entry, vk.algorithm, &alias_key, false)
                    .map_err(|e| blame_algorithm(e, &format!("{prefix}.algorithm")))?,
                alias_key,
            ));
        }
        KeySet::new(keys)
    }

    /// The key a token's `kid` names; a token without `kid` is checked against the active key.
    pub fn key_for(&self, kid: Option<&str>) -> Option<&VerificationKey> {
        match kid {
            Some(kid) => self.keys.iter().find(|k| k.kid == kid),
            None => self.keys.iter().find(|k| k.active),
        }
        .map(|k| &k.key)
    }

    pub fn keys(&self) -> &[PublishedKey] {
        &self.keys
    }

    /// The algorithms of the set's keys, each once, in the set's order: what tokens that
    /// `/validate` accepts may be signed with.
    pub fn algorithms(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = Vec::new();
        for k in &self.keys {
            let name = k.key.algorithm().name();
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }

    /// Whether `alias` is already in the set.
    pub fn contains(&self, alias: &str) -> bool {
        self.keys.iter().any(|k| k.kid == alias)
    }
}

/// A configured algorithm that does not fit its key is the `algorithm` key's fault.
fn blame_algorithm(e: JwksError, algorithm_key: &str) -> JwksError {
    match e {
        JwksError::PublicKey {
            alias,
            error:
                error @ PublicKeyError::Unfit(UnfitAlgorithm {
                    configured: Some(_),
                    ..
                }),
            ..
        } => JwksError::PublicKey {
            key: algorithm_key.to_string(),
            alias,
            error,
        },
        other => other,
    }
}

fn load_keystore(path: &Path, password: &str, key: &str) -> Result<Keystore, JwksError> {
    Keystore::load(path, password).map_err(|error| JwksError::Keystore {
        key: key.to_string(),
        error,
    })
}

/// The served JWKS document, precomputed.
#[derive(Debug, Clone)]
pub struct Jwks {
    body: Vec<u8>,
    etag: String,
}

impl Jwks {
    pub fn new(keys: &KeySet) -> Jwks {
        let doc = serde_json::json!({
            "keys": keys.keys.iter().map(PublishedKey::to_jwk).collect::<Vec<_>>()
        });
        let body = doc.to_string().into_bytes();
        let digest = Sha256::digest(&body);
        let etag = format!("\"{}\"", URL_SAFE_NO_PAD.encode(&digest[..16]));
        Jwks { body, etag }
    }

    pub fn body(&self) -> &[u8] {
        &self.body
    }

    pub fn etag(&self) -> &str {
        &self.etag
    }

    /// Answers `GET`/`HEAD` for the key set; `If-None-Match` with our ETag gets a 304.
    pub fn respond(&self, req: &Request) -> Response {
        if req.method != "GET" && req.method != "HEAD" {
            return crate::fault::fault(
                405,
                crate::fault::FAULT_UNCLASSIFIED,
                "Method Not Allowed",
                "method not allowed on this resource",
            )
            .header("Allow", "GET, HEAD");
        }
        let cache = format!("public, max-age={JWKS_MAX_AGE_SECONDS}");
        let not_modified = req
            .header_str("if-none-match")
            .is_some_and(|v| etag_matches(v, &self.etag));
        let resp = if not_modified {
            Response::new(304, "application/json", Vec::new())
        } else {
            Response::new(200, "application/json", self.body.clone())
        };
        resp.header("Cache-Control", cache)
            .header("ETag", self.etag.clone())
            // Public keys: any origin may read them (browser-side verifiers).
            .header("Access-Control-Allow-Origin", "*")
    }
}

/// RFC 9110 13.1.2: weak comparison, `*` matches any current representation.
fn etag_matches(header: &str, etag: &str) -> bool {
    header
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::tests::test_public;

    fn fixture(name: &str) -> Keystore {
        let path = format!(
            "{}/tests/fixtures/keystores/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        Keystore::load(Path::new(&path), "ballerina").unwrap()
    }

    fn key(kid: &str, active: bool) -> PublishedKey {
        PublishedKey {
            kid: kid.into(),
            key: test_public(),
            chain: vec![b"not really a certificate".to_vec()],
            active,
        }
    }

    #[test]
    fn jwk_members_match_the_certificate() {
        let ks = fixture("with-chain.p12");
        let entry = ks.entry("ballerina").unwrap();
        let pk = PublishedKey::from_entry(entry, None, "k", true).unwrap();
        let jwk = pk.to_jwk();
        assert_eq!(jwk["kty"], "RSA");
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["alg"], "RS256");
        assert_eq!(jwk["kid"], "ballerina");
        assert_eq!(jwk["e"], "AQAB");
        let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
        assert_eq!(n.len(), 256, "2048-bit modulus, no leading zero");
        assert_ne!(n[0], 0);
        let priv_key = entry.rsa_private_key().unwrap();
        assert_eq!(n, priv_key.to_public_key().n_bytes().to_vec());
        let x5c = jwk["x5c"].as_array().unwrap();
        assert_eq!(x5c.len(), 3);
        assert_eq!(
            STANDARD.decode(x5c[0].as_str().unwrap()).unwrap(),
            entry.cert_chain_der[0]
        );
        assert_eq!(
            jwk["x5t#S256"],
            URL_SAFE_NO_PAD.encode(Sha256::digest(&entry.cert_chain_der[0]))
        );
    }

    fn algorithms_fixture(name: &str) -> Keystore {
        let path = format!(
            "{}/tests/fixtures/algorithms/{name}.p12",
            env!("CARGO_MANIFEST_DIR")
        );
        Keystore::load(Path::new(&path), "ballerina").unwrap()
    }

    /// EC keys publish crv, x and y; Ed25519 keys OKP, crv and x; each with its one algorithm.
    #[test]
    fn ec_and_okp_members_match_the_certificate() {
        use x509_cert::der::{Decode, Encode};
        use x509_cert::spki::SubjectPublicKeyInfoRef;
        for (name, kty, crv, alg, coordinate) in [
            ("es256", "EC", "P-256", "ES256", 32),
            ("es256-keytool", "EC", "P-256", "ES256", 32),
            ("es384", "EC", "P-384", "ES384", 48),
            ("ed25519", "OKP", "Ed25519", "EdDSA", 32),
            ("ed25519-keytool", "OKP", "Ed25519", "EdDSA", 32),
        ] {
            let ks = algorithms_fixture(name);
            let entry = ks.entry(name).unwrap();
            let jwk = PublishedKey::from_entry(entry, None, "k", true)
                .unwrap()
                .to_jwk();
            assert_eq!(
                (&jwk["kty"], &jwk["crv"], &jwk["alg"], &jwk["kid"]),
                (&kty.into(), &crv.into(), &alg.into(), &name.into()),
                "{name}"
            );
            assert!(jwk.get("n").is_none() && jwk.get("e").is_none(), "{name}");
            let x = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap();
            let mut bits = x.clone();
            if kty == "EC" {
                let y = URL_SAFE_NO_PAD.decode(jwk["y"].as_str().unwrap()).unwrap();
                assert_eq!((x.len(), y.len()), (coordinate, coordinate), "{name}");
                bits = [&[4u8][..], &x, &y].concat();
            } else {
                assert_eq!(x.len(), coordinate);
                assert!(jwk.get("y").is_none());
            }
            let spki = entry.leaf_spki_der().unwrap();
            let spki = SubjectPublicKeyInfoRef::from_der(&spki).unwrap();
            assert_eq!(spki.subject_public_key.as_bytes().unwrap(), bits, "{name}");
            assert!(spki.to_der().is_ok());
        }
    }

    #[test]
    fn configured_algorithm_must_fit_the_certificate() {
        let ks = fixture("openssl3-default.p12");
        let entry = ks.entry("ballerina").unwrap();
        let ps = PublishedKey::from_entry(entry, Some(Algorithm::Ps256), "k", true).unwrap();
        assert_eq!(ps.to_jwk()["alg"], "PS256");
        assert_eq!(ps.to_jwk()["kty"], "RSA");
        let e =
            PublishedKey::from_entry(entry, Some(Algorithm::Es256), "the.key", true).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the.key: certificate of alias \"ballerina\": ES256 does not fit the key: it is \
             an RSA key, which signs RS256 or PS256"
        );
        assert_eq!(
            blame_algorithm(e, "x.algorithm").to_string(),
            "x.algorithm: certificate of alias \"ballerina\": ES256 does not fit the key: it \
             is an RSA key, which signs RS256 or PS256"
        );
        let ks = algorithms_fixture("ed448");
        let e = PublishedKey::from_entry(ks.entry("ed448").unwrap(), None, "the.key", false)
            .unwrap_err();
        assert!(
            e.to_string().starts_with(
                "the.key: certificate of alias \"ed448\": it is an Ed448 key, which no \
                 supported algorithm signs"
            ),
            "{e}"
        );
        // Not the algorithm key's fault: no algorithm was configured.
        assert!(blame_algorithm(e, "x.algorithm")
            .to_string()
            .starts_with("the.key: "));
    }

    /// What the OAuth metadata advertises: each published key's algorithm once, active first.
    #[test]
    fn algorithms_of_the_set_each_once() {
        let rsa = fixture("two-entries.p12");
        let ec = algorithms_fixture("es256");
        let published = |ks: &Keystore, alias: &str, active| {
            PublishedKey::from_entry(ks.entry(alias).unwrap(), None, alias, active).unwrap()
        };
        let set = KeySet::new(vec![
            (published(&rsa, "ballerina", false), "a".into()),
            (published(&ec, "es256", true), "b".into()),
            (published(&rsa, "wso2carbon", false), "c".into()),
        ])
        .unwrap();
        assert_eq!(set.algorithms(), ["ES256", "RS256"]);
        assert!(KeySet::new(vec![]).unwrap().algorithms().is_empty());
    }

    #[test]
    fn key_lookup_by_kid_and_default() {
        let ks = fixture("two-entries.p12");
        let a = PublishedKey::from_entry(ks.entry("ballerina").unwrap(), None, "a", false).unwrap();
        let b = PublishedKey::from_entry(ks.entry("wso2carbon").unwrap(), None, "b", true).unwrap();
        let set = KeySet::new(vec![(a.clone(), "a".into()), (b.clone(), "b".into())]).unwrap();
        // Active first.
        assert_eq!(set.keys()[0].kid, "wso2carbon");
        assert!(set.key_for(Some("ballerina")) == Some(&a.key));
        assert!(set.key_for(None) == Some(&b.key));
        assert!(set.key_for(Some("other")).is_none());
        assert!(set.key_for(Some("")).is_none());
        // Same kid, same key: listed once. Same kid, another key: refused.
        let set2 = KeySet::new(vec![(a.clone(), "a".into()), (a.clone(), "a2".into())]).unwrap();
        assert_eq!(set2.keys().len(), 1);
        let mut clash = b.clone();
        clash.kid = "ballerina".into();
        let e =
            KeySet::new(vec![(a, "a".into()), (clash, "x.certificateAlias".into())]).unwrap_err();
        assert!(matches!(e, JwksError::DuplicateKid { .. }));
        assert!(e.to_string().starts_with("x.certificateAlias: "));
    }

    #[test]
    fn document_etag_and_conditional_get() {
        let set = KeySet::new(vec![
            (key("new", true), "a".into()),
            (key("old", false), "b".into()),
        ])
        .unwrap();
        let jwks = Jwks::new(&set);
        let doc: serde_json::Value = serde_json::from_slice(jwks.body()).unwrap();
        let kids: Vec<&str> = doc["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert_eq!(kids, ["new", "old"]);
        let req = |method: &str, inm: Option<&str>| Request {
            method: method.into(),
            target: "/.well-known/jwks.json".into(),
            minor_version: 1,
            headers: inm
                .map(|v| vec![("If-None-Match".to_string(), v.as_bytes().to_vec())])
                .unwrap_or_default(),
            body: vec![],
        };
        let r = jwks.respond(&req("GET", None));
        assert_eq!(r.status, 200);
        assert_eq!(r.body, jwks.body());
        assert_eq!(r.header_value("cache-control"), Some("public, max-age=300"));
        let etag = r.header_value("etag").unwrap().to_string();
        assert!(etag.starts_with('"') && etag.ends_with('"'));
        for hit in [
            etag.clone(),
            format!("W/{etag}"),
            format!("\"x\", {etag}"),
            "*".into(),
        ] {
            let r = jwks.respond(&req("GET", Some(&hit)));
            assert_eq!(r.status, 304, "{hit}");
            assert!(r.body.is_empty());
            assert_eq!(r.header_value("etag"), Some(etag.as_str()));
        }
        for miss in ["\"x\"", "", "W/", "\u{0}"] {
            assert_eq!(jwks.respond(&req("GET", Some(miss))).status, 200, "{miss}");
        }
        assert_eq!(jwks.respond(&req("HEAD", None)).status, 200);
        let r = jwks.respond(&req("POST", None));
        assert_eq!(r.status, 405);
        // A different key set has a different ETag.
        let other = Jwks::new(&KeySet::new(vec![(key("new", true), "a".into())]).unwrap());
        assert_ne!(other.etag(), jwks.etag());
    }
}
