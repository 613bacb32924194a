//! The TCP services over real sockets, byte for byte: echo (binary data,
//! half-close), greet, login and command, with their error replies.

mod common;

use common::*;
use rand::rngs::SmallRng;
use rand::{Rng, RngExt, SeedableRng};
use std::io::Write;
use std::net::Shutdown;

/// Echo returns a few MiB of random binary data (every byte value) byte for
/// byte, while the client writes it in random-sized pieces and reads
/// concurrently; after the client's FIN the server flushes and closes.
#[test]
fn echo_returns_random_binary_stream_unchanged() {
    let server = Server::builder().only(&["echo"]).spawn();
    let mut rng = seeded_rng("echo");
    let len = rng.random_range(1 << 20..=4 << 20);
    let mut data: Vec<u8> = (0..=255).collect();
    data.resize(len, 0);
    rng.fill_bytes(&mut data[256..]);
    let mut sizes = SmallRng::seed_from_u64(rng.next_u64());

    let mut stream = connect(server.echo());
    let mut writer = stream.try_clone().unwrap();
    let sent = data.clone();
    let writing = std::thread::spawn(move || {
        let mut at = 0;
        while at < sent.len() {
            // Half tiny writes (many per segment), half up to 64 KiB.
            let size = if sizes.random_bool(0.5) {
                sizes.random_range(1..=64)
            } else {
                sizes.random_range(1..=65536)
            };
            let end = (at + size).min(sent.len());
            writer.write_all(&sent[at..end]).unwrap();
            at = end;
        }
        writer.shutdown(Shutdown::Write).unwrap();
    });
    let got = read_to_end(&mut stream);
    writing.join().unwrap();
    assert_eq!(got.len(), data.len());
    assert!(got == data, "echoed bytes differ from the input");
}

/// Half-close: bytes written before `shutdown(Write)` all come back, then EOF,
/// and the connection can still be read after our side is closed.
#[test]
fn echo_half_close_returns_everything_then_eof() {
    let server = Server::builder().only(&["echo"]).spawn();
    let mut stream = connect(server.echo());
    send(&mut stream, b"no newline \x00\xff\r");
    send(&mut stream, b"second\n");
    stream.shutdown(Shutdown::Write).unwrap();
    assert_eq!(
        show(&read_to_end(&mut stream)),
        show(b"no newline \x00\xff\rsecond\n")
    );
    expect_closed(&mut stream);
}

/// Greet: names trimmed, `\r\n` accepted, binary names returned as bytes,
/// empty names are an error that keeps the connection open.
#[test]
fn greet_answers_each_line() {
    let server = Server::builder().only(&["greet"]).spawn();
    let mut s = connect(server.greet());
    exchange(&mut s, b"bob\n", b"Hi bob\n");
    exchange(&mut s, b"  Ann Lee \t\n", b"Hi Ann Lee\n");
    exchange(&mut s, b"carl\r\n", b"Hi carl\n");
    exchange(&mut s, b"\n", b"ERR empty name\n");
    exchange(&mut s, b" \t \r\n", b"ERR empty name\n");
    exchange(&mut s, b"\xff\x00z\n", b"Hi \xff\x00z\n");
    exchange(&mut s, b"still here\n", b"Hi still here\n");
}

/// Greet: several lines in one write get one reply each, in order; one line
/// split over many one-byte writes gets exactly one reply.
#[test]
fn greet_handles_batched_and_split_lines() {
    let server = Server::builder().only(&["greet"]).spawn();
    let mut s = connect(server.greet());
    send(&mut s, b"a\nb\r\n\n  c  \nd\n");
    for want in [
        &b"Hi a\n"[..],
        b"Hi b\n",
        b"ERR empty name\n",
        b"Hi c\n",
        b"Hi d\n",
    ] {
        expect_line(&mut s, want);
    }
    for byte in b"split over writes\r\n" {
        send(&mut s, &[*byte]);
    }
    expect_line(&mut s, b"Hi split over writes\n");
    exchange(&mut s, b"after\n", b"Hi after\n");
}

