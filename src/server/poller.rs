//! The leader's turn: wait for readiness, accept (shedding the least useful connection at the
//! cap), close connections past their deadline, and run the shutdown drain. Whoever leads owns
//! the `Poller`; connections it finds ready go back to the pool's queue.

use super::conn::{Conn, Phase};
use super::pool::{stop_workers, Pool, Slab};
use super::transport::Transport;
use super::{lock, log_request, ListenerKind, TICK};
use crate::fault;
use crate::http;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Registry, Token};
use rustls::ServerConnection;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Longest a graceful shutdown waits for in-flight requests.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Listener tokens count down from here; connection tokens are slab indexes from zero.
pub(super) const LISTENER_BASE: usize = usize::MAX;
/// The token of the pool's waker (`Pool::wake_at`): below the listeners', far above any slot.
pub(super) const WAKER: usize = LISTENER_BASE - 1024;
/// Readiness events taken per poll; more wait in the kernel for the next turn.
const EVENTS_PER_POLL: usize = 256;

/// The leader's state: readiness, listeners, deadlines and the shutdown sequence.
pub(super) struct Poller {
    poll: Poll,
    events: Events,
    listeners: Vec<(TcpListener, ListenerKind)>,
    /// An accept failed (EMFILE and friends): connections may wait in a backlog that, being
    /// edge-triggered, announces nothing until another one arrives.
    accept_failing: bool,
    last_sweep: Instant,
    drain_until: Option<Instant>,
}

impl Poller {
    /// A poller for the listeners, each registered under its `LISTENER_BASE - i` token.
    pub fn new(listeners: Vec<(std::net::TcpListener, ListenerKind)>) -> io::Result<Poller> {
        let poll = Poll::new()?;
        let mut bound = Vec::with_capacity(listeners.len());
        for (i, (l, kind)) in listeners.into_iter().enumerate() {
            l.set_nonblocking(true)?;
            let mut l = TcpListener::from_std(l);
            poll.registry()
                .register(&mut l, Token(LISTENER_BASE - i), Interest::READABLE)?;
            bound.push((l, kind));
        }
        Ok(Poller {
            poll,
            events: Events::with_capacity(EVENTS_PER_POLL),
            listeners: bound,
            accept_failing: false,
            last_sweep: Instant::now(),
            drain_until: None,
        })
    }

    /// A handle for registering connections while another thread polls.
    pub fn registry(&self) -> io::Result<Registry> {
        self.poll.registry().try_clone()
    }

    /// One turn of the leader: the shutdown sequence, one wait for readiness (at most
    /// `timeout`), accepting, and the deadline sweep. Appends the connections that have events
    /// to `ready`.
    pub fn turn(
        &mut self,
        pool: &Pool,
        ready: &mut Vec<usize>,
        timeout: Duration,
    ) -> io::Result<()> {
        if self.drain_until.is_none() && pool.shared.shutdown.load(Ordering::Relaxed) {
            // Stop accepting at once; the kernel refuses new connections from here on.
            for (mut l, _) in self.listeners.drain(..) {
                let _ = self.poll.registry().deregister(&mut l);
            }
            self.drain_until = Some(Instant::now() + DRAIN_TIMEOUT);
        }
        if let Some(until) = self.drain_until {
            close_idle(pool);
            if lock(&pool.slab).open == 0 || Instant::now() >= until {
                stop_workers(pool);
                return Ok(());
            }
        }
        if let Err(e) = self.poll.poll(&mut self.events, Some(timeout)) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        pool.take_due_timers(ready);
        let n = self.listeners.len();
        for ev in self.events.iter() {
            let t = ev.token().0;
            if t == WAKER {
                // Only cut the wait short: the due timers were taken above.
                continue;
            }
            if t > LISTENER_BASE - n {
                if let Some((l, kind)) = self.listeners.get(LISTENER_BASE - t) {
                    self.accept_failing |= accept_all(pool, l, *kind);
                }
            } else {
                ready.push(t);
            }
        }
        if self.last_sweep.elapsed() >= TICK {
            sweep(pool);
            if std::mem::take(&mut self.accept_failing) {
                for (l, kind) in &self.listeners {
                    self.accept_failing |= accept_all(pool, l, *kind);
                }
            }
            self.last_sweep = Instant::now();
        }
        Ok(())
    }
}

/// Accepts until the backlog is empty. True if it stopped on an error (EMFILE and friends),
/// to be retried at the next sweep.
fn accept_all(pool: &Pool, listener: &TcpListener, kind: ListenerKind) -> bool {
    loop {
        match listener.accept() {
            Ok((sock, peer)) => admit(pool, sock, peer, kind),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                crate::log::warn(&format!("accept failed: {e}"));
                return true;
            }
        }
    }
}

