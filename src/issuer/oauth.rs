//! The OAuth endpoints on the issuer: the token endpoint issues through the same login
//! (throttle, failed-login hold, slow-hash limit) and signing as `/apikey`; introspection runs
//! the `/validate` checks and cache; the metadata names them. Wire shapes are in `crate::oauth`.

use super::apis::{self, WantedApi};
use super::{IssueRequest, Issuer, Minted, Refused, ADMIN_SCOPE};
use crate::auth::User;
use crate::fault::{fault, not_found, FAULT_FORBIDDEN};
use crate::http::{Request, Response};
use crate::oauth::{self, OAuthError, Scope, ScopeError, INTROSPECT_SCOPE};
use crate::service::{Context, Outcome};

impl Issuer {
    /// HTTP Basic client authentication with the §5.2 `invalid_client` answer; lockouts and
    /// overload are answered as on `/apikey`.
    pub(super) fn client_login(&self, req: &Request, ctx: &Context) -> Result<&User, Outcome> {
        self.authenticate(req, ctx)
            .map_err(|refused| match refused {
                Refused::Missing => OAuthError::InvalidClient.response().into(),
                Refused::Invalid => self.failed_login(OAuthError::InvalidClient.response()),
                Refused::Answered(answer) => answer,
            })
    }

    /// `POST /apikey/token` (RFC 6749 §4.4).
    pub(super) fn token(&self, req: &Request, ctx: &Context) -> Outcome {
        if !self.enabled {
            return Self::issuing_disabled();
        }
        let user = match self.client_login(req, ctx) {
            Ok(u) => u,
            Err(refused) => return refused,
        };
        let answer = |response| answer_to(user, response);
        let request =
            oauth::parse_token_request(req.header_str("content-type"), &req.body, &user.name);
        let wanted = request.and_then(|r| {
            self.scoped_apis(user, &r.scope)
                .map_err(OAuthError::InvalidScope)
        });
        let apis = match wanted {
            Ok(apis) => apis,
            Err(e) => return answer(e.response()),
        };
        let asked = IssueRequest {
            apis,
            ..IssueRequest::default()
        };
        let Minted { token, jti, exp } = match self.mint(user, asked, ctx.now) {
            Ok(m) => m,
            Err(failed) => return failed,
        };
        let expires_in = exp.map(|e| e - ctx.now);
        Outcome {
            jti: Some(jti.into()),
            ..answer(oauth::token_response(&token, expires_in))
        }
    }

    /// `POST /apikey/introspect` (RFC 7662), for users with `apikey:introspect` or
    /// `apikey:admin`.
    pub(super) fn introspect(&self, req: &Request, ctx: &Context) -> Outcome {
        let user = match self.login(req, ctx) {
            Ok(u) => u,
            Err(refused) => return refused,
        };
        let answer = |response| answer_to(user, response);
        if !user
            .scopes
            .iter()
            .any(|s| s == INTROSPECT_SCOPE || s == ADMIN_SCOPE)
        {
            return answer(fault(
                403,
                FAULT_FORBIDDEN,
                "Forbidden",
                "introspection needs the apikey:introspect or apikey:admin scope",
            ));
        }
        let token = match oauth::parse_introspect_request(req.header_str("content-type"), &req.body)
        {
            Ok(t) => t,
            Err(e) => return answer(e.response()),
        };
        match self.validator.check_token(token.trim(), None, ctx.now) {
            Ok(accepted) => answer(oauth::active(&accepted.verified.claims)),
            Err(_) => answer(oauth::inactive()),
        }
    }

    /// `GET /.well-known/oauth-authorization-server` (RFC 8414).
    pub(super) fn discovery(&self, req: &Request) -> Outcome {
        if !matches!(req.method.as_str(), "GET" | "HEAD") {
            return crate::fault::method_not_allowed("GET, HEAD").into();
        }
        match &self.public_base_url {
            Some(base) => oauth::metadata(&self.issuer, base, &self.keys.algorithms()).into(),
            None => not_found().into(),
        }
    }
}

/// An answer to an authenticated client: the request log names it.
fn answer_to(user: &User, response: Response) -> Outcome {
    Outcome {
        response,
        user: Some(user.name.as_str().into()),
        jti: None,
        hold: None,
        logged: true,
    }
}

