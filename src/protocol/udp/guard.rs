//! Whether a datagram is answered (udp-echo) or logged (udp-log): the loop
//! guard and the rate limits, as decisions with `now` passed in. The loop
//! asks [`UdpGuard::echo`] or [`UdpGuard::log`] once per datagram and
//! counts each refusal by its [`Drop`] reason.
//!
//! # Source ports
//! A datagram from a source port below 1024, or from 2049 (NFS), is
//! dropped, on IPv4 and IPv6, as OpenBSD's inetd does: those are the
//! well-known services (echo 7, chargen 19, DNS 53, NTP 123, SNMP 161...),
//! and a datagram "from" one is a forged request meant to make us and that
//! service answer each other forever (CVE-1999-0103) or to reflect at it.
//! So are datagrams from port 0 and from sockloop's own UDP ports.
//!
//! # Loops on other ports
//! Two echo services on ordinary ports bounce one forged datagram between
//! them as fast as they can. A plain rate limit cannot tell that loop from
//! a fast client: both send one datagram per round trip, so any rate that
//! spares `sockloop load` lets a loop run at that rate forever. What only a
//! loop does is send back what we sent it: so each peer (source address and
//! port) remembers a fingerprint of our last reply to it, and a datagram
//! that repeats it spends a token of that peer's bucket
//! ([`REPEAT_PER_SOURCE`]) and of a global one ([`REPEAT_GLOBAL`]). An
//! empty bucket drops the datagram, and one drop ends a loop for good. A
//! loop dies after at most 8 bounces; the global bucket stops many loops
//! (or a table churned to forget them) all the same. Clients that send new
//! bytes each time, as every load generator does, never spend a token.
//!
//! # udp-log lines
//! Each line costs the loop a log write, so udp-log logs at most
//! [`LOG_PER_SOURCE`] per source (an IPv4 address or IPv6 /64) and
//! [`LOG_GLOBAL`] in all; the rest are suppressed and counted, and the
//! next line logged says how many were.

use crate::protocol::sources::{Bucket, Rate, SourceKey, SourceTable};
use std::net::SocketAddr;

/// NFS's port: not below 1024, but dropped as a source all the same.
pub const NFS_PORT: u16 = 2049;

/// Repeated replies to one peer: 8 at once, then one a second. A person
/// typing the same line into `nc -u` stays far below that.
pub const REPEAT_PER_SOURCE: Rate = Rate {
    burst: 8,
    per_second: 1,
};

/// Repeated replies to all peers together.
pub const REPEAT_GLOBAL: Rate = Rate {
    burst: 64,
    per_second: 32,
};

/// udp-log lines per source: 20 at once, then 10 a second.
pub const LOG_PER_SOURCE: Rate = Rate {
    burst: 20,
    per_second: 10,
};

/// udp-log lines from all sources together: 200 at once, then 100 a
/// second, about 100 KB/s of log at most (a line is at most ~1 KB).
pub const LOG_GLOBAL: Rate = Rate {
    burst: 200,
    per_second: 100,
};

/// Peers (and udp-log sources) remembered at once: 4096 small records.
pub const TABLE_CAPACITY: usize = 4096;

/// Why a datagram was not answered or logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drop {
    /// From port 0, a port below 1024, or 2049.
    SourcePort,
    /// From one of sockloop's own UDP ports.
    OwnPort,
    /// It repeats our last reply to this peer, whose bucket is empty.
    LoopPerSource,
    /// It repeats our last reply to its peer, and the global bucket is empty.
    LoopGlobal,
    /// A udp-log line over its source's rate.
    LogPerSource,
    /// A udp-log line over the global rate.
    LogGlobal,
}

impl Drop {
    /// Every reason, for counting.
    pub const ALL: [Drop; 6] = [
        Drop::SourcePort,
        Drop::OwnPort,
        Drop::LoopPerSource,
        Drop::LoopGlobal,
        Drop::LogPerSource,
        Drop::LogGlobal,
    ];

    /// The reason as a Prometheus label value.
    pub fn name(self) -> &'static str {
        match self {
            Drop::SourcePort => "source_port",
            Drop::OwnPort => "own_port",
            Drop::LoopPerSource => "loop_per_source",
            Drop::LoopGlobal => "loop_global",
            Drop::LogPerSource => "log_per_source",
            Drop::LogGlobal => "log_global",
        }
    }

    /// Where this reason is in [`Drop::ALL`] (and in counters indexed like it).
    pub fn index(self) -> usize {
        Drop::ALL.iter().position(|d| *d == self).unwrap_or(0)
    }

    /// `true` for a udp-log line suppressed (the datagram was received).
    pub fn is_log(self) -> bool {
        matches!(self, Drop::LogPerSource | Drop::LogGlobal)
    }
}

