//! The metrics endpoint as an HTTP/1.1 server that tools accept: HEAD, a
//! query string, the limits answered with HTTP statuses (never with the
//! line services' raw `ERR ...` lines), 405 with `Allow`, and 503 when the
//! server is full. Every response ends the connection (`Connection: close`).

mod common;

use common::*;
use std::net::SocketAddr;

/// A server with the metrics endpoint (plus `args`) and its address.
#[track_caller]
fn start(args: &[&str]) -> (Server, SocketAddr) {
    let server = Server::builder()
        .only(&["greet"])
        .args(&["--metrics", "127.0.0.1:0"])
        .args(args)
        .spawn();
    let addr = server.metrics_addr();
    (server, addr)
}

/// Sends `request`, reads until the server closes, and splits the response
/// into its head (without the blank line) and body.
#[track_caller]
fn http(addr: SocketAddr, request: &[u8]) -> (String, String) {
    let mut s = connect(addr);
    send(&mut s, request);
    let response = String::from_utf8(read_to_end(&mut s)).expect("UTF-8 response");
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no blank line after the head: {response:?}"));
    (head.to_owned(), body.to_owned())
}

/// The value of header `name` in `head`.
#[track_caller]
fn header<'a>(head: &'a str, name: &str) -> &'a str {
    head.split("\r\n")
        .skip(1)
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
        .unwrap_or_else(|| panic!("no {name} header in {head:?}"))
}

/// Asserts the status line, `Connection: close`, and a `Content-Length`
/// that is the body's (or, for HEAD, the body GET would have had).
#[track_caller]
fn assert_response(head: &str, body: &str, status_line: &str) {
    assert!(head.starts_with(&format!("{status_line}\r\n")), "{head}");
    assert_eq!(header(head, "Connection"), "close", "{head}");
    assert_eq!(
        header(head, "Content-Length"),
        body.len().to_string(),
        "{head}"
    );
}

