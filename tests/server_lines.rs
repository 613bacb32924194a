//! Line framing over real sockets: the `--max-line` cap on every line
//! service, and the final unterminated line before the client's FIN.

mod common;

use common::*;
use std::net::{Shutdown, SocketAddr};

/// A line over the default max-line (4096) gets `ERR line too long` and the
/// connection closes, on each line service; exactly 4096 bytes is accepted.
#[test]
fn line_over_default_max_line_is_refused() {
    let server = Server::builder()
        .only(&["greet", "login", "command"])
        .spawn();
    for addr in [server.greet(), server.login(), server.command()] {
        let mut s = connect(addr);
        let mut line = vec![b'x'; 5000];
        line.push(b'\n');
        send(&mut s, &line);
        assert_eq!(show(&read_to_end(&mut s)), "ERR line too long\\n", "{addr}");
    }
    let mut s = connect(server.greet());
    let name = "n".repeat(4096);
    exchange(
        &mut s,
        format!("{name}\r\n").as_bytes(),
        format!("Hi {name}\n").as_bytes(),
    );
}

/// With `--max-line 10`: 10 bytes (with or without `\r`) are fine, 11 are
/// refused, whether or not the `\n` has arrived, on each line service.
#[test]
fn max_line_flag_sets_the_limit() {
    let server = Server::builder()
        .only(&["greet", "login", "command"])
        .args(&["--max-line", "10"])
        .spawn();
    let mut g = connect(server.greet());
    exchange(&mut g, b"0123456789\n", b"Hi 0123456789\n");
    exchange(&mut g, b"0123456789\r\n", b"Hi 0123456789\n");
    let mut c = connect(server.command());
    exchange(
        &mut c,
        b"0123456789\n",
        b"ERR unknown command (use R, T, L or E)\n",
    );
    let mut l = connect(server.login());
    send(&mut l, b"0123456789\n");
    exchange(&mut l, b"0123456789\n", b"ERR invalid credentials\n");
    for (addr, line) in [
        (server.greet(), &b"0123456789a\n"[..]),
        (server.command(), b"0123456789ab"),
        (server.login(), b"01234567890123456789"),
    ] {
        let mut s = connect(addr);
        send(&mut s, line);
        assert_eq!(show(&read_to_end(&mut s)), "ERR line too long\\n", "{addr}");
    }
}

/// A final line without `\n` before the client's FIN is answered, then the
/// server closes (`printf R | nc` works), on every TCP service.
#[test]
fn final_unterminated_line_is_answered() {
    let server = Server::builder()
        .only(&["echo", "greet", "login", "command"])
        .spawn();
    let cases: [(_, &[u8], &[u8]); 4] = [
        (server.greet(), b"zed", b"Hi zed\n"),
        (server.greet(), b"amy\nzed\r", b"Hi amy\nHi zed\n"),
        (
            server.login(),
            b"admin\n12345",
            b"hello admin, welcome to the server\n",
        ),
        (server.echo(), b"tail", b"tail"),
    ];
    for (addr, request, want) in cases {
        assert_eq!(show(&final_line_reply(addr, request)), show(want), "{addr}");
    }
    let got = final_line_reply(server.command(), b"L");
    assert!(
        got.starts_with(b"Rust 1.") && got.ends_with(b", sockloop 0.1.0\n"),
        "{}",
        show(&got)
    );
    let got = final_line_reply(server.command(), b"R");
    let n: u32 = std::str::from_utf8(&got)
        .unwrap()
        .trim_end_matches('\n')
        .parse()
        .unwrap();
    assert!(
        (1..=10).contains(&n) && got.ends_with(b"\n"),
        "{}",
        show(&got)
    );
}

/// Sends `request`, then FIN; everything the server sends before its EOF.
#[track_caller]
fn final_line_reply(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut s = connect(addr);
    send(&mut s, request);
    s.shutdown(Shutdown::Write).unwrap();
    read_to_end(&mut s)
}
