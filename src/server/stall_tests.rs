//! Clients that stop reading: the read rules that keep what they cost
//! small (`tcp.rs`), the send timeout (`conn.rs`, `deadlines.rs`) and the
//! output budget (`budget.rs`), each on real loopback connections with the
//! loop's clock set by hand (the fixtures are `phase_tests`').

use super::conn::{LINE_READ, MIN_READ, Phase, Timeouts, Unread};
use super::phase_tests::{WAIT, admit, conn, is_closed, open_with, wait_for};
use super::{LINGER_MS, Server};
use crate::protocol::{CloseReason, Service};
use crate::readiness::ReadOutcome;
use mio::event::Event;
use std::io::{ErrorKind, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Fills the server's send buffer on `key` (its client never reads) until
/// the kernel refuses more.
fn fill_send_buffer(server: &mut Server, key: usize) {
    let stream = &mut conn(server, key).stream;
    let chunk = vec![b'f'; 64 * 1024];
    loop {
        match stream.write(&chunk) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(e) => panic!("fill: {e}"),
        }
    }
}

/// Sends `bytes` from `client` and waits for the server's event on `key`.
fn arrive(server: &mut Server, key: usize, client: &mut TcpStream, bytes: &[u8]) {
    client.write_all(bytes).expect("send");
    wait_for(server, key, Event::is_readable);
}

/// Bytes still in the server's receive queue for `key`.
fn unread_bytes(server: &mut Server, key: usize) -> usize {
    let mut peeked = vec![0; 64 * 1024];
    conn(server, key).stream.peek(&mut peeked).unwrap_or(0)
}

/// Waits (peeking, bounded by [`WAIT`]) until at least `n` bytes sit in
/// the server's receive queue for `key`.
#[track_caller]
fn wait_unread(server: &mut Server, key: usize, n: usize) {
    let until = Instant::now() + WAIT;
    while unread_bytes(server, key) < n {
        assert!(Instant::now() < until, "input never arrived");
        std::thread::yield_now();
    }
}

// ---- The read rules ----------------------------------------------------------

/// Sends `bytes` to the server on `key`, waits until all of them sit in its
/// receive queue, then fills its send buffer and reads (`read_ready`) until
/// a reply stays pending. ACKs that free room after a fill (the kernel's
/// timing, not ours) only make a round read more and write it all: the
/// rounds are bounded by the input.
fn read_into_a_full_socket(server: &mut Server, key: usize, client: &mut TcpStream, bytes: &[u8]) {
    arrive(server, key, client, bytes);
    wait_unread(server, key, bytes.len());
    while conn(server, key).out.is_empty() {
        assert!(
            unread_bytes(server, key) > 0,
            "all input answered, none kept"
        );
        fill_send_buffer(server, key);
        server.read_ready(key);
    }
}

#[test]
fn echo_with_a_full_socket_keeps_at_most_the_minimum_read_and_pauses() {
    let (mut server, key, mut client) = open_with(Service::Echo, |_| {});
    read_into_a_full_socket(&mut server, key, &mut client, &[b'a'; 48 * 1024]);
    let c = conn(&mut server, key);
    let pending = c.out.pending();
    assert!(pending <= MIN_READ, "{pending} bytes kept");
    assert_eq!(c.unread(), Unread::Waiting, "the rest waits in the kernel");
    assert_eq!(server.stats.output_pending_conns, 1);
    assert_eq!(server.stats.output_pending_bytes, pending as u64);
    assert!(
        server.ready.is_empty(),
        "not requeued while output is pending"
    );
    // Paused: another turn reads nothing, however long the queue.
    let left = unread_bytes(&mut server, key);
    assert!(left > 0);
    server.read_ready(key);
    assert_eq!(unread_bytes(&mut server, key), left);
}

