//! Turns a `Config` into running state: keystores loaded, signer and TLS built, warnings said.

use crate::app::App;
use crate::config::Config;
use crate::config::SignerKind;
use crate::jwt::{ProviderSigner, RsaSigner, Signer};
use crate::keystore::{KeyEntry, Keystore, KeystoreError};
use crate::revocation::store::Store;
use crate::server::State;
use crate::throttle::Throttle;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;
use std::fmt;
use std::sync::Arc;

#[derive(Debug)]
pub enum StartupError {
    Keystore(KeystoreError),
    Tls {
        path: String,
        message: String,
    },
    Signer {
        path: String,
        message: String,
    },
    /// Verification keys (`[[apikey.verificationKeys]]`).
    Keys(crate::jwks::JwksError),
}

impl fmt::Display for StartupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartupError::Keystore(e) => e.fmt(f),
            StartupError::Tls { path, message } => {
                write!(f, "{path}: cannot serve TLS with this key: {message}")
            }
            StartupError::Signer { path, message } => {
                write!(f, "{path}: cannot sign with this key: {message}")
            }
            StartupError::Keys(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for StartupError {}

impl From<KeystoreError> for StartupError {
    fn from(e: KeystoreError) -> Self {
        StartupError::Keystore(e)
    }
}

/// Marker in the subject of the bundled development certificate.
const DEV_MARKER: &[u8] = b"apikey-sts DEVELOPMENT KEY";

/// Everything the server needs, plus warnings to log.
pub struct Built {
    pub state: State,
    pub warnings: Vec<String>,
}

pub fn build(config: &Config) -> Result<Built, StartupError> {
    build_with(config, &Persistent::default())
}

/// State that outlives reloads: brute-force bookkeeping and the open revocation log.
#[derive(Clone, Default)]
pub struct Persistent {
    pub throttle: Arc<Throttle>,
    pub revocations: Option<Arc<Store>>,
}

/// As `build`, keeping the running instance's persistent state (reload).
pub fn build_with(config: &Config, persistent: &Persistent) -> Result<Built, StartupError> {
    let throttle = Arc::clone(&persistent.throttle);
    let mut warnings = config.warnings.clone();
    let issuer = &config.issuer;
    let issuer_ks = Keystore::load(&issuer.key_store_path, issuer.key_store_password.expose())?;
    let entry = issuer_ks.entry(&issuer.certificate_alias)?;
    // rsa_private_key() also checks the key is RSA and matches its certificate.
    let rsa_key = entry.rsa_private_key()?;
    let signer: Box<dyn Signer> = match issuer.signer {
        SignerKind::Rsa => Box::new(RsaSigner::new(rsa_key)),
        SignerKind::Provider => {
            Box::new(ProviderSigner::new(&entry.key_pkcs8_der).map_err(|e| {
                StartupError::Signer {
                    path: issuer.key_store_path.display().to_string(),
                    message: e.to_string(),
                }
            })?)
        }
    };
    warn_weak(
        &mut warnings,
        &issuer_ks,
        entry,
        &issuer.key_store_path.display().to_string(),
        issuer.key_store_password.expose(),
    );

    let l = &config.listener;
    let same_store = l.key_store_path == issuer.key_store_path
        && l.key_store_password == issuer.key_store_password;
    let listener_ks;
    let ks = if same_store {
        &issuer_ks
    } else {
        listener_ks = Keystore::load(&l.key_store_path, l.key_store_password.expose())?;
        warn_weak(
            &mut warnings,
            &listener_ks,
            listener_ks.entry(&l.certificate_alias)?,
            &l.key_store_path.display().to_string(),
            l.key_store_password.expose(),
        );
        &listener_ks
    };
    let tls_entry = ks.entry(&l.certificate_alias)?;
    let tls = tls_config(tls_entry, &l.key_store_path.display().to_string())?;

    let mut app = App::new(config, signer, throttle);
    let (keys, jwks, plain) = verification(config, &issuer_ks, &mut warnings, persistent)?;
    app.jwks = Some(jwks);
    app.keys = Some(keys);
    app.revocations = persistent.revocations.clone();
    // Slow hashes are skipped: checking them would cost startup time, and a user who ran
    // hash-password chose a password on purpose.
    if app
        .users
        .user("admin")
        .is_some_and(|u| !u.password.is_slow() && u.password.verify(b"admin"))
    {
        warnings.push(format!(
            "{}: user admin has the default password \"admin\"; set [b7a.users.admin] password \
             to the output of `apikey-sts hash-password`",
            config.source
        ));
    }
    Ok(Built {
        state: State {
            https: Arc::new(app),
            tls: Arc::new(tls),
            plain,
        },
        warnings,
    })
}

fn warn_weak(
    warnings: &mut Vec<String>,
    ks: &Keystore,
    entry: &KeyEntry,
    path: &str,
    password: &str,
) {
    if entry
        .cert_chain_der
        .first()
        .is_some_and(|c| c.windows(DEV_MARKER.len()).any(|w| w == DEV_MARKER))
    {
        warnings.push(format!(
            "{path}: this is the bundled DEVELOPMENT keystore; its private key is public. \
             Make your own (see conf/security/make-dev-keystore.sh) and set keyStorePath"
        ));
    }
    if password == "ballerina" {
        warnings.push(format!(
            "{path}: keystore uses the well-known default password; re-export it with a new one \
             (openssl pkcs12) and set keyStorePassword"
        ));
    }
    if ks.had_no_mac() {
        warnings.push(format!(
            "{path}: keystore has no integrity MAC; its contents are unverified"
        ));
    }
}

/// TLS 1.2 and 1.3 with rustls' default (aws-lc-rs) provider, HTTP/1.1 only.
pub fn tls_config(entry: &KeyEntry, path: &str) -> Result<ServerConfig, StartupError> {
    let chain: Vec<CertificateDer<'static>> = entry
        .cert_chain_der
        .iter()
        .map(|c| CertificateDer::from(c.clone()))
        .collect();
    let tls_err = |message: String| StartupError::Tls {
        path: path.to_string(),
        message,
    };
    // Borrows the (zeroized-on-drop) PKCS#8 bytes instead of copying them into rustls.
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(entry.key_pkcs8_der.as_slice()));
    let signing_key = rustls::crypto::aws_lc_rs::sign::any_supported_type(&key)
        .map_err(|e| tls_err(e.to_string()))?;
    // Our own key/certificate check instead of rustls' `with_single_cert`, whose check parses
    // the leaf with webpki and so rejects X.509 v1 certificates (`openssl x509 -req` without
    // extensions makes those), and reports a mismatch without naming the entry.
    let spki = signing_key
        .public_key()
        .ok_or_else(|| tls_err("cannot derive the public key to check the certificate".into()))?;
    entry.check_public_key(spki.as_ref())?;
    let certified = rustls::sign::CertifiedKey::new(chain, signing_key);
    let mut cfg = ServerConfig::builder()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(certified)));
    // curl --http1.0 offers only "http/1.0"; refusing it would fail the handshake.
    cfg.alpn_protocols = vec![b"http/1.1".to_vec(), b"http/1.0".to_vec()];
    // One TLS 1.3 ticket per connection (rustls sends 2): every resumption hands out a fresh
    // one, and each ticket costs both sides a session-cache entry per handshake.
    cfg.send_tls13_tickets = 1;
    Ok(cfg)
}

