//! UDP at the edges: empty and maximum-size datagrams, a burst of 10,000
//! datagrams (replies may be dropped, but the loop must not stall), and the
//! echo-storm guard against small-service source ports and sockloop's own
//! UDP ports, checked through the `guarded` counter of the summary line.

mod common;

use common::*;
use rand::{Rng, RngExt};
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};

/// The largest UDP payload over IPv4.
const MAX_DATAGRAM: usize = 65_507;
/// Datagrams in the burst.
const BURST: usize = 10_000;

/// Sends `datagram` from `socket` to `to` (again until answered: after the
/// burst, the server's receive queue may still be full and drop it) and
/// asserts it comes back whole from `to`. A late duplicate may follow, so
/// each call takes a socket of its own.
#[track_caller]
fn assert_echoed(socket: &UdpSocket, to: SocketAddr, datagram: &[u8]) {
    let (reply, from) = udp_exchange(socket, to, datagram);
    assert_eq!((from, reply.len()), (to, datagram.len()));
    assert!(reply == datagram, "{}-byte datagram changed", reply.len());
}

/// A zero-length and a 65,507-byte datagram are echoed whole (and logged
/// by udp-log); then 10,000 datagrams of random sizes (0..=1,472 bytes)
/// are fired at udp-echo and 2,000 at udp-log without reading a reply. The
/// server keeps up or drops, never stalls: a datagram sent afterwards from
/// a fresh socket is answered, and every service still serves.
#[test]
fn extreme_sizes_and_a_burst_do_not_stall_udp() {
    let server = Server::start(&[]);
    assert_echoed(&udp_socket(), server.udp_echo(), b"");
    let mut rng = seeded_rng("udp-burst");
    let mut big = vec![0u8; MAX_DATAGRAM];
    rng.fill_bytes(&mut big);
    assert_echoed(&udp_socket(), server.udp_echo(), &big);
    let socket = udp_socket();
    socket.send_to(b"", server.udp_log()).unwrap();
    server.wait_for_log(&format!("from {}: 0 bytes: ", socket.local_addr().unwrap()));
    socket.send_to(&big, server.udp_log()).unwrap();
    server.wait_for_log(&format!(
        "from {}: {MAX_DATAGRAM} bytes: ",
        socket.local_addr().unwrap()
    ));

    let burst = udp_socket();
    let mut payload = [0u8; 1472];
    for i in 0..BURST + 2_000 {
        let to = if i < BURST {
            server.udp_echo()
        } else {
            server.udp_log()
        };
        let len = rng.random_range(0..=payload.len());
        rng.fill_bytes(&mut payload[..len]);
        match burst.send_to(&payload[..len], to) {
            Ok(_) => {}
            // The local queue is full: the datagram is lost, as UDP allows.
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => panic!("burst datagram {i}: {e}"),
        }
    }
    assert_echoed(&udp_socket(), server.udp_echo(), b"after the burst");
    // The server answers its queue in order, so the burst datagrams it
    // received were echoed before that reply: their echoes wait, unread, on
    // the burst socket. One shows the burst reached the server.
    burst.set_nonblocking(true).unwrap();
    let echoed = burst.recv_from(&mut payload);
    assert!(echoed.is_ok(), "no echo of the burst: {echoed:?}");
    server.assert_serving(DEFAULT_LOGIN);

    let exit = server.terminate();
    exit.assert_success();
    let received = summary_count(&exit.stderr, "datagrams in");
    eprintln!("udp burst: server received {received} datagrams");
}

/// Binds `port` on 127.0.0.1, or `None` without the privilege.
fn bind_privileged(port: u16) -> Option<UdpSocket> {
    match UdpSocket::bind(("127.0.0.1", port)) {
        Ok(s) => Some(s),
        Err(e) if matches!(e.kind(), ErrorKind::PermissionDenied | ErrorKind::AddrInUse) => {
            eprintln!("cannot bind UDP port {port}: {e}");
            None
        }
        Err(e) => panic!("bind UDP port {port}: {e}"),
    }
}

/// A socket on the same address as the server's udp-log socket (both use
/// SO_REUSEPORT), so its datagrams come "from" sockloop's own UDP port.
fn bind_beside(addr: SocketAddr) -> UdpSocket {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
    socket.set_reuse_port(true).unwrap();
    socket.bind(&addr.into()).unwrap();
    socket.into()
}

/// The loop guard: datagrams from source ports 7 and 19 (to udp-echo and
/// udp-log) and from sockloop's own udp-log port (to udp-echo) are dropped
/// and counted as `guarded`; none is echoed or logged; ordinary datagrams
/// sent after them are served. Ports 7 and 19 need root: without it only
/// the own-port case runs.
#[test]
fn loop_guard_drops_small_service_and_own_port_sources() {
    let server = Server::builder().args(&["--reuse-port"]).spawn();
    let small_service: Vec<UdpSocket> = [7, 19].into_iter().filter_map(bind_privileged).collect();
    for s in &small_service {
        s.send_to(b"storm?", server.udp_echo()).unwrap();
        s.send_to(b"storm-log?", server.udp_log()).unwrap();
    }
    // Each socket handles its datagrams in arrival order: once the probes
    // (an echo, a logged datagram) are answered, the guarded ones sent
    // before them have been dealt with.
    server.assert_serving(DEFAULT_LOGIN);

    // Only now join udp-log's address: while this socket shares it, the
    // kernel may deliver datagrams meant for udp-log to it instead.
    let own_port = bind_beside(server.udp_log());
    own_port.send_to(b"storm-own?", server.udp_echo()).unwrap();
    assert_echoed(&udp_socket(), server.udp_echo(), b"normal");

    let mut buf = [0u8; 64];
    for s in small_service.iter().chain([&own_port]) {
        s.set_nonblocking(true).unwrap();
        match s.recv_from(&mut buf) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            other => panic!("a guarded source got a reply: {other:?}"),
        }
    }
    drop(own_port);
    server.assert_serving(DEFAULT_LOGIN);
    let exit = server.terminate();
    exit.assert_success();
    assert!(!exit.stderr.contains("storm"), "{}", exit.stderr);
    let sent = 2 * small_service.len() as u64 + 1;
    assert_eq!(
        summary_count(&exit.stderr, "guarded"),
        sent,
        "{}",
        exit.stderr
    );
}
