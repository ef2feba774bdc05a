//! The I/O edge: a listener, TLS, a fixed worker pool and deadlines around the sans-IO core.
//!
//! Every socket is non-blocking. One poller thread accepts connections, waits for readiness
//! and enforces deadlines; a fixed pool of workers does the TLS handshakes, parsing, signing
//! and writing. A connection sits in the registry while it waits for the network and is owned
//! by exactly one worker while it is driven, so no worker ever blocks on a slow client and a
//! thousand idle keep-alive connections cost memory, not threads.

use crate::app::{self, App};
use crate::config::Limits;
use crate::http::{self, ParseLimits, Parsed, Response};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Registry, Token};
use rustls::{ServerConfig, ServerConnection};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const LISTENER: Token = Token(usize::MAX);
/// How often the poller wakes to check deadlines and the shutdown flag.
const TICK: Duration = Duration::from_millis(100);
/// Requests one worker answers on a connection before giving others a turn.
const REQUESTS_PER_TURN: usize = 16;
/// Plaintext read per `read` call.
const READ_CHUNK: usize = 16 * 1024;

/// What the server runs with; swapped as a whole on reload.
pub struct Shared {
    pub app: RwLock<Arc<App>>,
    pub tls: RwLock<Arc<ServerConfig>>,
    pub shutdown: AtomicBool,
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
}

struct Conn {
    sock: TcpStream,
    tls: ServerConnection,
    peer: SocketAddr,
    inbuf: Vec<u8>,
    phase: Phase,
    deadline: Instant,
    /// When the connection last finished a request or was accepted: the shedding order.
    last_active: Instant,
    served: usize,
    continue_sent: bool,
    /// Close once the output is flushed.
    closing: bool,
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
            self.open -= 1;
        }
    }
}

struct Pool {
    slab: Mutex<Slab>,
    queue: Mutex<VecDeque<usize>>,
    ready: Condvar,
    registry: Registry,
    limits: Limits,
    parse_limits: ParseLimits,
    shared: Arc<Shared>,
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

/// Runs until `shared.shutdown` is set. The listener must already be bound.
pub fn run(listener: std::net::TcpListener, shared: Arc<Shared>, limits: Limits) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let mut listener = TcpListener::from_std(listener);
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let pool = Arc::new(Pool {
        slab: Mutex::new(Slab::default()),
        queue: Mutex::new(VecDeque::new()),
        ready: Condvar::new(),
        registry: poll.registry().try_clone()?,
        parse_limits: ParseLimits {
            max_header_bytes: limits.max_header_bytes,
            max_uri_bytes: limits.max_uri_bytes,
            max_headers: limits.max_headers,
            max_body_bytes: limits.max_body_bytes,
        },
        limits,
        shared,
    });
    let mut workers = Vec::with_capacity(pool.limits.workers);
    for i in 0..pool.limits.workers {
        let p = Arc::clone(&pool);
        workers.push(
            std::thread::Builder::new()
                .name(format!("worker-{i}"))
                .stack_size(512 * 1024)
                .spawn(move || worker(&p))?,
        );
    }

    let mut events = Events::with_capacity(1024);
    let mut last_sweep = Instant::now();
    while !pool.shared.shutdown.load(Ordering::Relaxed) {
        if let Err(e) = poll.poll(&mut events, Some(TICK)) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        for ev in events.iter() {
            if ev.token() == LISTENER {
                accept_all(&pool, &listener);
            } else {
                dispatch(&pool, ev.token().0);
            }
        }
        if last_sweep.elapsed() >= TICK {
            sweep(&pool);
            last_sweep = Instant::now();
        }
    }
    drop(listener);
    // Graceful stop: wake the workers so they see the flag and exit.
    pool.ready.notify_all();
    for w in workers {
        let _ = w.join();
    }
    Ok(())
}

fn dispatch(pool: &Pool, idx: usize) {
    lock(&pool.queue).push_back(idx);
    pool.ready.notify_one();
}

fn accept_all(pool: &Pool, listener: &TcpListener) {
    loop {
        match listener.accept() {
            Ok((sock, peer)) => admit(pool, sock, peer),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                // EMFILE and friends: log and retry on the next readiness event.
                crate::log::warn(&format!("accept failed: {e}"));
                return;
            }
        }
    }
}

