//! Turns a `Config` into running state: keystores loaded, signer and TLS built, warnings said.

use crate::config::Algorithm;
use crate::config::{Config, PemFiles, SignerKind};
use crate::issuer::Issuer;
use crate::jwks::KeySet;
use crate::jwt::{JwtError, KeyType, ProviderSigner, RsaSigner, Signer, UnfitAlgorithm};
use crate::keystore::{KeyEntry, Keystore, KeystoreError};
use crate::pem::{self, PemError, PemFile};
use crate::plain_listener::PlainListener;
use crate::revocation::store::Store;
use crate::secret::Secret;
use crate::server::State;
use crate::service::Handler;
use crate::throttle::Throttle;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

#[derive(Debug)]
pub enum StartupError {
    /// A keystore, PEM file or entry that cannot be used, with the config key that names it
    /// (`listenerConfig.keyStorePath`, `apikey.issuer.tokenConfig.keyFile`, ...).
    Keystore {
        source: String,
        key: String,
        error: Box<KeystoreError>,
    },
    Pem {
        source: String,
        key: String,
        error: Box<PemError>,
    },
    Tls {
        path: String,
        error: TlsKeyError,
    },
    Signer {
        path: String,
        error: JwtError,
    },
    /// The signing key cannot sign the configured algorithm, or no algorithm at all; `key` is
    /// the config key at fault (`algorithm`, or the keystore's when none is configured).
    Algorithm {
        source: String,
        key: String,
        /// The keystore or key file, and the entry: `PATH (entry "ALIAS")`.
        entry: String,
        error: Box<UnfitAlgorithm>,
    },
    /// Verification keys (`[[apikey.verificationKeys]]`).
    Keys(crate::jwks::JwksError),
}

impl fmt::Display for StartupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartupError::Keystore { source, key, error } => write!(f, "{source}: {key}: {error}"),
            StartupError::Pem { source, key, error } => write!(f, "{source}: {key}: {error}"),
            StartupError::Tls { path, error } => {
                write!(f, "{path}: cannot serve TLS with this key: {error}")
            }
            StartupError::Signer { path, error } => {
                write!(f, "{path}: cannot sign with this key: {error}")
            }
            StartupError::Algorithm {
                source,
                key,
                entry,
                error,
            } => write!(f, "{source}: {key}: {entry}: {error}"),
            StartupError::Keys(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for StartupError {}

/// Why rustls cannot serve with a keystore entry.
#[derive(Debug)]
pub enum TlsKeyError {
    /// The provider does not support the key (its message).
    Unsupported(rustls::Error),
    NoPublicKey,
    /// The key is not the certificate's.
    Key(KeystoreError),
}

impl fmt::Display for TlsKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsKeyError::Unsupported(e) => e.fmt(f),
            TlsKeyError::NoPublicKey => {
                f.write_str("cannot derive the public key to check the certificate")
            }
            TlsKeyError::Key(e) => e.fmt(f),
        }
    }
}

/// The config section a key comes from, to name the config key at fault in errors.
struct KeySection<'a> {
    source: &'a str,
    /// `listenerConfig` or `apikey.issuer.tokenConfig`.
    prefix: &'static str,
    pem: Option<&'a PemFiles>,
}

impl KeySection<'_> {
    /// The config key of the keystore, or of the key file.
    fn store_key(&self) -> String {
        let key = if self.pem.is_some() {
            "keyFile"
        } else {
            "keyStorePath"
        };
        format!("{}.{key}", self.prefix)
    }

    /// An error of the keystore (or PEM key) itself.
    fn store_error(&self, error: KeystoreError) -> StartupError {
        StartupError::Keystore {
            source: self.source.to_string(),
            key: self.store_key(),
            error: Box::new(error),
        }
    }

    /// An error finding the entry `certificateAlias` names.
    fn alias_error(&self, error: KeystoreError) -> StartupError {
        self.keyed("certificateAlias", error)
    }

    fn keyed(&self, key: &str, error: KeystoreError) -> StartupError {
        StartupError::Keystore {
            source: self.source.to_string(),
            key: format!("{}.{key}", self.prefix),
            error: Box::new(error),
        }
    }

    /// The keystore, or the PEM files read as a keystore of the one entry `alias`.
    fn load(&self, path: &Path, password: &Secret, alias: &str) -> Result<Keystore, StartupError> {
        match self.pem {
            None => Keystore::load(path, password.expose()).map_err(|e| self.store_error(e)),
            Some(files) => pem::load(&files.cert_file, &files.key_file, alias).map_err(|error| {
                let key = match error.file() {
                    PemFile::Cert => "certFile",
                    PemFile::Key => "keyFile",
                };
                StartupError::Pem {
                    source: self.source.to_string(),
                    key: format!("{}.{key}", self.prefix),
                    error: Box::new(error),
                }
            }),
        }
    }

    /// What messages call the key's origin: the keystore or the key file.
    fn shown(&self, path: &Path) -> String {
        match self.pem {
            Some(files) => files.key_file.display().to_string(),
            None => path.display().to_string(),
        }
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
    build_with(config, &KeptAcrossReloads::default())
}

