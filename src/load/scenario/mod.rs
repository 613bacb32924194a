//! What the generator says and what it expects back: one file per scenario,
//! no sockets (sans-IO), so every verifier is unit-tested on plain bytes.
//!
//! A TCP connection's protocol side is a [`Talk`]: counters, not copies.
//! Request number `k` of a connection is a pure function of `k` and the
//! connection's seed (echo: a slice of the [`Pattern`] stream; greet: the
//! name `guestK`; command: R, T or L chosen by hashing `k`), so the verifier
//! recomputes what reply `k` must be instead of remembering what was sent.
//! Only a reply line split across two reads is buffered, in
//! [`Talk::partial`], and only until its end arrives.
//!
//! - [`Workload::write_requests`] appends the next `count` requests (plus
//!   the login lines before the first one) to the loop's output buffer;
//! - [`Workload::check_replies`] verifies whatever bytes arrived and says how
//!   many replies completed.
//!
//! [`udp`] does the same for datagrams.

pub mod command;
pub mod echo;
pub mod greet;
pub mod line;
pub mod login;
pub mod pattern;
pub mod template;
pub mod udp;

pub use pattern::Pattern;

use std::fmt;

/// The longest reply line a line scenario buffers while waiting for its
/// `\n`. Every expected reply (greet `Hi guestN`, an RFC 3339 time, the `L`
/// line, the welcome for a user name of up to 200 bytes) is far shorter; a
/// longer line is already wrong, and this bounds [`Talk::partial`].
pub const MAX_REPLY_LINE: usize = 256;

/// The report's key for a reply line over its scenario's cap.
pub const TOO_LONG: &str = "reply line too long";

/// The line a server at `--max-conns` sends before closing a connection it
/// will not serve (`server::accept::ERR_SERVER_FULL` without its newline).
pub const SERVER_FULL: &[u8] = b"ERR server full";

/// A reply that is not what the request asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyError {
    /// Short and stable, used as the key of the report's error counts.
    pub reason: String,
    /// Specifics for the log (which reply, which byte).
    pub detail: String,
    /// The server refused the connection ([`SERVER_FULL`]): the connection
    /// failed, no reply was wrong.
    pub refused: bool,
}

impl VerifyError {
    /// An error with a fixed reason.
    pub fn new(reason: &str, detail: impl Into<String>) -> VerifyError {
        VerifyError {
            reason: reason.to_owned(),
            detail: detail.into(),
            refused: false,
        }
    }

    /// `line` if it is a server `ERR ...` line, else `other`.
    pub fn or_server_error(line: &[u8], other: impl FnOnce() -> VerifyError) -> VerifyError {
        server_error(line).unwrap_or_else(other)
    }

    /// Reply number `answered` (`line`) failed its check for `reason`,
    /// unless the server sent an `ERR ...` line, which is reported as such.
    pub fn wrong_reply(reason: &str, answered: u64, line: &[u8]) -> VerifyError {
        Self::or_server_error(line, || {
            VerifyError::new(
                reason,
                format!("reply {answered}: {:?}", String::from_utf8_lossy(line)),
            )
        })
    }
}

impl fmt::Display for VerifyError {
    /// `reason (detail)`, or just the reason when there is no detail (a
    /// server `ERR` line is its own reason).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.detail.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{} ({})", self.reason, self.detail)
        }
    }
}

/// One TCP connection's protocol state. Small on purpose: it lives in every
/// connection's slab slot.
#[derive(Debug, Default)]
pub struct Talk {
    /// Requests written so far.
    pub sent: u64,
    /// Replies verified so far.
    pub answered: u64,
    /// Per-connection variety: echo's stream offset, command's mix.
    pub seed: u32,
    /// Echo: bytes of the current reply already verified.
    pub progress: u32,
    /// Login: the welcome line has been verified.
    pub logged_in: bool,
    /// A reply line whose `\n` has not arrived yet (at most
    /// [`MAX_REPLY_LINE`] bytes); unallocated otherwise.
    pub partial: Vec<u8>,
}

impl Talk {
    /// A fresh connection's state.
    pub fn new(seed: u32) -> Talk {
        Talk {
            seed,
            ..Talk::default()
        }
    }
}

