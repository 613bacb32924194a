//! Starting and stopping: the `listening` lines, startup errors (one clear
//! line on stderr, nothing on stdout, non-zero status), graceful stop on
//! SIGTERM/SIGINT and on a remote `E`, and IPv6 listeners.

mod common;

use common::*;

/// The `sockloop: error:` lines of a failed run.
fn error_lines(exit: &Exited) -> Vec<&str> {
    exit.stderr
        .lines()
        .filter(|l| l.starts_with("sockloop: error:"))
        .collect()
}

/// Asserts a startup failure: non-zero status, nothing on stdout, exactly
/// one `sockloop: error:` line containing every piece of `mentions`.
#[track_caller]
fn assert_startup_error(exit: &Exited, mentions: &[&str]) {
    assert!(!exit.status.success(), "exited 0; stderr:\n{}", exit.stderr);
    assert_eq!(exit.stdout, "", "stdout must stay empty on failure");
    let errors = error_lines(exit);
    assert_eq!(errors.len(), 1, "one error line; stderr:\n{}", exit.stderr);
    for m in mentions {
        assert!(
            errors[0].contains(m),
            "{:?} does not mention {m:?}",
            errors[0]
        );
    }
}

/// Every service prints one `listening SERVICE PROTO ADDR` line (checked by
/// the helper), each on its own port, and nothing else reaches stdout.
#[test]
fn all_services_listen_on_their_own_ports() {
    let server = Server::start(&[]);
    let mut ports: Vec<(bool, u16)> = SERVICES
        .iter()
        .map(|s| (s.starts_with("udp"), server.addr(s).port()))
        .collect();
    assert!(SERVICES.iter().all(|s| server.addr(s).ip().is_loopback()));
    ports.sort();
    ports.dedup();
    assert_eq!(ports.len(), 6, "{ports:?}");
    let exit = server.terminate();
    exit.assert_success();
    assert_eq!(exit.stdout, "");
}

/// A port already in use: non-zero exit, one error line naming `greet` and
/// the address, nothing on stdout (not even the services bound before it).
#[test]
fn port_in_use_is_a_clear_startup_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let exit = Server::builder().service("greet", &addr).run_to_exit();
    assert_startup_error(&exit, &["greet", &addr, "in use"]);
}

/// A malformed address is rejected with a message saying what is expected.
#[test]
fn bad_address_is_a_clear_startup_error() {
    let exit = Server::builder().service("echo", "nonsense").run_to_exit();
    assert!(!exit.status.success());
    assert_eq!(exit.stdout, "");
    assert!(
        exit.stderr.contains("'nonsense'")
            && exit.stderr.contains("IP:PORT")
            && exit.stderr.contains("--echo"),
        "{}",
        exit.stderr
    );
}

/// The default admin:12345 on a non-loopback address is refused (before
/// anything is bound), pointing at `--user`.
#[test]
fn default_credentials_refuse_a_public_login() {
    let exit = Server::builder()
        .service("login", "0.0.0.0:0")
        .run_to_exit();
    assert_startup_error(&exit, &["login", "0.0.0.0:0", "--user"]);
}

/// Every service `off` is an error, not a server that serves nothing.
#[test]
fn all_services_off_is_an_error() {
    let exit = Server::builder().only(&[]).run_to_exit();
    assert_startup_error(&exit, &["nothing to serve"]);
}

/// Other bad settings fail at startup with a line naming the flag.
#[test]
fn bad_limits_and_users_are_startup_errors() {
    let exit = Server::builder().args(&["--max-line", "0"]).run_to_exit();
    assert_startup_error(&exit, &["--max-line"]);
    let exit = Server::builder().args(&["--user", "nocolon"]).run_to_exit();
    assert_startup_error(&exit, &["--user", "NAME:PASSWORD"]);
    for bad in ["--idle-timeout=-1", "--idle-timeout=soon"] {
        let exit = Server::builder().args(&[bad]).run_to_exit();
        assert!(!exit.status.success(), "{bad}");
        assert_eq!(exit.stdout, "");
        assert!(exit.stderr.contains("--idle-timeout"), "{}", exit.stderr);
    }
}

/// SIGTERM (and SIGINT) with an idle connection open: the connection gets
/// EOF, the server exits 0 and logs one `shutdown complete` summary line.
#[test]
fn sigterm_and_sigint_stop_gracefully() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let server = Server::builder().only(&["greet", "udp-echo"]).spawn();
        let mut idle = connect(server.greet());
        exchange(&mut idle, b"me\n", b"Hi me\n");
        let exit = server.stop_with(signal);
        exit.assert_success();
        let summaries = exit
            .stderr
            .lines()
            .filter(|l| l.contains("shutdown complete"));
        assert_eq!(
            summaries.count(),
            1,
            "signal {signal}; stderr:\n{}",
            exit.stderr
        );
        assert_eq!(exit.stdout, "");
        expect_closed(&mut idle);
    }
}

/// With `--allow-remote-shutdown`, `E` after logging in (from loopback)
/// says BYE, closes, and the whole server exits 0, closing its other
/// connections too; the log names the peer.
#[test]
fn remote_shutdown_stops_the_server_when_allowed() {
    let server = Server::builder()
        .only(&["login", "greet"])
        .args(&["--allow-remote-shutdown"])
        .spawn();
    let mut other = connect(server.greet());
    exchange(&mut other, b"bystander\n", b"Hi bystander\n");
    let mut s = connect(server.login());
    let port = s.local_addr().unwrap().port();
    send(&mut s, b"admin\n12345\nR\nE\n");
    expect_line(&mut s, b"hello admin, welcome to the server\n");
    let number = read_line(&mut s);
    assert!(
        number.len() <= 3 && number.ends_with(b"\n"),
        "{}",
        show(&number)
    );
    expect_line(&mut s, b"BYE\n");
    expect_closed(&mut s);
    expect_closed(&mut other);
    let exit = server.wait_exit();
    exit.assert_success();
    assert!(exit.stderr.contains("shutdown complete"), "{}", exit.stderr);
    let by = format!("remote shutdown requested by 127.0.0.1 port {port}");
    assert!(exit.stderr.contains(&by), "{}", exit.stderr);
}

/// Whether this machine can listen on ::1 (IPv6 may be disabled).
fn ipv6_loopback_available() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok() && std::net::UdpSocket::bind("[::1]:0").is_ok()
}

/// `--echo [::1]:0` (and `--udp-echo [::1]:0`) listen on IPv6 loopback and
/// serve there; skipped when ::1 cannot be bound.
#[test]
fn ipv6_loopback_listeners_work() {
    if !ipv6_loopback_available() {
        eprintln!("skipped: cannot bind [::1]");
        return;
    }
    let server = Server::builder()
        .only(&["echo", "udp-echo"])
        .service("echo", "[::1]:0")
        .service("udp-echo", "[::1]:0")
        .spawn();
    assert!(server.echo().is_ipv6() && server.udp_echo().is_ipv6());
    let mut s = connect(server.echo());
    exchange(&mut s, b"over v6\n", b"over v6\n");
    let udp = std::net::UdpSocket::bind("[::1]:0").unwrap();
    udp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    udp.send_to(b"dgram v6", server.udp_echo()).unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = udp.recv_from(&mut buf).unwrap();
    assert_eq!((from, &buf[..n]), (server.udp_echo(), &b"dgram v6"[..]));
}