/// What the guard remembers about one peer of udp-echo.
#[derive(Debug, Clone, Copy)]
struct Peer {
    /// [`fingerprint`] of our last reply to it.
    last_reply: u64,
    repeats: Bucket,
}

/// The loop guard and the rate limits of the UDP services; owned by the loop.
#[derive(Debug)]
pub struct UdpGuard {
    own_ports: Vec<u16>,
    peers: SourceTable<SocketAddr, Peer>,
    repeats: Bucket,
    log_sources: SourceTable<SourceKey, Bucket>,
    log_all: Bucket,
    /// udp-log lines suppressed since the last one logged.
    suppressed: u64,
}

impl UdpGuard {
    /// A guard for a server whose own UDP sockets are on `own_ports`.
    pub fn new(own_ports: Vec<u16>) -> UdpGuard {
        UdpGuard {
            own_ports,
            peers: SourceTable::new(TABLE_CAPACITY),
            repeats: Bucket::full(REPEAT_GLOBAL, 0),
            log_sources: SourceTable::new(TABLE_CAPACITY),
            log_all: Bucket::full(LOG_GLOBAL, 0),
            suppressed: 0,
        }
    }

    /// The source-port rules, for both services.
    fn port_rules(&self, source: SocketAddr) -> Result<(), Drop> {
        let port = source.port();
        if port < 1024 || port == NFS_PORT {
            return Err(Drop::SourcePort);
        }
        if self.own_ports.contains(&port) {
            return Err(Drop::OwnPort);
        }
        Ok(())
    }

    /// Whether udp-echo may send `data` back to `source` at `now`; if so,
    /// the reply is remembered as this peer's last.
    pub fn echo(&mut self, source: SocketAddr, data: &[u8], now: u64) -> Result<(), Drop> {
        self.port_rules(source)?;
        let print = fingerprint(data);
        let peer = self.peers.entry(source, || Peer {
            // Not a fingerprint of anything sent: the first datagram is new.
            last_reply: !print,
            repeats: Bucket::full(REPEAT_PER_SOURCE, now),
        });
        if peer.last_reply == print {
            if !peer.repeats.take(REPEAT_PER_SOURCE, now) {
                return Err(Drop::LoopPerSource);
            }
            if !self.repeats.take(REPEAT_GLOBAL, now) {
                return Err(Drop::LoopGlobal);
            }
        }
        peer.last_reply = print;
        Ok(())
    }

    /// Whether udp-log may log a datagram from `source` at `now`; if so,
    /// how many lines were suppressed since the last one logged (for the
    /// caller to say so once).
    pub fn log(&mut self, source: SocketAddr, now: u64) -> Result<u64, Drop> {
        self.port_rules(source)?;
        let key = SourceKey::of(source.ip());
        let bucket = self
            .log_sources
            .entry(key, || Bucket::full(LOG_PER_SOURCE, now));
        let verdict = if !bucket.take(LOG_PER_SOURCE, now) {
            Err(Drop::LogPerSource)
        } else if !self.log_all.take(LOG_GLOBAL, now) {
            Err(Drop::LogGlobal)
        } else {
            Ok(std::mem::take(&mut self.suppressed))
        };
        if verdict.is_err() {
            self.suppressed += 1;
        }
        verdict
    }
}

