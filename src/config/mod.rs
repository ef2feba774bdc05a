//! `micro-gw.conf` loading: the WSO2 Microgateway TOML format plus our own `[server]` section.
//!
//! Values are read by hand from a `toml::Value` tree rather than through serde so that every
//! error names the exact key (`apikey.issuer.tokenConfig.validityTime`) and every unknown
//! section or key becomes a warning instead of a startup failure.

use crate::auth::{PasswordHash, User};
use crate::client_addr::{Cidr, TrustedProxies, MAX_TRUSTED_PROXIES};
use crate::secret::Secret;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::{Table, Value};

/// Default for `[apikey.revocation] compactEvery`: how many appends between compaction checks
/// of the revocation log, and how many dead records beyond the live ones it may carry before it
/// is rewritten.
pub const COMPACT_EVERY: usize = 1024;
/// Default for `[apikey.revocation] maxPerUser`: live revocations a user without `apikey:admin`
/// may hold.
pub const MAX_PER_USER: usize = 1_000;

/// A config problem: the file, the key at fault (dotted path, may be empty) and what is wrong.
/// Secret values are never part of the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}: {}: {}", self.file, self.key, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// Largest config file we read; a real micro-gw.conf is a few KiB.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// The original's defaults (its `micro_gw_conf_defaults.bal`), so that every config it accepted
/// starts here too.
pub const DEFAULT_HOST: &str = "0.0.0.0";
pub const DEFAULT_HTTPS_PORT: u16 = 9095;
/// Both keystores' default: the keystore every Microgateway distribution ships.
pub const DEFAULT_KEY_STORE_PATH: &str =
    "${mgw-runtime.home}/runtime/bre/security/ballerinaKeystore.p12";
/// The shipped keystore's password; public, hence the warning when it is used.
pub const DEFAULT_KEY_STORE_PASSWORD: &str = "ballerina";
pub const DEFAULT_ISSUER: &str = "https://localhost:9095/apikey";
pub const DEFAULT_CERTIFICATE_ALIAS: &str = "ballerina";
/// Seconds; -1: keys never expire.
pub const DEFAULT_VALIDITY_TIME: i64 = -1;

/// Hard caps of the request size limits: the largest `[server] maxUriBytes`, `maxHeaderBytes`
/// and `maxBodyBytes` accepted, and what the original's `-1` ("no limit") in `listenerConfig`
/// `maxUriLength`, `maxHeaderSize` and `maxEntityBodySize` becomes. Every request buffer stays
/// bounded.
pub const MAX_URI_BYTES_CAP: usize = 1 << 20;
pub const MAX_HEADER_BYTES_CAP: usize = 1 << 20;
pub const MAX_BODY_BYTES_CAP: usize = 16 << 20;

#[derive(Debug, Clone)]
pub struct Config {
    /// Where the config came from, for messages.
    pub source: String,
    pub listener: ListenerConfig,
    pub issuer: IssuerConfig,
    pub validation: ValidationConfig,
    pub users: Vec<User>,
    /// `[b7a.users.NAME]` `apis`, `permittedIP` and `permittedReferer`, by user name; users
    /// who set none of them are absent.
    pub grants: std::collections::BTreeMap<String, UserGrant>,
    pub limits: Limits,
    /// `[[apikey.verificationKeys]]`: keys accepted and published besides the signing key.
    pub verification_keys: Vec<VerificationKeyConfig>,
    /// `[validator]`: the plain-HTTP validation listener; None when disabled.
    pub validator: Option<ValidatorConfig>,
    /// `[apikey.revocation] file`: the durable revocation log; None disables revocation.
    pub revocation_file: Option<PathBuf>,
    /// `[apikey.revocation] file` as written, when it is a relative path: it belongs under the
    /// state directory, which the command line chooses (`revocation_file` is then beside the
    /// config, the place used when there is no state directory).
    pub revocation_file_relative: Option<PathBuf>,
    /// `[apikey.revocation] compactEvery` (see `COMPACT_EVERY`).
    pub revocation_compact_every: usize,
    /// `[apikey.revocation] maxPerUser` (see `MAX_PER_USER`).
    pub revocation_max_per_user: usize,
    /// `[server] trustedProxies` and the listeners' `proxyProtocol`.
    pub load_balancer: LoadBalancerConfig,
    /// `[apikey.revocation] store = "redis"`: the shared store; None for the file log.
    pub revocation_redis: Option<RedisConfig>,
    /// `[server] throttleStore = "redis"`: brute-force counts shared through Redis; None: local.
    pub throttle_redis: Option<RedisConfig>,
    /// Unknown sections and keys; logged at startup, never fatal.
    pub warnings: Vec<String>,
}