/// State that outlives reloads: brute-force bookkeeping and the open revocation log.
#[derive(Clone, Default)]
pub struct KeptAcrossReloads {
    pub throttle: Arc<Throttle>,
    pub revocations: Option<Arc<Store>>,
}

/// As `build`, keeping the running instance's kept state (reload).
pub fn build_with(config: &Config, kept: &KeptAcrossReloads) -> Result<Built, StartupError> {
    let throttle = Arc::clone(&kept.throttle);
    let mut warnings = config.warnings.clone();
    let issuer = &config.issuer;
    let is = KeySection {
        source: &config.source,
        prefix: "apikey.issuer.tokenConfig",
        pem: issuer.pem.as_ref(),
    };
    let issuer_ks = is.load(
        &issuer.key_store_path,
        &issuer.key_store_password,
        &issuer.certificate_alias,
    )?;
    let entry = issuer_ks
        .entry(&issuer.certificate_alias)
        .map_err(|e| is.alias_error(e))?;
    let signer = signer(issuer, entry, &is)?;
    warn_weak(
        &mut warnings,
        &issuer_ks,
        entry,
        &is.shown(&issuer.key_store_path),
        issuer.key_store_password.expose(),
    );

    let l = &config.listener;
    let ls = KeySection {
        source: &config.source,
        prefix: "listenerConfig",
        pem: l.pem.as_ref(),
    };
    let same_store = l.pem == issuer.pem
        && l.key_store_path == issuer.key_store_path
        && l.key_store_password == issuer.key_store_password
        && (l.pem.is_none() || l.certificate_alias == issuer.certificate_alias);
    let listener_ks;
    let ks = if same_store {
        &issuer_ks
    } else {
        listener_ks = ls.load(
            &l.key_store_path,
            &l.key_store_password,
            &l.certificate_alias,
        )?;
        warn_weak(
            &mut warnings,
            &listener_ks,
            listener_ks
                .entry(&l.certificate_alias)
                .map_err(|e| ls.alias_error(e))?,
            &ls.shown(&l.key_store_path),
            l.key_store_password.expose(),
        );
        &listener_ks
    };
    let tls_entry = ks
        .entry(&l.certificate_alias)
        .map_err(|e| ls.alias_error(e))?;
    let tls = tls_config(tls_entry, &ls.shown(&l.key_store_path)).map_err(|e| match e {
        // A key that is not the certificate's is the key file's (or keystore's) fault.
        StartupError::Tls {
            error: TlsKeyError::Key(k),
            ..
        } => ls.store_error(k),
        // A key TLS cannot use: named by its config key too.
        StartupError::Tls { path, error } => StartupError::Tls {
            path: format!("{}: {}: {path}", ls.source, ls.store_key()),
            error,
        },
        other => other,
    })?;

    let keys = verification_keys(config, &issuer_ks, &mut warnings)?;
    let service = Issuer::new(
        config,
        signer,
        throttle,
        Arc::clone(&keys),
        kept.revocations.clone(),
    );
    let plain = config.validator.as_ref().map(|vc| {
        Arc::new(PlainListener::new(
            Arc::clone(&service.validator),
            Arc::clone(&service.jwks),
            vc.access_log,
        )) as Arc<dyn Handler>
    });
    // Slow hashes are skipped: checking them would cost startup time, and a user who ran
    // hash-password chose a password on purpose.
    if service
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
    warn_slow_hashes(&mut warnings, config);
    let mut secrets = vec![
        std::path::Path::new(&config.source),
        config.listener.key_store_path.as_path(),
        config.issuer.key_store_path.as_path(),
    ];
    secrets.dedup();
    for path in secrets {
        warn_readable_by_others(&mut warnings, path);
    }
    Ok(Built {
        state: State {
            https: Arc::new(service),
            tls: Arc::new(tls),
            plain,
        },
        warnings,
    })
}

