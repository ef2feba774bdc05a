//! Request bodies of the issuer: what `/apikey` asks for (validity, APIs, restrictions, key
//! type) and the target of `/apikey/revoke` (JSON or form).

use super::apis::WantedApi;
use crate::form;
use crate::restriction::{Claim, KeyType, PermittedIp, PermittedReferer, RestrictionError};
use serde_json::{Map, Value};

/// Most APIs one `/apikey` request may name in `apis`.
pub const MAX_REQUESTED_APIS: usize = 64;
/// Longest API name or version in a request's `apis`, in bytes.
pub const MAX_API_FIELD_BYTES: usize = 256;

/// Longest validity a client may ask for: keeps `exp` far from integer overflow and within what
/// JavaScript verifiers represent exactly.
pub const MAX_VALIDITY_SECONDS: i64 = 100 * 366 * 24 * 3600;

/// Why an issuer request body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    NotJson,
    NotObject,
    NotInteger,
    NotString,
    NotForm,
    NoTarget,
    /// `apis` is not an array of `{"name": .., "version": ..}` objects of strings.
    NotApiList,
    /// `apis` is an empty array: a key for no API.
    NoApis,
    /// More than `MAX_REQUESTED_APIS` entries.
    TooManyApis(usize),
    /// A name or version longer than `MAX_API_FIELD_BYTES`, or empty.
    BadApiField,
    /// `permittedIP` or `permittedReferer` is not a string.
    RestrictionNotString(Claim),
    /// `permittedIP` or `permittedReferer` has a malformed entry, or too many.
    Restriction(RestrictionError),
    /// `keyType` is neither `"PRODUCTION"` nor `"SANDBOX"`.
    BadKeyType,
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
            BodyError::NotApiList => {
                "apis must be an array of {\"name\": \"...\", \"version\": \"...\"} objects"
            }
            BodyError::NoApis => "apis lists no API",
            BodyError::TooManyApis(n) => {
                return write!(
                    f,
                    "apis lists {n} APIs, more than the limit of {MAX_REQUESTED_APIS}"
                )
            }
            BodyError::BadApiField => {
                return write!(
                    f,
                    "an API name or version in apis is empty or longer than \
                     {MAX_API_FIELD_BYTES} bytes"
                )
            }
            BodyError::RestrictionNotString(c) => {
                return write!(f, "{c} must be one string of comma-separated entries")
            }
            BodyError::Restriction(e) => return e.fmt(f),
            BodyError::BadKeyType => "keyType must be \"PRODUCTION\" or \"SANDBOX\"",
        })
    }
}

impl std::error::Error for BodyError {}

/// What a `/apikey` request body asks for; every field optional (an empty body asks for
/// nothing). Unknown fields are ignored, as the original ignored them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssueRequest {
    /// `validityTime`: seconds (see `effective_validity`).
    pub validity: Option<i64>,
    /// `apis`: the subset of the user's APIs the key is for.
    pub apis: Option<Vec<WantedApi>>,
    /// `permittedIP`.
    pub permitted_ip: Option<PermittedIp>,
    /// `permittedReferer`.
    pub permitted_referer: Option<PermittedReferer>,
    /// `keyType`: PRODUCTION unless asked.
    pub key_type: KeyType,
}

/// The one parse of a `/apikey` body: `{"validityTime": 600, "apis": [{"name": "MyAPI",
/// "version": "v1"}], "permittedIP": "10.0.0.0/8", "permittedReferer": "https://*.example.com/*",
/// "keyType": "SANDBOX"}`.
pub fn parse_issue_body(body: &[u8]) -> Result<IssueRequest, BodyError> {
    let Some(obj) = object(body)? else {
        return Ok(IssueRequest::default());
    };
    let restriction = |claim: Claim| match obj.get(claim.name()) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(BodyError::RestrictionNotString(claim)),
    };
    let permitted_ip = restriction(Claim::PermittedIp)?
        .map(PermittedIp::parse)
        .transpose()
        .map_err(BodyError::Restriction)?;
    let permitted_referer = restriction(Claim::PermittedReferer)?
        .map(PermittedReferer::parse)
        .transpose()
        .map_err(BodyError::Restriction)?;
    let key_type = match obj.get("keyType") {
        None => KeyType::Production,
        Some(v) => v
            .as_str()
            .and_then(KeyType::parse)
            .ok_or(BodyError::BadKeyType)?,
    };
    Ok(IssueRequest {
        validity: validity_of(&obj)?,
        apis: obj.get("apis").map(wanted_apis).transpose()?,
        permitted_ip,
        permitted_referer,
        key_type,
    })
}

fn wanted_apis(v: &Value) -> Result<Vec<WantedApi>, BodyError> {
    let list = v.as_array().ok_or(BodyError::NotApiList)?;
    if list.is_empty() {
        return Err(BodyError::NoApis);
    }
    if list.len() > MAX_REQUESTED_APIS {
        return Err(BodyError::TooManyApis(list.len()));
    }
    list.iter()
        .map(|e| {
            let field = |k: &str| {
                let s = e
                    .get(k)
                    .and_then(Value::as_str)
                    .ok_or(BodyError::NotApiList)?;
                if s.is_empty() || s.len() > MAX_API_FIELD_BYTES {
                    return Err(BodyError::BadApiField);
                }
                Ok(s.to_string())
            };
            Ok(WantedApi {
                name: field("name")?,
                version: field("version")?,
            })
        })
        .collect()
}

/// The body's JSON object; None for an empty (all-whitespace) body.
fn object(body: &[u8]) -> Result<Option<Map<String, Value>>, BodyError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    match serde_json::from_slice(body).map_err(|_| BodyError::NotJson)? {
        Value::Object(o) => Ok(Some(o)),
        _ => Err(BodyError::NotObject),
    }
}

/// Reads the optional `validityTime` from a request body. An empty body asks for nothing.
pub fn requested_validity(body: &[u8]) -> Result<Option<i64>, BodyError> {
    match object(body)? {
        None => Ok(None),
        Some(obj) => validity_of(&obj),
    }
}

fn validity_of(obj: &Map<String, Value>) -> Result<Option<i64>, BodyError> {
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
