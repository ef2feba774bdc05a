//! Least privilege: the APIs each user may get keys for (`[b7a.users.NAME] apis`,
//! `[[apikey.issuer.scopeApi]]`), a user's default `permittedIP` and `permittedReferer`, and the
//! `[validator]` keys that enforce restrictions and key types.

use super::*;
use crate::restriction::{PermittedIp, PermittedReferer};

/// Most entries in `[validator] productionOnlyApis`.
pub const MAX_PRODUCTION_ONLY_APIS: usize = 256;
/// Default `[validator] clientIpHeader`: nginx's usual name for the client address.
pub const DEFAULT_CLIENT_IP_HEADER: &str = "X-Real-IP";
/// Default `[validator] refererHeader`.
pub const DEFAULT_REFERER_HEADER: &str = "X-Original-Referer";

/// One `[[apikey.issuer.scopeApi]]` entry: users with `scope` may get keys for `api`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeApi {
    pub scope: String,
    pub api: ApiEntry,
}

/// What `[b7a.users.NAME]` says about the keys of that user, beyond the login.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserGrant {
    /// `apis`: empty when not set.
    pub apis: Vec<ApiEntry>,
    /// `permittedIP`: every key of the user carries it unless the request names its own.
    pub permitted_ip: Option<PermittedIp>,
    /// `permittedReferer`: as `permitted_ip`.
    pub permitted_referer: Option<PermittedReferer>,
}

