//! Accepting TCP connections: until `WouldBlock` in batches, refusing past
//! `--max-conns` with `ERR server full` (`refused.rs`; the metrics endpoint
//! has its own reserve beside it), refusing login connections the login
//! throttle says no to, and backing off when the process runs out of
//! descriptors (EMFILE) instead of spinning.

use super::conn::Conn;
use super::{ACCEPT_BACKOFF_MS, ACCEPT_BATCH, Entry, Server};
use crate::config::METRICS_RESERVE;
use crate::protocol::{Service, Session, SourceKey};
use crate::readiness::TCP_INTEREST;
use mio::Token;
use mio::net::TcpStream;
use std::io::{self, ErrorKind};
use std::net::SocketAddr;

/// The line sent to a connection over `--max-conns` before it is closed.
pub const ERR_SERVER_FULL: &[u8] = b"ERR server full\n";

/// The line sent to a login connection refused by the login throttle (its
/// source is failing and holds too many unauthenticated connections).
pub const ERR_TOO_MANY_LOGINS: &[u8] = b"ERR too many login attempts from your address\n";

impl Server {
    /// The listener is readable: accept until `WouldBlock`, at most
    /// [`ACCEPT_BATCH`] per turn.
    pub(super) fn accept_ready(&mut self, key: usize) {
        if self.accept_paused_until.is_some() {
            // Backing off after EMFILE: the back-off timer requeues us.
            return;
        }
        for _ in 0..ACCEPT_BATCH {
            let Some(Entry::Listener {
                socket, service, ..
            }) = self.entries.get(key)
            else {
                return;
            };
            let service = *service;
            match socket.accept() {
                Ok((stream, peer)) => self.admit(stream, peer, service),
                // Drained: the next connection raises a new edge.
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                // Not expected (a nonblocking accept never sleeps); harmless.
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if is_out_of_descriptors(&e) => {
                    // The pending connection stays in the backlog and retrying
                    // now would fail the same way, in a busy loop. Pause
                    // accepting (as nginx does), keep serving, retry later.
                    log::warn!(
                        "accept on {service}: {e}; pausing accepts for {ACCEPT_BACKOFF_MS} ms"
                    );
                    self.stats.accept_backoffs += 1;
                    self.accept_paused_until = Some(self.now + ACCEPT_BACKOFF_MS);
                    return;
                }
                // An error of one pending connection, not of the listener:
                // Linux passes a new socket's pending network error to
                // accept(), and accept(2) ("Error handling") says to retry
                // (ENETDOWN, EPROTO, EHOSTUNREACH, ...; ECONNABORTED too). A
                // connection reset while queued is not one: Linux accepts it
                // and its first read fails with ECONNRESET.
                Err(e) => log::debug!("accept on {service}: {e}"),
            }
        }
        // Batch used up with connections possibly still waiting: yield to
        // other sockets and come back next turn (no new edge would come).
        self.requeue(key);
    }

    /// Registers a new connection, or refuses it when full.
    fn admit(&mut self, mut stream: TcpStream, peer: SocketAddr, service: Service) {
        // The metrics endpoint has its own few connections beside
        // `--max-conns`, so a scrape still works while a flood fills it.
        let full = match service {
            Service::Metrics => self.stats.metrics.active as usize >= METRICS_RESERVE,
            _ => self.stats.active as usize >= self.config.max_conns,
        };
        if full || self.shutdown_at.is_some() {
            return self.refuse(stream, peer, service);
        }
        let Some(session) = Session::from_peer(service, peer.ip()) else {
            return;
        };
        if service == Service::Metrics {
            // A scrape reports the kernel's UDP drops as of now: they are
            // read when asked for, not per datagram (`udp.rs`).
            self.sync_udp_drops();
        }
        let source = SourceKey::of(peer.ip());
        if service == Service::Login && self.logins.open(source, self.now).is_err() {
            self.stats.logins_refused += 1;
            log::info!("login refused from {peer}: too many unauthenticated connections");
            return self.refuse_with(stream, peer, ERR_TOO_MANY_LOGINS);
        }
        // Replies are small and latency matters more than packet count.
        if let Err(e) = stream.set_nodelay(true) {
            log::debug!("set_nodelay for {peer}: {e}");
        }
        let entry = self.entries.vacant_entry();
        let key = entry.key();
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut stream, Token(key), TCP_INTEREST)
        {
            log::warn!("register {peer}: {e}");
            if service == Service::Login {
                self.logins.release(source);
            }
            return;
        }
        let serial = self.next_serial;
        self.next_serial = self.next_serial.wrapping_add(1);
        entry.insert(Entry::Conn(Conn::new(stream, session, serial, self.now)));
        self.stats.opened(service);
        log::debug!("open #{key} {service} from {peer}");
        self.arm_deadline(key);
    }
}

/// The accept errors that mean "no descriptors or memory right now".
fn is_out_of_descriptors(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}
