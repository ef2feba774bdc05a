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
    pub signer: SignerKind,
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
        let users = r.users(&root)?;
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

/// toml errors span several lines with a caret diagram; we promise one line.
/// A TOML syntax error as the file, the key path where it can be told, the line and column, and
/// the parser's reason. Never the text of the line: an unterminated `keyStorePassword = "...`
/// would put the password in the log.
fn syntax_error(text: &str, source: &str, e: &toml::de::Error) -> ConfigError {
    let at = e.span().map_or(0, |s| s.start).min(text.len());
    let before = text.get(..at).unwrap_or("");
    let line_no = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text
        .get(line_start..at)
        .map_or(1, |l| l.chars().count() + 1);
    // The table is the last header above the error; the key, the bare key left of `=` on the
    // error's line. Both are names, not values; anything else is left out.
    let is_name = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b' '))
    };
    let table = before
        .lines()
        .take(line_no.saturating_sub(1))
        .filter_map(|l| {
            let l = l.trim();
            let inner = l.strip_prefix('[')?.trim_start_matches('[');
            let inner = inner.split(']').next()?.trim();
            is_name(inner).then(|| inner.replace(' ', ""))
        })
        .last();
    let line = text[line_start..].lines().next().unwrap_or("");
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim())
        .filter(|k| is_name(k) && !k.contains(' '))
        .map(str::to_string);
    let path = match (table, key) {
        (Some(t), Some(k)) => join(&t, &k),
        (Some(t), None) => t,
        (None, Some(k)) => k,
        (None, None) => String::new(),
    };
    ConfigError {
        file: source.to_string(),
        key: path,
        message: format!(
            "not valid TOML at line {line_no}, column {column}: {}",
            one_line(e.message())
        ),
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

struct Reader<'a> {
    source: &'a str,
    base_dir: &'a Path,
    env: &'a Environment<'a>,
    warnings: Vec<String>,
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a datetime",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}

impl Reader<'_> {
    fn error(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.source.to_string(),
            key: key.to_string(),
            message: message.into(),
        }
    }

    fn warn_unknown(&mut self, table: &Table, prefix: &str, known: &[&str]) {
        for k in table.keys() {
            if !known.contains(&k.as_str()) && !LOAD_BALANCER_KEYS.contains(&(prefix, k.as_str())) {
                let what = if table.get(k).is_some_and(|v| {
                    v.is_table()
                        || v.as_array()
                            .is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_table))
                }) {
                    "section"
                } else {
                    "key"
                };
                self.warnings.push(format!(
                    "{}: ignoring unsupported {what} [{}]",
                    self.source,
                    join(prefix, k)
                ));
            }
        }
    }

    /// The table at `path` (dotted), or None when absent.
    fn table<'t>(&self, root: &'t Table, path: &str) -> Result<Option<&'t Table>, ConfigError> {
        let mut cur = root;
        let mut walked = String::new();
        for part in path.split('.') {
            walked = join(&walked, part);
            match cur.get(part) {
                None => return Ok(None),
                Some(Value::Table(t)) => cur = t,
                Some(other) => {
                    return Err(self.error(
                        &walked,
                        format!("expected a table, found {}", type_name(other)),
                    ))
                }
            }
        }
        Ok(Some(cur))
    }

    fn string(&self, t: &Table, prefix: &str, key: &str) -> Result<Option<String>, ConfigError> {
        let path = join(prefix, key);
        match t.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => self.expand(s, &path).map(Some),
            Some(other) => Err(self.error(
                &path,
                format!("expected a string, found {}", type_name(other)),
            )),
        }
    }

    fn required_string(&self, t: &Table, prefix: &str, key: &str) -> Result<String, ConfigError> {
        self.string(t, prefix, key)?
            .ok_or_else(|| self.error(&join(prefix, key), "required key is missing"))
    }

    fn integer(&self, t: &Table, prefix: &str, key: &str) -> Result<Option<i64>, ConfigError> {
        match t.get(key) {
            None => Ok(None),
            Some(Value::Integer(i)) => Ok(Some(*i)),
            Some(other) => Err(self.error(
                &join(prefix, key),
                format!("expected an integer, found {}", type_name(other)),
            )),
        }
    }

    fn boolean(&self, t: &Table, prefix: &str, key: &str) -> Result<Option<bool>, ConfigError> {
        match t.get(key) {
            None => Ok(None),
            Some(Value::Boolean(b)) => Ok(Some(*b)),
            Some(other) => Err(self.error(
                &join(prefix, key),
                format!("expected a boolean, found {}", type_name(other)),
            )),
        }
    }

    fn path(&self, t: &Table, prefix: &str, key: &str) -> Result<PathBuf, ConfigError> {
        let s = self.required_string(t, prefix, key)?;
        if s.is_empty() {
            return Err(self.error(&join(prefix, key), "must not be empty"));
        }
        Ok(self.base_dir.join(s))
    }

    /// `keyStorePath` and `keyStorePassword` of section `p`, each with the original's default.
    /// A default is warned about: the distribution's keystore and its password are public.
    /// `keyStorePath` and `keyStorePassword`, or the original's defaults, each said in a warning.
    fn keystore_or_default(
        &mut self,
        t: &Table,
        p: &str,
    ) -> Result<(PathBuf, Secret), ConfigError> {
        let path = if t.contains_key("keyStorePath") {
            self.path(t, p, "keyStorePath")?
        } else {
            let key = join(p, "keyStorePath");
            let path = self
                .base_dir
                .join(self.expand(DEFAULT_KEY_STORE_PATH, &key)?);
            self.warnings.push(format!(
                "{}: {key} is not set; using the Microgateway's default keystore {}. Unless that \
                 file was replaced, its private key ships with every Microgateway and is public",
                self.source,
                path.display()
            ));
            path
        };
        let password = match self.string(t, p, "keyStorePassword")? {
            Some(pw) => pw,
            None => {
                self.warnings.push(format!(
                    "{}: {} is not set; using the Microgateway's well-known default password",
                    self.source,
                    join(p, "keyStorePassword")
                ));
                DEFAULT_KEY_STORE_PASSWORD.to_string()
            }
        };
        Ok((path, Secret::new(password)))
    }

    /// Expands `${mgw-runtime.home}` and `${NAME}` (environment variables).
    fn expand(&self, s: &str, key: &str) -> Result<String, ConfigError> {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| self.error(key, "unterminated ${ placeholder"))?;
            let name = &after[..end];
            if name == "mgw-runtime.home" {
                out.push_str(&self.env.runtime_home.to_string_lossy());
            } else if name.is_empty() {
                return Err(self.error(key, "empty ${} placeholder"));
            } else {
                let value = (self.env.var)(name).ok_or_else(|| {
                    self.error(key, format!("environment variable {name} is not set"))
                })?;
                out.push_str(&value);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn issuer(&mut self, root: &Table) -> Result<IssuerConfig, ConfigError> {
        let p = "apikey.issuer.tokenConfig";
        if let Some(apikey) = self.table(root, "apikey")? {
            self.warn_unknown(
                apikey,
                "apikey",
                &["issuer", "tokenConfigs", "verificationKeys", "revocation"],
            );
        }
        if let Some(issuer) = self.table(root, "apikey.issuer")? {
            self.warn_unknown(issuer, "apikey.issuer", &["tokenConfig", "api"]);
        }
        // Absent, the original runs the issuer with its defaults.
        let empty = Table::new();
        let t = self.table(root, p)?.unwrap_or(&empty);
        self.warn_unknown(
            t,
            p,
            &[
                "enabled",
                "keyStorePath",
                "keyStorePassword",
                "issuer",
                "certificateAlias",
                "validityTime",
                "audience",
                "signer",
                "certFile",
                "keyFile",
            ],
        );
        let signer = match self.string(t, p, "signer")?.as_deref() {
            None | Some("rsa") => SignerKind::Rsa,
            Some("provider") => SignerKind::Provider,
            Some(other) => {
                return Err(self.error(
                    &join(p, "signer"),
                    format!("{other:?} is not a signer; use \"rsa\" or \"provider\""),
                ))
            }
        };
        let audience = match self.string(t, p, "audience")? {
            Some(a) => Some(a),
            // Gateways check `[apikey.tokenConfigs] audience`; keys must carry it to pass.
            None => match self.table(root, "apikey.tokenConfigs")? {
                Some(tc) => self.string(tc, "apikey.tokenConfigs", "audience")?,
                None => None,
            },
        };
        let pem = self.pem_files(t, p)?;
        let (key_store_path, key_store_password) = self.keystore(t, p, pem.is_some())?;
        Ok(IssuerConfig {
            enabled: self.boolean(t, p, "enabled")?.unwrap_or(true),
            key_store_path,
            key_store_password,
            pem,
            issuer: self
                .string(t, p, "issuer")?
                .unwrap_or_else(|| DEFAULT_ISSUER.into()),
            certificate_alias: self
                .string(t, p, "certificateAlias")?
                .unwrap_or_else(|| DEFAULT_CERTIFICATE_ALIAS.into()),
            validity_time: self
                .integer(t, p, "validityTime")?
                .unwrap_or(DEFAULT_VALIDITY_TIME),
            audience: audience.filter(|a| !a.is_empty()),
            apis: self.apis(root)?,
            signer,
        })
    }

    fn apis(&mut self, root: &Table) -> Result<Vec<ApiEntry>, ConfigError> {
        let Some(issuer) = self.table(root, "apikey.issuer")? else {
            return Ok(Vec::new());
        };
        let list = match issuer.get("api") {
            None => return Ok(Vec::new()),
            Some(Value::Array(a)) => a,
            Some(other) => {
                return Err(self.error(
                    "apikey.issuer.api",
                    format!(
                        "expected an array of tables ([[apikey.issuer.api]]), found {}",
                        type_name(other)
                    ),
                ))
            }
        };
        let mut apis = Vec::with_capacity(list.len());
        for (i, v) in list.iter().enumerate() {
            let p = format!("apikey.issuer.api[{i}]");
            let Value::Table(t) = v else {
                return Err(self.error(&p, format!("expected a table, found {}", type_name(v))));
            };
            self.warn_unknown(t, &p, &["name", "versions"]);
            let name = self.required_string(t, &p, "name")?;
            let versions: Vec<String> = self
                .string(t, &p, "versions")?
                .unwrap_or_else(|| "*".into())
                .split(',')
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .collect();
            if versions.is_empty() {
                return Err(self.error(
                    &join(&p, "versions"),
                    "lists no version (use \"*\" for all versions)",
                ));
            }
            apis.push(ApiEntry { name, versions });
        }
        Ok(apis)
    }

    fn listener(
        &mut self,
        root: &Table,
        issuer: &IssuerConfig,
    ) -> Result<ListenerConfig, ConfigError> {
        let p = "listenerConfig";
        // Absent, the original listens with its defaults.
        let empty = Table::new();
        let t = self.table(root, p)?.unwrap_or(&empty);
        // The original's other listener keys (httpPort, trustStorePath, tokenListenerPort, ...)
        // configure things apikey-sts does not have. The size limits are read by `limits`.
        self.warn_unknown(
            t,
            p,
            &[
                "host",
                "httpsPort",
                "keyStorePath",
                "keyStorePassword",
                "certFile",
                "keyFile",
                "certificateAlias",
                "maxUriLength",
                "maxHeaderSize",
                "maxEntityBodySize",
            ],
        );
        let port = self
            .integer(t, p, "httpsPort")?
            .unwrap_or(i64::from(DEFAULT_HTTPS_PORT));
        let https_port = u16::try_from(port).map_err(|_| {
            self.error(
                &join(p, "httpsPort"),
                format!("{port} is not a port number (0-65535)"),
            )
        })?;
        let host = self
            .string(t, p, "host")?
            .unwrap_or_else(|| DEFAULT_HOST.into());
        let pem = self.pem_files(t, p)?;
        let (key_store_path, key_store_password) = self.keystore(t, p, pem.is_some())?;
        Ok(ListenerConfig {
            host,
            https_port,
            key_store_path,
            key_store_password,
            pem,
            certificate_alias: self
                .string(t, p, "certificateAlias")?
                .unwrap_or_else(|| issuer.certificate_alias.clone()),
        })
    }

    fn revocation(&mut self, root: &Table) -> Result<(Option<PathBuf>, usize, usize), ConfigError> {
        let p = "apikey.revocation";
        let every = COMPACT_EVERY;
        let per_user = MAX_PER_USER;
        let Some(t) = self.table(root, p)? else {
            return Ok((None, every, per_user));
        };
        self.warn_unknown(
            t,
            p,
            &[
                "file",
                "compactEvery",
                "maxPerUser",
                "store",
                "redisUrl",
                "keyPrefix",
                "minReplicas",
                "connectTimeoutMs",
                "timeoutMs",
                "redisCaFile",
            ],
        );
        let max: i64 = 1_000_000;
        let per_user = match self.integer(t, p, "maxPerUser")? {
            None => per_user,
            Some(n) if (1..=max).contains(&n) => n as usize,
            Some(n) => {
                return Err(self.error(&join(p, "maxPerUser"), format!("{n} is not in 1..={max}")))
            }
        };
        let every = match self.integer(t, p, "compactEvery")? {
            None => every,
            Some(n) if (1..=1_000_000).contains(&n) => n as usize,
            Some(n) => {
                return Err(self.error(
                    &join(p, "compactEvery"),
                    format!("{n} is not in 1..=1000000"),
                ))
            }
        };
        Ok((Some(self.path(t, p, "file")?), every, per_user))
    }

    /// `certFile` and `keyFile` of section `p`: both or neither.
    fn pem_files(&self, t: &Table, p: &str) -> Result<Option<PemFiles>, ConfigError> {
        match (t.contains_key("certFile"), t.contains_key("keyFile")) {
            (false, false) => Ok(None),
            (true, true) => Ok(Some(PemFiles {
                cert_file: self.path(t, p, "certFile")?,
                key_file: self.path(t, p, "keyFile")?,
            })),
            (has_cert, _) => {
                let (given, missing) = if has_cert {
                    ("certFile", "keyFile")
                } else {
                    ("keyFile", "certFile")
                };
                Err(self.error(
                    &join(p, missing),
                    format!("required with {given} (a certificate and its key go together)"),
                ))
            }
        }
    }

    /// `keyStorePath` and `keyStorePassword` of section `p` (the original's defaults when
    /// absent), unless `certFile` and `keyFile` replace them: then they must be absent, so that
    /// it is plain which key is used.
    fn keystore(
        &mut self,
        t: &Table,
        p: &str,
        pem: bool,
    ) -> Result<(PathBuf, Secret), ConfigError> {
        if !pem {
            return self.keystore_or_default(t, p);
        }
        for key in ["keyStorePath", "keyStorePassword"] {
            if t.contains_key(key) {
                return Err(self.error(
                    &join(p, key),
                    "set either keyStorePath and keyStorePassword, or certFile and keyFile",
                ));
            }
        }
        Ok((PathBuf::new(), Secret::default()))
    }

    /// `[apikey.revocation] file` as written (expanded), when relative.
    fn relative_revocation_file(&self, root: &Table) -> Result<Option<PathBuf>, ConfigError> {
        let p = "apikey.revocation";
        let Some(t) = self.table(root, p)? else {
            return Ok(None);
        };
        Ok(self
            .string(t, p, "file")?
            .map(PathBuf::from)
            .filter(|f| f.is_relative()))
    }

    /// A `redis://` URL at `key` (required). Messages name the scheme only: the rest of the
    /// URL may hold a password.
    fn redis_url(&self, t: &Table, p: &str, key: &str) -> Result<Secret, ConfigError> {
        let url = Secret::new(self.required_string(t, p, key)?);
        let u = url.expose();
        if !(u.starts_with("redis://") || u.starts_with("rediss://")) {
            return Err(self.error(&join(p, key), "must start with redis:// or rediss://"));
        }
        // The client reads `#insecure` as "do not verify the server's certificate".
        if u.contains('#') {
            return Err(self.error(
                &join(p, key),
                "must not have a #fragment (certificate checks cannot be turned off)",
            ));
        }
        Ok(url)
    }

    /// `[server] throttleStore = "redis"`: failure counts shared through Redis, at
    /// `[server] throttleRedisUrl`, else the revocation store's `redisUrl`; prefix and timeouts
    /// as `[apikey.revocation]` sets them (or their defaults).
    fn throttle_store(
        &mut self,
        root: &Table,
        revocation: Option<&RedisConfig>,
    ) -> Result<Option<RedisConfig>, ConfigError> {
        let p = "server";
        let Some(t) = self.table(root, p)? else {
            return Ok(None);
        };
        match self.string(t, p, "throttleStore")?.as_deref() {
            None | Some("local") => return Ok(None),
            Some("redis") => {}
            Some(other) => {
                return Err(self.error(
                    &join(p, "throttleStore"),
                    format!("{other:?} is neither \"local\" nor \"redis\""),
                ))
            }
        }
        let url = if t.contains_key("throttleRedisUrl") {
            self.redis_url(t, p, "throttleRedisUrl")?
        } else {
            match revocation {
                Some(r) => r.url.clone(),
                None => {
                    return Err(self.error(
                        &join(p, "throttleStore"),
                        "\"redis\" needs [server] throttleRedisUrl (or [apikey.revocation] \
                         store = \"redis\" with its redisUrl)",
                    ))
                }
            }
        };
        Ok(Some(match revocation {
            Some(r) => RedisConfig { url, ..r.clone() },
            None => RedisConfig {
                url,
                ca_file: None,
                key_prefix: REDIS_KEY_PREFIX.to_string(),
                min_replicas: 0,
                connect_timeout: Duration::from_millis(REDIS_CONNECT_TIMEOUT_MS as u64),
                timeout: Duration::from_millis(REDIS_TIMEOUT_MS as u64),
            },
        }))
    }

    /// `[apikey.revocation] store = "redis"` and its keys; None for the file log (the default).
    fn redis_store(&mut self, root: &Table) -> Result<Option<RedisConfig>, ConfigError> {
        let p = "apikey.revocation";
        let Some(t) = self.table(root, p)? else {
            return Ok(None);
        };
        match self.string(t, p, "store")?.as_deref() {
            None | Some("file") => return Ok(None),
            Some("redis") => {}
            Some(other) => {
                return Err(self.error(
                    &join(p, "store"),
                    format!("{other:?} is neither \"file\" nor \"redis\""),
                ))
            }
        }
        let url = self.redis_url(t, p, "redisUrl")?;
        let key_prefix = self
            .string(t, p, "keyPrefix")?
            .unwrap_or_else(|| REDIS_KEY_PREFIX.to_string());
        if key_prefix.len() > MAX_REDIS_KEY_PREFIX_BYTES
            || !key_prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
        {
            return Err(self.error(
                &join(p, "keyPrefix"),
                format!(
                    "must be at most {MAX_REDIS_KEY_PREFIX_BYTES} characters of \
                     A-Z a-z 0-9 - _ . :"
                ),
            ));
        }
        let ranged = |key: &str, default: i64, max: i64| -> Result<i64, ConfigError> {
            match self.integer(t, p, key)? {
                None => Ok(default),
                Some(n) if (0..=max).contains(&n) && (n > 0 || key == "minReplicas") => Ok(n),
                Some(n) => Err(self.error(
                    &join(p, key),
                    format!(
                        "{n} is not in {}..={max}",
                        if key == "minReplicas" { 0 } else { 1 }
                    ),
                )),
            }
        };
        let min_replicas = ranged("minReplicas", 0, MAX_MIN_REPLICAS)? as u32;
        let connect_ms = ranged(
            "connectTimeoutMs",
            REDIS_CONNECT_TIMEOUT_MS,
            MAX_REDIS_TIMEOUT_MS,
        )?;
        let timeout_ms = ranged("timeoutMs", REDIS_TIMEOUT_MS, MAX_REDIS_TIMEOUT_MS)?;
        let ca_file = match self.string(t, p, "redisCaFile")? {
            None => None,
            Some(_) if !url.expose().starts_with("rediss://") => {
                return Err(self.error(
                    &join(p, "redisCaFile"),
                    "is only used with a rediss:// redisUrl",
                ))
            }
            Some(_) => Some(self.path(t, p, "redisCaFile")?),
        };
        Ok(Some(RedisConfig {
            url,
            ca_file,
            key_prefix,
            min_replicas,
            connect_timeout: Duration::from_millis(connect_ms as u64),
            timeout: Duration::from_millis(timeout_ms as u64),
        }))
    }

    fn validation(&mut self, root: &Table) -> Result<ValidationConfig, ConfigError> {
        let p = "apikey.tokenConfigs";
        let Some(t) = self.table(root, p)? else {
            return Ok(ValidationConfig::default());
        };
        self.warn_unknown(
            t,
            p,
            &[
                "issuer",
                "audience",
                "certificateAlias",
                "validateAllowedAPIs",
            ],
        );
        Ok(ValidationConfig {
            issuer: self.string(t, p, "issuer")?,
            audience: self.string(t, p, "audience")?.filter(|a| !a.is_empty()),
            certificate_alias: self.string(t, p, "certificateAlias")?,
            validate_allowed_apis: self.boolean(t, p, "validateAllowedAPIs")?.unwrap_or(false),
        })
    }

    fn users(&mut self, root: &Table) -> Result<Vec<User>, ConfigError> {
        if let Some(b7a) = self.table(root, "b7a")? {
            self.warn_unknown(b7a, "b7a", &["users"]);
        }
        let Some(t) = self.table(root, "b7a.users")? else {
            return Ok(Vec::new());
        };
        let mut users = Vec::with_capacity(t.len());
        for name in t.keys() {
            let p = format!("b7a.users.{name}");
            let u = self
                .table(root, &p)?
                .ok_or_else(|| self.error(&p, "expected a table"))?;
            self.warn_unknown(u, &p, &["password", "scopes"]);
            let key = join(&p, "password");
            let raw = self.required_string(u, &p, "password")?;
            let password =
                PasswordHash::parse(&raw).map_err(|e| self.error(&key, e.to_string()))?;
            let scopes = self
                .string(u, &p, "scopes")?
                .unwrap_or_default()
                .split([',', ' '])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            users.push(User {
                name: name.clone(),
                password,
                scopes,
            });
        }
        Ok(users)
    }

    /// One of the original's request size limits, `listenerConfig.<key>`, in bytes. Its `-1`
    /// ("no limit") and anything above `cap` become `cap`, with a warning: every buffer stays
    /// bounded.
    fn listener_limit(
        &mut self,
        t: &Table,
        key: &str,
        cap: usize,
    ) -> Result<Option<usize>, ConfigError> {
        let p = "listenerConfig";
        let path = join(p, key);
        match self.integer(t, p, key)? {
            None => Ok(None),
            Some(n) if n >= 1 && n as u64 <= cap as u64 => Ok(Some(n as usize)),
            Some(-1) => {
                self.warnings.push(format!(
                    "{}: {path} = -1 (no limit): capped at {cap} bytes",
                    self.source
                ));
                Ok(Some(cap))
            }
            Some(n) if n > 0 => {
                self.warnings.push(format!(
                    "{}: {path} = {n} is above the hard cap: capped at {cap} bytes",
                    self.source
                ));
                Ok(Some(cap))
            }
            Some(n) => Err(self.error(
                &path,
                format!("{n} is neither -1 (no limit) nor in 1..={cap}"),
            )),
        }
    }

    /// The request limits: our defaults, then the original's `listenerConfig` size limits, then
    /// `[server]`, which wins where both set one.
    fn limits(&mut self, root: &Table) -> Result<Limits, ConfigError> {
        let mut l = Limits::default();
        let listener = self.table(root, "listenerConfig")?;
        // (original's key, our key) for each limit both name.
        let mut from_listener: Vec<(&str, &str)> = Vec::new();
        if let Some(t) = listener {
            for (key, ours, cap, slot) in [
                (
                    "maxUriLength",
                    "maxUriBytes",
                    MAX_URI_BYTES_CAP,
                    &mut l.max_uri_bytes,
                ),
                (
                    "maxHeaderSize",
                    "maxHeaderBytes",
                    MAX_HEADER_BYTES_CAP,
                    &mut l.max_header_bytes,
                ),
                (
                    "maxEntityBodySize",
                    "maxBodyBytes",
                    MAX_BODY_BYTES_CAP,
                    &mut l.max_body_bytes,
                ),
            ] {
                if let Some(v) = self.listener_limit(t, key, cap)? {
                    *slot = v;
                    from_listener.push((key, ours));
                }
            }
        }
        let p = "server";
        let Some(t) = self.table(root, p)? else {
            return Ok(l);
        };
        for (theirs, ours) in from_listener {
            if t.contains_key(ours) {
                self.warnings.push(format!(
                    "{}: both listenerConfig.{theirs} and server.{ours} are set; \
                     server.{ours} applies",
                    self.source
                ));
            }
        }
        self.warn_unknown(
            t,
            p,
            &[
                "workers",
                "maxConnections",
                "throttleStore",
                "throttleRedisUrl",
                "handshakeTimeoutMs",
                "requestTimeoutMs",
                "idleTimeoutMs",
                "writeTimeoutMs",
                "maxHeaderBytes",
                "maxUriBytes",
                "maxHeaders",
                "maxBodyBytes",
                "maxRequestsPerConnection",
                "failedLoginDelayMs",
            ],
        );
        let count = |r: &Self, key: &str, max: usize| -> Result<Option<usize>, ConfigError> {
            match r.integer(t, p, key)? {
                None => Ok(None),
                Some(v) if v >= 1 && (v as u64) <= max as u64 => Ok(Some(v as usize)),
                Some(v) => Err(r.error(&join(p, key), format!("{v} is not in 1..={max}"))),
            }
        };
        let millis = |r: &Self, key: &str| -> Result<Option<Duration>, ConfigError> {
            Ok(count(r, key, 3_600_000)?.map(|ms| Duration::from_millis(ms as u64)))
        };
        if let Some(v) = count(self, "workers", 1024)? {
            l.workers = v;
        }
        if let Some(v) = count(self, "maxConnections", 1_000_000)? {
            l.max_connections = v;
        }
        if let Some(v) = millis(self, "handshakeTimeoutMs")? {
            l.handshake_timeout = v;
        }
        if let Some(v) = millis(self, "requestTimeoutMs")? {
            l.request_timeout = v;
        }
        if let Some(v) = millis(self, "idleTimeoutMs")? {
            l.idle_timeout = v;
        }
        if let Some(v) = millis(self, "writeTimeoutMs")? {
            l.write_timeout = v;
        }
        if let Some(v) = count(self, "maxHeaderBytes", MAX_HEADER_BYTES_CAP)? {
            l.max_header_bytes = v;
        }
        if let Some(v) = count(self, "maxUriBytes", MAX_URI_BYTES_CAP)? {
            l.max_uri_bytes = v;
        }
        if let Some(v) = count(self, "maxHeaders", 1024)? {
            l.max_headers = v;
        }
        if let Some(v) = count(self, "maxBodyBytes", MAX_BODY_BYTES_CAP)? {
            l.max_body_bytes = v;
        }
        if let Some(v) = count(self, "maxRequestsPerConnection", usize::MAX >> 1)? {
            l.max_requests_per_connection = v;
        }
        if let Some(v) = count(self, "failedLoginDelayMs", 10_000)? {
            l.failed_login_delay = Duration::from_millis(v as u64);
        }
        Ok(l)
    }
}