fn admit(pool: &Pool, mut sock: TcpStream, peer: SocketAddr) {
    let _ = sock.set_nodelay(true);
    let tls_config = Arc::clone(&pool.shared.tls.read().unwrap_or_else(|e| e.into_inner()));
    let tls = match ServerConnection::new(tls_config) {
        Ok(t) => t,
        Err(e) => {
            crate::log::error(&format!("TLS session setup failed: {e}"));
            return;
        }
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
    slab.slots[idx].conn = Some(Box::new(Conn {
        sock,
        tls,
        peer,
        inbuf: Vec::new(),
        phase: Phase::Handshake,
        deadline: now + pool.limits.handshake_timeout,
        last_active: now,
        served: 0,
        continue_sent: false,
        closing: false,
        eof: false,
    }));
}

/// Closes the least useful parked connection: idle keep-alive first (longest idle), then
/// unfinished handshakes and requests (oldest first). Returns false if none could be shed.
fn shed(slab: &mut Slab, registry: &Registry) -> bool {
    let rank = |c: &Conn| match c.phase {
        Phase::Idle => 0,
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

/// Closes parked connections whose deadline has passed; a half-sent request gets a 408.
fn sweep(pool: &Pool) {
    let now = Instant::now();
    let mut expired = Vec::new();
    {
        let mut slab = lock(&pool.slab);
        for i in 0..slab.slots.len() {
            let s = &mut slab.slots[i];
            if s.busy || s.conn.as_ref().is_none_or(|c| c.deadline > now) {
                continue;
            }
            if let Some(c) = s.conn.take() {
                expired.push(c);
            }
            slab.release(i);
        }
    }
    for mut c in expired {
        let _ = pool.registry.deregister(&mut c.sock);
        if c.phase == Phase::Reading {
            // Best effort, non-blocking: the client may not be reading at all.
            let mut out = Vec::new();
            app::fault(
                408,
                app::FAULT_UNCLASSIFIED,
                "Request Timeout",
                "request not received in time",
            )
            .write_to(
                &mut out,
                false,
                false,
                &crate::log::http_date(SystemTime::now()),
            );
            let _ = c.tls.writer().write_all(&out);
            c.tls.send_close_notify();
            let _ = c.tls.write_tls(&mut c.sock);
        }
    }
}

fn worker(pool: &Pool) {
    loop {
        let idx = {
            let mut q = lock(&pool.queue);
            loop {
                if pool.shared.shutdown.load(Ordering::Relaxed) {
                    return;
                }
                if let Some(i) = q.pop_front() {
                    break i;
                }
                q = pool
                    .ready
                    .wait_timeout(q, TICK)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|e| e.into_inner().0);
            }
        };
        serve_slot(pool, idx);
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
    let mut answered = 0;
    loop {
        let more_input = match read_input(c, pool) {
            Ok(more) => more,
            Err(()) => return Next::Close,
        };
        if c.tls.is_handshaking() {
            if let Some(next) = flush(c, limits) {
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
        while !c.closing && !c.inbuf.is_empty() {
            if answered == REQUESTS_PER_TURN {
                if let Some(next) = flush(c, limits) {
                    return next;
                }
                return Next::Requeue;
            }
            if c.phase == Phase::Idle {
                c.phase = Phase::Reading;
                c.deadline = Instant::now() + limits.request_timeout;
            }
            match http::parse(&c.inbuf, &pool.parse_limits) {
                Ok(Parsed::Complete(req, used)) => {
                    c.inbuf.drain(..used);
                    c.continue_sent = false;
                    c.served += 1;
                    answered += 1;
                    let keep = req.keep_alive() && c.served < limits.max_requests_per_connection;
                    respond(pool, c, &req, keep);
                    c.phase = Phase::Idle;
                    c.last_active = Instant::now();
                    c.deadline = c.last_active + limits.idle_timeout;
                    if !keep {
                        c.closing = true;
                    }
                }
                Ok(Parsed::Incomplete { expect_continue }) => {
                    if expect_continue && !c.continue_sent {
                        let _ = c.tls.writer().write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
                        c.continue_sent = true;
                    }
                    break;
                }
                Err(e) => {
                    let resp = app::fault(
                        e.status(),
                        app::FAULT_UNCLASSIFIED,
                        http::reason(e.status()),
                        &e.to_string(),
                    );
                    log_request(c.peer, "-", "-", resp.status, Duration::ZERO, None, None);
                    write_response(c, &resp, false, false);
                    c.closing = true;
                }
            }
        }

        if let Some(next) = flush(c, limits) {
            return next;
        }
        if c.closing {
            c.tls.send_close_notify();
            let _ = c.tls.write_tls(&mut c.sock);
            return Next::Close;
        }
        if c.eof {
            return Next::Close;
        }
        if !more_input {
            return Next::Park(Interest::READABLE);
        }
    }
}

/// Reads what the socket has into `inbuf`. Ok(true) when it stopped early (buffer full) and
/// more may be waiting; Err on a dead connection or a TLS error.
fn read_input(c: &mut Conn, pool: &Pool) -> Result<bool, ()> {
    // Room for one maximal request plus framing overhead; the parser errors before this fills
    // on any single request, so stopping here only paces pipelining clients.
    let cap = pool.parse_limits.max_header_bytes + 2 * pool.parse_limits.max_body_bytes + 4096;
    loop {
        if c.inbuf.len() >= cap {
            return Ok(true);
        }
        let drained = match c.tls.read_tls(&mut c.sock) {
            Ok(0) => {
                c.eof = true;
                false
            }
            Ok(_) => {
                if let Err(e) = c.tls.process_new_packets() {
                    // Tell the peer why (alert), then drop it.
                    let _ = c.tls.write_tls(&mut c.sock);
                    crate::log::info(&format!("TLS error from {}: {e}", c.peer));
                    return Err(());
                }
                false
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Err(()),
        };
        take_plaintext(c, cap);
        if c.inbuf.len() >= cap {
            return Ok(true);
        }
        if drained || c.eof {
            return Ok(false);
        }
    }
}

/// Moves decrypted bytes from rustls into `inbuf`, up to `cap`.
fn take_plaintext(c: &mut Conn, cap: usize) {
    let mut chunk = [0u8; READ_CHUNK];
    while c.inbuf.len() < cap {
        let room = (cap - c.inbuf.len()).min(READ_CHUNK);
        match c.tls.reader().read(&mut chunk[..room]) {
            Ok(0) => {
                c.eof = true;
                return;
            }
            Ok(n) => c.inbuf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            // UnexpectedEof: TCP closed without close_notify.
            Err(_) => {
                c.eof = true;
                return;
            }
        }
    }
}

/// Writes pending TLS records. Some(next) if the connection cannot go on now.
fn flush(c: &mut Conn, limits: &Limits) -> Option<Next> {
    while c.tls.wants_write() {
        match c.tls.write_tls(&mut c.sock) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if c.phase != Phase::Writing {
                    c.phase = Phase::Writing;
                    c.deadline = Instant::now() + limits.write_timeout;
                }
                return Some(Next::Park(Interest::WRITABLE));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Some(Next::Close),
        }
    }
    if c.phase == Phase::Writing {
        c.phase = if c.tls.is_handshaking() {
            Phase::Handshake
        } else {
            Phase::Idle
        };
    }
    None
}

fn respond(pool: &Pool, c: &mut Conn, req: &http::Request, keep_alive: bool) {
    let started = Instant::now();
    let app = Arc::clone(&pool.shared.app.read().unwrap_or_else(|e| e.into_inner()));
    let outcome = catch_unwind(AssertUnwindSafe(|| app.handle(req, unix_now())))
        .unwrap_or_else(|_| app::internal_error("request handler panicked"));
    write_response(c, &outcome.response, keep_alive, req.method == "HEAD");
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

fn write_response(c: &mut Conn, resp: &Response, keep_alive: bool, head_only: bool) {
    let mut out = Vec::with_capacity(512 + resp.body.len());
    resp.write_to(
        &mut out,
        keep_alive,
        head_only,
        &crate::log::http_date(SystemTime::now()),
    );
    // rustls buffers it; `flush` sends it. An error here means the session is closed.
    let _ = c.tls.writer().write_all(&out);
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
