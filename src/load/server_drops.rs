//! The target's kernel drops, when the target is on this host: the `drops`
//! column of `/proc/net/udp` (`udp6` for IPv6) for the sockets bound to the
//! target's port. Read before and after a run, the difference is how many
//! datagrams the server's kernel dropped because its receive queue was
//! full: loss that no server can see in its own counters until it reads
//! again (sockloop can, see `server/udp.rs`; others may not), told apart
//! from the generator's own drops and from the network.
//!
//! # Format
//! ```text
//! sl  local_address rem_address   st tx_queue rx_queue ... inode ref pointer drops
//! 12: 0100007F:1B58 00000000:0000 07 00000000:00000000 ... 41234 2 0000000000000000 0
//! ```
//! Addresses are hex: IPv4 as one native-endian `u32` of the address bytes,
//! IPv6 as four; the port in host order. `st` 07 is an unconnected socket
//! (a server's); the generator's own sockets are connected (01).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// `st` of an unconnected UDP socket (TCP_CLOSE in the kernel's numbering).
const UNCONNECTED: &str = "07";

/// The drops of every unconnected socket bound to `target`'s port on its
/// address or the wildcard (a `--workers` group has several), summed
/// modulo 2^32 like the counters; `None` when no such socket is on this
/// host (or `/proc` cannot be read).
pub fn target_drops(target: SocketAddr) -> Option<u32> {
    let table = match target {
        SocketAddr::V4(_) => "/proc/net/udp",
        SocketAddr::V6(_) => "/proc/net/udp6",
    };
    let text = std::fs::read_to_string(table).ok()?;
    drops_in(&text, target)
}

/// [`target_drops`] over the text of the table.
fn drops_in(table: &str, target: SocketAddr) -> Option<u32> {
    let mut found = None;
    for line in table.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(local), Some(state), Some(drops)) = (fields.get(1), fields.get(3), fields.last())
        else {
            continue;
        };
        let Some((ip, port)) = parse_address(local) else {
            continue;
        };
        let ours = port == target.port() && (ip == target.ip() || ip.is_unspecified());
        if ours && *state == UNCONNECTED {
            let drops: u32 = drops.parse().ok()?;
            found = Some(found.unwrap_or(0u32).wrapping_add(drops));
        }
    }
    found
}

/// `HEX:PORT` as the kernel prints it (see the module's format).
fn parse_address(field: &str) -> Option<(IpAddr, u16)> {
    let (ip, port) = field.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| {
        let hex = ip.get(i * 8..i * 8 + 8)?;
        u32::from_str_radix(hex, 16).ok().map(u32::to_ne_bytes)
    };
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some((ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header, a server on 127.0.0.1:7000 with 5 drops, a wildcard
    /// sibling on port 7000 with 2, a connected generator socket whose
    /// peer is port 7000 (not the server's), and another port.
    fn table() -> String {
        let v4 = |ip: [u8; 4]| format!("{:08X}", u32::from_ne_bytes(ip));
        [
            "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops".to_owned(),
            format!(" 1: {}:1B58 00000000:0000 07 00000000:00000000 00:00000000 00000000 0 0 101 2 0000000000000000 5", v4([127, 0, 0, 1])),
            format!(" 2: {}:1B58 00000000:0000 07 00000000:00000000 00:00000000 00000000 0 0 102 2 0000000000000000 2", v4([0, 0, 0, 0])),
            format!(" 3: {}:9C40 {}:1B58 01 00000000:00000000 00:00000000 00000000 0 0 103 2 0000000000000000 9", v4([127, 0, 0, 1]), v4([127, 0, 0, 1])),
            format!(" 4: {}:1B5C 00000000:0000 07 00000000:00000000 00:00000000 00000000 0 0 104 2 0000000000000000 4", v4([127, 0, 0, 1])),
        ]
        .join("\n")
    }

    #[test]
    fn sums_the_sockets_bound_to_the_target_port() {
        let target = "127.0.0.1:7000".parse().unwrap();
        assert_eq!(drops_in(&table(), target), Some(7));
        let other_host = "127.0.0.2:7000".parse().unwrap();
        assert_eq!(drops_in(&table(), other_host), Some(2), "the wildcard only");
        assert_eq!(drops_in(&table(), "127.0.0.1:7005".parse().unwrap()), None);
    }

    #[test]
    fn ipv6_addresses_are_four_words() {
        let words: String = Ipv6Addr::LOCALHOST
            .octets()
            .chunks(4)
            .map(|w| format!("{:08X}", u32::from_ne_bytes([w[0], w[1], w[2], w[3]])))
            .collect();
        let field = format!("{words}:1B58");
        assert_eq!(
            parse_address(&field),
            Some((IpAddr::V6(Ipv6Addr::LOCALHOST), 7000))
        );
        assert_eq!(parse_address("0100007F"), None);
        assert_eq!(parse_address("zz:1B58"), None);
    }

    /// The real table of this host has a socket we just bound.
    #[test]
    fn reads_this_hosts_table() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        assert_eq!(target_drops(addr), Some(0));
    }
}
