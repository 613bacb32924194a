//! Line scenario (`--service line`): any line-based TCP server, one request
//! line and one reply line at a time, pipelined by `--depth`. Request `k`
//! of a connection is the `--send` template rendered for (connection, `k`);
//! reply `k` must match the `--expect` pattern rendered the same way
//! (`template.rs`).
//!
//! # Format
//! ```text
//! request k = render(--send, conn, k) LF
//! reply k   = LINE [CR] LF      ; LINE matches render(--expect, conn, k)
//! ```
//! A CR before the LF is dropped before matching, so CRLF servers (Redis's
//! inline protocol: `PING` -> `+PONG`) are checked on their text. A reply
//! line longer than [`MAX_REPLY`] bytes fails verification ("reply line too
//! long"), and a line with no request waiting is an error, as in every
//! scenario.
//!
//! The state is the connection's counters ([`Talk`]): `sent` requests
//! written, `answered` replies verified; `answered < sent` is "awaiting
//! reply `answered`". `{conn}` is [`Talk::seed`], which the workload sets to
//! the connection's number for this scenario (`Workload::talk`).

use super::template::{Expect, Template, Vars};
use super::{Talk, VerifyError, unexpected_line};

/// The longest reply line read, in bytes without its line end. Lines
/// longer than any expected reply of a request/reply line protocol's
/// status line (`+OK`, `250 ...`, a value) are cut off here; only a split
/// line is ever buffered, and only this much.
pub const MAX_REPLY: usize = 4096;

/// The report's key for a reply that does not match `--expect`.
pub const MISMATCH: &str = "line: reply does not match --expect";

/// The run's request template and reply pattern.
#[derive(Debug, Clone)]
pub struct Line {
    send: Template,
    expect: Expect,
    /// `{rand:N}`'s per-run seed.
    seed: u64,
}

impl Line {
    /// The scenario of `--send` and `--expect`, `{rand:N}` drawn from `seed`.
    pub fn new(send: Template, expect: Expect, seed: u64) -> Line {
        Line { send, expect, seed }
    }

    /// The placeholders' values for request `seq` of `talk`'s connection.
    fn vars(&self, talk: &Talk, seq: u64) -> Vars {
        Vars {
            conn: u64::from(talk.seed),
            seq,
            seed: self.seed,
        }
    }

    /// Appends the next `count` request lines.
    pub fn write_requests(&self, talk: &mut Talk, count: u32, out: &mut Vec<u8>) {
        for _ in 0..count {
            self.send.render(self.vars(talk, talk.sent), out);
            out.push(b'\n');
            talk.sent += 1;
        }
    }

    /// Verifies one reply line (without its `\n`): the oldest request
    /// waiting is answered, or it is an error.
    pub fn check_line(&self, talk: &mut Talk, line: &[u8]) -> Result<(), VerifyError> {
        if talk.answered >= talk.sent {
            return Err(unexpected_line(line));
        }
        let text = line.strip_suffix(b"\r").unwrap_or(line);
        if text.len() > MAX_REPLY {
            return Err(too_long());
        }
        if !self.expect.matches(text, self.vars(talk, talk.answered)) {
            return Err(VerifyError::wrong_reply(MISMATCH, talk.answered, text));
        }
        talk.answered += 1;
        Ok(())
    }
}

/// The error for a reply line over [`MAX_REPLY`] bytes, whole or split.
pub fn too_long() -> VerifyError {
    VerifyError::new(
        super::TOO_LONG,
        format!("more than {MAX_REPLY} bytes without a newline (the line scenario's cap)"),
    )
}

#[cfg(test)]
mod tests {
    use super::super::Workload;
    use super::*;

    /// The workload of `--send send --expect expect`.
    fn line(send: &str, expect: &str) -> Workload {
        Workload::Line(Line::new(
            Template::parse(send, "--send").unwrap(),
            Expect::parse(expect, "--expect", MAX_REPLY).unwrap(),
            42,
        ))
    }