/// `[[apikey.verificationKeys]]` (key rotation) and `[validator]`.
impl Reader<'_> {
    fn verification_keys(
        &mut self,
        root: &Table,
        issuer: &IssuerConfig,
    ) -> Result<Vec<VerificationKeyConfig>, ConfigError> {
        let p = "apikey.verificationKeys";
        let Some(apikey) = self.table(root, "apikey")? else {
            return Ok(Vec::new());
        };
        let list = match apikey.get("verificationKeys") {
            None => return Ok(Vec::new()),
            Some(Value::Array(a)) => a,
            Some(other) => {
                return Err(self.error(
                    p,
                    format!(
                        "expected an array of tables ([[apikey.verificationKeys]]), found {}",
                        type_name(other)
                    ),
                ))
            }
        };
        if list.len() > MAX_VERIFICATION_KEYS {
            return Err(self.error(
                p,
                format!(
                    "{} entries, more than the limit of {MAX_VERIFICATION_KEYS}",
                    list.len()
                ),
            ));
        }
        let mut keys = Vec::with_capacity(list.len());
        for (i, v) in list.iter().enumerate() {
            let p = format!("{p}[{i}]");
            let Value::Table(t) = v else {
                return Err(self.error(&p, format!("expected a table, found {}", type_name(v))));
            };
            self.warn_unknown(
                t,
                &p,
                &["certificateAlias", "keyStorePath", "keyStorePassword"],
            );
            let certificate_alias = self.required_string(t, &p, "certificateAlias")?;
            let key_store_path = if t.contains_key("keyStorePath") {
                self.path(t, &p, "keyStorePath")?
            } else if issuer.pem.is_some() {
                return Err(self.error(
                    &join(&p, "keyStorePath"),
                    "required: the issuer signs with keyFile, so there is no keystore to default to",
                ));
            } else {
                issuer.key_store_path.clone()
            };
            let key_store_password = match self.string(t, &p, "keyStorePassword")? {
                Some(pw) => Secret::new(pw),
                None => issuer.key_store_password.clone(),
            };
            keys.push(VerificationKeyConfig {
                certificate_alias,
                key_store_path,
                key_store_password,
            });
        }
        Ok(keys)
    }

    /// A list of names: an array of strings or one comma-separated string.
    fn names(
        &self,
        t: &Table,
        prefix: &str,
        key: &str,
    ) -> Result<Option<Vec<String>>, ConfigError> {
        let path = join(prefix, key);
        let raw: Vec<String> = match t.get(key) {
            None => return Ok(None),
            Some(Value::String(_)) => self
                .string(t, prefix, key)?
                .unwrap_or_default()
                .split(',')
                .map(String::from)
                .collect(),
            Some(Value::Array(a)) => {
                let mut out = Vec::with_capacity(a.len());
                for (i, v) in a.iter().enumerate() {
                    match v {
                        Value::String(s) => out.push(self.expand(s, &format!("{path}[{i}]"))?),
                        other => {
                            return Err(self.error(
                                &format!("{path}[{i}]"),
                                format!("expected a string, found {}", type_name(other)),
                            ))
                        }
                    }
                }
                out
            }
            Some(other) => {
                return Err(self.error(
                    &path,
                    format!(
                        "expected an array of strings or a comma-separated string, found {}",
                        type_name(other)
                    ),
                ))
            }
        };
        let names: Vec<String> = raw
            .iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if names.is_empty() {
            return Err(self.error(&path, "lists no name"));
        }
        if names.len() > MAX_KEY_NAMES {
            return Err(self.error(
                &path,
                format!(
                    "{} names, more than the limit of {MAX_KEY_NAMES}",
                    names.len()
                ),
            ));
        }
        if let Some(bad) = names.iter().find(|n| !is_token(n)) {
            return Err(self.error(
                &path,
                format!("{bad:?} is not a valid header or parameter name"),
            ));
        }
        Ok(Some(names))
    }

    fn header_name(
        &self,
        t: &Table,
        prefix: &str,
        key: &str,
    ) -> Result<Option<String>, ConfigError> {
        match self.string(t, prefix, key)? {
            None => Ok(None),
            Some(n) if is_token(n.trim()) => Ok(Some(n.trim().to_string())),
            Some(n) => Err(self.error(
                &join(prefix, key),
                format!("{n:?} is not a valid header name"),
            )),
        }
    }

    fn validator(&mut self, root: &Table) -> Result<Option<ValidatorConfig>, ConfigError> {
        let p = "validator";
        let Some(t) = self.table(root, p)? else {
            return Ok(None);
        };
        self.warn_unknown(
            t,
            p,
            &[
                "enabled",
                "host",
                "port",
                "keyHeaders",
                "keyQueryParams",
                "apiNameHeader",
                "apiVersionHeader",
                "clockSkewSeconds",
                "cacheMaxEntries",
                "cacheTtlSeconds",
            ],
        );
        // The section's presence turns the validator on; `enabled = false` keeps it configured
        // but off.
        if !self.boolean(t, p, "enabled")?.unwrap_or(true) {
            return Ok(None);
        }
        let mut v = ValidatorConfig::default();
        if let Some(h) = self.string(t, p, "host")? {
            if h.trim().is_empty() {
                return Err(self.error(&join(p, "host"), "must not be empty"));
            }
            v.host = h.trim().to_string();
        }
        if let Some(port) = self.integer(t, p, "port")? {
            v.port = u16::try_from(port).map_err(|_| {
                self.error(
                    &join(p, "port"),
                    format!("{port} is not a port number (0-65535)"),
                )
            })?;
        }
        if let Some(n) = self.names(t, p, "keyHeaders")? {
            v.key_headers = n;
        }
        if let Some(n) = self.names(t, p, "keyQueryParams")? {
            v.key_query_params = n;
        }
        if let Some(h) = self.header_name(t, p, "apiNameHeader")? {
            v.api_name_header = h;
        }
        if let Some(h) = self.header_name(t, p, "apiVersionHeader")? {
            v.api_version_header = h;
        }
        let ranged =
            |r: &Self, key: &str, min: i64, max: i64| -> Result<Option<i64>, ConfigError> {
                match r.integer(t, p, key)? {
                    Some(n) if !(min..=max).contains(&n) => {
                        Err(r.error(&join(p, key), format!("{n} is not in {min}..={max}")))
                    }
                    other => Ok(other),
                }
            };
        if let Some(n) = ranged(self, "clockSkewSeconds", 0, MAX_CLOCK_SKEW_SECONDS)? {
            v.clock_skew_seconds = n;
        }
        if let Some(n) = ranged(self, "cacheMaxEntries", 0, MAX_CACHE_MAX_ENTRIES as i64)? {
            v.cache_max_entries = n as usize;
        }
        if let Some(n) = ranged(self, "cacheTtlSeconds", 1, MAX_CACHE_TTL_SECONDS)? {
            v.cache_ttl_seconds = n;
        }
        Ok(Some(v))
    }
}

