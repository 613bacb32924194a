//! The datagram services: udp-echo (UDP 7000) and udp-log (UDP 7004).
//!
//! # Format
//! ```text
//! udp-echo: each datagram (0..=65507 bytes over IPv4, 0..=65527 over IPv6)
//!           is sent back whole to its sender
//! udp-log:  each datagram is logged at info as
//!           `udp-log from ADDR: N bytes: CONTENT`, CONTENT being at most the
//!           first LOGGED_BYTES (256) bytes with non-printable bytes as \xNN,
//!           then ` ...` if there was more
//! ```
//! Both are stateless per datagram. What lives here is what the loop asks
//! for each datagram: whether to answer or log it at all ([`guard`]: the
//! loop guard and the rate limits) and the log line ([`log_line`]).

pub mod guard;

use std::net::SocketAddr;

/// The largest UDP payload over IPv4 (65,535 - 8 UDP - 20 IP header bytes).
pub const MAX_DATAGRAM: usize = 65_507;

/// Bytes of a datagram shown in its udp-log line. The length is always
/// logged; the content only up to here, so one 65,507-byte datagram makes
/// a line of about a kilobyte, not 262 KB (four bytes of escape each).
pub const LOGGED_BYTES: usize = 256;

/// How each byte appears in a log line: itself if printable ASCII, `\\` for
/// a backslash, `\xNN` otherwise. Built once at compile time, so escaping
/// is one table look-up and one small copy per byte.
const ESCAPES: [([u8; 4], u8); 256] = escape_table();

const fn escape_table() -> [([u8; 4], u8); 256] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut table = [([0u8; 4], 0u8); 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        table[b] = match byte {
            b'\\' => ([b'\\', b'\\', 0, 0], 2),
            0x20..=0x7e => ([byte, 0, 0, 0], 1),
            _ => ([b'\\', b'x', HEX[b >> 4], HEX[b & 0xf]], 4),
        };
        b += 1;
    }
    table
}

/// Escapes bytes for one log line: printable ASCII as is (with `\` as
/// `\\`), everything else as `\xNN`. A datagram can never break the log into
/// several lines or inject terminal control codes.
pub fn escape(data: &[u8]) -> String {
    let mut bytes = Vec::with_capacity(data.len());
    for &b in data {
        let (escaped, len) = &ESCAPES[usize::from(b)];
        bytes.extend_from_slice(&escaped[..usize::from(*len)]);
    }
    // Every byte the table produces is printable ASCII.
    String::from_utf8(bytes).unwrap_or_default()
}

/// The udp-log line for one datagram: its sender, its length, and at most
/// its first [`LOGGED_BYTES`] bytes, escaped.
pub fn log_line(source: SocketAddr, data: &[u8]) -> String {
    let shown = &data[..data.len().min(LOGGED_BYTES)];
    let more = if shown.len() < data.len() { " ..." } else { "" };
    format!(
        "udp-log from {source}: {} bytes: {}{more}",
        data.len(),
        escape(shown)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn escape_keeps_printables_and_hexes_the_rest() {
        assert_eq!(escape(b"hi there!"), "hi there!");
        assert_eq!(escape(b"a\nb\x00\xff\\"), "a\\x0ab\\x00\\xff\\\\");
        assert_eq!(escape(b""), "");
        let all: Vec<u8> = (0..=255).collect();
        let escaped = escape(&all);
        assert!(escaped.bytes().all(|b| (0x20..=0x7e).contains(&b)));
        assert_eq!(
            escaped.len(),
            94 + 2 + 161 * 4,
            "94 printables, \\\\, 161 hexed"
        );
    }

    #[test]
    fn log_line_names_sender_and_size() {
        assert_eq!(
            log_line(addr(5555), b"ok\r"),
            "udp-log from 127.0.0.1:5555: 3 bytes: ok\\x0d"
        );
    }

    #[test]
    fn log_line_shows_at_most_the_first_256_bytes() {
        let line = log_line(addr(5555), &[0xff; MAX_DATAGRAM]);
        let head = "udp-log from 127.0.0.1:5555: 65507 bytes: ";
        assert!(line.starts_with(head), "{line}");
        assert!(line.ends_with("\\xff ..."), "{line}");
        assert_eq!(line.len(), head.len() + LOGGED_BYTES * 4 + 4);
        let exact = log_line(addr(1), &[b'a'; LOGGED_BYTES]);
        assert!(exact.ends_with('a'), "nothing left out: no marker");
    }
}
