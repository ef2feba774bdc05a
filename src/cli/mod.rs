//! The command line: one parser for every subcommand, and one file per subcommand.

mod check_config;
mod hash_password;
mod notify;
mod reload;
mod revocations;
mod run;
mod verify;

use apikey_sts::auth::{PBKDF2_DEFAULT_ITERATIONS, PBKDF2_MAX_ITERATIONS, PBKDF2_MIN_ITERATIONS};
use apikey_sts::config::Config;
use apikey_sts::config::ConfigError;
use apikey_sts::jwks::JwksError;
use apikey_sts::log;
use apikey_sts::revocation::RevocationError;
use apikey_sts::startup::StartupError;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit statuses. The help texts are built from these, so what they say is what `main` returns.
const EXIT_OK: u8 = 0;
const EXIT_FAILURE: u8 = 1;
const EXIT_USAGE: u8 = 2;

/// The version `--version` prints and the startup log line names.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Which command's help to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Topic {
    /// The overview: every command, and the options of running the service.
    Run,
    CheckConfig,
    HashPassword,
    Verify,
    Revocations,
}

/// The help text of `topic`.
fn help(topic: Topic) -> String {
    let config = "  -c, --config PATH      the config file (default conf/micro-gw.conf)
  --state-dir DIR        where a relative [apikey.revocation] file goes (default
                         $STATE_DIRECTORY, else beside the config)";
    match topic {
        Topic::Run => format!(
            "apikey-sts {VERSION}: API key token service (WSO2 Microgateway /apikey drop-in)

usage:
  apikey-sts [--config PATH] [--state-dir DIR]
                                            run the service
  apikey-sts check-config [--config PATH]   validate a config, its keys and revocation log
  apikey-sts hash-password [--iterations N] make a password value for [b7a.users.NAME]
  apikey-sts verify TOKEN|- [OPTIONS]       show a key and whether it is valid here
  apikey-sts revocations import|export FILE [--config PATH]
                                            move live revocations between a file log and Redis
  apikey-sts COMMAND --help                 a command's options and exit statuses
  apikey-sts --version                      print the version

options (run):
{config}
  -h, --help             this text
  -V, --version          print the version

Options take their value as `--config PATH` or `--config=PATH`.
SIGHUP reloads the config and keys; SIGTERM or SIGINT stops (requests in flight finish).

exit status: {EXIT_OK} stopped by SIGTERM or SIGINT; {EXIT_FAILURE} could not start or failed; \
{EXIT_USAGE} usage error"
        ),
        Topic::CheckConfig => format!(
            "usage: apikey-sts check-config [--config PATH] [--state-dir DIR]

Loads the config and everything the server would (keys, certificates, signer, TLS), reads the
revocation log without changing it, and prints the warnings.

options:
{config}
  -h, --help             this text

exit status: {EXIT_OK} usable; {EXIT_FAILURE} not usable (the reason is on stderr); \
{EXIT_USAGE} usage error"
        ),
        Topic::HashPassword => format!(
            "usage: apikey-sts hash-password [--iterations N]

Reads one password and prints its PBKDF2-SHA256 value for [b7a.users.NAME] password.
At a terminal it asks twice without echo; otherwise it reads stdin (one line; the newline is
dropped), e.g. printf '%s' \"$PW\" | apikey-sts hash-password.

options:
  --iterations N         PBKDF2 iterations, {PBKDF2_MIN_ITERATIONS}..={PBKDF2_MAX_ITERATIONS} \
(default {PBKDF2_DEFAULT_ITERATIONS})
  -h, --help             this text

exit status: {EXIT_OK} printed; {EXIT_FAILURE} no password (empty, too long, unreadable, or \
the two entries differ); {EXIT_USAGE} usage error"
        ),
        Topic::Verify => format!(
            "usage: apikey-sts verify TOKEN|- [--config PATH] [--state-dir DIR]
                         [--api NAME [--api-version V]] [--ip ADDRESS] [--referer URL]

Prints a key's header and claims, and whether this config accepts it (signature, expiry,
revocation, issuer, audience, key type, permittedIP, permittedReferer). - reads the key from
stdin.

options:
{config}
  --api NAME             check that the key allows this API
  --api-version V        ... in this version
  --ip ADDRESS           the client address a restricted key is checked against
  --referer URL          the client referer a restricted key is checked against
  -h, --help             this text

exit status: {EXIT_OK} valid; {EXIT_FAILURE} invalid; {EXIT_USAGE} usage or config error"
        ),
        Topic::Revocations => format!(
            "usage: apikey-sts revocations import|export FILE [--config PATH]

Moves the live revocations between a file log and the config's Redis store
([apikey.revocation] store = \"redis\").
  import FILE            copy a file log's live entries into Redis; importing again is safe
  export FILE            write Redis' live entries to FILE, a new file log (never replaced)

options:
  -c, --config PATH      the config file (default conf/micro-gw.conf)
  -h, --help             this text

exit status: {EXIT_OK} copied; {EXIT_FAILURE} failed (the reason is on stderr); \
{EXIT_USAGE} usage error"
        ),
    }
}