/// A 64-bit fingerprint of a datagram, every byte of it: a word-at-a-time
/// multiply-rotate (after FxHash), about 8 bytes per cycle. Not keyed and
/// not collision-proof, and it need not be: a collision can only make one
/// peer's own datagram look like a repeat and spend that peer's tokens.
pub fn fingerprint(data: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut hash = data.len() as u64;
    let mut words = data.chunks_exact(8);
    for word in &mut words {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        hash = (hash.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    for &b in words.remainder() {
        hash = (hash.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn privileged_nfs_zero_and_own_source_ports_are_dropped_on_v4_and_v6() {
        let mut g = UdpGuard::new(vec![7000, 7004]);
        for source in [
            "127.0.0.1:0",
            "127.0.0.1:7",
            "127.0.0.1:53",
            "[::1]:123",
            "[::1]:1023",
            "127.0.0.1:2049",
            "[::1]:2049",
        ] {
            assert_eq!(
                g.echo(addr(source), b"x", 0),
                Err(Drop::SourcePort),
                "{source}"
            );
            assert_eq!(g.log(addr(source), 0), Err(Drop::SourcePort), "{source}");
        }
        assert_eq!(g.echo(addr("[::1]:7004"), b"x", 0), Err(Drop::OwnPort));
        for source in [
            "127.0.0.1:1024",
            "[::1]:1900",
            "127.0.0.1:11211",
            "[::1]:2050",
        ] {
            assert_eq!(g.echo(addr(source), b"x", 0), Ok(()), "{source}");
        }
    }

    /// What another echo server sends back is what we sent it: after the
    /// burst, the loop loses its datagram, and that ends it.
    #[test]
    fn a_peer_that_echoes_our_reply_back_is_cut_off_after_the_burst() {
        let mut g = UdpGuard::new(vec![]);
        let other_echo = addr("127.0.0.1:40000");
        let answered = (0..100)
            .take_while(|_| g.echo(other_echo, b"ping", 0).is_ok())
            .count();
        assert_eq!(answered as u64, 1 + REPEAT_PER_SOURCE.burst);
        assert_eq!(g.echo(other_echo, b"ping", 0), Err(Drop::LoopPerSource));
    }

    /// A client sending new bytes each time (as `sockloop load` does) is
    /// never limited, however fast.
    #[test]
    fn a_fast_client_with_new_bytes_each_time_is_never_limited() {
        let mut g = UdpGuard::new(vec![]);
        let client = addr("127.0.0.1:40001");
        for seq in 0u64..100_000 {
            assert_eq!(g.echo(client, &seq.to_le_bytes(), 0), Ok(()));
        }
    }

    #[test]
    fn many_loops_at_once_run_out_of_the_global_bucket() {
        let mut g = UdpGuard::new(vec![]);
        let mut answered = 0;
        for round in 0..20 {
            for port in 40000..40100 {
                let peer = addr(&format!("127.0.0.1:{port}"));
                answered += u64::from(g.echo(peer, b"loop", round).is_ok());
            }
        }
        // Each of the 100 peers' first datagram is new; repeats share the
        // global burst (the 20 ms of the rounds refill under one token).
        assert_eq!(answered, 100 + REPEAT_GLOBAL.burst);
    }

    #[test]
    fn log_lines_are_limited_per_source_and_suppressions_reported_once() {
        let mut g = UdpGuard::new(vec![]);
        let a = addr("192.0.2.1:5000");
        let logged = (0..100).filter(|_| g.log(a, 0).is_ok()).count() as u64;
        assert_eq!(logged, LOG_PER_SOURCE.burst);
        // Another port of the same host is the same source.
        assert_eq!(g.log(addr("192.0.2.1:5001"), 0), Err(Drop::LogPerSource));
        // Another host is not; it learns how many lines were suppressed.
        assert_eq!(g.log(addr("192.0.2.2:5000"), 0), Ok(100 - logged + 1));
        assert_eq!(g.log(addr("192.0.2.2:5000"), 0), Ok(0));
        // A second later the source may log again.
        assert_eq!(g.log(a, 1000), Ok(0));
    }

    #[test]
    fn log_lines_are_limited_globally() {
        let mut g = UdpGuard::new(vec![]);
        let mut logged = 0;
        for host in 1..=250u8 {
            let source = SocketAddr::from(([192, 0, 2, host], 5000));
            logged += u64::from(g.log(source, 0).is_ok());
        }
        assert_eq!(logged, LOG_GLOBAL.burst);
        assert_eq!(
            g.log(SocketAddr::from(([198, 51, 100, 1], 5000)), 0),
            Err(Drop::LogGlobal)
        );
    }

    #[test]
    fn the_fingerprint_sees_every_byte() {
        let a = vec![7u8; 65_507];
        let mut b = a.clone();
        b[30_000] ^= 1;
        assert_ne!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(b"ab"), fingerprint(b"ba"));
        assert_ne!(fingerprint(b""), fingerprint(b"\0"));
        assert_eq!(fingerprint(b"same"), fingerprint(b"same"));
    }
}
