//! The core STS end to end: the real binary, real TLS, tokens checked with openssl.
mod common;
use common::*;
use std::time::Duration;

#[test]
fn issues_verifiable_keys_and_survives_bad_credentials() {
    let srv = Server::start(&default_config(""));
    let mut c = srv.client();
    let r = c.apikey();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let token = r.text();
    assert!(openssl_verifies(&token, &dev_cert()));
    assert_eq!(
        header(&token),
        serde_json::json!({"alg":"RS256","typ":"JWT","kid":"ballerina"})
    );
    let cl = claims(&token);
    assert_eq!(cl["sub"], "admin");
    assert_eq!(cl["iss"], "https://localhost:9095/apikey");
    assert_eq!(cl["keytype"], "PRODUCTION");
    assert!(cl.get("exp").is_none());
    assert_eq!(cl["allowedAPIs"].as_array().unwrap().len(), 4);
    let tampered = token.replacen(".eyJ", ".eyK", 1);
    assert!(!openssl_verifies(&tampered, &dev_cert()));

    // Same connection (keep-alive): wrong password, then a good request again.
    let bad = c.get("/apikey", "Authorization: Basic YWRtaW46d3Jvbmc=\r\n");
    assert_eq!(bad.status, 401);
    assert_eq!(
        bad.header("www-authenticate"),
        Some("Basic realm=\"apikey-sts\"")
    );
    assert_eq!(bad.json()["fault"]["code"], 900901);
    let missing = c.get("/apikey", "");
    assert_eq!(missing.status, 401);
    assert_eq!(missing.json()["fault"]["code"], 900902);
    assert_eq!(c.apikey().status, 200);
    // And a fresh connection still works.
    assert_eq!(srv.client().apikey().status, 200);
    // The log line names the user and jti, never the token or Authorization value.
    let jti = cl["jti"].as_str().unwrap().to_string();
    assert!(srv.wait_log(&jti, Duration::from_secs(5)));
    let log = srv.log_text();
    assert!(!log.contains(&token));
    assert!(!log.contains("YWRtaW46YWRtaW4="));
    assert!(log.contains("DEVELOPMENT keystore"), "{log}");
}

