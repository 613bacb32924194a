//! UDP in batches (`recvmmsg`/`sendmmsg`) and the kernel's drops, against
//! the real server.
//!
//! To make the server find many datagrams queued at once, each test stops
//! it (SIGSTOP, then waits until /proc says it is stopped), sends, and lets
//! it go on (SIGCONT): its next `recvmmsg` finds them all waiting. The test
//! thread runs on one CPU, so loopback hands its datagrams to the server's
//! socket in the order they were sent (each goes through the sending CPU's
//! backlog): once a datagram sent last is answered, every one before it was
//! queued or dropped.

mod common;

use common::*;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::time::Instant;

/// The largest UDP payload over IPv4.
const MAX_DATAGRAM: usize = 65_507;

/// A loopback socket with the test timeout and room for every reply a test
/// expects (the default 208 KiB holds only a few 64 KiB datagrams).
fn roomy_socket() -> UdpSocket {
    let socket = udp_socket();
    socket2::SockRef::from(&socket)
        .set_recv_buffer_size(4 << 20)
        .unwrap();
    socket
}

/// Runs the calling thread on the CPU it is on now (see the module doc).
fn pin_to_current_cpu() {
    // SAFETY: sched_getcpu only reads; sched_setaffinity reads the set (a
    // zeroed cpu_set_t is empty) and applies it to the calling thread.
    unsafe {
        let cpu = libc::sched_getcpu();
        assert!(cpu >= 0, "sched_getcpu failed");
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu as usize, &mut set);
        let r = libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        assert_eq!(r, 0, "sched_setaffinity failed");
    }
}

/// The sizes of the server's `recvmmsg` batches on udp-echo, from its trace.
fn batch_sizes(stderr: &str) -> Vec<usize> {
    stderr
        .lines()
        .filter(|l| l.contains("recvmmsg #") && l.contains("udp-echo: "))
        .filter_map(|l| {
            l.rsplit_once("udp-echo: ")?
                .1
                .strip_suffix(" datagrams")?
                .parse()
                .ok()
        })
        .collect()
}

/// Receives one reply on `socket` and asserts it is `want` from `from`.
#[track_caller]
fn expect_reply(socket: &UdpSocket, from: SocketAddr, want: &[u8]) {
    let mut buf = vec![0u8; 65_536];
    let (n, source) = socket
        .recv_from(&mut buf)
        .unwrap_or_else(|e| panic!("no reply of {} bytes: {e}", want.len()));
    assert_eq!((source, n), (from, want.len()));
    assert!(buf[..n] == *want, "a {n}-byte reply changed");
}

/// Asserts nothing waits on `socket` (it got no reply).
#[track_caller]
fn expect_nothing(socket: &UdpSocket) {
    socket.set_nonblocking(true).unwrap();
    match socket.recv_from(&mut [0u8; 64]) {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("a guarded source got a reply: {other:?}"),
    }
}

/// One batch holds, in this order, an empty datagram, one from port 7, the
/// largest datagram, one from sockloop's own udp-log port, a 1-byte one,
/// one from port 19, and another largest one: each is judged on its own.
/// The ordinary ones come back whole, in order, to their senders; the
/// guarded ones get nothing and are counted, exactly. (Ports 7 and 19 need
/// root: without it only the own-port case runs.)
#[test]
fn a_batch_mixes_guarded_sources_empty_and_largest_datagrams() {
    let server = Server::builder()
        .only(&["udp-echo", "udp-log"])
        .args(&["--reuse-port"])
        .log("sockloop=trace")
        .spawn();
    let echo = server.udp_echo();
    let (a, b) = (roomy_socket(), roomy_socket());
    let small_service: Vec<UdpSocket> = [7, 19]
        .into_iter()
        .filter_map(|port| match UdpSocket::bind(("127.0.0.1", port)) {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("cannot bind UDP port {port}: {e}");
                None
            }
        })
        .collect();
    let own_port = {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
        s.set_reuse_port(true).unwrap();
        s.bind(&server.udp_log().into()).unwrap();
        UdpSocket::from(s)
    };
    let big_a: Vec<u8> = (0..MAX_DATAGRAM).map(|i| (i % 253) as u8).collect();
    let big_b: Vec<u8> = (0..MAX_DATAGRAM).map(|i| (i % 241) as u8).collect();

    pin_to_current_cpu();
    server.pause();
    a.send_to(b"", echo).unwrap();
    if let Some(s) = small_service.first() {
        s.send_to(b"storm-7", echo).unwrap();
    }
    a.send_to(&big_a, echo).unwrap();
    own_port.send_to(b"storm-own", echo).unwrap();
    b.send_to(b"x", echo).unwrap();
    if let Some(s) = small_service.get(1) {
        s.send_to(b"storm-19", echo).unwrap();
    }
    b.send_to(&big_b, echo).unwrap();
    server.resume();

    expect_reply(&a, echo, b"");
    expect_reply(&a, echo, &big_a);
    expect_reply(&b, echo, b"x");
    expect_reply(&b, echo, &big_b);
    // The guarded datagrams were handled before b's last reply was sent.
    for s in small_service.iter().chain([&own_port]) {
        expect_nothing(s);
    }
    drop(own_port);
    let exit = server.terminate();
    exit.assert_success();
    let guarded = 1 + small_service.len() as u64;
    assert_eq!(summary_count(&exit.stderr, "guarded"), guarded);
    assert_eq!(summary_count(&exit.stderr, "datagrams in"), 4 + guarded);
    let replies = exit.stderr.matches("send_to #").count();
    assert_eq!(replies, 4, "one reply per ordinary datagram");
    assert_eq!(summary_count(&exit.stderr, "kernel drops"), 0);
    let sizes = batch_sizes(&exit.stderr);
    eprintln!("recvmmsg batches: {sizes:?}");
    assert_eq!(sizes.iter().sum::<usize>() as u64, 4 + guarded, "{sizes:?}");
}

