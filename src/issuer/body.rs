//! Request bodies of the issuer: the requested validity of `/apikey` and the target of
//! `/apikey/revoke` (JSON or form).

use crate::form;

/// Longest validity a client may ask for: keeps `exp` far from integer overflow and within what
/// JavaScript verifiers represent exactly.
pub const MAX_VALIDITY_SECONDS: i64 = 100 * 366 * 24 * 3600;

/// Why a `{"validityTime": N}` body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    NotJson,
    NotObject,
    NotInteger,
    NotString,
    NotForm,
    NoTarget,
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BodyError::NotJson => "request body is not valid JSON",
            BodyError::NotObject => "request body must be a JSON object",
            BodyError::NotInteger => "validityTime must be an integer number of seconds",
            BodyError::NotString => "token and jti must be strings",
            BodyError::NotForm => {
                "request body is not a valid form (application/x-www-form-urlencoded)"
            }
            BodyError::NoTarget => "give the key to revoke as token, or its jti",
        })
    }
}

impl std::error::Error for BodyError {}

/// Reads the optional `validityTime` from a request body. An empty body asks for nothing.
pub fn requested_validity(body: &[u8]) -> Result<Option<i64>, BodyError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|_| BodyError::NotJson)?;
    let obj = v.as_object().ok_or(BodyError::NotObject)?;
    match obj.get("validityTime") {
        None => Ok(None),
        Some(n) => {
            if let Some(i) = n.as_i64() {
                Ok(Some(i))
            } else if n.is_u64() {
                Ok(Some(i64::MAX))
            } else {
                Err(BodyError::NotInteger)
            }
        }
    }
}

/// The original's rule: a requested validity only ever shortens the configured one.
pub fn effective_validity(configured: i64, requested: Option<i64>) -> i64 {
    match requested {
        Some(n) if n > 0 && (configured <= 0 || n < configured) => n.min(MAX_VALIDITY_SECONDS),
        _ => configured,
    }
}

/// What a revocation request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokeTarget {
    Token(String),
    Jti(String),
}

/// Reads `token` or `jti` from a JSON body (when the Content-Type says JSON) or a form body.
pub fn parse_revoke_body(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<RevokeTarget, BodyError> {
    let is_json = content_type.is_some_and(|c| c.to_ascii_lowercase().contains("json"));
    let (token, jti) = if is_json {
        let v: serde_json::Value = serde_json::from_slice(body).map_err(|_| BodyError::NotJson)?;
        let o = v.as_object().ok_or(BodyError::NotObject)?;
        let field = |k: &str| -> Result<Option<String>, BodyError> {
            match o.get(k) {
                None => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(BodyError::NotString),
            }
        };
        (field("token")?, field("jti")?)
    } else {
        let text = std::str::from_utf8(body).map_err(|_| BodyError::NotForm)?;
        let (mut token, mut jti) = (None, None);
        for pair in text.trim().split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = form::decode(v).ok_or(BodyError::NotForm)?;
            match &*form::decode(k).ok_or(BodyError::NotForm)? {
                "token" => token = Some(v.into_owned()),
                "jti" => jti = Some(v.into_owned()),
                _ => {}
            }
        }
        (token, jti)
    };
    match (token, jti) {
        (Some(t), _) if !t.is_empty() => Ok(RevokeTarget::Token(t)),
        (_, Some(j)) if !j.is_empty() => Ok(RevokeTarget::Jti(j)),
        _ => Err(BodyError::NoTarget),
    }
}
