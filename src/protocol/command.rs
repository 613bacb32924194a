//! Command (TCP 7003, and login after a successful login): one command a line.
//!
//! # Format
//! ```text
//! request = CMD LF                 ; trimmed, case-insensitive
//! CMD "R" -> 1*2DIGIT LF           ; a random integer 1..=10
//! CMD "T" -> RFC3339 LF            ; local time with offset, e.g. 2026-11-28T12:34:56.789+01:00
//! CMD "L" -> "Rust " VER ", sockloop " VER LF
//! CMD "E" -> "BYE" LF, then the connection closes
//! other   -> "ERR unknown command (use R, T, L or E)" LF
//! ```
//! `E` stops the whole server only when the caller says it may
//! (`may_stop`): in a logged-in login session, from a loopback peer, with
//! `--allow-remote-shutdown`. On the command service itself, where nobody
//! logged in, it never does. Command keeps no state between lines.

use super::{CloseReason, Ctx, Verdict};
use crate::framing::trim;
use chrono::SecondsFormat;
use rand::RngExt;
use std::io::Write;

/// The reply to anything that is not one of the four commands.
pub const ERR_UNKNOWN: &[u8] = b"ERR unknown command (use R, T, L or E)\n";

/// The reply to `E`.
pub const BYE: &[u8] = b"BYE\n";

/// The reply to `L`: the compiler that built this binary (recorded by
/// `build.rs`) and sockloop's own version.
pub const LANGUAGE: &str = concat!(
    "Rust ",
    env!("SOCKLOOP_RUSTC_VERSION"),
    ", sockloop ",
    env!("CARGO_PKG_VERSION")
);

/// Answers one command line; `E` stops the server if `may_stop`.
pub fn on_line(line: &[u8], ctx: &mut Ctx<'_>, out: &mut Vec<u8>, may_stop: bool) -> Verdict {
    let command = match trim(line) {
        [c] => c.to_ascii_uppercase(),
        _ => 0,
    };
    match command {
        b'R' => {
            let n: u8 = ctx.rng.random_range(1..=10);
            // Writing to a Vec cannot fail.
            let _ = writeln!(out, "{n}");
        }
        b'T' => {
            let now = (ctx.wall_clock)();
            let _ = writeln!(out, "{}", now.to_rfc3339_opts(SecondsFormat::Millis, false));
        }
        b'L' => {
            out.extend_from_slice(LANGUAGE.as_bytes());
            out.push(b'\n');
        }
        b'E' => {
            out.extend_from_slice(BYE);
            return if may_stop {
                Verdict::Shutdown
            } else {
                Verdict::Close(CloseReason::Bye)
            };
        }
        _ => out.extend_from_slice(ERR_UNKNOWN),
    }
    Verdict::Continue
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::testing::with_ctx;

    #[track_caller]
    fn run(line: &[u8]) -> (String, Verdict) {
        with_ctx(false, |ctx| {
            let mut out = Vec::new();
            let v = on_line(line, ctx, &mut out, false);
            (String::from_utf8(out).unwrap(), v)
        })
    }

    #[test]
    fn r_is_a_number_from_1_to_10() {
        with_ctx(false, |ctx| {
            let mut seen = [false; 11];
            for _ in 0..500 {
                let mut out = Vec::new();
                assert_eq!(on_line(b"R", ctx, &mut out, false), Verdict::Continue);
                let text = std::str::from_utf8(&out).unwrap();
                let n: usize = text.strip_suffix('\n').unwrap().parse().unwrap();
                seen[n] = true;
            }
            assert!(!seen[0]);
            assert!(
                seen[1..].iter().all(|s| *s),
                "all of 1..=10 appear: {seen:?}"
            );
        });
    }

    #[test]
    fn t_is_rfc3339_with_offset() {
        let (out, v) = run(b"t");
        assert_eq!(out, "2026-11-28T12:34:56.000+01:00\n");
        assert_eq!(v, Verdict::Continue);
    }

    #[test]
    fn l_names_rust_and_sockloop_versions() {
        let (out, _) = run(b" L ");
        assert!(out.starts_with("Rust 1."), "{out}");
        assert!(out.ends_with(&format!(", sockloop {}\n", env!("CARGO_PKG_VERSION"))));
    }

    #[test]
    fn e_says_bye_and_closes_only_this_connection() {
        assert_eq!(
            run(b"e"),
            ("BYE\n".into(), Verdict::Close(CloseReason::Bye))
        );
    }

    #[test]
    fn e_stops_the_server_only_when_allowed() {
        with_ctx(true, |ctx| {
            let mut out = Vec::new();
            assert_eq!(on_line(b"E", ctx, &mut out, true), Verdict::Shutdown);
            assert_eq!(out, BYE);
        });
    }

    /// The command service passes `may_stop = false` whatever the context
    /// says: one unauthenticated line must not stop the server.
    #[test]
    fn e_on_the_command_service_never_stops_the_server() {
        let mut session = crate::protocol::Session::Command;
        with_ctx(true, |ctx| {
            let mut out = Vec::new();
            let fed = session.feed(b"E\n", ctx, &mut out, 4096, usize::MAX);
            assert_eq!(fed.verdict, Verdict::Close(CloseReason::Bye));
        });
    }

    #[test]
    fn anything_else_is_an_error_line_and_stays_open() {
        for line in [&b""[..], b"RR", b"x", b"\xff", b"R T"] {
            let (out, v) = run(line);
            assert_eq!(out.as_bytes(), ERR_UNKNOWN, "for {line:?}");
            assert_eq!(v, Verdict::Continue);
        }
    }
}
