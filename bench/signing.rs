//! In-process ceilings for the benchmark table (bench/run.sh): signatures/s of each signer on
//! one core and on all cores, and the server side of one full TLS handshake (plus one small
//! request/response and close_notify) over in-memory buffers.
//!
//! The other algorithms (PS256 on both signers, ES256, ES384, EdDSA) are measured beside RS256
//! as `sign.ps256-rsa`, `sign.ps256-provider`, `sign.es256`, `sign.es384` and `sign.eddsa`.
//!
//! Run: `cargo bench --bench signing`. Environment: `SIGN_SECS` (seconds per measurement,
//! default 2), `CORES` (threads for "all cores", default: available parallelism), `BENCH_KX`
//! (`x25519`, the default, matches what wrk's OpenSSL 3.0 negotiates; `default` keeps rustls'
//! client defaults, which prefer the X25519MLKEM768 hybrid), `BENCH_ONLY` (comma-separated
//! keys, e.g. `sign.provider.all,tls.resumed.all`: measure only those; bench/run.sh uses it to
//! measure the ceilings again right before and after each wrk run).
//!
//! Besides a readable summary, prints `BENCH <key> <value>` lines for bench/report.py.

use apikey_sts::jwt::{Algorithm, ProviderSigner, RsaSigner, Signer};
use apikey_sts::keystore::Keystore;
use apikey_sts::startup::tls_config;
use rustls::client::Resumption;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, HandshakeKind, ServerConfig, ServerConnection};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
#[allow(dead_code)]
#[path = "../tests/common/verifier.rs"]
mod verifier;
use verifier::{Trust, Verifier};

/// A representative signing input: header.claims of a default-config key.
const MESSAGE: &[u8] = b"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImJhbGxlcmluYSJ9.eyJzdWIiOiJhZG1pbiIsImlzcyI6Imh0dHBzOi8vbG9jYWxob3N0Ojk0NDMvYXBpa2V5IiwiaWF0IjoxNzAwMDAwMDAwLCJqdGkiOiIwZDViNWY2Yy0wMDAwLTQwMDAtODAwMC0wMDAwMDAwMDAwMDAiLCJrZXl0eXBlIjoiUFJPRFVDVElPTiIsImFsbG93ZWRBUElzIjpbeyJuYW1lIjoiU3dhZ2dlciBQZXRzdG9yZSBOZXciLCJ2ZXJzaW9uIjoiMS4wLjAifSx7Im5hbWUiOiJNeUFQSSIsInZlcnNpb24iOiIqIn1dfQ";
const REQUEST: &[u8] =
    b"GET /apikey HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic YWRtaW46YWRtaW4=\r\nConnection: close\r\n\r\n";

