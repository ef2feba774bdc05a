//! Failed logins, measured from outside with real TLS clients on many loopback addresses
//! (tests/tools/login_load.py): a flood of unknown-user logins does not lock out a slow-hash
//! user, and a failure's latency does not tell whether the user exists or which hash it has.
//!
//! These are security properties with time in them, so the bounds are the issue's own and
//! generous for a loaded machine: a login within 2 s, medians within 20%.
mod common;
use common::*;
use std::process::Command;

/// sha1("right"): the original's legacy password format, checked in microseconds.
const SHA1_RIGHT: &str = "d27a1f11771200949714b1af99f048a416f5d6f4";
/// Iterations for the test's PBKDF2 users: slow enough to tell apart from SHA-1 by far, fast
/// enough that the debug build does not make the test crawl.
const PBKDF2_ITERATIONS: u32 = 100_000;

fn config() -> String {
    let slow = apikey_sts::auth::hash_password(b"right", PBKDF2_ITERATIONS).unwrap();
    // The flood's victim has the iteration count `hash-password` gives by default.
    let alice = apikey_sts::auth::hash_password(b"alice-pw", 600_000).unwrap();
    let mut users = format!("[server]\nworkers = 2\n\n[b7a.users.alice]\npassword = '{alice}'\n");
    for i in 0..8 {
        users.push_str(&format!(
            "[b7a.users.p{i}]\npassword = '{slow}'\n[b7a.users.s{i}]\npassword = '{SHA1_RIGHT}'\n"
        ));
    }
    default_config(&users)
}

fn load(args: &[&str]) -> serde_json::Value {
    let out = Command::new("python3")
        .arg(format!("{ROOT}/tests/tools/login_load.py"))
        .args(args)
        .output()
        .expect("python3 (tests/install-tools.sh installs it)");
    assert!(
        out.status.success(),
        "login_load.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

#[test]
fn a_flood_of_unknown_users_does_not_lock_out_a_slow_hash_user() {
    let srv = Server::start(&config());
    let port = srv.addr.port().to_string();
    // 4 senders, 90 source addresses (5 failures each, never throttled), 16 s.
    let r = load(&[
        "flood",
        &port,
        "16",
        "4",
        "127.0.3.1",
        "90",
        "alice:alice-pw",
    ]);
    let legit = r["legit"].as_array().unwrap();
    assert!(legit.len() >= 14, "{r}");
    let ok = legit.iter().filter(|l| l["status"] == 200).count();
    let slowest = legit
        .iter()
        .map(|l| l["seconds"].as_f64().unwrap())
        .fold(0.0, f64::max);
    eprintln!(
        "flood: {} requests {}; alice: {ok}/{} logins succeeded, slowest {slowest:.3} s",
        r["flood_requests"],
        r["flood_statuses"],
        legit.len()
    );
    assert!(
        r["flood_requests"].as_u64().unwrap() >= 4 * 15,
        "the flood did not run: {r}"
    );
    assert!(
        r["failures_left"].as_u64().unwrap() > 0,
        "the flood ran out of addresses before the end: {r}"
    );
    assert!(
        ok * 10 >= legit.len() * 9,
        "only {ok} of {} correct logins succeeded during the flood: {r}",
        legit.len()
    );
    assert!(slowest < 2.0, "a login took {slowest:.3} s: {r}");
}

#[test]
fn a_failed_login_takes_as_long_whoever_the_user_is() {
    let srv = Server::start(&config());
    let port = srv.addr.port().to_string();
    let r = load(&[
        "timing",
        &port,
        "40",
        "127.0.4.1",
        "100",
        "unknown=ghost{i}:wrong",
        "pbkdf2=p{i}:wrong",
        "sha1=s{i}:wrong",
    ]);
    let mut medians = Vec::new();
    for name in ["unknown", "pbkdf2", "sha1"] {
        let samples = r[name].as_array().unwrap();
        for s in samples {
            assert_eq!(s["status"], 401, "{name}: {r}");
        }
        let m = median(
            samples
                .iter()
                .map(|s| s["seconds"].as_f64().unwrap())
                .collect(),
        );
        eprintln!("{name}: median {:.1} ms of {}", m * 1e3, samples.len());
        medians.push((name, m));
    }
    let lo = medians.iter().map(|m| m.1).fold(f64::INFINITY, f64::min);
    let hi = medians.iter().map(|m| m.1).fold(0.0, f64::max);
    assert!(
        hi <= lo * 1.2,
        "failure medians differ by more than 20%: {medians:?}"
    );
}
