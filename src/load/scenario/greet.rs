//! Greet scenario: request `k` is the name `guestK`; its reply must be
//! exactly `Hi guestK`.
//!
//! # Format
//! ```text
//! request k = "guest" DECIMAL(k) LF
//! reply k   = "Hi guest" DECIMAL(k) LF
//! ```

use super::{Talk, VerifyError, parse_decimal, push_decimal, unexpected_line};

/// The name prefix; the request number makes every name different.
const NAME: &[u8] = b"guest";

/// Appends the next `count` name lines.
pub fn write_requests(talk: &mut Talk, count: u32, out: &mut Vec<u8>) {
    for _ in 0..count {
        out.extend_from_slice(NAME);
        push_decimal(out, talk.sent);
        out.push(b'\n');
        talk.sent += 1;
    }
}

/// Verifies one reply line (without its `\n`).
pub fn check_line(talk: &mut Talk, line: &[u8]) -> Result<(), VerifyError> {
    if talk.answered >= talk.sent {
        return Err(unexpected_line(line));
    }
    // Parse instead of formatting the expected reply: no allocation per reply.
    let ok = line
        .strip_prefix(b"Hi ")
        .and_then(|l| l.strip_prefix(NAME))
        .and_then(parse_decimal)
        == Some(talk.answered);
    if !ok {
        return Err(VerifyError::wrong_reply(
            "greet: wrong greeting",
            talk.answered,
            line,
        ));
    }
    talk.answered += 1;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::Workload;
    use super::*;

    #[test]
    fn names_are_numbered_lines() {
        let mut talk = Talk::new(0);
        let mut out = Vec::new();
        write_requests(&mut talk, 2, &mut out);
        assert_eq!(out, b"guest0\nguest1\n");
    }

    #[test]
    fn right_wrong_and_split_replies() {
        let w = Workload::Greet;
        let mut talk = Talk::new(0);
        write_requests(&mut talk, 3, &mut Vec::new());
        assert_eq!(w.check_replies(&mut talk, b"Hi guest0\nHi gu"), Ok(1));
        assert_eq!(w.check_replies(&mut talk, b"est1\n"), Ok(1));
        let err = w.check_replies(&mut talk, b"Hi guest9\n").unwrap_err();
        assert_eq!(err.reason, "greet: wrong greeting");
        assert!(!err.refused);
        let mut talk = Talk::new(0);
        write_requests(&mut talk, 1, &mut Vec::new());
        for wrong in [
            &b"Hi guest0 \n"[..],
            b"hi guest0\n",
            b"Hi guest00\n",
            b"Hi guest\n",
        ] {
            let mut t = Talk {
                sent: 1,
                ..Talk::new(0)
            };
            assert!(w.check_replies(&mut t, wrong).is_err(), "{wrong:?}");
        }
    }

    #[test]
    fn a_refusal_in_place_of_a_reply_is_the_server_refusing() {
        let mut talk = Talk::new(0);
        write_requests(&mut talk, 1, &mut Vec::new());
        let err = Workload::Greet
            .check_replies(&mut talk, b"ERR server full\n")
            .unwrap_err();
        assert!(err.refused, "{err}");
    }

    #[test]
    fn a_reply_nobody_asked_for_is_an_error() {
        let w = Workload::Greet;
        let mut talk = Talk::new(0);
        let err = w.check_replies(&mut talk, b"ERR empty name\n").unwrap_err();
        assert_eq!(err.reason, "server replied: ERR empty name");
    }
}
