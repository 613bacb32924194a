//! UDP in the event loop: udp-echo and udp-log.
//!
//! A UDP socket has no connections and no per-peer state: each datagram is
//! received into the loop's read buffer, checked by the loop guard, and
//! answered (echo) or logged (log) at once. The loop never waits to send:
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
                // Not expected (a nonblocking call never sleeps); harmless.
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // Not ECONNREFUSED for an earlier reply's ICMP error: Linux
                // reports that only to a connected socket or one with
                // IP_RECVERR (`__udp4_lib_err`, `__udp6_lib_err`), and this
                // one is neither. Whatever fails here concerns one
                // datagram, not the socket: keep going.
                Err(e) => {
                    log::debug!("recv_from on {service}: {e}");
                    continue;
                }
            };
            self.stats.udp_in += 1;
            let datagram = &self.scratch[..n];
            if !udp::accept_source(source, &self.udp_ports) {
                // Loop guard (CVE-1999-0103): never answer a small-service
                // port or ourselves.
                self.stats.udp_guarded += 1;
                log::debug!("{service}: dropped {n} bytes from {source} (loop guard)");
                continue;
            }
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
                Service::UdpLog => log::info!("{}", udp::log_line(source, datagram)),
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