impl Issuer {
    /// The APIs a `scope` asks the key for: None (the user's whole list) when it names none.
    /// Each must be among the user's APIs, as for `/apikey`'s `apis`; a refusal is
    /// `invalid_scope` (§5.2) rather than `/apikey`'s 403, as OAuth clients expect.
    fn scoped_apis(
        &self,
        user: &User,
        scope: &[Scope],
    ) -> Result<Option<Vec<WantedApi>>, ScopeError> {
        if scope.is_empty() {
            return Ok(None);
        }
        let wanted: Vec<WantedApi> = scope
            .iter()
            .map(|s| match s {
                Scope::Api { name, version } => WantedApi {
                    name: name.clone(),
                    version: version.clone(),
                },
            })
            .collect();
        let allowed = self.grants.apis_for(&user.name, &user.scopes);
        match apis::narrow(&allowed, &wanted) {
            Ok(_) => Ok(Some(wanted)),
            Err(_) => Err(ScopeError::NotGranted),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{claims_of, ctx, issuer, req, ADMIN};
    use crate::auth::{PasswordHash, User, UserDb};
    use crate::http::Request;
    use serde_json::Value;

    const FORM: &str = "application/x-www-form-urlencoded";
    const WRONG: &str = "Basic YWRtaW46d3Jvbmc=";

    fn post(path: &str, auth: Option<&str>, body: &str) -> Request {
        let mut r = req("POST", path, auth, body);
        r.headers.push(("Content-Type".into(), FORM.into()));
        r
    }

    fn json(body: &[u8]) -> Value {
        serde_json::from_slice(body).unwrap()
    }

    #[test]
    fn token_endpoint_issues_the_apikey_key() {
        let out = issuer(600).route(
            &post(
                "/apikey/token",
                Some(ADMIN),
                "grant_type=client_credentials",
            ),
            &ctx(1000),
        );
        assert_eq!(out.response.status, 200);
        assert_eq!(out.response.header_value("Cache-Control"), Some("no-store"));
        assert_eq!(out.user.as_deref(), Some("admin"));
        let b = json(&out.response.body);
        assert_eq!(b["token_type"], "Bearer");
        assert_eq!(b["expires_in"], 600);
        let c = claims_of(b["access_token"].as_str().unwrap());
        assert_eq!(
            (c["sub"].as_str(), c["exp"].as_i64()),
            (Some("admin"), Some(1600))
        );
        assert_eq!(c["jti"].as_str(), out.jti.as_deref());
        assert_eq!(c["allowedAPIs"].as_array().unwrap().len(), 3);
        let never = issuer(-1).route(
            &post(
                "/apikey/token",
                Some(ADMIN),
                "grant_type=client_credentials",
            ),
            &ctx(1000),
        );
        assert_eq!(json(&never.response.body).get("expires_in"), None);
    }

    /// `scope=api:NAME:VERSION ...` narrows the key exactly as `/apikey`'s `apis` does: a
    /// version under `"*"` yields that version only.
    #[test]
    fn scope_narrows_the_key_to_the_named_apis() {
        let i = issuer(600);
        let body = "grant_type=client_credentials\
                    &scope=api:Swagger%2520Petstore%2520New:v1%20api:MyAPI:v2";
        let out = i.route(&post("/apikey/token", Some(ADMIN), body), &ctx(0));
        assert_eq!(out.response.status, 200);
        let key = json(&out.response.body)["access_token"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            claims_of(&key)["allowedAPIs"],
            serde_json::json!([
                {"name": "Swagger Petstore New", "version": "v1"},
                {"name": "MyAPI", "version": "v2"}
            ])
        );
        // Without a scope: the user's whole list.
        let all = i.route(
            &post(
                "/apikey/token",
                Some(ADMIN),
                "grant_type=client_credentials",
            ),
            &ctx(0),
        );
        let key = json(&all.response.body)["access_token"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(claims_of(&key)["allowedAPIs"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn token_endpoint_errors_and_the_failed_login_hold() {
        let i = issuer(600);
        let call = |auth, body: &str| i.route(&post("/apikey/token", auth, body), &ctx(0));
        let wrong = call(Some(WRONG), "grant_type=client_credentials");
        assert_eq!(wrong.response.status, 401);
        assert_eq!(json(&wrong.response.body)["error"], "invalid_client");
        assert!(wrong.response.header_value("WWW-Authenticate").is_some());
        assert_eq!(wrong.hold, Some(i.failed_login_delay));
        let missing = call(None, "grant_type=client_credentials");
        assert_eq!(json(&missing.response.body)["error"], "invalid_client");
        assert_eq!(missing.hold, None);
        for (body, code) in [
            ("grant_type=password", "unsupported_grant_type"),
            ("", "invalid_request"),
            (
                "grant_type=client_credentials&scope=api:Swagger%2520Petstore%2520New:v9",
                "invalid_scope",
            ),
            (
                "grant_type=client_credentials&scope=api:Other:v1",
                "invalid_scope",
            ),
            (
                "grant_type=client_credentials&scope=openid",
                "invalid_scope",
            ),
        ] {
            let out = call(Some(ADMIN), body);
            assert_eq!(out.response.status, 400, "{body}");
            assert_eq!(json(&out.response.body)["error"], code, "{body}");
            assert_eq!(out.jti, None);
        }
        let get = i.route(&req("GET", "/apikey/token", Some(ADMIN), ""), &ctx(0));
        assert_eq!(get.response.status, 405);
        let mut disabled = issuer(600);
        disabled.enabled = false;
        let off = disabled.route(&post("/apikey/token", Some(ADMIN), ""), &ctx(0));
        assert_eq!(off.response.status, 503);
    }

    #[test]
    fn token_endpoint_failures_lock_out_apikey_too() {
        let i = issuer(600);
        for _ in 0..6 {
            let out = i.route(
                &post(
                    "/apikey/token",
                    Some(WRONG),
                    "grant_type=client_credentials",
                ),
                &ctx(0),
            );
            assert_eq!(out.response.status, 401);
        }
        // One throttle for both doors: locked on /apikey and on the token endpoint.
        let apikey = i.route(&req("GET", "/apikey", Some(ADMIN), ""), &ctx(0));
        assert_eq!(apikey.response.status, 429);
        let token = i.route(
            &post(
                "/apikey/token",
                Some(ADMIN),
                "grant_type=client_credentials",
            ),
            &ctx(0),
        );
        assert_eq!(token.response.status, 429);
        assert!(token.response.header_value("Retry-After").is_some());
    }

    #[test]
    fn token_credentials_are_checked_before_100_continue() {
        use crate::service::Handler;
        let i = issuer(600);
        let refused = i.check_expect(&post("/apikey/token", Some(WRONG), ""), &ctx(0));
        let refused = refused.expect("refused from the head");
        assert_eq!(json(&refused.response.body)["error"], "invalid_client");
        assert!(i
            .check_expect(&post("/apikey/token", Some(ADMIN), ""), &ctx(0))
            .is_none());
        let intro = i.check_expect(&post("/apikey/introspect", None, ""), &ctx(0));
        assert_eq!(intro.map(|o| o.response.status), Some(401));
    }

    fn with_scopes(scopes: &[&str]) -> super::Issuer {
        let mut i = issuer(600);
        i.users = UserDb::new(
            &[User {
                name: "admin".into(),
                password: PasswordHash::parse("d033e22ae348aeb5660fc2140aec35850c4da997").unwrap(),
                scopes: scopes.iter().map(|s| s.to_string()).collect(),
            }],
            1,
        );
        i
    }

    #[test]
    fn introspection_needs_a_scope_and_runs_the_validator() {
        let now = crate::validator::tests::NOW;
        let i = with_scopes(&["apikey:introspect"]);
        let minted = i.route(
            &post(
                "/apikey/token",
                Some(ADMIN),
                "grant_type=client_credentials",
            ),
            &ctx(now),
        );
        let key = json(&minted.response.body)["access_token"]
            .as_str()
            .unwrap()
            .to_string();
        let ask = |i: &super::Issuer, token: &str, at: i64| {
            i.route(
                &post("/apikey/introspect", Some(ADMIN), &format!("token={token}")),
                &ctx(at),
            )
        };
        let out = ask(&i, &key, now);
        assert_eq!(out.response.status, 200);
        let b = json(&out.response.body);
        assert_eq!(b["active"], true);
        assert_eq!(b["sub"], "admin");
        assert_eq!(b["token_type"], "Bearer");
        assert_eq!(b["exp"], now + 600);
        assert_eq!(b["allowedAPIs"].as_array().unwrap().len(), 3);
        for (token, at) in [(key.as_str(), now + 600 + 61), ("garbage", now), ("", now)] {
            let out = ask(&i, token, at);
            if token.is_empty() {
                assert_eq!(out.response.status, 400);
                continue;
            }
            assert_eq!(
                json(&out.response.body),
                serde_json::json!({"active": false})
            );
        }
        assert_eq!(ask(&issuer(600), &key, now).response.status, 403);
        let admin = with_scopes(&["apikey:admin"]);
        assert_eq!(json(&ask(&admin, &key, now).response.body)["active"], true);
        let no_login = i.route(&post("/apikey/introspect", None, "token=x"), &ctx(now));
        assert_eq!(no_login.response.status, 401);
    }

    #[test]
    fn discovery_at_both_paths_when_a_base_is_known() {
        let i = issuer(600);
        for path in [
            "/.well-known/oauth-authorization-server",
            "/.well-known/oauth-authorization-server/apikey",
        ] {
            let out = i.route(&req("GET", path, None, ""), &ctx(0));
            assert_eq!(out.response.status, 200, "{path}");
            let m = json(&out.response.body);
            assert_eq!(m["issuer"], i.issuer.as_str());
            assert_eq!(m["token_endpoint"], "https://lb.example/apikey/token");
        }
        let post = i.route(
            &req("POST", "/.well-known/oauth-authorization-server", None, ""),
            &ctx(0),
        );
        assert_eq!(post.response.status, 405);
        let mut none = issuer(600);
        none.public_base_url = None;
        let out = none.route(
            &req("GET", "/.well-known/oauth-authorization-server", None, ""),
            &ctx(0),
        );
        assert_eq!(out.response.status, 404);
    }
}
