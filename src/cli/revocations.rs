//! `revocations import|export FILE`: moves the live set between a file log and the config's
//! Redis store. Importing writes each entry as a revocation would (key and feed entry), so it
//! is idempotent; exporting writes a new file log whole and never replaces an existing file.

use super::{unix_now, Error, MAX_CLOCK_SKEW_SECONDS};
use apikey_sts::config::Config;
use apikey_sts::log;
use apikey_sts::revocation::redis::{self, StoreError};
use apikey_sts::revocation::{parse_log, snapshot, RevocationError, MAX_LOG_BYTES};
use std::fmt;
use std::path::Path;

/// Which way the revocations go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A file log's live entries into Redis.
    Import,
    /// Redis' live entries into a new file log.
    Export,
}

impl Action {
    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "import" => Some(Action::Import),
            "export" => Some(Action::Export),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Action::Import => "import",
            Action::Export => "export",
        }
    }
}

/// Why `revocations import|export` failed. Redis URLs appear only redacted.
#[derive(Debug)]
pub enum MigrateError {
    /// The config has no `store = "redis"`.
    NotRedis {
        source: String,
        action: Action,
    },
    /// `export` never replaces a file.
    Exists {
        file: String,
    },
    /// The file log could not be read.
    Read {
        file: String,
        error: std::io::Error,
    },
    TooLarge {
        file: String,
        bytes: u64,
    },
    Damaged {
        file: String,
        line: usize,
        reason: &'static str,
    },
    /// Redis did not answer or refused (`imported` entries were written before it).
    Redis {
        url: String,
        error: StoreError,
        imported: Option<usize>,
    },
    /// The exported file could not be written.
    Write(RevocationError),
}

impl fmt::Display for MigrateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MigrateError::NotRedis { source, action } => write!(
                f,
                "{source}: revocations {} needs [apikey.revocation] store = \"redis\"",
                action.name()
            ),
            MigrateError::Exists { file } => {
                write!(f, "{file}: exists; export writes a new file")
            }
            MigrateError::Read { file, error } => write!(f, "{file}: {error}"),
            MigrateError::TooLarge { file, bytes } => write!(
                f,
                "{file}: {bytes} bytes is over the {MAX_LOG_BYTES}-byte limit"
            ),
            MigrateError::Damaged { file, line, reason } => {
                write!(f, "{file}: line {line} is damaged ({reason})")
            }
            MigrateError::Redis {
                url,
                error,
                imported: None,
            } => write!(f, "{url}: {error}"),
            MigrateError::Redis {
                url,
                error,
                imported: Some(n),
            } => write!(
                f,
                "{url}: {error} (after {n} imported; importing again is safe)"
            ),
            MigrateError::Write(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for MigrateError {}

pub fn main(config_path: &Path, action: Action, file: &Path) -> Result<(), Error> {
    let config = Config::load(config_path)?;
    migrate(&config, action, file).map_err(Error::Migrate)
}

fn migrate(config: &Config, action: Action, file: &Path) -> Result<(), MigrateError> {
    let Some(store) = &config.revocation_redis else {
        return Err(MigrateError::NotRedis {
            source: config.source.clone(),
            action,
        });
    };
    let url = redis::redacted_url(store.url.expose());
    let now = unix_now();
    let f = file.display().to_string();
    if action == Action::Export {
        if file.exists() {
            return Err(MigrateError::Exists { file: f });
        }
        let (entries, rejected) =
            redis::export_all(store, now, MAX_CLOCK_SKEW_SECONDS).map_err(|error| {
                MigrateError::Redis {
                    url: url.clone(),
                    error,
                    imported: None,
                }
            })?;
        snapshot::write_marked(file, "", &entries).map_err(MigrateError::Write)?;
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
    let read_err = |error| MigrateError::Read {
        file: f.clone(),
        error,
    };
    let bytes = std::fs::metadata(file).map_err(read_err)?.len();
    if bytes > MAX_LOG_BYTES {
        return Err(MigrateError::TooLarge { file: f, bytes });
    }
    let text = std::fs::read(file).map_err(read_err)?;
    let parsed = parse_log(&text).map_err(|(line, reason)| MigrateError::Damaged {
        file: f.clone(),
        line,
        reason,
    })?;
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
        redis::import_entry(store, &mut con, jti, e, MAX_CLOCK_SKEW_SECONDS).map_err(|error| {
            MigrateError::Redis {
                url: url.clone(),
                error,
                imported: Some(imported),
            }
        })?;
        imported += 1;
    }
    println!(
        "imported {imported} live revocations from {f} into {url} ({expired} expired skipped)"
    );
    Ok(())
}
