//! Command line: runs the service, or one of the maintenance commands.
#![forbid(unsafe_code)]

use apikey_sts::{auth, config::Config, log, server, startup, throttle::Throttle};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const USAGE: &str = "usage:
  apikey-sts [--config PATH]                 run the service (SIGHUP reloads, SIGTERM stops)
  apikey-sts check-config [--config PATH]    validate a config and its keystores; exit 0 or 1
  apikey-sts hash-password [--iterations N]  read a password on stdin, print its config value
  apikey-sts verify TOKEN|- [--config PATH] [--api NAME [--api-version V]]
                                             print a key's header and claims and whether it is
                                             valid here (- reads it from stdin); exit 0 or 1
  apikey-sts revocations import|export FILE [--config PATH]
                                             copy the live revocations of a file log into the
                                             config's Redis store, or Redis' into a new file log

PATH defaults to conf/micro-gw.conf.";

/// Longest password `hash-password` reads.
const MAX_PASSWORD_BYTES: usize = 4096;

/// Revocations are kept this long past their key's `exp`: the widest `clockSkewSeconds` any
/// configuration (or a reload) can give the validator.
const MAX_CLOCK_SKEW_SECONDS: i64 = apikey_sts::config::MAX_CLOCK_SKEW_SECONDS;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = match args.first().map(String::as_str) {
        Some(c @ ("check-config" | "hash-password" | "verify" | "revocations")) => (c, &args[1..]),
        _ => ("run", &args[..]),
    };
    let mut config_path = PathBuf::from("conf/micro-gw.conf");
    let mut iterations = auth::PBKDF2_DEFAULT_ITERATIONS;
    let mut verify_args = VerifyArgs::default();
    let mut migrate_args: Vec<String> = Vec::new();
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--config" | "-c" => match it.next() {
                Some(p) => config_path = PathBuf::from(p),
                None => return usage_error("--config needs a path"),
            },
            "--iterations" if command == "hash-password" => {
                match it.next().and_then(|n| n.parse::<u32>().ok()) {
                    Some(n)
                        if (auth::PBKDF2_MIN_ITERATIONS..=auth::PBKDF2_MAX_ITERATIONS)
                            .contains(&n) =>
                    {
                        iterations = n
                    }
                    _ => {
                        return usage_error(&format!(
                            "--iterations needs a number in {}..={}",
                            auth::PBKDF2_MIN_ITERATIONS,
                            auth::PBKDF2_MAX_ITERATIONS
                        ))
                    }
                }
            }
            "--api" | "--api-version" if command == "verify" => match it.next() {
                Some(v) if a == "--api" => verify_args.api = Some(v.clone()),
                Some(v) => verify_args.version = Some(v.clone()),
                None => return usage_error(&format!("{a} needs a value")),
            },
            t if command == "verify" && verify_args.token.is_none() && !t.starts_with("--") => {
                verify_args.token = Some(t.to_string())
            }
            t if command == "revocations" && migrate_args.len() < 2 && !t.starts_with("--") => {
                migrate_args.push(t.to_string())
            }
            "--help" | "-h" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => return usage_error(&format!("unknown argument {other:?}")),
        }
    }
    let result = match command {
        "verify" => return verify(&config_path, verify_args),
        "check-config" => check_config(&config_path),
        "hash-password" => hash_password(iterations),
        "revocations" => match migrate_args.as_slice() {
            [action, file] if action == "import" || action == "export" => {
                migrate(&config_path, action, Path::new(file))
            }
            _ => return usage_error("revocations needs import|export and a FILE"),
        },
        _ => run(&config_path),
    };
    match result {
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

fn check_config(path: &Path) -> Result<(), String> {
    let config = Config::load(path).map_err(|e| e.to_string())?;
    let built = startup::build(&config).map_err(|e| e.to_string())?;
    if let Some(p) = &config.revocation_file {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let snap = apikey_sts::revocation::Snapshot::read(p, now, MAX_CLOCK_SKEW_SECONDS)
            .map_err(|e| format!("{}: apikey.revocation.file: {e}", config.source))?;
        println!(
            "revocations: {} live of {} records in {}{}",
            snap.report.live,
            snap.report.records,
            p.display(),
            if snap.report.torn.is_some() {
                " (torn last record: repaired at the next start)"
            } else {
                ""
            }
        );
    }
    for w in &built.warnings {
        println!("warning: {w}");
    }
    println!("{}: OK", path.display());
    Ok(())
}

fn hash_password(iterations: u32) -> Result<(), String> {
    let mut input = zeroize::Zeroizing::new(Vec::new());
    std::io::stdin()
        .take(MAX_PASSWORD_BYTES as u64 + 1)
        .read_to_end(&mut input)
        .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
    if input.len() > MAX_PASSWORD_BYTES {
        return Err(format!(
            "password is longer than {MAX_PASSWORD_BYTES} bytes"
        ));
    }
    // One line: drop the newline that `echo` or a terminal adds.
    let mut password: &[u8] = &input;
    for suffix in [&b"\n"[..], b"\r"] {
        password = password.strip_suffix(suffix).unwrap_or(password);
    }
    if password.is_empty() {
        return Err("empty password on stdin".into());
    }
    println!("{}", auth::hash_password(password, iterations)?);
    Ok(())
}

/// `revocations import|export FILE`: moves the live set between a file log and the config's
/// Redis store. Importing writes each entry as a revocation would (key and feed entry), so it
/// is idempotent; exporting writes a new file log whole and never replaces an existing file.
fn migrate(config_path: &Path, action: &str, file: &Path) -> Result<(), String> {
    use apikey_sts::revocation::{parse_log, redis, snapshot, MAX_LOG_BYTES};
    let config = Config::load(config_path).map_err(|e| e.to_string())?;
    let Some(store) = &config.revocation_redis else {
        return Err(format!(
            "{}: revocations {action} needs [apikey.revocation] store = \"redis\"",
            config.source
        ));
    };
    let url = redis::redacted_url(store.url.expose());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let f = file.display();
    if action == "export" {
        if file.exists() {
            return Err(format!("{f}: exists; export writes a new file"));
        }
        let (entries, rejected) = redis::export_all(store, now, MAX_CLOCK_SKEW_SECONDS)
            .map_err(|e| format!("{url}: {e}"))?;
        snapshot::write_marked(file, "", &entries).map_err(|e| e.to_string())?;
        println!(
            "exported {} live revocations from {url} to {f}{}",
            entries.len(),
            if rejected > 0 {
                format!(" ({rejected} malformed records in Redis skipped)")
            } else {
                String::new()
            }
        );
        return Ok(());
    }
    let size = std::fs::metadata(file)
        .map_err(|e| format!("{f}: {e}"))?
        .len();
    if size > MAX_LOG_BYTES {
        return Err(format!(
            "{f}: {size} bytes is over the {MAX_LOG_BYTES}-byte limit"
        ));
    }
    let bytes = std::fs::read(file).map_err(|e| format!("{f}: {e}"))?;
    let parsed = parse_log(&bytes)
        .map_err(|(line, reason)| format!("{f}: line {line} is damaged ({reason})"))?;
    if let Some(torn) = &parsed.torn {
        log::warn(&format!(
            "{f}: skipping a torn last record ({torn}); it was never acknowledged"
        ));
    }
    let mut con = None;
    let (mut imported, mut expired) = (0usize, 0usize);
    for (jti, e) in &parsed.records {
        if e.expires_at
            .is_some_and(|x| x.saturating_add(MAX_CLOCK_SKEW_SECONDS) < now)
        {
            expired += 1;
            continue;
        }
        redis::import_entry(store, &mut con, jti, e, MAX_CLOCK_SKEW_SECONDS).map_err(|e| {
            format!("{url}: {e} (after {imported} imported; importing again is safe)")
        })?;
        imported += 1;
    }
    println!(
        "imported {imported} live revocations from {f} into {url} ({expired} expired skipped)"
    );
    Ok(())
}

/// Binds every listener the config asks for.
fn bind_listeners(config: &Config) -> Result<Vec<(std::net::TcpListener, server::Kind)>, String> {
    let addr = format!("{}:{}", config.listener.host, config.listener.https_port);
    let https = std::net::TcpListener::bind(&addr).map_err(|e| {
        format!(
            "{}: listenerConfig: cannot listen on {addr}: {e}",
            config.source
        )
    })?;
    let local = https.local_addr().map_err(|e| e.to_string())?;
    log::info(&format!(
        "listening on https://{local} (workers={}, maxConnections={})",
        config.limits.workers, config.limits.max_connections
    ));
    let mut listeners = vec![(https, server::Kind::Https)];
    if let Some(v) = &config.validator {
        let addr = format!("{}:{}", v.host, v.port);
        let plain = std::net::TcpListener::bind(&addr)
            .map_err(|e| format!("{}: validator: cannot listen on {addr}: {e}", config.source))?;
        let local = plain.local_addr().map_err(|e| e.to_string())?;
        // The e2e harness waits for exactly this line.
        log::info(&format!(
            "listening on http://{local} (validator, metrics, JWKS)"
        ));
        listeners.push((plain, server::Kind::Plain));
    }
    Ok(listeners)
}

#[derive(Default)]
struct VerifyArgs {
    token: Option<String>,
    api: Option<String>,
    version: Option<String>,
}

/// `verify`: exit 0 valid, 1 invalid, 2 usage or config error.
fn verify(config_path: &Path, args: VerifyArgs) -> ExitCode {
    let token = match args.token.as_deref() {
        None => return usage_error("verify needs a TOKEN (or - to read it from stdin)"),
        Some("-") => {
            let mut s = String::new();
            let limit = apikey_sts::jwt::MAX_TOKEN_BYTES as u64 + 2;
            if let Err(e) = std::io::stdin().take(limit).read_to_string(&mut s) {
                return usage_error(&format!("cannot read the token from stdin: {e}"));
            }
            s
        }
        Some(t) => t.to_string(),
    };
    let api = args
        .api
        .as_deref()
        .map(|name| apikey_sts::validator::ApiRef {
            name: Some(name),
            version: args.version.as_deref(),
        });
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let report = Config::load(config_path)
        .map_err(|e| e.to_string())
        .and_then(|c| {
            // Read-only: the running server may be appending to the same log.
            let revoked = match &c.revocation_file {
                Some(p) => Some(
                    apikey_sts::revocation::Snapshot::read(p, now, MAX_CLOCK_SKEW_SECONDS)
                        .map_err(|e| format!("{}: apikey.revocation.file: {e}", c.source))?,
                ),
                None => None,
            };
            let revoked =
                revoked.map(|s| Arc::new(s) as Arc<dyn apikey_sts::validator::Revocation>);
            apikey_sts::validator::verify_report(&c, &token, api, now, revoked)
                .map_err(|e| e.to_string())
        });
    match report {
        Ok((text, valid)) => {
            print!("{text}");
            ExitCode::from(if valid { 0 } else { 1 })
        }
        Err(e) => {
            log::error(&e);
            ExitCode::from(2)
        }
    }
}

fn run(config_path: &Path) -> Result<(), String> {
    let mut config = Config::load(config_path).map_err(|e| e.to_string())?;
    let throttle = match &config.throttle_redis {
        None => Throttle::default(),
        Some(r) => {
            let shared = apikey_sts::throttle_store::RedisThrottle::new(r)
                .map_err(|e| format!("{}: server.throttleStore: {e}", config.source))?;
            log::info(&format!(
                "throttle: failure counts shared through Redis at {}",
                apikey_sts::revocation::redis::redacted_url(r.url.expose())
            ));
            Throttle::with_shared(Default::default(), Box::new(shared))
        }
    };
    let persistent = startup::Persistent {
        throttle: Arc::new(throttle),
        revocations: open_revocations(&config)?,
    };
    let built = startup::build_with(&config, &persistent).map_err(|e| e.to_string())?;
    // `config` lives as long as the process (reload compares against it): keep no passwords.
    config.forget_keystore_passwords();
    for w in &built.warnings {
        log::warn(w);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let reload = Arc::new(AtomicBool::new(false));
    for (sig, flag) in [
        (signal_hook::consts::SIGTERM, &stop),
        (signal_hook::consts::SIGINT, &stop),
        (signal_hook::consts::SIGHUP, &reload),
    ] {
        signal_hook::flag::register(sig, Arc::clone(flag))
            .map_err(|e| format!("cannot install signal handler: {e}"))?;
    }
    let listeners = bind_listeners(&config)?;
    let shared = Arc::new(server::Shared::new(built.state));
    let limits = config.limits.clone();
    let server_shared = Arc::clone(&shared);
    let server = std::thread::Builder::new()
        .name("server".into())
        .spawn(move || server::run(listeners, server_shared, limits))
        .map_err(|e| format!("cannot start the server thread: {e}"))?;

    while !server.is_finished() {
        std::thread::sleep(Duration::from_millis(50));
        if stop.load(Ordering::Relaxed) {
            log::info("stopping: no new connections; finishing requests in flight");
            shared.shutdown.store(true, Ordering::Relaxed);
            break;
        }
        if reload.swap(false, Ordering::Relaxed) {
            reload_config(config_path, &config, &shared, &persistent);
        }
    }
    match server.join() {
        Ok(Ok(())) => {
            log::info("stopped");
            Ok(())
        }
        Ok(Err(e)) => Err(format!("server failed: {e}")),
        Err(_) => Err("server thread panicked".into()),
    }
}

/// Opens the revocation store (the file log, repairing a torn tail, or Redis with its local
/// snapshot) and says what it found.
fn open_revocations(
    config: &Config,
) -> Result<Option<Arc<apikey_sts::revocation::store::Store>>, String> {
    use apikey_sts::revocation::store::Store;
    let Some(path) = &config.revocation_file else {
        log::warn(&format!(
            "{}: no [apikey.revocation] file: keys cannot be revoked",
            config.source
        ));
        return Ok(None);
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    if let Some(redis) = &config.revocation_redis {
        return open_redis(config, redis, path, now).map(|s| Some(Arc::new(Store::Redis(s))));
    }
    let (mut store, report) =
        apikey_sts::revocation::RevocationStore::open(path, now, MAX_CLOCK_SKEW_SECONDS)
            .map_err(|e| format!("{}: apikey.revocation.file: {e}", config.source))?;
    store.set_compact_every(config.revocation_compact_every);
    if let Some(torn) = &report.torn {
        log::warn(&format!(
            "{}: dropped a torn last record ({torn}); it was never acknowledged",
            path.display()
        ));
    }
    log::info(&format!(
        "revocations: {} live of {} records in {}",
        report.live,
        report.records,
        path.display()
    ));
    Ok(Some(Arc::new(Store::File(Box::new(store)))))
}

/// `store = "redis"`: the shared set, with `file` as its local snapshot.
fn open_redis(
    config: &Config,
    redis: &apikey_sts::config::RedisConfig,
    snapshot: &Path,
    now: i64,
) -> Result<apikey_sts::revocation::redis::RedisStore, String> {
    use apikey_sts::revocation::redis::{redacted_url, Loaded, RedisStore};
    let (store, loaded) = RedisStore::open(redis, snapshot, now, MAX_CLOCK_SKEW_SECONDS)
        .map_err(|e| format!("{}: apikey.revocation: {e}", config.source))?;
    let url = redacted_url(redis.url.expose());
    match loaded {
        Loaded::Redis { live, rejected } => log::info(&format!(
            "revocations: {live} live in Redis at {url} (prefix {:?}){}; snapshot {}",
            redis.key_prefix,
            if rejected > 0 {
                format!(", {rejected} malformed records skipped")
            } else {
                String::new()
            },
            snapshot.display()
        )),
        Loaded::Snapshot { live, why } => log::warn(&format!(
            "revocations: {why}; starting from the snapshot {} ({live} live); revocations get \
             503 until Redis at {url} answers",
            snapshot.display()
        )),
    }
    Ok(store)
}

/// SIGHUP: rebuild everything from the file; on any error keep the running state.
fn reload_config(
    path: &Path,
    running: &Config,
    shared: &server::Shared,
    persistent: &startup::Persistent,
) {
    let built = Config::load(path).map_err(|e| e.to_string()).and_then(|c| {
        if c.listener.host != running.listener.host
            || c.listener.https_port != running.listener.https_port
            || c.limits != running.limits
            || c.validator.as_ref().map(|v| (&v.host, v.port))
                != running.validator.as_ref().map(|v| (&v.host, v.port))
        {
            log::warn("reload: listener address and [server] limits apply only after a restart");
        }
        if c.revocation_file != running.revocation_file
            || c.revocation_redis != running.revocation_redis
        {
            log::warn("reload: [apikey.revocation] file and store apply only after a restart");
        }
        if c.throttle_redis != running.throttle_redis {
            log::warn("reload: [server] throttleStore applies only after a restart");
        }
        startup::build_with(&c, persistent).map_err(|e| e.to_string())
    });
    match built {
        Ok(b) => {
            for w in &b.warnings {
                log::warn(w);
            }
            shared.replace(b.state);
            log::info(&format!("reloaded {}", path.display()));
        }
        Err(e) => log::error(&format!(
            "reload failed, still running the previous config: {e}"
        )),
    }
}
