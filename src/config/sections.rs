//! The sections of `micro-gw.conf` that configure issuing, the listener, revocation, users and
//! the server's limits, each read into its plain-data struct.

use super::*;

impl Reader<'_> {
    pub(super) fn issuer(&mut self, root: &Table) -> Result<IssuerConfig, ConfigError> {
        let p = "apikey.issuer.tokenConfig";
        if let Some(apikey) = self.table(root, "apikey")? {
            self.warn_unknown(
                apikey,
                "apikey",
                &["issuer", "tokenConfigs", "verificationKeys", "revocation"],
            );
        }
        if let Some(issuer) = self.table(root, "apikey.issuer")? {
            self.warn_unknown(issuer, "apikey.issuer", &["tokenConfig", "api", "scopeApi"]);
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
                "algorithm",
                "certFile",
                "keyFile",
                "publicBaseUrl",
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
            scope_apis: self.scope_apis(root)?,
            signer,
            algorithm: self.algorithm(t, p)?,
            public_base_url: self.public_base_url(t, p)?,
        })
    }

    /// An http(s) URL with a host and no user info, query or fragment; a trailing `/` is dropped.
    /// The URL is published (OAuth metadata), so a `user:password@` in it is refused unquoted.
    fn public_base_url(&mut self, t: &Table, p: &str) -> Result<Option<String>, ConfigError> {
        let Some(url) = self.string(t, p, "publicBaseUrl")? else {
            return Ok(None);
        };
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        let ok = rest.is_some_and(|r| {
            !r.is_empty()
                && !r.starts_with('/')
                && r.bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'?' && b != b'#')
        });
        if rest.is_some_and(|r| r.split('/').next().is_some_and(|host| host.contains('@'))) {
            return Err(self.error(
                &join(p, "publicBaseUrl"),
                "must not hold a user name or password (it is published)",
            ));
        }
        if !ok {
            return Err(self.error(
                &join(p, "publicBaseUrl"),
                format!("{url:?} is not an http(s) URL with a host and no query or fragment"),
            ));
        }
        Ok(Some(url.trim_end_matches('/').to_string()))
    }

    /// An optional `algorithm` key: one of the JOSE names of `Algorithm`, exactly.
    pub(super) fn algorithm(
        &mut self,
        t: &Table,
        p: &str,
    ) -> Result<Option<Algorithm>, ConfigError> {
        let Some(name) = self.string(t, p, "algorithm")? else {
            return Ok(None);
        };
        match Algorithm::from_name(&name) {
            Some(a) => Ok(Some(a)),
            None => {
                let names: Vec<&str> = Algorithm::ALL.iter().map(|a| a.name()).collect();
                Err(self.error(
                    &join(p, "algorithm"),
                    format!(
                        "{name:?} is not an algorithm; use one of {}",
                        names.join(", ")
                    ),
                ))
            }
        }
    }

    pub(super) fn apis(&mut self, root: &Table) -> Result<Vec<ApiEntry>, ConfigError> {
        let Some(issuer) = self.table(root, "apikey.issuer")? else {
            return Ok(Vec::new());
        };
        let mut apis = Vec::new();
        for (p, t) in self.table_array(issuer, "apikey.issuer", "api")? {
            self.warn_unknown(t, &p, &["name", "versions"]);
            apis.push(self.api_entry(t, &p)?);
        }
        Ok(apis)
    }

    pub(super) fn listener(
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

    pub(super) fn revocation(
        &mut self,
        root: &Table,
    ) -> Result<(Option<PathBuf>, usize, usize), ConfigError> {
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
    pub(super) fn pem_files(&self, t: &Table, p: &str) -> Result<Option<PemFiles>, ConfigError> {
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
    pub(super) fn keystore(
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
    pub(super) fn relative_revocation_file(
        &self,
        root: &Table,
    ) -> Result<Option<PathBuf>, ConfigError> {
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
    pub(super) fn redis_url(&self, t: &Table, p: &str, key: &str) -> Result<Secret, ConfigError> {
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
        // An `@` past the authority is a password holding an unescaped `/` or `?`: the URL would
        // be read with another host, and its password would not be found to redact.
        let authority = url_authority(u);
        let after = u
            .split_once("://")
            .map_or("", |(_, rest)| &rest[authority.len()..]);
        if after.contains('@') {
            return Err(self.error(
                &join(p, key),
                "a '/' or '?' in the user name or password must be percent-encoded (%2F, %3F)",
            ));
        }
        // The Redis client sends a non-ASCII host name to DNS percent-encoded (a `redis://` host
        // is opaque to its URL parser, never IDNA-converted), where it can only fail.
        let host = authority.rsplit('@').next().unwrap_or(authority);
        if !host.is_ascii() {
            return Err(self.error(
                &join(p, key),
                "the host name must be ASCII: write an internationalised name in its xn-- form",
            ));
        }
        Ok(url)
    }

    /// `[server] throttleStore = "redis"`: failure counts shared through Redis, at
    /// `[server] throttleRedisUrl`, else the revocation store's `redisUrl`; prefix and timeouts
    /// as `[apikey.revocation]` sets them (or their defaults).
    pub(super) fn throttle_store(
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
    pub(super) fn redis_store(&mut self, root: &Table) -> Result<Option<RedisConfig>, ConfigError> {
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

    pub(super) fn validation(&mut self, root: &Table) -> Result<ValidationConfig, ConfigError> {
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

    pub(super) fn users(
        &mut self,
        root: &Table,
    ) -> Result<(Vec<User>, std::collections::BTreeMap<String, UserGrant>), ConfigError> {
        if let Some(b7a) = self.table(root, "b7a")? {
            self.warn_unknown(b7a, "b7a", &["users"]);
        }
        let mut grants = std::collections::BTreeMap::new();
        let Some(t) = self.table(root, "b7a.users")? else {
            return Ok((Vec::new(), grants));
        };
        let mut users = Vec::with_capacity(t.len());
        for name in t.keys() {
            let p = format!("b7a.users.{name}");
            let u = self
                .table(root, &p)?
                .ok_or_else(|| self.error(&p, "expected a table"))?;
            self.warn_unknown(
                u,
                &p,
                &[
                    "password",
                    "scopes",
                    "apis",
                    "permittedIP",
                    "permittedReferer",
                ],
            );
            let grant = self.user_grant(u, &p)?;
            if grant != UserGrant::default() {
                grants.insert(name.clone(), grant);
            }
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
        Ok((users, grants))
    }

    /// One of the original's request size limits, `listenerConfig.<key>`, in bytes. Its `-1`
    /// ("no limit") and anything above `cap` become `cap`, with a warning: every buffer stays
    /// bounded.
    pub(super) fn listener_limit(
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
    pub(super) fn limits(&mut self, root: &Table) -> Result<Limits, ConfigError> {
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

/// The authority of a URL (`user:password@host:port`): from `://` to the first `/`, `?` or `#`;
/// empty without a scheme. The one definition the config check, the logged (redacted) form and
/// the scrubbing of client errors share, so all agree on where a password ends.
pub fn url_authority(url: &str) -> &str {
    let Some((_, rest)) = url.split_once("://") else {
        return "";
    };
    &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())]
}
