//! The OAuth endpoints on the issuer: the token endpoint issues through the same login
//! (throttle, failed-login hold, slow-hash limit) and signing as `/apikey`; introspection runs
//! the `/validate` checks and cache; the metadata names them. Wire shapes are in `crate::oauth`.

use super::{Issuer, Minted, Refused, ADMIN_SCOPE};
use crate::auth::User;
use crate::fault::{fault, not_found, FAULT_FORBIDDEN};
use crate::http::Request;
use crate::oauth::{self, OAuthError, Scope, ScopeError, INTROSPECT_SCOPE};
use crate::service::{Context, Outcome};

/// The algorithms keys are signed with (and the only ones `/validate` accepts).
const SIGNING_ALGS: [&str; 1] = ["RS256"];

impl Issuer {
    /// HTTP Basic client authentication with the §5.2 `invalid_client` answer; lockouts and
    /// overload are answered as on `/apikey`.
    pub(super) fn client_login(&self, req: &Request, ctx: &Context) -> Result<&User, Outcome> {
        self.authenticate(req, ctx)
            .map_err(|refused| match refused {
                Refused::Missing => OAuthError::InvalidClient.response().into(),
                Refused::Invalid => self.failed_login(OAuthError::InvalidClient.response()),
                other => self.not_now(other),
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
        let answer = |response| Outcome {
            response,
            user: Some(user.name.clone()),
            jti: None,
            hold: None,
        };
        let request =
            oauth::parse_token_request(req.header_str("content-type"), &req.body, &user.name);
        if let Err(e) = request.and_then(|r| narrow(&r.scope).map_err(OAuthError::InvalidScope)) {
            return answer(e.response());
        }
        let Minted { token, jti, exp } = match self.mint(user, self.validity_time, ctx.now) {
            Ok(m) => m,
            Err(failed) => return failed,
        };
        let expires_in = exp.map(|e| e - ctx.now);
        Outcome {
            jti: Some(jti),
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
        let answer = |response| Outcome {
            response,
            user: Some(user.name.clone()),
            jti: None,
            hold: None,
        };
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
        match self.validator.check(token.trim(), None, ctx.now) {
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
            Some(base) => oauth::metadata(&self.issuer, base, &SIGNING_ALGS).into(),
            None => not_found().into(),
        }
    }
}

/// What a `scope` asks of the key. Keys limited to a subset of the APIs are not issued, so a
/// scope naming APIs is refused; an empty scope asks for the usual key.
fn narrow(scope: &[Scope]) -> Result<(), ScopeError> {
    if scope.is_empty() {
        Ok(())
    } else {
        Err(ScopeError::NarrowingUnavailable)
    }
}
