//! Hostile input on the line services: 10 MB without a newline (refused
//! with exactly `ERR line too long` then EOF, the rest discarded), and
//! random binary garbage (NUL, invalid UTF-8, lone `\r`, control bytes),
//! which is still answered line by line as the protocol says.

mod common;

use common::*;
use rand::{Rng, RngExt};
use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpStream};

/// The oversized request: 10 MB, no newline.
const OVERSIZED: usize = 10_000_000;

/// Sends `bytes` from a second thread (the server may stop reading, so the
/// write must not block the reader) and then half-closes. Write errors are
/// ignored: whether the server took everything is not what is tested.
fn send_in_background(stream: &TcpStream, bytes: Vec<u8>) -> std::thread::JoinHandle<()> {
    let mut writer = stream.try_clone().unwrap();
    std::thread::spawn(move || {
        let _ = writer.write_all(&bytes);
        let _ = writer.shutdown(Shutdown::Write);
    })
}

/// 10 MB without a newline to greet, login (as the user line and as the
/// password line) and command: each reply is exactly `ERR line too long\n`
/// and then EOF, the server lingers to swallow the rest of the upload (no
/// reset destroys the reply), and afterwards every service still serves.
#[test]
fn ten_megabytes_without_newline_get_line_too_long_then_eof() {
    let server = Server::start(&[]);
    let baseline = server.open_sockets();
    let cases: [(SocketAddr, &[u8]); 4] = [
        (server.greet(), b""),
        (server.login(), b""),
        (server.login(), b"admin\n"),
        (server.command(), b"R\n"),
    ];
    for (addr, prefix) in cases {
        let mut s = connect(addr);
        send(&mut s, prefix);
        if prefix == b"R\n" {
            let n = read_line(&mut s);
            assert!(matches!(n.len(), 2 | 3), "R reply {:?}", show(&n));
        }
        let writer = send_in_background(&s, vec![b'A'; OVERSIZED]);
        expect_rest(&mut s, b"ERR line too long\n");
        writer.join().unwrap();
    }
    server.wait_for_open_sockets(baseline);
    server.assert_serving(DEFAULT_LOGIN);
    let exit = server.terminate();
    exit.assert_success();
    assert_eq!(summary_count(&exit.stderr, "line_too_long"), 4);
    assert_no_conns_at_shutdown(&exit.stderr);
}

/// Bytes the garbage favours: NUL, CR, whitespace, DEL, ESC, and invalid or
/// truncated UTF-8 (`\xff`, a lone continuation byte, a lone lead byte).
const NASTY: &[u8] = b"\x00\r\r \t\x7f\x1b\xff\xfe\x80\xc3\x28\xe2\x82";

/// One random line (without `\n`) of 0..300 bytes: nasty bytes, random
/// bytes and letters, never `\n`.
fn garbage_line(rng: &mut impl Rng) -> Vec<u8> {
    let len = rng.random_range(0..300);
    (0..len)
        .map(|_| match rng.random_range(0..3) {
            0 => NASTY[rng.random_range(0..NASTY.len())],
            1 => rng.random_range(b'a'..=b'z'),
            _ => match rng.random_range(0..=255u8) {
                b'\n' => b'\r',
                b => b,
            },
        })
        .collect()
}

/// What the server does with a line: one `\r` before the `\n` dropped, then
/// ASCII whitespace trimmed (the documented framing).
fn trimmed(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line).trim_ascii()
}

/// Sends `lines` (each plus `\n`) from a second thread, half-closes, and
/// returns everything the server sent until its EOF.
fn converse(addr: SocketAddr, lines: &[Vec<u8>]) -> Vec<u8> {
    let mut s = connect(addr);
    let request: Vec<u8> = lines
        .iter()
        .flat_map(|l| l.iter().copied().chain([b'\n']))
        .collect();
    let writer = send_in_background(&s, request);
    let reply = read_to_end(&mut s);
    writer.join().unwrap();
    reply
}

/// 200 random garbage lines to each service: echo returns the bytes
/// unchanged; greet answers every line (`Hi NAME` with the bytes as sent,
/// or `ERR empty name`); command answers every line with the unknown-command
/// error (lines that would be a real command are replaced); login answers
/// garbage credentials twice with `ERR invalid credentials` and then closes
/// with `ERR too many failed attempts`, ignoring the rest. The server then
/// still serves everything.
#[test]
fn random_binary_garbage_is_answered_per_protocol() {
    let server = Server::start(&[]);
    let baseline = server.open_sockets();
    let mut rng = seeded_rng("garbage");
    let lines: Vec<Vec<u8>> = (0..200).map(|_| garbage_line(&mut rng)).collect();

    let mut echo_request = Vec::new();
    for l in &lines {
        echo_request.extend_from_slice(l);
        echo_request.push(b'\n');
    }
    echo_request.extend_from_slice(b"\x00tail\r");
    let echoed = converse(server.echo(), &[echo_request.clone()]);
    assert!(
        echoed.strip_suffix(b"\n") == Some(&echo_request[..]),
        "echo changed garbage"
    );

    let mut want = Vec::new();
    for l in &lines {
        match trimmed(l) {
            [] => want.extend_from_slice(b"ERR empty name\n"),
            name => {
                want.extend_from_slice(b"Hi ");
                want.extend_from_slice(name);
                want.push(b'\n');
            }
        }
    }
    assert_eq!(show(&converse(server.greet(), &lines)), show(&want));

    let commands: Vec<Vec<u8>> = lines
        .iter()
        .map(|l| match trimmed(l) {
            [c] if b"rRtTlLeE".contains(c) => b"zz".to_vec(),
            _ => l.clone(),
        })
        .collect();
    let want = b"ERR unknown command (use R, T, L or E)\n".repeat(commands.len());
    assert_eq!(show(&converse(server.command(), &commands)), show(&want));

    let want = b"ERR invalid credentials\nERR invalid credentials\nERR too many failed attempts\n";
    assert_eq!(show(&converse(server.login(), &lines)), show(want));

    server.wait_for_open_sockets(baseline);
    server.assert_serving(DEFAULT_LOGIN);
    let exit = server.terminate();
    exit.assert_success();
    assert_no_conns_at_shutdown(&exit.stderr);
}

/// Regression (found by `proptest_protocols`): when one read held exactly
/// enough lines to fill the 64 KiB output budget (4,370 empty names make
/// 65,550 reply bytes) followed by an over-long partial line, the partial
/// line stayed buffered past `--max-line` and was answered as a name at the
/// client's EOF (`Hi xxx...`, 30,000 bytes). It must be refused.
#[test]
fn over_long_partial_line_after_a_full_output_budget_is_refused() {
    let server = Server::builder().only(&["greet"]).spawn();
    let mut s = connect(server.greet());
    let mut request = b"\n".repeat(4370);
    request.extend_from_slice(&[b'x'; 30_000]);
    let writer = send_in_background(&s, request);
    let mut want = b"ERR empty name\n".repeat(4370);
    want.extend_from_slice(b"ERR line too long\n");
    let got = read_to_end(&mut s);
    writer.join().unwrap();
    assert!(
        got == want,
        "{} reply bytes, ending {:?}",
        got.len(),
        show(&got[got.len().saturating_sub(40)..])
    );
}
