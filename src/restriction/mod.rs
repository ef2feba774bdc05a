//! Least-privilege restrictions a key may carry, in WSO2 API Manager's claim names and format:
//! `permittedIP` (addresses and CIDR blocks) and `permittedReferer` (URL patterns with `*`),
//! each one string of comma-separated entries. Pure functions: parsing at issuance, matching
//! at validation.

mod ip;
mod referer;

pub use ip::PermittedIp;
pub use referer::{PermittedReferer, RefererPattern, MAX_REFERER_BYTES};

use std::fmt;

/// The restriction claims, named as WSO2 API Manager names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    PermittedIp,
    PermittedReferer,
}

impl Claim {
    pub fn name(self) -> &'static str {
        match self {
            Claim::PermittedIp => "permittedIP",
            Claim::PermittedReferer => "permittedReferer",
        }
    }
}

impl fmt::Display for Claim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The `keytype` claim: which of an application's two key sets a key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyType {
    #[default]
    Production,
    Sandbox,
}

impl KeyType {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Production => "PRODUCTION",
            KeyType::Sandbox => "SANDBOX",
        }
    }

    /// `PRODUCTION` or `SANDBOX`, as WSO2 spells them (exactly).
    pub fn parse(s: &str) -> Option<KeyType> {
        [KeyType::Production, KeyType::Sandbox]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// Most entries in one `permittedIP` or `permittedReferer` value.
pub const MAX_RESTRICTION_ENTRIES: usize = 32;
/// Longest `permittedIP` or `permittedReferer` value, in bytes: the claim rides in every key.
pub const MAX_RESTRICTION_BYTES: usize = 2048;

/// Why a `permittedIP` or `permittedReferer` value was refused. Messages name the claim and the
/// malformed entry (an address or URL pattern, never a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestrictionError {
    /// Longer than `MAX_RESTRICTION_BYTES`.
    TooLong { claim: Claim, len: usize },
    /// More than `MAX_RESTRICTION_ENTRIES` entries.
    TooMany { claim: Claim, count: usize },
    /// No entry at all: a key restricted to nothing would be refused everywhere.
    Empty { claim: Claim },
    /// One entry is not an address or CIDR block, or not a URL pattern.
    BadEntry { claim: Claim, entry: String },
}

impl fmt::Display for RestrictionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestrictionError::TooLong { claim, len } => write!(
                f,
                "{claim} is {len} bytes, more than the limit of {MAX_RESTRICTION_BYTES}"
            ),
            RestrictionError::TooMany { claim, count } => write!(
                f,
                "{claim} has {count} entries, more than the limit of {MAX_RESTRICTION_ENTRIES}"
            ),
            RestrictionError::Empty { claim } => write!(f, "{claim} lists no entry"),
            RestrictionError::BadEntry { claim, entry } => {
                let shown: String = entry.chars().take(64).collect();
                let what = if *claim == Claim::PermittedIp {
                    "an IPv4 or IPv6 address or CIDR block"
                } else {
                    "a URL pattern like https://*.example.com/*"
                };
                write!(f, "{claim} entry {shown:?} is not {what}")
            }
        }
    }
}

impl std::error::Error for RestrictionError {}

/// A requested entry that lies outside the restriction of the same claim the user already has:
/// a key may narrow a user's default restriction, never widen it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Widened {
    pub claim: Claim,
    pub entry: String,
}

impl fmt::Display for Widened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (claim, entry) = (self.claim, &self.entry);
        write!(f, "{claim} entry {entry:?} is outside this user's {claim}")
    }
}

impl std::error::Error for Widened {}

/// The comma-separated entries of `value`, trimmed, each parsed by `parse`; caps checked first.
fn entries<T>(
    claim: Claim,
    value: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Vec<T>, RestrictionError> {
    if value.len() > MAX_RESTRICTION_BYTES {
        return Err(RestrictionError::TooLong {
            claim,
            len: value.len(),
        });
    }
    let raw: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    if raw.is_empty() {
        return Err(RestrictionError::Empty { claim });
    }
    if raw.len() > MAX_RESTRICTION_ENTRIES {
        return Err(RestrictionError::TooMany {
            claim,
            count: raw.len(),
        });
    }
    raw.into_iter()
        .map(|e| {
            parse(e).ok_or_else(|| RestrictionError::BadEntry {
                claim,
                entry: e.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