/// The scenario of a run, shared by all its TCP connections.
#[derive(Debug, Clone)]
pub enum Workload {
    /// Echo: pattern slices, verified byte for byte.
    Echo(echo::Echo),
    /// Greet: `guestK` -> `Hi guestK`.
    Greet,
    /// Login, then commands.
    Login(login::Login),
    /// Commands R, T, L.
    Command,
    /// Any line protocol: `--send` / `--expect`.
    Line(line::Line),
}

impl Workload {
    /// The state of connection number `index` of the run: `{conn}` is its
    /// number in the line scenario (mod 2^32: it lives in the u32 seed,
    /// which keeps the slab slot at its size), a random seed elsewhere.
    pub fn talk(&self, index: usize, rng: &mut impl rand::Rng) -> Talk {
        match self {
            Workload::Line(_) => Talk::new(index as u32),
            Workload::Echo(_) | Workload::Greet | Workload::Login(_) | Workload::Command => {
                Talk::new(rng.next_u32())
            }
        }
    }

    /// Appends the next `count` requests of `talk` to `out`.
    pub fn write_requests(&self, talk: &mut Talk, count: u32, out: &mut Vec<u8>) {
        match self {
            Workload::Echo(e) => e.write_requests(talk, count, out),
            Workload::Greet => greet::write_requests(talk, count, out),
            Workload::Login(l) => l.write_requests(talk, count, out),
            Workload::Command => command::write_requests(talk, count, out),
            Workload::Line(l) => l.write_requests(talk, count, out),
        }
    }

    /// Verifies newly received bytes; the number of replies they completed.
    pub fn check_replies(&self, talk: &mut Talk, input: &[u8]) -> Result<u32, VerifyError> {
        let before = talk.answered;
        match self {
            Workload::Echo(e) => e.check(talk, input)?,
            Workload::Greet => for_each_line(talk, input, greet::check_line)?,
            Workload::Login(l) => for_each_line(talk, input, |t, line| l.check_line(t, line))?,
            Workload::Command => for_each_line(talk, input, command::check_line)?,
            Workload::Line(l) => for_each_line_within(
                talk,
                input,
                // The line's text, and the CR a CRLF server ends it with.
                line::MAX_REPLY + 1,
                line::too_long,
                |t, line| l.check_line(t, line),
            )?,
        }
        // Bounded by the requests in flight, which fit in u32 (--depth).
        Ok((talk.answered - before) as u32)
    }
}

/// Calls `check` for every complete line (without its `\n`) in `partial`
/// followed by `input`; keeps an unfinished last line in `talk.partial`
/// (at most [`MAX_REPLY_LINE`] bytes).
fn for_each_line(
    talk: &mut Talk,
    input: &[u8],
    check: impl FnMut(&mut Talk, &[u8]) -> Result<(), VerifyError>,
) -> Result<(), VerifyError> {
    let too_long = || {
        VerifyError::new(
            TOO_LONG,
            format!("more than {MAX_REPLY_LINE} bytes without a newline"),
        )
    };
    for_each_line_within(talk, input, MAX_REPLY_LINE, too_long, check)
}

/// [`for_each_line`], keeping at most `cap` bytes of an unfinished line
/// (`too_long` is the error past it).
fn for_each_line_within(
    talk: &mut Talk,
    input: &[u8],
    cap: usize,
    too_long: impl Fn() -> VerifyError,
    mut check: impl FnMut(&mut Talk, &[u8]) -> Result<(), VerifyError>,
) -> Result<(), VerifyError> {
    let mut rest = input;
    if !talk.partial.is_empty() {
        let Some(newline) = memchr::memchr(b'\n', rest) else {
            return keep_partial(talk, rest, cap, too_long);
        };
        let mut line = std::mem::take(&mut talk.partial);
        line.extend_from_slice(&rest[..newline]);
        check(talk, &line)?;
        rest = &rest[newline + 1..];
    }
    while let Some(newline) = memchr::memchr(b'\n', rest) {
        check(talk, &rest[..newline])?;
        rest = &rest[newline + 1..];
    }
    keep_partial(talk, rest, cap, too_long)
}

