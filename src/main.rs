//! Command line: `apikey-sts [--config PATH]` runs the service.
#![forbid(unsafe_code)]

use apikey_sts::{config::Config, log, server, startup};
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: apikey-sts [--config PATH]

Runs the API key STS. PATH defaults to conf/micro-gw.conf.";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut config_path = PathBuf::from("conf/micro-gw.conf");
    while let Some(a) = args.next() {
        match a.as_str() {
            "--config" | "-c" => match args.next() {
                Some(p) => config_path = PathBuf::from(p),
                None => return usage_error("--config needs a path"),
            },
            "--help" | "-h" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => return usage_error(&format!("unknown argument {other:?}")),
        }
    }
    match run(&config_path) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            log::error(&msg);
            ExitCode::FAILURE
        }
    }
}

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("apikey-sts: {msg}\n{USAGE}");
    ExitCode::from(2)
}

fn run(config_path: &std::path::Path) -> Result<(), String> {
    let config = Config::load(config_path).map_err(|e| e.to_string())?;
    let built = startup::build(&config).map_err(|e| e.to_string())?;
    for w in &built.warnings {
        log::warn(w);
    }
    let addr = format!("{}:{}", config.listener.host, config.listener.https_port);
    let listener = std::net::TcpListener::bind(&addr).map_err(|e| {
        format!(
            "{}: listenerConfig: cannot listen on {addr}: {e}",
            config.source
        )
    })?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    log::info(&format!(
        "listening on https://{local} (workers={}, maxConnections={})",
        config.limits.workers, config.limits.max_connections
    ));
    let shared = std::sync::Arc::new(server::Shared::new(built.state));
    server::run(
        vec![(listener, server::Kind::Https)],
        shared,
        config.limits.clone(),
    )
    .map_err(|e| format!("server failed: {e}"))
}
