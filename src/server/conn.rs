//! One connection on the edge: its phase and deadline, and `drive`, which moves it as far as it
//! can go without blocking: bytes in, requests through the handler, bytes out.

use super::pool::Pool;
use super::transport::{Input, ReadBuf, Transport};
use super::{log_request, unix_now, Context, ListenerKind};
use crate::config::Limits;
use crate::fault;
use crate::http::{self, Polled, Response};
use crate::proxy_protocol::{self, Parsed, MAX_HEADER_BYTES};
use crate::service::Outcome;
use mio::Interest;
use std::net::{IpAddr, SocketAddr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

/// Requests one worker answers on a connection before giving others a turn.
const REQUESTS_PER_TURN: usize = 16;

/// How long a closing connection keeps discarding input.
pub const LINGER: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
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

/// What the worker does with a connection after driving it.
pub(super) enum Next {
    Park(Interest),
    /// Work is left that no readiness event will announce (buffered input).
    Requeue,
    Close,
}

/// An answer that is ready but held until `release` (`Outcome::hold`); a timer of the pool
/// brings the connection back then.
pub(super) struct Held {
    pub bytes: Vec<u8>,
    pub release: Instant,
}

pub(super) struct Conn {
    /// The connection's slot in the pool, and its mio token.
    pub token: usize,
    pub transport: Transport,
    pub kind: ListenerKind,
    /// The TCP peer.
    pub peer: SocketAddr,
    /// The client as the PROXY header gave it, else `peer`. Forwarding headers are believed
    /// only when this address is a trusted proxy.
    pub client: SocketAddr,
    /// Some (the bytes so far) until the PROXY header a listener expects has been read.
    pub proxy_header: Option<Vec<u8>>,
    pub http: http::Connection,
    pub phase: Phase,
    pub deadline: Instant,
    /// When the connection last finished a request or was accepted: the shedding order.
    pub last_active: Instant,
    /// An answer waiting for its release time. Requests after it wait too: answers go out in
    /// order.
    pub held: Option<Held>,
    /// The interest the socket is registered with.
    pub armed: Interest,
}

/// Moves a connection forward as far as it can go without blocking: pump bytes in, answer
/// what they complete, pump the answers out, and say what to wait for next.
pub(super) fn drive(pool: &Pool, c: &mut Conn, chunk: &mut ReadBuf) -> Next {
    let limits = &pool.limits;
    if c.phase == Phase::Lingering {
        return c.linger(chunk);
    }
    if c.proxy_header.is_some() {
        if let Some(next) = c.read_proxy_header() {
            return next;
        }
    }
    if let Some(h) = &c.held {
        if Instant::now() < h.release {
            // Woken early (input arrived): it stays in the socket until the answer is out.
            return Next::Park(Interest::READABLE);
        }
        if let Some(h) = c.held.take() {
            c.transport.queue(&h.bytes);
        }
    }
    let mut answered = 0;
    loop {
        let more_input = match c.transport.read_into(&mut c.http, c.peer, chunk) {
            Input::Broken => return Next::Close,
            Input::Full => true,
            Input::Drained => false,
        };
        if c.transport.is_handshaking() {
            if let Some(next) = c.flush(limits) {
                return next;
            }
            if c.transport.eof {
                return Next::Close;
            }
            return Next::Park(Interest::READABLE);
        }
        if c.phase == Phase::Handshake {
            c.phase = Phase::Idle;
            c.deadline = Instant::now() + limits.idle_timeout;
        }
        if let Some(next) = answer_buffered(pool, c, &mut answered) {
            return next;
        }
        if let Some(next) = c.flush(limits) {
            return next;
        }
        if let Some(h) = &c.held {
            // In progress, as a slow write is: not shed, not closed by a drain. The deadline is
            // a safety net; the pool's timer comes at `release`.
            c.phase = Phase::Writing;
            c.deadline = h.release + limits.write_timeout;
            return Next::Park(Interest::READABLE);
        }
        if c.http.close_reason().is_some() {
            return c.close(chunk);
        }
        if c.transport.eof {
            return Next::Close;
        }
        if !more_input {
            return Next::Park(Interest::READABLE);
        }
    }
}

/// Answers every complete request already buffered, in order, up to `REQUESTS_PER_TURN` per
/// turn (`answered` counts them). Some(next) when the turn ends here.
fn answer_buffered(pool: &Pool, c: &mut Conn, answered: &mut usize) -> Option<Next> {
    let limits = &pool.limits;
    while c.http.has_input() && c.http.close_reason().is_none() && c.held.is_none() {
        if c.phase == Phase::Idle {
            c.phase = Phase::Reading;
            c.deadline = Instant::now() + limits.request_timeout;
        }
        if *answered == REQUESTS_PER_TURN {
            // Reading, not Idle, while queued: shedding and draining leave it alone.
            return Some(c.flush(limits).unwrap_or(Next::Requeue));
        }
        match c.http.poll_request() {
            Ok(Polled::Request(req)) => {
                *answered += 1;
                // Read the flag itself: the leader may not have seen it yet.
                if pool.shared.shutdown.load(Ordering::Relaxed) {
                    c.http.shut_down();
                }
                respond(pool, c, &req);
                c.phase = Phase::Idle;
                c.last_active = Instant::now();
                c.deadline = c.last_active + limits.idle_timeout;
            }
            Ok(Polled::Expect(head)) => {
                let started = Instant::now();
                match handler_for(pool, c, &head, |h, ctx| h.check_expect(&head, ctx)) {
                    (client, Some(Some(refusal))) => {
                        deliver(pool, c, &head, client, refusal, started)
                    }
                    _ => {
                        c.http.proceed();
                        c.transport.queue(http::CONTINUE);
                    }
                }
            }
            Ok(Polled::NeedMore | Polled::AwaitingSend | Polled::Closed) => break,
            Err(e) => {
                let status = e.status();
                let resp = fault::fault(
                    status,
                    fault::FAULT_UNCLASSIFIED,
                    http::reason(status),
                    &e.to_string(),
                );
                let client = c.client.ip();
                log_request(client, c.peer, "-", "-", status, Duration::ZERO, None, None);
                c.send(&resp);
            }
        }
    }
    None
}

impl Conn {
    /// Reads the PROXY header. None once it is read (`client` is set, and what followed it is
    /// handed to the session); Some(next) while it is incomplete, or to close the connection
    /// for a malformed header or none at all: such a connection is never served as if it came
    /// from the proxy itself.
    fn read_proxy_header(&mut self) -> Option<Next> {
        let buf = self.proxy_header.as_mut()?;
        loop {
            match proxy_protocol::parse(buf) {
                Ok(Parsed::NeedMore) => {}
                Ok(Parsed::Header(h)) => {
                    if let Some(source) = h.source {
                        self.client = source;
                    }
                    let rest = buf.split_off(h.len);
                    self.transport.unread(&rest);
                    self.proxy_header = None;
                    return None;
                }
                Err(e) => {
                    crate::log::info(&format!("{}: {e}; closed", self.peer));
                    return Some(Next::Close);
                }
            }
            // NeedMore: the header is shorter than MAX_HEADER_BYTES, so there is room.
            let room = MAX_HEADER_BYTES.saturating_sub(buf.len()).max(1);
            match self.transport.read_raw(buf, room) {
                Ok(0) => return Some(Next::Close),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    return Some(Next::Park(Interest::READABLE))
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return Some(Next::Close),
            }
        }
    }

    /// Ends the connection once the last answer is out: close_notify, then half-close and
    /// linger, so that unread input does not make the kernel reset the connection and destroy
    /// the answer before the client reads it.
    fn close(&mut self, chunk: &mut ReadBuf) -> Next {
        self.transport.send_close();
        let _ = self.transport.write_out();
        if self.transport.eof || self.transport.wants_write() {
            return Next::Close;
        }
        let _ = self.transport.sock.shutdown(std::net::Shutdown::Write);
        self.phase = Phase::Lingering;
        self.deadline = Instant::now() + LINGER;
        self.linger(chunk)
    }

    /// Reads and discards until EOF, the deadline (the sweep), or an error.
    fn linger(&mut self, sink: &mut ReadBuf) -> Next {
        if self.transport.discard_input(sink) {
            Next::Close
        } else {
            Next::Park(Interest::READABLE)
        }
    }

    /// Queues the response to the request last polled (or a last, unsolicited one).
    pub fn send(&mut self, resp: &Response) {
        let mut out = Vec::with_capacity(512 + resp.body.len());
        self.http.send(resp, SystemTime::now(), &mut out);
        self.transport.queue(&out);
    }

    /// Writes pending output. Some(next) if the connection cannot go on now.
    fn flush(&mut self, limits: &Limits) -> Option<Next> {
        while self.transport.wants_write() {
            match self.transport.write_out() {
                Ok(0) => return Some(Next::Close),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if self.phase != Phase::Writing {
                        self.phase = Phase::Writing;
                        self.deadline = Instant::now() + limits.write_timeout;
                    }
                    return Some(Next::Park(Interest::WRITABLE));
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return Some(Next::Close),
            }
        }
        if self.phase == Phase::Writing {
            self.phase = if self.transport.is_handshaking() {
                Phase::Handshake
            } else {
                Phase::Idle
            };
        }
        None
    }
}

/// Who the request is from: the TCP peer, or, behind a trusted proxy, the client it names.
/// Err(answer) when a trusted proxy's forwarding headers cannot be used: falling back to the
/// proxy's address would charge this client's failures to everyone behind the proxy, and
/// guessing would let the client pick its address.
fn client_of(pool: &Pool, c: &Conn, req: &http::Request) -> Result<IpAddr, Outcome> {
    pool.load_balancer
        .trusted_proxies
        .client(c.client.ip(), req)
        .map_err(|e| {
            fault::fault(
                400,
                fault::FAULT_UNCLASSIFIED,
                "Bad Request",
                &e.to_string(),
            )
            .into()
        })
}

/// Runs `f` on the connection's listener's handler for `req` (a request, or the head of one
/// waiting for `100 Continue`). None when the listener has no handler; a panicking handler is
/// an internal error, and the server goes on. Also gives the client address, for the log.
fn handler_for<T>(
    pool: &Pool,
    c: &Conn,
    req: &http::Request,
    f: impl FnOnce(&dyn crate::service::Handler, &Context) -> T,
) -> (IpAddr, Option<T>)
where
    T: From<Outcome>,
{
    let client = match client_of(pool, c, req) {
        Ok(ip) => ip,
        Err(refusal) => return (c.client.ip(), Some(T::from(refusal))),
    };
    let state = pool.shared.state();
    let ctx = Context {
        peer: c.peer,
        client,
        now: unix_now(),
    };
    let handler = match c.kind {
        ListenerKind::Https => Some(&state.https),
        ListenerKind::Plain => state.plain.as_ref(),
    };
    let result = handler.map(|h| {
        catch_unwind(AssertUnwindSafe(|| f(h.as_ref(), &ctx)))
            .unwrap_or_else(|_| fault::internal_error("request handler panicked").into())
    });
    (client, result)
}

fn respond(pool: &Pool, c: &mut Conn, req: &http::Request) {
    let started = Instant::now();
    let (client, outcome) = handler_for(pool, c, req, |h, ctx| h.handle(req, ctx));
    let outcome = outcome.unwrap_or_else(|| {
        fault::fault(
            404,
            fault::FAULT_UNCLASSIFIED,
            "Not Found",
            "no such resource",
        )
        .into()
    });
    deliver(pool, c, req, client, outcome, started);
}

/// Sends (or holds, see `Outcome::hold`) the answer to `req`, and logs it.
fn deliver(
    pool: &Pool,
    c: &mut Conn,
    req: &http::Request,
    client: IpAddr,
    outcome: Outcome,
    started: Instant,
) {
    match outcome.hold.map(|d| started + d) {
        Some(release) if release > Instant::now() => {
            let mut bytes = Vec::with_capacity(512 + outcome.response.body.len());
            c.http
                .send(&outcome.response, SystemTime::now(), &mut bytes);
            c.held = Some(Held { bytes, release });
            pool.wake_at(release, c.token);
        }
        _ => c.send(&outcome.response),
    }
    crate::metrics::request_served(c.kind, started.elapsed());
    if !outcome.logged {
        return;
    }
    log_request(
        client,
        c.peer,
        &req.method,
        req.path(),
        outcome.response.status,
        started.elapsed(),
        outcome.user.as_deref(),
        outcome.jti.as_deref(),
    );
}
