//! The command line: one parser for every subcommand, and one file per subcommand.

mod check_config;
mod hash_password;
mod reload;
mod run;
mod verify;

use apikey_sts::auth::{PBKDF2_DEFAULT_ITERATIONS, PBKDF2_MAX_ITERATIONS, PBKDF2_MIN_ITERATIONS};
use apikey_sts::config::ConfigError;
use apikey_sts::jwks::JwksError;
use apikey_sts::log;
use apikey_sts::revocation::RevocationError;
use apikey_sts::startup::StartupError;
use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage:
  apikey-sts [--config PATH]                 run the service (SIGHUP reloads, SIGTERM stops)
  apikey-sts check-config [--config PATH]    validate a config and its keystores; exit 0 or 1
  apikey-sts hash-password [--iterations N]  read a password on stdin, print its config value
  apikey-sts verify TOKEN|- [--config PATH] [--api NAME [--api-version V]]
                                             print a key's header and claims and whether it is
                                             valid here (- reads it from stdin); exit 0 or 1

PATH defaults to conf/micro-gw.conf.";

/// Revocations are kept this long past their key's `exp`: the widest `clockSkewSeconds` any
/// configuration (or a reload) can give the validator.
const MAX_CLOCK_SKEW_SECONDS: i64 = apikey_sts::config::MAX_CLOCK_SKEW_SECONDS;

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Run { config: PathBuf },
    CheckConfig { config: PathBuf },
    HashPassword { iterations: u32 },
    Verify { config: PathBuf, args: VerifyArgs },
    Help,
}

#[derive(Debug, Default, PartialEq, Eq)]
struct VerifyArgs {
    token: Option<String>,
    api: Option<String>,
    version: Option<String>,
}

/// A command line that cannot be run: said with the usage text, exit status 2.
#[derive(Debug)]
enum UsageError {
    ConfigNeedsPath,
    Iterations,
    NeedsValue(String),
    Unknown(String),
    NoToken,
    TokenStdin(std::io::Error),
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageError::ConfigNeedsPath => f.write_str("--config needs a path"),
            UsageError::Iterations => write!(
                f,
                "--iterations needs a number in {PBKDF2_MIN_ITERATIONS}..={PBKDF2_MAX_ITERATIONS}"
            ),
            UsageError::NeedsValue(flag) => write!(f, "{flag} needs a value"),
            UsageError::Unknown(arg) => write!(f, "unknown argument {arg:?}"),
            UsageError::NoToken => f.write_str("verify needs a TOKEN (or - to read it from stdin)"),
            UsageError::TokenStdin(e) => write!(f, "cannot read the token from stdin: {e}"),
        }
    }
}

fn parse(args: &[String]) -> Result<Command, UsageError> {
    let (command, rest) = match args.first().map(String::as_str) {
        Some(c @ ("check-config" | "hash-password" | "verify")) => (c, &args[1..]),
        _ => ("run", args),
    };
    let mut config = PathBuf::from("conf/micro-gw.conf");
    let mut iterations = PBKDF2_DEFAULT_ITERATIONS;
    let mut verify = VerifyArgs::default();
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--config" | "-c" => match it.next() {
                Some(p) => config = PathBuf::from(p),
                None => return Err(UsageError::ConfigNeedsPath),
            },
            "--iterations" if command == "hash-password" => {
                iterations = it
                    .next()
                    .and_then(|n| n.parse::<u32>().ok())
                    .filter(|n| (PBKDF2_MIN_ITERATIONS..=PBKDF2_MAX_ITERATIONS).contains(n))
                    .ok_or(UsageError::Iterations)?;
            }
            "--api" | "--api-version" if command == "verify" => {
                let v = it.next().ok_or_else(|| UsageError::NeedsValue(a.clone()))?;
                if a == "--api" {
                    verify.api = Some(v.clone());
                } else {
                    verify.version = Some(v.clone());
                }
            }
            t if command == "verify" && verify.token.is_none() && !t.starts_with("--") => {
                verify.token = Some(t.to_string())
            }
            "--help" | "-h" => return Ok(Command::Help),
            other => return Err(UsageError::Unknown(other.to_string())),
        }
    }
    Ok(match command {
        "check-config" => Command::CheckConfig { config },
        "hash-password" => Command::HashPassword { iterations },
        "verify" => Command::Verify {
            config,
            args: verify,
        },
        _ => Command::Run { config },
    })
}