/// Revocations are kept this long past their key's `exp`: the widest `clockSkewSeconds` any
/// configuration (or a reload) can give the validator.
const MAX_CLOCK_SKEW_SECONDS: i64 = apikey_sts::config::MAX_CLOCK_SKEW_SECONDS;

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Run {
        config: PathBuf,
        state_dir: Option<PathBuf>,
    },
    CheckConfig {
        config: PathBuf,
        state_dir: Option<PathBuf>,
    },
    HashPassword {
        iterations: u32,
    },
    Verify {
        config: PathBuf,
        state_dir: Option<PathBuf>,
        args: VerifyArgs,
    },
    Revocations {
        config: PathBuf,
        action: revocations::Action,
        file: PathBuf,
    },
    Help(Topic),
    Version,
}

#[derive(Debug, Default, PartialEq, Eq)]
struct VerifyArgs {
    token: Option<String>,
    api: Option<String>,
    version: Option<String>,
    ip: Option<std::net::IpAddr>,
    referer: Option<String>,
}

/// A command line that cannot be run: said with the command's help, exit status 2.
#[derive(Debug)]
enum UsageError {
    Iterations,
    NeedsValue(String),
    /// `--help=x`: a flag without a value was given one.
    NoValue(String),
    Unknown(String),
    NoToken,
    TokenStdin(std::io::Error),
    /// `revocations` without `import|export FILE`.
    Revocations,
    /// `--ip` with something that is not an IPv4 or IPv6 address.
    NotAnAddress(String),
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageError::Iterations => write!(
                f,
                "--iterations needs a number in {PBKDF2_MIN_ITERATIONS}..={PBKDF2_MAX_ITERATIONS}"
            ),
            UsageError::NeedsValue(flag) => write!(f, "{flag} needs a value"),
            UsageError::NoValue(flag) => write!(f, "{flag} takes no value"),
            UsageError::Unknown(arg) => write!(f, "unknown argument {arg:?}"),
            UsageError::NoToken => f.write_str("verify needs a TOKEN (or - to read it from stdin)"),
            UsageError::TokenStdin(e) => write!(f, "cannot read the token from stdin: {e}"),
            UsageError::Revocations => f.write_str("revocations needs import|export and a FILE"),
            UsageError::NotAnAddress(a) => write!(f, "--ip {a:?} is not an IPv4 or IPv6 address"),
        }
    }
}

/// The command named by the first argument, and the arguments after it.
fn split_command(args: &[String]) -> (Topic, &[String]) {
    match args.first().map(String::as_str) {
        Some("check-config") => (Topic::CheckConfig, &args[1..]),
        Some("hash-password") => (Topic::HashPassword, &args[1..]),
        Some("verify") => (Topic::Verify, &args[1..]),
        Some("revocations") => (Topic::Revocations, &args[1..]),
        _ => (Topic::Run, args),
    }
}

