//! `sockloop load` against a server that stops reading, or stops
//! answering (issue 16): the run ends on time, and the report counts each
//! stalled connection under what stalled it, by the generator's own state
//! at the end (requests it could not send: the server stopped reading;
//! all sent and unanswered: it stopped answering). No request is queued
//! behind pending ones, so a connection holds at most one burst's rest.

mod common;

use common::*;
use std::io::Read;
use std::net::TcpListener;
use std::thread;

/// Connections of each run.
const CONNS: usize = 8;

/// A listener whose connections are accepted and then never read
/// (`read` false) or read and discarded (`read` true), until the
/// generator closes them; its address. Their receive buffers are 64 KiB
/// (set on the listener, inherited, and so not autotuned), so that a
/// server that does not read can hold only a little of a burst: the rest
/// stays in the generator's own send queue.
fn black_hole(read: bool) -> std::net::SocketAddr {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(64 * 1024).unwrap();
    socket
        .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    socket.listen(128).unwrap();
    let listener: TcpListener = socket.into();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(CONNS) {
            let Ok(mut stream) = stream else { return };
            if read {
                thread::spawn(move || {
                    let mut buf = vec![0; 65536];
                    while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
                });
            } else {
                held.push(stream);
            }
        }
        // Never read, never closed: held until the test process ends.
        loop {
            thread::park();
        }
    });
    addr
}

/// Runs the generator at `addr`: 64 requests of 64 KiB in flight per
/// connection (a 4 MiB burst, more than the kernel buffers for a server
/// that does not read), a 1 s window, a 0.5 s drain.
fn run(addr: std::net::SocketAddr) -> serde_json::Value {
    let conns = CONNS.to_string();
    let target = addr.to_string();
    let output = load(&[
        "--target",
        &target,
        "-c",
        &conns,
        "--depth",
        "64",
        "--size",
        "65536",
        "-d",
        "1",
        "--drain-timeout",
        "0.5",
    ]);
    report(&output)
}

#[test]
fn a_server_that_stops_reading_stalls_every_connection_as_such() {
    let report = run(black_hole(false));
    let errors = &report["errors"];
    assert_eq!(
        errors["stalled connection: the server stopped reading"], CONNS as u64,
        "{errors}"
    );
    assert!(errors["stalled connection: the server stopped answering"].is_null());
    assert_eq!(report["connections"]["opened"], CONNS as u64);
}

#[test]
fn a_server_that_reads_and_never_answers_stalls_them_as_such() {
    let report = run(black_hole(true));
    let errors = &report["errors"];
    // Reading, it takes every request: nothing stays unsent.
    assert_eq!(
        errors["stalled connection: the server stopped answering"], CONNS as u64,
        "{errors}"
    );
    assert!(errors["stalled connection: the server stopped reading"].is_null());
}
