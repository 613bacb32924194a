//! Line framing for the line services (greet, login, command).
//!
//! Owns one question: "is there a complete line at the front of these bytes?"
//! It follows the check → take → consume shape: [`next_line`] looks for a `\n`
//! without allocating, "no newline yet" is an ordinary answer
//! ([`Frame::Incomplete`]), and the caller decides what to consume. The event
//! loop never sees lines; the protocol layer ([`crate::protocol`]) calls this.
//!
//! # Format
//! ```text
//! line = *(any byte except LF) [CR] LF      ; the CR before LF is dropped
//! ```
//! A line whose content (without `\r\n`) is longer than `max_line` bytes is
//! [`Frame::TooLong`], whether or not its `\n` has arrived yet, so a peer
//! can never make us buffer more than `max_line` bytes of one line.

/// Default `--max-line`: the longest accepted line content, in bytes.
///
/// 4 KiB is far above any name, password or command the services take and is
/// one page, so a connection's partial-line buffer stays small.
pub const DEFAULT_MAX_LINE: usize = 4096;

/// What the front of a byte buffer holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A complete line: its content without `\r\n`, and how many bytes of the
    /// buffer it used (content, optional `\r`, and the `\n`).
    Line {
        /// The line's content, without the trailing `\r\n` or `\n`.
        content: &'a [u8],
        /// Bytes to consume from the buffer, including the terminator.
        consumed: usize,
    },
    /// No `\n` yet and the bytes so far are within `max_line`: wait for more.
    Incomplete,
    /// The line is longer than `max_line`: a protocol error.
    TooLong,
}

/// Finds the first complete line in `buf`.
pub fn next_line(buf: &[u8], max_line: usize) -> Frame<'_> {
    // memchr: the newline search is the hot path of every line service.
    match memchr::memchr(b'\n', buf) {
        Some(newline) => {
            let content = strip_cr(&buf[..newline]);
            if content.len() > max_line {
                Frame::TooLong
            } else {
                Frame::Line {
                    content,
                    consumed: newline + 1,
                }
            }
        }
        // Allow one extra byte: it may be the `\r` of a max-length line's `\r\n`.
        None if buf.len() > max_line + 1 => Frame::TooLong,
        None if buf.len() == max_line + 1 && buf[max_line] != b'\r' => Frame::TooLong,
        None => Frame::Incomplete,
    }
}

/// Drops one trailing `\r` (the `\r` of a `\r\n` terminator, or of a final
/// unterminated line at end of stream).
pub fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Trims ASCII whitespace from both ends (names and commands are trimmed).
pub fn trim(line: &[u8]) -> &[u8] {
    line.trim_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn line(buf: &[u8], max: usize) -> (&[u8], usize) {
        match next_line(buf, max) {
            Frame::Line { content, consumed } => (content, consumed),
            other => panic!("expected a line, got {other:?}"),
        }
    }

    #[test]
    fn lf_and_crlf_terminate_a_line() {
        assert_eq!(line(b"abc\nrest", 10), (&b"abc"[..], 4));
        assert_eq!(line(b"abc\r\nrest", 10), (&b"abc"[..], 5));
        assert_eq!(line(b"\n", 10), (&b""[..], 1));
    }

    #[test]
    fn only_one_cr_before_lf_is_dropped() {
        assert_eq!(line(b"a\r\r\n", 10), (&b"a\r"[..], 4));
        assert_eq!(line(b"a\rb\n", 10), (&b"a\rb"[..], 4));
    }

    #[test]
    fn no_newline_is_incomplete() {
        assert_eq!(next_line(b"", 10), Frame::Incomplete);
        assert_eq!(next_line(b"abc", 10), Frame::Incomplete);
        assert_eq!(next_line(b"0123456789", 10), Frame::Incomplete);
        // A max-length line whose `\r` arrived but whose `\n` has not.
        assert_eq!(next_line(b"0123456789\r", 10), Frame::Incomplete);
    }

    #[test]
    fn too_long_is_detected_with_or_without_newline() {
        assert_eq!(next_line(b"0123456789x", 10), Frame::TooLong);
        assert_eq!(next_line(b"0123456789\rx", 10), Frame::TooLong);
        assert_eq!(next_line(b"0123456789x\n", 10), Frame::TooLong);
        assert_eq!(line(b"0123456789\r\n", 10), (&b"0123456789"[..], 12));
    }

    #[test]
    fn trim_removes_ascii_whitespace_both_sides() {
        assert_eq!(trim(b" \t bob \t"), b"bob");
        assert_eq!(trim(b"   "), b"");
    }
}