    /// Connection number `conn` with `sent` requests written.
    fn sent(w: &Workload, conn: u32, sent: u32) -> (Talk, Vec<u8>) {
        let mut talk = Talk::new(conn);
        let mut out = Vec::new();
        w.write_requests(&mut talk, sent, &mut out);
        (talk, out)
    }

    #[test]
    fn requests_are_the_template_per_connection_and_request() {
        let w = line("u{conn} #{seq}", "*");
        let (talk, out) = sent(&w, 3, 2);
        assert_eq!(out, b"u3 #0\nu3 #1\n");
        assert_eq!((talk.sent, talk.answered), (2, 0));
    }

    #[test]
    fn awaiting_a_reply_then_answered_pipelined_and_split() {
        let w = line("u{conn}", "Hi u{conn}");
        let (mut talk, _) = sent(&w, 5, 3);
        assert_eq!(w.check_replies(&mut talk, b"Hi u5\nHi u"), Ok(1));
        assert_eq!(talk.partial, b"Hi u");
        assert_eq!(w.check_replies(&mut talk, b"5\nHi u5\n"), Ok(2));
        assert_eq!((talk.sent, talk.answered), (3, 3));
        assert!(talk.partial.is_empty());
    }

    #[test]
    fn crlf_replies_are_checked_on_their_text() {
        let w = line("PING", "+PONG");
        let (mut talk, out) = sent(&w, 0, 2);
        assert_eq!(out, b"PING\nPING\n");
        assert_eq!(w.check_replies(&mut talk, b"+PONG\r\n+PONG\n"), Ok(2));
        let (mut talk, _) = sent(&w, 0, 1);
        let err = w.check_replies(&mut talk, b"+PONG\r\r\n").unwrap_err();
        assert_eq!(err.reason, MISMATCH, "only one CR is a line end");
    }

    #[test]
    fn a_wrong_reply_is_a_mismatch_naming_the_reply() {
        let w = line("GET {seq}", "v{seq}*");
        let (mut talk, _) = sent(&w, 0, 2);
        assert_eq!(w.check_replies(&mut talk, b"v0 yes\n"), Ok(1));
        let err = w.check_replies(&mut talk, b"v0 again\n").unwrap_err();
        assert_eq!(err.reason, MISMATCH);
        assert!(err.detail.contains("reply 1") && err.detail.contains("v0 again"));
        assert!(!err.refused);
    }

    #[test]
    fn a_reply_with_no_request_waiting_is_an_error() {
        let w = line("PING", "*");
        let (mut talk, _) = sent(&w, 0, 1);
        assert_eq!(
            w.check_replies(&mut talk, b"+PONG\n+PONG\n")
                .unwrap_err()
                .reason,
            "reply without a request"
        );
        let (mut talk, _) = sent(&w, 0, 0);
        let err = w
            .check_replies(&mut talk, b"ERR server full\n")
            .unwrap_err();
        assert!(err.refused, "the server turning the connection away: {err}");
    }

    #[test]
    fn a_reply_line_longer_than_the_cap_is_an_error_not_a_buffer() {
        let w = line("PING", "*");
        let (mut talk, _) = sent(&w, 0, 1);
        let mut long = vec![b'x'; MAX_REPLY];
        long.push(b'\r');
        assert_eq!(w.check_replies(&mut talk, &long), Ok(0), "at the cap: kept");
        assert_eq!(w.check_replies(&mut talk, b"\n"), Ok(1), "CRLF at the cap");
        let (mut talk, _) = sent(&w, 0, 1);
        let err = w
            .check_replies(&mut talk, &long[..MAX_REPLY - 1])
            .map(|_| ());
        assert_eq!(err, Ok(()));
        let err = w.check_replies(&mut talk, b"xxx").unwrap_err();
        assert_eq!(err.reason, "reply line too long");
        assert!(err.detail.contains("4096"), "{err}");
        let (mut talk, _) = sent(&w, 0, 1);
        long[MAX_REPLY] = b'x';
        long.push(b'\n');
        let err = w.check_replies(&mut talk, &long).unwrap_err();
        assert_eq!(err.reason, "reply line too long", "whole in one read too");
    }
}
