//! The HTTPS listener's handler: issuing API keys (`/apikey`, and `/apikey/token` for OAuth
//! clients), revoking them (`/apikey/revoke`, `/apikey/revoked`), introspecting them
//! (`/apikey/introspect`), the OAuth metadata, the JWKS and `/health`. No network I/O: the
//! server reads and writes the socket. Revoking appends to the revocation log (and fsyncs it); issuing draws the `jti` from
//! the OS RNG and may run PBKDF2 for the login.

pub mod apis;
mod body;
mod oauth;
mod revoke;

pub use body::{
    effective_validity, parse_issue_body, parse_revoke_body, requested_validity, BodyError,
    IssueRequest, RevokeTarget, MAX_API_FIELD_BYTES, MAX_REQUESTED_APIS, MAX_VALIDITY_SECONDS,
};

use crate::auth::{self, Login, User, UserDb};
use crate::config::Config;
use crate::fault::{
    fault, internal_error, method_not_allowed, not_found, FAULT_FORBIDDEN,
    FAULT_INVALID_CREDENTIALS, FAULT_MISSING_CREDENTIALS, FAULT_UNCLASSIFIED,
};
use crate::http::{Request, Response};
use crate::jwks::{Jwks, KeySet};
use crate::jwt::{self, Claims, Signer};
use crate::metrics::{self, AuthFailure};
use crate::oauth::{INTROSPECT_PATH, TOKEN_PATH};
use crate::restriction::{Claim, KeyType, PermittedIp, PermittedReferer, Widened};
use crate::revocation::store::Store;
use crate::revocation::Revocation;
use crate::service::{Context, Handler, Outcome};
use crate::throttle::{Throttle, Verdict};
use crate::validator::Validator;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The issuer: what it needs, fixed at startup (and at each reload).
pub struct Issuer {
    pub enabled: bool,
    pub issuer: String,
    pub audience: Option<String>,
    pub kid: String,
    pub validity_time: i64,
    /// The APIs each user may get keys for, and users' default restrictions.
    pub grants: apis::Grants,
    pub users: UserDb,
    pub signer: Box<dyn Signer>,
    /// Shared with the previous `Issuer` across reloads, so a reload does not forgive attackers.
    pub throttle: Arc<Throttle>,
    /// The public key set, served at `/.well-known/jwks.json` and `/apikey/jwks`.
    pub jwks: Arc<Jwks>,
    /// Keys that tokens presented for revocation are checked against.
    pub keys: Arc<KeySet>,
    /// The durable revocation log, kept across reloads; None: revocation is not configured.
    pub revocations: Option<Arc<Store>>,
    /// Live revocations a user without `apikey:admin` may hold.
    pub revocations_per_user: usize,
    /// How long after its check began a failed login is answered (`[server]
    /// failedLoginDelayMs`).
    pub failed_login_delay: Duration,
    /// The `/validate` checks and cache, shared with the plain listener; introspection runs them.
    pub validator: Arc<Validator>,
    /// Where clients reach this server (`publicBaseUrl`, else the issuer's origin), for the
    /// OAuth metadata; None: no metadata is served.
    pub public_base_url: Option<String>,
}

/// Why a login was refused. The credential refusals are answered in the endpoint's own shape;
/// the others (locked out, too many logins in progress) the same on every endpoint.
enum Refused {
    Missing,
    Invalid,
    Answered(Outcome),
}

/// The scope that may revoke any key by `jti` and list revocations.
pub const ADMIN_SCOPE: &str = "apikey:admin";
/// The scope that may ask for `"keyType": "SANDBOX"` keys.
pub const SANDBOX_SCOPE: &str = "apikey:sandbox";

