//! UDP in the event loop: udp-echo and udp-log.
//!
//! A UDP socket has no connections: each datagram is received into the
//! loop's read buffer, checked by the loop guard and the rate limits (the
//! decisions and their small per-peer tables are `protocol::udp::guard`'s),
//! and answered (echo) or logged (log) at once. The loop never waits to send:
//! a reply that would block is dropped and counted, which is what UDP
//! promises anyway.

use super::{Entry, Server, UDP_BATCH};
use crate::protocol::{Service, udp};
use std::io::ErrorKind;

impl Server {
    /// The UDP socket is readable: receive until `WouldBlock`, at most
    /// [`UDP_BATCH`] datagrams per turn.
    pub(super) fn udp_ready(&mut self, key: usize) {
        for _ in 0..UDP_BATCH {
            let Some(Entry::Udp {
                socket, service, ..
            }) = self.entries.get(key)
            else {
                return;
            };
            let (n, source) = match socket.recv_from(&mut self.scratch) {
                Ok(got) => got,
                // Drained: the next datagram raises a new edge.
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // E.g. ECONNREFUSED reported for an earlier reply's ICMP
                // error: about a past datagram, not this socket. Keep going.
                Err(e) => {
                    log::debug!("recv_from on {service}: {e}");
                    continue;
                }
            };
            self.stats.udp_in += 1;
            let datagram = &self.scratch[..n];
            // Loop guard (CVE-1999-0103, and loops on other ports) and the
            // udp-log rate limits; every refusal is counted by its reason.
            let verdict = match service {
                Service::UdpLog => self.udp_guard.log(source, self.now),
                _ => self.udp_guard.echo(source, datagram, self.now).map(|()| 0),
            };
            let suppressed = match verdict {
                Ok(suppressed) => suppressed,
                Err(reason) => {
                    self.stats.udp_drops[reason.index()] += 1;
                    log::trace!(
                        "{service}: {n} bytes from {source} dropped ({})",
                        reason.name()
                    );
                    continue;
                }
            };
            log::trace!("recv_from #{key} {service}: {n} bytes from {source}");
            match service {
                Service::UdpEcho => loop {
                    match socket.send_to(datagram, source) {
                        Ok(_) => {
                            log::trace!("send_to #{key}: {n} bytes to {source}");
                            self.stats.udp_out += 1;
                            break;
                        }
                        Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                        // Would block or failed: drop this reply, never wait.
                        Err(e) => {
                            log::debug!("udp-echo: reply to {source} dropped: {e}");
                            self.stats.udp_dropped += 1;
                            break;
                        }
                    }
                },
                Service::UdpLog => {
                    if suppressed > 0 {
                        log::info!("udp-log: {suppressed} lines suppressed by the rate limit");
                    }
                    log::info!("{}", udp::log_line(source, datagram));
                }
                Service::Echo
                | Service::Greet
                | Service::Login
                | Service::Command
                | Service::Metrics => {
                    log::warn!("{service} is not a UDP service; datagram from {source} ignored");
                }
            }
        }
        // Batch used up: others get a turn; no new edge will report the rest.
        self.requeue(key);
    }
}
