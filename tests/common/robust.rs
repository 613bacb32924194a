//! Helpers for the robustness suites (`tests/robustness_*.rs`): counting the
//! server's open sockets, proving that every service still serves after an
//! attack, and reading the counters of the SIGTERM summary line.
//!
//! "Still serving" is always shown the same way, by [`Server::assert_serving`]:
//! a fresh connection (or datagram, sent again until answered: UDP may drop
//! it) per enabled service with an exact-byte exchange, closed cleanly so it
//! leaves nothing open behind it.

use super::server::Server;
use super::{IO_TIMEOUT, UDP_RESEND, connect, exchange, expect_closed, read_to_end, send, show};
use std::io::ErrorKind;
use std::net::{Shutdown, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The tutorial's default login, valid unless a test passes `--user`.
pub const DEFAULT_LOGIN: (&str, &str) = ("admin", "12345");

/// Numbers the udp-log probes so each one's log line is unique.
static NEXT_PROBE: AtomicU32 = AtomicU32::new(0);

impl Server {
    /// How many sockets the server has open (links `socket:[..]` in
    /// /proc/PID/fd): its listeners, UDP sockets and signal pipe, plus one
    /// per TCP connection it still holds.
    pub fn open_sockets(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .expect("read /proc/PID/fd")
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter(|target| target.to_string_lossy().starts_with("socket:"))
            .count()
    }

    /// Waits (polling, up to [`IO_TIMEOUT`]) until the server holds exactly
    /// `want` sockets, i.e. it has closed every connection beyond its
    /// baseline. A server-initiated close lingers after the client's EOF, so
    /// there is no reply to wait on: this polls against a deadline.
    #[track_caller]
    pub fn wait_for_open_sockets(&self, want: usize) {
        let deadline = Instant::now() + IO_TIMEOUT;
        loop {
            let now_open = self.open_sockets();
            if now_open == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "server still has {now_open} sockets open, want {want}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A fresh exact-byte exchange on every enabled service; each TCP
    /// connection is then half-closed and read to the server's EOF, so the
    /// server has closed it (reason `peer`) before this returns.
    #[track_caller]
    pub fn assert_serving(&self, login: (&str, &str)) {
        if self.addrs.contains_key("echo") {
            let mut s = connect(self.echo());
            exchange(&mut s, b"probe \x00\xff\r\n", b"probe \x00\xff\r\n");
            close_cleanly(s);
        }
        if self.addrs.contains_key("greet") {
            let mut s = connect(self.greet());
            exchange(&mut s, b"probe\n", b"Hi probe\n");
            close_cleanly(s);
        }
        if self.addrs.contains_key("login") {
            let (user, password) = login;
            let mut s = connect(self.login());
            send(&mut s, format!("{user}\n").as_bytes());
            let welcome = format!("hello {user}, welcome to the server\n");
            exchange(
                &mut s,
                format!("{password}\n").as_bytes(),
                welcome.as_bytes(),
            );
            exchange(&mut s, b"x\n", b"ERR unknown command (use R, T, L or E)\n");
            close_cleanly(s);
        }
        if self.addrs.contains_key("command") {
            let mut s = connect(self.command());
            exchange(
                &mut s,
                b"probe\n",
                b"ERR unknown command (use R, T, L or E)\n",
            );
            close_cleanly(s);
        }
        if self.addrs.contains_key("udp-echo") {
            let (reply, from) = udp_exchange(&udp_socket(), self.udp_echo(), b"udp probe");
            assert_eq!((from, show(&reply)), (self.udp_echo(), "udp probe".into()));
        }
        if self.addrs.contains_key("udp-log") {
            let n = NEXT_PROBE.fetch_add(1, Ordering::Relaxed);
            let payload = format!("udp-log-probe-{}-{n}", std::process::id());
            let socket = udp_socket();
            self.wait_for_log_resending(&payload, || {
                socket.send_to(payload.as_bytes(), self.udp_log()).unwrap();
            });
        }
    }
}

/// Sends `datagram` from `socket` to `to` and returns the first reply and
/// its source, sending again every [`UDP_RESEND`] until one arrives (UDP may
/// drop either). Panics after [`IO_TIMEOUT`]. A late duplicate reply may
/// still arrive afterwards, so use `socket` for nothing else.
#[track_caller]
pub fn udp_exchange(socket: &UdpSocket, to: SocketAddr, datagram: &[u8]) -> (Vec<u8>, SocketAddr) {
    let mut buf = vec![0u8; 65_536];
    socket.set_read_timeout(Some(UDP_RESEND)).unwrap();
    let deadline = Instant::now() + IO_TIMEOUT;
    while Instant::now() < deadline {
        socket.send_to(datagram, to).unwrap();
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                socket.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
                return (buf[..n].to_vec(), from);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(e) => panic!("recv reply to {} bytes: {e}", datagram.len()),
        }
    }
    panic!("no reply to {} bytes from {to}", datagram.len());
}

/// A loopback UDP socket with the test IO timeout.
pub fn udp_socket() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    socket
}

/// Half-closes and asserts the server answers with a clean EOF and nothing
/// else.
#[track_caller]
pub fn close_cleanly(mut stream: std::net::TcpStream) {
    stream.shutdown(Shutdown::Write).unwrap();
    expect_closed(&mut stream);
}

/// Reads to EOF and asserts the whole stream was exactly `expected`.
#[track_caller]
pub fn expect_rest(stream: &mut std::net::TcpStream, expected: &[u8]) {
    assert_eq!(show(&read_to_end(stream)), show(expected));
}

/// One counter of the `shutdown complete: ...` summary line, e.g.
/// `summary_count(&stderr, "refused full")`, `"idle"`, `"guarded"`. The
/// label is matched as a whole word followed by a space and a number.
#[track_caller]
pub fn summary_count(stderr: &str, label: &str) -> u64 {
    let line = stderr
        .lines()
        .find_map(|l| l.split_once("shutdown complete: ").map(|(_, s)| s))
        .unwrap_or_else(|| panic!("no summary line in stderr:\n{stderr}"));
    let words: Vec<&str> = line
        .split(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | ',' | ';' | ':'))
        .filter(|w| !w.is_empty())
        .collect();
    let label: Vec<&str> = label.split(' ').collect();
    words
        .windows(label.len() + 1)
        .find(|w| w[..label.len()] == label[..] && w[label.len()].parse::<u64>().is_ok())
        .map(|w| w[label.len()].parse().unwrap())
        .unwrap_or_else(|| panic!("no counter {label:?} in summary {line:?}"))
}

/// Asserts from the summary that the server held no connection when it was
/// told to stop: nothing was closed for `shutdown`, and every accepted
/// connection was closed for some other reason.
#[track_caller]
pub fn assert_no_conns_at_shutdown(stderr: &str) {
    let reasons = [
        "bye",
        "too_many_failures",
        "line_too_long",
        "peer",
        "idle",
        "slow_reader",
        "send_timeout",
        "error",
        "shutdown",
    ];
    let closed: u64 = reasons.iter().map(|r| summary_count(stderr, r)).sum();
    assert_eq!(summary_count(stderr, "shutdown"), 0, "{stderr}");
    assert_eq!(closed, summary_count(stderr, "served"), "{stderr}");
}
