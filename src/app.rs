//! The request handler: a typed request in, a typed response out, no I/O.

use crate::auth::{self, Login, UserDb};
use crate::config::{ApiEntry, Config, User};
use crate::http::{Request, Response};
use crate::jwks::KeySet;
use crate::jwt::{self, AllowedApi, Claims, Signer};
use crate::revocation::store::Store;
use crate::server::{Context, Handler};
use crate::throttle::{Throttle, Verdict};
use serde::Serialize;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest validity a client may ask for: keeps `exp` far from integer overflow and within what
/// JavaScript verifiers represent exactly.
pub const MAX_VALIDITY_SECONDS: i64 = 100 * 366 * 24 * 3600;

/// Fault codes of the original gateway.
pub const FAULT_UNCLASSIFIED: u32 = 900900;
pub const FAULT_INVALID_CREDENTIALS: u32 = 900901;
pub const FAULT_MISSING_CREDENTIALS: u32 = 900902;

/// What the issuer needs, fixed at startup (and at each reload).
pub struct App {
    pub enabled: bool,
    pub issuer: String,
    pub audience: Option<String>,
    pub kid: String,
    pub validity_time: i64,
    pub allowed_apis: Vec<AllowedApi>,
    pub users: UserDb,
    pub signer: Box<dyn Signer>,
    /// Shared with the previous `App` across reloads, so a reload does not forgive attackers.
    pub throttle: Arc<Throttle>,
    /// The public key set, served at `/.well-known/jwks.json` and `/apikey/jwks`; set by
    /// `startup` (None: those paths are 404).
    pub jwks: Option<Arc<crate::jwks::Jwks>>,
    /// Keys that tokens presented for revocation are checked against; set by `startup`.
    pub keys: Option<Arc<KeySet>>,
    /// The revocation store (file log or Redis), kept across reloads; None: not configured.
    pub revocations: Option<Arc<Store>>,
    /// Live revocations a user without `apikey:admin` may hold.
    pub revocations_per_user: usize,
}

/// The scope that may revoke any key by `jti` and list revocations.
pub const ADMIN_SCOPE: &str = "apikey:admin";

/// The response plus what the request log may say about it.
pub struct Outcome {
    pub response: Response,
    pub user: Option<String>,
    pub jti: Option<String>,
}

impl From<Response> for Outcome {
    fn from(response: Response) -> Self {
        Outcome {
            response,
            user: None,
            jti: None,
        }
    }
}

#[derive(Serialize)]
struct FaultBody<'a> {
    fault: Fault<'a>,
}

/// Field order as the original sends it.
#[derive(Serialize)]
struct Fault<'a> {
    code: u32,
    message: &'a str,
    description: &'a str,
}

/// The original gateway's error body: `{"fault":{"code":..,"message":..,"description":..}}`.
pub fn fault(status: u16, code: u32, message: &str, description: &str) -> Response {
    let body = FaultBody {
        fault: Fault {
            code,
            message,
            description,
        },
    };
    let body = serde_json::to_vec(&body).unwrap_or_default();
    Response::new(status, "application/json", body)
}

fn expand_apis(apis: &[ApiEntry]) -> Vec<AllowedApi> {
    apis.iter()
        .flat_map(|a| {
            a.versions.iter().map(|v| AllowedApi {
                name: a.name.clone(),
                version: v.clone(),
            })
        })
        .collect()
}

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

impl App {
    pub fn new(config: &Config, signer: Box<dyn Signer>, throttle: Arc<Throttle>) -> App {
        let i = &config.issuer;
        // Leave at least one worker free of PBKDF2 work.
        let max_slow = config.limits.workers.saturating_sub(1).max(1);
        App {
            enabled: i.enabled,
            issuer: i.issuer.clone(),
            audience: i.audience.clone(),
            kid: i.certificate_alias.clone(),
            validity_time: i.validity_time,
            allowed_apis: expand_apis(&i.apis),
            users: UserDb::new(&config.users, max_slow),
            signer,
            throttle,
            jwks: None,
            keys: None,
            revocations: None,
            revocations_per_user: config.revocation_max_per_user,
        }
    }

