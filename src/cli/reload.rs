//! SIGHUP: rebuild everything from the config file and swap it in; on any error keep the
//! running state. Listener addresses, limits, the load-balancer settings, the revocation file
//! and store, and the throttle store need a restart.

use super::{load_config, Error};
use apikey_sts::config::Config;
use apikey_sts::log;
use apikey_sts::server::Shared;
use apikey_sts::startup::{self, Built, KeptAcrossReloads};
use std::path::Path;

pub fn reload(
    path: &Path,
    state_dir: Option<&Path>,
    running: &Config,
    shared: &Shared,
    kept: &KeptAcrossReloads,
) {
    match rebuild(path, state_dir, running, kept) {
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

fn rebuild(
    path: &Path,
    state_dir: Option<&Path>,
    running: &Config,
    kept: &KeptAcrossReloads,
) -> Result<Built, Error> {
    let c = load_config(path, state_dir)?;
    if c.listener.host != running.listener.host
        || c.listener.https_port != running.listener.https_port
        || c.limits != running.limits
        || c.validator.as_ref().map(|v| (&v.host, v.port))
            != running.validator.as_ref().map(|v| (&v.host, v.port))
    {
        log::warn(
            "reload: listener addresses and request limits ([server], listenerConfig sizes) \
             apply only after a restart",
        );
    }
    if c.load_balancer != running.load_balancer {
        log::warn("reload: trustedProxies and proxyProtocol apply only after a restart");
    }
    if c.revocation_file != running.revocation_file
        || c.revocation_redis != running.revocation_redis
    {
        log::warn("reload: [apikey.revocation] file and store apply only after a restart");
    }
    if c.throttle_redis != running.throttle_redis {
        log::warn("reload: [server] throttleStore applies only after a restart");
    }
    Ok(startup::build_with(&c, kept)?)
}
