//! The issuer's unit tests: routing, login, issuing, revocation and the request bodies.

use super::*;
use crate::auth::PasswordHash;
use crate::config::ApiEntry;
use crate::jwt::tests::{test_key, test_public};
use crate::jwt::RsaSigner;

pub(super) fn issuer(validity: i64) -> Issuer {
    Issuer {
        enabled: true,
        issuer: "https://localhost:9095/apikey".into(),
        audience: None,
        kid: "ballerina".into(),
        validity_time: validity,
        grants: apis::Grants {
            global: vec![
                ApiEntry {
                    name: "Swagger Petstore New".into(),
                    versions: vec!["1.0.0".into(), "v1".into()],
                },
                ApiEntry {
                    name: "MyAPI".into(),
                    versions: vec!["*".into()],
                },
            ],
            ..Default::default()
        },
        users: UserDb::new(
            &[User {
                name: "admin".into(),
                password: PasswordHash::parse("d033e22ae348aeb5660fc2140aec35850c4da997").unwrap(),
                scopes: vec![],
            }],
            1,
        ),
        signer: Box::new(RsaSigner::new(test_key().clone())),
        throttle: Arc::default(),
        jwks: Arc::new(Jwks::new(&KeySet::new(vec![]).unwrap())),
        keys: Arc::new(KeySet::new(vec![]).unwrap()),
        revocations: None,
        revocations_per_user: crate::revocation::MAX_PER_USER,
        failed_login_delay: Duration::from_millis(321),
        validator: Arc::new(crate::validator::tests::validator(
            crate::validator::tests::rules(),
            10,
        )),
        public_base_url: Some("https://lb.example".into()),
    }
}

