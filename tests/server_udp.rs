//! The datagram services over real sockets: udp-echo returns datagrams
//! whole, udp-log logs them escaped without replying, and the echo-storm
//! guard drops datagrams from small-service ports.

mod common;

use common::*;
use rand::Rng;
use std::net::UdpSocket;

/// A UDP socket on loopback with the test's IO timeout.
fn udp_client() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    socket
}

/// udp-echo sends each datagram back whole: 0, 1, 1000 and 65,507 bytes
/// (the IPv4 maximum).
#[test]
fn udp_echo_returns_whole_datagrams() {
    let server = Server::builder().only(&["udp-echo"]).spawn();
    let socket = udp_client();
    let mut rng = seeded_rng("udp-echo");
    let mut buf = vec![0u8; 70_000];
    for len in [0, 1, 1000, 65_507] {
        let mut datagram = vec![0u8; len];
        rng.fill_bytes(&mut datagram);
        socket.send_to(&datagram, server.udp_echo()).unwrap();
        let (n, from) = socket
            .recv_from(&mut buf)
            .unwrap_or_else(|e| panic!("no reply to {len} bytes: {e}"));
        assert_eq!(from, server.udp_echo());
        assert_eq!(n, len);
        assert!(buf[..n] == datagram[..], "{len}-byte datagram changed");
    }
}

/// udp-log logs each datagram escaped on one stderr line and sends nothing
/// back: a udp-echo round trip sent after it comes back first and alone.
#[test]
fn udp_log_logs_escaped_and_does_not_reply() {
    let server = Server::builder().only(&["udp-echo", "udp-log"]).spawn();
    let socket = udp_client();
    let port = socket.local_addr().unwrap().port();
    socket
        .send_to(b"hi \x00\n\xff\\ there", server.udp_log())
        .unwrap();
    let line = server.wait_for_log("udp-log from ");
    let want = format!("udp-log from 127.0.0.1:{port}: 13 bytes: hi \\x00\\x0a\\xff\\\\ there");
    assert!(
        line.ends_with(&want),
        "log line {line:?}, want suffix {want:?}"
    );
    assert!(line.contains("INFO"), "{line:?}");

    // The server handles one datagram at a time, so any udp-log reply would
    // have been sent before this echo reply.
    socket.send_to(b"ping", server.udp_echo()).unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = socket.recv_from(&mut buf).unwrap();
    assert_eq!((from, &buf[..n]), (server.udp_echo(), &b"ping"[..]));
    socket.set_nonblocking(true).unwrap();
    let extra = socket.recv_from(&mut buf);
    assert!(extra.is_err(), "unexpected datagram {extra:?}");
}

/// The echo-storm guard: a datagram "from" a classic small-service port (7,
/// 19) is dropped, not echoed; one from an ordinary port sent after it is
/// echoed. Skipped when no such port can be bound (needs privileges).
#[test]
fn udp_echo_ignores_small_service_source_ports() {
    let Some(guarded) = [7, 19]
        .iter()
        .find_map(|port| UdpSocket::bind(("127.0.0.1", *port)).ok())
    else {
        eprintln!("skipped: cannot bind UDP port 7 or 19 on 127.0.0.1");
        return;
    };
    let server = Server::builder().only(&["udp-echo"]).spawn();
    guarded.send_to(b"storm?", server.udp_echo()).unwrap();
    // The server handles datagrams in arrival order: once the later one is
    // echoed, the guarded one has been dealt with.
    let socket = udp_client();
    socket.send_to(b"normal", server.udp_echo()).unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = socket.recv_from(&mut buf).unwrap();
    assert_eq!((from, &buf[..n]), (server.udp_echo(), &b"normal"[..]));
    guarded.set_nonblocking(true).unwrap();
    let reply = guarded.recv_from(&mut buf);
    assert!(reply.is_err(), "guarded port got a reply: {reply:?}");
}
