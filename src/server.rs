//! The I/O edge: a listener, TLS, a fixed worker pool and deadlines around the sans-IO core.
//!
//! Every socket is non-blocking. A fixed pool of workers takes turns as the leader: the leader
//! waits for readiness, accepts connections and enforces deadlines, then hands leadership on
//! and serves the first ready connection itself (TLS handshake, parsing, signing, writing);
//! other ready connections go to a FIFO queue that free workers drain, polling again at least
//! every `POLL_INTERVAL` while it is not empty. Under load a worker goes from one request to
//! the next without sleeping, and the connection it polled needs no hand-off to another
//! thread, which a dedicated poller thread would cost on every request. A connection sits in
//! the registry while it waits for the network and is owned by exactly one worker while it is
//! driven, so no worker ever blocks on a slow client and a thousand idle keep-alive
//! connections cost memory, not threads.

use crate::app::{self, Outcome};
use crate::config::Limits;
use crate::http::{self, ParseLimits, Polled, Response};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Registry, Token};
use rustls::{ServerConfig, ServerConnection};
use std::collections::VecDeque;
use std::io::{self, BufRead, Read, Write};
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How often the leader wakes to check deadlines and the shutdown flag.
const TICK: Duration = Duration::from_millis(100);
/// Requests one worker answers on a connection before giving others a turn.
const REQUESTS_PER_TURN: usize = 16;
pub use crate::http::MAX_PARSE_ATTEMPTS;
/// Plaintext read per `read` call.
const READ_CHUNK: usize = 16 * 1024;

/// Facts about the request that are not in its bytes.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    pub peer: SocketAddr,
    /// Unix seconds.
    pub now: i64,
}

/// Answers requests of one listener. Pure: the server does all I/O.
pub trait Handler: Send + Sync {
    fn handle(&self, req: &http::Request, ctx: &Context) -> Outcome;
}

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

/// What a listening socket speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Https,
    /// Plain HTTP, meant for loopback (the validator and metrics).
    Plain,
}

enum Transport {
    Tls(Box<ServerConnection>),
    /// Bytes not yet written to the socket.
    Plain(Vec<u8>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Handshake,
    /// Between requests on a keep-alive connection.
    Idle,
    /// Part of a request has arrived.
    Reading,
    /// A response is waiting for the socket to drain.
    Writing,
    /// Answered and shut down for writing; discarding what the client still sends, so that
    /// closing does not reset the connection and destroy the answer before it is read.
    Lingering,
}

/// How long a closing connection keeps discarding input.
pub const LINGER: Duration = Duration::from_secs(2);

struct Conn {
    sock: TcpStream,
    transport: Transport,
    kind: Kind,
    peer: SocketAddr,
    http: http::Connection,
    phase: Phase,
    deadline: Instant,
    /// When the connection last finished a request or was accepted: the shedding order.
    last_active: Instant,
    /// Peer sent EOF.
    eof: bool,
}

enum Next {
    Park(Interest),
    /// Work is left that no readiness event will announce (buffered input).
    Requeue,
    Close,
}

struct Slot {
    conn: Option<Box<Conn>>,
    /// A worker owns the connection.
    busy: bool,
    /// An event arrived while busy: the owner must drive it again before parking.
    pending: bool,
}

#[derive(Default)]
struct Slab {
    slots: Vec<Slot>,
    free: Vec<usize>,
    open: usize,
}

impl Slab {
    fn vacant(&mut self) -> usize {
        if let Some(i) = self.free.pop() {
            i
        } else {
            self.slots.push(Slot {
                conn: None,
                busy: false,
                pending: false,
            });
            self.slots.len() - 1
        }
    }

