//! What each connection phase does with a read, a write-ready and a
//! deadline: the handlers called one by one on a real loopback connection,
//! with the loop's clock set by hand.
//!
//! Each fixture (`open`, `closing`, `lingering`) returns a server holding
//! one command connection in that phase and the client's end of it.
//! Nothing sleeps: a test waits for the server socket's own event (see
//! [`wait_for`]) and reads the client's end with a timeout as a bound.

use super::conn::{Phase, Unread};
use super::{Conn, Entry, LINGER_MS, Server};
use crate::config::ServeConfig;
use crate::protocol::command::ERR_UNKNOWN;
use crate::protocol::{CloseReason, Service, Session};
use crate::readiness::{TCP_INTEREST, must_drain};
use mio::event::Event;
use mio::{Events, Token};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// `--idle-timeout` of the fixtures, in loop milliseconds.
const IDLE_MS: u64 = 10_000;

/// Bounds every wait; reached only if a test is broken.
pub(super) const WAIT: Duration = Duration::from_secs(10);

/// A server (one command listener, unused) and one connection in `Open`,
/// admitted at loop time 0 as `admit` does; returns its key and the client.
fn open() -> (Server, usize, TcpStream) {
    open_with(Service::Command, |_| {})
}

/// [`open`], on `service`, with the settings `tweak` makes.
pub(super) fn open_with(
    service: Service,
    tweak: impl FnOnce(&mut ServeConfig),
) -> (Server, usize, TcpStream) {
    let mut config = ServeConfig::defaults();
    config.listeners = vec![(Service::Command, SocketAddr::from(([127, 0, 0, 1], 0)))];
    config.idle_timeout = Some(Duration::from_millis(IDLE_MS));
    tweak(&mut config);
    let mut server = Server::bind(config).expect("bind 127.0.0.1:0");
    let (key, client) = admit(&mut server, service);
    (server, key, client)
}

/// Adds one more open connection on `service` to `server`, admitted at the
/// server's loop time as `admit` does; its key and the client.
pub(super) fn admit(server: &mut Server, service: Service) -> (usize, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    client.set_read_timeout(Some(WAIT)).expect("timeout");
    let (accepted, _) = listener.accept().expect("accept");
    accepted.set_nonblocking(true).expect("nonblocking");
    let mut stream = mio::net::TcpStream::from_std(accepted);
    let key = server.entries.vacant_key();
    server
        .poll
        .registry()
        .register(&mut stream, Token(key), TCP_INTEREST)
        .expect("register");
    let session = Session::new(service).expect("a TCP service");
    let now = server.now;
    server
        .entries
        .insert(Entry::Conn(Conn::new(stream, session, 0, now)));
    server.stats.opened(service);
    server.arm_deadline(key);
    (key, client)
}

/// `Closing(bye)` with `BYE\n` not yet written: as after `E` when the
/// kernel's send buffer was full.
fn closing() -> (Server, usize, TcpStream) {
    let (mut server, key, client) = open();
    let conn = conn(&mut server, key);
    conn.out.queue(b"BYE\n");
    conn.set_phase(key, Phase::Closing(CloseReason::Bye));
    (server, key, client)
}

/// `Lingering(bye)`, reached for real: `E`, answered `BYE`, our FIN sent.
fn lingering() -> (Server, usize, TcpStream) {
    let (mut server, key, mut client) = open();
    client.write_all(b"E\n").expect("send");
    wait_for(&mut server, key, Event::is_readable);
    server.read_ready(key);
    assert_eq!(phase(&mut server, key), Phase::Lingering(CloseReason::Bye));
    assert_eq!(
        read_to_end(&mut client),
        b"BYE\n",
        "the reply, then our FIN"
    );
    (server, key, client)
}

#[track_caller]
pub(super) fn conn(server: &mut Server, key: usize) -> &mut Conn {
    match server.entries.get_mut(key) {
        Some(Entry::Conn(conn)) => conn,
        _ => panic!("#{key} is not an open connection"),
    }
}

#[track_caller]
pub(super) fn phase(server: &mut Server, key: usize) -> Phase {
    conn(server, key).phase()
}

pub(super) fn is_closed(server: &Server, key: usize) -> bool {
    server.entries.get(key).is_none()
}

