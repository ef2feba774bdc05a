//! Least privilege end to end: keys issued for a subset of APIs, of the SANDBOX type, or bound
//! to a client address or referer, through a real nginx guarding an upstream with
//! `auth_request` to our validator.
//! nginx passes the client address (`$remote_addr`) and referer as `X-Real-IP` and
//! `X-Original-Referer`; curl calls the gateway from chosen loopback source addresses.
//!
//! Tools: `nginx` and `curl`, installed by `tests/install-tools.sh`.
mod common;
use common::nginx::{free_port, Nginx, GATEWAY_CONF};
use common::*;
use std::net::SocketAddr;
use std::process::Command;

/// A protected location: the gateway names the API to the validator and passes the client's
/// address and referer, as docs/gateway-validation.md shows.
const LOCATION: &str = r#"
        location = /_validate@N@ {
            internal;
            proxy_pass http://@VALIDATOR@/validate;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-API-Name "@NAME@";
            proxy_set_header X-API-Version "@VERSION@";
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Original-Referer $http_referer;
        }
        location @PREFIX@ {
            auth_request /_validate@N@;
            proxy_pass http://127.0.0.1:@UPSTREAM@;
        }
"#;

const APIS: [(&str, &str, &str); 2] = [
    ("/petstore/", "Swagger Petstore New", "v1"),
    ("/myapi/", "MyAPI", "9.9"),
];

fn start_gateway(validator: SocketAddr) -> Nginx {
    let (gateway, upstream) = (free_port(), free_port());
    let locations: String = APIS
        .iter()
        .enumerate()
        .map(|(i, (prefix, name, version))| {
            LOCATION
                .replace("@N@", &i.to_string())
                .replace("@PREFIX@", prefix)
                .replace("@NAME@", name)
                .replace("@VERSION@", version)
                .replace("@VALIDATOR@", &validator.to_string())
        })
        .collect();
    let conf = GATEWAY_CONF
        .replace("@LOCATIONS@", &locations)
        .replace("@UPSTREAM@", &upstream.to_string())
        .replace("@GATEWAY@", &gateway.to_string());
    Nginx::launch(&conf, SocketAddr::from(([127, 0, 0, 1], gateway)))
}

/// `POST /apikey` with `body` as admin: the status and the body (the key when 200).
fn issue(srv: &Server, body: &str) -> (u16, String) {
    let mut c = srv.client();
    c.send(
        format!(
            "POST /apikey HTTP/1.1\r\nHost: x\r\nAuthorization: {ADMIN}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    let r = c.read_response();
    (r.status, r.text())
}

fn key(srv: &Server, body: &str) -> String {
    let (status, text) = issue(srv, body);
    assert_eq!(status, 200, "{body}: {text}");
    text
}

/// curl from source address `from` to the gateway: the status and the body.
fn call(gw: &Nginx, from: &str, path: &str, key: &str, referer: Option<&str>) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--interface", from, "-H"])
        .arg(format!("apikey: {key}"))
        .args(["-w", "\n%{http_code}"]);
    if let Some(r) = referer {
        cmd.args(["-e", r]);
    }
    let out = cmd
        .arg(format!("http://{}{path}", gw.addr))
        .output()
        .unwrap_or_else(|e| panic!("cannot run curl: {e}"));
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.parse().unwrap(), body.to_string())
}

/// The validator trusts 127.0.0.1 (nginx) for client facts and takes only PRODUCTION keys on
/// the petstore; admin may ask for SANDBOX keys.
fn config() -> String {
    default_config(
        "[validator]\nport = 0\ngatewayAddresses = [\"127.0.0.1\"]\n\
         productionOnlyApis = [\"Swagger Petstore New\"]\n",
    )
    .replace("validateAllowedAPIs = false", "validateAllowedAPIs = true")
    .replace(
        "scopes = \"apikey:admin\"",
        "scopes = \"apikey:admin apikey:sandbox\"",
    )
}