#[test]
fn greet_with_a_full_socket_keeps_one_small_read_of_lines() {
    let (mut server, key, mut client) = open_with(Service::Greet, |_| {});
    let lines = "ann\n".repeat(8 * 1024);
    read_into_a_full_socket(&mut server, key, &mut client, lines.as_bytes());
    let c = conn(&mut server, key);
    // A read is at most LINE_READ, its replies at most what the socket can
    // take plus one line: the lines past that wait in `input`, the rest
    // in the kernel.
    assert!(
        c.out.pending() <= MIN_READ + b"Hi ann\n".len(),
        "{}",
        c.out.pending()
    );
    assert!(c.input.len() <= LINE_READ, "{}", c.input.len());
    let held = c.input.len();
    let left = unread_bytes(&mut server, key);
    server.read_ready(key);
    assert_eq!(
        (
            conn(&mut server, key).input.len(),
            unread_bytes(&mut server, key)
        ),
        (held, left),
        "held lines are not answered, nor more read, while output is pending"
    );
}

#[test]
fn with_room_a_read_takes_a_whole_chunk_and_echoes_it() {
    let (mut server, key, mut client) = open_with(Service::Echo, |_| {});
    arrive(&mut server, key, &mut client, &[b'b'; 100]);
    server.read_ready(key);
    let c = conn(&mut server, key);
    assert!(c.out.is_empty());
    assert!(c.out.room().credit() > 0, "asked the kernel once");
    let mut got = [0; 100];
    std::io::Read::read_exact(&mut client, &mut got).expect("echo");
    assert_eq!(got, [b'b'; 100]);
}

// ---- The send timeout ----------------------------------------------------------

#[test]
fn the_send_timeout_closes_output_that_makes_no_progress() {
    let (mut server, key, _client) = open_with(Service::Command, |c| {
        c.send_timeout = Some(Duration::from_millis(1_000));
    });
    conn(&mut server, key).out.queue(b"stuck\n");
    server.output_changed(key, 0);
    server.now = 999;
    server.fire_deadlines();
    assert!(!is_closed(&server, key), "not yet");
    server.now = 1_000;
    server.fire_deadlines();
    assert!(is_closed(&server, key));
    assert_eq!(server.stats.closed_for(CloseReason::SendTimeout), 1);
    assert_eq!(server.stats.closed_for(CloseReason::Idle), 0);
    assert_eq!(server.stats.output_pending_bytes, 0, "forgotten at close");
    assert_eq!(server.stats.output_pending_conns, 0);
}

#[test]
fn progress_restarts_the_send_timeout() {
    let (mut server, key, _client) = open_with(Service::Command, |c| {
        c.send_timeout = Some(Duration::from_millis(1_000));
    });
    conn(&mut server, key).out.queue(b"stuck\n");
    server.output_changed(key, 0);
    server.now = 500;
    // As if a flush had written 10 of 16 bytes.
    server.output_changed(key, 16);
    server.now = 1_000;
    server.fire_deadlines();
    assert!(!is_closed(&server, key), "progress at 500 ms");
    server.now = 1_500;
    server.fire_deadlines();
    assert_eq!(server.stats.closed_for(CloseReason::SendTimeout), 1);
}

#[test]
fn the_deadline_is_the_earlier_timeout_with_its_reason() {
    let (mut server, key, _client) = open_with(Service::Command, |_| {});
    let t = |idle, send| Timeouts {
        idle_ms: Some(idle),
        send_ms: Some(send),
        linger_ms: LINGER_MS,
    };
    let c = conn(&mut server, key);
    assert_eq!(
        c.deadline(t(100, 50)),
        Some((100, CloseReason::Idle)),
        "nothing pending: no send timeout"
    );
    c.out.queue(b"x");
    assert_eq!(c.deadline(t(100, 50)), Some((50, CloseReason::SendTimeout)));
    assert_eq!(c.deadline(t(40, 50)), Some((40, CloseReason::Idle)));
    let no_send = Timeouts {
        send_ms: None,
        ..t(100, 0)
    };
    assert_eq!(c.deadline(no_send), Some((100, CloseReason::Idle)));
    c.set_phase(key, Phase::Closing(CloseReason::Peer));
    assert_eq!(
        c.deadline(t(100, 50)),
        Some((50, CloseReason::SendTimeout)),
        "a closing connection's flush is bounded too"
    );
}

// ---- The output budget ---------------------------------------------------------

/// A server with `--output-budget 100` and two echo connections.
fn two_under_a_budget() -> (Server, [usize; 2], [TcpStream; 2]) {
    let (mut server, a, client_a) = open_with(Service::Echo, |c| c.output_budget = 100);
    let (b, client_b) = admit(&mut server, Service::Echo);
    (server, [a, b], [client_a, client_b])
}