fn admit(pool: &Pool, mut sock: TcpStream, peer: SocketAddr, kind: ListenerKind) {
    let lb = &pool.load_balancer;
    let proxy_protocol = match kind {
        ListenerKind::Https => lb.https_proxy_protocol,
        ListenerKind::Plain => lb.plain_proxy_protocol,
    };
    if proxy_protocol && !lb.trusted_proxies.contains(peer.ip()) {
        // A PROXY header would let it name any client; serving it without one would make it a
        // client that the proxies' own header could not be told from. Neither: close.
        crate::log::info(&format!(
            "{peer}: not a trusted proxy on a PROXY protocol listener; closed"
        ));
        return;
    }
    let _ = sock.set_nodelay(true);
    let tls = match kind {
        ListenerKind::Https => match ServerConnection::new(pool.shared.state().tls.clone()) {
            Ok(t) => Some(t),
            Err(e) => {
                crate::log::error(&format!("TLS session setup failed: {e}"));
                return;
            }
        },
        ListenerKind::Plain => None,
    };
    let mut slab = lock(&pool.slab);
    if slab.open >= pool.limits.max_connections && !shed(&mut slab, &pool.registry) {
        // Every connection is mid-request on a worker: nothing is less useful than them.
        crate::log::warn(&format!("connection limit reached; refusing {peer}"));
        return;
    }
    let now = Instant::now();
    let idx = slab.vacant();
    if let Err(e) = pool
        .registry
        .register(&mut sock, Token(idx), Interest::READABLE)
    {
        crate::log::error(&format!("register failed: {e}"));
        slab.free.push(idx);
        return;
    }
    let (transport, mut phase, mut timeout) = match tls {
        Some(t) => (
            Transport::tls(sock, t),
            Phase::Handshake,
            pool.limits.handshake_timeout,
        ),
        None => (
            Transport::plain(sock),
            Phase::Idle,
            pool.limits.idle_timeout,
        ),
    };
    if proxy_protocol {
        // The PROXY header is part of the handshake: it has the handshake's deadline.
        phase = Phase::Handshake;
        timeout = pool.limits.handshake_timeout;
    }
    slab.open += 1;
    crate::metrics::set_open_connections(slab.open);
    slab.slots[idx].conn = Some(Box::new(Conn {
        token: idx,
        transport,
        kind,
        peer,
        client: peer,
        proxy_header: proxy_protocol.then(Vec::new),
        http: http::Connection::new(pool.parse_limits, pool.limits.max_requests_per_connection),
        phase,
        deadline: now + timeout,
        last_active: now,
        held: None,
        armed: Interest::READABLE,
    }));
}

/// Closes the least useful parked connection: idle keep-alive first (longest idle), then
/// unfinished handshakes and requests (oldest first). Returns false if none could be shed.
fn shed(slab: &mut Slab, registry: &Registry) -> bool {
    let rank = |c: &Conn| match c.phase {
        Phase::Idle | Phase::Lingering => 0,
        Phase::Handshake | Phase::Reading => 1,
        Phase::Writing => 2,
    };
    let victim = slab
        .slots
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.busy)
        .filter_map(|(i, s)| s.conn.as_ref().map(|c| (i, rank(c), c.last_active)))
        .filter(|(_, r, _)| *r < 2)
        .min_by_key(|(_, r, t)| (*r, *t))
        .map(|(i, _, _)| i);
    let Some(i) = victim else { return false };
    if let Some(mut c) = slab.slots[i].conn.take() {
        let _ = registry.deregister(&mut c.transport.sock);
    }
    slab.release(i);
    true
}

/// Removes parked connections that `pick` selects, returning them for closing outside the lock.
fn take_parked(pool: &Pool, pick: impl Fn(&Conn) -> bool) -> Vec<Conn> {
    let mut taken = Vec::new();
    let mut slab = lock(&pool.slab);
    for i in 0..slab.slots.len() {
        let s = &mut slab.slots[i];
        if s.busy || !s.conn.as_deref().is_some_and(&pick) {
            continue;
        }
        if let Some(c) = s.conn.take() {
            taken.push(*c);
        }
        slab.release(i);
    }
    taken
}

/// Closes parked connections whose deadline has passed; a half-sent request gets a 408.
fn sweep(pool: &Pool) {
    let now = Instant::now();
    for mut c in take_parked(pool, |c| c.deadline <= now) {
        let _ = pool.registry.deregister(&mut c.transport.sock);
        if c.phase == Phase::Reading {
            // Best effort, non-blocking: the client may not be reading at all.
            let resp = fault::fault(
                408,
                fault::FAULT_UNCLASSIFIED,
                "Request Timeout",
                "request not received in time",
            );
            let client = c.client.ip();
            log_request(client, c.peer, "-", "-", 408, Duration::ZERO, None, None);
            c.send(&resp);
            c.transport.send_close();
            let _ = c.transport.write_out();
        }
    }
}

/// While draining: connections with no request in progress are closed at once. Lingering
/// ones keep their deadline, so that the answer they just got is not destroyed by a reset.
fn close_idle(pool: &Pool) {
    for mut c in take_parked(pool, |c| matches!(c.phase, Phase::Idle | Phase::Handshake)) {
        let _ = pool.registry.deregister(&mut c.transport.sock);
        c.transport.send_close();
        let _ = c.transport.write_out();
    }
}
