//! The leader/follower worker pool: who polls, who serves which connection, and where parked
//! connections wait.
//!
//! A fixed set of workers shares one queue of connections with work. A free worker leads (runs
//! one `Poller::turn`) when nobody does and the queue is empty, or when the last poll is
//! `POLL_INTERVAL` old; otherwise it serves the oldest queued connection. The leader queues what
//! it found ready, wakes one follower per queued connection (and one to lead next, if it goes
//! off to serve), and serves the first itself. One mutex guards who leads and what is queued,
//! so that leadership is never lost between a worker deciding to wait and the leader stepping
//! down.

use super::conn::{drive, Conn, Next};
use super::poller::{Poller, WAKER};
use super::transport::ReadBuf;
use super::{lock, ListenerKind, Shared, TICK};
use crate::config::{Limits, LoadBalancerConfig};
use crate::http::ParseLimits;
use mio::{Registry, Token};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Workers only parse, sign and copy buffers: a small stack is plenty.
const WORKER_STACK: usize = 512 * 1024;
/// Longest the workers go without polling while the queue keeps them busy (a client
/// pipelining without pause is requeued again and again): accepting, other connections'
/// events, deadlines and shutdown must not wait for it.
const POLL_INTERVAL: Duration = Duration::from_millis(2);

pub(super) struct Slot {
    pub conn: Option<Box<Conn>>,
    /// A worker owns the connection.
    pub busy: bool,
    /// An event arrived while busy: the owner must drive it again before parking.
    pending: bool,
}

/// Parked connections by token (the slot index), and the count of open ones.
#[derive(Default)]
pub(super) struct Slab {
    pub slots: Vec<Slot>,
    pub free: Vec<usize>,
    pub open: usize,
}

impl Slab {
    pub fn vacant(&mut self) -> usize {
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

    pub fn release(&mut self, i: usize) {
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

pub(super) struct Pool {
    pub slab: Mutex<Slab>,
    sched: Mutex<Sched>,
    ready: Condvar,
    poller: Mutex<Poller>,
    pub registry: Registry,
    pub limits: Limits,
    pub parse_limits: ParseLimits,
    /// Trusted proxies and which listeners expect a PROXY header; fixed until a restart.
    pub load_balancer: LoadBalancerConfig,
    pub shared: Arc<Shared>,
    /// Workers exit when set.
    stop: AtomicBool,
    /// When to bring a connection back with no readiness event (held answers), soonest first.
    /// At most one entry per held answer, and held answers are bounded by the connection cap.
    timers: Mutex<BinaryHeap<Reverse<(Instant, usize)>>>,
    /// Cuts the leader's wait short when a timer comes due before it would wake.
    waker: mio::Waker,
}

impl Pool {
    /// Brings the connection in slot `token` back to a worker at `at`.
    pub fn wake_at(&self, at: Instant, token: usize) {
        let mut timers = lock(&self.timers);
        let sooner = timers.peek().is_none_or(|Reverse((first, _))| at < *first);
        timers.push(Reverse((at, token)));
        drop(timers);
        if sooner {
            // The leader may be waiting past `at`. A failed wake only makes it late by a TICK.
            let _ = self.waker.wake();
        }
    }

    /// How long the leader may wait for readiness: a TICK, or less when a timer is due sooner.
    fn wait_limit(&self) -> Duration {
        let now = Instant::now();
        match lock(&self.timers).peek() {
            Some(Reverse((at, _))) => at.saturating_duration_since(now).min(TICK),
            None => TICK,
        }
    }

    /// Moves the connections whose timers are due to `ready`.
    pub fn take_due_timers(&self, ready: &mut Vec<usize>) {
        let now = Instant::now();
        let mut timers = lock(&self.timers);
        while timers.peek().is_some_and(|Reverse((at, _))| *at <= now) {
            if let Some(Reverse((_, token))) = timers.pop() {
                ready.push(token);
            }
        }
    }
}

/// Serves the bound listeners until `shared.shutdown` is set, then drains in-flight requests
/// (at most `DRAIN_TIMEOUT`) and returns.
pub fn run(
    listeners: Vec<(std::net::TcpListener, ListenerKind)>,
    shared: Arc<Shared>,
    limits: Limits,
    load_balancer: LoadBalancerConfig,
) -> io::Result<()> {
    let poller = Poller::new(listeners)?;
    let registry = poller.registry()?;
    let waker = mio::Waker::new(&registry, Token(WAKER))?;
    let pool = Arc::new(Pool {
        slab: Mutex::new(Slab::default()),
        sched: Mutex::new(Sched {
            queue: VecDeque::new(),
            leading: false,
            idle: 0,
            last_poll: Instant::now(),
        }),
        ready: Condvar::new(),
        poller: Mutex::new(poller),
        registry,
        parse_limits: ParseLimits {
            max_header_bytes: limits.max_header_bytes,
            max_uri_bytes: limits.max_uri_bytes,
            max_headers: limits.max_headers,
            max_body_bytes: limits.max_body_bytes,
        },
        limits,
        load_balancer,
        shared,
        stop: AtomicBool::new(false),
        timers: Mutex::new(BinaryHeap::new()),
        waker,
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

pub(super) fn stop_workers(pool: &Pool) {
    pool.stop.store(true, Ordering::Relaxed);
    let _s = lock(&pool.sched);
    pool.ready.notify_all();
}

/// Queues a connection that has work no readiness event will announce. The calling worker
/// goes back to the queue next, so nobody needs waking.
fn dispatch(pool: &Pool, idx: usize) {
    lock(&pool.sched).queue.push_back(idx);
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
    let mut chunk = ReadBuf::new();
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
            Job::Serve(i) => serve_slot(pool, i, &mut chunk),
            Job::Lead { wait } => {
                let timeout = if wait {
                    pool.wait_limit()
                } else {
                    Duration::ZERO
                };
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
                    serve_slot(pool, i, &mut chunk);
                }
            }
        }
    }
}

/// Takes the connection out of its slot, drives it, and parks, requeues or closes it.
fn serve_slot(pool: &Pool, idx: usize, chunk: &mut ReadBuf) {
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
        let next =
            catch_unwind(AssertUnwindSafe(|| drive(pool, &mut conn, chunk))).unwrap_or_else(|_| {
                crate::log::error(&format!(
                    "connection from {} failed with a panic",
                    conn.peer
                ));
                Next::Close
            });
        let interest = match next {
            Next::Close => {
                let _ = pool.registry.deregister(&mut conn.transport.sock);
                lock(&pool.slab).release(idx);
                return;
            }
            Next::Requeue => None,
            Next::Park(i) => Some(i),
        };
        // Registrations are edge-triggered and stay armed, so the same interest needs no
        // `epoll_ctl` (a system call per request on a keep-alive connection): an edge that
        // arrives while this worker owns the connection reaches the leader, which marks the
        // slot `pending`, and the check below drives the connection again.
        if let Some(i) = interest.filter(|i| *i != conn.armed) {
            if pool
                .registry
                .reregister(&mut conn.transport.sock, Token(idx), i)
                .is_err()
            {
                lock(&pool.slab).release(idx);
                return;
            }
            conn.armed = i;
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
