//! The standard front doors end to end: an OAuth client library (Python `authlib`) that knows
//! only the issuer, the token endpoint's RFC 6749 §5.2 errors, RFC 7662 introspection, and
//! forward-auth from Caddy (a real `caddy`), Traefik's header set and Envoy's `ext_authz` path
//! style (driven by curl, neither is packaged here).
//!
//! Tools: `curl`, `nginx`, `caddy` (Debian) and `authlib` in `target/py-venv`, installed by
//! `tests/install-tools.sh`. A missing tool fails the test, naming it.
mod common;
use common::*;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A user without scopes, and one with `apikey:introspect` (SHA-1 hex of their names).
const USERS: &str = r#"
[b7a.users.bob]
  password = "48181acd22b3edaebc8a447868a7df7ce629920a"
[b7a.users.intro]
  password = "3cee67464592bc120948bad87aee645ce148bddf"
  scopes = "apikey:introspect"
"#;
const BOB: &str = "bob:bob";
const INTRO: &str = "intro:intro";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The server on a port chosen here (the issuer and the public base URL name it), with the
/// validator listener.
struct Sts {
    srv: Server,
    issuer: String,
    ca: PathBuf,
}

fn start_sts(validity: i64) -> Sts {
    let port = free_port();
    let issuer = format!("https://localhost:{port}/apikey");
    let cfg = default_config(&format!(
        "{USERS}\n[validator]\nport = 0\nclockSkewSeconds = 0\n"
    ))
    .replace("httpsPort = 0", &format!("httpsPort = {port}"))
    .replace("https://localhost:9095/apikey", &issuer)
    .replace(
        "validityTime = -1",
        &format!("validityTime = {validity}\n    publicBaseUrl = \"https://127.0.0.1:{port}/\""),
    );
    let srv = Server::start(&cfg);
    let ca = srv.dir.write(
        "ca.pem",
        openssl(&["x509", "-inform", "DER"], Some(&dev_cert())),
    );
    Sts { srv, issuer, ca }
}

struct Reply {
    status: u16,
    head: String,
    body: String,
}

