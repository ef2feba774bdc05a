//! `permittedIP`: IPv4 and IPv6 addresses and CIDR blocks.

use super::{entries, Claim, RestrictionError};
use crate::client_addr::Cidr;
use std::net::IpAddr;

/// A parsed `permittedIP` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermittedIp {
    blocks: Vec<Cidr>,
    /// The entries as given, trimmed and joined by `,`: what the claim carries.
    canonical: String,
}

impl PermittedIp {
    /// Parses `192.168.1.10,10.0.0.0/8,2001:db8::/32`.
    pub fn parse(value: &str) -> Result<PermittedIp, RestrictionError> {
        let blocks = entries(Claim::PermittedIp, value, |e| e.parse::<Cidr>().ok())?;
        Ok(PermittedIp {
            blocks,
            canonical: joined(value),
        })
    }

    /// Whether `ip` lies in one of the blocks. An IPv4-mapped IPv6 address matches as the IPv4
    /// address it is.
    pub fn permits(&self, ip: IpAddr) -> bool {
        self.blocks.iter().any(|b| b.contains(ip))
    }

    /// The first entry of `self` that lies outside every block of `outer`, if any: a key may
    /// narrow a user's default restriction, never widen it.
    pub fn first_outside(&self, outer: &PermittedIp) -> Option<&str> {
        self.canonical
            .split(',')
            .zip(&self.blocks)
            .find(|(_, b)| !outer.blocks.iter().any(|o| o.covers(b)))
            .map(|(e, _)| e)
    }

    pub fn as_str(&self) -> &str {
        &self.canonical
    }
}

/// The non-empty entries of a comma-separated value, trimmed, joined by `,`.
pub(super) fn joined(value: &str) -> String {
    value
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect::<Vec<_>>()
        .join(",")
}
