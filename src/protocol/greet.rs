//! Greet (TCP 7001): each line `NAME` gets `Hi NAME`.
//!
//! # Format
//! ```text
//! request = NAME LF            ; NAME is trimmed of surrounding whitespace
//! reply   = "Hi " NAME LF      ; or "ERR empty name" LF when NAME is empty
//! ```
//! The connection stays open for more lines. Greet keeps no state between
//! lines, so it is a function rather than a state machine.

use super::Verdict;
use crate::framing::trim;

/// The reply to an empty (or all-whitespace) name.
pub const ERR_EMPTY_NAME: &[u8] = b"ERR empty name\n";

/// Answers one line.
pub fn on_line(line: &[u8], out: &mut Vec<u8>) -> Verdict {
    let name = trim(line);
    if name.is_empty() {
        out.extend_from_slice(ERR_EMPTY_NAME);
    } else {
        out.extend_from_slice(b"Hi ");
        out.extend_from_slice(name);
        out.push(b'\n');
    }
    Verdict::Continue
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn greet(line: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        assert_eq!(on_line(line, &mut out), Verdict::Continue);
        out
    }

    #[test]
    fn name_is_greeted_trimmed() {
        assert_eq!(greet(b"bob"), b"Hi bob\n");
        assert_eq!(greet(b"  Ann Lee \t"), b"Hi Ann Lee\n");
    }

    #[test]
    fn empty_name_is_an_error_but_keeps_the_connection() {
        assert_eq!(greet(b""), ERR_EMPTY_NAME);
        assert_eq!(greet(b" \t "), ERR_EMPTY_NAME);
    }

    #[test]
    fn non_utf8_names_are_returned_as_bytes() {
        assert_eq!(greet(b"\xff\x00"), b"Hi \xff\x00\n");
    }
}