impl Reply {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// One curl request; `args` are curl's (URL included).
fn curl(args: &[&str]) -> Reply {
    let out = Command::new("curl")
        .args(["-sS", "-i", "--max-time", "20"])
        .args(args)
        .output();
    require_tool(out.is_ok(), "curl");
    let out = out.unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| {
        panic!(
            "curl {args:?}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap();
    Reply {
        status,
        head: head.to_ascii_lowercase(),
        body: body.to_string(),
    }
}

impl Sts {
    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.srv.addr.port())
    }

    fn post(&self, path: &str, user: Option<&str>, form: &str) -> Reply {
        let url = self.url(path);
        let mut args = vec!["--cacert", common::path_str(&self.ca), "--data", form, &url];
        if let Some(u) = user {
            args.splice(0..0, ["-u", u]);
        }
        curl(&args)
    }

    fn token(&self, user: &str) -> String {
        let r = self.post("/apikey/token", Some(user), "grant_type=client_credentials");
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["access_token"].as_str().unwrap().to_string()
    }

    fn introspect(&self, user: &str, token: &str) -> Reply {
        self.post("/apikey/introspect", Some(user), &format!("token={token}"))
    }

    fn validator(&self) -> String {
        format!("http://{}", self.srv.plain_addr.unwrap())
    }
}

/// A gateway process (nginx, caddy) in its own directory, killed by PID on drop.
struct Daemon {
    child: Child,
    addr: SocketAddr,
    dir: TempDir,
    log: &'static str,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    /// Runs `cmd` and waits until `port` accepts connections.
    fn start(mut cmd: Command, dir: TempDir, port: u16, log: &'static str) -> Daemon {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.0.join(log)).unwrap())
            .spawn();
        require_tool(child.is_ok(), &format!("{cmd:?}"));
        let mut d = Daemon {
            child: child.unwrap(),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            dir,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(d.addr).is_err() {
            let exited = d.child.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() > deadline {
                panic!("{cmd:?} did not start ({exited:?}):\n{}", d.logs());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        d
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.0.join(self.log)).unwrap_or_default()
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// nginx guarding `/petstore/` with `auth_request` to the validator; the upstream echoes the
/// subject it was given.
fn nginx(validator: SocketAddr) -> Daemon {
    let dir = TempDir::new("nginx");
    let (gw, up) = (free_port(), free_port());
    let d = path_str(&dir.0).to_string();
    let conf = format!(
        r#"daemon off; master_process off; worker_processes 1; pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {d}/b; proxy_temp_path {d}/p; fastcgi_temp_path {d}/f;
    uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;
    server {{ listen 127.0.0.1:{up}; location / {{ return 200 "sub=$http_x_auth_subject"; }} }}
    server {{
        listen 127.0.0.1:{gw};
        location = /_validate {{
            internal;
            proxy_pass http://{validator}/validate;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
        }}
        location /petstore/ {{
            auth_request /_validate;
            auth_request_set $auth_sub $upstream_http_x_auth_subject;
            proxy_set_header X-Auth-Subject $auth_sub;
            proxy_pass http://127.0.0.1:{up};
        }}
    }}
}}
"#
    );
    let conf_path = dir.write("nginx.conf", conf);
    let mut cmd = Command::new("/usr/sbin/nginx");
    cmd.arg("-p").arg(&dir.0).arg("-c").arg(&conf_path);
    Daemon::start(cmd, dir, gw, "error.log")
}

#[test]
fn authlib_fetches_a_token_from_the_discovery_document_and_calls_nginx_with_it() {
    let python = format!("{ROOT}/target/py-venv/bin/python");
    let ready = Command::new(&python)
        .args(["-c", "import authlib, requests"])
        .status()
        .is_ok_and(|s| s.success());
    require_tool(ready, "authlib (pip, in target/py-venv)");
    let sts = start_sts(3600);
    let gw = nginx(sts.srv.plain_addr.unwrap());
    let out = Command::new(&python)
        .arg(format!("{ROOT}/tests/tools/oauth_client.py"))
        .args([&sts.issuer, path_str(&sts.ca), "admin", "admin"])
        .arg(gw.url("/petstore/pets"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        sts.srv.log_text()
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["issuer"], sts.issuer.as_str());
    // The endpoints come from publicBaseUrl, not from the listener or the issuer.
    let base = format!("https://127.0.0.1:{}", sts.srv.addr.port());
    assert_eq!(r["token_endpoint"], format!("{base}/apikey/token"));
    assert_eq!(r["token_type"], "Bearer");
    assert_eq!(r["expires_in"], 3600);
    assert_eq!(
        (r["status"].as_i64(), r["body"].as_str()),
        (Some(200), Some("sub=admin"))
    );
    let key = r["access_token"].as_str().unwrap();
    assert_eq!(claims(key)["iss"], sts.issuer.as_str());
    // The same gateway refuses a request without the key, and a forged one.
    assert_eq!(curl(&[&gw.url("/petstore/pets")]).status, 401);
    let forged = format!("{key}x");
    let bearer = format!("Authorization: Bearer {forged}");
    assert_eq!(
        curl(&["-H", &bearer, &gw.url("/petstore/pets")]).status,
        401
    );
}

#[test]
fn token_endpoint_errors_have_the_rfc_shapes() {
    let sts = start_sts(3600);
    let check = |r: Reply, status: u16, code: &str| {
        assert_eq!(r.status, status, "{}", r.body);
        let b = r.json();
        assert_eq!(b["error"], code, "{b}");
        assert!(b["error_description"].is_string(), "{b}");
        assert!(r.head.contains("cache-control: no-store"), "{}", r.head);
        r
    };
    let wrong = sts.post(
        "/apikey/token",
        Some("admin:wrong"),
        "grant_type=client_credentials",
    );
    let wrong = check(wrong, 401, "invalid_client");
    assert!(
        wrong.head.contains("www-authenticate: basic"),
        "{}",
        wrong.head
    );
    let none = sts.post("/apikey/token", None, "grant_type=client_credentials");
    check(none, 401, "invalid_client");
    let pw = sts.post("/apikey/token", Some("admin:admin"), "grant_type=password");
    check(pw, 400, "unsupported_grant_type");
    let missing = sts.post("/apikey/token", Some("admin:admin"), "scope=");
    check(missing, 400, "invalid_request");
    let twice = "grant_type=client_credentials&grant_type=client_credentials";
    check(
        sts.post("/apikey/token", Some("admin:admin"), twice),
        400,
        "invalid_request",
    );
    // A scope naming a granted API narrows the key to it; one naming any other is refused.
    let narrowed = sts.post(
        "/apikey/token",
        Some("admin:admin"),
        "grant_type=client_credentials&scope=api:MyAPI:v1",
    );
    assert_eq!(narrowed.status, 200, "{}", narrowed.body);
    let key = narrowed.json()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        claims(&key)["allowedAPIs"],
        serde_json::json!([{"name": "MyAPI", "version": "v1"}])
    );
    let scope = "grant_type=client_credentials&scope=api:OtherAPI:v1";
    check(
        sts.post("/apikey/token", Some("admin:admin"), scope),
        400,
        "invalid_scope",
    );
    let body_secret = "grant_type=client_credentials&client_id=admin&client_secret=admin";
    check(
        sts.post("/apikey/token", None, body_secret),
        401,
        "invalid_client",
    );
    // The request log names the client, as for /apikey.
    assert!(
        sts.srv.wait_log("/apikey/token", Duration::from_secs(5)),
        "{}",
        sts.srv.log_text()
    );
}

#[test]
fn introspection_says_active_only_for_keys_validate_accepts() {
    let sts = start_sts(3600);
    let valid = sts.token("admin:admin");
    let r = sts.introspect(INTRO, &valid);
    assert_eq!(r.status, 200, "{}", r.body);
    let b = r.json();
    assert_eq!(b["active"], true);
    for m in ["sub", "iss", "iat", "exp", "jti", "token_type"] {
        assert!(b.get(m).is_some(), "{m} missing: {b}");
    }
    assert_eq!(b["sub"], "admin");
    assert_eq!(b["iss"], sts.issuer.as_str());
    assert_eq!(b["jti"], claims(&valid)["jti"]);
    assert_eq!(b["allowedAPIs"], claims(&valid)["allowedAPIs"]);
    // Admins may introspect too; a user without the scope may not; nobody anonymous.
    assert_eq!(sts.introspect("admin:admin", &valid).json()["active"], true);
    assert_eq!(sts.introspect(BOB, &valid).status, 403);
    assert_eq!(sts.introspect("intro:wrong", &valid).status, 401);
    assert_eq!(sts.post("/apikey/introspect", None, "token=x").status, 401);

    // One cache for /validate and introspection: a key introspected once is a hit at /validate.
    let hits = || {
        let m = plain_get(sts.srv.plain_addr.unwrap(), "/metrics", "").text();
        let line = m
            .lines()
            .find(|l| l.starts_with("apikey_sts_validation_cache_total{result=\"hit\"}"))
            .map(String::from);
        let n = line.and_then(|l| l.rsplit(' ').next().and_then(|n| n.parse::<u64>().ok()));
        n.unwrap_or_else(|| panic!("no cache hit counter in:\n{m}"))
    };
    let fresh = sts.token("admin:admin");
    assert_eq!(sts.introspect(INTRO, &fresh).json()["active"], true);
    let before = hits();
    let v = curl(&[
        "-H",
        &format!("apikey: {fresh}"),
        &format!("{}/validate", sts.validator()),
    ]);
    assert_eq!(v.status, 200);
    assert_eq!(hits(), before + 1);

    let revoked = sts.token("admin:admin");
    let r = sts.post(
        "/apikey/revoke",
        Some("admin:admin"),
        &format!("token={revoked}"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let inactive = serde_json::json!({"active": false});
    assert_eq!(sts.introspect(INTRO, &revoked).json(), inactive);
    assert_eq!(sts.introspect(INTRO, "garbage").json(), inactive);
    assert_eq!(sts.introspect(INTRO, &format!("{valid}x")).json(), inactive);
    assert_eq!(sts.introspect(INTRO, &valid).json()["active"], true);
}

#[test]
fn introspection_of_an_expired_key_is_inactive() {
    let sts = start_sts(1);
    let key = sts.token("admin:admin");
    let exp = claims(&key)["exp"].as_i64().unwrap();
    // Synchronised on the key's own expiry: active until exp (no clock skew), inactive from it.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let active = sts.introspect(INTRO, &key).json()["active"] == true;
        let after = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        if !active {
            assert!(after >= exp, "inactive before exp ({after} < {exp})");
            break;
        }
        assert!(now < exp, "active at {now}, on or after exp {exp}");
        assert!(Instant::now() < deadline, "never became inactive");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Caddy with `forward_auth` to `/validate`, copying `X-Auth-Subject` to the upstream (a second
/// Caddy site that echoes it). No admin endpoint, no automatic HTTPS, state in its own dir.
fn caddy(validator: SocketAddr) -> Daemon {
    let dir = TempDir::new("caddy");
    let (gw, up) = (free_port(), free_port());
    let conf = format!(
        r#"{{
    admin off
    auto_https off
}}
http://127.0.0.1:{up} {{
    respond "sub={{header.X-Auth-Subject}}" 200
}}
http://127.0.0.1:{gw} {{
    forward_auth {validator} {{
        uri /validate
        copy_headers X-Auth-Subject
    }}
    reverse_proxy 127.0.0.1:{up}
}}
"#
    );
    let conf_path = dir.write("Caddyfile", conf);
    let mut cmd = Command::new("caddy");
    cmd.args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&conf_path)
        .env("HOME", &dir.0)
        .env("XDG_DATA_HOME", &dir.0)
        .env("XDG_CONFIG_HOME", &dir.0);
    Daemon::start(cmd, dir, gw, "caddy.log")
}