    fn release(&mut self, i: usize) {
        if let Some(s) = self.slots.get_mut(i) {
            s.conn = None;
            s.busy = false;
            s.pending = false;
            self.free.push(i);
            self.open = self.open.saturating_sub(1);
            crate::metrics::set_open_connections(self.open);
        }
    }
}

/// Who does what next; guarded by one mutex so that leadership is never lost between a
/// worker deciding to wait and the leader stepping down.
struct Sched {
    /// Connections with work and no owner, oldest first.
    queue: VecDeque<usize>,
    /// A worker holds the poller.
    leading: bool,
    /// Workers waiting on `Pool::ready`.
    idle: usize,
    /// When a leader last finished polling.
    last_poll: Instant,
}

/// The leader's state: readiness, listeners, deadlines and the shutdown sequence.
struct Poller {
    poll: Poll,
    events: Events,
    listeners: Vec<(TcpListener, Kind)>,
    /// An accept failed (EMFILE and friends): connections may wait in a backlog that, being
    /// edge-triggered, announces nothing until another one arrives.
    accept_failing: bool,
    last_sweep: Instant,
    drain_until: Option<Instant>,
}

struct Pool {
    slab: Mutex<Slab>,
    sched: Mutex<Sched>,
    ready: Condvar,
    poller: Mutex<Poller>,
    registry: Registry,
    limits: Limits,
    parse_limits: ParseLimits,
    shared: Arc<Shared>,
    /// Workers exit when set.
    stop: AtomicBool,
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

/// Longest a graceful shutdown waits for in-flight requests.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves the bound listeners until `shared.shutdown` is set, then drains in-flight requests
/// (at most `DRAIN_TIMEOUT`) and returns.
pub fn run(
    listeners: Vec<(std::net::TcpListener, Kind)>,
    shared: Arc<Shared>,
    limits: Limits,
) -> io::Result<()> {
    let poll = Poll::new()?;
    let mut bound = Vec::with_capacity(listeners.len());
    for (i, (l, kind)) in listeners.into_iter().enumerate() {
        l.set_nonblocking(true)?;
        let mut l = TcpListener::from_std(l);
        poll.registry()
            .register(&mut l, Token(LISTENER_BASE - i), Interest::READABLE)?;
        bound.push((l, kind));
    }
    let registry = poll.registry().try_clone()?;
    let pool = Arc::new(Pool {
        slab: Mutex::new(Slab::default()),
        sched: Mutex::new(Sched {
            queue: VecDeque::new(),
            leading: false,
            idle: 0,
            last_poll: Instant::now(),
        }),
        ready: Condvar::new(),
        poller: Mutex::new(Poller {
            poll,
            events: Events::with_capacity(EVENTS_PER_POLL),
            listeners: bound,
            accept_failing: false,
            last_sweep: Instant::now(),
            drain_until: None,
        }),
        registry,
        parse_limits: ParseLimits {
            max_header_bytes: limits.max_header_bytes,
            max_uri_bytes: limits.max_uri_bytes,
            max_headers: limits.max_headers,
            max_body_bytes: limits.max_body_bytes,
        },
        limits,
        shared,
        stop: AtomicBool::new(false),
    });
    let mut workers = Vec::with_capacity(pool.limits.workers);
    for i in 0..pool.limits.workers.max(1) {
        let p = Arc::clone(&pool);
        let spawned = std::thread::Builder::new()
            .name(format!("worker-{i}"))
            .stack_size(WORKER_STACK)
            .spawn(move || worker(&p));
        match spawned {
            Ok(h) => workers.push(h),
            Err(e) => {
                stop_workers(&pool);
                for w in workers {
                    let _ = w.join();
                }
                return Err(e);
            }
        }
    }
    let mut result = Ok(());
    for w in workers {
        match w.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                // The poller failed; the other workers were told to stop.
                result = Err(e);
            }
            Err(_) => result = Err(io::Error::other("a worker thread panicked")),
        }
    }
    result
}

fn stop_workers(pool: &Pool) {
    pool.stop.store(true, Ordering::Relaxed);
    let _s = lock(&pool.sched);
    pool.ready.notify_all();
}