impl Reader<'_> {
    /// The array at `t[key]` (config path `path`), empty when absent; `what` names the expected
    /// kind of array in the error.
    fn array<'t>(
        &self,
        t: &'t Table,
        path: &str,
        key: &str,
        what: &str,
    ) -> Result<&'t [Value], ConfigError> {
        match t.get(key) {
            None => Ok(&[]),
            Some(Value::Array(a)) => Ok(a),
            Some(other) => {
                Err(self.error(path, format!("expected {what}, found {}", type_name(other))))
            }
        }
    }

    /// The array of tables at `t[key]` (`[[prefix.key]]`); empty when absent.
    pub(super) fn table_array<'t>(
        &self,
        t: &'t Table,
        prefix: &str,
        key: &str,
    ) -> Result<Vec<(String, &'t Table)>, ConfigError> {
        let path = join(prefix, key);
        let list = self.array(t, &path, key, &format!("an array of tables ([[{path}]])"))?;
        list.iter()
            .enumerate()
            .map(|(i, v)| {
                let p = format!("{path}[{i}]");
                match v {
                    Value::Table(t) => Ok((p, t)),
                    _ => Err(self.error(&p, format!("expected a table, found {}", type_name(v)))),
                }
            })
            .collect()
    }

    /// `name` and `versions` of one API entry (`versions` defaults to `"*"`; one listing no
    /// version is an error).
    pub(super) fn api_entry(&self, t: &Table, p: &str) -> Result<ApiEntry, ConfigError> {
        let name = self.required_string(t, p, "name")?;
        let versions: Vec<String> = self
            .string(t, p, "versions")?
            .unwrap_or_else(|| "*".into())
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        if versions.is_empty() {
            return Err(self.error(
                &join(p, "versions"),
                "lists no version (use \"*\" for all versions)",
            ));
        }
        Ok(ApiEntry { name, versions })
    }

    /// `[[apikey.issuer.scopeApi]]`.
    pub(super) fn scope_apis(&mut self, root: &Table) -> Result<Vec<ScopeApi>, ConfigError> {
        let Some(issuer) = self.table(root, "apikey.issuer")? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for (p, t) in self.table_array(issuer, "apikey.issuer", "scopeApi")? {
            self.warn_unknown(t, &p, &["scope", "name", "versions"]);
            let scope = self.required_string(t, &p, "scope")?.trim().to_string();
            if scope.is_empty() {
                return Err(self.error(&join(&p, "scope"), "must not be empty"));
            }
            out.push(ScopeApi {
                scope,
                api: self.api_entry(t, &p)?,
            });
        }
        Ok(out)
    }

    /// The least-privilege keys of `[b7a.users.NAME]` (section `p`).
    pub(super) fn user_grant(&self, u: &Table, p: &str) -> Result<UserGrant, ConfigError> {
        let apis = self
            .table_array(u, p, "apis")?
            .into_iter()
            .map(|(ap, t)| self.api_entry(t, &ap))
            .collect::<Result<_, _>>()?;
        let restriction = |key: &str| self.string(u, p, key);
        let permitted_ip = restriction("permittedIP")?
            .map(|v| PermittedIp::parse(&v))
            .transpose()
            .map_err(|e| self.error(&join(p, "permittedIP"), e.to_string()))?;
        let permitted_referer = restriction("permittedReferer")?
            .map(|v| PermittedReferer::parse(&v))
            .transpose()
            .map_err(|e| self.error(&join(p, "permittedReferer"), e.to_string()))?;
        Ok(UserGrant {
            apis,
            permitted_ip,
            permitted_referer,
        })
    }

    /// `[validator]` `gatewayAddresses`, `clientIpHeader`, `refererHeader`, `productionOnly` and
    /// `productionOnlyApis`, into `v`.
    pub(super) fn validator_privilege(
        &self,
        t: &Table,
        v: &mut ValidatorConfig,
    ) -> Result<(), ConfigError> {
        let p = "validator";
        v.gateway_addresses = TrustedProxies::new(self.cidrs(t, p, "gatewayAddresses")?);
        if let Some(h) = self.header_name(t, p, "clientIpHeader")? {
            v.client_ip_header = h;
        }
        if let Some(h) = self.header_name(t, p, "refererHeader")? {
            v.referer_header = h;
        }
        v.production_only = self.boolean(t, p, "productionOnly")?.unwrap_or(false);
        let key = join(p, "productionOnlyApis");
        let list = self.array(t, &key, "productionOnlyApis", "an array of API names")?;
        if list.len() > MAX_PRODUCTION_ONLY_APIS {
            return Err(self.error(
                &key,
                format!(
                    "{} entries, more than the limit of {MAX_PRODUCTION_ONLY_APIS}",
                    list.len()
                ),
            ));
        }
        for (i, item) in list.iter().enumerate() {
            let at = format!("{key}[{i}]");
            let Value::String(s) = item else {
                return Err(self.error(
                    &at,
                    format!("expected an API name, found {}", type_name(item)),
                ));
            };
            let name = self.expand(s, &at)?;
            if name.trim().is_empty() {
                return Err(self.error(&at, "an API name must not be empty"));
            }
            v.production_only_apis.push(name.trim().to_string());
        }
        Ok(())
    }

    /// An array of CIDR strings at `t[key]`, at most `MAX_TRUSTED_PROXIES`.
    pub(super) fn cidrs(
        &self,
        t: &Table,
        prefix: &str,
        key: &str,
    ) -> Result<Vec<Cidr>, ConfigError> {
        let path = join(prefix, key);
        let list = self.array(t, &path, key, "an array of CIDR strings")?;
        if list.len() > MAX_TRUSTED_PROXIES {
            return Err(self.error(
                &path,
                format!(
                    "{} entries, more than the limit of {MAX_TRUSTED_PROXIES}",
                    list.len()
                ),
            ));
        }
        let mut blocks = Vec::with_capacity(list.len());
        for (i, v) in list.iter().enumerate() {
            let at = format!("{path}[{i}]");
            let Value::String(s) = v else {
                return Err(self.error(&at, format!("expected a string, found {}", type_name(v))));
            };
            let cidr: Cidr = s
                .trim()
                .parse()
                .map_err(|e| self.error(&at, format!("{s:?}: {e}")))?;
            blocks.push(cidr);
        }
        Ok(blocks)
    }
}