fn env_num(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let secs = Duration::from_secs_f64(env_num("SIGN_SECS", 2.0));
    let cores = std::env::var("CORES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let ks = Keystore::load(&root.join("conf/security/dev-keystore.p12"), "ballerina")
        .expect("dev keystore");
    let entry = ks.entry("ballerina").expect("dev keystore entry");
    let rsa: Arc<dyn Signer> = Arc::new(RsaSigner::new(entry.rsa_private_key().expect("rsa")));
    let provider: Arc<dyn Signer> =
        Arc::new(ProviderSigner::new(&entry.key_pkcs8_der, Algorithm::Rs256).expect("provider"));
    // Same bytes from both: a guard that we time equal work.
    assert_eq!(rsa.sign(MESSAGE).unwrap(), provider.sign(MESSAGE).unwrap());
    let others = other_algorithms(&root, &entry.key_pkcs8_der, entry);
    let server = Arc::new(tls_config(entry, "dev-keystore.p12").expect("tls config"));
    let full = Arc::new(client_config(false));
    let resumed = Arc::new(client_config(true));

    let only = std::env::var("BENCH_ONLY").ok();
    let wanted = |key: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|k| k == key))
    };
    // One measurement: `key` with `threads` threads, printed as BENCH lines: the rate, and the
    // CPU time per operation (`<key>.cpu_us`).
    let measure = |key: String, threads: usize, work: &(dyn Fn(Instant) -> (u64, f64) + Sync)| {
        if !wanted(&key) {
            return;
        }
        let (rate, cpu_us) = parallel(threads, secs, work);
        println!("  {key:20} {rate:10.0}/s  {cpu_us:8.1} us CPU each");
        println!("BENCH {key} {rate:.1}");
        println!("BENCH {key}.cpu_us {cpu_us:.2}");
    };

    println!("in-process ceilings: {cores} core(s) for 'all', {secs:?} per measurement");
    // The RS256 columns of bench/run.sh's table (`SIGNERS` there). ALGORITHMS PLUG IN HERE: a
    // column for another algorithm needs `sign.<column>.1` and `.all`, which `others` below
    // measures for es256, es384, eddsa, ps256-rsa and ps256-provider.
    for (name, signer) in [("rsa", &rsa), ("provider", &provider)] {
        let work = |deadline| sign_loop(signer.as_ref(), deadline);
        measure(format!("sign.{name}.1"), 1, &work);
        measure(format!("sign.{name}.all"), cores, &work);
    }
    for (name, signer) in &others {
        let work = |deadline| sign_loop(signer.as_ref(), deadline);
        measure(format!("sign.{name}.1"), 1, &work);
        measure(format!("sign.{name}.all"), cores, &work);
    }
    // wrk keeps its session across reconnects (SSL_shutdown + SSL_clear), so its
    // `Connection: close` runs resume: PSK with a fresh X25519 exchange, no certificate or
    // server signature. Both kinds are measured.
    println!("  (TLS handshakes: server side, {})", kx_name());
    for (kind, client, resuming) in [("full", &full, false), ("resumed", &resumed, true)] {
        let work = |deadline| handshake_loop(&server, client, resuming, deadline);
        measure(format!("tls.{kind}.1"), 1, &work);
        measure(format!("tls.{kind}.all"), cores, &work);
    }
    println!("BENCH cores {cores}");
}

/// The other algorithms' signers, keyed by their bench names: PS256 with the dev keystore's
/// RSA key (both signers), ES256, ES384 and EdDSA with the test fixtures' keys.
fn other_algorithms(
    root: &std::path::Path,
    rsa_pkcs8: &[u8],
    rsa_entry: &apikey_sts::keystore::KeyEntry,
) -> Vec<(&'static str, Arc<dyn Signer>)> {
    let fixture = |name: &str| {
        let ks = Keystore::load(
            &root.join(format!("tests/fixtures/algorithms/{name}.p12")),
            "ballerina",
        )
        .expect("algorithm fixture");
        ks.entry(name)
            .expect("fixture entry")
            .key_pkcs8_der
            .to_vec()
    };
    let provider = |der: &[u8], alg| -> Arc<dyn Signer> {
        Arc::new(ProviderSigner::new(der, alg).expect("provider signer"))
    };
    vec![
        (
            "ps256-rsa",
            Arc::new(RsaSigner::pss(rsa_entry.rsa_private_key().expect("rsa"))) as Arc<dyn Signer>,
        ),
        ("ps256-provider", provider(rsa_pkcs8, Algorithm::Ps256)),
        ("es256", provider(&fixture("es256"), Algorithm::Es256)),
        ("es384", provider(&fixture("es384"), Algorithm::Es384)),
        ("eddsa", provider(&fixture("ed25519"), Algorithm::EdDsa)),
    ]
}

/// Runs `work` on `threads` threads until the deadline; each returns (operations, busy
/// seconds). The rate is the sum of the threads' own rates, so time a thread spends on work we
/// do not count (the TLS client side) does not lower it.
///
/// Also the CPU time per operation, which the server's CPU per key is compared with: unlike
/// the rate, it does not drop when other processes share the cores (this VM's other tenants,
/// or builds). A thread's CPU time is split between the counted work and the rest (the TLS
/// client) in proportion to their wall time, so preemption lands on both alike.
fn parallel(
    threads: usize,
    secs: Duration,
    work: &(dyn Fn(Instant) -> (u64, f64) + Sync),
) -> (f64, f64) {
    let deadline = Instant::now() + secs;
    let per_thread: Vec<(u64, f64, f64)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let (cpu0, t0) = (thread_cpu_seconds(), Instant::now());
                    let (n, busy) = work(deadline);
                    let (cpu, wall) = (thread_cpu_seconds() - cpu0, t0.elapsed().as_secs_f64());
                    (n, busy, cpu * (busy / wall).min(1.0))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("bench thread"))
            .collect()
    });
    let rate = per_thread.iter().map(|(n, busy, _)| *n as f64 / busy).sum();
    let ops: u64 = per_thread.iter().map(|(n, _, _)| n).sum();
    let cpu: f64 = per_thread.iter().map(|(_, _, cpu)| cpu).sum();
    (rate, cpu * 1e6 / ops.max(1) as f64)
}