#[test]
fn past_the_budget_the_longest_stalled_is_closed_as_a_slow_reader() {
    let (mut server, [a, b], _clients) = two_under_a_budget();
    conn(&mut server, a).out.queue(&[0; 60]);
    server.output_changed(a, 0);
    assert_eq!(server.stats.output_pending_bytes, 60);
    server.now = 5;
    conn(&mut server, b).out.queue(&[0; 60]);
    server.output_changed(b, 0);
    assert!(is_closed(&server, a), "stalled 5 ms: the longest");
    assert!(
        !is_closed(&server, b),
        "stalled this millisecond: never picked"
    );
    assert_eq!(server.stats.closed_for(CloseReason::SlowReader), 1);
    assert_eq!(server.stats.output_pending_bytes, 60);
    assert_eq!(server.stats.output_pending_conns, 1);
    assert!(!server.budget_recheck);
}

#[test]
fn under_the_budget_nobody_is_closed() {
    let (mut server, [a, b], _clients) = two_under_a_budget();
    conn(&mut server, a).out.queue(&[0; 50]);
    server.output_changed(a, 0);
    server.now = 5;
    conn(&mut server, b).out.queue(&[0; 50]);
    server.output_changed(b, 0);
    assert!(!is_closed(&server, a) && !is_closed(&server, b));
    assert_eq!(
        server.stats.output_pending_bytes, 100,
        "at the budget is fine"
    );
}

#[test]
fn stalls_of_this_millisecond_wait_for_the_next_turn_then_the_biggest_goes() {
    let (mut server, [a, b], _clients) = two_under_a_budget();
    server.now = 5;
    conn(&mut server, a).out.queue(&[0; 70]);
    server.output_changed(a, 0);
    conn(&mut server, b).out.queue(&[0; 60]);
    server.output_changed(b, 0);
    assert!(!is_closed(&server, a) && !is_closed(&server, b));
    assert!(server.budget_recheck, "over, with nobody old enough");
    assert_eq!(server.poll_timeout(), Some(Duration::from_millis(2)));
    server.now = 6;
    server.fire_deadlines();
    assert!(is_closed(&server, a), "same age: the biggest first");
    assert!(!is_closed(&server, b));
    assert!(!server.budget_recheck);
}

// ---- Conn::unread: what the kernel may hold unannounced -----------------------

#[test]
fn an_event_only_raises_unread() {
    let (mut server, key, _client) = open_with(Service::Echo, |_| {});
    let c = conn(&mut server, key);
    assert_eq!(c.unread(), Unread::Nothing);
    c.note_input(false);
    assert_eq!(c.unread(), Unread::Waiting);
    c.note_input(true);
    assert_eq!(c.unread(), Unread::DrainFully);
    c.note_input(false);
    assert_eq!(
        c.unread(),
        Unread::DrainFully,
        "a plain event does not lower it"
    );
}

#[test]
fn reads_set_unread_by_what_they_say_about_the_queue() {
    let (mut server, key, mut client) = open_with(Service::Echo, |_| {});
    arrive(&mut server, key, &mut client, b"abcd");
    wait_unread(&mut server, key, 4);
    let c = conn(&mut server, key);
    let mut buf = [0; 2];
    assert!(matches!(c.read(&mut buf), Ok(ReadOutcome::More(2))));
    assert_eq!(c.unread(), Unread::Waiting, "a full read: more may wait");
    let mut buf = [0; 16];
    assert!(matches!(c.read(&mut buf), Ok(ReadOutcome::Drained(2))));
    assert_eq!(
        c.unread(),
        Unread::Nothing,
        "a short read: the queue was empty"
    );
    // Under DrainFully a short read is not trusted: read on to WouldBlock.
    client.write_all(b"ef").expect("send");
    wait_unread(&mut server, key, 2);
    let c = conn(&mut server, key);
    c.note_input(true);
    assert!(matches!(c.read(&mut buf), Ok(ReadOutcome::More(2))));
    assert_eq!(c.unread(), Unread::DrainFully);
    assert!(matches!(c.read(&mut buf), Ok(ReadOutcome::Empty)));
    assert_eq!(c.unread(), Unread::Nothing, "WouldBlock: all read");
}
