//! Command scenario: a mix of `R`, `T` and `L`; each reply's FORM is checked
//! (its value is the server's to choose).
//!
//! # Format
//! ```text
//! request k = ("R" | "T" | "L") LF      ; chosen by hashing (seed, k)
//! reply  R  = 1*2DIGIT LF               ; an integer 1..=10
//! reply  T  = RFC3339 LF                ; parseable by chrono
//! reply  L  = "Rust " ... ", sockloop " ... LF
//! ```
//! `E` is never sent: it would end the connection.

use super::{Talk, VerifyError, parse_decimal, unexpected_line};

/// The commands the scenario mixes.
const COMMANDS: [u8; 3] = [b'R', b'T', b'L'];

/// Which command request `k` of a connection is. A multiplicative hash
/// (Fibonacci hashing) so the mix is irregular but recomputable.
pub fn command_for(seed: u32, k: u64) -> u8 {
    let h = (k ^ u64::from(seed)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    COMMANDS[((h >> 32) % 3) as usize]
}

/// Appends the next `count` command lines.
pub fn write_requests(talk: &mut Talk, count: u32, out: &mut Vec<u8>) {
    for _ in 0..count {
        out.push(command_for(talk.seed, talk.sent));
        out.push(b'\n');
        talk.sent += 1;
    }
}

/// Verifies one reply line (without its `\n`).
pub fn check_line(talk: &mut Talk, line: &[u8]) -> Result<(), VerifyError> {
    if talk.answered >= talk.sent {
        return Err(unexpected_line(line));
    }
    let command = command_for(talk.seed, talk.answered);
    if !reply_fits(command, line) {
        let reason = match command {
            b'R' => "command: R reply is not an integer 1..=10",
            b'T' => "command: T reply is not an RFC 3339 time",
            _ => "command: L reply is not `Rust ..., sockloop ...`",
        };
        return Err(VerifyError::wrong_reply(reason, talk.answered, line));
    }
    talk.answered += 1;
    Ok(())
}

/// Whether `line` has the form of a reply to `command`.
fn reply_fits(command: u8, line: &[u8]) -> bool {
    match command {
        b'R' => parse_decimal(line).is_some_and(|n| (1..=10).contains(&n)),
        b'T' => std::str::from_utf8(line)
            .ok()
            .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok()),
        _ => line.starts_with(b"Rust ") && memchr::memmem::find(line, b", sockloop ").is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::Workload;
    use super::*;

    /// A talk that has sent requests until one of each command was among them.
    fn talk_with_all_commands() -> (Talk, Vec<u8>) {
        let mut talk = Talk::new(99);
        let mut out = Vec::new();
        write_requests(&mut talk, 30, &mut out);
        for c in COMMANDS {
            assert!(out.contains(&c), "30 requests include {}", c as char);
        }
        (talk, out)
    }

    fn good_reply(command: u8) -> &'static [u8] {
        match command {
            b'R' => b"10\n",
            b'T' => b"2026-11-28T05:59:21.015+00:00\n",
            _ => b"Rust 1.95.0, sockloop 0.1.0\n",
        }
    }

    #[test]
    fn right_replies_pass_even_split_byte_by_byte() {
        let (mut talk, _) = talk_with_all_commands();
        let mut replies = Vec::new();
        for k in 0..talk.sent {
            replies.extend_from_slice(good_reply(command_for(talk.seed, k)));
        }
        let mut done = 0;
        for b in replies.chunks(1) {
            done += Workload::Command.check_replies(&mut talk, b).unwrap();
        }
        assert_eq!(u64::from(done), talk.sent);
    }

    #[test]
    fn wrong_forms_fail() {
        for (command, bad) in [
            (b'R', &b"0"[..]),
            (b'R', b"11"),
            (b'R', b"05"),
            (b'T', b"2026-11-28 05:59:21"),
            (b'T', b"ERR unknown command (use R, T, L or E)"),
            (b'L', b"Rust 1.95.0"),
            (b'L', b"Go 1.22, sockloop 0.1.0"),
        ] {
            assert!(!reply_fits(command, bad), "{} {bad:?}", command as char);
            assert!(reply_fits(
                command,
                good_reply(command).strip_suffix(b"\n").unwrap()
            ));
        }
    }

    #[test]
    fn a_wrong_reply_is_reported_with_its_command() {
        let mut talk = Talk::new(5);
        write_requests(&mut talk, 1, &mut Vec::new());
        let err = Workload::Command
            .check_replies(&mut talk, b"what\n")
            .unwrap_err();
        assert!(err.reason.starts_with("command: "), "{err}");
        assert_eq!(talk.answered, 0);
    }
}