/// RFC 9110 token characters: what a header (or, here, a query parameter) name may be.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) const SPEC: &str = r#"
[listenerConfig]
  host = "0.0.0.0"
  httpsPort = 9095
  keyStorePath = "${mgw-runtime.home}/runtime/bre/security/ballerinaKeystore.p12"
  keyStorePassword = "ballerina"

[b7a.users]
  [b7a.users.admin]
    password = "d033e22ae348aeb5660fc2140aec35850c4da997"
  [b7a.users.prometheus]
    password = "@sha256:{5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8}"
    scopes = "observability"

[apikey.tokenConfigs]
  issuer = "https://localhost:9095/apikey"
  audience = "http://org.wso2.apimgt/gateway"
  certificateAlias = "ballerina"
  validateAllowedAPIs = false

[apikey.issuer]
  [apikey.issuer.tokenConfig]
    enabled = true
    keyStorePath = "${mgw-runtime.home}/runtime/bre/security/ballerinaKeystore.p12"
    keyStorePassword = "${KS_PASS}"
    issuer = "https://localhost:9095/apikey"
    certificateAlias = "ballerina"
    validityTime = -1
  [[apikey.issuer.api]]
    name = "Swagger Petstore New"
    versions = "1.0.0, v1, v2"
  [[apikey.issuer.api]]
    name = "MyAPI"
    versions = "*"

