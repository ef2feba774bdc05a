//! What a listener's handler is: a request and its context in, an outcome out. The server
//! drives handlers through this trait and the handlers know nothing of sockets.

use crate::http::{Request, Response};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// What a listening socket speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerKind {
    Https,
    /// Plain HTTP, meant for loopback (the validator and metrics). Stays last: the request
    /// metrics are indexed by discriminant.
    Plain,
}

impl ListenerKind {
    pub const ALL: [ListenerKind; 2] = [ListenerKind::Https, ListenerKind::Plain];

    /// The `listener` label of the request metrics.
    pub fn label(self) -> &'static str {
        match self {
            ListenerKind::Https => "https",
            ListenerKind::Plain => "plain",
        }
    }
}

/// Facts about the request that are not in its bytes.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    /// The TCP peer: the client, or the load balancer in front of it.
    pub peer: SocketAddr,
    /// The client: `peer`, or the address a trusted proxy reported for it (PROXY protocol,
    /// `Forwarded`, `X-Forwarded-For`). Throttling and logs go by this one.
    pub client: IpAddr,
    /// Unix seconds.
    pub now: i64,
}

/// Answers requests of one listener. Handlers do no network I/O (the server reads and writes
/// the sockets), but they may touch the disk (revoking fsyncs the log) and the OS RNG (issuing
/// draws a `jti`), so they may block briefly.
pub trait Handler: Send + Sync {
    fn handle(&self, req: &Request, ctx: &Context) -> Outcome;

    /// A request waits for `100 Continue` before sending its body: Some(answer) refuses it
    /// from its head alone (`head.body` is empty), None lets the body come.
    fn check_expect(&self, _head: &Request, _ctx: &Context) -> Option<Outcome> {
        None
    }
}

/// The response plus what the request log may say about it.
pub struct Outcome {
    pub response: Response,
    // Box<str>, not String: fixed once made, and 8 bytes smaller each, which keeps `Outcome`
    // (an `Err` variant of several handlers' Results) small.
    pub user: Option<Box<str>>,
    pub jti: Option<Box<str>>,
    /// Send the response no sooner than this long after the handler was called. The server
    /// holds it with a timer, so a held answer costs no thread and no CPU: failed logins use it
    /// to take the same time whoever the user is and whatever their password hash.
    pub hold: Option<Duration>,
    /// Whether the request log gets a line for this answer (`[validator] accessLog`).
    pub logged: bool,
}

impl Outcome {
    /// This outcome, answered no sooner than `hold` after the handler was called.
    pub fn held(self, hold: Duration) -> Outcome {
        Outcome {
            hold: Some(hold),
            ..self
        }
    }
}

impl From<Response> for Outcome {
    fn from(response: Response) -> Self {
        Outcome {
            response,
            user: None,
            jti: None,
            hold: None,
            logged: true,
        }
    }
}