/// HEAD gets the head of a 200 with a Content-Length and no body.
#[test]
fn head_gets_the_head_without_a_body() {
    let (_server, addr) = start(&[]);
    let (head, body) = http(addr, b"HEAD /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(header(&head, "Content-Type").starts_with("text/plain; version=0.0.4"));
    let length: usize = header(&head, "Content-Length").parse().unwrap();
    assert!(length > 1000, "the exposition's length, not 0: {head}");
    assert_eq!(body, "", "HEAD must not have a body");
}

/// Scrape configs add parameters: the query string is ignored. The line
/// services' `--max-line` does not apply to HTTP (it has its own limits).
#[test]
fn the_query_string_is_ignored_and_max_line_does_not_apply() {
    let (_server, addr) = start(&["--max-line", "8"]);
    let (head, body) = http(addr, b"GET /metrics?x=1&y=2 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_response(&head, &body, "HTTP/1.1 200 OK");
    assert!(body.contains("# TYPE sockloop_metrics_requests_total counter\n"));
}

/// Another path gets 404.
#[test]
fn another_path_gets_404() {
    let (_server, addr) = start(&[]);
    let (head, body) = http(addr, b"GET /nope HTTP/1.0\r\n\r\n");
    assert_response(&head, &body, "HTTP/1.1 404 Not Found");
}

/// Another method gets 405 with the `Allow` header RFC 9110 requires.
#[test]
fn another_method_gets_405_with_allow() {
    let (_server, addr) = start(&[]);
    let (head, body) = http(addr, b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert_response(&head, &body, "HTTP/1.1 405 Method Not Allowed");
    assert_eq!(header(&head, "Allow"), "GET, HEAD");
}

/// A 10 kB request line gets 414 (not `ERR line too long`, which HTTP
/// clients read as HTTP/0.9), and the connection closes.
#[test]
fn a_10kb_request_line_gets_414() {
    let (_server, addr) = start(&[]);
    let mut request = b"GET /metrics?".to_vec();
    request.resize(10_000, b'a');
    request.extend_from_slice(b" HTTP/1.1\r\n\r\n");
    let (head, body) = http(addr, &request);
    assert_response(&head, &body, "HTTP/1.1 414 URI Too Long");
}

/// A 10 kB header gets 431, and the connection closes.
#[test]
fn a_10kb_header_gets_431() {
    let (_server, addr) = start(&[]);
    let mut request = b"GET /metrics HTTP/1.1\r\nX-Big: ".to_vec();
    request.resize(10_000, b'a');
    request.extend_from_slice(b"\r\n\r\n");
    let (head, body) = http(addr, &request);
    assert_response(&head, &body, "HTTP/1.1 431 Request Header Fields Too Large");
}

/// A line that is not HTTP/1.x gets 400 at once, without waiting for a head
/// that will never end.
#[test]
fn a_line_that_is_not_http_gets_400() {
    let (_server, addr) = start(&[]);
    let (head, body) = http(addr, b"hello\r\n");
    assert_response(&head, &body, "HTTP/1.1 400 Bad Request");
}

/// The endpoint's own connections are not in `--max-conns`: with the
/// services full (`--max-conns 1`, held by a greet client), a scrape is
/// still answered. Its own reserve, 4 connections, is what runs out: the
/// fifth scraper while four are held gets a whole HTTP 503, counted as the
/// endpoint's, not as `refused_full`.
#[test]
fn scrapes_have_a_reserve_beside_max_conns_and_a_503_past_it() {
    let (server, addr) = start(&["--max-conns", "1"]);
    let mut greet = connect(server.greet());
    exchange(&mut greet, b"full\n", b"Hi full\n");
    let (head, body) = http(addr, b"GET /metrics HTTP/1.1\r\n\r\n");
    assert_response(&head, &body, "HTTP/1.1 200 OK");
    assert!(body.contains("sockloop_connections_active 1\n"), "{body}");

    // Accepted in connect order: the first four hold the reserve.
    let mut held: Vec<_> = (0..METRICS_RESERVE).map(|_| connect(addr)).collect();
    let mut refused = connect(addr);
    // Nothing sent on `refused`, so its close cannot turn into a reset.
    let response = String::from_utf8(read_to_end(&mut refused)).unwrap();
    assert_eq!(
        response,
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: 12\r\nConnection: close\r\n\r\nserver full\n"
    );
    send(&mut held[0], b"GET /metrics HTTP/1.1\r\n\r\n");
    let body = String::from_utf8(read_to_end(&mut held[0])).unwrap();
    for sample in [
        "sockloop_metrics_requests_total{code=\"503\"} 1\n",
        "sockloop_connections_refused_full_total 0\n",
        "sockloop_metrics_connections_active 4\n",
    ] {
        assert!(body.contains(sample), "no {sample:?} in {body}");
    }
}

/// The endpoint's connections share the reserve of 4 (`config::METRICS_RESERVE`).
const METRICS_RESERVE: usize = 4;

/// A header line count past 100 gets 431 (before: any number of short
/// lines was read, up to the 32 KiB head).
#[test]
fn more_than_100_header_lines_get_431() {
    let (_server, addr) = start(&[]);
    let mut request = b"GET /metrics HTTP/1.1\r\n".to_vec();
    for _ in 0..101 {
        request.extend_from_slice(b"X: y\r\n");
    }
    request.extend_from_slice(b"\r\n");
    let (head, body) = http(addr, &request);
    assert_response(&head, &body, "HTTP/1.1 431 Request Header Fields Too Large");
}

/// A head dripped one header line at a time is cut off after the head's
/// time limit (here the shorter `--idle-timeout 1`), however active the
/// client is: before, each line counted as activity and kept it open. The
/// wait is bounded by IO_TIMEOUT; no timing is asserted.
#[test]
fn a_head_that_never_ends_is_closed_whatever_its_activity() {
    let (_server, addr) = start(&["--idle-timeout", "1"]);
    let mut s = connect(addr);
    send(&mut s, b"GET /metrics HTTP/1.1\r\n");
    s.set_nonblocking(true).unwrap();
    let deadline = std::time::Instant::now() + IO_TIMEOUT;
    let mut byte = [0u8; 1];
    let closed = loop {
        match std::io::Read::read(&mut s, &mut byte) {
            Ok(0) => break true,
            Ok(_) => panic!("a response to an unfinished head"),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            // Closed with a dripped line still unread by the server: the
            // kernel ends the connection with a reset instead of a FIN.
            // Either is the close this test waits for.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(e) => panic!("read: {e}"),
        }
        if std::time::Instant::now() > deadline {
            break false;
        }
        // Activity the server sees: one more complete header line.
        if std::io::Write::write_all(&mut s, b"X-Drip: y\r\n").is_err() {
            break true;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert!(
        closed,
        "the dripped head was still open after {IO_TIMEOUT:?}"
    );
}

/// An outside validator, Prometheus's own `promtool check metrics`, accepts
/// the exposition after every service has been used (so every label value
/// appears). Skipped, with a message, where promtool is not installed
/// (`apt-get install prometheus` provides it).
#[test]
fn promtool_accepts_the_exposition() {
    let has_promtool = std::process::Command::new("promtool")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_promtool {
        eprintln!(
            "SKIPPED promtool_accepts_the_exposition: no promtool (apt-get install prometheus)"
        );
        return;
    }
    let (server, addr) = start(&[]);
    let mut greet = connect(server.greet());
    exchange(&mut greet, b"Ada\n", b"Hi Ada\n");
    let (head, body) = http(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_response(&head, &body, "HTTP/1.1 200 OK");
    let mut check = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run promtool");
    use std::io::Write as _;
    check
        .stdin
        .take()
        .expect("promtool stdin")
        .write_all(body.as_bytes())
        .expect("write to promtool");
    let out = check.wait_with_output().expect("promtool output");
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