[analytics]
  enable = false
[throttlingConfig]
  enabledGlobalTMEventPublishing = false
"#;

    fn vars(name: &str) -> Option<String> {
        (name == "KS_PASS").then(|| "from-env".to_string())
    }

    pub(super) fn parse(text: &str) -> Result<Config, ConfigError> {
        let env = Environment {
            runtime_home: PathBuf::from("/opt/mgw"),
            var: &vars,
        };
        Config::parse(text, "test.conf", Path::new("/etc/sts"), &env)
    }

    #[test]
    fn spec_example_parses() {
        let c = parse(SPEC).unwrap();
        assert_eq!(c.listener.https_port, 9095);
        assert_eq!(
            c.listener.key_store_path,
            PathBuf::from("/opt/mgw/runtime/bre/security/ballerinaKeystore.p12")
        );
        assert_eq!(c.issuer.key_store_password.expose(), "from-env");
        assert_eq!(c.issuer.validity_time, -1);
        assert_eq!(c.listener.certificate_alias, "ballerina");
        assert_eq!(
            c.issuer.audience.as_deref(),
            Some("http://org.wso2.apimgt/gateway")
        );
        assert_eq!(
            c.issuer.apis,
            vec![
                ApiEntry {
                    name: "Swagger Petstore New".into(),
                    versions: vec!["1.0.0".into(), "v1".into(), "v2".into()]
                },
                ApiEntry {
                    name: "MyAPI".into(),
                    versions: vec!["*".into()]
                },
            ]
        );
        assert_eq!(c.users.len(), 2);
        let prom = c.users.iter().find(|u| u.name == "prometheus").unwrap();
        assert_eq!(prom.scopes, vec!["observability".to_string()]);
        assert!(c.validation.certificate_alias.is_some());
        assert_eq!(c.limits, Limits::default());
        assert!(c.warnings.iter().any(|w| w.contains("[analytics]")));
        assert!(c.warnings.iter().any(|w| w.contains("[throttlingConfig]")));
    }

    #[test]
    fn relative_paths_resolve_against_config_dir() {
        let text = SPEC.replace(
            "${mgw-runtime.home}/runtime/bre/security/ballerinaKeystore.p12",
            "security/ks.p12",
        );
        let c = parse(&text).unwrap();
        assert_eq!(
            c.issuer.key_store_path,
            PathBuf::from("/etc/sts/security/ks.p12")
        );
    }

    #[test]
    fn wrong_type_names_file_and_key() {
        let text = SPEC.replace("validityTime = -1", "validityTime = \"soon\"");
        let e = parse(&text).unwrap_err();
        assert_eq!(
            e.to_string(),
            "test.conf: apikey.issuer.tokenConfig.validityTime: expected an integer, found a string"
        );
    }

    #[test]
    fn missing_required_key_is_named() {
        let text = SPEC.replace("name = \"MyAPI\"", "");
        let e = parse(&text).unwrap_err();
        assert_eq!(e.key, "apikey.issuer.api[1].name");
        assert!(e.message.contains("missing"));
    }

    #[test]
    fn missing_env_var_is_named_and_secret_not_leaked() {
        let text = SPEC.replace("${KS_PASS}", "${NOPE_NOT_SET}");
        let e = parse(&text).unwrap_err();
        assert_eq!(e.key, "apikey.issuer.tokenConfig.keyStorePassword");
        assert!(e.message.contains("NOPE_NOT_SET"));
        let e = parse(&SPEC.replace("${KS_PASS}", "${KS_PASS")).unwrap_err();
        assert!(e.message.contains("unterminated"));
    }

    #[test]
    fn bad_port_and_bad_password_format() {
        let e = parse(&SPEC.replace("9095", "70000")).unwrap_err();
        assert_eq!(e.key, "listenerConfig.httpsPort");
        let e =
            parse(&SPEC.replace("d033e22ae348aeb5660fc2140aec35850c4da997", "admin")).unwrap_err();
        assert_eq!(e.key, "b7a.users.admin.password");
        assert!(!e.to_string().contains("admin\""), "{e}");
    }

    #[test]
    fn signer_choice() {
        assert_eq!(parse(SPEC).unwrap().issuer.signer, SignerKind::Rsa);
        let with = |v: &str| {
            SPEC.replace(
                "validityTime = -1",
                &format!("validityTime = -1\nsigner = {v}"),
            )
        };
        assert_eq!(
            parse(&with("\"provider\"")).unwrap().issuer.signer,
            SignerKind::Provider
        );
        let e = parse(&with("\"fast\"")).unwrap_err();
        assert_eq!(e.key, "apikey.issuer.tokenConfig.signer");
    }

    #[test]
    fn pem_files_replace_the_keystore() {
        let keystore = "    keyStorePath = \"${mgw-runtime.home}/runtime/bre/security/ballerinaKeystore.p12\"\n    keyStorePassword = \"${KS_PASS}\"\n";
        assert!(SPEC.contains(keystore));
        let with = |files: &str| parse(&SPEC.replace(keystore, files));
        let c = with("    certFile = \"tls/fullchain.pem\"\n    keyFile = \"/k/privkey.pem\"\n")
            .unwrap();
        assert_eq!(
            c.issuer.pem,
            Some(PemFiles {
                cert_file: "/etc/sts/tls/fullchain.pem".into(),
                key_file: "/k/privkey.pem".into(),
            })
        );
        assert_eq!(c.listener.pem, None);
        let key_of = |files: &str| with(files).unwrap_err().key;
        assert_eq!(
            key_of("    certFile = \"c.pem\"\n"),
            "apikey.issuer.tokenConfig.keyFile"
        );
        assert_eq!(
            key_of("    keyFile = \"k.pem\"\n"),
            "apikey.issuer.tokenConfig.certFile"
        );
        // Both a keystore and PEM files: which key is used must be plain.
        assert_eq!(
            key_of(&format!(
                "{keystore}    certFile = \"c\"\n    keyFile = \"k\"\n"
            )),
            "apikey.issuer.tokenConfig.keyStorePath"
        );
        // A verification key cannot default to a keystore the issuer does not have.
        let text = SPEC.replace(keystore, "    certFile = \"c\"\n    keyFile = \"k\"\n")
            + "[[apikey.verificationKeys]]\n  certificateAlias = \"old\"\n";
        let e = parse(&text).unwrap_err();
        assert_eq!(e.key, "apikey.verificationKeys[0].keyStorePath");
    }

    #[test]
    fn redis_store_keys_checked_at_and_past_edges() {
        let with = |keys: &str| {
            parse(&format!(
                "{SPEC}\n[apikey.revocation]\nfile = \"s\"\nstore = \"redis\"\n{keys}\n"
            ))
        };
        assert_eq!(parse(SPEC).unwrap().revocation_redis, None);
        let c = with("redisUrl = \"redis://:${KS_PASS}@h:6379/0\"").unwrap();
        let r = c.revocation_redis.unwrap();
        assert_eq!(r.url.expose(), "redis://:from-env@h:6379/0");
        assert_eq!(r.key_prefix, REDIS_KEY_PREFIX);
        assert_eq!(r.min_replicas, 0);
        assert_eq!(r.timeout, Duration::from_millis(REDIS_TIMEOUT_MS as u64));
        assert_eq!(
            r.connect_timeout,
            Duration::from_millis(REDIS_CONNECT_TIMEOUT_MS as u64)
        );
        assert_eq!(with("").unwrap_err().key, "apikey.revocation.redisUrl");
        let e = with("redisUrl = \"http://:pw@h\"").unwrap_err();
        assert!(!e.to_string().contains("pw"), "{e}");
        let tls = with("redisUrl = \"rediss://:pw@h\"\nredisCaFile = \"ca.pem\"").unwrap();
        assert_eq!(
            tls.revocation_redis.unwrap().ca_file,
            Some(PathBuf::from("/etc/sts/ca.pem"))
        );
        let e = with("redisUrl = \"rediss://:pw@h/0#insecure\"").unwrap_err();
        assert!(e.message.contains("fragment"), "{e}");
        assert!(!e.to_string().contains("pw"), "{e}");
        let e = with("redisUrl = \"redis://h\"\nredisCaFile = \"ca.pem\"").unwrap_err();
        assert_eq!(e.key, "apikey.revocation.redisCaFile");
        let e = parse(&format!(
            "{SPEC}\n[apikey.revocation]\nfile = \"s\"\nstore = \"etcd\"\n"
        ))
        .unwrap_err();
        assert_eq!(e.key, "apikey.revocation.store");
        let url = "redisUrl = \"redis://h\"\n";
        let prefix = |p: &str| with(&format!("{url}keyPrefix = \"{p}\""));
        let at = "p".repeat(MAX_REDIS_KEY_PREFIX_BYTES);
        assert_eq!(
            prefix(&at).unwrap().revocation_redis.unwrap().key_prefix,
            at
        );
        assert!(prefix(&format!("{at}p")).is_err());
        assert!(prefix("a*").is_err(), "glob characters would widen SCAN");
        assert_eq!(prefix("").unwrap().revocation_redis.unwrap().key_prefix, "");
        let n = |k: &str, v: i64| with(&format!("{url}{k} = {v}"));
        assert_eq!(
            n("minReplicas", MAX_MIN_REPLICAS)
                .unwrap()
                .revocation_redis
                .unwrap()
                .min_replicas,
            MAX_MIN_REPLICAS as u32
        );
        assert!(n("minReplicas", MAX_MIN_REPLICAS + 1).is_err());
        assert!(n("minReplicas", -1).is_err());
        for k in ["timeoutMs", "connectTimeoutMs"] {
            assert!(n(k, 1).is_ok() && n(k, MAX_REDIS_TIMEOUT_MS).is_ok());
            assert_eq!(n(k, 0).unwrap_err().key, format!("apikey.revocation.{k}"));
            assert!(n(k, MAX_REDIS_TIMEOUT_MS + 1).is_err());
        }
        assert!(with(url)
            .unwrap()
            .warnings
            .iter()
            .all(|w| !w.contains("revocation")));
    }

    #[test]
    fn revocation_file_resolves_relative() {
        assert_eq!(parse(SPEC).unwrap().revocation_file, None);
        let c = parse(&format!(
            "{SPEC}\n[apikey.revocation]\nfile = \"revoked.log\"\n"
        ))
        .unwrap();
        assert_eq!(
            c.revocation_file,
            Some(PathBuf::from("/etc/sts/revoked.log"))
        );
        assert_eq!(
            c.revocation_file_relative,
            Some(PathBuf::from("revoked.log"))
        );
        let c = parse(&format!(
            "{SPEC}\n[apikey.revocation]\nfile = \"/var/lib/r.log\"\n"
        ))
        .unwrap();
        assert_eq!(c.revocation_file_relative, None);
        let e = parse(&format!("{SPEC}\n[apikey.revocation]\nfile = 3\n")).unwrap_err();
        assert_eq!(e.key, "apikey.revocation.file");
        let at = |n: i64| {
            parse(&format!(
                "{SPEC}\n[apikey.revocation]\nfile = \"r\"\ncompactEvery = {n}\n"
            ))
        };
        assert_eq!(at(1).unwrap().revocation_compact_every, 1);
        let per_user = |n: i64| {
            parse(&format!(
                "{SPEC}\n[apikey.revocation]\nfile = \"r\"\nmaxPerUser = {n}\n"
            ))
        };
        assert_eq!(
            parse(&format!("{SPEC}\n[apikey.revocation]\nfile = \"r\"\n"))
                .unwrap()
                .revocation_max_per_user,
            MAX_PER_USER
        );
        assert_eq!(per_user(1).unwrap().revocation_max_per_user, 1);
        assert_eq!(
            per_user(1_000_000).unwrap().revocation_max_per_user,
            1_000_000
        );
        assert_eq!(per_user(0).unwrap_err().key, "apikey.revocation.maxPerUser");
        assert_eq!(
            per_user(1_000_001).unwrap_err().key,
            "apikey.revocation.maxPerUser"
        );
        assert_eq!(at(1_000_000).unwrap().revocation_compact_every, 1_000_000);
        assert_eq!(at(0).unwrap_err().key, "apikey.revocation.compactEvery");
        assert_eq!(
            at(1_000_001).unwrap_err().key,
            "apikey.revocation.compactEvery"
        );
    }

    #[test]
    fn invalid_toml_is_one_line() {
        let e = parse("[listenerConfig\nhost=").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("test.conf: not valid TOML at line 1"),
            "{e}"
        );
        assert!(!e.to_string().contains('\n'));
    }

    #[test]
    fn toml_syntax_errors_never_quote_the_line() {
        let cases = [
            // (text, key path, line)
            (
                "[listenerConfig]\nhost = \"h\"\nkeyStorePassword = \"Sup3rS3cret\n",
                "listenerConfig.keyStorePassword",
                3,
            ),
            (
                "[apikey.issuer.tokenConfig]\nkeyStorePassword = 'Sup3rS3cret\n",
                "apikey.issuer.tokenConfig.keyStorePassword",
                2,
            ),
            (
                "[b7a.users.admin]\npassword = Sup3rS3cret\n",
                "b7a.users.admin.password",
                2,
            ),
            ("password = \"x\" Sup3rS3cret\n", "password", 1),
            (
                "[[apikey.issuer.api]]\nname = \"\"\"Sup3rS3cret",
                "apikey.issuer.api.name",
                2,
            ),
            ("Sup3rS3cret\n", "", 1),
            ("[a]\nSup3r S3cret = 1 2\n", "a", 2),
        ];
        for (text, key, line) in cases {
            let e = parse(text).unwrap_err();
            let shown = e.to_string();
            assert!(!shown.contains("Sup3r"), "{text:?} -> {shown}");
            assert_eq!(e.key, key, "{text:?} -> {shown}");
            assert!(
                e.message
                    .starts_with(&format!("not valid TOML at line {line}, column ")),
                "{text:?} -> {shown}"
            );
        }
    }

    #[test]
    fn server_limits_checked_at_and_past_edges() {
        let c = parse(&format!(
            "{SPEC}\n[server]\nworkers = 1024\nmaxBodyBytes = 1\n"
        ))
        .unwrap();
        assert_eq!(c.limits.workers, 1024);
        assert_eq!(c.limits.max_body_bytes, 1);
        let e = parse(&format!("{SPEC}\n[server]\nworkers = 1025\n")).unwrap_err();
        assert_eq!(e.key, "server.workers");
        let e = parse(&format!("{SPEC}\n[server]\nmaxBodyBytes = 0\n")).unwrap_err();
        assert_eq!(e.key, "server.maxBodyBytes");
        let c = parse(&format!("{SPEC}\n[server]\nfancy = 1\n")).unwrap();
        assert!(c.warnings.iter().any(|w| w.contains("[server.fancy]")));
        assert_eq!(
            parse(SPEC).unwrap().limits.failed_login_delay,
            FAILED_LOGIN_DELAY
        );
        let delay = |ms: i64| parse(&format!("{SPEC}\n[server]\nfailedLoginDelayMs = {ms}\n"));
        assert_eq!(
            delay(10_000).unwrap().limits.failed_login_delay,
            Duration::from_secs(10)
        );
        assert_eq!(
            delay(1).unwrap().limits.failed_login_delay,
            Duration::from_millis(1)
        );
        for bad in [0, 10_001, -1] {
            assert_eq!(delay(bad).unwrap_err().key, "server.failedLoginDelayMs");
        }
    }

    /// The warnings that name `needle`.
    fn warned<'c>(c: &'c Config, needle: &str) -> Vec<&'c String> {
        c.warnings.iter().filter(|w| w.contains(needle)).collect()
    }

    #[test]
    fn every_key_the_original_reads_has_its_default() {
        for text in [
            "",
            // The distribution's own issuer section: no keystore keys.
            "[apikey.issuer.tokenConfig]\nenabled = true\nissuer = \"https://localhost:9095/apikey\"\n\
             certificateAlias = \"ballerina\"\nvalidityTime = -1\n",
            "[listenerConfig]\n[apikey.issuer]\n[apikey.tokenConfigs]\n",
        ] {
            let c = parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            let default_ks = PathBuf::from("/opt/mgw/runtime/bre/security/ballerinaKeystore.p12");
            assert_eq!(c.listener.host, "0.0.0.0");
            assert_eq!(c.listener.https_port, 9095);
            assert_eq!(c.listener.key_store_path, default_ks);
            assert_eq!(c.listener.key_store_password.expose(), "ballerina");
            assert_eq!(c.listener.certificate_alias, "ballerina");
            assert!(c.issuer.enabled);
            assert_eq!(c.issuer.key_store_path, default_ks);
            assert_eq!(c.issuer.key_store_password.expose(), "ballerina");
            assert_eq!(c.issuer.issuer, "https://localhost:9095/apikey");
            assert_eq!(c.issuer.certificate_alias, "ballerina");
            assert_eq!(c.issuer.validity_time, -1);
            assert!(!c.validation.validate_allowed_apis);
            assert_eq!(c.limits, Limits::default());
            // Loud about each public default, once.
            for key in [
                "listenerConfig.keyStorePath",
                "listenerConfig.keyStorePassword",
                "apikey.issuer.tokenConfig.keyStorePath",
                "apikey.issuer.tokenConfig.keyStorePassword",
            ] {
                assert_eq!(warned(&c, key).len(), 1, "{key}: {:?}", c.warnings);
            }
            assert!(warned(&c, "is public").len() == 2, "{:?}", c.warnings);
        }
    }

    #[test]
    fn set_keystore_keys_are_used_and_not_warned_about() {
        let c = parse(SPEC).unwrap();
        assert!(warned(&c, "is not set").is_empty(), "{:?}", c.warnings);
        assert!(!c.warnings.iter().any(|w| w.contains("from-env")));
        let text = SPEC.replace("enabled = true", "enabled = false");
        assert!(!parse(&text).unwrap().issuer.enabled);
    }

    #[test]
    fn unused_listener_keys_are_each_named_once() {
        let text = SPEC.replace(
            "httpsPort = 9095",
            "httpsPort = 9095\n  httpPort = 9090\n  trustStorePath = \"t.p12\"\n  \
             trustStorePassword = \"ballerina\"\n  tokenListenerPort = 9096",
        );
        let c = parse(&text).unwrap();
        for key in [
            "[listenerConfig.httpPort]",
            "[listenerConfig.trustStorePath]",
            "[listenerConfig.trustStorePassword]",
            "[listenerConfig.tokenListenerPort]",
        ] {
            assert_eq!(warned(&c, key).len(), 1, "{key}: {:?}", c.warnings);
        }
        for used in ["host]", "httpsPort]", "keyStorePath]", "keyStorePassword]"] {
            assert!(warned(&c, used).is_empty(), "{used}: {:?}", c.warnings);
        }
    }

    #[test]
    fn the_originals_server_keys_are_not_ours() {
        let c = parse(&format!(
            "{SPEC}\n[server]\ntimestampSkew = 5000\nheader = \"X-JWT-Assertion\"\n"
        ))
        .unwrap();
        assert_eq!(c.limits, Limits::default());
        assert_eq!(warned(&c, "[server.timestampSkew]").len(), 1);
        assert_eq!(warned(&c, "[server.header]").len(), 1);
        assert!(warned(&c, "both").is_empty(), "{:?}", c.warnings);
    }

    /// (the original's listenerConfig key, our [server] key, the hard cap, the limit it sets).
    type SizeLimit = (&'static str, &'static str, usize, fn(&Limits) -> usize);
    const SIZE_LIMITS: [SizeLimit; 3] = [
        ("maxUriLength", "maxUriBytes", MAX_URI_BYTES_CAP, |l| {
            l.max_uri_bytes
        }),
        (
            "maxHeaderSize",
            "maxHeaderBytes",
            MAX_HEADER_BYTES_CAP,
            |l| l.max_header_bytes,
        ),
        (
            "maxEntityBodySize",
            "maxBodyBytes",
            MAX_BODY_BYTES_CAP,
            |l| l.max_body_bytes,
        ),
    ];

    #[test]
    fn listener_size_limits_map_to_ours_at_and_past_their_edges() {
        for (key, _, cap, get) in SIZE_LIMITS {
            let with = |v: i64| {
                parse(&SPEC.replace(
                    "httpsPort = 9095",
                    &format!("httpsPort = 9095\n  {key} = {v}"),
                ))
            };
            let path = format!("listenerConfig.{key}");
            for n in [1, 4096, cap as i64] {
                let c = with(n).unwrap();
                assert_eq!(get(&c.limits), n as usize, "{key} = {n}");
                assert!(warned(&c, &path).is_empty(), "{:?}", c.warnings);
            }
            // No limit, or more than we allow: the hard cap, said in the log.
            for n in [-1, cap as i64 + 1, i64::MAX] {
                let c = with(n).unwrap();
                assert_eq!(get(&c.limits), cap, "{key} = {n}");
                let w = warned(&c, &path);
                assert_eq!(w.len(), 1, "{key} = {n}: {:?}", c.warnings);
                assert!(w[0].contains(&format!("capped at {cap} bytes")), "{}", w[0]);
            }
            for n in [0, -2, i64::MIN] {
                assert_eq!(with(n).unwrap_err().key, path, "{key} = {n}");
            }
            let e = parse(&SPEC.replace(
                "httpsPort = 9095",
                &format!("httpsPort = 9095\n  {key} = \"big\""),
            ))
            .unwrap_err();
            assert_eq!(e.key, path);
        }
    }

    #[test]
    fn server_limits_win_over_the_listeners_with_a_warning() {
        for (key, ours, _, get) in SIZE_LIMITS {
            let text = SPEC.replace(
                "httpsPort = 9095",
                &format!("httpsPort = 9095\n  {key} = 4000"),
            );
            let c = parse(&format!("{text}\n[server]\n{ours} = 3000\n")).unwrap();
            assert_eq!(get(&c.limits), 3000, "{ours}");
            let w = warned(&c, &format!("server.{ours} applies"));
            assert_eq!(w.len(), 1, "{:?}", c.warnings);
            assert!(w[0].contains(&format!("listenerConfig.{key}")), "{}", w[0]);
            // [server] alone: no such warning.
            let c = parse(&format!("{SPEC}\n[server]\n{ours} = 3000\n")).unwrap();
            assert_eq!(get(&c.limits), 3000);
            assert!(warned(&c, "applies").is_empty(), "{:?}", c.warnings);
        }
    }

    #[test]
    fn server_size_limits_share_the_hard_caps() {
        for (_, ours, cap, get) in SIZE_LIMITS {
            let at = |n: u64| parse(&format!("{SPEC}\n[server]\n{ours} = {n}\n"));
            assert_eq!(get(&at(cap as u64).unwrap().limits), cap);
            assert_eq!(
                at(cap as u64 + 1).unwrap_err().key,
                format!("server.{ours}")
            );
        }
    }

    #[test]
    fn empty_versions_rejected_missing_versions_mean_all() {
        let e = parse(&SPEC.replace("\"1.0.0, v1, v2\"", "\" , \"")).unwrap_err();
        assert_eq!(e.key, "apikey.issuer.api[0].versions");
        let c = parse(&SPEC.replace("versions = \"*\"", "")).unwrap();
        assert_eq!(c.issuer.apis[1].versions, vec!["*".to_string()]);
    }
}

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
            let key = "server.trustedProxies";
            let list = match t.get("trustedProxies") {
                None => Vec::new(),
                Some(Value::Array(a)) => a.clone(),
                Some(other) => {
                    return Err(self.error(
                        key,
                        format!(
                            "expected an array of CIDR strings, found {}",
                            type_name(other)
                        ),
                    ))
                }
            };
            if list.len() > MAX_TRUSTED_PROXIES {
                return Err(self.error(
                    key,
                    format!(
                        "{} entries, more than the limit of {MAX_TRUSTED_PROXIES}",
                        list.len()
                    ),
                ));
            }
            let mut blocks = Vec::with_capacity(list.len());
            for (i, v) in list.iter().enumerate() {
                let at = format!("{key}[{i}]");
                let Value::String(s) = v else {
                    return Err(
                        self.error(&at, format!("expected a string, found {}", type_name(v)))
                    );
                };
                let cidr: Cidr = s
                    .trim()
                    .parse()
                    .map_err(|e| self.error(&at, format!("{s:?}: {e}")))?;
                blocks.push(cidr);
            }
            lb.trusted_proxies = TrustedProxies::new(blocks);
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
mod load_balancer_tests {
    use super::tests::{parse, SPEC};
    use super::*;