impl Issuer {
    pub fn new(
        config: &Config,
        signer: Box<dyn Signer>,
        throttle: Arc<Throttle>,
        keys: Arc<KeySet>,
        revocations: Option<Arc<Store>>,
    ) -> Issuer {
        let i = &config.issuer;
        // Leave at least one worker free of PBKDF2 work.
        let max_slow = config.limits.workers.saturating_sub(1).max(1);
        let validator = Validator::from_config(config, Arc::clone(&keys));
        let validator = match &revocations {
            Some(r) => validator.with_revocation(Arc::clone(r) as Arc<dyn Revocation>),
            None => validator,
        };
        Issuer {
            enabled: i.enabled,
            issuer: i.issuer.clone(),
            audience: i.audience.clone(),
            kid: i.certificate_alias.clone(),
            validity_time: i.validity_time,
            grants: apis::Grants {
                global: i.apis.clone(),
                by_scope: i.scope_apis.clone(),
                users: config.grants.clone(),
            },
            users: UserDb::new(&config.users, max_slow),
            signer,
            throttle,
            jwks: Arc::new(Jwks::new(&keys)),
            keys,
            revocations,
            revocations_per_user: config.revocation_max_per_user,
            failed_login_delay: config.limits.failed_login_delay,
            validator: Arc::new(validator),
            public_base_url: crate::oauth::base_url(i.public_base_url.as_deref(), &i.issuer),
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
            TOKEN_PATH => match req.method.as_str() {
                "POST" => self.token(req, ctx),
                _ => method_not_allowed("POST").into(),
            },
            INTROSPECT_PATH => match req.method.as_str() {
                "POST" => self.introspect(req, ctx),
                _ => method_not_allowed("POST").into(),
            },
            // Public keys: no authentication.
            "/.well-known/jwks.json" | "/apikey/jwks" => self.jwks.respond(req).into(),
            p if crate::oauth::is_discovery_path(p, &self.issuer) => self.discovery(req),
            _ => not_found().into(),
        }
    }

    /// Basic authentication with brute-force throttling; the refusal is ready to send.
    fn login(&self, req: &Request, ctx: &Context) -> Result<&User, Outcome> {
        self.authenticate(req, ctx)
            .map_err(|refused| match refused {
                Refused::Missing => unauthorized(
                    FAULT_MISSING_CREDENTIALS,
                    "Missing Credentials",
                    "Basic authentication credentials are required",
                )
                .into(),
                Refused::Invalid => self.failed_login(invalid_credentials()),
                Refused::Answered(answer) => answer,
            })
    }

    /// Basic authentication with brute-force throttling, metrics counted.
    fn authenticate(&self, req: &Request, ctx: &Context) -> Result<&User, Refused> {
        let ip = ctx.client;
        let clock = Instant::now();
        let creds = match auth::decode_basic(req.header("authorization")) {
            Ok(c) => c,
            Err(auth::AuthError::Missing) => {
                metrics::auth_failure(AuthFailure::MissingCredentials);
                return Err(Refused::Missing);
            }
            Err(_) => {
                metrics::auth_failure(AuthFailure::InvalidCredentials);
                self.throttle.failure(ip, None, clock);
                return Err(Refused::Invalid);
            }
        };
        if let Verdict::Locked(wait) = self.throttle.check(ip, Some(&creds.user), clock) {
            metrics::auth_failure(AuthFailure::Throttled);
            return Err(Refused::Answered(too_many_attempts(wait).into()));
        }
        match self.users.authenticate(&creds) {
            Login::Ok(u) => {
                self.throttle.success(ip, &u.name, clock);
                Ok(u)
            }
            Login::Invalid => {
                metrics::auth_failure(AuthFailure::InvalidCredentials);
                self.throttle.failure(ip, Some(&creds.user), clock);
                Err(Refused::Invalid)
            }
            Login::Busy => Err(Refused::Answered(
                fault(
                    503,
                    FAULT_UNCLASSIFIED,
                    "Service Unavailable",
                    "too many logins are being checked; retry shortly",
                )
                .header("Retry-After", "1")
                .into(),
            )),
        }
    }

    /// The answer to wrong credentials: one 401 for every cause, held until
    /// `failed_login_delay` after the check began. An unknown user (no hash), a legacy SHA-1
    /// user (microseconds) and a PBKDF2 user (a tenth of a second) are then told apart neither
    /// by the answer nor by its timing, and the wait costs the server a timer, not a thread.
    fn failed_login(&self, answer: Response) -> Outcome {
        Outcome::from(answer).held(self.failed_login_delay)
    }

    /// 503 while issuing is disabled.
    fn issuing_disabled() -> Outcome {
        fault(
            503,
            FAULT_UNCLASSIFIED,
            "Service Unavailable",
            "API key issuing is disabled ([apikey.issuer.tokenConfig] enabled = false)",
        )
        .into()
    }

    fn issue(&self, req: &Request, ctx: &Context) -> Outcome {
        if !self.enabled {
            return Self::issuing_disabled();
        }
        let user = match self.login(req, ctx) {
            Ok(u) => u,
            Err(refused) => return refused,
        };
        let wants = match parse_issue_body(&req.body) {
            Ok(r) => r,
            Err(e) => {
                return fault(400, FAULT_UNCLASSIFIED, "Bad Request", &e.to_string()).into();
            }
        };
        let Minted { token, jti, exp } = match self.mint(user, wants, ctx.now) {
            Ok(m) => m,
            Err(failed) => return failed,
        };
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
            user: Some(user.name.as_str().into()),
            jti: Some(jti.into()),
            hold: None,
            logged: true,
        }
    }
}