fn parse(args: &[String]) -> Result<Command, UsageError> {
    let (command, rest) = split_command(args);
    let mut config = PathBuf::from("conf/micro-gw.conf");
    let mut state_dir = None;
    let mut iterations = PBKDF2_DEFAULT_ITERATIONS;
    let mut verify = VerifyArgs::default();
    let mut migrate: Vec<String> = Vec::new();
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        // `--name=value` is `--name value`. Only long options: a token never starts with `--`.
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let inline_given = inline.is_some();
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| UsageError::NeedsValue(flag.to_string()))
        };
        match (command, flag) {
            (_, "--help" | "-h" | "--version" | "-V") if inline_given => {
                return Err(UsageError::NoValue(flag.to_string()))
            }
            (_, "--help" | "-h") => return Ok(Command::Help(command)),
            (_, "--version" | "-V") => return Ok(Command::Version),
            (
                Topic::Run | Topic::CheckConfig | Topic::Verify | Topic::Revocations,
                "--config" | "-c",
            ) => config = PathBuf::from(value()?),
            (Topic::Run | Topic::CheckConfig | Topic::Verify, "--state-dir") => {
                state_dir = Some(PathBuf::from(value()?))
            }
            (Topic::HashPassword, "--iterations") => {
                iterations = value()
                    .ok()
                    .and_then(|n| n.parse::<u32>().ok())
                    .filter(|n| (PBKDF2_MIN_ITERATIONS..=PBKDF2_MAX_ITERATIONS).contains(n))
                    .ok_or(UsageError::Iterations)?;
            }
            (Topic::Verify, "--api") => verify.api = Some(value()?),
            (Topic::Verify, "--api-version") => verify.version = Some(value()?),
            (Topic::Verify, "--ip") => {
                let v = value()?;
                let ip = v.trim().parse().map_err(|_| UsageError::NotAnAddress(v))?;
                verify.ip = Some(ip);
            }
            (Topic::Verify, "--referer") => verify.referer = Some(value()?),
            (Topic::Verify, t) if verify.token.is_none() && !t.starts_with("--") => {
                verify.token = Some(a.clone())
            }
            (Topic::Revocations, t) if migrate.len() < 2 && !t.starts_with("--") => {
                migrate.push(a.clone())
            }
            _ => return Err(UsageError::Unknown(a.clone())),
        }
    }
    Ok(match command {
        Topic::CheckConfig => Command::CheckConfig { config, state_dir },
        Topic::HashPassword => Command::HashPassword { iterations },
        Topic::Verify => Command::Verify {
            config,
            state_dir,
            args: verify,
        },
        Topic::Revocations => match migrate.as_slice() {
            [action, file] => Command::Revocations {
                config,
                action: revocations::Action::parse(action).ok_or(UsageError::Revocations)?,
                file: PathBuf::from(file),
            },
            _ => return Err(UsageError::Revocations),
        },
        Topic::Run => Command::Run { config, state_dir },
    })
}

/// The state directory, where a relative `[apikey.revocation] file` goes: `--state-dir`, else
/// `$STATE_DIRECTORY` (set by systemd's `StateDirectory=`; with several directories it lists
/// them separated by `:`, and the first is used), else none.
fn state_dir(flag: Option<&Path>, env: Option<OsString>) -> Option<PathBuf> {
    flag.map(Path::to_path_buf).or_else(|| {
        env.as_deref()
            .and_then(|v| std::env::split_paths(v).next())
            .filter(|p| !p.as_os_str().is_empty())
    })
}

/// Loads the config and puts a relative revocation log under the state directory; without one
/// the log stays beside the config, with a warning.
fn load_config(path: &Path, state_dir_flag: Option<&Path>) -> Result<Config, Error> {
    let mut c = Config::load(path)?;
    if let Some(relative) = c.revocation_file_relative.clone() {
        match state_dir(state_dir_flag, std::env::var_os("STATE_DIRECTORY")) {
            Some(dir) => c.revocation_file = Some(dir.join(relative)),
            None => {
                let beside = c.revocation_file.as_deref().unwrap_or(&relative);
                c.warnings.push(format!(
                    "{}: apikey.revocation.file is relative and there is no state directory \
                     (--state-dir or $STATE_DIRECTORY): using {} beside the config",
                    c.source,
                    beside.display()
                ));
            }
        }
    }
    Ok(c)
}

/// Why a command failed (`EXIT_FAILURE`; `verify`: `EXIT_USAGE`).
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
    /// `[apikey.revocation] store = "redis"` could not be opened.
    RevocationStore {
        source: String,
        error: apikey_sts::revocation::redis::OpenError,
    },
    /// `[server] throttleStore = "redis"`: the Redis client could not be made.
    ThrottleStore {
        source: String,
        error: apikey_sts::revocation::redis::ClientError,
    },
    /// `revocations import|export` failed.
    Migrate(revocations::MigrateError),
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
    /// The two entries at the terminal differ.
    PasswordMismatch,
    /// Terminal echo could not be turned off (so the password is not read).
    TerminalEcho(std::io::Error),
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
            Error::RevocationStore { source, error } => {
                write!(f, "{source}: apikey.revocation: {error}")
            }
            Error::ThrottleStore { source, error } => {
                write!(f, "{source}: server.throttleStore: {error}")
            }
            Error::Migrate(e) => e.fmt(f),
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
            Error::PasswordEmpty => f.write_str("empty password"),
            Error::PasswordMismatch => f.write_str("the two passwords differ; nothing printed"),
            Error::TerminalEcho(e) => write!(f, "cannot turn off terminal echo: {e}"),
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

