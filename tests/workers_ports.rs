//! `serve --workers N` and its ports: a port in use is refused exactly as
//! without workers (one error line naming the service and address, nothing
//! started, exit status 1), for TCP and UDP listeners, whichever of the two
//! servers has workers; and the workers do share the port they bound.

mod common;

use common::*;
use std::net::{SocketAddr, UdpSocket};

/// The two services these tests hold: one TCP listener, one UDP socket.
const HELD: [&str; 2] = ["echo", "udp-echo"];

/// Starts `sockloop serve --workers WORKERS` with only `service` on `addr`
/// and expects it to refuse: exit status 1, no `listening` line, and one
/// error line, naming the service and the address in use.
#[track_caller]
fn expect_port_in_use(workers: &str, service: &str, addr: SocketAddr) {
    let exited = Server::builder()
        .only(&[service])
        .service(service, &addr.to_string())
        .args(&["--workers", workers])
        .run_to_exit();
    let context = format!("--workers {workers} --{service} {addr}: {exited:?}");
    assert_eq!(exited.status.code(), Some(1), "{context}");
    assert_eq!(exited.stdout, "", "nothing may start: {context}");
    let proto = if service.starts_with("udp-") {
        "udp"
    } else {
        "tcp"
    };
    let errors: Vec<&str> = exited
        .stderr
        .lines()
        .filter(|l| l.contains("error"))
        .collect();
    assert_eq!(
        errors,
        [format!(
            "sockloop: error: cannot listen for {service} on {proto} {addr}: \
             Address already in use (os error 98)"
        )],
        "{context}"
    );
}

/// Sends `datagram` from a fresh socket (a new source port) and asserts it
/// comes back whole from `to`.
#[track_caller]
fn assert_echoed(to: SocketAddr, datagram: &[u8]) {
    let socket: UdpSocket = udp_socket();
    socket.send_to(datagram, to).unwrap();
    let mut buf = [0u8; 256];
    let (n, from) = socket
        .recv_from(&mut buf)
        .unwrap_or_else(|e| panic!("no echo of {:?}: {e}", show(datagram)));
    assert_eq!((from, show(&buf[..n])), (to, show(datagram)));
}

/// The holder still serves both services after the refused starts.
#[track_caller]
fn assert_still_serving(holder: &Server) {
    let mut s = connect(holder.echo());
    exchange(&mut s, b"still mine\n", b"still mine\n");
    close_cleanly(s);
    assert_echoed(holder.udp_echo(), b"still mine");
}

/// A server WITH workers holds a TCP and a UDP port: a second start on
/// either, with or without workers, is refused. Before the fix, SO_REUSEPORT
/// let a second `--workers` server join the port and run.
#[test]
fn a_port_held_by_workers_is_refused_with_and_without_workers() {
    let holder = Server::builder()
        .only(&HELD)
        .args(&["--workers", "2"])
        .spawn();
    for service in HELD {
        for workers in ["1", "2"] {
            expect_port_in_use(workers, service, holder.addr(service));
        }
    }
    assert_still_serving(&holder);
    holder.terminate().assert_success();
}

/// A server WITHOUT workers holds a TCP and a UDP port: a second start on
/// either, with or without workers, is refused by the parent, before any
/// worker starts.
#[test]
fn a_port_held_by_one_process_is_refused_with_and_without_workers() {
    let holder = Server::builder().only(&HELD).spawn();
    for service in HELD {
        for workers in ["1", "2"] {
            expect_port_in_use(workers, service, holder.addr(service));
        }
    }
    assert_still_serving(&holder);
    holder.terminate().assert_success();
}

/// The counter `label` in worker `index`'s own shutdown summary.
#[track_caller]
fn worker_count(stderr: &str, index: usize, label: &str) -> u64 {
    let tag = format!(" w{index} ");
    let own: String = stderr
        .lines()
        .filter(|l| l.contains(&tag))
        .map(|l| format!("{l}\n"))
        .collect();
    summary_count(&own, label)
}

/// With port 0, the parent's first bind picks the port and the second
/// worker's socket joins it: 40 TCP connections and 40 UDP sources (each
/// from its own port, so the kernel's hash spreads them) are all answered,
/// and each worker served some of both. A worker left out of the port would
/// serve none (the chance that hashing alone gives one worker none of 40 is
/// 2^-39).
#[test]
fn both_workers_serve_the_port_the_parent_bound() {
    const CLIENTS: usize = 40;
    let server = Server::builder()
        .only(&HELD)
        .args(&["--workers", "2"])
        .spawn();
    for i in 0..CLIENTS {
        let line = format!("conn {i}\n");
        let mut s = connect(server.echo());
        exchange(&mut s, line.as_bytes(), line.as_bytes());
        close_cleanly(s);
        assert_echoed(server.udp_echo(), line.as_bytes());
    }
    let exited = server.terminate();
    exited.assert_success();
    for index in 0..2 {
        let conns = worker_count(&exited.stderr, index, "served");
        let datagrams = worker_count(&exited.stderr, index, "datagrams in");
        assert!(
            conns > 0 && datagrams > 0,
            "worker {index} served {conns} connections, {datagrams} datagrams:\n{}",
            exited.stderr
        );
    }
    assert_eq!(summary_count_all(&exited.stderr, "served"), CLIENTS as u64);
}

/// The counter `label` summed over the workers' shutdown summaries.
#[track_caller]
fn summary_count_all(stderr: &str, label: &str) -> u64 {
    (0..2).map(|index| worker_count(stderr, index, label)).sum()
}
