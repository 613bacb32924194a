//! TCP urgent data (`MSG_OOB`) in the middle of a stream. A read stops at
//! the urgent mark even when bytes wait behind it (tcp(7), SIOCATMARK), and
//! those bytes raise no new edge; both loops must still read them at once
//! (`readiness::must_drain`). The urgent byte itself is not in the stream
//! (SO_OOBINLINE is off): greet and echo never see it.
//!
//! Each test sends a line, one urgent byte and the next line in three
//! `send` calls, then waits, with the generous [`IO_TIMEOUT`] and without
//! sending anything more, for the answer to the second line. Before the
//! fix most connections stalled there until the client spoke again; a few
//! rounds per test make that near certain to show.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Connections per test: a stall showed in 7 of 10 before the fix.
const ROUNDS: usize = 10;

/// Sends `byte` as TCP urgent data: std has no call for `MSG_OOB`.
#[track_caller]
fn send_urgent(stream: &TcpStream, byte: u8) {
    // SAFETY: `send` reads 1 byte from `&byte`, which lives across the call;
    // the descriptor is owned by `stream`.
    let sent = unsafe {
        libc::send(
            stream.as_raw_fd(),
            (&byte as *const u8).cast(),
            1,
            libc::MSG_OOB,
        )
    };
    assert_eq!(
        sent,
        1,
        "send(MSG_OOB): {}",
        std::io::Error::last_os_error()
    );
}

/// `Ada\n`, urgent `x`, `Bob\n`: three sends back to back.
fn send_with_urgent_byte_between(stream: &mut TcpStream) {
    send(stream, b"Ada\n");
    send_urgent(stream, b'x');
    send(stream, b"Bob\n");
}

/// Greet answers `Bob` at once, and as `Bob`: the urgent byte is not part
/// of the line. The connection then goes on as usual.
#[test]
fn greet_answers_the_line_behind_urgent_data_at_once() {
    let server = Server::start(&[]);
    for _ in 0..ROUNDS {
        let mut s = connect(server.greet());
        send_with_urgent_byte_between(&mut s);
        expect_line(&mut s, b"Hi Ada\n");
        expect_line(&mut s, b"Hi Bob\n");
        exchange(&mut s, b"Cy\n", b"Hi Cy\n");
    }
}

/// Echo sends back both lines at once, without the urgent byte.
#[test]
fn echo_answers_the_bytes_behind_urgent_data_at_once() {
    let server = Server::start(&[]);
    for _ in 0..ROUNDS {
        let mut s = connect(server.echo());
        send_with_urgent_byte_between(&mut s);
        assert_eq!(show(&read_exact_bytes(&mut s, 8)), show(b"Ada\nBob\n"));
        exchange(&mut s, b"Cy\n", b"Cy\n");
    }
}

/// Request size of the generator run below.
const SIZE: usize = 16;

/// How long the generator run may take: a 0.5 s window, at most 5 s of
/// drain, and a debug build's start on a busy machine.
const LOAD_DEADLINE: Duration = Duration::from_secs(60);

/// A TCP echo that sends each `SIZE`-byte request back in two halves with
/// one urgent byte between them (as a Telnet-speaking server might). The
/// generator sends the next request only after the whole reply (depth 1),
/// so it has read past one urgent mark before the next one comes: Linux
/// would put an older urgent byte still unread back into the stream
/// (tcp(7), "Sockets API").
fn start_urgent_echo() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        let mut request = [0u8; SIZE];
        while stream.read_exact(&mut request).is_ok() {
            let (first, second) = request.split_at(SIZE / 2);
            if stream.write_all(first).is_err() {
                return;
            }
            send_urgent(&stream, b'!');
            if stream.write_all(second).is_err() {
                return;
            }
        }
    });
    addr
}

/// The generator reads past the urgent mark in a reply at once too: every
/// reply is complete and verified, none missing.
#[test]
fn the_generator_reads_the_reply_behind_urgent_data_at_once() {
    let target = start_urgent_echo().to_string();
    let size = SIZE.to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sockloop"))
        .args(["load", "--target", &target, "-c", "1", "-d", "0.5"])
        .args(["--size", &size, "--drain-timeout", "5", "--json"])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sockloop load");
    // The run ends by itself (window plus drain); this only bounds a bug.
    let deadline = Instant::now() + LOAD_DEADLINE;
    while child.try_wait().expect("wait for sockloop load").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("sockloop load did not finish within {LOAD_DEADLINE:?}");
        }
        thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("sockloop load output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let report: serde_json::Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    let requests = &report["requests"];
    assert_eq!(requests["verify_errors"], 0, "{report}");
    assert!(requests["completed"].as_u64() > Some(0), "{report}");
    assert_eq!(requests["completed"], requests["sent"], "{report}");
}