    #[test]
    fn defaults_trust_nobody() {
        let c = parse(SPEC).unwrap();
        assert_eq!(c.load_balancer, LoadBalancerConfig::default());
        assert!(c.load_balancer.trusted_proxies.is_empty());
    }

    #[test]
    fn trusted_proxies_and_proxy_protocol() {
        let c = parse(&format!(
            "{}\n[server]\ntrustedProxies = [\"10.0.0.0/8\", \"2001:db8::/32\", \"127.0.0.1\"]\n\
             [validator]\nproxyProtocol = true\n",
            SPEC.replace("httpsPort = 9095", "httpsPort = 9095\nproxyProtocol = true")
        ))
        .unwrap();
        let lb = &c.load_balancer;
        assert!(lb.https_proxy_protocol && lb.plain_proxy_protocol);
        assert!(lb.trusted_proxies.contains("10.2.3.4".parse().unwrap()));
        assert!(lb.trusted_proxies.contains("2001:db8::1".parse().unwrap()));
        assert!(lb.trusted_proxies.contains("127.0.0.1".parse().unwrap()));
        assert!(!lb.trusted_proxies.contains("127.0.0.2".parse().unwrap()));
        assert!(!c
            .warnings
            .iter()
            .any(|w| w.contains("trustedProxies") || w.contains("proxyProtocol")));
    }