#[test]
fn caddy_forward_auth_admits_header_and_query_keys_and_refuses_revoked_ones() {
    let sts = start_sts(3600);
    let gw = caddy(sts.srv.plain_addr.unwrap());
    let key = sts.token("admin:admin");
    let in_header = curl(&["-H", &format!("apikey: {key}"), &gw.url("/pets")]);
    assert_eq!(
        (in_header.status, in_header.body.as_str()),
        (200, "sub=admin"),
        "{}",
        gw.logs()
    );
    let in_query = curl(&[&gw.url(&format!("/pets?x=1&apikey={key}"))]);
    assert_eq!(
        (in_query.status, in_query.body.as_str()),
        (200, "sub=admin")
    );
    let bearer = curl(&[
        "-H",
        &format!("Authorization: Bearer {key}"),
        &gw.url("/pets"),
    ]);
    assert_eq!((bearer.status, bearer.body.as_str()), (200, "sub=admin"));
    // The client cannot pose as someone: the subject is set from our answer only.
    let posed = curl(&["-H", "X-Auth-Subject: mallory", &gw.url("/pets")]);
    assert_eq!(posed.status, 401);
    let posed = curl(&[
        "-H",
        "X-Auth-Subject: mallory",
        "-H",
        &format!("apikey: {key}"),
        &gw.url("/pets"),
    ]);
    assert_eq!((posed.status, posed.body.as_str()), (200, "sub=admin"));
    let r = sts.post(
        "/apikey/revoke",
        Some("admin:admin"),
        &format!("token={key}"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let revoked = curl(&["-H", &format!("apikey: {key}"), &gw.url("/pets")]);
    assert_eq!(revoked.status, 401, "{}", revoked.body);
    assert!(revoked.body.contains("revoked"), "{}", revoked.body);
}

#[test]
fn traefik_headers_and_envoy_paths_driven_by_curl() {
    let sts = start_sts(3600);
    let key = sts.token("admin:admin");
    let v = sts.validator();
    // Traefik's ForwardAuth: GET to the address with the original request in X-Forwarded-*.
    let traefik = |uri: &str| {
        curl(&[
            "-H",
            "X-Forwarded-Method: POST",
            "-H",
            "X-Forwarded-Proto: https",
            "-H",
            "X-Forwarded-Host: api.example.com",
            "-H",
            &format!("X-Forwarded-Uri: {uri}"),
            &format!("{v}/validate"),
        ])
    };
    let ok = traefik(&format!("/pets/1?apikey={key}"));
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(ok.head.contains("x-auth-subject: admin"), "{}", ok.head);
    assert_eq!(traefik("/pets/1").status, 401);
    assert_eq!(traefik("/pets/1?apikey=garbage").status, 401);
    // Envoy ext_authz (HTTP): the original path and query appended to the path prefix.
    let envoy = curl(&[&format!("{v}/validate/pets/1?apikey={key}")]);
    assert_eq!(envoy.status, 200, "{}", envoy.body);
    assert!(
        envoy.head.contains("x-auth-subject: admin"),
        "{}",
        envoy.head
    );
    let envoy_header = curl(&[
        "-H",
        &format!("x-api-key: {key}"),
        &format!("{v}/validate/pets"),
    ]);
    assert_eq!(envoy_header.status, 200);
    assert_eq!(curl(&[&format!("{v}/validate/pets/1")]).status, 401);
    let bearer = curl(&[
        "-H",
        &format!("Authorization: Bearer {key}"),
        &format!("{v}/validate/pets"),
    ]);
    assert_eq!(bearer.status, 200);
}