/// The published key set and, when `[validator]` is on, the validator listener's handler.
#[allow(clippy::type_complexity)]
fn verification(
    config: &Config,
    issuer_ks: &Keystore,
    warnings: &mut Vec<String>,
    persistent: &Persistent,
) -> Result<
    (
        Arc<crate::jwks::KeySet>,
        Arc<crate::jwks::Jwks>,
        Option<Arc<dyn crate::server::Handler>>,
    ),
    StartupError,
> {
    let keys =
        Arc::new(crate::jwks::KeySet::load(config, Some(issuer_ks)).map_err(StartupError::Keys)?);
    if let Some(alias) = &config.validation.certificate_alias {
        if !keys.contains(alias) {
            warnings.push(format!(
                "{}: apikey.tokenConfigs.certificateAlias {alias:?} is neither the signing key \
                 nor a verification key; keys signed with it will not validate (list it under \
                 [[apikey.verificationKeys]])",
                config.source
            ));
        }
    }
    let jwks = Arc::new(crate::jwks::Jwks::new(&keys));
    let plain = config.validator.as_ref().map(|_| {
        let v =
            crate::validator::Validator::from_config(config, Arc::clone(&keys), Arc::clone(&jwks));
        let v = match &persistent.revocations {
            Some(r) => v.with_revocation(Arc::clone(r) as Arc<dyn crate::validator::Revocation>),
            None => v,
        };
        Arc::new(v) as Arc<dyn crate::server::Handler>
    });
    Ok((keys, jwks, plain))
}
