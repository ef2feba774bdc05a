//! The plain-HTTP listener's routes, meant for loopback: `/validate` for gateways, `/metrics`,
//! the JWKS and `/health`. It never serves `/apikey`.

use crate::config::AccessLog;
use crate::fault::{method_not_allowed, not_found};
use crate::http::{Request, Response};
use crate::jwks::Jwks;
use crate::metrics;
use crate::service::{Context, Handler, Outcome};
use crate::validator::Validator;
use std::sync::Arc;

/// The plain listener's handler.
pub struct PlainListener {
    /// Shared with the issuer, whose introspection runs the same checks and cache.
    pub validator: Arc<Validator>,
    jwks: Arc<Jwks>,
    /// Which `/validate` answers the request log shows.
    access_log: AccessLog,
}

impl PlainListener {
    pub fn new(validator: Arc<Validator>, jwks: Arc<Jwks>, access_log: AccessLog) -> Self {
        PlainListener {
            validator,
            jwks,
            access_log,
        }
    }

    pub fn route(&self, req: &Request, ctx: &Context) -> Outcome {
        match req.path() {
            // `/validate/<original path>`: Envoy's ext_authz HTTP mode appends the request's
            // path (and query) to its prefix.
            p if p == "/validate" || p.starts_with("/validate/") => {
                // auth_request subrequests keep the client's method: any method validates.
                let (response, accepted) = self.validator.validate(req, ctx.peer.ip(), ctx.now);
                let logged = self.access_log.logs(response.status);
                // The subject and jti are only for the log line: not copied when there is none.
                let claim = |name| {
                    accepted
                        .as_ref()
                        .filter(|_| logged)
                        .and_then(|a| a.claim(name))
                        .map(Box::from)
                };
                Outcome {
                    user: claim("sub"),
                    jti: claim("jti"),
                    response,
                    hold: None,
                    logged,
                }
            }
            "/metrics" => get_only(req, || {
                Response::new(200, metrics::CONTENT_TYPE, render_metrics(ctx.now))
                    .header("Cache-Control", "no-store")
            }),
            "/.well-known/jwks.json" | "/apikey/jwks" => self.jwks.respond(req).into(),
            "/health" => get_only(req, || health(ctx.now)),
            _ => not_found().into(),
        }
    }
}

/// The metrics, with the shared revocation store's gauges when one is configured.
fn render_metrics(now: i64) -> String {
    let store = crate::revocation::redis::state(now).map(|s| metrics::RevocationStoreGauges {
        up: s.up,
        since_sync: s.since_sync,
        rejected: s.rejected,
    });
    metrics::render_with(store)
}

/// `{"status":"UP"}`, or `DEGRADED` while the shared revocation store (Redis) is unreachable.
/// Degraded is still 200: validation and issuing go on with the last known set, and a load
/// balancer that took every node out whenever Redis blinked would turn a Redis outage into a
/// full one. Monitors read the status field or `/metrics`.
fn health(now: i64) -> Response {
    match crate::revocation::redis::state(now) {
        Some(s) if !s.up => Response::new(
            200,
            "application/json",
            serde_json::json!({
                "status": "DEGRADED",
                "revocationStore": "DOWN",
                "secondsSinceSync": s.since_sync,
            })
            .to_string(),
        ),
        _ => Response::new(200, "application/json", r#"{"status":"UP"}"#),
    }
}

fn get_only(req: &Request, ok: impl FnOnce() -> Response) -> Outcome {
    if req.method == "GET" || req.method == "HEAD" {
        ok().into()
    } else {
        method_not_allowed("GET, HEAD").into()
    }
}

impl Handler for PlainListener {
    fn handle(&self, req: &Request, ctx: &Context) -> Outcome {
        self.route(req, ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validator::tests::{claims, keyset, req, rules, token, validator, NOW};

    fn listener() -> PlainListener {
        let jwks = Arc::new(Jwks::new(&keyset()));
        PlainListener::new(Arc::new(validator(rules(), 10)), jwks, AccessLog::All)
    }

    #[test]
    fn routes() {
        let v = listener();
        let ctx = Context {
            peer: "127.0.0.1:1".parse().unwrap(),
            client: "127.0.0.1".parse().unwrap(),
            now: NOW,
        };
        let status = |m: &str, p: &str| {
            let mut r = req(p, &[]);
            r.method = m.into();
            v.route(&r, &ctx).response.status
        };
        assert_eq!(status("GET", "/apikey"), 404);
        assert_eq!(status("POST", "/apikey"), 404);
        assert_eq!(status("GET", "/validate"), 401);
        assert_eq!(status("POST", "/validate"), 401);
        assert_eq!(status("GET", "/metrics"), 200);
        assert_eq!(status("POST", "/metrics"), 405);
        assert_eq!(status("GET", "/.well-known/jwks.json"), 200);
        assert_eq!(status("GET", "/apikey/jwks"), 200);
        assert_eq!(status("GET", "/health"), 200);
        assert_eq!(status("GET", "/validate/pets/1"), 401);
        assert_eq!(status("GET", "/validatex"), 404);
        let t = token(&claims());
        let out = v.route(&req("/validate", &[("apikey", &t)]), &ctx);
        assert_eq!(out.user.as_deref(), Some("admin"));
        assert!(out.jti.is_some());
        // Envoy ext_authz: the original path and query appended to the prefix.
        let envoy = v.route(&req(&format!("/validate/pets/1?apikey={t}"), &[]), &ctx);
        assert_eq!(envoy.response.status, 200);
    }

    #[test]
    fn access_log_setting_marks_which_answers_are_logged() {
        let ctx = Context {
            peer: "127.0.0.1:1".parse().unwrap(),
            client: "127.0.0.1".parse().unwrap(),
            now: NOW,
        };
        let good = token(&claims());
        for (setting, logs_200, logs_401) in [
            (AccessLog::All, true, true),
            (AccessLog::Refusals, false, true),
            (AccessLog::Off, false, false),
        ] {
            let v = PlainListener::new(
                Arc::new(validator(rules(), 10)),
                Arc::new(Jwks::new(&keyset())),
                setting,
            );
            let ok = v.route(&req("/validate", &[("apikey", &good)]), &ctx);
            assert_eq!(ok.response.status, 200);
            assert_eq!(ok.logged, logs_200, "{setting:?}");
            // The subject and jti are only for the log line.
            assert_eq!(ok.user.is_some(), logs_200, "{setting:?}");
            assert_eq!(ok.jti.is_some(), logs_200, "{setting:?}");
            let refused = v.route(&req("/validate", &[("apikey", "x.y.z")]), &ctx);
            assert_eq!(refused.response.status, 401);
            assert_eq!(refused.logged, logs_401, "{setting:?}");
            // Other routes are always logged.
            assert!(v.route(&req("/health", &[]), &ctx).logged);
        }
        assert_eq!(AccessLog::default(), AccessLog::Refusals);
        assert!(AccessLog::Refusals.logs(403) && AccessLog::Refusals.logs(500));
    }
}