#[test]
fn validity_time_body_shortens() {
    let srv = Server::start(&default_config(""));
    let mut c = srv.client();
    let body = r#"{"validityTime":600}"#;
    c.send(format!(
        "GET /apikey HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization:Basic YWRtaW46YWRtaW4=\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ).as_bytes());
    let r = c.read_response();
    assert_eq!(r.status, 200);
    let cl = claims(&r.text());
    assert_eq!(
        cl["exp"].as_i64().unwrap(),
        cl["iat"].as_i64().unwrap() + 600
    );
    for bad in [
        r#"{"validityTime":"600"}"#,
        "{nope",
        r#"{"validityTime":6.5}"#,
    ] {
        c.send(format!(
            "POST /apikey HTTP/1.1\r\nHost: x\r\nAuthorization: {ADMIN}\r\nContent-Length: {}\r\n\r\n{bad}",
            bad.len()
        ).as_bytes());
        let r = c.read_response();
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(r.json()["fault"]["code"], 900900);
    }
}

#[test]
fn json_form_pipelining_chunked_expect_and_http10() {
    let srv = Server::start(&default_config(""));
    let mut c = srv.client();
    // Three pipelined requests in one write, answered in order.
    c.send(format!(
        "GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /apikey HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\nAuthorization: {ADMIN}\r\n\r\nGET /nope HTTP/1.1\r\nHost: localhost\r\n\r\n"
    ).as_bytes());
    assert_eq!(c.read_response().status, 200);
    let j = c.read_response();
    assert_eq!(j.status, 200);
    let v = j.json();
    assert!(v["expiresAt"].is_null());
    assert_eq!(claims(v["apiKey"].as_str().unwrap())["jti"], v["jti"]);
    assert_eq!(c.read_response().status, 404);

    // Chunked body.
    c.send(format!(
        "POST /apikey HTTP/1.1\r\nHost: localhost\r\nAuthorization: {ADMIN}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{{\"val\r\ne\r\nidityTime\":60}}\r\n0\r\n\r\n"
    ).as_bytes());
    let r = c.read_response();
    assert_eq!(r.status, 200, "{}", r.text());
    let cl = claims(&r.text());
    assert_eq!(
        cl["exp"].as_i64().unwrap() - cl["iat"].as_i64().unwrap(),
        60
    );

    // Expect: 100-continue: the server says Continue before the body is sent.
    let body = r#"{"validityTime":30}"#;
    c.send(format!(
        "POST /apikey HTTP/1.1\r\nHost: localhost\r\nAuthorization: {ADMIN}\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        body.len()
    ).as_bytes());
    let mut first = [0u8; 25];
    std::io::Read::read_exact(&mut c.tls, &mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 100 Continue\r\n\r\n");
    c.send(body.as_bytes());
    let r = c.read_response();
    let cl = claims(&r.text());
    assert_eq!(
        cl["exp"].as_i64().unwrap() - cl["iat"].as_i64().unwrap(),
        30
    );

    // HTTP/1.0 without keep-alive: answered, then closed.
    let mut c10 = srv.client();
    c10.send(format!("GET /apikey HTTP/1.0\r\nAuthorization: {ADMIN}\r\n\r\n").as_bytes());
    let r = c10.read_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("connection"), Some("close"));
    let mut rest = Vec::new();
    let _ = std::io::Read::read_to_end(&mut c10.tls, &mut rest);
    assert!(rest.is_empty());
}

#[test]
fn tls12_and_tls13_both_work() {
    let srv = Server::start(&default_config(""));
    for v in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let mut c = Client::connect_with(srv.addr, client_config(&dev_cert(), &[v]));
        assert_eq!(c.apikey().status, 200);
        assert_eq!(c.tls.conn.protocol_version(), Some(v.version));
    }
}

#[test]
fn reconnecting_clients_resume_every_time() {
    // One ticket per connection is enough only if every resumed connection gets a fresh one.
    let srv = Server::start(&default_config(""));
    let cfg = client_config(&dev_cert(), &[&rustls::version::TLS13]);
    let mut kinds = Vec::new();
    for _ in 0..4 {
        let mut c = Client::connect_with(srv.addr, cfg.clone());
        // The ticket arrives after the handshake; the response carries it in.
        assert_eq!(c.apikey().status, 200);
        kinds.push(c.tls.conn.handshake_kind());
    }
    use rustls::HandshakeKind::{Full, Resumed};
    assert_eq!(
        kinds,
        [Some(Full), Some(Resumed), Some(Resumed), Some(Resumed)]
    );
}

#[test]
fn methods_routes_and_limits() {
    let srv = Server::start(&default_config(""));
    let mut c = srv.client();
    let r = c.get("/nothing-here", "");
    assert_eq!(r.status, 404);
    c.send(
        format!("DELETE /apikey HTTP/1.1\r\nHost: localhost\r\nAuthorization: {ADMIN}\r\n\r\n")
            .as_bytes(),
    );
    let r = c.read_response();
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, POST"));
    // Default limits: 16 KiB body, 2 KiB URI, 8 KiB of headers; each past-the-edge request is
    // answered with its status and the connection closed, while the server keeps serving.
    let cases: Vec<(String, u16)> = vec![
        (
            format!(
                "POST /apikey HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n",
                16 * 1024 + 1
            ),
            413,
        ),
        (
            format!(
                "GET /{} HTTP/1.1\r\nHost: localhost\r\n\r\n",
                "a".repeat(2048)
            ),
            414,
        ),
        (
            format!(
                "GET / HTTP/1.1\r\nHost: localhost\r\nX: {}\r\n\r\n",
                "a".repeat(8 * 1024)
            ),
            431,
        ),
        (
            "GET / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"
                .to_string(),
            400,
        ),
        ("GARBAGE\x01\r\n\r\n".to_string(), 400),
    ];
    for (req, status) in cases {
        let mut c = srv.client();
        c.send(req.as_bytes());
        let r = c.read_response();
        assert_eq!(r.status, status, "{}", &req[..40.min(req.len())]);
        assert_eq!(r.header("connection"), Some("close"));
    }
    assert_eq!(srv.client().apikey().status, 200);
}

#[test]
fn bad_config_stops_startup_with_one_line() {
    let text = default_config("").replace("validityTime = -1", "validityTime = \"forever\"");
    let log = Server::try_start(&text).err().expect("startup must fail");
    let errors: Vec<&str> = log.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "{log}");
    assert!(
        errors[0]
            .contains("micro-gw.conf: apikey.issuer.tokenConfig.validityTime: expected an integer"),
        "{log}"
    );

    let text = default_config("").replace(
        "keyStorePassword = \"ballerina\"\n    issuer",
        "keyStorePassword = \"wrong-pass\"\n    issuer",
    );
    let log = Server::try_start(&text).err().expect("startup must fail");
    assert!(
        log.contains("dev-keystore.p12") && log.contains("wrong password"),
        "{log}"
    );
    assert!(!log.contains("wrong-pass"), "{log}");

    let missing = std::process::Command::new(BIN)
        .args(["--config", "/nonexistent/micro-gw.conf"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(
        err.contains("/nonexistent/micro-gw.conf: cannot read"),
        "{err}"
    );
}