/// Default `[apikey.revocation] keyPrefix`: every Redis key this service writes starts with it.
pub const REDIS_KEY_PREFIX: &str = "apikey-sts:";
/// Longest `keyPrefix`.
pub const MAX_REDIS_KEY_PREFIX_BYTES: usize = 64;
/// Largest `minReplicas`.
pub const MAX_MIN_REPLICAS: i64 = 16;
/// Default `connectTimeoutMs`: connecting to Redis, handshake included.
pub const REDIS_CONNECT_TIMEOUT_MS: i64 = 1000;
/// Default `timeoutMs`: one command's answer (a revocation waits at most about this long).
pub const REDIS_TIMEOUT_MS: i64 = 2000;
/// Largest `connectTimeoutMs` and `timeoutMs`.
pub const MAX_REDIS_TIMEOUT_MS: i64 = 60_000;

/// `[apikey.revocation] store = "redis"`: where the shared revocation set lives. With it,
/// `file` is the node's local snapshot of that set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// `redisUrl`, `redis://[user:password@]host:port/db` (`rediss://` for TLS); may hold a
    /// password.
    pub url: Secret,
    /// `redisCaFile`: PEM certificates a `rediss://` server's certificate must chain to; None:
    /// the system's trust store.
    pub ca_file: Option<PathBuf>,
    pub key_prefix: String,
    /// Replicas that must confirm a revocation (`WAIT`) before it is acknowledged.
    pub min_replicas: u32,
    pub connect_timeout: Duration,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct ListenerConfig {
    pub host: String,
    pub https_port: u16,
    /// The keystore; empty (unused) when `pem` is set.
    pub key_store_path: PathBuf,
    pub key_store_password: Secret,
    /// `certFile` and `keyFile`, which replace the keystore when set.
    pub pem: Option<PemFiles>,
    /// Entry of the listener keystore served as the TLS certificate.
    pub certificate_alias: String,
}

#[derive(Debug, Clone)]
pub struct IssuerConfig {
    pub enabled: bool,
    /// The keystore; empty (unused) when `pem` is set.
    pub key_store_path: PathBuf,
    pub key_store_password: Secret,
    /// `certFile` and `keyFile`, which replace the keystore when set.
    pub pem: Option<PemFiles>,
    pub issuer: String,
    pub certificate_alias: String,
    /// Seconds; zero or negative means keys never expire.
    pub validity_time: i64,
    pub audience: Option<String>,
    pub apis: Vec<ApiEntry>,
    /// `[[apikey.issuer.scopeApi]]`: APIs granted to every user with a scope.
    pub scope_apis: Vec<ScopeApi>,
    pub signer: SignerKind,
    /// `publicBaseUrl`: where clients reach the server (`https://host[:port]`), for the OAuth
    /// metadata's URLs; None: the scheme and authority of `issuer`.
    pub public_base_url: Option<String>,
    /// `algorithm`: None signs with the key's default (see `Algorithm`).
    pub algorithm: Option<Algorithm>,
}

/// `certFile` and `keyFile`: a certificate (chain) and its unencrypted private key in PEM
/// files, in place of a PKCS#12 keystore (Let's Encrypt, Kubernetes TLS secrets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemFiles {
    /// The leaf certificate first, then any issuers (certbot's `fullchain.pem`).
    pub cert_file: PathBuf,
    /// PKCS#8, PKCS#1 RSA or SEC1 EC.
    pub key_file: PathBuf,
}

/// Which implementation computes RS256 signatures. Both give byte-identical tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignerKind {
    /// The pure-Rust `rsa` crate (default).
    #[default]
    Rsa,
    /// The TLS crypto provider (aws-lc-rs), several times faster.
    Provider,
}

/// A JWS signature algorithm (RFC 7518 §3.1, RFC 8037) the issuer can sign with and the
/// validator accept. Which ones a key may use is the key's type (see `jwt::KeyType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256: the original's, the default for RSA keys.
    Rs256,
    /// RSASSA-PSS with SHA-256, MGF1 with SHA-256 and a 32-byte salt.
    Ps256,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// ECDSA on P-384 with SHA-384.
    Es384,
    /// Ed25519 (RFC 8037).
    EdDsa,
}

impl Algorithm {
    pub const ALL: [Algorithm; 5] = [
        Algorithm::Rs256,
        Algorithm::Ps256,
        Algorithm::Es256,
        Algorithm::Es384,
        Algorithm::EdDsa,
    ];