/// Why a command failed (exit status 1; `verify`: 2).
#[derive(Debug)]
pub enum Error {
    Config(ConfigError),
    Startup(StartupError),
    Keys(JwksError),
    /// `[apikey.revocation] file` could not be opened or read.
    Revocation {
        source: String,
        error: RevocationError,
    },
    /// A listener could not be bound.
    Bind {
        source: String,
        section: &'static str,
        addr: String,
        error: std::io::Error,
    },
    LocalAddr(std::io::Error),
    Signals(std::io::Error),
    ServerThread(std::io::Error),
    Server(std::io::Error),
    ServerPanicked,
    PasswordStdin(std::io::Error),
    PasswordTooLong(usize),
    PasswordEmpty,
    Rng(getrandom::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(e) => e.fmt(f),
            Error::Startup(e) => e.fmt(f),
            Error::Keys(e) => e.fmt(f),
            Error::Revocation { source, error } => {
                write!(f, "{source}: apikey.revocation.file: {error}")
            }
            Error::Bind {
                source,
                section,
                addr,
                error,
            } => write!(f, "{source}: {section}: cannot listen on {addr}: {error}"),
            Error::LocalAddr(e) => e.fmt(f),
            Error::Signals(e) => write!(f, "cannot install signal handler: {e}"),
            Error::ServerThread(e) => write!(f, "cannot start the server thread: {e}"),
            Error::Server(e) => write!(f, "server failed: {e}"),
            Error::ServerPanicked => f.write_str("server thread panicked"),
            Error::PasswordStdin(e) => write!(f, "cannot read the password from stdin: {e}"),
            Error::PasswordTooLong(max) => write!(f, "password is longer than {max} bytes"),
            Error::PasswordEmpty => f.write_str("empty password on stdin"),
            Error::Rng(e) => write!(f, "OS RNG failed: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}

impl From<StartupError> for Error {
    fn from(e: StartupError) -> Self {
        Error::Startup(e)
    }
}

fn usage_error(e: &UsageError) -> ExitCode {
    eprintln!("apikey-sts: {e}\n{USAGE}");
    ExitCode::from(2)
}

/// Unix seconds now.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Parses the arguments (without the program name) and runs the command.
pub fn main(args: &[String]) -> ExitCode {
    let command = match parse(args) {
        Ok(c) => c,
        Err(e) => return usage_error(&e),
    };
    let result = match command {
        Command::Help => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Command::Verify { config, args } => return verify::main(&config, args),
        Command::CheckConfig { config } => check_config::main(&config),
        Command::HashPassword { iterations } => hash_password::main(iterations),
        Command::Run { config } => run::main(&config),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error(&e.to_string());
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Command, UsageError> {
        parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn commands_and_defaults() {
        let default = PathBuf::from("conf/micro-gw.conf");
        assert_eq!(
            p(&[]).unwrap(),
            Command::Run {
                config: default.clone()
            }
        );
        assert_eq!(
            p(&["-c", "x.conf"]).unwrap(),
            Command::Run {
                config: "x.conf".into()
            }
        );
        assert_eq!(
            p(&["check-config", "--config", "y"]).unwrap(),
            Command::CheckConfig { config: "y".into() }
        );
        assert_eq!(
            p(&["hash-password"]).unwrap(),
            Command::HashPassword {
                iterations: PBKDF2_DEFAULT_ITERATIONS
            }
        );
        assert_eq!(
            p(&["verify", "-", "--api", "A", "--api-version", "1"]).unwrap(),
            Command::Verify {
                config: default,
                args: VerifyArgs {
                    token: Some("-".into()),
                    api: Some("A".into()),
                    version: Some("1".into()),
                }
            }
        );
        assert_eq!(p(&["verify", "t", "--help"]).unwrap(), Command::Help);
    }

    #[test]
    fn usage_errors() {
        let msg = |a: &[&str]| p(a).unwrap_err().to_string();
        assert_eq!(msg(&["--config"]), "--config needs a path");
        assert!(msg(&["hash-password", "--iterations", "1"]).starts_with("--iterations needs"));
        assert_eq!(msg(&["verify", "--api"]), "--api needs a value");
        assert_eq!(
            msg(&["--iterations", "5"]),
            "unknown argument \"--iterations\""
        );
        assert_eq!(msg(&["verify", "a", "b"]), "unknown argument \"b\"");
    }
}
