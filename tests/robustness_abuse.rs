//! Abuse of the server's limits and of its login: a connection flood ten
//! times over `--max-conns`, credential stuffing from 200 connections (with
//! every log level on, no password may reach the log), and `E` from a
//! client that is not allowed to stop the server.

mod common;

use common::*;
use std::io::Read;
use std::net::TcpStream;

/// `--max-conns` for the flood.
const MAX_CONNS: usize = 50;
/// Connections opened at once in the flood.
const FLOOD: usize = 500;

/// Reads what a connection refused as full sends: exactly
/// `ERR server full\n`, then EOF (or a reset: 450 refusals at once are far
/// over `REFUSED_LINGER_MAX`, so most are closed early, and a request that
/// reaches a closed socket is answered with RST; the reply and the FIN
/// were delivered before it).
#[track_caller]
fn expect_refused_rest(stream: &mut TcpStream) {
    let mut rest = Vec::new();
    let mut buf = [0u8; 64];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => rest.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("after {:?}: {e}", show(&rest)),
        }
    }
    assert_eq!(show(&rest), "", "bytes after ERR server full");
}

/// `--max-conns 50`, 500 greet connections at once: exactly 50 are served
/// and 450 get `ERR server full\n` and are closed; the 50 keep being served,
/// a newcomer is refused while they are open, and once the flood ends the
/// server serves every service and 50 new connections at once again.
#[test]
fn connection_flood_over_max_conns_is_refused_then_service_resumes() {
    let server = Server::builder()
        .args(&["--max-conns", &MAX_CONNS.to_string()])
        .spawn();
    let baseline = server.open_sockets();
    let mut flood: Vec<TcpStream> = (0..FLOOD).map(|_| connect(server.greet())).collect();
    let mut served = Vec::new();
    let mut refused = 0;
    for (i, mut s) in flood.drain(..).enumerate() {
        send(&mut s, format!("c{i}\n").as_bytes());
        let reply = read_line(&mut s);
        if reply == format!("Hi c{i}\n").as_bytes() {
            served.push(s);
        } else {
            assert_eq!(show(&reply), "ERR server full\\n", "connection {i}");
            expect_refused_rest(&mut s);
            refused += 1;
        }
    }
    assert_eq!((served.len(), refused), (MAX_CONNS, FLOOD - MAX_CONNS));
    for (i, s) in served.iter_mut().enumerate() {
        exchange(
            s,
            format!("again{i}\n").as_bytes(),
            format!("Hi again{i}\n").as_bytes(),
        );
    }
    let mut newcomer = connect(server.echo());
    expect_rest(&mut newcomer, b"ERR server full\n");

    for s in served {
        close_cleanly(s);
    }
    server.wait_for_open_sockets(baseline);
    server.assert_serving(DEFAULT_LOGIN);
    let mut again: Vec<TcpStream> = (0..MAX_CONNS).map(|_| connect(server.greet())).collect();
    for (i, s) in again.iter_mut().enumerate() {
        exchange(
            s,
            format!("n{i}\n").as_bytes(),
            format!("Hi n{i}\n").as_bytes(),
        );
    }
    for s in again {
        close_cleanly(s);
    }
    let exit = server.terminate();
    exit.assert_success();
    let refused_total = (FLOOD - MAX_CONNS + 1) as u64;
    assert_eq!(summary_count(&exit.stderr, "refused full"), refused_total);
    assert_eq!(summary_count(&exit.stderr, "peak"), MAX_CONNS as u64);
    assert_no_conns_at_shutdown(&exit.stderr);
}

/// Every password in this file contains this marker (user names never do),
/// so one search of the log finds any password that leaked.
const MARKER: &str = "SECRET";
/// The valid account for the stuffing test.
const ALICE: (&str, &str) = ("alice", "pw-SECRET-123");
/// Sources stuffing at once, one connection each.
const STUFFERS: u64 = 8;

