//! Running as a service: version and help, hash-password at a terminal, the state directory,
//! systemd (unit file and notify protocol) and PEM keys.

mod common;

use common::*;
use std::process::Command;

fn run(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().unwrap()
}

#[test]
fn version_and_help() {
    let out = run(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("apikey-sts {}\n", env!("CARGO_PKG_VERSION"))
    );
    let out = run(&["check-config", "--help"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("usage: apikey-sts check-config"), "{text}");
    assert!(
        text.contains("exit status: 0 usable; 1 not usable"),
        "{text}"
    );
    // What the help promises for a usage error is what happens.
    let out = run(&["check-config", "--bogus"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("unknown argument \"--bogus\""), "{err}");
    assert!(err.contains("usage: apikey-sts check-config"), "{err}");
    // ... and for an unusable config.
    let out = run(&["check-config", "--config=/nonexistent/micro-gw.conf"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn startup_log_names_the_version() {
    let srv = Server::start(&default_config(""));
    let version = format!("apikey-sts {} starting", env!("CARGO_PKG_VERSION"));
    assert!(srv.log_text().contains(&version), "{}", srv.log_text());
}
