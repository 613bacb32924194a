//! Login throttling (issue 19, item 3). Before, one client made 20,000
//! guesses a second on one connection and 54,000 on 64. Now, per source
//! (127.0.0.N here, each its own): one password check per penalty window
//! (1 s, doubling per failure up to 30 s) however many connections it
//! opens, each failure reply held until the window ends, a cap on the
//! unauthenticated connections of a failing source, and one info line per
//! failure for fail2ban. Clients that never fail are never held, so a
//! login load test with the right password runs as before.
//!
//! No timing is asserted: the penalties are read from the server's own
//! log lines (`next check from this address in N ms`), and the replies
//! are waited for, with IO_TIMEOUT as the bound.

mod common;

use common::*;
use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Replies read so far on each of `conns`, polling without blocking until
/// `want` whole lines arrived in all (or IO_TIMEOUT passed).
#[track_caller]
fn replies(conns: &mut [TcpStream], got: &mut [Vec<u8>], want: usize) {
    let deadline = Instant::now() + IO_TIMEOUT;
    let lines = |got: &[Vec<u8>]| -> usize {
        got.iter()
            .map(|g| g.iter().filter(|b| **b == b'\n').count())
            .sum()
    };
    while lines(got) < want {
        assert!(
            Instant::now() < deadline,
            "{} replies, want {want}",
            lines(got)
        );
        for (s, g) in conns.iter_mut().zip(got.iter_mut()) {
            let mut buf = [0u8; 256];
            match s.read(&mut buf) {
                Ok(n) => g.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("read: {e}"),
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The waits the server logged for `source`'s failures, in order.
fn logged_waits(stderr: &str, source: &str) -> Vec<u64> {
    let marker = format!("login failure from {source} port ");
    stderr
        .lines()
        .filter(|l| l.contains(&marker))
        .filter_map(|l| l.split("next check from this address in ").nth(1))
        .filter_map(|rest| rest.split(' ').next()?.parse().ok())
        .collect()
}

/// Ten connections from one source, one wrong guess each, all at once:
/// before, ten replies came back at once (ten checks). Now the source's
/// checks are spaced: the first reply comes after a 1 s penalty, the
/// second after 2 s more, the third guess checked is held 4 s; the other
/// seven guesses wait unread. Meanwhile a client from another address logs
/// in at once. The failures are logged at info with the peer, never with
/// the password.
#[test]
fn one_source_gets_one_check_per_penalty_however_many_connections() {
    let server = Server::builder()
        .only(&["login"])
        .args(&["--user", "alice:right-pw"])
        .spawn();
    let mut stuffers: Vec<TcpStream> = (0..10)
        .map(|i| {
            let mut s = connect_from([127, 0, 0, 2], server.login());
            send(&mut s, format!("admin\nwrong-{i}\n").as_bytes());
            s.set_nonblocking(true).unwrap();
            s
        })
        .collect();
    let mut got = vec![Vec::new(); stuffers.len()];
    replies(&mut stuffers, &mut got, 2);
    server.wait_for_log("in 4000 ms");
    assert_eq!(
        logged_waits(&server.stderr(), "127.0.0.2"),
        [1000, 2000, 4000]
    );

    // Another address is not held back by this one's penalty.
    let mut alice = connect(server.login());
    send(&mut alice, b"alice\n");
    exchange(
        &mut alice,
        b"right-pw\n",
        b"hello alice, welcome to the server\n",
    );

    // Still two answered (the third reply waits out its 4 s): one guess
    // per window, not one per connection.
    replies(&mut stuffers, &mut got, 2);
    let answered: Vec<&Vec<u8>> = got.iter().filter(|g| !g.is_empty()).collect();
    assert_eq!(answered.len(), 2, "{got:?}");
    assert!(answered.iter().all(|g| *g == b"ERR invalid credentials\n"));
    let exit = server.terminate();
    assert!(!exit.stderr.contains("wrong-"), "a password was logged");
}

/// A failing source may hold at most 10 unauthenticated login connections:
/// the eleventh is refused with one line; another address is not.
#[test]
fn a_failing_source_is_capped_at_ten_unauthenticated_connections() {
    let server = Server::builder().only(&["login"]).spawn();
    let mut first = connect_from([127, 0, 0, 3], server.login());
    send(&mut first, b"admin\nwrong\n");
    expect_line(&mut first, b"ERR invalid credentials\n");
    // Accepted in connect order: these nine fill the source's ten.
    let _held: Vec<TcpStream> = (0..9)
        .map(|_| connect_from([127, 0, 0, 3], server.login()))
        .collect();
    let mut refused = connect_from([127, 0, 0, 3], server.login());
    expect_line(
        &mut refused,
        b"ERR too many login attempts from your address\n",
    );
    expect_closed(&mut refused);
    let mut other = connect_from([127, 0, 0, 4], server.login());
    send(&mut other, b"admin\n");
    exchange(
        &mut other,
        b"12345\n",
        b"hello admin, welcome to the server\n",
    );
    server.wait_for_log("login refused from 127.0.0.3");
    let exit = server.terminate();
    assert_eq!(summary_count(&exit.stderr, "refused"), 1, "{}", exit.stderr);
}

/// `sockloop load --service login` with the right password: the throttle
/// never engages (no failure, so no hold, no cap), every request is
/// verified, and the server logged no failure and refused nothing.
#[test]
fn a_login_load_test_with_the_right_password_is_never_throttled() {
    let server = Server::builder().only(&["login"]).spawn();
    let target = server.login().to_string();
    let mut load = Command::new(env!("CARGO_BIN_EXE_sockloop"))
        .args(["load", "--service", "login", "--target", &target])
        .args(["-c", "50", "-d", "1", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sockloop load");
    let deadline = Instant::now() + 6 * IO_TIMEOUT;
    while load.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = load.kill();
            panic!("sockloop load did not finish");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = load.wait_with_output().expect("load output");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert!(out.status.success(), "{report}");
    assert_eq!(report["requests"]["verify_errors"], 0, "{report}");
    assert_eq!(report["connections"]["failed"], 0, "{report}");
    let exit = server.terminate();
    assert_eq!(summary_count(&exit.stderr, "failed"), 0, "{}", exit.stderr);
    assert_eq!(summary_count(&exit.stderr, "refused"), 0, "{}", exit.stderr);
    assert!(!exit.stderr.contains("login failure"), "{}", exit.stderr);
}