/// Credential stuffing from 8 sources at once (127.0.0.2 to .9, each
/// one connection): each tries three wrong passwords: two get `ERR invalid
/// credentials\n`, the third `ERR too many failed attempts\n` and EOF (each
/// reply after its source's penalty: 1, 2, then 4 s). Meanwhile every other
/// service keeps answering fresh clients from 127.0.0.1, whose right
/// password is never held back. The server runs with `RUST_LOG=trace`, and
/// no password, right or wrong, appears anywhere in its log.
#[test]
fn credential_stuffing_hits_the_limit_and_no_password_is_logged() {
    let server = Server::builder()
        .log("trace")
        .args(&[
            "--user",
            &format!("{}:{}", ALICE.0, ALICE.1),
            "--user",
            "bob:pw-SECRET-456",
        ])
        .spawn();
    let baseline = server.open_sockets();
    let login = server.login();
    let stuffers: Vec<_> = (0..STUFFERS)
        .map(|t| {
            std::thread::spawn(move || {
                let mut s = connect_from([127, 0, 0, 2 + t as u8], login);
                for attempt in 0..3 {
                    let user = ["alice", "bob", "root"][(t as usize + attempt) % 3];
                    send_line(&mut s, user);
                    let password = format!("pw-{MARKER}-{t}-{attempt}");
                    send_line(&mut s, &password);
                    let want: &[u8] = if attempt < 2 {
                        b"ERR invalid credentials\n"
                    } else {
                        b"ERR too many failed attempts\n"
                    };
                    expect_line(&mut s, want);
                }
                expect_closed(&mut s);
            })
        })
        .collect();
    // Other services are served while the stuffing goes on (at least once,
    // however fast it is).
    loop {
        let done = stuffers.iter().all(|s| s.is_finished());
        server.assert_serving(ALICE);
        if done {
            break;
        }
    }
    for s in stuffers {
        s.join().unwrap();
    }
    // A password that is almost right is still wrong.
    let mut s = connect(server.login());
    send_line(&mut s, ALICE.0);
    exchange(&mut s, b"pw-SECRET-12\n", b"ERR invalid credentials\n");
    close_cleanly(s);

    server.wait_for_open_sockets(baseline);
    server.assert_serving(ALICE);
    let exit = server.terminate();
    exit.assert_success();
    assert_eq!(summary_count(&exit.stderr, "too_many_failures"), STUFFERS);
    assert_no_conns_at_shutdown(&exit.stderr);
    // The log is really at trace level: it shows the login state machine.
    assert!(
        exit.stderr.contains("login: AwaitUser -> AwaitPassword"),
        "no login trace in the log"
    );
    let leaks: Vec<&str> = exit.stderr.lines().filter(|l| l.contains(MARKER)).collect();
    assert!(leaks.is_empty(), "passwords in the log: {leaks:#?}");
}

/// Sends `request`; one without its `\n` is a final line, so half-close.
fn send_request(s: &mut TcpStream, request: &[u8]) {
    send(s, request);
    if !request.ends_with(b"\n") {
        s.shutdown(std::net::Shutdown::Write).unwrap();
    }
}

/// Without `--allow-remote-shutdown`, `E` (any case, with spaces, as a
/// final unterminated line, on command and after a login) answers `BYE`
/// and closes only that connection, every time; the server keeps serving.
#[test]
fn e_without_allow_remote_shutdown_never_stops_the_server() {
    let mut server = Server::start(&[]);
    let baseline = server.open_sockets();
    for request in [&b"E\n"[..], b" e \r\n", b"E"] {
        let mut s = connect(server.command());
        send_request(&mut s, request);
        expect_rest(&mut s, b"BYE\n");

        let mut s = connect(server.login());
        send(&mut s, b"admin\n12345\n");
        expect_line(&mut s, b"hello admin, welcome to the server\n");
        send_request(&mut s, request);
        expect_rest(&mut s, b"BYE\n");
        assert!(server.is_running());
        server.assert_serving(DEFAULT_LOGIN);
    }
    server.wait_for_open_sockets(baseline);
    assert!(server.is_running());
    let exit = server.terminate();
    exit.assert_success();
    assert!(!exit.stderr.contains("remote shutdown"), "{}", exit.stderr);
    assert_eq!(summary_count(&exit.stderr, "bye"), 6);
    assert_no_conns_at_shutdown(&exit.stderr);
}