#[test]
fn keys_carry_no_more_than_they_need_through_nginx() {
    require_tool(
        Command::new("curl").arg("--version").output().is_ok(),
        "curl",
    );
    let srv = Server::start(&config());
    let gw = start_gateway(srv.plain_addr.expect("validator listener"));

    // Bound to one client address: passes from there, not from its neighbour.
    let k = key(&srv, r#"{"permittedIP":"127.0.0.2"}"#);
    assert_eq!(claims(&k)["permittedIP"], "127.0.0.2");
    let (status, body) = call(&gw, "127.0.0.2", "/petstore/pets", &k, None);
    assert_eq!(status, 200, "{body}\n{}", gw.logs());
    assert_eq!(call(&gw, "127.0.0.3", "/petstore/pets", &k, None).0, 403);
    // A CIDR block covers both.
    let k = key(&srv, r#"{"permittedIP":"127.0.0.0/30"}"#);
    assert_eq!(call(&gw, "127.0.0.2", "/petstore/pets", &k, None).0, 200);
    assert_eq!(call(&gw, "127.0.0.3", "/petstore/pets", &k, None).0, 200);
    assert_eq!(call(&gw, "127.0.0.4", "/petstore/pets", &k, None).0, 403);

    // Bound to a referer: passes with it, not without it, not with a look-alike.
    let k = key(&srv, r#"{"permittedReferer":"https://*.example.com/*"}"#);
    let page = Some("https://app.example.com/page");
    assert_eq!(call(&gw, "127.0.0.2", "/petstore/pets", &k, page).0, 200);
    assert_eq!(call(&gw, "127.0.0.2", "/petstore/pets", &k, None).0, 403);
    let evil = Some("https://evil.com/?x=.example.com/");
    assert_eq!(call(&gw, "127.0.0.2", "/petstore/pets", &k, evil).0, 403);

    // A key for a subset: passes for its API, fails for another the user has.
    let k = key(&srv, r#"{"apis":[{"name":"MyAPI","version":"9.9"}]}"#);
    assert_eq!(
        claims(&k)["allowedAPIs"],
        serde_json::json!([{"name": "MyAPI", "version": "9.9"}])
    );
    assert_eq!(call(&gw, "127.0.0.2", "/myapi/x", &k, None).0, 200);
    assert_eq!(call(&gw, "127.0.0.2", "/petstore/pets", &k, None).0, 403);

    // A SANDBOX key: refused on the production-only API, accepted on the other.
    let k = key(&srv, r#"{"keyType":"SANDBOX"}"#);
    assert_eq!(claims(&k)["keytype"], "SANDBOX");
    assert_eq!(call(&gw, "127.0.0.2", "/myapi/x", &k, None).0, 200);
    assert_eq!(call(&gw, "127.0.0.2", "/petstore/pets", &k, None).0, 403);

    // An API the user may not have: no key at all.
    let (status, text) = issue(&srv, r#"{"apis":[{"name":"Other API","version":"1.0"}]}"#);
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("Other API"), "{text}");
    // A malformed restriction: 400 naming the entry.
    let (status, text) = issue(&srv, r#"{"permittedIP":"127.0.0.2,127.0.0.300"}"#);
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("127.0.0.300"), "{text}");

    // Asked directly from 127.0.0.1 (a configured gateway): the refusal carries its own fault
    // code, and a restricted key without the client address header is refused.
    let k = key(&srv, r#"{"permittedIP":"127.0.0.2"}"#);
    let direct = plain_get(
        srv.plain_addr.unwrap(),
        "/validate",
        &format!(
            "apikey: {k}\r\nX-Real-IP: 127.0.0.3\r\nX-API-Name: MyAPI\r\nX-API-Version: 9.9\r\n"
        ),
    );
    assert_eq!(direct.status, 403);
    assert_eq!(direct.json()["fault"]["code"], 900912);
    let direct = plain_get(
        srv.plain_addr.unwrap(),
        "/validate",
        &format!("apikey: {k}\r\nX-API-Name: MyAPI\r\nX-API-Version: 9.9\r\n"),
    );
    assert_eq!(direct.status, 403, "no client address: refused");

    // verify --ip: the same verdicts from the command line.
    let verify = |ip: &str| {
        Command::new(BIN)
            .args(["verify", &k, "--ip", ip, "--config"])
            .arg(&srv.config)
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(verify("127.0.0.2"), Some(0));
    assert_eq!(verify("127.0.0.3"), Some(1));
}
