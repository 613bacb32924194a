//! Observability: the Prometheus endpoint's counters (validated by a real
//! parser), the periodic stats line, and the trace of a login session. The
//! endpoint's HTTP is `metrics_http.rs`.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

/// GETs `/metrics` and returns the response body, checking the head.
#[track_caller]
fn scrape(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).expect("connect metrics");
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).expect("read response");
    let (head, body) = response
        .split_once("\r\n\r\n")
        .expect("a blank line after the head");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4"),
        "{head}"
    );
    assert!(
        head.contains(&format!("Content-Length: {}", body.len())),
        "{head}"
    );
    body.to_owned()
}

/// The value of one sample, found by name and labels.
#[track_caller]
fn value(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let sample = scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .unwrap_or_else(|| panic!("no sample {name} {labels:?}"));
    match sample.value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => v,
        ref other => panic!("{name}: unexpected value {other:?}"),
    }
}

/// The metrics address, from the `listening metrics tcp ADDR` line.
#[track_caller]
fn metrics_addr(server: &Server) -> SocketAddr {
    let line = server.next_stdout_line();
    line.strip_prefix("listening metrics tcp ")
        .unwrap_or_else(|| panic!("expected the metrics listening line, got {line:?}"))
        .parse()
        .unwrap()
}

/// Scrapes and parses.
#[track_caller]
fn scrape_parsed(addr: SocketAddr) -> prometheus_parse::Scrape {
    let body = scrape(addr);
    let lines = body.lines().map(|l| Ok(l.to_owned()));
    prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text")
}

/// After known traffic, `GET /metrics` parses as Prometheus text and its
/// counters say exactly what happened, the scrapes themselves apart.
#[test]
fn metrics_endpoint_counts_what_happened_and_parses() {
    let server = Server::start(&["--metrics", "127.0.0.1:0"]);
    let addr = metrics_addr(&server);

    let mut greet = connect(server.greet());
    exchange(&mut greet, b"ann\n", b"Hi ann\n");
    exchange(&mut greet, b"bob\n", b"Hi bob\n");
    let mut login = connect(server.login());
    exchange(&mut login, b"admin\nwrong\n", b"ERR invalid credentials\n");
    exchange(
        &mut login,
        b"admin\n12345\n",
        b"hello admin, welcome to the server\n",
    );
    exchange(&mut login, b"E\n", b"BYE\n");
    expect_closed(&mut login);
    let mut echo = connect(server.echo());
    send(&mut echo, b"12345");
    assert_eq!(read_exact_bytes(&mut echo, 5), b"12345");

    // The login connection lingers until our FIN: close it, then scrape
    // until the server has counted the close (its FIN and our scrape race).
    // Scrapes are counted apart, so they cannot move `bye` themselves.
    drop(login);
    let deadline = std::time::Instant::now() + IO_TIMEOUT;
    let mut scrapes = 0.0;
    let parsed = loop {
        let parsed = scrape_parsed(addr);
        scrapes += 1.0;
        let bye = value(
            &parsed,
            "sockloop_connections_closed_total",
            &[("reason", "bye")],
        );
        if bye >= 1.0 || std::time::Instant::now() > deadline {
            break parsed;
        }
    };
    let closed = |reason| {
        value(
            &parsed,
            "sockloop_connections_closed_total",
            &[("reason", reason)],
        )
    };
    assert_eq!(closed("bye"), 1.0);
    assert_eq!(closed("peer") + closed("line_too_long"), 0.0);
    assert_eq!(
        value(&parsed, "sockloop_logins_total", &[("result", "ok")]),
        1.0
    );
    assert_eq!(
        value(&parsed, "sockloop_logins_total", &[("result", "failed")]),
        1.0
    );
    assert_eq!(
        value(&parsed, "sockloop_requests_total", &[("service", "greet")]),
        2.0
    );
    // user, password, user, password, E
    assert_eq!(
        value(&parsed, "sockloop_requests_total", &[("service", "login")]),
        5.0
    );
    assert_eq!(
        value(&parsed, "sockloop_requests_total", &[("service", "echo")]),
        1.0
    );
    // greet, echo and login; greet and echo still open. No scrape in either.
    assert_eq!(
        value(&parsed, "sockloop_connections_accepted_total", &[]),
        3.0
    );
    assert_eq!(value(&parsed, "sockloop_connections_active", &[]), 2.0);
    // 8 bytes to greet, 26 to login, 5 to echo; nothing of the scrapes.
    assert_eq!(value(&parsed, "sockloop_bytes_in_total", &[]), 39.0);
    // Every scrape was accepted; all but this one were answered 200.
    assert_eq!(
        value(&parsed, "sockloop_metrics_connections_accepted_total", &[]),
        scrapes
    );
    assert_eq!(
        value(
            &parsed,
            "sockloop_metrics_requests_total",
            &[("code", "200")]
        ),
        scrapes - 1.0
    );
    assert!(value(&parsed, "sockloop_metrics_connections_active", &[]) >= 1.0);
    assert!(value(&parsed, "sockloop_loop_turns_total", &[]) > 0.0);
    for family in [
        "sockloop_connections_accepted_total",
        "sockloop_loop_seconds_total",
        "sockloop_metrics_requests_total",
    ] {
        assert!(parsed.docs.contains_key(family), "HELP for {family}");
    }
}