    /// The JOSE name, as in a token's `alg` and a JWK's `alg`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Rs256 => "RS256",
            Algorithm::Ps256 => "PS256",
            Algorithm::Es256 => "ES256",
            Algorithm::Es384 => "ES384",
            Algorithm::EdDsa => "EdDSA",
        }
    }

    /// The algorithm of a JOSE name; names are case-sensitive (RFC 7515 §4.1.1).
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.name() == name)
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiEntry {
    pub name: String,
    /// Each listed version, trimmed; `"*"` is kept as is.
    pub versions: Vec<String>,
}

/// `[apikey.tokenConfigs]`: how gateways validate keys.
#[derive(Debug, Clone, Default)]
pub struct ValidationConfig {
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub certificate_alias: Option<String>,
    pub validate_allowed_apis: bool,
}

/// Most `[[apikey.verificationKeys]]` entries: a rotation needs two or three.
pub const MAX_VERIFICATION_KEYS: usize = 16;

/// One `[[apikey.verificationKeys]]` entry: a key tokens may be signed with but the issuer no
/// longer (or not yet) signs with. Keystore path and password default to the issuer's.
#[derive(Debug, Clone)]
pub struct VerificationKeyConfig {
    pub certificate_alias: String,
    pub key_store_path: PathBuf,
    pub key_store_password: Secret,
    /// `algorithm`: the one algorithm tokens of this key may use; None is the key's default.
    pub algorithm: Option<Algorithm>,
}

pub const DEFAULT_VALIDATOR_HOST: &str = "127.0.0.1";
pub const DEFAULT_VALIDATOR_PORT: u16 = 9096;
pub const DEFAULT_KEY_NAMES: [&str; 3] = ["apikey", "api_key", "X-API-Key"];
pub const DEFAULT_CLOCK_SKEW_SECONDS: i64 = 60;
pub const MAX_CLOCK_SKEW_SECONDS: i64 = 3600;
/// Verified-key cache size; 0 turns the cache off.
pub const DEFAULT_CACHE_MAX_ENTRIES: usize = 10_000;
pub const MAX_CACHE_MAX_ENTRIES: usize = 1_000_000;
/// Longest a verified signature is trusted without verifying again (never past `exp`).
pub const DEFAULT_CACHE_TTL_SECONDS: i64 = 300;
pub const MAX_CACHE_TTL_SECONDS: i64 = 86_400;
/// Most names in `keyHeaders` / `keyQueryParams`.
pub const MAX_KEY_NAMES: usize = 16;

/// `[validator]`: the gateway-facing validation listener (plain HTTP, loopback by default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatorConfig {
    pub host: String,
    pub port: u16,
    /// Header names the key may come in, matched case-insensitively.
    pub key_headers: Vec<String>,
    /// Query parameter names the key may come in, matched exactly.
    pub key_query_params: Vec<String>,
    pub api_name_header: String,
    pub api_version_header: String,
    pub clock_skew_seconds: i64,
    pub cache_max_entries: usize,
    pub cache_ttl_seconds: i64,
    /// `gatewayAddresses`: the TCP peers whose client-address and referer headers are taken;
    /// empty (nobody) by default, and then every restricted key is refused.
    pub gateway_addresses: TrustedProxies,
    /// `clientIpHeader`: where a gateway puts the client address.
    pub client_ip_header: String,
    /// `refererHeader`: where a gateway puts the client's `Referer`.
    pub referer_header: String,
    /// `productionOnly`: refuse every key whose `keytype` is not PRODUCTION.
    pub production_only: bool,
    /// `productionOnlyApis`: refuse non-PRODUCTION keys on these APIs (by the API name header).
    pub production_only_apis: Vec<String>,
    /// `acceptBearer`: `Authorization: Bearer <key>` (RFC 6750) is a key source too.
    pub accept_bearer: bool,
    pub access_log: AccessLog,
}

/// Which `/validate` answers get a request log line (`[validator] accessLog`). Refusals are
/// the security-relevant ones (a probed or stolen key); the 200s of a gateway that asks once
/// per API request are tens of thousands a second of noise, counted by `/metrics` anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccessLog {
    /// Every answer.
    All,
    /// Every answer but a 200: refused keys (401, 403) and errors.
    #[default]
    Refusals,
    /// None.
    Off,
}