/// A signed key and the claims the answers repeat.
struct Minted {
    token: String,
    jti: String,
    exp: Option<i64>,
}

impl Issuer {
    /// Signs a key for `user` as `wants` asks (`IssueRequest::default()`: the user's usual key).
    fn mint(&self, user: &User, wants: IssueRequest, now: i64) -> Result<Minted, Outcome> {
        let claims = self.claims_for(user, wants, now)?;
        let token = jwt::encode(&self.kid, &claims, self.signer.as_ref())
            .map_err(|e| internal_error(&e.to_string()))?;
        metrics::key_issued();
        Ok(Minted {
            token,
            jti: claims.jti,
            exp: claims.exp,
        })
    }

    /// The claims of a key for `user` as `wants` asks, or the refusal: 403 for APIs, key types
    /// or restrictions wider than the user's, 500 when the RNG fails.
    fn claims_for(&self, user: &User, wants: IssueRequest, now: i64) -> Result<Claims, Outcome> {
        let forbidden = |why: &str| Outcome::from(fault(403, FAULT_FORBIDDEN, "Forbidden", why));
        let user_apis = self.grants.apis_for(&user.name, &user.scopes);
        let allowed_apis = match &wants.apis {
            None => apis::expand(&user_apis),
            Some(w) => apis::narrow(&user_apis, w).map_err(|r| forbidden(&r.to_string()))?,
        };
        if wants.key_type == KeyType::Sandbox && !user.scopes.iter().any(|s| s == SANDBOX_SCOPE) {
            return Err(forbidden(&format!(
                "keyType SANDBOX needs the scope {SANDBOX_SCOPE}"
            )));
        }
        let grant = self.grants.user(&user.name);
        let permitted_ip = narrowed(
            wants.permitted_ip,
            grant.and_then(|g| g.permitted_ip.as_ref()),
            PermittedIp::first_outside,
            Claim::PermittedIp,
        )
        .map_err(|e| forbidden(&e.to_string()))?;
        let permitted_referer = narrowed(
            wants.permitted_referer,
            grant.and_then(|g| g.permitted_referer.as_ref()),
            PermittedReferer::first_outside,
            Claim::PermittedReferer,
        )
        .map_err(|e| forbidden(&e.to_string()))?;
        let validity = effective_validity(self.validity_time, wants.validity);
        let jti = jwt::uuid_v4().map_err(|e| internal_error(&e.to_string()))?;
        Ok(Claims {
            sub: user.name.clone(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now,
            exp: (validity > 0).then(|| now.saturating_add(validity)),
            jti,
            keytype: wants.key_type.as_str().into(),
            allowed_apis,
            permitted_ip: permitted_ip.map(|p| p.as_str().to_string()),
            permitted_referer: permitted_referer.map(|p| p.as_str().to_string()),
        })
    }
}

/// The restriction a key carries: the requested one, which must lie within the user's default
/// when there is one, else the default.
fn narrowed<T: Clone>(
    requested: Option<T>,
    default: Option<&T>,
    first_outside: for<'a> fn(&'a T, &T) -> Option<&'a str>,
    claim: Claim,
) -> Result<Option<T>, Widened> {
    match (requested, default) {
        (Some(r), Some(d)) => match first_outside(&r, d) {
            Some(entry) => Err(Widened {
                claim,
                entry: entry.to_string(),
            }),
            None => Ok(Some(r)),
        },
        (r, d) => Ok(r.or_else(|| d.cloned())),
    }
}

impl Handler for Issuer {
    fn handle(&self, req: &Request, ctx: &Context) -> Outcome {
        self.route(req, ctx)
    }

    /// Credentials are checked before `100 Continue`: a client without them gets its 401 (or
    /// 429) at once, and nobody can make the server read a body by merely asking. Routes that
    /// take no body are answered from the head.
    fn check_expect(&self, head: &Request, ctx: &Context) -> Option<Outcome> {
        let logs_in = matches!(
            (head.path(), head.method.as_str()),
            ("/apikey" | "/apikey/", "GET" | "POST")
                | ("/apikey/revoke" | TOKEN_PATH | INTROSPECT_PATH, "POST")
                | ("/apikey/revoked", "GET")
        );
        let disabled_issue =
            !self.enabled && matches!(head.path(), "/apikey" | "/apikey/" | TOKEN_PATH);
        if !logs_in || disabled_issue {
            return Some(self.route(head, ctx));
        }
        if head.path() == TOKEN_PATH {
            return self.client_login(head, ctx).err();
        }
        self.login(head, ctx).err()
    }
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

#[cfg(test)]
mod tests;
