//! Bad values on the command line, run through the real binary: every
//! subcommand refuses a value that cannot make sense with exit status 1,
//! nothing on stdout, and one `sockloop: error:` line that names the flag
//! and what it accepts. And the one credentials rule: `--user` is trimmed
//! as the login service trims what it receives.

mod common;

use common::*;

/// Runs `sockloop ARGS`, which must fail at startup: status 1, empty
/// stdout, and a `sockloop: error:` line containing every piece of
/// `mentions` (the flag, the accepted range).
#[track_caller]
fn assert_refused(args: &[&str], mentions: &[&str]) {
    let exit = run_to_exit(args);
    assert_eq!(
        exit.status.code(),
        Some(1),
        "{args:?}; stderr:\n{}",
        exit.stderr
    );
    assert_eq!(exit.stdout, "", "{args:?}: nothing on stdout");
    let errors: Vec<&str> = exit
        .stderr
        .lines()
        .filter(|l| l.starts_with("sockloop: error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{args:?}; stderr:\n{}", exit.stderr);
    for m in mentions {
        assert!(
            errors[0].contains(m),
            "{args:?}: {:?} lacks {m:?}",
            errors[0]
        );
    }
}

/// serve: limits out of range, negative numbers, a log-flooding stats
/// interval, a port past 65535, and `--max-conns 0` (a server that would
/// refuse everyone) are all refused with the flag and its range.
#[test]
fn serve_refuses_values_out_of_range() {
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["--max-line", "99999999999"],
            &["--max-line", "1..=1048576"],
        ),
        (&["--max-line", "0"], &["--max-line", "1..=1048576"]),
        (&["--max-conns", "0"], &["--max-conns", "1..=10000000"]),
        (&["--max-conns", "-3"], &["--max-conns", "1..=10000000"]),
        (&["--workers", "-1"], &["--workers", "1..=1024"]),
        (&["--workers", "0"], &["--workers", "1..=1024"]),
        (
            &["--stats-interval", "0.0001"],
            &["--stats-interval", "0 (off) or 0.1..=604800 seconds"],
        ),
        (
            &["--idle-timeout", "-1"],
            &["--idle-timeout", "0 (never) or 0.001..=604800 seconds"],
        ),
        (&["--echo", "127.0.0.1:99999"], &["--echo", "0..=65535"]),
        (&["--greet", "nowhere:x"], &["--greet", "0..=65535"]),
    ];
    for (flags, mentions) in cases {
        let args: Vec<&str> = ["serve"].iter().chain(flags.iter()).copied().collect();
        assert_refused(&args, mentions);
    }
}

/// serve `--user`: no colon, or a name that is empty once trimmed; the
/// value (which holds a password) is not echoed.
#[test]
fn serve_refuses_users_nobody_could_log_in_as() {
    assert_refused(&["serve", "--user", "s3cret"], &["--user", "no ':'"]);
    assert_refused(
        &["serve", "--user", " :s3cret"],
        &["--user", "name is empty"],
    );
    let exit = run_to_exit(&["serve", "--user", "s3cret"]);
    assert!(!exit.stderr.contains("s3cret"), "{}", exit.stderr);
}

/// load: `-d 0`, a udp-echo datagram too small for its sequence number
/// (once silently raised to 8), negative counts, and rules between flags.
#[test]
fn load_refuses_values_out_of_range() {
    let cases: &[(&[&str], &[&str])] = &[
        (&["-d", "0"], &["--duration", "0.001..=604800 seconds"]),
        (
            &["--service", "udp-echo", "--size", "4"],
            &["--size", "8..=65507", "udp-echo"],
        ),
        (&["-c", "-5"], &["--conns", "1..=10000000"]),
        (&["--workers", "-1"], &["--workers", "1..=1024"]),
        (&["--depth", "0"], &["--depth", "1..=1024"]),
        (&["--rate", "0"], &["--rate", "0.001..=10000000"]),
        (
            &["--connect-rate", "-1"],
            &["--connect-rate", "0 (as fast as possible)"],
        ),
        (
            &["--connect-timeout", "0"],
            &["--connect-timeout", "seconds"],
        ),
        (
            &["--drain-timeout", "-1"],
            &["--drain-timeout", "0 (no wait)"],
        ),
        (&["--size", "99999999999"], &["--size", "1..=1048576"]),
        (&["--target", "127.0.0.1:99999"], &["--target", "0..=65535"]),
        (&["--target", "127.0.0.1:0"], &["--target", "port 0"]),
        (
            &["--workers", "3", "-c", "2"],
            &["--workers 3", "--conns (2)"],
        ),
        (&["--user", "nocolon"], &["--user", "NAME:PASSWORD"]),
    ];
    for (flags, mentions) in cases {
        let args: Vec<&str> = ["load"].iter().chain(flags.iter()).copied().collect();
        assert_refused(&args, mentions);
    }
}

/// client: the same address syntax, with the port required (it has no
/// service, so no default port), and a UDP timeout that can be waited for.
#[test]
fn client_refuses_an_address_without_a_port_and_a_zero_timeout() {
    assert_refused(
        &["client", "127.0.0.1", "-m", "x"],
        &["<ADDR>", "has no port", "IP:PORT"],
    );
    assert_refused(&["client", "127.0.0.1:0", "-m", "x"], &["<ADDR>", "port 0"]);
    assert_refused(
        &[
            "client",
            "--udp",
            "--timeout",
            "0",
            "127.0.0.1:7",
            "-m",
            "x",
        ],
        &["--timeout", "0.001..=604800 seconds"],
    );
}

/// `--user " bob : pw "` stores `bob`/`pw`, which is what the login service
/// compares after trimming the lines it receives: typing `bob` and `pw`
/// logs in (before, the spaces were stored and nobody could log in).
#[test]
fn serve_user_is_trimmed_like_the_login_lines() {
    let server = Server::builder()
        .only(&["login"])
        .args(&["--user", " bob : pw "])
        .spawn();
    let mut login = connect(server.login());
    send(&mut login, b"bob\n");
    exchange(&mut login, b"pw\n", b"hello bob, welcome to the server\n");
    exchange(&mut login, b"E\n", b"BYE\n");
    expect_closed(&mut login);
    server.terminate().assert_success();
}

/// `--help` is not an error: status 0, the help on stdout.
#[test]
fn help_is_not_an_error() {
    let exit = run_to_exit(&["serve", "--help"]);
    exit.assert_success();
    assert!(exit.stdout.contains("--max-conns"), "{}", exit.stdout);
}
