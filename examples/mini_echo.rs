//! A minimal edge-triggered TCP echo server: the skeleton of sockloop's loop
//! without fairness caps, backpressure, timers, protocols or limits (see
//! docs/guide/03-edge-triggering.md). Each readiness rule is commented where
//! it is applied. Run: `cargo run --example mini_echo [ADDR]`.

use mio::event::Event;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use std::collections::HashMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::process::ExitCode;

/// The listener's token; connections get 1, 2, 3, ...
const LISTENER: Token = Token(0);

/// One connection. `pending` (bytes the kernel has not taken yet) is
/// unbounded here; the full server bounds it by reading nothing while
/// output is pending and no more than the socket can take back
/// (`server::tcp`'s read rules).
struct Conn {
    stream: TcpStream,
    pending: Vec<u8>,
    /// The peer sent FIN: close as soon as `pending` is flushed.
    peer_done: bool,
}

fn main() -> ExitCode {
    // Not `main() -> io::Result`: that prints `Os { code: 98, .. }`.
    if let Err(e) = run() {
        eprintln!("mini_echo: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn run() -> io::Result<()> {
    let addr: SocketAddr = match std::env::args().nth(1) {
        Some(arg) => arg
            .parse()
            .map_err(|e| io::Error::new(ErrorKind::InvalidInput, format!("{arg}: {e}")))?,
        None => SocketAddr::from(([127, 0, 0, 1], 7007)),
    };
    let mut poll = Poll::new()?;
    let mut listener = TcpListener::bind(addr)
        .map_err(|e| io::Error::new(e.kind(), format!("bind {addr}: {e}")))?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    println!("listening echo tcp {}", listener.local_addr()?);

    let mut conns: HashMap<Token, Conn> = HashMap::new();
    let mut next_token = 1;
    let mut events = Events::with_capacity(256);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match poll.poll(&mut events, None) {
            // A signal interrupted epoll_wait, the one call that sleeps (it
            // fails with EINTR even under SA_RESTART: signal(7)). Not an
            // error: poll again.
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            result => result?,
        }
        for event in events.iter() {
            if event.token() == LISTENER {
                // Accept until WouldBlock: with edge triggering, connections
                // left in the backlog would raise no new event.
                loop {
                    let mut stream = match listener.accept() {
                        Ok((stream, _peer)) => stream,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        // Not expected (a nonblocking call never sleeps, and
                        // only a sleeping call is interrupted: signal(7)).
                        Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                        // One pending connection's own error: the listener is
                        // fine and others may be queued behind it, so go on.
                        Err(e) if is_retryable_accept_error(&e) => {
                            eprintln!("accept: {e} (one connection; continuing)");
                            continue;
                        }
                        // E.g. EMFILE: retrying now would fail the same way,
                        // in a busy loop. Give up on this event; the queue
                        // raises no new one until another connection arrives
                        // (the full server pauses for 100 ms and comes back,
                        // see `accept_ready`).
                        Err(e) => {
                            eprintln!("accept: {e}");
                            break;
                        }
                    };
                    // No Nagle: it holds a reply's tail until the client's
                    // (delayed, up to 40 ms) ACK; 64 KiB echoes then crawl.
                    let _ = stream.set_nodelay(true); // only a speed hint
                    let token = Token(next_token);
                    next_token += 1;
                    // Registered once for both directions; WRITABLE is ignored
                    // unless output is pending, so no reregister is needed.
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    poll.registry().register(&mut stream, token, interest)?;
                    let conn = Conn {
                        stream,
                        pending: Vec::new(),
                        peer_done: false,
                    };
                    conns.insert(token, conn);
                }
                continue;
            }
            // Stale token: an event for a connection already closed. Harmless;
            // in sockloop (slab keys are reused) it can happen within a batch.
            let Some(conn) = conns.get_mut(&event.token()) else {
                continue;
            };
            if !matches!(serve(conn, event, &mut buf), Ok(true)) {
                // Done or failed. Dropping the stream closes the fd, which also
                // removes it from the epoll set: no deregister call needed.
                conns.remove(&event.token());
            }
        }
    }
}

/// Handles one event; `Ok(false)`: finished, close the connection.
fn serve(conn: &mut Conn, event: &Event, buf: &mut [u8]) -> io::Result<bool> {
    // WRITABLE matters only while output is pending.
    if event.is_writable() && !conn.pending.is_empty() {
        let pending = std::mem::take(&mut conn.pending);
        write_or_keep(conn, &pending)?;
    }
    if event.is_readable() || event.is_read_closed() {
        // Drain until WouldBlock: bytes left in the kernel raise no new
        // event (only a later arrival would, and the peer may send nothing
        // more). Reading on after a short read also gets past a TCP urgent
        // mark, where a read stops early (tcp(7), SIOCATMARK).
        loop {
            match conn.stream.read(buf) {
                // Ok(0): the peer closed its side. Flush what is left, then close.
                Ok(0) => {
                    conn.peer_done = true;
                    break;
                }
                Ok(n) => write_or_keep(conn, &buf[..n])?,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                // Not expected from a nonblocking read (it never sleeps);
                // retrying is harmless.
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // Reset, broken pipe, ...: close.
                Err(e) => return Err(e),
            }
        }
    }
    Ok(!(conn.peer_done && conn.pending.is_empty()))
}

/// Accept errors about one pending connection, not the listener: retry.
/// Linux passes a new connection's pending network error to `accept()`, and
/// accept(2) ("Error handling") says to treat these as EAGAIN and retry;
/// ECONNABORTED ("a connection has been aborted") is one too. (A connection
/// reset while it waited in the queue is still returned by Linux's accept;
/// its first read then fails with ECONNRESET.)
fn is_retryable_accept_error(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::ECONNABORTED
                | libc::ENETDOWN
                | libc::EPROTO
                | libc::ENOPROTOOPT
                | libc::EHOSTDOWN
                | libc::ENONET
                | libc::EHOSTUNREACH
                | libc::EOPNOTSUPP
                | libc::ENETUNREACH
        )
    )
}

/// Writes `bytes`, keeping whatever the kernel does not take in `pending`
/// (a short write), behind anything already pending to keep the byte order.
fn write_or_keep(conn: &mut Conn, bytes: &[u8]) -> io::Result<()> {
    if !conn.pending.is_empty() {
        conn.pending.extend_from_slice(bytes);
        return Ok(());
    }
    let mut done = 0;
    while done < bytes.len() {
        match conn.stream.write(&bytes[done..]) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            // Short write: the send buffer is full. Keep the rest; the next
            // WRITABLE edge flushes it (Linux raises one for a socket whose
            // write found the buffer full, once room comes back).
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                conn.pending.extend_from_slice(&bytes[done..]);
                return Ok(());
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
