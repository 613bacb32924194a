//! Echo (TCP 7000): every byte received is sent back unchanged, in order.
//!
//! # Format
//! No framing: the reply stream equals the request stream, byte for byte.
//! After the peer half-closes, the loop flushes what is left and closes.
//!
//! Echo has no state, so this module is one function. The event loop has a
//! fast path that writes its read buffer straight back to the socket instead
//! of copying it through [`respond`] when nothing is already queued; both
//! produce the same bytes (the `answer` step of `server/tcp.rs`).

/// Appends the reply to `input` (the input itself) to `out`.
pub fn respond(input: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(input);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_is_the_input_including_binary_bytes() {
        let mut out = b"queued ".to_vec();
        respond(b"\x00\r\n\xff", &mut out);
        assert_eq!(out, b"queued \x00\r\n\xff");
    }
}