impl AccessLog {
    /// The config spellings; the `accessLog` error message lists them (a test holds the two
    /// together).
    pub const NAMES: [(&'static str, AccessLog); 3] = [
        ("all", AccessLog::All),
        ("refusals", AccessLog::Refusals),
        ("off", AccessLog::Off),
    ];

    /// Whether an answer with this status is logged.
    pub fn logs(self, status: u16) -> bool {
        match self {
            AccessLog::All => true,
            AccessLog::Refusals => status != 200,
            AccessLog::Off => false,
        }
    }
}

impl Default for ValidatorConfig {
    fn default() -> Self {
        let names = DEFAULT_KEY_NAMES
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>();
        ValidatorConfig {
            host: DEFAULT_VALIDATOR_HOST.into(),
            port: DEFAULT_VALIDATOR_PORT,
            key_headers: names.clone(),
            key_query_params: names,
            api_name_header: "X-API-Name".into(),
            api_version_header: "X-API-Version".into(),
            clock_skew_seconds: DEFAULT_CLOCK_SKEW_SECONDS,
            cache_max_entries: DEFAULT_CACHE_MAX_ENTRIES,
            cache_ttl_seconds: DEFAULT_CACHE_TTL_SECONDS,
            gateway_addresses: TrustedProxies::default(),
            client_ip_header: DEFAULT_CLIENT_IP_HEADER.into(),
            referer_header: DEFAULT_REFERER_HEADER.into(),
            production_only: false,
            production_only_apis: Vec::new(),
            accept_bearer: true,
            access_log: AccessLog::default(),
        }
    }
}

/// Every size, count and time limit of the server, with its default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub workers: usize,
    pub max_connections: usize,
    pub handshake_timeout: Duration,
    /// From the first byte of a request to its last.
    pub request_timeout: Duration,
    /// Idle keep-alive connection between requests.
    pub idle_timeout: Duration,
    pub write_timeout: Duration,
    pub max_header_bytes: usize,
    pub max_uri_bytes: usize,
    pub max_headers: usize,
    pub max_body_bytes: usize,
    pub max_requests_per_connection: usize,
    /// Every failed login is answered this long after its check began, whoever the user and
    /// whatever their hash (see `FAILED_LOGIN_DELAY`).
    pub failed_login_delay: Duration,
}

/// Default for `[server] failedLoginDelayMs`: above a 600,000-iteration PBKDF2 (the default of
/// `hash-password`, ~0.1 s on a small host), so that its failures are held to the same time as
/// an unknown user's; short enough that a person who mistyped does not wait noticeably.
pub const FAILED_LOGIN_DELAY: Duration = Duration::from_millis(500);

impl Default for Limits {
    fn default() -> Self {
        Limits {
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_connections: 1024,
            handshake_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(10),
            max_header_bytes: 8 * 1024,
            max_uri_bytes: 2 * 1024,
            max_headers: 64,
            max_body_bytes: 16 * 1024,
            max_requests_per_connection: 10_000,
            failed_login_delay: FAILED_LOGIN_DELAY,
        }
    }
}

impl Config {
    /// Wipes (zeroizes) every keystore password. They are needed only to build the running
    /// state; call this once that is done and the config is kept for later (reload) comparisons.
    pub fn forget_keystore_passwords(&mut self) {
        self.listener.key_store_password = Secret::default();
        self.issuer.key_store_password = Secret::default();
        for k in &mut self.verification_keys {
            k.key_store_password = Secret::default();
        }
    }
}

/// Where `${mgw-runtime.home}` points and how `${NAME}` is resolved.
pub struct Environment<'a> {
    /// Absolute: the expansion is used as is, never joined to the config's folder.
    pub runtime_home: PathBuf,
    pub var: &'a dyn Fn(&str) -> Option<String>,
}

