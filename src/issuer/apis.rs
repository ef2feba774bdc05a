//! Which APIs a key covers: the user's list (its own `apis`, its scopes' `scopeApi` entries,
//! else the global `[[apikey.issuer.api]]` list), narrowed to the subset a request asks for.

use crate::config::{ApiEntry, ScopeApi, UserGrant};
use crate::jwt::AllowedApi;
use std::collections::BTreeMap;
use std::fmt;

/// An API a request asks a key for: a name and one version (`"*"`: every version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedApi {
    pub name: String,
    pub version: String,
}

/// The first API of a request that the user may not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub name: String,
    pub version: String,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "API {:?} version {:?} is not among the APIs this user may get keys for",
            self.name, self.version
        )
    }
}

impl std::error::Error for Refused {}

/// Every (name, version) pair of `apis`, in order: what a key's `allowedAPIs` lists.
pub fn expand(apis: &[ApiEntry]) -> Vec<AllowedApi> {
    apis.iter()
        .flat_map(|a| {
            a.versions.iter().map(|v| AllowedApi {
                name: a.name.clone(),
                version: v.clone(),
            })
        })
        .collect()
}

/// Exactly the `wanted` APIs (duplicates dropped), provided each is in `allowed`: its name
/// listed with that version or with `"*"`. A specific version under `"*"` yields that version
/// only; `"*"` itself needs `"*"`.
pub fn narrow(allowed: &[ApiEntry], wanted: &[WantedApi]) -> Result<Vec<AllowedApi>, Refused> {
    let mut out: Vec<AllowedApi> = Vec::with_capacity(wanted.len());
    for w in wanted {
        let ok = allowed
            .iter()
            .any(|a| a.name == w.name && a.versions.iter().any(|v| v == "*" || *v == w.version));
        if !ok {
            return Err(Refused {
                name: w.name.clone(),
                version: w.version.clone(),
            });
        }
        let api = AllowedApi {
            name: w.name.clone(),
            version: w.version.clone(),
        };
        if !out.contains(&api) {
            out.push(api);
        }
    }
    Ok(out)
}

/// The APIs each user may get keys for, fixed at startup (and at each reload).
#[derive(Debug, Clone, Default)]
pub struct Grants {
    /// `[[apikey.issuer.api]]`.
    pub global: Vec<ApiEntry>,
    /// `[[apikey.issuer.scopeApi]]`.
    pub by_scope: Vec<ScopeApi>,
    /// `[b7a.users.NAME]` apis and default restrictions.
    pub users: BTreeMap<String, UserGrant>,
}

impl Grants {
    /// The user's own `apis` followed by the `scopeApi` entries of its scopes; when both are
    /// empty, the global list (so configs without either behave as the original).
    pub fn apis_for(&self, user: &str, scopes: &[String]) -> Vec<ApiEntry> {
        let mut apis: Vec<ApiEntry> = self
            .users
            .get(user)
            .map(|g| g.apis.clone())
            .unwrap_or_default();
        apis.extend(
            self.by_scope
                .iter()
                .filter(|s| scopes.contains(&s.scope))
                .map(|s| s.api.clone()),
        );
        if apis.is_empty() {
            self.global.clone()
        } else {
            apis
        }
    }

    pub fn user(&self, user: &str) -> Option<&UserGrant> {
        self.users.get(user)
    }
}
