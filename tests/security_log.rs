//! Logging that cannot block the loop (issue 19, item 2). Before, the loop
//! wrote each log line to stderr itself: with stderr on a pipe nobody
//! reads, one 65,507-byte udp-log datagram (a 262 KB line) blocked it in
//! `write`, and no service answered. Now lines go through a bounded queue
//! to a writer thread, and udp-log lines are short and rate-limited.

mod common;

use common::*;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A server whose stderr is a pipe that is never read, and its addresses.
struct Unread {
    child: Child,
    addrs: HashMap<String, SocketAddr>,
    /// The pipe's read end: kept open and not read (so writes fill it),
    /// until a test takes it.
    reader: Option<std::io::PipeReader>,
}

impl Drop for Unread {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `serve` with TCP services and udp-log, stderr on an unread
/// pipe, logging at `level`.
fn start_unread(level: &str) -> Unread {
    let (reader, writer) = std::io::pipe().expect("pipe");
    let mut command = Command::new(env!("CARGO_BIN_EXE_sockloop"));
    command.arg("serve");
    for service in ["echo", "greet", "login", "command", "udp-log"] {
        command.args([&format!("--{service}"), "127.0.0.1:0"]);
    }
    command.args(["--udp-echo", "off"]);
    if is_root() {
        command.arg("--allow-root");
    }
    let mut child = command
        .env("RUST_LOG", level)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(writer)
        .spawn()
        .expect("spawn sockloop");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut addrs = HashMap::new();
    while addrs.len() < 5 {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).expect("read") > 0,
            "no listening lines"
        );
        let words: Vec<&str> = line.split_whitespace().collect();
        addrs.insert(words[1].to_owned(), words[3].parse().expect("address"));
    }
    Unread {
        child,
        addrs,
        reader: Some(reader),
    }
}

/// stderr on a pipe that is never read, then a udp-log flood of the
/// largest datagrams from 100 addresses: far more log than the pipe holds.
/// Every TCP service still answers (each exchange bounded by IO_TIMEOUT),
/// and SIGTERM still ends the process: the exit waits for the log writer
/// for a bounded time only.
#[test]
fn an_unread_stderr_and_a_udp_log_flood_do_not_stop_the_services() {
    let mut server = start_unread("info");
    let udp_log = server.addrs["udp-log"];
    let big = vec![0xffu8; 65_507];
    for host in 2..102u8 {
        let socket =
            UdpSocket::bind(SocketAddr::from(([127, 0, 0, host], 0))).expect("bind 127.0.0.N");
        for _ in 0..10 {
            // A full local queue loses the datagram, as UDP may.
            let _ = socket.send_to(&big, udp_log);
        }
    }
    // The flood is in the server's queue or handled: the services answer.
    let mut echo = connect(server.addrs["echo"]);
    exchange(&mut echo, b"still here\n", b"still here\n");
    let mut greet = connect(server.addrs["greet"]);
    exchange(&mut greet, b"Ada\n", b"Hi Ada\n");
    let mut login = connect(server.addrs["login"]);
    send(&mut login, b"admin\n");
    exchange(
        &mut login,
        b"12345\n",
        b"hello admin, welcome to the server\n",
    );
    let mut command = connect(server.addrs["command"]);
    exchange(
        &mut command,
        b"x\n",
        b"ERR unknown command (use R, T, L or E)\n",
    );

    // SAFETY: kill(2) on our own child, not yet reaped.
    unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + IO_TIMEOUT;
    while server.child.try_wait().expect("try_wait").is_none() {
        assert!(Instant::now() < deadline, "the server did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The log writer falls behind (stderr unread, 3,000 connections logged at
/// debug: more lines than the pipe and the queue hold), so lines are
/// dropped and counted; once stderr is read again, the writer says how
/// many were suppressed, and the summary counts them.
#[test]
fn lines_dropped_while_the_writer_is_behind_are_counted_and_reported() {
    let mut server = start_unread("debug");
    let echo = server.addrs["echo"];
    for _ in 0..3000 {
        let mut s = connect(echo);
        exchange(&mut s, b"x\n", b"x\n");
    }
    // Now read stderr, on a thread, to its end.
    let reader = server.reader.take().expect("the pipe");
    let log = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut { reader }, &mut text);
        text
    });
    // SAFETY: kill(2) on our own child, not yet reaped.
    unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + IO_TIMEOUT;
    while server.child.try_wait().expect("try_wait").is_none() {
        assert!(Instant::now() < deadline, "the server did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
    let text = log.join().expect("the reader thread");
    assert!(
        text.contains("log lines suppressed (the log writer fell behind)"),
        "{text}"
    );
    let dropped = summary_count(&text, "log lines dropped");
    assert!(dropped > 0, "nothing dropped:\n{text}");
}