/// The issuer's signer: the algorithm its key's type fits (the configured one, or the type's
/// default); the `rsa` crate for RSA unless `signer = "provider"`, aws-lc-rs otherwise.
fn signer(
    issuer: &crate::config::IssuerConfig,
    entry: &KeyEntry,
    is: &KeySection<'_>,
) -> Result<Box<dyn Signer>, StartupError> {
    let shown = is.shown(&issuer.key_store_path);
    let kind = KeyType::of_pkcs8(&entry.key_pkcs8_der).ok_or_else(|| {
        is.store_error(KeystoreError::Corrupt {
            path: shown.clone(),
            detail: format!("entry {:?}: invalid PKCS#8 private key", entry.alias),
        })
    })?;
    let algorithm = kind
        .choose(issuer.algorithm)
        .map_err(|error| StartupError::Algorithm {
            source: is.source.to_string(),
            key: match error.configured {
                Some(_) => format!("{}.algorithm", is.prefix),
                None => is.store_key(),
            },
            entry: format!("{shown} (entry {:?})", entry.alias),
            error: Box::new(error),
        })?;
    match (issuer.signer, algorithm) {
        // rsa_private_key() also checks the key matches its certificate.
        (SignerKind::Rsa, Algorithm::Rs256) => Ok(Box::new(RsaSigner::new(
            entry.rsa_private_key().map_err(|e| is.store_error(e))?,
        ))),
        (SignerKind::Rsa, Algorithm::Ps256) => Ok(Box::new(RsaSigner::pss(
            entry.rsa_private_key().map_err(|e| is.store_error(e))?,
        ))),
        _ => {
            let signer = ProviderSigner::new(&entry.key_pkcs8_der, algorithm)
                .map_err(|error| StartupError::Signer { path: shown, error })?;
            entry
                .check_public_key_bits(signer.public_key())
                .map_err(|e| is.store_error(e))?;
            Ok(Box::new(signer))
        }
    }
}

/// The config (password hashes, keystore passwords) and the keystores (private keys) are
/// secrets: like ssh with a private key, say so when any local user may read one.
fn warn_readable_by_others(warnings: &mut Vec<String>, path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    let mode = meta.permissions().mode();
    if mode & 0o004 != 0 {
        warnings.push(format!(
            "{}: readable by every local user (mode {:o}); it holds secrets: chmod o-r",
            path.display(),
            mode & 0o777
        ));
    }
}

/// Iterations timed at startup to estimate what the configured PBKDF2 hashes cost here (a few
/// milliseconds, only when some user has such a hash).
const PBKDF2_PROBE_ITERATIONS: u32 = 10_000;

/// A failed login is answered `failedLoginDelayMs` after its check began, unless the check
/// itself takes longer: then that user's failures stand out by their timing. Says which users.
fn warn_slow_hashes(warnings: &mut Vec<String>, config: &Config) {
    let slowest = config
        .users
        .iter()
        .filter_map(|u| match &u.password {
            crate::auth::PasswordHash::Pbkdf2Sha256 { iterations, .. } => Some((u, *iterations)),
            _ => None,
        })
        .max_by_key(|(_, n)| *n);
    let Some((user, iterations)) = slowest else {
        return;
    };
    let probe = crate::auth::PasswordHash::Pbkdf2Sha256 {
        iterations: PBKDF2_PROBE_ITERATIONS,
        salt: vec![0; 16],
        hash: vec![0; 32],
    };
    let started = std::time::Instant::now();
    let _ = probe.verify(b"probe");
    let estimate = started
        .elapsed()
        .mul_f64(f64::from(iterations) / f64::from(PBKDF2_PROBE_ITERATIONS));
    let delay = config.limits.failed_login_delay;
    if estimate > delay {
        warnings.push(format!(
            "{}: user {}'s password hash ({iterations} PBKDF2 iterations) takes about {} ms \
             here, longer than [server] failedLoginDelayMs ({} ms): failed logins of such users \
             can be told apart by their timing; raise failedLoginDelayMs",
            config.source,
            user.name,
            estimate.as_millis(),
            delay.as_millis()
        ));
    }
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
    let tls_err = |error: TlsKeyError| StartupError::Tls {
        path: path.to_string(),
        error,
    };
    // Borrows the (zeroized-on-drop) PKCS#8 bytes instead of copying them into rustls.
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(entry.key_pkcs8_der.as_slice()));
    let signing_key = rustls::crypto::aws_lc_rs::sign::any_supported_type(&key)
        .map_err(|e| tls_err(TlsKeyError::Unsupported(e)))?;
    // Our own key/certificate check instead of rustls' `with_single_cert`, whose check parses
    // the leaf with webpki and so rejects X.509 v1 certificates (`openssl x509 -req` without
    // extensions makes those), and reports a mismatch without naming the entry.
    let spki = signing_key
        .public_key()
        .ok_or_else(|| tls_err(TlsKeyError::NoPublicKey))?;
    entry
        .check_public_key(spki.as_ref())
        .map_err(|e| tls_err(TlsKeyError::Key(e)))?;
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

/// The signing key and `[[apikey.verificationKeys]]`: what tokens are verified against.
fn verification_keys(
    config: &Config,
    issuer_ks: &Keystore,
    warnings: &mut Vec<String>,
) -> Result<Arc<KeySet>, StartupError> {
    let keys = Arc::new(KeySet::load(config, Some(issuer_ks)).map_err(StartupError::Keys)?);
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
    Ok(keys)
}