/// Login with admin/12345 (trimmed, `\r\n`) says hello, then takes commands
/// until `E` says BYE and closes.
#[test]
fn login_success_then_commands() {
    let server = Server::builder().only(&["login"]).spawn();
    let mut s = connect(server.login());
    send(&mut s, b" admin \r\n");
    exchange(&mut s, b"12345\n", b"hello admin, welcome to the server\n");
    let n = String::from_utf8(read_reply(&mut s, b"r\n")).unwrap();
    assert!(
        (1..=10).contains(&n.trim_end().parse::<u32>().unwrap()),
        "{n:?}"
    );
    exchange(
        &mut s,
        b"what\n",
        b"ERR unknown command (use R, T, L or E)\n",
    );
    exchange(&mut s, b"E\n", b"BYE\n");
    expect_closed(&mut s);
}

/// A wrong password and a wrong user each get `ERR invalid credentials` and
/// start over at the user prompt; a correct pair after them still works.
#[test]
fn login_wrong_password_or_user_then_success() {
    let server = Server::builder().only(&["login"]).spawn();
    let mut s = connect(server.login());
    send(&mut s, b"admin\n");
    exchange(&mut s, b"1234\n", b"ERR invalid credentials\n");
    send(&mut s, b"root\n");
    exchange(&mut s, b"12345\n", b"ERR invalid credentials\n");
    send(&mut s, b"admin\n");
    exchange(&mut s, b"12345\n", b"hello admin, welcome to the server\n");
    exchange(&mut s, b"E\n", b"BYE\n");
    expect_closed(&mut s);
}

/// The third failure on one connection gets `ERR too many failed attempts`
/// and the connection closes, even with the three attempts in one write
/// (from a source of its own: the first source is penalised by then, each
/// failure reply waiting out its source's penalty, 1, 2 then 4 s).
#[test]
fn login_three_failures_close_the_connection() {
    let server = Server::builder().only(&["login"]).spawn();
    let mut s = connect(server.login());
    for _ in 0..2 {
        send(&mut s, b"admin\n");
        exchange(&mut s, b"wrong\n", b"ERR invalid credentials\n");
    }
    send(&mut s, b"admin\n");
    exchange(&mut s, b"nope\n", b"ERR too many failed attempts\n");
    expect_closed(&mut s);

    let mut s = connect_from([127, 0, 0, 2], server.login());
    send(&mut s, b"a\nb\nc\nd\ne\nf\nadmin\n12345\n");
    let all = read_to_end(&mut s);
    let want = b"ERR invalid credentials\nERR invalid credentials\nERR too many failed attempts\n";
    assert_eq!(show(&all), show(want));
}

/// `--user` replaces admin:12345; several users are accepted and a password
/// may contain `:`.
#[test]
fn login_custom_users_replace_the_default() {
    let server = Server::builder()
        .only(&["login"])
        .args(&["--user", "bob:pw", "--user", "carol:a:b"])
        .spawn();
    let mut s = connect(server.login());
    send(&mut s, b"admin\n");
    exchange(&mut s, b"12345\n", b"ERR invalid credentials\n");
    send(&mut s, b"bob\n");
    exchange(&mut s, b"pw\n", b"hello bob, welcome to the server\n");
    let mut s = connect(server.login());
    send(&mut s, b"carol\n");
    exchange(&mut s, b"a:b\n", b"hello carol, welcome to the server\n");
}

/// `R` always answers a number from 1 to 10 (each of them shows up in 300
/// tries; missing one has probability ~2e-13), case-insensitive and trimmed.
#[test]
fn command_r_is_a_number_from_1_to_10() {
    let server = Server::builder().only(&["command"]).spawn();
    let mut s = connect(server.command());
    let mut seen = [0u32; 11];
    for i in 0..300 {
        let request: &[u8] = [&b"R\n"[..], b"r\n", b"  r \r\n"][i % 3];
        let reply = read_reply(&mut s, request);
        let text = std::str::from_utf8(&reply).unwrap();
        let n: usize = text
            .strip_suffix('\n')
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("not a number line: {text:?}"));
        assert!((1..=10).contains(&n), "{n}");
        seen[n] += 1;
    }
    assert!(seen[1..].iter().all(|&c| c > 0), "counts {seen:?}");
}