impl Config {
    /// Reads `path`. `${mgw-runtime.home}` is `$MGW_RUNTIME_HOME` (relative to the working
    /// directory), else the parent of the config file's folder (the original's
    /// `<home>/conf/micro-gw.conf` layout).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let err = |message: String| ConfigError {
            file: file.clone(),
            key: String::new(),
            message,
        };
        let meta = std::fs::metadata(path).map_err(|e| err(format!("cannot read: {e}")))?;
        if meta.len() > MAX_CONFIG_BYTES {
            return Err(err(format!(
                "file is {} bytes, larger than the {MAX_CONFIG_BYTES}-byte limit",
                meta.len()
            )));
        }
        let bytes = std::fs::read(path).map_err(|e| err(format!("cannot read: {e}")))?;
        let text = String::from_utf8(bytes).map_err(|_| err("not valid UTF-8".into()))?;
        let dir = path
            .parent()
            .map(|p| {
                if p.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    p
                }
            })
            .unwrap_or(Path::new("."));
        // Absolute, because `${mgw-runtime.home}/x` is a path of its own: it must not be resolved
        // against the config's folder as a relative path would be. A relative
        // MGW_RUNTIME_HOME is relative to the working directory, as for any program.
        let runtime_home = match std::env::var_os("MGW_RUNTIME_HOME").filter(|h| !h.is_empty()) {
            Some(home) => std::path::absolute(home),
            None => std::path::absolute(dir).map(|d| match d.file_name() {
                Some(_) => d.parent().map_or_else(|| d.join(".."), Path::to_path_buf),
                // `..` or `/`: no name to drop.
                None => d.join(".."),
            }),
        }
        .map_err(|e| err(format!("cannot find ${{mgw-runtime.home}}: {e}")))?;
        let var = |name: &str| std::env::var(name).ok();
        let env = Environment {
            runtime_home,
            var: &var,
        };
        Config::parse(&text, &file, dir, &env)
    }

    /// Parses config text. `source` names the file in messages, relative paths resolve against
    /// `base_dir`. Pure: no file system or process environment access.
    pub fn parse(
        text: &str,
        source: &str,
        base_dir: &Path,
        env: &Environment<'_>,
    ) -> Result<Config, ConfigError> {
        let root: Table = text
            .parse()
            .map_err(|e: toml::de::Error| syntax_error(text, source, &e))?;
        let mut r = Reader {
            source,
            base_dir,
            env,
            warnings: Vec::new(),
        };
        r.warn_unknown(
            &root,
            "",
            &["listenerConfig", "b7a", "apikey", "server", "validator"],
        );

        let issuer = r.issuer(&root)?;
        let listener = r.listener(&root, &issuer)?;
        let validation = r.validation(&root)?;
        let (users, grants) = r.users(&root)?;
        let limits = r.limits(&root)?;
        let verification_keys = r.verification_keys(&root, &issuer)?;
        let validator = r.validator(&root)?;
        let (revocation_file, revocation_compact_every, revocation_max_per_user) =
            r.revocation(&root)?;
        let revocation_file_relative = r.relative_revocation_file(&root)?;
        let load_balancer = r.load_balancer(&root)?;
        let revocation_redis = r.redis_store(&root)?;
        let throttle_redis = r.throttle_store(&root, revocation_redis.as_ref())?;
        Ok(Config {
            source: source.to_string(),
            listener,
            issuer,
            validation,
            users,
            grants,
            limits,
            verification_keys,
            validator,
            revocation_file,
            revocation_file_relative,
            revocation_compact_every,
            revocation_max_per_user,
            load_balancer,
            revocation_redis,
            throttle_redis,
            warnings: r.warnings,
        })
    }
}

mod privilege;
mod reader;
mod sections;
pub use privilege::{
    ScopeApi, UserGrant, DEFAULT_CLIENT_IP_HEADER, DEFAULT_REFERER_HEADER, MAX_PRODUCTION_ONLY_APIS,
};
pub use sections::url_authority;
mod verification;
use reader::{join, syntax_error, type_name, Reader};

#[cfg(test)]
mod tests;

/// Where the load-balancer keys live (section, key): `Reader::load_balancer` reads them, so the
/// sections' own readers do not call them unknown.
const LOAD_BALANCER_KEYS: [(&str, &str); 3] = [
    ("server", "trustedProxies"),
    ("listenerConfig", "proxyProtocol"),
    ("validator", "proxyProtocol"),
];

/// Behind a load balancer: whose word on the client address is taken, and which listeners
/// expect a PROXY protocol header before anything else.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadBalancerConfig {
    /// `[server] trustedProxies`: empty (nobody) by default.
    pub trusted_proxies: TrustedProxies,
    /// `[listenerConfig] proxyProtocol`: the HTTPS listener.
    pub https_proxy_protocol: bool,
    /// `[validator] proxyProtocol`: the plain listener.
    pub plain_proxy_protocol: bool,
}

impl Reader<'_> {
    fn load_balancer(&mut self, root: &Table) -> Result<LoadBalancerConfig, ConfigError> {
        let mut lb = LoadBalancerConfig::default();
        if let Some(t) = self.table(root, "server")? {
            lb.trusted_proxies = TrustedProxies::new(self.cidrs(t, "server", "trustedProxies")?);
        }
        for (section, flag) in [
            ("listenerConfig", &mut lb.https_proxy_protocol),
            ("validator", &mut lb.plain_proxy_protocol),
        ] {
            let Some(t) = self.table(root, section)? else {
                continue;
            };
            *flag = self.boolean(t, section, "proxyProtocol")?.unwrap_or(false);
            if *flag && lb.trusted_proxies.is_empty() {
                // Every connection would be refused.
                return Err(self.error(
                    &join(section, "proxyProtocol"),
                    "needs [server] trustedProxies: a PROXY header is accepted only from them",
                ));
            }
        }
        Ok(lb)
    }
}

#[cfg(test)]
mod load_balancer_tests;
