//! `permittedReferer`: URL patterns with `*` wildcards, matched part by part so that a `*` in
//! the host never reaches into the path: `https://*.example.com/*` does not match
//! `https://evil.com/?x=.example.com/`.
//!
//! A pattern is `[scheme://]host[:port][/path]`. Without a scheme it matches `http` and
//! `https`; without a port, only a referer without one (`:*` for any); without a path, only the
//! site's root (`/*` for any page). `*` in the host stands for any run of host characters
//! (letters, digits, `-`, `.`), in the port for any port, in the path for anything, query
//! included. Schemes and hosts compare without regard to case, paths exactly.

use super::{entries, ip::joined, Claim, RestrictionError};

/// Longest `Referer` value matched; a longer one matches no pattern.
pub const MAX_REFERER_BYTES: usize = 4096;

/// One `permittedReferer` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefererPattern {
    /// Lowercase; None: `http` or `https`.
    scheme: Option<String>,
    /// Lowercase, may hold `*`.
    host: String,
    /// As written, may be `*`; None: no port.
    port: Option<String>,
    /// Starts with `/`, may hold `*`; None: the root only.
    path: Option<String>,
}

/// A URL cut into the parts patterns match.
#[derive(Debug, PartialEq, Eq)]
struct Parts<'a> {
    scheme: Option<&'a str>,
    host: &'a str,
    port: Option<&'a str>,
    path: &'a str,
}

fn is_host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')
}

/// Cuts `[scheme://]host[:port][path]`; `wild` allows `*` in host and port.
fn split(s: &str, wild: bool) -> Option<Parts<'_>> {
    let (scheme, rest) = match s.split_once("://") {
        Some((sc, rest)) => {
            let ok = sc.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
                && sc
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
            if !ok {
                return None;
            }
            (Some(sc), rest)
        }
        None => (None, s),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    };
    let host_ok = !host.is_empty() && host.bytes().all(|b| is_host_byte(b) || (wild && b == b'*'));
    let port_ok = port.is_none_or(|p| {
        (wild && p == "*")
            || (!p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
    });
    let path_ok = path.bytes().all(|b| b.is_ascii_graphic());
    (host_ok && port_ok && path_ok).then_some(Parts {
        scheme,
        host,
        port,
        path,
    })
}

impl RefererPattern {
    /// One pattern; None when it is not `[scheme://]host[:port][/path]` of visible ASCII.
    pub fn parse(entry: &str) -> Option<RefererPattern> {
        let p = split(entry, true)?;
        if !(p.path.is_empty() || p.path.starts_with('/')) {
            return None;
        }
        Some(RefererPattern {
            scheme: p.scheme.map(str::to_ascii_lowercase),
            host: p.host.to_ascii_lowercase(),
            port: p.port.map(String::from),
            path: (!p.path.is_empty()).then(|| p.path.to_string()),
        })
    }

    /// Whether the `Referer` value `url` matches.
    pub fn matches(&self, url: &str) -> bool {
        if url.len() > MAX_REFERER_BYTES {
            return false;
        }
        // A referer always names its scheme; one without is not a URL a browser sends.
        let Some(u) = split(url, false).filter(|u| u.scheme.is_some()) else {
            return false;
        };
        let scheme = u.scheme.unwrap_or_default().to_ascii_lowercase();
        let scheme_ok = match &self.scheme {
            Some(s) => *s == scheme,
            None => scheme == "http" || scheme == "https",
        };
        let port_ok = match (&self.port, u.port) {
            (None, None) => true,
            (Some(p), Some(q)) => p == "*" || p == q,
            _ => false,
        };
        let path_ok = match &self.path {
            None => u.path.is_empty() || u.path == "/",
            Some(p) => glob(p.as_bytes(), u.path.as_bytes()),
        };
        scheme_ok
            && port_ok
            && path_ok
            && glob(self.host.as_bytes(), u.host.to_ascii_lowercase().as_bytes())
    }
}

/// Whether `text` matches `pattern`, where `*` stands for any run of bytes (none included).
/// Backtracks only to the last `*`: linear in practice, quadratic at worst, on bounded inputs.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

/// A parsed `permittedReferer` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermittedReferer {
    patterns: Vec<RefererPattern>,
    canonical: String,
}

impl PermittedReferer {
    /// Parses `https://*.example.com/*,www.example.org/app/*`.
    pub fn parse(value: &str) -> Result<PermittedReferer, RestrictionError> {
        let patterns = entries(Claim::PermittedReferer, value, RefererPattern::parse)?;
        Ok(PermittedReferer {
            patterns,
            canonical: joined(value),
        })
    }

    /// The first pattern of `self` that is not one of `outer`'s, if any: a key may narrow a
    /// user's default restriction, never widen it (patterns compare as parsed, not by the URLs
    /// they match).
    pub fn first_outside(&self, outer: &PermittedReferer) -> Option<&str> {
        self.canonical
            .split(',')
            .zip(&self.patterns)
            .find(|(_, p)| !outer.patterns.contains(p))
            .map(|(e, _)| e)
    }

    /// Whether the `Referer` value `url` matches one of the patterns.
    pub fn permits(&self, url: &str) -> bool {
        self.patterns.iter().any(|p| p.matches(url))
    }

    pub fn as_str(&self) -> &str {
        &self.canonical
    }
}