/// Buffers the start of a reply line until its end arrives (at most `cap`
/// bytes; past it, the `too_long` error).
fn keep_partial(
    talk: &mut Talk,
    bytes: &[u8],
    cap: usize,
    too_long: impl Fn() -> VerifyError,
) -> Result<(), VerifyError> {
    if talk.partial.len() + bytes.len() > cap {
        return Err(too_long());
    }
    talk.partial.extend_from_slice(bytes);
    Ok(())
}

/// The error for a reply line that arrived when no request was waiting.
pub fn unexpected_line(line: &[u8]) -> VerifyError {
    server_error(line).unwrap_or_else(|| {
        VerifyError::new("reply without a request", String::from_utf8_lossy(line))
    })
}

/// A server `ERR ...` line as its own reason (the server's ERR texts are a
/// small fixed set, so they make good report keys).
pub fn server_error(line: &[u8]) -> Option<VerifyError> {
    line.starts_with(b"ERR ").then(|| {
        let text = String::from_utf8_lossy(&line[..line.len().min(60)]);
        VerifyError {
            refused: line == SERVER_FULL,
            ..VerifyError::new(&format!("server replied: {text}"), "")
        }
    })
}

/// Widest decimal `u64` (`u64::MAX` has 20 digits).
pub const MAX_DIGITS: usize = 20;

/// `n` in decimal, written into `digits` (on the caller's stack): the
/// digits used, at its end.
pub fn decimal(digits: &mut [u8; MAX_DIGITS], mut n: u64) -> &[u8] {
    let mut at = MAX_DIGITS;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &digits[at..]
}

/// Appends `n` in decimal without allocating.
pub fn push_decimal(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(decimal(&mut [0; MAX_DIGITS], n));
}

/// Parses a decimal number with no sign, no leading zeros, no spaces.
pub fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 || (digits[0] == b'0' && digits.len() > 1) {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_digits() {
        let mut v = Vec::new();
        push_decimal(&mut v, 0);
        v.push(b' ');
        push_decimal(&mut v, 18_446_744_073_709_551_615);
        assert_eq!(v, b"0 18446744073709551615");
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b"907"), Some(907));
        for bad in [
            &b""[..],
            b"01",
            b"1a",
            b"-1",
            b" 1",
            b"99999999999999999999",
        ] {
            assert_eq!(parse_decimal(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_line_split_across_reads_is_checked_once_whole() {
        let mut talk = Talk::new(0);
        let mut seen = Vec::new();
        let mut collect = |_: &mut Talk, l: &[u8]| {
            seen.push(l.to_vec());
            Ok(())
        };
        for_each_line(&mut talk, b"ab", &mut collect).unwrap();
        for_each_line(&mut talk, b"c\nd", &mut collect).unwrap();
        for_each_line(&mut talk, b"\n", &mut collect).unwrap();
        assert_eq!(seen, vec![b"abc".to_vec(), b"d".to_vec()]);
        assert!(talk.partial.is_empty());
        assert_eq!(
            talk.partial.capacity(),
            0,
            "no buffer kept once the line ended"
        );
    }

    #[test]
    fn an_endless_line_is_an_error_not_a_growing_buffer() {
        let mut talk = Talk::new(0);
        let long = vec![b'x'; MAX_REPLY_LINE + 1];
        let err = for_each_line(&mut talk, &long, |_, _| Ok(())).unwrap_err();
        assert_eq!(err.reason, "reply line too long");
    }

    #[test]
    fn server_err_lines_become_their_own_reason() {
        let e = unexpected_line(b"ERR server full");
        assert_eq!(e.reason, "server replied: ERR server full");
        assert!(e.refused);
        assert!(!unexpected_line(b"ERR empty name").refused);
        assert_eq!(unexpected_line(b"hi").reason, "reply without a request");
    }

    #[test]
    fn errors_show_their_detail_only_when_there_is_one() {
        let e = unexpected_line(b"ERR invalid credentials");
        assert_eq!(e.to_string(), "server replied: ERR invalid credentials");
        let e = unexpected_line(b"hi");
        assert_eq!(e.to_string(), "reply without a request (hi)");
    }
}