/// `T` is RFC 3339 local time with milliseconds and a numeric offset, close
/// to the test's own clock.
#[test]
fn command_t_is_rfc3339_with_millis_and_offset() {
    let server = Server::builder().only(&["command"]).spawn();
    let mut s = connect(server.command());
    for request in [&b"T\n"[..], b" t\r\n"] {
        let reply = String::from_utf8(read_reply(&mut s, request)).unwrap();
        let text = reply.strip_suffix('\n').expect("newline");
        let time =
            chrono::DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        // `2026-11-28T05:59:21.015+00:00`: 29 characters, millis at 20..23.
        let b = text.as_bytes();
        assert_eq!(b.len(), 29, "{text:?}");
        assert_eq!(b[19], b'.', "{text:?}");
        assert!(b[20..23].iter().all(u8::is_ascii_digit), "{text:?}");
        assert!(matches!(b[23], b'+' | b'-') && b[26] == b':', "{text:?}");
        let skew = (chrono::Utc::now() - time.to_utc()).num_seconds().abs();
        assert!(skew < 300, "{text:?} is {skew} s off the test's clock");
    }
}

/// `L` names the compiler and sockloop versions.
#[test]
fn command_l_names_rust_and_sockloop() {
    let server = Server::builder().only(&["command"]).spawn();
    let mut s = connect(server.command());
    for request in [&b"L\n"[..], b"l\n"] {
        let reply = String::from_utf8(read_reply(&mut s, request)).unwrap();
        assert!(reply.starts_with("Rust 1."), "{reply:?}");
        assert!(reply.ends_with(", sockloop 0.1.0\n"), "{reply:?}");
        let rustc = &reply["Rust ".len()..reply.len() - ", sockloop 0.1.0\n".len()];
        assert!(
            rustc.split('.').all(|p| p.parse::<u32>().is_ok()),
            "{reply:?}"
        );
    }
}

/// Anything but R, T, L, E gets the error line and the connection stays open.
#[test]
fn command_unknown_is_an_error_line_and_stays_open() {
    let server = Server::builder().only(&["command"]).spawn();
    let mut s = connect(server.command());
    let err = b"ERR unknown command (use R, T, L or E)\n";
    for request in [
        &b"X\n"[..],
        b"RR\n",
        b"\n",
        b"R T\n",
        b"\xff\n",
        b"help\r\n",
    ] {
        exchange(&mut s, request, err);
    }
    let reply = read_reply(&mut s, b"R\n");
    assert!(
        reply.len() <= 3 && reply.ends_with(b"\n"),
        "{}",
        show(&reply)
    );
}

/// `E` (any case) says BYE and closes that connection only; without
/// `--allow-remote-shutdown` the server keeps serving.
#[test]
fn command_e_closes_only_the_connection() {
    let server = Server::builder().only(&["command", "greet"]).spawn();
    let mut s = connect(server.command());
    exchange(&mut s, b" e \n", b"BYE\n");
    expect_closed(&mut s);
    let mut s = connect(server.command());
    exchange(&mut s, b"E\r\n", b"BYE\n");
    expect_closed(&mut s);
    let mut g = connect(server.greet());
    exchange(&mut g, b"still up\n", b"Hi still up\n");
}

/// Lines after `E` in the same write are not answered: BYE, then EOF.
#[test]
fn command_nothing_after_bye() {
    let server = Server::builder().only(&["command"]).spawn();
    let mut s = connect(server.command());
    send(&mut s, b"E\nR\nL\n");
    assert_eq!(show(&read_to_end(&mut s)), "BYE\\n");
}
