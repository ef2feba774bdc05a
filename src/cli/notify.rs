//! systemd's notify protocol (`sd_notify(3)`): one datagram to `$NOTIFY_SOCKET` per change of
//! state (`READY=1`, `RELOADING=1`, `STOPPING=1`), for units with `Type=notify`.
//!
//! A path (`/run/...`) and, on Linux, an abstract name (`@...`) are supported; both need only
//! `std`. Without `$NOTIFY_SOCKET` (not started by systemd) every call does nothing.

use apikey_sts::log;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::Path;
use std::time::Instant;

/// Why `$NOTIFY_SOCKET` cannot be used.
#[derive(Debug)]
enum NotifyError {
    /// Neither a path nor an abstract socket name.
    NotAnAddress,
    /// The address or the socket was refused by the OS.
    Socket(std::io::Error),
}

impl std::fmt::Display for NotifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotifyError::NotAnAddress => {
                f.write_str("neither a path nor an abstract socket name (@...)")
            }
            NotifyError::Socket(e) => e.fmt(f),
        }
    }
}

pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
}

impl Notifier {
    /// From `$NOTIFY_SOCKET`. A value that cannot be used is logged and ignored: the service runs,
    /// and systemd reports the missing `READY=1` itself.
    pub fn from_env() -> Notifier {
        let Some(value) = std::env::var_os("NOTIFY_SOCKET") else {
            return Notifier { target: None };
        };
        let target = address(&value).and_then(|addr| {
            let socket = UnixDatagram::unbound().map_err(NotifyError::Socket)?;
            Ok((socket, addr))
        });
        match target {
            Ok(t) => Notifier { target: Some(t) },
            Err(e) => {
                log::warn(&format!("NOTIFY_SOCKET: {e}; systemd is not notified"));
                Notifier { target: None }
            }
        }
    }

    /// Every listener is bound and the service answers.
    pub fn ready(&self) {
        self.send("READY=1");
    }

    /// A reload begins; `ready` says when it has ended (whether or not the new config was taken).
    pub fn reloading(&self) {
        match monotonic_usec() {
            Some(us) => self.send(&format!("RELOADING=1\nMONOTONIC_USEC={us}")),
            None => self.send("RELOADING=1"),
        }
    }

    pub fn stopping(&self) {
        self.send("STOPPING=1");
    }

    fn send(&self, state: &str) {
        if let Some((socket, addr)) = &self.target {
            if let Err(e) = socket.send_to_addr(state.as_bytes(), addr) {
                log::warn(&format!("NOTIFY_SOCKET: cannot send {state:?}: {e}"));
            }
        }
    }
}

/// The socket address `$NOTIFY_SOCKET` names.
fn address(value: &OsStr) -> Result<SocketAddr, NotifyError> {
    match value.as_bytes() {
        [b'/', ..] => SocketAddr::from_pathname(Path::new(value)).map_err(NotifyError::Socket),
        #[cfg(target_os = "linux")]
        [b'@', name @ ..] => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name).map_err(NotifyError::Socket)
        }
        _ => Err(NotifyError::NotAnAddress),
    }
}

/// `CLOCK_MONOTONIC` in microseconds, which `RELOADING=1` carries so systemd can tell this
/// reload from an older one. `std` reads that clock for `Instant` but does not expose its value,
/// and calling `clock_gettime` directly would need `unsafe`; on Linux `Instant`'s `Debug` shows
/// the raw `tv_sec` and `tv_nsec`, which are read from there. If a future `std` shows something
/// else, the field is left out (systemd accepts `RELOADING=1` without it).
fn monotonic_usec() -> Option<u64> {
    parse_instant_debug(&format!("{:?}", Instant::now()))
}

fn parse_instant_debug(s: &str) -> Option<u64> {
    let field = |name: &str| -> Option<u64> {
        let rest = &s[s.find(name)? + name.len()..];
        let digits = rest.split(|c: char| !c.is_ascii_digit()).next()?;
        digits.parse().ok()
    };
    let secs = field("tv_sec: ")?;
    let nanos = field("tv_nsec: ")?;
    if nanos >= 1_000_000_000 {
        return None;
    }
    secs.checked_mul(1_000_000)?.checked_add(nanos / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_clock_from_instant() {
        assert_eq!(
            parse_instant_debug("Instant { tv_sec: 12, tv_nsec: 345678901 }"),
            Some(12_345_678)
        );
        assert_eq!(parse_instant_debug("Instant { t: 5 }"), None);
        assert_eq!(
            parse_instant_debug("Instant { tv_sec: 1, tv_nsec: 1000000000 }"),
            None
        );
        // This platform's std shows the clock; the e2e test checks it is CLOCK_MONOTONIC.
        let a = monotonic_usec().expect("Instant's Debug shows tv_sec and tv_nsec");
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(monotonic_usec().unwrap() >= a + 2000);
    }

    #[test]
    fn notify_socket_addresses() {
        let a = address(OsStr::new("/run/systemd/notify")).unwrap();
        assert_eq!(a.as_pathname(), Some(Path::new("/run/systemd/notify")));
        #[cfg(target_os = "linux")]
        {
            use std::os::linux::net::SocketAddrExt;
            let a = address(OsStr::new("@sd-notify")).unwrap();
            assert_eq!(a.as_abstract_name(), Some(&b"sd-notify"[..]));
        }
        assert!(address(OsStr::new("vsock:2:1234")).is_err());
        assert!(address(OsStr::new("")).is_err());
    }
}
