//! Slow clients: a hundred echo clients that send and never read (the
//! server must stop reading them instead of buffering, so its memory stays
//! bounded), and slowloris clients that drip a line one byte at a time
//! (the idle timeout counts only complete requests, so they are closed).
//! In both cases other clients keep being served throughout.

mod common;

use common::*;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Slow readers on echo.
const SLOW_READERS: usize = 100;
/// Bytes each slow reader tries to send: well above what the kernel buffers
/// of one loopback connection absorb (measured: about 4.4 MiB, mostly the
/// server's autotuned send buffer, up to tcp_wmem's 4 MiB), so each client
/// ends up blocked by the server's backpressure.
const SLOW_READER_BUDGET: usize = 8 << 20;
/// The server may hold at most the output cap (64 KiB) plus one read chunk
/// (64 KiB) per connection, i.e. 12.5 MiB for 100 clients; allow twice that
/// for allocator slack (measured: about 11 MiB). Without backpressure it
/// would hold all the echo data the kernel did not take: up to 400 MiB.
const RSS_GROWTH_LIMIT_KIB: u64 = 25 * 1024;

/// 100 clients send up to 8 MiB each to echo and never read. Each is
/// stopped by backpressure (its writes block), the server's RSS grows by
/// less than 25 MiB, every service answers a fresh client while all 100 are
/// still connected, and once they reset, the server holds no connection.
#[test]
fn hundred_slow_readers_keep_memory_bounded_and_others_served() {
    let server = Server::builder().args(&["--max-conns", "1000"]).spawn();
    let baseline = server.open_sockets();
    server.assert_serving(DEFAULT_LOGIN);
    let rss_before = server.rss_kib();

    let echo = server.echo();
    let readers: Vec<_> = (0..SLOW_READERS)
        .map(|_| {
            std::thread::spawn(move || {
                let mut s = connect_small_buffers(echo);
                let sent = flood(&mut s, SLOW_READER_BUDGET, |_| b'z');
                (s, sent)
            })
        })
        .collect();
    let readers: Vec<(TcpStream, usize)> = readers.into_iter().map(|t| t.join().unwrap()).collect();
    let blocked = readers
        .iter()
        .filter(|(_, sent)| *sent < SLOW_READER_BUDGET)
        .count();
    let total: usize = readers.iter().map(|(_, sent)| sent).sum();
    let rss_after = server.rss_kib();
    eprintln!(
        "slow readers: {blocked}/{SLOW_READERS} blocked, {} KiB sent in total, \
         server RSS {rss_before} -> {rss_after} KiB",
        total / 1024
    );
    // Every client must have been stopped by backpressure, or the RSS bound
    // below would prove nothing.
    assert_eq!(blocked, SLOW_READERS, "clients not blocked by backpressure");
    assert!(
        rss_after.saturating_sub(rss_before) < RSS_GROWTH_LIMIT_KIB,
        "RSS grew from {rss_before} to {rss_after} KiB"
    );
    assert_eq!(server.open_sockets(), baseline + SLOW_READERS);
    server.assert_serving(DEFAULT_LOGIN);

    // Abort them all (RST: they hold unread data) and check nothing leaks.
    drop(readers);
    server.wait_for_open_sockets(baseline);
    server.assert_serving(DEFAULT_LOGIN);
    let exit = server.terminate();
    exit.assert_success();
    assert_no_conns_at_shutdown(&exit.stderr);
}

/// The pace of a slowloris client.
const DRIP_INTERVAL: Duration = Duration::from_millis(100);
/// Bound on one slowloris client: 10 s of dripping, 20 idle timeouts.
const MAX_DRIPS: usize = 100;

/// Sends one byte per [`DRIP_INTERVAL`], never a newline, until the server
/// closes. The pace comes from a read timeout, which also notices the
/// server's EOF at once. Panics on any reply, or if never closed.
fn drip_until_closed(mut stream: TcpStream) {
    stream.set_read_timeout(Some(DRIP_INTERVAL)).unwrap();
    let mut buf = [0u8; 256];
    for _ in 0..MAX_DRIPS {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => panic!("slowloris got a reply: {:?}", show(&buf[..n])),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("slowloris read: {e}"),
        }
        // The server may have closed since the read; then this write still
        // succeeds locally (or fails), and the next read reports the EOF
        // that arrived before it.
        let _ = stream.write(b"x");
    }
    panic!("slowloris not closed after {MAX_DRIPS} drips");
}

/// `--idle-timeout 0.5`: clients dripping a byte every 100 ms without a
/// newline into greet, a login user line, a login password line and
/// command are each closed (EOF, no reply; counted as `idle`), while a
/// normal client sending a line every 100 ms on the same server is answered
/// throughout and never closed.
#[test]
fn slowloris_drippers_are_closed_by_the_idle_timeout() {
    let server = Server::builder().args(&["--idle-timeout", "0.5"]).spawn();
    let baseline = server.open_sockets();
    let mut drippers = Vec::new();
    for (addr, prefix) in [
        (server.greet(), &b""[..]),
        (server.login(), b""),
        (server.login(), b"admin\n"),
        (server.command(), b""),
    ] {
        let mut s = connect(addr);
        send(&mut s, prefix);
        drippers.push(std::thread::spawn(move || drip_until_closed(s)));
    }

    let mut normal = connect(server.greet());
    let mut i = 0;
    while !drippers.iter().all(|d| d.is_finished()) {
        exchange(
            &mut normal,
            format!("n{i}\n").as_bytes(),
            format!("Hi n{i}\n").as_bytes(),
        );
        i += 1;
        // Paces the normal client only; nothing waits on it.
        std::thread::sleep(DRIP_INTERVAL);
    }
    for d in drippers {
        d.join().unwrap();
    }
    exchange(&mut normal, b"last\n", b"Hi last\n");
    close_cleanly(normal);

    server.wait_for_open_sockets(baseline);
    server.assert_serving(DEFAULT_LOGIN);
    let exit = server.terminate();
    exit.assert_success();
    assert_eq!(summary_count(&exit.stderr, "idle"), 4, "{}", exit.stderr);
    assert_no_conns_at_shutdown(&exit.stderr);
}
