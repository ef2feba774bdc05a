//! The byte pump between a non-blocking socket and `http::Connection`: TLS through rustls, or
//! plain. It moves bytes and reports what happened; what the bytes mean, and when to stop
//! reading, is `http::Connection`'s business and `conn::drive`'s.

use crate::http;
use mio::net::TcpStream;
use rustls::ServerConnection;
use std::io::{self, BufRead, Read, Write};
use std::net::SocketAddr;

/// Plaintext read per `read` call.
const READ_CHUNK: usize = 16 * 1024;

/// A worker's buffer for plain socket reads, zeroed once when the worker starts. A zeroed
/// chunk on the stack would cost a 16 KiB memset per read, and a keep-alive request takes two
/// reads (the request, then the one that finds the socket empty).
pub(super) struct ReadBuf(Box<[u8]>);

impl ReadBuf {
    pub fn new() -> ReadBuf {
        ReadBuf(vec![0; READ_CHUNK].into_boxed_slice())
    }
}

enum Session {
    Tls(Box<ServerConnection>),
    /// Bytes not yet written to the socket.
    Plain(Vec<u8>),
}

pub(super) struct Transport {
    pub sock: TcpStream,
    /// Bytes read from the socket before the session took over (what followed a PROXY
    /// header); the session reads them before the socket.
    early: Vec<u8>,
    session: Session,
    /// Peer sent EOF.
    pub eof: bool,
}

/// What a read left behind.
pub(super) enum Input {
    /// The socket has nothing more for now (or sent EOF: see `eof`).
    Drained,
    /// `http::Connection` has no room left; more may wait in the socket or in rustls.
    Full,
    /// The connection is dead: a socket error, or a TLS error (its alert already sent).
    Broken,
}

impl Transport {
    pub fn tls(sock: TcpStream, session: ServerConnection) -> Transport {
        Transport {
            sock,
            early: Vec::new(),
            session: Session::Tls(Box::new(session)),
            eof: false,
        }
    }

    pub fn plain(sock: TcpStream) -> Transport {
        Transport {
            sock,
            early: Vec::new(),
            session: Session::Plain(Vec::new()),
            eof: false,
        }
    }

    /// Reads raw socket bytes into `buf`, at most `max` of them, before any session: the PROXY
    /// header. Ok(0) is EOF.
    pub fn read_raw(&mut self, buf: &mut Vec<u8>, max: usize) -> io::Result<usize> {
        let mut chunk = [0u8; crate::proxy_protocol::MAX_HEADER_BYTES];
        let n = max.min(chunk.len());
        let n = self.sock.read(&mut chunk[..n])?;
        buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Hands bytes that `read_raw` read past the PROXY header to the session, ahead of the
    /// socket.
    pub fn unread(&mut self, bytes: &[u8]) {
        self.early.extend_from_slice(bytes);
    }

    pub fn is_handshaking(&self) -> bool {
        match &self.session {
            Session::Tls(t) => t.is_handshaking(),
            Session::Plain(_) => false,
        }
    }

    /// Buffers bytes for the peer; `write_out` sends them.
    pub fn queue(&mut self, bytes: &[u8]) {
        match &mut self.session {
            // rustls buffers it; an error means the session is already closed.
            Session::Tls(t) => {
                let _ = t.writer().write_all(bytes);
            }
            Session::Plain(out) => out.extend_from_slice(bytes),
        }
    }

    /// Queues a TLS close_notify (nothing for plain connections).
    pub fn send_close(&mut self) {
        if let Session::Tls(t) = &mut self.session {
            t.send_close_notify();
        }
    }

    pub fn wants_write(&self) -> bool {
        match &self.session {
            Session::Tls(t) => t.wants_write(),
            Session::Plain(out) => !out.is_empty(),
        }
    }

    /// One write of pending output to the socket.
    pub fn write_out(&mut self) -> io::Result<usize> {
        match &mut self.session {
            Session::Tls(t) => t.write_tls(&mut self.sock),
            Session::Plain(out) => {
                let n = self.sock.write(out)?;
                out.drain(..n);
                Ok(n)
            }
        }
    }

    /// Reads and discards until the socket would block (false) or is done (true: EOF or error).
    pub fn discard_input(&mut self, sink: &mut ReadBuf) -> bool {
        loop {
            match self.sock.read(&mut sink.0) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return true,
            }
        }
    }

    /// Reads what the socket has into `http`, as far as it has room.
    ///
    /// Over TLS, plaintext that rustls already decrypted goes first. rustls holds at most a
    /// few KiB of it and refuses to read more records while that is full ("received plaintext
    /// buffer full"): backpressure from a client pipelining faster than we answer, not an
    /// error. So no record is read until that plaintext has found room in `http`.
    pub fn read_into(
        &mut self,
        http: &mut http::Connection,
        peer: SocketAddr,
        chunk: &mut ReadBuf,
    ) -> Input {
        let mut drained = false;
        loop {
            self.take_plaintext(http);
            if http.room() == 0 {
                return Input::Full;
            }
            if drained || self.eof {
                return Input::Drained;
            }
            let mut src = Source {
                early: &mut self.early,
                sock: &mut self.sock,
            };
            drained = match &mut self.session {
                Session::Tls(t) => match t.read_tls(&mut src) {
                    Ok(0) => {
                        self.eof = true;
                        false
                    }
                    Ok(_) => {
                        if let Err(e) = t.process_new_packets() {
                            // Tell the peer why (alert), then drop it.
                            let _ = t.write_tls(&mut self.sock);
                            crate::log::info(&format!("TLS error from {peer}: {e}"));
                            return Input::Broken;
                        }
                        false
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => true,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => false,
                    Err(_) => return Input::Broken,
                },
                Session::Plain(_) => {
                    let room = http.room().min(READ_CHUNK);
                    match src.read(&mut chunk.0[..room]) {
                        Ok(0) => {
                            self.eof = true;
                            false
                        }
                        Ok(n) => {
                            http.receive(&chunk.0[..n]);
                            false
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => true,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => false,
                        Err(_) => return Input::Broken,
                    }
                }
            };
        }
    }

    /// Moves decrypted bytes from rustls into `http`, as far as it has room.
    fn take_plaintext(&mut self, http: &mut http::Connection) {
        let Session::Tls(t) = &mut self.session else {
            return;
        };
        let mut reader = t.reader();
        while http.room() > 0 {
            let room = http.room().min(READ_CHUNK);
            // Borrow rustls' buffer: a stack chunk would be zeroed (16 KiB) on every call.
            match reader.fill_buf() {
                Ok([]) => {
                    self.eof = true;
                    return;
                }
                Ok(buf) => {
                    let n = buf.len().min(room);
                    http.receive(&buf[..n]);
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

/// The early bytes, then the socket.
struct Source<'a> {
    early: &'a mut Vec<u8>,
    sock: &'a mut TcpStream,
}

impl Read for Source<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.early.is_empty() {
            return self.sock.read(buf);
        }
        let n = buf.len().min(self.early.len());
        buf[..n].copy_from_slice(&self.early[..n]);
        self.early.drain(..n);
        Ok(n)
    }
}