fn usage_error(topic: Topic, e: &UsageError) -> ExitCode {
    eprintln!("apikey-sts: {e}\n\n{}", help(topic));
    ExitCode::from(EXIT_USAGE)
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
        Err(e) => return usage_error(split_command(args).0, &e),
    };
    let result = match command {
        Command::Help(topic) => {
            println!("{}", help(topic));
            return ExitCode::from(EXIT_OK);
        }
        Command::Version => {
            println!("apikey-sts {VERSION}");
            return ExitCode::from(EXIT_OK);
        }
        Command::Verify {
            config,
            state_dir,
            args,
        } => return verify::main(&config, state_dir.as_deref(), args),
        Command::CheckConfig { config, state_dir } => {
            check_config::main(&config, state_dir.as_deref())
        }
        Command::HashPassword { iterations } => hash_password::main(iterations),
        Command::Revocations {
            config,
            action,
            file,
        } => revocations::main(&config, action, &file),
        Command::Run { config, state_dir } => run::main(&config, state_dir.as_deref()),
    };
    match result {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(e) => {
            log::error(&e.to_string());
            ExitCode::from(EXIT_FAILURE)
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
                config: default.clone(),
                state_dir: None,
            }
        );
        assert_eq!(
            p(&["-c", "x.conf"]).unwrap(),
            Command::Run {
                config: "x.conf".into(),
                state_dir: None,
            }
        );
        assert_eq!(
            p(&["check-config", "--config", "y"]).unwrap(),
            Command::CheckConfig {
                config: "y".into(),
                state_dir: None
            }
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
                config: default.clone(),
                state_dir: None,
                args: VerifyArgs {
                    token: Some("-".into()),
                    api: Some("A".into()),
                    version: Some("1".into()),
                    ..VerifyArgs::default()
                }
            }
        );
        assert_eq!(
            p(&["verify", "t", "--ip", "::1", "--referer=https://a.example/"]).unwrap(),
            Command::Verify {
                config: default.clone(),
                state_dir: None,
                args: VerifyArgs {
                    token: Some("t".into()),
                    ip: Some("::1".parse().unwrap()),
                    referer: Some("https://a.example/".into()),
                    ..VerifyArgs::default()
                }
            }
        );
        assert!(matches!(
            p(&["verify", "t", "--ip", "localhost"]),
            Err(UsageError::NotAnAddress(_))
        ));
        assert_eq!(
            p(&["--config=a=b.conf"]).unwrap(),
            Command::Run {
                config: "a=b.conf".into(),
                state_dir: None,
            }
        );
        assert_eq!(
            p(&["check-config", "--config=z", "--state-dir=/var/lib/s"]).unwrap(),
            Command::CheckConfig {
                config: "z".into(),
                state_dir: Some("/var/lib/s".into())
            }
        );
        assert_eq!(
            p(&["hash-password", "--iterations=20000"]).unwrap(),
            Command::HashPassword { iterations: 20000 }
        );
        // A token may contain `=` (padded base64): it is not an option.
        match p(&["verify", "a.b.c==", "--api=A"]).unwrap() {
            Command::Verify { args, .. } => {
                assert_eq!(args.token.as_deref(), Some("a.b.c=="));
                assert_eq!(args.api.as_deref(), Some("A"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn state_dir_precedence() {
        let flag = Path::new("/from/flag");
        let env = || Some(OsString::from("/from/systemd:/second"));
        assert_eq!(state_dir(Some(flag), env()), Some(flag.into()));
        assert_eq!(state_dir(None, env()), Some("/from/systemd".into()));
        assert_eq!(state_dir(None, Some(OsString::new())), None);
        assert_eq!(state_dir(None, None), None);
        assert_eq!(
            p(&["--state-dir", "d"]).unwrap(),
            Command::Run {
                config: "conf/micro-gw.conf".into(),
                state_dir: Some("d".into())
            }
        );
        assert_eq!(
            p(&["hash-password", "--state-dir=d"])
                .unwrap_err()
                .to_string(),
            "unknown argument \"--state-dir=d\""
        );
    }

    #[test]
    fn help_and_version() {
        assert_eq!(p(&["--help"]).unwrap(), Command::Help(Topic::Run));
        assert_eq!(p(&["-h"]).unwrap(), Command::Help(Topic::Run));
        assert_eq!(
            p(&["verify", "t", "--help"]).unwrap(),
            Command::Help(Topic::Verify)
        );
        assert_eq!(
            p(&["check-config", "-h"]).unwrap(),
            Command::Help(Topic::CheckConfig)
        );
        assert_eq!(
            p(&["hash-password", "--help"]).unwrap(),
            Command::Help(Topic::HashPassword)
        );
        assert_eq!(p(&["--version"]).unwrap(), Command::Version);
        assert_eq!(p(&["check-config", "-V"]).unwrap(), Command::Version);
        assert_eq!(
            p(&["--help=x"]).unwrap_err().to_string(),
            "--help takes no value"
        );
    }

    /// Each help text names its own options and not another command's, and states the exit
    /// statuses `main` returns.
    #[test]
    fn help_texts() {
        let run = help(Topic::Run);
        assert!(run.contains(VERSION));
        for cmd in [
            "check-config",
            "hash-password",
            "verify",
            "--version",
            "--config=PATH",
        ] {
            assert!(run.contains(cmd), "{cmd}");
        }
        let check = help(Topic::CheckConfig);
        assert!(check.contains("--config PATH") && !check.contains("--iterations"));
        let hash = help(Topic::HashPassword);
        assert!(hash.contains("--iterations N") && !hash.contains("--config"));
        assert!(hash.contains(&PBKDF2_DEFAULT_ITERATIONS.to_string()));
        let verify = help(Topic::Verify);
        assert!(verify.contains("--api-version V") && !verify.contains("--iterations"));
        assert!(verify.contains("exit status: 0 valid; 1 invalid; 2 usage or config error"));
        assert!(check.contains("exit status: 0 usable; 1 not usable"));
        assert!(run.contains("1 could not start or failed; 2 usage error"));
        assert_eq!((EXIT_OK, EXIT_FAILURE, EXIT_USAGE), (0, 1, 2));
    }

    #[test]
    fn usage_errors() {
        let msg = |a: &[&str]| p(a).unwrap_err().to_string();
        assert_eq!(msg(&["--config"]), "--config needs a value");
        assert_eq!(
            msg(&["check-config", "--iterations=9"]),
            "unknown argument \"--iterations=9\""
        );
        assert_eq!(
            msg(&["hash-password", "--config", "x"]),
            "unknown argument \"--config\""
        );
        assert!(msg(&["hash-password", "--iterations", "1"]).starts_with("--iterations needs"));
        assert_eq!(msg(&["verify", "--api"]), "--api needs a value");
        assert_eq!(
            msg(&["--iterations", "5"]),
            "unknown argument \"--iterations\""
        );
        assert_eq!(msg(&["verify", "a", "b"]), "unknown argument \"b\"");
        let needs = "revocations needs import|export and a FILE";
        assert_eq!(msg(&["revocations"]), needs);
        assert_eq!(msg(&["revocations", "import"]), needs);
        assert_eq!(msg(&["revocations", "copy", "f"]), needs);
        assert_eq!(
            msg(&["revocations", "import", "f", "g"]),
            "unknown argument \"g\""
        );
        assert_eq!(
            msg(&["revocations", "export", "f", "--state-dir", "d"]),
            "unknown argument \"--state-dir\""
        );
    }

    #[test]
    fn revocations_command() {
        assert_eq!(
            p(&["revocations", "import", "old.log"]).unwrap(),
            Command::Revocations {
                config: "conf/micro-gw.conf".into(),
                action: revocations::Action::Import,
                file: "old.log".into(),
            }
        );
        assert_eq!(
            p(&["revocations", "--config=c", "export", "new.log"]).unwrap(),
            Command::Revocations {
                config: "c".into(),
                action: revocations::Action::Export,
                file: "new.log".into(),
            }
        );
        assert_eq!(
            p(&["revocations", "-h"]).unwrap(),
            Command::Help(Topic::Revocations)
        );
        let help = help(Topic::Revocations);
        assert!(help.contains("import FILE") && help.contains("export FILE"));
        assert!(help.contains("--config PATH") && !help.contains("--iterations"));
        assert!(help.contains("exit status: 0 copied; 1 failed"));
        assert!(super::help(Topic::Run).contains("revocations import|export FILE"));
    }
}
