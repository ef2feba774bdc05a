//! The `scope` parameter (RFC 6749 §3.3): space-separated tokens. One kind is defined:
//! `api:NAME:VERSION`, an API and version the key is to be limited to, with NAME and VERSION
//! percent-encoded as in a URL query (`%20` or `+` for a space, `%3A` for a colon, `%2B` for a
//! plus) and VERSION `*` for any version. Any other token is unknown to the server.

use crate::form;

/// Most tokens a `scope` may list.
pub const MAX_SCOPES: usize = 64;

/// One scope token, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Api { name: String, version: String },
}

/// Why a `scope` is refused (answered `invalid_scope`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeError {
    /// A character §3.3 does not allow in a scope token (`"`, `\`, controls, non-ASCII).
    BadCharacter,
    /// A token the server does not define.
    Unknown,
    /// An `api:` token whose name or version is empty or does not decode.
    BadApi,
    TooMany,
    /// The scope names an API that the client may not get keys for. The description is a fixed
    /// sentence: §5.2 allows no `"` or `\` and no non-ASCII in it, which a decoded API name may
    /// hold, and the client knows which APIs it asked for.
    NotGranted,
}

impl std::fmt::Display for ScopeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScopeError::BadCharacter => f.write_str("scope has a character RFC 6749 3.3 forbids"),
            ScopeError::Unknown => f.write_str("scope names a scope this server does not know"),
            ScopeError::BadApi => {
                f.write_str("an api scope is api:NAME:VERSION, both percent-encoded and non-empty")
            }
            ScopeError::TooMany => write!(f, "scope lists more than {MAX_SCOPES} scopes"),
            ScopeError::NotGranted => {
                f.write_str("scope names an API this client may not get keys for")
            }
        }
    }
}

impl std::error::Error for ScopeError {}

/// The scope tokens of a `scope` value, in order; an empty value asks for nothing.
pub fn parse_scope(s: &str) -> Result<Vec<Scope>, ScopeError> {
    let tokens: Vec<&str> = s.split(' ').filter(|t| !t.is_empty()).collect();
    if tokens.len() > MAX_SCOPES {
        return Err(ScopeError::TooMany);
    }
    tokens.into_iter().map(parse_token).collect()
}

fn parse_token(t: &str) -> Result<Scope, ScopeError> {
    if !t
        .bytes()
        .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
    {
        return Err(ScopeError::BadCharacter);
    }
    let Some(rest) = t.strip_prefix("api:") else {
        return Err(ScopeError::Unknown);
    };
    let (name, version) = rest.split_once(':').ok_or(ScopeError::BadApi)?;
    if version.contains(':') {
        return Err(ScopeError::BadApi);
    }
    let decoded = |s: &str| {
        form::decode(s)
            .filter(|d| !d.is_empty())
            .map(|d| d.into_owned())
            .ok_or(ScopeError::BadApi)
    };
    Ok(Scope::Api {
        name: decoded(name)?,
        version: decoded(version)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(name: &str, version: &str) -> Scope {
        Scope::Api {
            name: name.into(),
            version: version.into(),
        }
    }

    #[test]
    fn api_scopes_decode_names_and_versions() {
        assert_eq!(parse_scope(""), Ok(vec![]));
        assert_eq!(parse_scope("  "), Ok(vec![]));
        assert_eq!(
            parse_scope("api:Swagger%20Petstore+New:v1  api:A%3AB:*"),
            Ok(vec![api("Swagger Petstore New", "v1"), api("A:B", "*")])
        );
    }

    #[test]
    fn refuses_unknown_malformed_and_forbidden() {
        for (s, e) in [
            ("openid", ScopeError::Unknown),
            ("API:x:1", ScopeError::Unknown),
            ("api:x", ScopeError::BadApi),
            ("api::1", ScopeError::BadApi),
            ("api:x:", ScopeError::BadApi),
            ("api:x:1:2", ScopeError::BadApi),
            ("api:%zz:1", ScopeError::BadApi),
            ("api:\"x\":1", ScopeError::BadCharacter),
            ("api:a\\b:1", ScopeError::BadCharacter),
            ("api:é:1", ScopeError::BadCharacter),
            ("api:x:1\t", ScopeError::BadCharacter),
        ] {
            assert_eq!(parse_scope(s), Err(e), "{s:?}");
        }
    }

    #[test]
    fn scope_count_limit_at_and_past_its_edge() {
        let list = |n: usize| vec!["api:a:1"; n].join(" ");
        assert_eq!(
            parse_scope(&list(MAX_SCOPES)).map(|v| v.len()),
            Ok(MAX_SCOPES)
        );
        assert_eq!(parse_scope(&list(MAX_SCOPES + 1)), Err(ScopeError::TooMany));
    }
}
