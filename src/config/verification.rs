//! The sections that configure gateways: `[[apikey.verificationKeys]]` and `[validator]`.

use super::*;

/// `[[apikey.verificationKeys]]` (key rotation) and `[validator]`.
impl Reader<'_> {
    pub(super) fn verification_keys(
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
                &[
                    "certificateAlias",
                    "keyStorePath",
                    "keyStorePassword",
                    "algorithm",
                ],
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
                algorithm: self.algorithm(t, &p)?,
            });
        }
        Ok(keys)
    }

    /// A list of names: an array of strings or one comma-separated string.
    pub(super) fn names(
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

    pub(super) fn header_name(
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

    pub(super) fn validator(
        &mut self,
        root: &Table,
    ) -> Result<Option<ValidatorConfig>, ConfigError> {
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
                "gatewayAddresses",
                "clientIpHeader",
                "refererHeader",
                "productionOnly",
                "productionOnlyApis",
                "acceptBearer",
                "accessLog",
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
        if let Some(b) = self.boolean(t, p, "acceptBearer")? {
            v.accept_bearer = b;
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
        if let Some(name) = self.string(t, p, "accessLog")? {
            v.access_log = AccessLog::NAMES
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, a)| *a)
                .ok_or_else(|| {
                    self.error(
                        &join(p, "accessLog"),
                        format!("{name:?} is not an access log setting; use \"all\", \"refusals\" or \"off\""),
                    )
                })?;
        }
        self.validator_privilege(t, &mut v)?;
        Ok(Some(v))
    }
}

/// RFC 9110 token characters: what a header (or, here, a query parameter) name may be.
pub(super) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