pub(super) fn req(method: &str, path: &str, auth: Option<&str>, body: &str) -> Request {
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

pub(super) fn ctx(now: i64) -> Context {
    Context {
        peer: "127.0.0.1:1".parse().unwrap(),
        client: "127.0.0.1".parse().unwrap(),
        now,
    }
}

pub(super) const ADMIN: &str = "Basic YWRtaW46YWRtaW4=";

pub(super) fn claims_of(token: &str) -> serde_json::Value {
    let public = test_public();
    jwt::verify(token, &|_| Some(&public)).unwrap().claims
}

#[test]
fn issues_token_with_expanded_apis() {
    let out = issuer(-1).route(&req("GET", "/apikey", Some(ADMIN), ""), &ctx(1000));
    assert_eq!(out.response.status, 200);
    assert_eq!(out.user.as_deref(), Some("admin"));
    let token = String::from_utf8(out.response.body).unwrap();
    let c = claims_of(&token);
    assert_eq!(c["sub"], "admin");
    assert_eq!(c["iat"], 1000);
    assert!(c.get("exp").is_none());
    assert!(c.get("aud").is_none());
    assert_eq!(c["jti"], &*out.jti.unwrap());
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
    let out = issuer(-1).route(
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
        let out = issuer(-1).route(&req("POST", "/apikey", Some(ADMIN), body), &ctx(0));
        assert_eq!(out.response.status, 400, "{body}");
        let v: serde_json::Value = serde_json::from_slice(&out.response.body).unwrap();
        assert_eq!(v["fault"]["code"], FAULT_UNCLASSIFIED);
    }
    assert_eq!(requested_validity(b" \n").unwrap(), None);
    assert_eq!(requested_validity(br#"{"other":1}"#).unwrap(), None);
}

#[test]
fn credentials_problems_are_401_and_indistinguishable() {
    let a = issuer(-1);
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
fn every_failed_login_is_held_and_nothing_else() {
    let i = issuer(-1);
    let held = Some(Duration::from_millis(321));
    // Wrong password, unknown user, malformed credentials: held, on every route that logs in.
    for (path, auth) in [
        ("/apikey", "Basic YWRtaW46d3Jvbmc="), // admin:wrong
        ("/apikey", "Basic Z2hvc3Q6YWRtaW4="), // ghost:admin
        ("/apikey", "Basic !!!"),
        ("/apikey/revoked", "Basic Z2hvc3Q6YWRtaW4="),
    ] {
        let out = i.route(&req("GET", path, Some(auth), ""), &ctx(1000));
        assert_eq!(out.response.status, 401, "{path} {auth}");
        assert_eq!(out.hold, held, "{path} {auth}");
    }
    // Missing credentials and a successful login are answered at once.
    let out = i.route(&req("GET", "/apikey", None, ""), &ctx(1000));
    assert_eq!((out.response.status, out.hold), (401, None));
    let out = i.route(&req("GET", "/apikey", Some(ADMIN), ""), &ctx(1000));
    assert_eq!((out.response.status, out.hold), (200, None));
}

#[test]
fn expectations_are_checked_from_the_head() {
    let i = issuer(-1);
    let head = |path: &str, auth: Option<&str>| {
        let mut r = req("POST", path, auth, "");
        r.headers
            .push(("Content-Length".to_string(), b"16000".to_vec()));
        r
    };
    // Wrong or missing credentials: refused before any body is read (a failure still held).
    let out = i
        .check_expect(&head("/apikey", Some("Basic YWRtaW46d3Jvbmc=")), &ctx(1))
        .expect("refused");
    assert_eq!((out.response.status, out.hold.is_some()), (401, true));
    let out = i
        .check_expect(&head("/apikey/revoke", None), &ctx(1))
        .expect("refused");
    assert_eq!(out.response.status, 401);
    // Good credentials: the body may come.
    assert!(i
        .check_expect(&head("/apikey", Some(ADMIN)), &ctx(1))
        .is_none());
    // Routes that take no body are answered from the head.
    let out = i
        .check_expect(&head("/nowhere", Some(ADMIN)), &ctx(1))
        .expect("answered");
    assert_eq!(out.response.status, 404);
}

#[test]
fn routes_and_methods() {
    let a = issuer(-1);
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
    let out = issuer(-1).route(&r, &ctx(10));
    let v: serde_json::Value = serde_json::from_slice(&out.response.body).unwrap();
    assert_eq!(v["expiresAt"], 70);
    assert_eq!(v["jti"], &*out.jti.unwrap());
    assert_eq!(claims_of(v["apiKey"].as_str().unwrap())["exp"], 70);
    let mut r = req("GET", "/apikey", Some(ADMIN), "");
    r.headers
        .push(("Accept".into(), b"application/json".to_vec()));
    let v: serde_json::Value =
        serde_json::from_slice(&issuer(-1).route(&r, &ctx(10)).response.body).unwrap();
    assert!(v["expiresAt"].is_null());
}

#[test]
fn repeated_failures_get_429_with_retry_after() {
    let a = issuer(-1);
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
    other.client = "127.0.0.2".parse().unwrap();
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
    let a = issuer(-1);
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
    let mut a = issuer(-1);
    a.enabled = false;
    assert_eq!(
        a.route(&req("GET", "/apikey", Some(ADMIN), ""), &ctx(0))
            .response
            .status,
        503
    );
}

const CI: &str = "Basic Y2k6YWRtaW4="; // ci:admin
const SBX: &str = "Basic c2J4OmFkbWlu"; // sbx:admin
const TEAM: &str = "Basic dGVhbTphZG1pbg=="; // team:admin

/// `issuer(-1)` plus users `ci` (own APIs, default restrictions), `sbx` (the sandbox scope)
/// and `team` (a scope mapped to an API), all with the password `admin`.
fn least_privilege_issuer() -> Issuer {
    let mut i = issuer(-1);
    let user = |name: &str, scopes: &[&str]| User {
        name: name.into(),
        password: PasswordHash::parse("d033e22ae348aeb5660fc2140aec35850c4da997").unwrap(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
    };
    i.users = UserDb::new(
        &[
            user("admin", &["apikey:introspect"]),
            user("ci", &[]),
            user("sbx", &[SANDBOX_SCOPE]),
            user("team", &["team:pay"]),
        ],
        1,
    );
    i.grants.users.insert(
        "ci".into(),
        crate::config::UserGrant {
            apis: vec![ApiEntry {
                name: "Build".into(),
                versions: vec!["v1".into(), "v2".into()],
            }],
            permitted_ip: Some(crate::restriction::PermittedIp::parse("10.0.0.0/8").unwrap()),
            permitted_referer: None,
        },
    );
    i.grants.by_scope.push(crate::config::ScopeApi {
        scope: "team:pay".into(),
        api: ApiEntry {
            name: "Pay".into(),
            versions: vec!["*".into()],
        },
    });
    i
}

fn issue(i: &Issuer, auth: &str, body: &str) -> (u16, serde_json::Value) {
    let out = i.route(&req("POST", "/apikey", Some(auth), body), &ctx(1000));
    let status = out.response.status;
    let text = String::from_utf8(out.response.body).unwrap();
    if status == 200 {
        (status, claims_of(&text))
    } else {
        (status, serde_json::from_str(&text).unwrap())
    }
}

#[test]
fn user_and_scope_api_lists_replace_the_global_one() {
    let i = least_privilege_issuer();
    let (s, c) = issue(&i, ADMIN, "");
    assert_eq!((s, c["allowedAPIs"].as_array().unwrap().len()), (200, 3));
    let (_, c) = issue(&i, CI, "");
    assert_eq!(
        c["allowedAPIs"],
        json!([{"name": "Build", "version": "v1"}, {"name": "Build", "version": "v2"}])
    );
    let (_, c) = issue(&i, TEAM, "");
    assert_eq!(c["allowedAPIs"], json!([{"name": "Pay", "version": "*"}]));
}

#[test]
fn a_subset_is_exactly_what_was_asked() {
    let i = least_privilege_issuer();
    let body = r#"{"validityTime":600,"apis":[{"name":"MyAPI","version":"v3"},
        {"name":"Swagger Petstore New","version":"v1"},{"name":"MyAPI","version":"v3"}]}"#;
    let (s, c) = issue(&i, ADMIN, body);
    assert_eq!(s, 200);
    assert_eq!(c["exp"], 1600);
    assert_eq!(
        c["allowedAPIs"],
        json!([{"name": "MyAPI", "version": "v3"},
               {"name": "Swagger Petstore New", "version": "v1"}])
    );
    // "*" needs "*"; a version or an API the user lacks is 403 naming the first one refused.
    for (body, named) in [
        (
            r#"{"apis":[{"name":"Swagger Petstore New","version":"*"}]}"#,
            "\"*\"",
        ),
        (
            r#"{"apis":[{"name":"MyAPI","version":"1"},{"name":"Other","version":"1"},{"name":"Nope","version":"1"}]}"#,
            "\"Other\"",
        ),
        (
            r#"{"apis":[{"name":"Swagger Petstore New","version":"v2"}]}"#,
            "\"v2\"",
        ),
    ] {
        let (s, f) = issue(&i, ADMIN, body);
        assert_eq!(s, 403, "{body}");
        assert_eq!(f["fault"]["code"], crate::fault::FAULT_FORBIDDEN);
        let d = f["fault"]["description"].as_str().unwrap();
        assert!(d.contains(named) && !d.contains("Nope"), "{d}");
    }
    // A user's own list bounds the subset too.
    assert_eq!(
        issue(&i, CI, r#"{"apis":[{"name":"MyAPI","version":"1"}]}"#).0,
        403
    );
    assert_eq!(
        issue(&i, CI, r#"{"apis":[{"name":"Build","version":"v2"}]}"#).0,
        200
    );
}

#[test]
fn restrictions_become_wso2_claims_and_bad_ones_are_400() {
    let i = least_privilege_issuer();
    let body = r#"{"permittedIP":"127.0.0.2, 2001:db8::/32","permittedReferer":"https://*.example.com/*"}"#;
    let (s, c) = issue(&i, ADMIN, body);
    assert_eq!(s, 200);
    assert_eq!(c["permittedIP"], "127.0.0.2,2001:db8::/32");
    assert_eq!(c["permittedReferer"], "https://*.example.com/*");
    let (_, plain) = issue(&i, ADMIN, r#"{"validityTime":600}"#);
    assert!(plain.get("permittedIP").is_none() && plain.get("permittedReferer").is_none());
    for (body, named) in [
        (r#"{"permittedIP":"10.0.0.1,10.0.0.256"}"#, "10.0.0.256"),
        (
            r#"{"permittedReferer":"https://ok.com/*,http://bad host/"}"#,
            "bad host",
        ),
        (r#"{"permittedIP":["10.0.0.1"]}"#, "permittedIP"),
        (r#"{"keyType":"sandbox"}"#, "keyType"),
        (r#"{"apis":[]}"#, "apis"),
        (r#"{"apis":[{"name":"MyAPI"}]}"#, "apis"),
    ] {
        let (s, f) = issue(&i, ADMIN, body);
        assert_eq!(s, 400, "{body}");
        let d = f["fault"]["description"].as_str().unwrap();
        assert!(d.contains(named), "{d}");
    }
}

#[test]
fn user_default_restrictions_are_carried_and_only_narrowed() {
    let i = least_privilege_issuer();
    let (_, c) = issue(&i, CI, "");
    assert_eq!(c["permittedIP"], "10.0.0.0/8");
    let (s, c) = issue(&i, CI, r#"{"permittedIP":"10.1.2.3"}"#);
    assert_eq!((s, &c["permittedIP"]), (200, &json!("10.1.2.3")));
    let (s, f) = issue(&i, CI, r#"{"permittedIP":"10.1.2.3,0.0.0.0/0"}"#);
    assert_eq!(s, 403);
    assert!(f["fault"]["description"]
        .as_str()
        .unwrap()
        .contains("\"0.0.0.0/0\""));
}

#[test]
fn sandbox_keys_need_the_sandbox_scope() {
    let i = least_privilege_issuer();
    let (s, f) = issue(&i, ADMIN, r#"{"keyType":"SANDBOX"}"#);
    assert_eq!(s, 403);
    assert!(f["fault"]["description"]
        .as_str()
        .unwrap()
        .contains(SANDBOX_SCOPE));
    let (s, c) = issue(&i, SBX, r#"{"keyType":"SANDBOX"}"#);
    assert_eq!((s, &c["keytype"]), (200, &json!("SANDBOX")));
    let (_, c) = issue(&i, SBX, r#"{"keyType":"PRODUCTION"}"#);
    assert_eq!(c["keytype"], "PRODUCTION");
}

#[test]
fn issue_body_caps_at_and_past_the_edge() {
    let api = |n: usize| format!(r#"{{"name":"{}","version":"v"}}"#, "a".repeat(n));
    let list = |count: usize| format!(r#"{{"apis":[{}]}}"#, vec![api(1); count].join(","));
    assert!(parse_issue_body(list(MAX_REQUESTED_APIS).as_bytes()).is_ok());
    assert_eq!(
        parse_issue_body(list(MAX_REQUESTED_APIS + 1).as_bytes()),
        Err(BodyError::TooManyApis(MAX_REQUESTED_APIS + 1))
    );
    let one = |n: usize| format!(r#"{{"apis":[{}]}}"#, api(n));
    assert!(parse_issue_body(one(MAX_API_FIELD_BYTES).as_bytes()).is_ok());
    assert_eq!(
        parse_issue_body(one(MAX_API_FIELD_BYTES + 1).as_bytes()),
        Err(BodyError::BadApiField)
    );
    // Old bodies: exactly as before.
    assert_eq!(parse_issue_body(b"").unwrap(), IssueRequest::default());
    let r = parse_issue_body(br#"{"validityTime":600}"#).unwrap();
    assert_eq!(
        r,
        IssueRequest {
            validity: Some(600),
            ..IssueRequest::default()
        }
    );
}

#[test]
fn narrow_is_callable_on_its_own() {
    let allowed = [ApiEntry {
        name: "A".into(),
        versions: vec!["*".into()],
    }];
    let want = |v: &str| apis::WantedApi {
        name: "A".into(),
        version: v.into(),
    };
    assert_eq!(
        apis::narrow(&allowed, &[want("v1")]).unwrap(),
        vec![jwt::AllowedApi {
            name: "A".into(),
            version: "v1".into()
        }]
    );
    assert_eq!(apis::narrow(&allowed, &[want("*")]).unwrap().len(), 1);
    assert_eq!(
        apis::narrow(&[], &[want("v1")]).unwrap_err(),
        apis::Refused {
            name: "A".into(),
            version: "v1".into()
        }
    );
}

#[test]
fn oauth_keys_carry_the_users_grant_and_introspection_shows_restrictions() {
    let i = least_privilege_issuer();
    let now = crate::validator::tests::NOW;
    let form = |path: &str, auth: &str, body: &str| {
        let mut r = req("POST", path, Some(auth), body);
        r.headers.push((
            "Content-Type".into(),
            b"application/x-www-form-urlencoded".to_vec(),
        ));
        let out = i.route(&r, &ctx(now));
        assert_eq!(out.response.status, 200, "{path}");
        serde_json::from_slice::<serde_json::Value>(&out.response.body).unwrap()
    };
    let minted = form("/apikey/token", CI, "grant_type=client_credentials");
    let key = minted["access_token"].as_str().unwrap();
    let c = claims_of(key);
    assert_eq!(c["permittedIP"], "10.0.0.0/8");
    assert_eq!(c["allowedAPIs"].as_array().unwrap().len(), 2);
    // Introspection judges the key, not who asks: a restricted key is active, its
    // restriction shown for the caller to apply.
    let seen = form("/apikey/introspect", ADMIN, &format!("token={key}"));
    assert_eq!(seen["active"], true);
    assert_eq!(seen["permittedIP"], "10.0.0.0/8");
}
