//! Failures inside a request: the real server loop (in-process, real sockets and TLS) with
//! handlers that panic or whose signer fails. Each gets a 500 fault and the server goes on.
mod common;
use apikey_sts::auth::{PasswordHash, User, UserDb};
use apikey_sts::config::{Limits, LoadBalancerConfig};
use apikey_sts::http::{Request, Response};
use apikey_sts::issuer::Issuer;
use apikey_sts::jwks::{Jwks, KeySet};
use apikey_sts::jwt::{JwtError, Signer};
use apikey_sts::keystore::Keystore;
use apikey_sts::server::{self, Shared, State};
use apikey_sts::service::{Context, Handler, ListenerKind, Outcome};
use apikey_sts::validator::{Rules, SignatureCache, Validator};
use common::*;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;

struct Panicky;

impl Handler for Panicky {
    fn handle(&self, req: &Request, _: &Context) -> Outcome {
        if req.path() == "/boom" {
            panic!("handler bug");
        }
        Response::new(200, "text/plain", "fine").into()
    }
}

struct BrokenSigner;

impl Signer for BrokenSigner {
    fn sign(&self, _: &[u8]) -> Result<Vec<u8>, JwtError> {
        Err(JwtError::Signing("HSM unplugged".into()))
    }

    fn algorithm(&self) -> apikey_sts::jwt::Algorithm {
        apikey_sts::jwt::Algorithm::Rs256
    }
}

fn broken_app() -> Issuer {
    let keys = Arc::new(KeySet::new(vec![]).unwrap());
    let rules = Rules {
        issuer: "https://localhost:9095/apikey".into(),
        audience: None,
        validate_allowed_apis: false,
        clock_skew_seconds: 60,
        key_headers: vec!["apikey".into()],
        key_query_params: vec![],
        api_name_header: "X-API-Name".into(),
        api_version_header: "X-API-Version".into(),
        accept_bearer: true,
        gateway_addresses: Default::default(),
        client_ip_header: "X-Real-IP".into(),
        referer_header: "X-Original-Referer".into(),
        production_only: false,
        production_only_apis: vec![],
    };
    let validator = Validator::new(rules, Arc::clone(&keys), SignatureCache::new(0, 1));
    Issuer {
        enabled: true,
        issuer: "https://localhost:9095/apikey".into(),
        audience: None,
        kid: "ballerina".into(),
        validity_time: -1,
        grants: apikey_sts::issuer::apis::Grants::default(),
        users: UserDb::new(
            &[User {
                name: "admin".into(),
                password: PasswordHash::parse("d033e22ae348aeb5660fc2140aec35850c4da997").unwrap(),
                scopes: vec![],
            }],
            1,
        ),
        signer: Box::new(BrokenSigner),
        throttle: Arc::default(),
        jwks: Arc::new(Jwks::new(&KeySet::new(vec![]).unwrap())),
        keys,
        revocations: None,
        revocations_per_user: apikey_sts::revocation::MAX_PER_USER,
        failed_login_delay: apikey_sts::config::FAILED_LOGIN_DELAY,
        validator: Arc::new(validator),
        public_base_url: None,
    }
}

#[test]
fn panics_and_signer_errors_answer_500_and_the_server_keeps_serving() {
    let ks = Keystore::load(std::path::Path::new(&dev_keystore()), "ballerina").unwrap();
    let tls = apikey_sts::startup::tls_config(ks.entry("ballerina").unwrap(), "dev").unwrap();
    let https = TcpListener::bind("127.0.0.1:0").unwrap();
    let plain = TcpListener::bind("127.0.0.1:0").unwrap();
    let (https_addr, plain_addr) = (https.local_addr().unwrap(), plain.local_addr().unwrap());
    let shared = Arc::new(Shared::new(State {
        https: Arc::new(broken_app()),
        tls: Arc::new(tls),
        plain: Some(Arc::new(Panicky)),
    }));
    let limits = Limits {
        workers: 2,
        ..Limits::default()
    };
    let s2 = Arc::clone(&shared);
    let server = std::thread::spawn(move || {
        server::run(
            vec![(https, ListenerKind::Https), (plain, ListenerKind::Plain)],
            s2,
            limits,
            LoadBalancerConfig::default(),
        )
    });

    // Plain listener: a panicking handler, twice (more than one worker's worth), then a good
    // request on the same connection.
    let mut s = TcpStream::connect(plain_addr).unwrap();
    let mut buf = Vec::new();
    for _ in 0..3 {
        s.write_all(b"GET /boom HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let r = read_response(&mut s, &mut buf).unwrap();
        assert_eq!(r.status, 500);
        assert_eq!(r.json()["fault"]["code"], 900900);
        assert!(!r.text().contains("handler bug"));
    }
    s.write_all(b"GET /ok HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut s, &mut buf).unwrap().text(), "fine");

    // HTTPS: the signer fails.
    let mut c = Client::connect(https_addr, &dev_cert());
    let r = c.apikey();
    assert_eq!(r.status, 500);
    assert!(!r.text().contains("HSM"));
    assert_eq!(c.get("/health", "").status, 200);

    shared.shutdown.store(true, Ordering::Relaxed);
    server.join().unwrap().unwrap();
}
