//! Revocation: `/apikey/revoke` (RFC 7009 style) and `/apikey/revoked`.

use super::{internal_error, parse_revoke_body, Issuer, RevokeTarget, ADMIN_SCOPE};
use crate::auth::User;
use crate::fault::{fault, FAULT_FORBIDDEN, FAULT_UNCLASSIFIED};
use crate::http::{Request, Response};
use crate::jwt;
use crate::revocation::store::Store;
use crate::service::{Context, Outcome};
use serde_json::json;

impl Issuer {
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
    pub(super) fn revoke(&self, req: &Request, ctx: &Context) -> Outcome {
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
                response: fault(403, FAULT_FORBIDDEN, "Forbidden", why),
                user: Some(user.name.as_str().into()),
                jti: None,
                hold: None,
                logged: true,
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
                let keys = &self.keys;
                let verified = jwt::verify(&t, &|kid| keys.key_for(kid)).ok();
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
    pub(super) fn revoked(&self, req: &Request, ctx: &Context) -> Outcome {
        let (user, store) = match self.login_for_revocation(req, ctx) {
            Ok(us) => us,
            Err(refused) => return refused,
        };
        if !user.scopes.iter().any(|s| s == ADMIN_SCOPE) {
            return fault(
                403,
                FAULT_FORBIDDEN,
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
            user: Some(user.name.as_str().into()),
            jti: None,
            hold: None,
            logged: true,
        }
    }
}

fn revoked_ok(user: &User, jti: Option<String>) -> Outcome {
    Outcome {
        response: Response::new(200, "application/json", r#"{"revoked":true}"#)
            .header("Cache-Control", "no-store"),
        user: Some(user.name.as_str().into()),
        jti: jti.map(Into::into),
        hold: None,
        logged: true,
    }
}
