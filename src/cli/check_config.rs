//! `apikey-sts check-config`: loads the config, builds everything the server would (keystores,
//! signer, TLS), reads the revocation log without changing it, and prints the warnings.

use super::{load_config, unix_now, Error, MAX_CLOCK_SKEW_SECONDS};
use apikey_sts::revocation::Snapshot;
use apikey_sts::startup;
use std::path::Path;

pub fn main(path: &Path, state_dir: Option<&Path>) -> Result<(), Error> {
    let config = load_config(path, state_dir)?;
    let built = startup::build(&config)?;
    if let Some(p) = &config.revocation_file {
        let snap = Snapshot::read(p, unix_now(), MAX_CLOCK_SKEW_SECONDS).map_err(|error| {
            Error::Revocation {
                source: config.source.clone(),
                error,
            }
        })?;
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
