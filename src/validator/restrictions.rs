//! The least-privilege checks of `/validate`: a key's `permittedIP` and `permittedReferer`
//! against the client address and referer a trusted gateway reports, and its `keytype` against
//! `productionOnly` / `productionOnlyApis`.

use super::{ApiRef, Rejection, Rules, Validator};
use crate::client_addr::canonical;
use crate::http::Request;
use crate::restriction::{Claim, KeyType, PermittedIp, PermittedReferer};
use serde_json::Value;
use std::net::IpAddr;

/// What the gateway says about the client, from the headers of a trusted gateway only.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientFacts<'a> {
    /// The client address (`clientIpHeader`); None: not given, not an address, or not trusted.
    pub ip: Option<IpAddr>,
    /// The client's `Referer` (`refererHeader`); None: not given or not trusted.
    pub referer: Option<&'a str>,
}

impl Validator {
    /// The facts in `req`, when `peer` (the TCP peer) is a configured gateway; none otherwise,
    /// so that nobody else can claim a client address.
    pub fn client_facts<'r>(&self, req: &'r Request, peer: IpAddr) -> ClientFacts<'r> {
        if !self.rules.gateway_addresses.contains(canonical(peer)) {
            return ClientFacts::default();
        }
        ClientFacts {
            ip: req
                .header_str(&self.rules.client_ip_header)
                .and_then(|h| h.parse::<IpAddr>().ok())
                .map(canonical),
            referer: req
                .header_str(&self.rules.referer_header)
                .filter(|r| !r.is_empty()),
        }
    }
}

impl Rules {
    /// The key type first (a sandbox key on a production-only listener or API), then
    /// `permittedIP`, then `permittedReferer`. A restricted key without the fact it needs is
    /// refused.
    pub fn check_restrictions(
        &self,
        claims: &Value,
        api: Option<ApiRef<'_>>,
        facts: &ClientFacts<'_>,
    ) -> Result<(), Rejection> {
        let keytype = claims.get("keytype").and_then(Value::as_str);
        let production_api = api
            .and_then(|a| a.name)
            .is_some_and(|n| self.production_only_apis.iter().any(|p| p == n));
        if (self.production_only || production_api) && keytype != Some(KeyType::Production.as_str())
        {
            return Err(Rejection::KeyTypeNotAccepted {
                keytype: keytype.unwrap_or("(none)").chars().take(32).collect(),
            });
        }
        let claim = |c: Claim| match claims.get(c.name()) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(Rejection::BadRestriction(c)),
        };
        if let Some(v) = claim(Claim::PermittedIp)? {
            let permitted =
                PermittedIp::parse(v).map_err(|_| Rejection::BadRestriction(Claim::PermittedIp))?;
            let Some(ip) = facts.ip else {
                return Err(Rejection::ClientUnknown {
                    header: self.client_ip_header.clone(),
                });
            };
            if !permitted.permits(ip) {
                return Err(Rejection::IpNotPermitted { ip });
            }
        }
        if let Some(v) = claim(Claim::PermittedReferer)? {
            let permitted = PermittedReferer::parse(v)
                .map_err(|_| Rejection::BadRestriction(Claim::PermittedReferer))?;
            let Some(referer) = facts.referer else {
                return Err(Rejection::ClientUnknown {
                    header: self.referer_header.clone(),
                });
            };
            if !permitted.permits(referer) {
                return Err(Rejection::RefererNotPermitted);
            }
        }
        Ok(())
    }
}
