//! Echo scenario: each request is `size` bytes of the connection's pattern
//! stream; the replies must be the same stream, byte for byte.
//!
//! # Format
//! ```text
//! request k = stream[seed + k*size .. seed + (k+1)*size]   ; see pattern.rs
//! reply     = the same bytes, possibly split or merged across reads
//! ```
//! Echo has no framing, so a reply completes every `size` bytes; the bytes
//! of the current one seen so far are [`Talk::progress`].

use super::{Pattern, Talk, VerifyError, server_error};

/// The echo scenario: the shared pattern and the message size.
#[derive(Debug, Clone)]
pub struct Echo {
    pattern: Pattern,
    size: usize,
}

impl Echo {
    /// Echo with `size`-byte messages (at least 1).
    pub fn new(pattern: Pattern, size: usize) -> Echo {
        Echo {
            pattern,
            size: size.max(1),
        }
    }

    /// Stream position of request `k`'s first byte.
    fn position(&self, talk: &Talk, k: u64) -> u64 {
        u64::from(talk.seed) + k * self.size as u64
    }

    /// Appends the next `count` requests: one contiguous run of the stream.
    pub fn write_requests(&self, talk: &mut Talk, count: u32, out: &mut Vec<u8>) {
        let at = self.position(talk, talk.sent);
        self.pattern.append(at, count as usize * self.size, out);
        talk.sent += u64::from(count);
    }

    /// Verifies `input` against the stream; advances `answered`.
    pub fn check(&self, talk: &mut Talk, input: &[u8]) -> Result<(), VerifyError> {
        let size = self.size as u64;
        let progress = u64::from(talk.progress);
        let owed = (talk.sent - talk.answered) * size - progress;
        if input.len() as u64 > owed {
            if owed == 0
                && let Some(e) = server_error(input.split(|&b| b == b'\n').next().unwrap_or(input))
            {
                return Err(e);
            }
            return Err(VerifyError::new(
                "echo: more bytes than were sent",
                format!("{} bytes arrived, {owed} outstanding", input.len()),
            ));
        }
        let at = self.position(talk, talk.answered) + progress;
        if let Some(i) = self.pattern.mismatch(at, input) {
            // At the very start of the stream, a refusal may stand where the
            // first reply should be.
            if talk.answered == 0
                && progress == 0
                && let Some(e) = server_error(input.split(|&b| b == b'\n').next().unwrap_or(input))
                && e.refused
            {
                return Err(e);
            }
            let offset = progress + i as u64;
            return Err(VerifyError::new(
                "echo: reply differs from request",
                format!(
                    "reply {} byte {}",
                    talk.answered + offset / size,
                    offset % size
                ),
            ));
        }
        let total = progress + input.len() as u64;
        talk.answered += total / size;
        // < size, and --size is bounded far below u32::MAX.
        talk.progress = (total % size) as u32;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::Workload;
    use super::*;

    fn echo(size: usize) -> Workload {
        Workload::Echo(Echo::new(Pattern::from_seed(3), size))
    }

    fn sent(w: &Workload, talk: &mut Talk, count: u32) -> Vec<u8> {
        let mut out = Vec::new();
        w.write_requests(talk, count, &mut out);
        out
    }

    #[test]
    fn right_replies_complete_requests() {
        let w = echo(64);
        let mut talk = Talk::new(1234);
        let out = sent(&w, &mut talk, 3);
        assert_eq!(out.len(), 192);
        assert_eq!(w.check_replies(&mut talk, &out), Ok(3));
        assert_eq!((talk.sent, talk.answered, talk.progress), (3, 3, 0));
    }

    #[test]
    fn consecutive_requests_differ() {
        let w = echo(16);
        let mut talk = Talk::new(0);
        let a = sent(&w, &mut talk, 1);
        let b = sent(&w, &mut talk, 1);
        assert_ne!(a, b);
    }

    #[test]
    fn split_replies_complete_when_the_last_byte_arrives() {
        let w = echo(10);
        let mut talk = Talk::new(7);
        let out = sent(&w, &mut talk, 2);
        assert_eq!(w.check_replies(&mut talk, &out[..3]), Ok(0));
        assert_eq!(w.check_replies(&mut talk, &out[3..15]), Ok(1));
        assert_eq!(w.check_replies(&mut talk, &out[15..]), Ok(1));
        assert_eq!(talk.progress, 0);
    }

    #[test]
    fn a_flipped_byte_is_found() {
        let w = echo(10);
        let mut talk = Talk::new(7);
        let mut out = sent(&w, &mut talk, 2);
        out[13] ^= 0x20;
        let err = w.check_replies(&mut talk, &out).unwrap_err();
        assert_eq!(err.reason, "echo: reply differs from request");
        assert_eq!(err.detail, "reply 1 byte 3");
    }

    #[test]
    fn extra_bytes_and_server_errors_are_rejected() {
        let w = echo(4);
        let mut talk = Talk::new(0);
        let mut out = sent(&w, &mut talk, 1);
        out.push(0);
        let err = w.check_replies(&mut talk, &out).unwrap_err();
        assert_eq!(err.reason, "echo: more bytes than were sent");
        let mut idle = Talk::new(0);
        let err = w
            .check_replies(&mut idle, b"ERR server full\n")
            .unwrap_err();
        assert_eq!(err.reason, "server replied: ERR server full");
    }
}
