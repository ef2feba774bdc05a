//! The I/O edge: listeners, TLS, a fixed worker pool and deadlines around the sans-IO core
//! (`http::Connection` reads requests and frames responses; the handlers answer them).
//!
//! Every socket is non-blocking. A fixed pool of workers takes turns as the leader: the leader
//! waits for readiness, accepts connections and enforces deadlines, then hands leadership on
//! and serves the first ready connection itself (TLS handshake, parsing, signing, writing);
//! other ready connections go to a FIFO queue that free workers drain. Under load a worker goes
//! from one request to the next without sleeping, and the connection it polled needs no
//! hand-off to another thread, which a dedicated poller thread would cost on every request. A
//! connection sits in the registry while it waits for the network and is owned by exactly one
//! worker while it is driven, so no worker ever blocks on a slow client and a thousand idle
//! keep-alive connections cost memory, not threads.
//!
//! One file per job:
//! - `pool`: the workers, who leads, who serves what, and the connection slots;
//! - `poller`: the leader's turn: readiness, accepting, shedding, deadlines, draining;
//! - `conn`: one connection's deadlines and `drive`, which pumps bytes through
//!   `http::Connection` and the handler;
//! - `transport`: the TLS or plain byte pump between a socket and `http::Connection`.

mod conn;
mod poller;
mod pool;
mod transport;

pub use crate::http::MAX_PARSE_ATTEMPTS;
pub use conn::LINGER;
pub use poller::DRAIN_TIMEOUT;
pub use pool::run;

pub use crate::service::{Context, Handler, ListenerKind};
use rustls::ServerConfig;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How often the leader wakes to check deadlines and the shutdown flag.
const TICK: Duration = Duration::from_millis(100);

/// What the listeners serve; replaced as a whole on reload, so a request sees one version.
pub struct State {
    pub https: Arc<dyn Handler>,
    pub tls: Arc<ServerConfig>,
    /// Handler of the plain-HTTP listener, when there is one.
    pub plain: Option<Arc<dyn Handler>>,
}

/// Shared by the workers and the control thread (signals, reload).
pub struct Shared {
    pub state: RwLock<Arc<State>>,
    /// Set to stop accepting, finish in-flight requests and return from `run`.
    pub shutdown: AtomicBool,
}

impl Shared {
    pub fn new(state: State) -> Shared {
        Shared {
            state: RwLock::new(Arc::new(state)),
            shutdown: AtomicBool::new(false),
        }
    }

    pub fn state(&self) -> Arc<State> {
        Arc::clone(&self.state.read().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn replace(&self, state: State) {
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(state);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A worker that panicked while holding a lock left consistent data (we never panic mid-update
    // on purpose); keep serving rather than cascade the poison.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// One request's log line. It starts with the client; the TCP peer follows as `via` when it is a
/// proxy that spoke for another address.
#[allow(clippy::too_many_arguments)]
fn log_request(
    client: IpAddr,
    peer: SocketAddr,
    method: &str,
    path: &str,
    status: u16,
    took: Duration,
    user: Option<&str>,
    jti: Option<&str>,
) {
    use std::fmt::Write;
    // One buffer, written in place: this runs for every key issued.
    let mut msg = String::with_capacity(128 + path.len());
    let proxied = client != crate::client_addr::canonical(peer.ip());
    let _ = if proxied {
        write!(msg, "{client}")
    } else {
        write!(msg, "{peer}")
    };
    let _ = write!(
        msg,
        " \"{method} {path}\" {status} {}us user={} jti={}",
        took.as_micros(),
        user.unwrap_or("-"),
        jti.unwrap_or("-")
    );
    if proxied {
        let _ = write!(msg, " via {peer}");
    }
    crate::log::info(&msg);
}