/// This thread's user + system CPU time, from /proc (clock ticks: 10 ms, so measurements
/// last seconds).
fn thread_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("/proc/thread-self/stat");
    // The fields after the command name, which may hold spaces: ") state ppid ...".
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / TICKS_PER_SECOND
}

/// `sysconf(_SC_CLK_TCK)`: 100 on every Linux architecture this runs on (the /proc ABI).
const TICKS_PER_SECOND: f64 = 100.0;

fn sign_loop(signer: &dyn Signer, deadline: Instant) -> (u64, f64) {
    let start = Instant::now();
    let mut n = 0;
    while Instant::now() < deadline {
        std::hint::black_box(signer.sign(std::hint::black_box(MESSAGE)).unwrap());
        n += 1;
    }
    (n, start.elapsed().as_secs_f64())
}

/// Handshakes plus one request and response, timing only the server's calls. With a
/// resuming client config every handshake but a thread's first must resume.
fn handshake_loop(
    server_cfg: &Arc<ServerConfig>,
    client_cfg: &Arc<ClientConfig>,
    resuming: bool,
    deadline: Instant,
) -> (u64, f64) {
    let name = ServerName::try_from("localhost").unwrap();
    let mut busy = Duration::ZERO;
    let mut n = 0;
    let mut wire = Vec::with_capacity(16 * 1024);
    let mut plain = vec![0u8; 16 * 1024];
    let response = vec![b'x'; 900];
    while Instant::now() < deadline {
        let mut client = ClientConnection::new(Arc::clone(client_cfg), name.clone()).unwrap();
        let t = Instant::now();
        let mut server = ServerConnection::new(Arc::clone(server_cfg)).unwrap();
        busy += t.elapsed();
        client.writer().write_all(REQUEST).unwrap();
        let mut got = 0;
        // Until the server has the whole request.
        while got < REQUEST.len() {
            wire.clear();
            while client.wants_write() {
                client.write_tls(&mut wire).unwrap();
            }
            let t = Instant::now();
            let mut rd = &wire[..];
            while !rd.is_empty() {
                server.read_tls(&mut rd).unwrap();
            }
            server.process_new_packets().unwrap();
            while let Ok(k) = server.reader().read(&mut plain) {
                if k == 0 {
                    break;
                }
                got += k;
            }
            if got >= REQUEST.len() {
                server.writer().write_all(&response).unwrap();
                server.send_close_notify();
            }
            wire.clear();
            while server.wants_write() {
                server.write_tls(&mut wire).unwrap();
            }
            busy += t.elapsed();
            let mut rd = &wire[..];
            while !rd.is_empty() {
                client.read_tls(&mut rd).unwrap();
            }
            client.process_new_packets().unwrap();
        }
        let mut seen = 0;
        while let Ok(k) = client.reader().read(&mut plain) {
            if k == 0 {
                break;
            }
            seen += k;
        }
        assert_eq!(seen, response.len());
        if resuming && n > 0 {
            assert_eq!(client.handshake_kind(), Some(HandshakeKind::Resumed));
        }
        n += 1;
    }
    (n, busy.as_secs_f64())
}

fn kx_name() -> &'static str {
    match std::env::var("BENCH_KX").as_deref() {
        Ok("default") => "rustls default key exchange",
        _ => "X25519",
    }
}

fn client_config(resume: bool) -> ClientConfig {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    if kx_name() == "X25519" {
        provider.kx_groups = vec![rustls::crypto::aws_lc_rs::kx_group::X25519];
    }
    let provider = Arc::new(provider);
    // The client side is not timed; skipping its checks keeps the loop short.
    let mut cfg = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Verifier::new(Trust::Anything, provider))
        .with_no_client_auth();
    if !resume {
        cfg.resumption = Resumption::disabled();
    }
    cfg
}