/// Polls the server's `Poll` until an event for `key` satisfies `what`,
/// noting a read-closed as `dispatch` does.
#[track_caller]
pub(super) fn wait_for(server: &mut Server, key: usize, what: fn(&Event) -> bool) {
    let mut events = Events::with_capacity(16);
    let until = Instant::now() + WAIT;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no such event for #{key} within {WAIT:?}");
        server.poll.poll(&mut events, Some(left)).expect("poll");
        for event in events.iter().filter(|e| e.token() == Token(key)) {
            let readable = event.is_readable() || event.is_read_closed() || event.is_error();
            if readable || must_drain(event) {
                conn(server, key).note_input(must_drain(event));
            }
            if what(event) {
                return;
            }
        }
    }
}

/// Waits (peeking, bounded by [`WAIT`]) until `bytes` sit in `key`'s
/// receive queue, without polling: its event stays unnoted.
#[track_caller]
pub(super) fn wait_for_input(server: &mut Server, key: usize, bytes: &[u8]) {
    let stream = &conn(server, key).stream;
    let until = Instant::now() + WAIT;
    let mut peeked = vec![0; bytes.len()];
    while stream.peek(&mut peeked).ok() != Some(bytes.len()) {
        assert!(Instant::now() < until, "input never arrived");
        std::thread::yield_now();
    }
}

/// What the client receives up to the server's FIN.
#[track_caller]
pub(super) fn read_to_end(client: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    client.read_to_end(&mut got).expect("read until FIN");
    got
}

/// Whether the client has nothing to read, and no FIN either.
pub(super) fn nothing_arrived(client: &mut TcpStream) -> bool {
    client.set_nonblocking(true).expect("nonblocking");
    let result = client.read(&mut [0; 16]);
    client.set_nonblocking(false).expect("blocking");
    matches!(result, Err(e) if e.kind() == ErrorKind::WouldBlock)
}

// ---- Open ------------------------------------------------------------------

#[test]
fn open_a_read_is_answered_and_the_connection_stays_open() {
    let (mut server, key, mut client) = open();
    client.write_all(b"X\n").expect("send");
    wait_for(&mut server, key, Event::is_readable);
    server.read_ready(key);
    let mut reply = vec![0; ERR_UNKNOWN.len()];
    client.read_exact(&mut reply).expect("reply");
    assert_eq!(reply, ERR_UNKNOWN);
    assert_eq!(phase(&mut server, key), Phase::Open);
}

#[test]
fn open_a_fin_answers_the_last_line_and_closes_as_peer() {
    let (mut server, key, mut client) = open();
    client.write_all(b"X").expect("send");
    client.shutdown(Shutdown::Write).expect("FIN");
    wait_for(&mut server, key, Event::is_read_closed);
    server.read_ready(key); // the bytes; the FIN is behind them: requeued
    server.serve_ready_queue(); // Ok(0)
    assert_eq!(read_to_end(&mut client), ERR_UNKNOWN);
    assert!(is_closed(&server, key));
    assert_eq!(server.stats.closed_for(CloseReason::Peer), 1);
}

#[test]
fn open_pending_output_pauses_reading_until_a_write_ready_drains_it() {
    let (mut server, key, mut client) = open();
    conn(&mut server, key).out.queue(&[b'x'; 4096]);
    client.write_all(b"X\n").expect("send");
    wait_for(&mut server, key, Event::is_readable);
    server.read_ready(key);
    assert!(
        server.ready.is_empty(),
        "paused: nothing read, nothing queued"
    );
    assert!(
        conn(&mut server, key).input_waiting(),
        "the edge is remembered"
    );
    server.write_ready(key);
    let mut got = vec![0; 4096];
    client.read_exact(&mut got).expect("the pending bytes");
    assert!(conn(&mut server, key).out.is_empty());
    assert!(
        !server.ready.is_empty(),
        "requeued: the input raised no new edge"
    );
    server.serve_ready_queue();
    let mut reply = vec![0; ERR_UNKNOWN.len()];
    client
        .read_exact(&mut reply)
        .expect("the answer to the input that waited");
    assert_eq!(reply, ERR_UNKNOWN);
    assert_eq!(phase(&mut server, key), Phase::Open);
}

#[test]
fn open_a_drained_output_does_not_requeue_when_no_input_waits() {
    let (mut server, key, mut client) = open();
    conn(&mut server, key).out.queue(b"late reply\n");
    server.write_ready(key);
    let mut got = vec![0; 11];
    client.read_exact(&mut got).expect("the pending bytes");
    assert!(
        server.ready.is_empty(),
        "the last read was short: the next input raises its own edge"
    );
}