/// 200 datagrams queued at once (over three batches of 64) all come back,
/// whole and in order: a full batch leaves the rest queued with no new edge
/// to announce it, so the server must come back for it by itself.
#[test]
fn a_burst_larger_than_a_batch_is_echoed_in_full() {
    const BURST: u32 = 200;
    let server = Server::builder()
        .only(&["udp-echo"])
        .log("sockloop=trace")
        .spawn();
    let echo = server.udp_echo();
    let client = roomy_socket();
    let datagram = |i: u32| format!("datagram {i:04}").into_bytes();
    pin_to_current_cpu();
    server.pause();
    for i in 0..BURST {
        client.send_to(&datagram(i), echo).unwrap();
    }
    server.resume();
    for i in 0..BURST {
        expect_reply(&client, echo, &datagram(i));
    }
    let exit = server.terminate();
    exit.assert_success();
    assert_eq!(
        summary_count(&exit.stderr, "datagrams in"),
        u64::from(BURST)
    );
    assert_eq!(summary_count(&exit.stderr, "kernel drops"), 0);
    let sizes = batch_sizes(&exit.stderr);
    eprintln!("recvmmsg batches: {sizes:?}");
    assert!(sizes.iter().all(|&n| n <= 64), "over the bound: {sizes:?}");
    assert_eq!(sizes.iter().sum::<usize>(), BURST as usize);
    if sizes.contains(&64) {
        assert!(
            exit.stderr.contains("requeue #0"),
            "a full batch is requeued"
        );
    }
}

/// With the smallest receive buffer (`--udp-buffer 4096`), 200 datagrams of
/// 1,000 bytes sent while the server is stopped overflow its queue. The
/// kernel's drops are counted: on `/metrics`
/// (`sockloop_udp_kernel_drops_total`, read when the scrape is accepted)
/// and in the shutdown summary (`kernel drops`), the same figure; with what
/// was received it accounts for every datagram sent.
#[test]
fn kernel_drops_are_counted_when_the_receive_queue_overflows() {
    const BURST: u64 = 200;
    let server = Server::builder()
        .only(&["udp-echo"])
        .args(&["--udp-buffer", "4096", "--metrics", "127.0.0.1:0"])
        .spawn();
    let metrics = server.metrics_addr();
    let echo = server.udp_echo();
    let client = roomy_socket();
    pin_to_current_cpu();
    server.pause();
    for _ in 0..BURST {
        client.send_to(&[b'x'; 1000], echo).unwrap();
    }
    server.resume();
    // A probe, sent again until answered: once it is, every datagram of
    // the burst was queued or dropped before it, and read.
    let probe = udp_socket();
    probe.set_read_timeout(Some(UDP_RESEND)).unwrap();
    let mut probes = 0;
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        assert!(Instant::now() < deadline, "the probe was never answered");
        probe.send_to(b"probe", echo).unwrap();
        probes += 1;
        match probe.recv_from(&mut [0u8; 16]) {
            Ok((5, _)) => break,
            Ok(other) => panic!("unexpected reply {other:?}"),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("{e}"),
        }
    }
    let live = metric(&scrape(metrics), "sockloop_udp_kernel_drops_total");
    let exit = server.terminate();
    exit.assert_success();
    let (received, drops) = (
        summary_count(&exit.stderr, "datagrams in"),
        summary_count(&exit.stderr, "kernel drops"),
    );
    eprintln!("{received} received, {drops} dropped by the kernel, {probes} probes");
    assert!(
        drops >= BURST / 2,
        "a few KiB hold a few datagrams: {drops}"
    );
    assert_eq!(live, drops, "the live counter already had them all");
    assert_eq!(
        received + drops,
        BURST + probes,
        "each one received or dropped"
    );
    assert!(exit.stderr.contains("kernel drops"), "{}", exit.stderr);
}