    /// Routes one request.
    pub fn route(&self, req: &Request, ctx: &Context) -> Outcome {
        let path = req.path();
        match path {
            "/health" => match req.method.as_str() {
                "GET" | "HEAD" => {
                    Response::new(200, "application/json", r#"{"status":"UP"}"#).into()
                }
                _ => method_not_allowed("GET, HEAD").into(),
            },
            "/apikey" | "/apikey/" => match req.method.as_str() {
                "GET" | "POST" => self.issue(req, ctx),
                _ => method_not_allowed("GET, POST").into(),
            },
            "/apikey/revoke" => match req.method.as_str() {
                "POST" => self.revoke(req, ctx),
                _ => method_not_allowed("POST").into(),
            },
            "/apikey/revoked" => match req.method.as_str() {
                "GET" => self.revoked(req, ctx),
                _ => method_not_allowed("GET").into(),
            },
            // Public keys: no authentication.
            "/.well-known/jwks.json" | "/apikey/jwks" => match &self.jwks {
                Some(j) => j.respond(req).into(),
                None => fault(404, FAULT_UNCLASSIFIED, "Not Found", "no such resource").into(),
            },
            _ => fault(404, FAULT_UNCLASSIFIED, "Not Found", "no such resource").into(),
        }
    }

    /// Basic authentication with brute-force throttling; the refusal is ready to send.
    fn login(&self, req: &Request, ctx: &Context) -> Result<&User, Outcome> {
        let ip = ctx.peer.ip();
        let clock = Instant::now();
        let creds = match auth::decode_basic(req.header("authorization")) {
            Ok(c) => c,
            Err(auth::AuthError::Missing) => {
                crate::metrics::auth_failure("missing_credentials");
                return Err(unauthorized(
                    FAULT_MISSING_CREDENTIALS,
                    "Missing Credentials",
                    "Basic authentication credentials are required",
                )
                .into());
            }
            Err(_) => {
                crate::metrics::auth_failure("invalid_credentials");
                self.throttle.failure(ip, None, clock);
                return Err(invalid_credentials().into());
            }
        };
        if let Verdict::Locked(wait) = self.throttle.check(ip, Some(&creds.user), clock) {
            crate::metrics::auth_failure("throttled");
            return Err(too_many_attempts(wait).into());
        }
        let user = match self.users.authenticate(&creds) {
            Login::Ok(u) => {
                self.throttle.success(ip, &u.name, clock);
                u
            }
            Login::Invalid => {
                crate::metrics::auth_failure("invalid_credentials");
                self.throttle.failure(ip, Some(&creds.user), clock);
                return Err(invalid_credentials().into());
            }
            Login::Busy => {
                return Err(fault(
                    503,
                    FAULT_UNCLASSIFIED,
                    "Service Unavailable",
                    "too many logins are being checked; retry shortly",
                )
                .header("Retry-After", "1")
                .into())
            }
        };
        Ok(user)
    }

    fn issue(&self, req: &Request, ctx: &Context) -> Outcome {
        let now = ctx.now;
        if !self.enabled {
            return fault(
                503,
                FAULT_UNCLASSIFIED,
                "Service Unavailable",
                "API key issuing is disabled ([apikey.issuer.tokenConfig] enabled = false)",
            )
            .into();
        }
        let user = match self.login(req, ctx) {
            Ok(u) => u,
            Err(refused) => return refused,
        };
        let requested = match requested_validity(&req.body) {
            Ok(r) => r,
            Err(e) => {
                return fault(400, FAULT_UNCLASSIFIED, "Bad Request", &e.to_string()).into();
            }
        };
        let validity = effective_validity(self.validity_time, requested);
        let jti = match jwt::uuid_v4() {
            Ok(j) => j,
            Err(e) => return internal_error(&e.to_string()),
        };
        let exp = (validity > 0).then(|| now.saturating_add(validity));
        let claims = Claims {
            sub: user.name.clone(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now,
            exp,
            jti: jti.clone(),
            keytype: "PRODUCTION".into(),
            allowed_apis: self.allowed_apis.clone(),
        };
        let token = match jwt::encode(&self.kid, &claims, self.signer.as_ref()) {
            Ok(t) => t,
            Err(e) => return internal_error(&e.to_string()),
        };
        crate::metrics::key_issued();
        let wants_json = req
            .header_str("accept")
            .is_some_and(|a| a.to_ascii_lowercase().contains("application/json"));
        let response = if wants_json {
            let body = json!({"apiKey": token, "jti": jti, "expiresAt": exp});
            Response::new(200, "application/json", body.to_string())
        } else {
            Response::new(200, "text/plain", token)
        };
        Outcome {
            response: response
                .header("Cache-Control", "no-store")
                .header("Pragma", "no-cache"),
            user: Some(user.name.clone()),
            jti: Some(jti),
        }
    }
}

impl App {
    /// The caller and the revocation log, or the refusal to send.
    fn login_for_revocation(
        &self,
        req: &Request,
        ctx: &Context,
    ) -> Result<(&User, &Store), Outcome> {
        let user = self.login(req, ctx)?;
        let store = self.revocations.as_deref().ok_or_else(|| {
            Outcome::from(fault(
                503,
                FAULT_UNCLASSIFIED,
                "Service Unavailable",
                "revocation is not configured ([apikey.revocation] file)",
            ))
        })?;
        Ok((user, store))
    }

    /// RFC 7009 style: `token` (own keys; any key for admins) or `jti` (admins). 200 whether or
    /// not the key was known; the 200 is sent only after the revocation is on disk.
    fn revoke(&self, req: &Request, ctx: &Context) -> Outcome {
        let (user, store) = match self.login_for_revocation(req, ctx) {
            Ok(us) => us,
            Err(refused) => return refused,
        };
        let target = match parse_revoke_body(req.header_str("content-type"), &req.body) {
            Ok(t) => t,
            Err(e) => return fault(400, FAULT_UNCLASSIFIED, "Bad Request", &e.to_string()).into(),
        };
        let admin = user.scopes.iter().any(|s| s == ADMIN_SCOPE);
        let forbidden = |why: &str| -> Outcome {
            Outcome {
                response: fault(403, FAULT_UNCLASSIFIED, "Forbidden", why),
                user: Some(user.name.clone()),
                jti: None,
            }
        };
        let (jti, exp) = match target {
            RevokeTarget::Jti(j) => {
                if !admin {
                    return forbidden("revoking by jti needs the apikey:admin scope");
                }
                if !crate::revocation::valid_jti(&j) {
                    return fault(400, FAULT_UNCLASSIFIED, "Bad Request", "jti is not valid")
                        .into();
                }
                (j, None)
            }
            RevokeTarget::Token(t) => {
                let keys = self.keys.as_deref();
                let verified = keys.and_then(|k| jwt::verify(&t, &|kid| k.key_for(kid)).ok());
                // RFC 7009 2.2: a token we did not issue is not an error.
                let Some(v) = verified else {
                    return revoked_ok(user, None);
                };
                let sub = v.claims.get("sub").and_then(|s| s.as_str());
                if sub != Some(user.name.as_str()) && !admin {
                    return forbidden("this key was issued to another user");
                }
                let Some(jti) = v.claims.get("jti").and_then(|j| j.as_str()) else {
                    return revoked_ok(user, None);
                };
                let exp = v.claims.get("exp").and_then(|e| e.as_i64());
                (jti.to_string(), exp)
            }
        };
        if !crate::revocation::valid_jti(&jti) {
            return revoked_ok(user, None);
        }
        let by = if admin {
            crate::revocation::Revoker::Admin(&user.name)
        } else {
            crate::revocation::Revoker::User {
                name: &user.name,
                cap: self.revocations_per_user,
            }
        };
        match store.revoke(&jti, exp, ctx.now, by) {
            Ok(done) => {
                crate::log::info(&format!("revoked jti={jti} by user={}", user.name));
                if let crate::revocation::Revoked::Compacted { live } = done {
                    crate::log::info(&format!(
                        "revocations: compacted {} to {live} live entries",
                        store.path().display()
                    ));
                }
                revoked_ok(user, Some(jti))
            }
            Err(crate::revocation::RevocationError::Full) => fault(
                507,
                FAULT_UNCLASSIFIED,
                "Insufficient Storage",
                "the revocation list is full",
            )
            .into(),
            Err(e @ crate::revocation::RevocationError::UserCap { .. }) => {
                forbidden(&e.to_string())
            }
            Err(e @ crate::revocation::RevocationError::Unavailable(_)) => {
                crate::log::warn(&format!("revoke jti={jti}: {e}"));
                fault(
                    503,
                    FAULT_UNCLASSIFIED,
                    "Service Unavailable",
                    &e.to_string(),
                )
                .header(
                    "Retry-After",
                    crate::revocation::redis::RETRY_AFTER_SECONDS.to_string(),
                )
                .into()
            }
            Err(e) => internal_error(&e.to_string()),
        }
    }

    /// The live revocations, for admins and for other nodes that pull them.
    fn revoked(&self, req: &Request, ctx: &Context) -> Outcome {
        let (user, store) = match self.login_for_revocation(req, ctx) {
            Ok(us) => us,
            Err(refused) => return refused,
        };
        if !user.scopes.iter().any(|s| s == ADMIN_SCOPE) {
            return fault(
                403,
                FAULT_UNCLASSIFIED,
                "Forbidden",
                "listing revocations needs the apikey:admin scope",
            )
            .into();
        }
        let list: Vec<serde_json::Value> = store
            .list(ctx.now)
            .into_iter()
            .map(|(jti, e)| json!({"jti": jti, "revokedAt": e.revoked_at, "expiresAt": e.expires_at}))
            .collect();
        let body = json!({"count": list.len(), "revoked": list});
        Outcome {
            response: Response::new(200, "application/json", body.to_string())
                .header("Cache-Control", "no-store"),
            user: Some(user.name.clone()),
            jti: None,
        }
    }
}

fn revoked_ok(user: &User, jti: Option<String>) -> Outcome {
    Outcome {
        response: Response::new(200, "application/json", r#"{"revoked":true}"#)
            .header("Cache-Control", "no-store"),
        user: Some(user.name.clone()),
        jti,
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
            let v = percent_decode(v).ok_or(BodyError::NotForm)?;
            match percent_decode(k).ok_or(BodyError::NotForm)?.as_str() {
                "token" => token = Some(v),
                "jti" => jti = Some(v),
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

/// `application/x-www-form-urlencoded` value decoding; None on bad escapes or non-UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

impl Handler for App {
    fn handle(&self, req: &Request, ctx: &Context) -> Outcome {
        self.route(req, ctx)
    }
}

fn method_not_allowed(allow: &str) -> Response {
    fault(
        405,
        FAULT_UNCLASSIFIED,
        "Method Not Allowed",
        "method not allowed on this resource",
    )
    .header("Allow", allow)
}

fn unauthorized(code: u32, message: &str, description: &str) -> Response {
    fault(401, code, message, description).header("WWW-Authenticate", r#"Basic realm="apikey-sts""#)
}

fn too_many_attempts(wait: Duration) -> Response {
    // Round up: a client that waits exactly Retry-After seconds must find the lock gone.
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    fault(
        429,
        FAULT_UNCLASSIFIED,
        "Too Many Requests",
        "too many failed login attempts; retry later",
    )
    .header("Retry-After", secs.max(1).to_string())
}

/// One answer for every credential problem, so callers learn nothing about which part failed.
fn invalid_credentials() -> Response {
    unauthorized(
        FAULT_INVALID_CREDENTIALS,
        "Invalid Credentials",
        "Invalid credentials. Make sure you have given the correct username and password",
    )
}

/// The details go to the log, not to the client.
pub fn internal_error(detail: &str) -> Outcome {
    crate::log::error(&format!("internal error: {detail}"));
    fault(
        500,
        FAULT_UNCLASSIFIED,
        "Internal Server Error",
        "the server could not complete the request",
    )
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::PasswordHash;
    use crate::config::User;
    use crate::jwt::tests::test_key;
    use crate::jwt::RsaSigner;

    fn app(validity: i64) -> App {
        App {
            enabled: true,
            issuer: "https://localhost:9095/apikey".into(),
            audience: None,
            kid: "ballerina".into(),
            validity_time: validity,
            allowed_apis: expand_apis(&[
                ApiEntry {
                    name: "Swagger Petstore New".into(),
                    versions: vec!["1.0.0".into(), "v1".into()],
                },
                ApiEntry {
                    name: "MyAPI".into(),
                    versions: vec!["*".into()],
                },
            ]),
            users: UserDb::new(
                &[User {
                    name: "admin".into(),
                    password: PasswordHash::parse("d033e22ae348aeb5660fc2140aec35850c4da997")
                        .unwrap(),
                    scopes: vec![],
                }],
                1,
            ),
            signer: Box::new(RsaSigner::new(test_key().clone())),
            throttle: Arc::default(),
            jwks: None,
            keys: None,
            revocations: None,
            revocations_per_user: crate::revocation::MAX_PER_USER,
        }
    }

    fn req(method: &str, path: &str, auth: Option<&str>, body: &str) -> Request {
        let mut headers = vec![];
        if let Some(a) = auth {
            headers.push(("Authorization".to_string(), a.as_bytes().to_vec()));
        }
        Request {
            method: method.into(),
            target: path.into(),
            minor_version: 1,
            headers,
            body: body.as_bytes().to_vec(),
        }
    }

    fn ctx(now: i64) -> Context {
        Context {
            peer: "127.0.0.1:1".parse().unwrap(),
            now,
        }
    }

    const ADMIN: &str = "Basic YWRtaW46YWRtaW4=";

    fn claims_of(token: &str) -> serde_json::Value {
        let public = test_key().to_public_key();
        jwt::verify(token, &|_| Some(&public)).unwrap().claims
    }

    #[test]
    fn issues_token_with_expanded_apis() {
        let out = app(-1).route(&req("GET", "/apikey", Some(ADMIN), ""), &ctx(1000));
        assert_eq!(out.response.status, 200);
        assert_eq!(out.user.as_deref(), Some("admin"));
        let token = String::from_utf8(out.response.body).unwrap();
        let c = claims_of(&token);
        assert_eq!(c["sub"], "admin");
        assert_eq!(c["iat"], 1000);
        assert!(c.get("exp").is_none());
        assert!(c.get("aud").is_none());
        assert_eq!(c["jti"], out.jti.unwrap().as_str());
        assert_eq!(c["allowedAPIs"].as_array().unwrap().len(), 3);
        assert_eq!(
            c["allowedAPIs"][2],
            json!({"name": "MyAPI", "version": "*"})
        );
    }

    #[test]
    fn validity_only_shortens() {
        assert_eq!(effective_validity(-1, Some(600)), 600);
        assert_eq!(effective_validity(3600, Some(600)), 600);
        assert_eq!(effective_validity(3600, Some(7200)), 3600);
        assert_eq!(effective_validity(3600, Some(0)), 3600);
        assert_eq!(effective_validity(3600, Some(-5)), 3600);
        assert_eq!(effective_validity(-1, None), -1);
        assert_eq!(effective_validity(-1, Some(i64::MAX)), MAX_VALIDITY_SECONDS);
        let out = app(-1).route(
            &req("GET", "/apikey", Some(ADMIN), r#"{"validityTime":600}"#),
            &ctx(50),
        );
        let c = claims_of(std::str::from_utf8(&out.response.body).unwrap());
        assert_eq!(c["exp"], 650);
    }

    #[test]
    fn bad_bodies_get_400_json() {
        for body in [
            "{",
            "[1]",
            r#"{"validityTime":"600"}"#,
            r#"{"validityTime":1.5}"#,
        ] {
            let out = app(-1).route(&req("POST", "/apikey", Some(ADMIN), body), &ctx(0));
            assert_eq!(out.response.status, 400, "{body}");
            let v: serde_json::Value = serde_json::from_slice(&out.response.body).unwrap();
            assert_eq!(v["fault"]["code"], FAULT_UNCLASSIFIED);
        }
        assert_eq!(requested_validity(b" \n").unwrap(), None);
        assert_eq!(requested_validity(br#"{"other":1}"#).unwrap(), None);
    }

    #[test]
    fn credentials_problems_are_401_and_indistinguishable() {
        let a = app(-1);
        let missing = a.route(&req("GET", "/apikey", None, ""), &ctx(0)).response;
        assert_eq!(missing.status, 401);
        assert_eq!(
            missing.header_value("www-authenticate"),
            Some(r#"Basic realm="apikey-sts""#)
        );
        let wrong_pw = a.route(
            &req("GET", "/apikey", Some("Basic YWRtaW46eA=="), ""),
            &ctx(0),
        );
        let wrong_user = a.route(
            &req("GET", "/apikey", Some("Basic eDphZG1pbg=="), ""),
            &ctx(0),
        );
        let garbage = a.route(&req("GET", "/apikey", Some("Basic %%%"), ""), &ctx(0));
        assert_eq!(wrong_pw.response.status, 401);
        assert_eq!(wrong_pw.response.body, wrong_user.response.body);
        assert_eq!(wrong_pw.response.body, garbage.response.body);
        // Auth comes before the body is looked at.
        let bad_body = a.route(
            &req("GET", "/apikey", Some("Basic YWRtaW46eA=="), "{"),
            &ctx(0),
        );
        assert_eq!(bad_body.response.status, 401);
    }

    #[test]
    fn routes_and_methods() {
        let a = app(-1);
        let r = a
            .route(&req("DELETE", "/apikey", Some(ADMIN), ""), &ctx(0))
            .response;
        assert_eq!(r.status, 405);
        assert_eq!(r.header_value("Allow"), Some("GET, POST"));
        assert_eq!(
            a.route(&req("GET", "/nope", None, ""), &ctx(0))
                .response
                .status,
            404
        );
        assert_eq!(
            a.route(&req("GET", "/health", None, ""), &ctx(0))
                .response
                .status,
            200
        );
        assert_eq!(
            a.route(&req("POST", "/apikey/?q", Some(ADMIN), ""), &ctx(0))
                .response
                .status,
            200
        );
    }

    #[test]
    fn json_form_when_asked() {
        let mut r = req("GET", "/apikey", Some(ADMIN), r#"{"validityTime":60}"#);
        r.headers
            .push(("Accept".into(), b"application/json".to_vec()));
        let out = app(-1).route(&r, &ctx(10));
        let v: serde_json::Value = serde_json::from_slice(&out.response.body).unwrap();
        assert_eq!(v["expiresAt"], 70);
        assert_eq!(v["jti"], out.jti.unwrap().as_str());
        assert_eq!(claims_of(v["apiKey"].as_str().unwrap())["exp"], 70);
        let mut r = req("GET", "/apikey", Some(ADMIN), "");
        r.headers
            .push(("Accept".into(), b"application/json".to_vec()));
        let v: serde_json::Value =
            serde_json::from_slice(&app(-1).route(&r, &ctx(10)).response.body).unwrap();
        assert!(v["expiresAt"].is_null());
    }

    #[test]
    fn repeated_failures_get_429_with_retry_after() {
        let a = app(-1);
        let bad = || {
            a.route(
                &req("GET", "/apikey", Some("Basic YWRtaW46eA=="), ""),
                &ctx(0),
            )
        };
        for _ in 0..5 {
            assert_eq!(bad().response.status, 401);
        }
        // The sixth failure is still checked (and fails), then the address is locked.
        assert_eq!(bad().response.status, 401);
        let locked = a
            .route(&req("GET", "/apikey", Some(ADMIN), ""), &ctx(0))
            .response;
        assert_eq!(locked.status, 429);
        assert_eq!(locked.header_value("Retry-After"), Some("1"));
        // Another address is not affected.
        let mut other = ctx(0);
        other.peer = "127.0.0.2:1".parse().unwrap();
        assert_eq!(
            a.route(&req("GET", "/apikey", Some(ADMIN), ""), &other)
                .response
                .status,
            200
        );
    }

    #[test]
    fn revoke_bodies_form_and_json() {
        let form = Some("application/x-www-form-urlencoded");
        let json = Some("application/json; charset=utf-8");
        assert_eq!(
            parse_revoke_body(form, b"token=a.b.c&token_type_hint=access_token").unwrap(),
            RevokeTarget::Token("a.b.c".into())
        );
        assert_eq!(
            parse_revoke_body(None, b"jti=x%2Dy+z").unwrap(),
            RevokeTarget::Jti("x-y z".into())
        );
        // A token wins over a jti when both are given.
        assert_eq!(
            parse_revoke_body(json, br#"{"jti":"j","token":"t"}"#).unwrap(),
            RevokeTarget::Token("t".into())
        );
        assert_eq!(
            parse_revoke_body(json, br#"{"token":1}"#),
            Err(BodyError::NotString)
        );
        assert_eq!(parse_revoke_body(json, b"token=x"), Err(BodyError::NotJson));
        assert_eq!(parse_revoke_body(form, b"jti=%zz"), Err(BodyError::NotForm));
        assert_eq!(
            parse_revoke_body(form, b"jti=%e2%28"),
            Err(BodyError::NotForm)
        );
        assert_eq!(
            parse_revoke_body(form, b"jti=&token="),
            Err(BodyError::NoTarget)
        );
        assert_eq!(parse_revoke_body(form, b""), Err(BodyError::NoTarget));
        assert_eq!(parse_revoke_body(form, b"%"), Err(BodyError::NotForm));
    }

    #[test]
    fn revoke_without_store_is_503_after_login() {
        let a = app(-1);
        let mut r = req("POST", "/apikey/revoke", Some(ADMIN), "jti=abc");
        r.headers.push((
            "Content-Type".into(),
            b"application/x-www-form-urlencoded".to_vec(),
        ));
        assert_eq!(a.route(&r, &ctx(0)).response.status, 503);
        let anon = req("POST", "/apikey/revoke", None, "jti=abc");
        assert_eq!(a.route(&anon, &ctx(0)).response.status, 401);
    }

    #[test]
    fn disabled_issuer_is_503() {
        let mut a = app(-1);
        a.enabled = false;
        assert_eq!(
            a.route(&req("GET", "/apikey", Some(ADMIN), ""), &ctx(0))
                .response
                .status,
            503
        );
    }
}