#[test]
fn open_a_requeued_read_after_a_short_read_leaves_the_kernel_alone() {
    let (mut server, key, mut client) = open();
    client.write_all(b"X\n").expect("send");
    wait_for(&mut server, key, Event::is_readable);
    assert_eq!(conn(&mut server, key).unread(), Unread::Waiting, "noted");
    server.read_ready(key);
    let mut reply = vec![0; ERR_UNKNOWN.len()];
    client.read_exact(&mut reply).expect("reply");
    assert_eq!(
        conn(&mut server, key).unread(),
        Unread::Nothing,
        "short read"
    );
    // Input whose edge has not been noted yet: a requeued read (as after
    // a write drained) must not spend a syscall on it; its edge will come.
    client.write_all(b"Y\n").expect("send");
    wait_for_input(&mut server, key, b"Y\n");
    server.read_ready(key);
    let mut peeked = [0; 16];
    let n = conn(&mut server, key)
        .stream
        .peek(&mut peeked)
        .expect("peek");
    assert_eq!(&peeked[..n], b"Y\n", "left for its own edge");
}

#[test]
fn open_the_deadline_closes_an_idle_connection() {
    let (mut server, key, mut client) = open();
    server.now = IDLE_MS - 1;
    server.fire_deadlines();
    assert_eq!(phase(&mut server, key), Phase::Open, "not idle long enough");
    server.now = IDLE_MS;
    server.fire_deadlines();
    assert!(is_closed(&server, key));
    assert_eq!(server.stats.closed_for(CloseReason::Idle), 1);
    assert_eq!(read_to_end(&mut client), b"");
}

// ---- Closing ---------------------------------------------------------------

#[test]
fn closing_a_read_is_left_unread() {
    let (mut server, key, mut client) = closing();
    client.write_all(b"X\n").expect("send");
    wait_for(&mut server, key, Event::is_readable);
    server.read_ready(key);
    let mut peeked = [0; 16];
    let n = conn(&mut server, key)
        .stream
        .peek(&mut peeked)
        .expect("peek");
    assert_eq!(&peeked[..n], b"X\n", "still in the kernel, unanswered");
    assert!(nothing_arrived(&mut client));
    assert_eq!(phase(&mut server, key), Phase::Closing(CloseReason::Bye));
}

#[test]
fn closing_a_write_ready_flushes_then_lingers() {
    let (mut server, key, mut client) = closing();
    server.write_ready(key);
    assert_eq!(
        read_to_end(&mut client),
        b"BYE\n",
        "the reply, then our FIN"
    );
    assert_eq!(phase(&mut server, key), Phase::Lingering(CloseReason::Bye));
}

#[test]
fn closing_the_deadline_closes_as_idle() {
    let (mut server, key, client) = closing();
    server.now = IDLE_MS;
    server.fire_deadlines();
    assert!(is_closed(&server, key));
    assert_eq!(server.stats.closed_for(CloseReason::Idle), 1);
    drop(client);
}

// ---- Lingering -------------------------------------------------------------

#[test]
fn lingering_input_is_discarded_until_the_peers_fin() {
    let (mut server, key, mut client) = lingering();
    client.write_all(b"more\n").expect("send");
    client.shutdown(Shutdown::Write).expect("FIN");
    wait_for(&mut server, key, Event::is_read_closed);
    server.read_ready(key); // discards; the FIN is behind: requeued
    assert_eq!(phase(&mut server, key), Phase::Lingering(CloseReason::Bye));
    server.serve_ready_queue(); // Ok(0)
    assert!(is_closed(&server, key));
    assert_eq!(server.stats.closed_for(CloseReason::Bye), 1);
}

#[test]
fn lingering_a_write_ready_does_nothing() {
    let (mut server, key, _client) = lingering();
    server.write_ready(key);
    assert_eq!(phase(&mut server, key), Phase::Lingering(CloseReason::Bye));
}

#[test]
fn lingering_the_deadline_closes_with_the_original_reason() {
    let (mut server, key, _client) = lingering();
    server.now = LINGER_MS;
    server.fire_deadlines();
    assert!(is_closed(&server, key));
    assert_eq!(server.stats.closed_for(CloseReason::Bye), 1);
    assert_eq!(server.stats.closed_for(CloseReason::Idle), 0);
}

// ---- Transitions -----------------------------------------------------------

#[test]
fn the_phase_only_moves_forward() {
    let bye = CloseReason::Bye;
    let (open, closing, lingering) = (Phase::Open, Phase::Closing(bye), Phase::Lingering(bye));
    assert!(open.may_become(closing));
    assert!(closing.may_become(Phase::Closing(CloseReason::Shutdown)));
    assert!(closing.may_become(lingering));
    for (from, to) in [
        (closing, open),
        (lingering, open),
        (lingering, closing),
        (open, lingering),
    ] {
        assert!(!from.may_become(to), "{from} -> {to}");
    }
}