impl Poller {
    /// One turn of the leader: the shutdown sequence, one wait for readiness (at most
    /// `timeout`), accepting, and the deadline sweep. Appends the connections that have events
    /// to `ready`.
    fn turn(&mut self, pool: &Pool, ready: &mut Vec<usize>, timeout: Duration) -> io::Result<()> {
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
        let n = self.listeners.len();
        for ev in self.events.iter() {
            let t = ev.token().0;
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

/// Listener tokens count down from here; connection tokens are slab indexes from zero.
const LISTENER_BASE: usize = usize::MAX;
/// Workers only parse, sign and copy buffers: a small stack is plenty.
const WORKER_STACK: usize = 512 * 1024;
/// Readiness events taken per poll; more wait in the kernel for the next turn.
const EVENTS_PER_POLL: usize = 256;
/// Longest the workers go without polling while the queue keeps them busy (a client
/// pipelining without pause is requeued again and again): accepting, other connections'
/// events, deadlines and shutdown must not wait for it.
const POLL_INTERVAL: Duration = Duration::from_millis(2);

/// Queues a connection that has work no readiness event will announce. The calling worker
/// goes back to the queue next, so nobody needs waking.
fn dispatch(pool: &Pool, idx: usize) {
    lock(&pool.sched).queue.push_back(idx);
}

/// Accepts until the backlog is empty. True if it stopped on an error (EMFILE and friends),
/// to be retried at the next sweep.
fn accept_all(pool: &Pool, listener: &TcpListener, kind: Kind) -> bool {
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

fn admit(pool: &Pool, mut sock: TcpStream, peer: SocketAddr, kind: Kind) {
    let _ = sock.set_nodelay(true);
    let (transport, phase, timeout) = match kind {
        Kind::Https => match ServerConnection::new(pool.shared.state().tls.clone()) {
            Ok(t) => (
                Transport::Tls(Box::new(t)),
                Phase::Handshake,
                pool.limits.handshake_timeout,
            ),
            Err(e) => {
                crate::log::error(&format!("TLS session setup failed: {e}"));
                return;
            }
        },
        Kind::Plain => (
            Transport::Plain(Vec::new()),
            Phase::Idle,
            pool.limits.idle_timeout,
        ),
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
    slab.open += 1;
    crate::metrics::set_open_connections(slab.open);
    slab.slots[idx].conn = Some(Box::new(Conn {
        sock,
        transport,
        kind,
        peer,
        http: http::Connection::new(pool.parse_limits, pool.limits.max_requests_per_connection),
        phase,
        deadline: now + timeout,
        last_active: now,
        eof: false,
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
        let _ = registry.deregister(&mut c.sock);
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
        let _ = pool.registry.deregister(&mut c.sock);
        if c.phase == Phase::Reading {
            // Best effort, non-blocking: the client may not be reading at all.
            let resp = app::fault(
                408,
                app::FAULT_UNCLASSIFIED,
                "Request Timeout",
                "request not received in time",
            );
            log_request(c.peer, "-", "-", 408, Duration::ZERO, None, None);
            c.send(&resp);
            c.send_close();
            let _ = c.write_out();
        }
    }
}

/// While draining: connections with no request in progress are closed at once. Lingering
/// ones keep their deadline, so that the answer they just got is not destroyed by a reset.
fn close_idle(pool: &Pool) {
    for mut c in take_parked(pool, |c| matches!(c.phase, Phase::Idle | Phase::Handshake)) {
        let _ = pool.registry.deregister(&mut c.sock);
        c.send_close();
        let _ = c.write_out();
    }
}

enum Job {
    Serve(usize),
    /// Poll; wait for events only if there is nothing queued.
    Lead {
        wait: bool,
    },
}

fn worker(pool: &Pool) -> io::Result<()> {
    let mut ready = Vec::new();
    loop {
        let job = {
            let mut s = lock(&pool.sched);
            loop {
                if pool.stop.load(Ordering::Relaxed) {
                    return Ok(());
                }
                if !s.leading && (s.queue.is_empty() || s.last_poll.elapsed() >= POLL_INTERVAL) {
                    s.leading = true;
                    break Job::Lead {
                        wait: s.queue.is_empty(),
                    };
                }
                if let Some(i) = s.queue.pop_front() {
                    break Job::Serve(i);
                }
                s.idle += 1;
                s = pool
                    .ready
                    .wait_timeout(s, TICK)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|e| e.into_inner().0);
                s.idle -= 1;
            }
        };
        match job {
            Job::Serve(i) => serve_slot(pool, i),
            Job::Lead { wait } => {
                let timeout = if wait { TICK } else { Duration::ZERO };
                let turn = catch_unwind(AssertUnwindSafe(|| {
                    lock(&pool.poller).turn(pool, &mut ready, timeout)
                }))
                .unwrap_or_else(|_| Err(io::Error::other("the poller panicked")));
                if let Err(e) = turn {
                    // Fatal: stop everyone while still leading, so that nobody polls again.
                    crate::log::error(&format!("poll failed: {e}"));
                    stop_workers(pool);
                    return Err(e);
                }
                let mine = {
                    let mut s = lock(&pool.sched);
                    s.leading = false;
                    s.last_poll = Instant::now();
                    s.queue.extend(ready.drain(..));
                    let mine = s.queue.pop_front();
                    // One follower for each connection left queued, and, if this worker goes off
                    // to serve, one to lead next; a worker with nothing to serve leads again.
                    let wanted = s.queue.len() + usize::from(mine.is_some());
                    for _ in 0..wanted.min(s.idle) {
                        pool.ready.notify_one();
                    }
                    mine
                };
                if let Some(i) = mine {
                    serve_slot(pool, i);
                }
            }
        }
    }
}

/// Takes the connection out of its slot, drives it, and parks, requeues or closes it.
fn serve_slot(pool: &Pool, idx: usize) {
    let mut conn = {
        let mut slab = lock(&pool.slab);
        let Some(s) = slab.slots.get_mut(idx) else {
            return;
        };
        if s.busy {
            s.pending = true;
            return;
        }
        let Some(c) = s.conn.take() else { return };
        s.busy = true;
        c
    };
    loop {
        let next = catch_unwind(AssertUnwindSafe(|| drive(pool, &mut conn))).unwrap_or_else(|_| {
            crate::log::error(&format!(
                "connection from {} failed with a panic",
                conn.peer
            ));
            Next::Close
        });
        let interest = match next {
            Next::Close => {
                let _ = pool.registry.deregister(&mut conn.sock);
                lock(&pool.slab).release(idx);
                return;
            }
            Next::Requeue => None,
            Next::Park(i) => Some(i),
        };
        if let Some(i) = interest {
            // Re-arming also reports readiness that arrived while we were busy.
            if pool
                .registry
                .reregister(&mut conn.sock, Token(idx), i)
                .is_err()
            {
                lock(&pool.slab).release(idx);
                return;
            }
        }
        let mut slab = lock(&pool.slab);
        let Some(s) = slab.slots.get_mut(idx) else {
            return;
        };
        if s.pending && interest.is_some() {
            s.pending = false;
            drop(slab);
            continue;
        }
        s.pending = false;
        s.busy = false;
        s.conn = Some(conn);
        drop(slab);
        if interest.is_none() {
            dispatch(pool, idx);
        }
        return;
    }
}

/// Moves a connection forward as far as it can go without blocking.
fn drive(pool: &Pool, c: &mut Conn) -> Next {
    let limits = &pool.limits;
    if c.phase == Phase::Lingering {
        return c.linger();
    }
    let mut answered = 0;
    loop {
        let more_input = match c.read_input() {
            Ok(more) => more,
            Err(()) => return Next::Close,
        };
        if c.is_handshaking() {
            if let Some(next) = c.flush(limits) {
                return next;
            }
            if c.eof {
                return Next::Close;
            }
            return Next::Park(Interest::READABLE);
        }
        if c.phase == Phase::Handshake {
            c.phase = Phase::Idle;
            c.deadline = Instant::now() + limits.idle_timeout;
        }

        // Answer every complete request already buffered, in order.
        while c.http.has_input() && c.http.close_reason().is_none() {
            if c.phase == Phase::Idle {
                c.phase = Phase::Reading;
                c.deadline = Instant::now() + limits.request_timeout;
            }
            if answered == REQUESTS_PER_TURN {
                // Reading, not Idle, while queued: shedding and draining leave it alone.
                if let Some(next) = c.flush(limits) {
                    return next;
                }
                return Next::Requeue;
            }
            match c.http.poll_request() {
                Ok(Polled::Request(req)) => {
                    answered += 1;
                    // Read the flag itself: the leader may not have seen it yet.
                    if pool.shared.shutdown.load(Ordering::Relaxed) {
                        c.http.shut_down();
                    }
                    respond(pool, c, &req);
                    c.phase = Phase::Idle;
                    c.last_active = Instant::now();
                    c.deadline = c.last_active + limits.idle_timeout;
                }
                Ok(Polled::Continue) => c.queue(http::CONTINUE),
                Ok(Polled::NeedMore | Polled::AwaitingSend | Polled::Closed) => break,
                Err(e) => {
                    let resp = app::fault(
                        e.status(),
                        app::FAULT_UNCLASSIFIED,
                        http::reason(e.status()),
                        &e.to_string(),
                    );
                    log_request(c.peer, "-", "-", resp.status, Duration::ZERO, None, None);
                    c.send(&resp);
                }
            }
        }

        if let Some(next) = c.flush(limits) {
            return next;
        }
        if c.http.close_reason().is_some() {
            c.send_close();
            let _ = c.write_out();
            if c.eof || c.wants_write() {
                return Next::Close;
            }
            let _ = c.sock.shutdown(std::net::Shutdown::Write);
            c.phase = Phase::Lingering;
            c.deadline = Instant::now() + LINGER;
            return c.linger();
        }
        if c.eof {
            return Next::Close;
        }
        if !more_input {
            return Next::Park(Interest::READABLE);
        }
    }
}

impl Conn {
    /// Reads and discards until EOF, the deadline (the sweep), or an error.
    fn linger(&mut self) -> Next {
        let mut sink = [0u8; READ_CHUNK];
        loop {
            match self.sock.read(&mut sink) {
                Ok(0) => return Next::Close,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Next::Park(Interest::READABLE)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Next::Close,
            }
        }
    }

    fn is_handshaking(&self) -> bool {
        match &self.transport {
            Transport::Tls(t) => t.is_handshaking(),
            Transport::Plain(_) => false,
        }
    }

    fn queue(&mut self, bytes: &[u8]) {
        match &mut self.transport {
            // rustls buffers it; an error means the session is already closed.
            Transport::Tls(t) => {
                let _ = t.writer().write_all(bytes);
            }
            Transport::Plain(out) => out.extend_from_slice(bytes),
        }
    }

    /// Queues the response to the request last polled (or a last, unsolicited one).
    fn send(&mut self, resp: &Response) {
        let mut out = Vec::with_capacity(512 + resp.body.len());
        self.http.send(resp, SystemTime::now(), &mut out);
        self.queue(&out);
    }

    fn send_close(&mut self) {
        if let Transport::Tls(t) = &mut self.transport {
            t.send_close_notify();
        }
    }

    fn wants_write(&self) -> bool {
        match &self.transport {
            Transport::Tls(t) => t.wants_write(),
            Transport::Plain(out) => !out.is_empty(),
        }
    }

    /// One write of pending output to the socket.
    fn write_out(&mut self) -> io::Result<usize> {
        match &mut self.transport {
            Transport::Tls(t) => t.write_tls(&mut self.sock),
            Transport::Plain(out) => {
                let n = self.sock.write(out)?;
                out.drain(..n);
                Ok(n)
            }
        }
    }

    /// Writes pending output. Some(next) if the connection cannot go on now.
    fn flush(&mut self, limits: &Limits) -> Option<Next> {
        while self.wants_write() {
            match self.write_out() {
                Ok(0) => return Some(Next::Close),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.phase != Phase::Writing {
                        self.phase = Phase::Writing;
                        self.deadline = Instant::now() + limits.write_timeout;
                    }
                    return Some(Next::Park(Interest::WRITABLE));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Some(Next::Close),
            }
        }
        if self.phase == Phase::Writing {
            self.phase = if self.is_handshaking() {
                Phase::Handshake
            } else {
                Phase::Idle
            };
        }
        None
    }

    /// Reads what the socket has into the HTTP input, as far as it has room. Ok(true) when it
    /// stopped early (no room) and more may be waiting; Err on a dead connection or a TLS error.
    fn read_input(&mut self) -> Result<bool, ()> {
        loop {
            if self.http.room() == 0 {
                return Ok(true);
            }
            let drained = match &mut self.transport {
                Transport::Tls(t) => match t.read_tls(&mut self.sock) {
                    Ok(0) => {
                        self.eof = true;
                        false
                    }
                    Ok(_) => {
                        if let Err(e) = t.process_new_packets() {
                            // Tell the peer why (alert), then drop it.
                            let _ = t.write_tls(&mut self.sock);
                            crate::log::info(&format!("TLS error from {}: {e}", self.peer));
                            return Err(());
                        }
                        false
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => true,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => return Err(()),
                },
                Transport::Plain(_) => {
                    let mut chunk = [0u8; READ_CHUNK];
                    let room = self.http.room().min(READ_CHUNK);
                    match self.sock.read(&mut chunk[..room]) {
                        Ok(0) => {
                            self.eof = true;
                            false
                        }
                        Ok(n) => {
                            self.http.receive(&chunk[..n]);
                            false
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => true,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(_) => return Err(()),
                    }
                }
            };
            self.take_plaintext();
            if self.http.room() == 0 {
                return Ok(true);
            }
            if drained || self.eof {
                return Ok(false);
            }
        }
    }

    /// Moves decrypted bytes from rustls into the HTTP input, as far as it has room.
    fn take_plaintext(&mut self) {
        let Transport::Tls(t) = &mut self.transport else {
            return;
        };
        let mut reader = t.reader();
        while self.http.room() > 0 {
            let room = self.http.room().min(READ_CHUNK);
            // Borrow rustls' buffer: a stack chunk would be zeroed (16 KiB) on every call.
            match reader.fill_buf() {
                Ok([]) => {
                    self.eof = true;
                    return;
                }
                Ok(buf) => {
                    let n = buf.len().min(room);
                    self.http.receive(&buf[..n]);
                    reader.consume(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // UnexpectedEof: TCP closed without close_notify.
                Err(_) => {
                    self.eof = true;
                    return;
                }
            }
        }
    }
}

fn respond(pool: &Pool, c: &mut Conn, req: &http::Request) {
    let started = Instant::now();
    let state = pool.shared.state();
    let ctx = Context {
        peer: c.peer,
        now: unix_now(),
    };
    let handler = match c.kind {
        Kind::Https => Some(&state.https),
        Kind::Plain => state.plain.as_ref(),
    };
    let outcome = match handler {
        Some(h) => catch_unwind(AssertUnwindSafe(|| h.handle(req, &ctx)))
            .unwrap_or_else(|_| app::internal_error("request handler panicked")),
        None => app::fault(
            404,
            app::FAULT_UNCLASSIFIED,
            "Not Found",
            "no such resource",
        )
        .into(),
    };
    c.send(&outcome.response);
    crate::metrics::request_served(c.kind, started.elapsed());
    log_request(
        c.peer,
        &req.method,
        req.path(),
        outcome.response.status,
        started.elapsed(),
        outcome.user.as_deref(),
        outcome.jti.as_deref(),
    );
}

fn log_request(
    peer: SocketAddr,
    method: &str,
    path: &str,
    status: u16,
    took: Duration,
    user: Option<&str>,
    jti: Option<&str>,
) {
    crate::log::info(&format!(
        "{peer} \"{method} {path}\" {status} {}us user={} jti={}",
        took.as_micros(),
        user.unwrap_or("-"),
        jti.unwrap_or("-")
    ));
}