    #[test]
    fn malformed_entries_are_named() {
        let with = |list: &str| parse(&format!("{SPEC}\n[server]\ntrustedProxies = {list}\n"));
        let e = with("[\"10.0.0.0/8\", \"10.0.0.0/33\"]").unwrap_err();
        assert_eq!(e.key, "server.trustedProxies[1]");
        assert!(e.message.contains("\"10.0.0.0/33\""), "{e}");
        assert_eq!(with("[3]").unwrap_err().key, "server.trustedProxies[0]");
        assert_eq!(
            with("\"10.0.0.0/8\"").unwrap_err().key,
            "server.trustedProxies"
        );
        let at = |n: usize| with(&format!("[{}]", vec!["\"10.0.0.1\""; n].join(",")));
        assert!(at(MAX_TRUSTED_PROXIES).is_ok());
        assert_eq!(
            at(MAX_TRUSTED_PROXIES + 1).unwrap_err().key,
            "server.trustedProxies"
        );
    }

    #[test]
    fn proxy_protocol_needs_trusted_proxies() {
        let e = parse(&SPEC.replace("httpsPort = 9095", "httpsPort = 9095\nproxyProtocol = true"))
            .unwrap_err();
        assert_eq!(e.key, "listenerConfig.proxyProtocol");
        let e = parse(&format!("{SPEC}\n[validator]\nproxyProtocol = true\n")).unwrap_err();
        assert_eq!(e.key, "validator.proxyProtocol");
        let e = parse(&format!("{SPEC}\n[validator]\nproxyProtocol = 1\n")).unwrap_err();
        assert_eq!(e.key, "validator.proxyProtocol");
    }
}
