//! The UDP loop guard (issue 19, item 4). Before, one forged datagram
//! between two sockloop servers on ordinary ports bounced 29,177 times each
//! way in 2 s, and datagrams from ports 53, 123, 161, 17 and 2049 were
//! echoed. Now every source port below 1024, and 2049, is dropped on IPv4
//! and IPv6, and a peer that sends back what we sent it is cut off after a
//! few bounces; every drop is counted by its reason.
//!
//! Forging a source address needs a raw socket, and binding a port below
//! 1024 needs root: without the privilege these tests say SKIPPED (CI runs
//! as root).

mod common;

use common::*;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// Sends one UDP datagram to `to` (IPv4 loopback) that claims to come from
/// 127.0.0.1:`from_port`, through a raw socket; `false` without the
/// privilege.
fn forge(from_port: u16, to: SocketAddr, payload: &[u8]) -> bool {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = match Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::UDP)) {
        Ok(s) => s,
        Err(e) if e.kind() == ErrorKind::PermissionDenied => return false,
        Err(e) => panic!("raw socket: {e}"),
    };
    // The UDP header (the kernel adds the IP one): ports, length, and a
    // zero checksum, which IPv4 reads as "none".
    let mut datagram = Vec::with_capacity(8 + payload.len());
    datagram.extend_from_slice(&from_port.to_be_bytes());
    datagram.extend_from_slice(&to.port().to_be_bytes());
    datagram.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
    datagram.extend_from_slice(&[0, 0]);
    datagram.extend_from_slice(payload);
    let ip = SocketAddr::new(to.ip(), 0);
    socket
        .send_to(&datagram, &ip.into())
        .expect("send the forged datagram");
    true
}

/// Two servers' udp-echo, each a separate process on its own port, and one
/// forged datagram from B's port to A: a loop. It ends after a few bounces
/// (one server drops a repeat of its own reply, counted as
/// `loop_per_source`), and each server received at most a handful.
#[test]
fn a_forged_datagram_between_two_echo_servers_stops_bouncing() {
    let spawn = || {
        Server::builder()
            .only(&["udp-echo"])
            .log("info,sockloop::server::udp=trace")
            .spawn()
    };
    let (a, b) = (spawn(), spawn());
    if !forge(b.udp_echo().port(), a.udp_echo(), b"loop?") {
        eprintln!("SKIPPED a_forged_datagram_between_two_echo_servers: no raw socket (needs root)");
        return;
    }
    let deadline = Instant::now() + IO_TIMEOUT;
    let dropped = "dropped (loop_per_source)";
    while !a.stderr().contains(dropped) && !b.stderr().contains(dropped) {
        assert!(Instant::now() < deadline, "the loop never stopped");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Over: neither receives any more. Both still serve.
    a.assert_serving(DEFAULT_LOGIN);
    b.assert_serving(DEFAULT_LOGIN);
    for server in [a, b] {
        let exit = server.terminate();
        let received = summary_count(&exit.stderr, "datagrams in");
        // The forged one, 9 answered bounces, the dropped one, the probe.
        assert!(received <= 12, "{received} received:\n{}", exit.stderr);
    }
}

/// Binds `port` on `ip`, or `None` without the privilege (or if taken).
fn bind_privileged(ip: &str, port: u16) -> Option<UdpSocket> {
    match UdpSocket::bind((ip, port)) {
        Ok(s) => Some(s),
        Err(e) if matches!(e.kind(), ErrorKind::PermissionDenied | ErrorKind::AddrInUse) => {
            eprintln!("cannot bind UDP {ip} port {port}: {e}");
            None
        }
        // No IPv6 on this machine.
        Err(e) if e.kind() == ErrorKind::AddrNotAvailable => None,
        Err(e) => panic!("bind UDP {ip} port {port}: {e}"),
    }
}

/// Datagrams from the reflection ports of the report (DNS 53, NTP 123,
/// SNMP 161, QOTD 17, 1023, NFS 2049), on IPv4 and IPv6, are neither
/// echoed nor logged; each is counted as `source_port`. Ports 1024 and
/// above (but 2049) are served.
#[test]
fn privileged_and_nfs_source_ports_are_dropped_on_ipv4_and_ipv6() {
    let v6 = std::net::TcpListener::bind("[::1]:0").is_ok();
    let mut builder = Server::builder().only(&["udp-echo", "udp-log"]);
    if v6 {
        builder = builder
            .service("udp-echo", "[::1]:0")
            .service("udp-log", "[::1]:0");
    }
    let server = builder.spawn();
    let ip = if v6 { "::1" } else { "127.0.0.1" };
    let sources: Vec<UdpSocket> = [53, 123, 161, 17, 1023, 2049]
        .into_iter()
        .filter_map(|port| bind_privileged(ip, port))
        .collect();
    if sources.len() < 2 {
        eprintln!("SKIPPED privileged_and_nfs_source_ports: cannot bind them (needs root)");
        return;
    }
    for s in &sources {
        s.send_to(b"reflect?", server.udp_echo()).unwrap();
        s.send_to(b"reflect-log?", server.udp_log()).unwrap();
    }
    // Each socket serves its datagrams in order: once a normal one is
    // answered (and logged), the forged ones before it were dealt with.
    let normal = UdpSocket::bind((ip, 0)).unwrap();
    normal.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    normal.send_to(b"normal", server.udp_echo()).unwrap();
    let mut buf = [0u8; 64];
    let (n, _) = normal
        .recv_from(&mut buf)
        .expect("a normal datagram is echoed");
    assert_eq!(&buf[..n], b"normal");
    normal.send_to(b"normal-log", server.udp_log()).unwrap();
    server.wait_for_log("bytes: normal-log");
    for s in &sources {
        s.set_nonblocking(true).unwrap();
        match s.recv_from(&mut buf) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            other => panic!("a reflection port got a reply: {other:?}"),
        }
    }
    let exit = server.terminate();
    assert!(!exit.stderr.contains("reflect"), "{}", exit.stderr);
    let sent = 2 * sources.len() as u64;
    assert_eq!(
        summary_count(&exit.stderr, "guarded"),
        sent,
        "{}",
        exit.stderr
    );
}
