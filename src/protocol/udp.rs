//! The datagram services: udp-echo (UDP 7000) and udp-log (UDP 7004).
//!
//! # Format
//! ```text
//! udp-echo: each datagram (0..=65507 bytes over IPv4, 0..=65527 over IPv6)
//!           is sent back whole to its sender
//! udp-log:  each datagram is logged at info as
//!           `udp-log from ADDR: N bytes: CONTENT` with non-printable bytes as \xNN
//! ```
//! Both are stateless per datagram. What lives here is the decision the loop
//! asks for each datagram ([`accept_source`], the echo-storm guard) and the
//! log line's escaping ([`escape`]).

use std::fmt::Write;
use std::net::SocketAddr;

/// The largest UDP payload over IPv4 (65,535 - 8 UDP - 20 IP header bytes).
pub const MAX_DATAGRAM: usize = 65_507;

/// Source ports of the classic small services (echo 7, discard 9, daytime 13,
/// chargen 19, time 37). A datagram "from" one of them is almost certainly a
/// spoofed packet meant to start an echo/chargen storm (CVE-1999-0103), so
/// it is dropped, as BSD inetd does.
pub const SMALL_SERVICE_PORTS: [u16; 5] = [7, 9, 13, 19, 37];

/// Whether a datagram from `source` may be answered. `own_ports` are the
/// ports of sockloop's own UDP sockets: two echo servers must not bounce one
/// datagram between them forever.
pub fn accept_source(source: SocketAddr, own_ports: &[u16]) -> bool {
    let port = source.port();
    !(port == 0 || SMALL_SERVICE_PORTS.contains(&port) || own_ports.contains(&port))
}

/// Escapes a datagram for one log line: printable ASCII as is (with `\` as
/// `\\`), everything else as `\xNN`. A datagram can never break the log into
/// several lines or inject terminal control codes.
pub fn escape(data: &[u8]) -> String {
    let mut s = String::with_capacity(data.len());
    for &b in data {
        match b {
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(b as char),
            _ => {
                // Writing to a String cannot fail.
                let _ = write!(s, "\\x{b:02x}");
            }
        }
    }
    s
}

/// The udp-log line for one datagram.
pub fn log_line(source: SocketAddr, data: &[u8]) -> String {
    format!(
        "udp-log from {source}: {} bytes: {}",
        data.len(),
        escape(data)
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
    }

    #[test]
    fn log_line_names_sender_and_size() {
        assert_eq!(
            log_line(addr(5555), b"ok\r"),
            "udp-log from 127.0.0.1:5555: 3 bytes: ok\\x0d"
        );
    }

    #[test]
    fn small_service_and_own_ports_are_refused() {
        for p in SMALL_SERVICE_PORTS {
            assert!(!accept_source(addr(p), &[]), "port {p}");
        }
        assert!(!accept_source(addr(7000), &[7000, 7004]));
        assert!(!accept_source(addr(0), &[]));
        assert!(accept_source(addr(40000), &[7000, 7004]));
    }
}
