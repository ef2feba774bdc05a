//! `apikey-sts [--config PATH]`: opens the revocation store (file log or Redis) and the
//! throttle, builds the state, binds the listeners, starts the server and waits for signals
//! (SIGTERM/SIGINT stop, SIGHUP reloads).

use super::notify::Notifier;
use super::{load_config, reload, unix_now, Error, MAX_CLOCK_SKEW_SECONDS, VERSION};
use apikey_sts::config::Config;
use apikey_sts::log;
use apikey_sts::revocation::redis::{redacted_url, Loaded, RedisStore};
use apikey_sts::revocation::store::Store;
use apikey_sts::revocation::RevocationStore;
use apikey_sts::server::{self, Shared};
use apikey_sts::service::ListenerKind;
use apikey_sts::startup::{self, KeptAcrossReloads};
use apikey_sts::throttle::Throttle;
use apikey_sts::throttle_store::RedisThrottle;
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub fn main(config_path: &Path, state_dir: Option<&Path>) -> Result<(), Error> {
    let mut config = load_config(config_path, state_dir)?;
    let kept = KeptAcrossReloads {
        throttle: Arc::new(open_throttle(&config)?),
        revocations: open_revocations(&config)?,
    };
    let built = startup::build_with(&config, &kept)?;
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
        signal_hook::flag::register(sig, Arc::clone(flag)).map_err(Error::Signals)?;
    }
    let listeners = bind_listeners(&config)?;
    let shared = Arc::new(Shared::new(built.state));
    let limits = config.limits.clone();
    let load_balancer = config.load_balancer.clone();
    let server_shared = Arc::clone(&shared);
    let server = std::thread::Builder::new()
        .name("server".into())
        .spawn(move || server::run(listeners, server_shared, limits, load_balancer))
        .map_err(Error::ServerThread)?;
    // Every listener is bound: connections queue in the kernel until the server accepts them.
    let notifier = Notifier::from_env();
    notifier.ready();

    while !server.is_finished() {
        std::thread::sleep(Duration::from_millis(50));
        if stop.load(Ordering::Relaxed) {
            notifier.stopping();
            log::info("stopping: no new connections; finishing requests in flight");
            shared.shutdown.store(true, Ordering::Relaxed);
            break;
        }
        if reload.swap(false, Ordering::Relaxed) {
            notifier.reloading();
            reload::reload(config_path, state_dir, &config, &shared, &kept);
            // Whether the new config was taken or the old one kept, the service is serving.
            notifier.ready();
        }
    }
    match server.join() {
        Ok(Ok(())) => {
            log::info("stopped");
            Ok(())
        }
        Ok(Err(e)) => Err(Error::Server(e)),
        Err(_) => Err(Error::ServerPanicked),
    }
}

/// Binds every listener the config asks for.
fn bind_listeners(config: &Config) -> Result<Vec<(TcpListener, ListenerKind)>, Error> {
    let bind = |section: &'static str, addr: String| {
        TcpListener::bind(&addr).map_err(|error| Error::Bind {
            source: config.source.clone(),
            section,
            addr,
            error,
        })
    };
    let https = bind(
        "listenerConfig",
        format!("{}:{}", config.listener.host, config.listener.https_port),
    )?;
    let local = https.local_addr().map_err(Error::LocalAddr)?;
    // The startup line names the version; a failed start stays one line on stderr.
    log::info(&format!(
        "listening on https://{local} (apikey-sts {VERSION}, workers={}, maxConnections={})",
        config.limits.workers, config.limits.max_connections
    ));
    let mut listeners = vec![(https, ListenerKind::Https)];
    if let Some(v) = &config.validator {
        let plain = bind("validator", format!("{}:{}", v.host, v.port))?;
        let local = plain.local_addr().map_err(Error::LocalAddr)?;
        // The e2e harness waits for exactly this line.
        log::info(&format!(
            "listening on http://{local} (validator, metrics, JWKS)"
        ));
        listeners.push((plain, ListenerKind::Plain));
    }
    Ok(listeners)
}

/// The brute-force bookkeeping: local, or with counts and locks shared through Redis
/// (`[server] throttleStore = "redis"`).
fn open_throttle(config: &Config) -> Result<Throttle, Error> {
    let Some(r) = &config.throttle_redis else {
        return Ok(Throttle::default());
    };
    let shared = RedisThrottle::new(r).map_err(|error| Error::ThrottleStore {
        source: config.source.clone(),
        error,
    })?;
    log::info(&format!(
        "throttle: failure counts shared through Redis at {}",
        redacted_url(r.url.expose())
    ));
    Ok(Throttle::with_shared(Default::default(), Box::new(shared)))
}

/// Opens the revocation store (the file log, repairing a torn tail, or Redis with its local
/// snapshot) and says what it found.
fn open_revocations(config: &Config) -> Result<Option<Arc<Store>>, Error> {
    let Some(path) = &config.revocation_file else {
        log::warn(&format!(
            "{}: no [apikey.revocation] file: keys cannot be revoked",
            config.source
        ));
        return Ok(None);
    };
    if let Some(redis) = &config.revocation_redis {
        return open_redis(config, redis, path).map(|s| Some(Arc::new(Store::Redis(s))));
    }
    let (mut store, report) = RevocationStore::open(path, unix_now(), MAX_CLOCK_SKEW_SECONDS)
        .map_err(|error| Error::Revocation {
            source: config.source.clone(),
            error,
        })?;
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
) -> Result<RedisStore, Error> {
    let (store, loaded) = RedisStore::open(redis, snapshot, unix_now(), MAX_CLOCK_SKEW_SECONDS)
        .map_err(|error| Error::RevocationStore {
            source: config.source.clone(),
            error,
        })?;
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
