//! Clients that go away abruptly: a reset (SO_LINGER 0) while the server is
//! in the middle of writing a big reply, a plain close with replies still
//! pending, and a half-close on every service (the answers to complete lines
//! and to the final partial line still arrive, then EOF). The server must
//! drop each such connection, leak nothing, and keep serving.

mod common;

use common::*;
use sockloop::protocol::command::LANGUAGE;
use std::io::{ErrorKind, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

/// Repeats `unit` (a request) without reading until a write blocks for the
/// write timeout: from then on the server has replies pending that it
/// cannot send (it only stops reading once its output is at the cap).
/// Panics if [`flood_budget`] (more than the kernel can buffer) runs out
/// first.
fn flood_until_blocked(stream: &mut TcpStream, unit: &[u8]) {
    let budget = flood_budget();
    let chunk = unit.repeat(16 * 1024 / unit.len());
    let mut sent = 0;
    while sent < budget {
        match stream.write(&chunk) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return,
            Err(e) => panic!("flood write after {sent} bytes: {e}"),
        }
    }
    panic!("{budget} bytes sent without blocking: no backpressure?");
}

/// Floods echo (a big echo reply), greet and command (many small replies)
/// in parallel until each is blocked by backpressure, then ends every
/// client with `end`.
fn flood_then(server: &Server, end: fn(TcpStream)) {
    let targets = [
        (server.echo(), &b"0123456789abcdef"[..]),
        (server.echo(), b"\x00\xff\r\n"),
        (server.greet(), b"\n"),
        (server.greet(), b"name\n"),
        (server.command(), b"L\n"),
        (server.login(), b"admin\n12345\nL\n"),
    ];
    let floods: Vec<_> = targets
        .into_iter()
        .map(|(addr, unit)| {
            std::thread::spawn(move || {
                let mut s = connect_small_buffers(addr);
                flood_until_blocked(&mut s, unit);
                s
            })
        })
        .collect();
    for f in floods {
        end(f.join().unwrap());
    }
}

/// Reset mid-write: each flooding client sets SO_LINGER 0 and closes, so
/// the server's next read or write fails with a reset. Every connection is
/// closed as `error`, none leaks, and every service still serves.
#[test]
fn reset_while_the_server_writes_a_big_reply() {
    let server = Server::start(&[]);
    let baseline = server.open_sockets();
    flood_then(&server, |s| {
        socket2::SockRef::from(&s)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(s);
    });
    server.wait_for_open_sockets(baseline);
    server.assert_serving(DEFAULT_LOGIN);
    let exit = server.terminate();
    exit.assert_success();
    assert_eq!(summary_count(&exit.stderr, "error"), 6, "{}", exit.stderr);
    assert_no_conns_at_shutdown(&exit.stderr);
}

/// A plain close while the server has replies pending: the half-close
/// comes first (the server sees the FIN only after its paused input), then
/// the socket is dropped with unread replies (the kernel resets it). The
/// server drops every connection and keeps serving.
#[test]
fn close_while_replies_are_pending() {
    let server = Server::start(&[]);
    let baseline = server.open_sockets();
    flood_then(&server, |s| {
        s.shutdown(Shutdown::Write).unwrap();
        drop(s);
    });
    server.wait_for_open_sockets(baseline);
    server.assert_serving(DEFAULT_LOGIN);
    let exit = server.terminate();
    exit.assert_success();
    assert_no_conns_at_shutdown(&exit.stderr);
}

/// Sends `request`, half-closes, and returns everything until EOF.
fn half_close_exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut s = connect(addr);
    send(&mut s, request);
    s.shutdown(Shutdown::Write).unwrap();
    read_to_end(&mut s)
}

/// Splits a reply stream into lines (each keeping its `\n`).
fn lines(reply: &[u8]) -> Vec<&[u8]> {
    reply.split_inclusive(|b| *b == b'\n').collect()
}

/// Asserts `line` is an `R` reply: a number 1..=10 and `\n`.
#[track_caller]
fn assert_random_reply(line: &[u8]) {
    let text = std::str::from_utf8(line).unwrap();
    let n: u8 = text.strip_suffix('\n').unwrap().parse().unwrap();
    assert!((1..=10).contains(&n), "{text:?}");
}

/// Asserts `line` is a `T` reply: RFC 3339 with milliseconds and offset.
#[track_caller]
fn assert_time_reply(line: &[u8]) {
    let text = std::str::from_utf8(line)
        .unwrap()
        .strip_suffix('\n')
        .unwrap();
    chrono::DateTime::parse_from_rfc3339(text).unwrap();
    assert_eq!(
        text.len(),
        "2026-11-28T05:59:21.015+00:00".len(),
        "{text:?}"
    );
}

/// Half-close on every service (shutdown(Write), then read to EOF): the
/// answers to the complete lines and to the final partial line (with or
/// without its `\r`) all arrive, then a clean EOF.
#[test]
fn half_close_gets_every_answer_on_every_service() {
    let server = Server::start(&[]);
    let baseline = server.open_sockets();
    assert_eq!(
        show(&half_close_exchange(server.echo(), b"a\r\nb\x00\nrest\r")),
        show(b"a\r\nb\x00\nrest\r")
    );
    assert_eq!(
        show(&half_close_exchange(
            server.greet(),
            b"ann\nbob\r\n \n car\r"
        )),
        show(b"Hi ann\nHi bob\nERR empty name\nHi car\n")
    );
    assert_eq!(
        show(&half_close_exchange(server.login(), b"admin\n12345")),
        show(b"hello admin, welcome to the server\n")
    );
    assert_eq!(
        show(&half_close_exchange(server.login(), b"admin\nnope\nadmin")),
        show(b"ERR invalid credentials\n")
    );
    let reply = half_close_exchange(server.login(), b"admin\n12345\nL\nr\n?\nt");
    let got = lines(&reply);
    assert_eq!(got.len(), 5, "{}", show(&reply));
    assert_eq!(got[0], b"hello admin, welcome to the server\n");
    assert_eq!(got[1], format!("{LANGUAGE}\n").as_bytes());
    assert_random_reply(got[2]);
    assert_eq!(got[3], b"ERR unknown command (use R, T, L or E)\n");
    assert_time_reply(got[4]);

    let reply = half_close_exchange(server.command(), b"T\r\nl\nR\r");
    let got = lines(&reply);
    assert_eq!(got.len(), 3, "{}", show(&reply));
    assert_time_reply(got[0]);
    assert_eq!(got[1], format!("{LANGUAGE}\n").as_bytes());
    assert_random_reply(got[2]);

    server.wait_for_open_sockets(baseline);
    server.assert_serving(DEFAULT_LOGIN);
    let exit = server.terminate();
    exit.assert_success();
    assert_no_conns_at_shutdown(&exit.stderr);
}