/// Scraping an idle server moves only the endpoint's own counters: the
/// services' connection and byte counters stay at zero however often it is
/// scraped, so nobody who waits on them races a scrape.
#[test]
fn scrapes_do_not_move_the_service_counters() {
    let server = Server::start(&["--metrics", "127.0.0.1:0"]);
    let addr = metrics_addr(&server);
    for scrape in 1..=3 {
        let parsed = scrape_parsed(addr);
        for name in [
            "sockloop_connections_accepted_total",
            "sockloop_connections_active",
            "sockloop_connections_peak",
            "sockloop_bytes_in_total",
            "sockloop_bytes_out_total",
        ] {
            assert_eq!(value(&parsed, name, &[]), 0.0, "{name} at scrape {scrape}");
        }
        for reason in ["bye", "peer", "line_too_long"] {
            let closed = value(
                &parsed,
                "sockloop_connections_closed_total",
                &[("reason", reason)],
            );
            assert_eq!(closed, 0.0, "closed {reason} at scrape {scrape}");
        }
        assert_eq!(
            value(&parsed, "sockloop_metrics_connections_accepted_total", &[]),
            f64::from(scrape)
        );
    }
    let exited = server.terminate();
    exited.assert_success();
    assert_eq!(summary_count(&exited.stderr, "served"), 0);
    assert_eq!(summary_count(&exited.stderr, "metrics connections"), 3);
}

/// `--stats-interval` logs a compact stats line at info.
#[test]
fn stats_interval_logs_a_line() {
    let server = Server::start(&["--stats-interval", "0.2"]);
    let mut greet = connect(server.greet());
    exchange(&mut greet, b"x\n", b"Hi x\n");
    let line = server.wait_for_log("requests echo 0 greet 1");
    assert!(line.contains("stats: conns active 1"), "{line}");
}

/// At trace level a login session reads as a story: the events, the reads
/// and writes, and each state transition, without the password.
#[test]
fn trace_of_a_login_session_shows_transitions_without_the_password() {
    let server = Server::builder().log("sockloop=trace").spawn();
    let mut login = connect(server.login());
    send(&mut login, b"admin\n");
    exchange(
        &mut login,
        b"12345\n",
        b"hello admin, welcome to the server\n",
    );
    exchange(&mut login, b"E\n", b"BYE\n");
    expect_closed(&mut login);
    // The log is written by its own thread (it must never block the
    // loop), so it may trail the replies: wait for the last line this
    // session produces. Lines reach stderr in order, so every earlier one
    // is there once it is.
    server.wait_for_log("Closing(bye)");
    let log = server.stderr();
    for needle in [
        "login: AwaitUser -> AwaitPassword",
        "-> Commands",
        "Closing(bye)",
        "poll: ",
        "read #",
    ] {
        assert!(log.contains(needle), "trace lacks {needle:?}:\n{log}");
    }
    assert!(
        !log.contains("12345"),
        "the password leaked into the log:\n{log}"
    );
}
