//! Refusing a connection over `--max-conns` so that the refusal arrives.
//!
//! A refused connection gets `ERR server full\n` and is closed, but closing
//! a socket whose peer already sent something (the request it had ready)
//! makes the kernel answer with RST, and an RST destroys whatever of the
//! line the client's kernel has not received yet (still in our send
//! queue, or lost in flight: a closed socket never retransmits). So a
//! refusal closes the way `BYE` does (`Phase::Lingering` in `conn.rs`):
//! write the line, shut our write side (FIN right behind the line), read
//! and discard until the peer's FIN (`readiness::read_some` with
//! `drain_fully`), then close.
//!
//! Refusals happen when the server is already full, possibly under a
//! connection flood, so lingering ones are held on a short leash:
//! - at most [`REFUSED_LINGER_MAX`] at once: a new refusal over that closes
//!   the oldest lingering one first (counted in `Stats::refused_cut`), so
//!   the newest always gets its chance and the descriptors stay bounded;
//! - each for at most [`REFUSED_LINGER_MS`], then closed whatever the peer
//!   does (most close sooner: a client that reads the line and closes is
//!   done in one round trip).
//!
//! A lingering refusal is an [`Entry::Refused`] in the slab (for its token)
//! and a [`Refusal`] in `Server::refusals`, oldest first. All refusals
//! linger equally long, so that queue is in deadline order as well, and
//! needs no heap: expiry pops from the front. It is not a connection: it
//! does not count in `active` or `--max-conns`, and has no close reason.

use super::accept::ERR_SERVER_FULL;
use super::{Entry, READ_CHUNK, Server};
use crate::protocol::{Service, metrics};
use crate::readiness::{ReadOutcome, read_some};
use mio::net::TcpStream;
use mio::{Interest, Token};
use std::borrow::Cow;
use std::io::Write;
use std::net::{Shutdown, SocketAddr};

/// Refused connections lingering at once. Their descriptors come out of
/// the reserve that `--max-conns`' default keeps back (`config::FD_RESERVE`,
/// 64): 32 fit beside the listeners, epoll, the signal pipe and stdio, so a
/// full server does not run itself out of descriptors by refusing politely.
pub const REFUSED_LINGER_MAX: usize = 32;

/// How long a refused connection may linger. A refused client has nothing
/// left to do but read one line: one second is many round trips, even far
/// from loopback, and half of `LINGER_MS`, which waits after a real
/// session.
pub const REFUSED_LINGER_MS: u64 = 1_000;

/// One lingering refusal, in `Server::refusals`.
#[derive(Debug, Clone, Copy)]
pub struct Refusal {
    /// Its slab key.
    key: usize,
    /// Tells it apart from a later entry with the same key.
    serial: u32,
    /// When it is closed regardless, in loop milliseconds.
    until: u64,
}

impl Server {
    /// Refuses a new connection: the line, then a bounded lingering close.
    pub(super) fn refuse(&mut self, stream: TcpStream, peer: SocketAddr, service: Service) {
        self.stats.refused(service);
        log::debug!("refused {peer} on {service}: server full");
        // A scraper speaks HTTP, so it gets an HTTP 503 instead.
        let refusal: Cow<[u8]> = match service {
            Service::Metrics => metrics::service_unavailable().into(),
            _ => ERR_SERVER_FULL.into(),
        };
        self.refuse_with(stream, peer, &refusal);
    }

    /// Writes `refusal` to a connection we will not serve, then closes it
    /// with the bounded lingering close above (for `ERR server full`, and
    /// for the login throttle's refusal).
    pub(super) fn refuse_with(&mut self, mut stream: TcpStream, peer: SocketAddr, refusal: &[u8]) {
        if self.shutdown_at.is_some() {
            // Stopping: nothing lingers any more. Best effort, as below.
            let _ = stream.write(refusal);
            return;
        }
        // Room first: closing the oldest lingering refusal frees the
        // descriptor this one will hold.
        while self.stats.refused_lingering >= REFUSED_LINGER_MAX as u64 {
            let Some(oldest) = self.refusals.pop_front() else {
                break;
            };
            if self.close_refusal(oldest.key, oldest.serial) {
                log::debug!(
                    "refusal #{}: closed early, {} lingering",
                    oldest.key,
                    REFUSED_LINGER_MAX
                );
                self.stats.refused_cut += 1;
            }
        }
        // A new socket's send buffer is empty, so this one small write does
        // not block; if it fails the peer is gone and there is nobody to tell.
        if stream.write(refusal).is_err() || stream.shutdown(Shutdown::Write).is_err() {
            return;
        }
        let entry = self.entries.vacant_entry();
        let key = entry.key();
        // READABLE only: the line is written; what is left is the peer's
        // input and its FIN. If data already waits, registering reports it.
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut stream, Token(key), Interest::READABLE)
        {
            log::debug!("register refused {peer}: {e}");
            return;
        }
        let serial = self.next_serial;
        self.next_serial = self.next_serial.wrapping_add(1);
        entry.insert(Entry::Refused {
            stream,
            serial,
            queued: false,
        });
        self.stats.refused_lingering += 1;
        self.refusals.push_back(Refusal {
            key,
            serial,
            until: self.now + REFUSED_LINGER_MS,
        });
        // Entries of refusals closed on their FIN stay queued until their
        // deadline passes; drop them once they dominate, so the queue stays
        // within a few times the cap even under a flood.
        if self.refusals.len() > 4 * REFUSED_LINGER_MAX {
            let entries = &self.entries;
            self.refusals.retain(|r| is_live(entries, r.key, r.serial));
        }
        self.refused_ready(key);
    }

    /// A lingering refusal is readable (or requeued): discard what the peer
    /// sent; close on its FIN or an error.
    pub(super) fn refused_ready(&mut self, key: usize) {
        let Some(Entry::Refused { stream, serial, .. }) = self.entries.get_mut(key) else {
            return;
        };
        let serial = *serial;
        let mut discarded = 0;
        // `drain_fully`: until `WouldBlock`, not the short-read shortcut, since
        // the FIN may sit right behind the data and would raise no new edge.
        // Bounded like any read (`READ_CHUNK` per turn): a peer that keeps
        // sending is requeued behind the others, and the deadline ends it.
        let close = loop {
            match read_some(stream, &mut self.scratch, &mut true) {
                Ok(ReadOutcome::Eof) => break true,
                Ok(ReadOutcome::More(n) | ReadOutcome::Drained(n)) => {
                    discarded += n;
                    if discarded >= READ_CHUNK {
                        self.requeue(key);
                        break false;
                    }
                }
                Ok(ReadOutcome::Empty) => break false,
                // A reset: the peer is gone, whatever it had read.
                Err(_) => break true,
            }
        };
        log::trace!("refusal #{key}: discarded {discarded} bytes");
        if close {
            self.close_refusal(key, serial);
        }
    }

    /// Closes the refusals whose time is up; the nearest deadline left is
    /// the queue's front.
    pub(super) fn expire_refusals(&mut self) {
        while let Some(&oldest) = self.refusals.front() {
            if oldest.until > self.now {
                return;
            }
            self.refusals.pop_front();
            if self.close_refusal(oldest.key, oldest.serial) {
                log::trace!("refusal #{}: linger deadline passed", oldest.key);
            }
        }
    }

    /// When the oldest lingering refusal must be closed, for the poll
    /// timeout (possibly one already closed on its FIN: one early wakeup).
    pub(super) fn next_refusal_deadline(&self) -> Option<u64> {
        self.refusals.front().map(|r| r.until)
    }

    /// Closes every lingering refusal at once (shutdown).
    pub(super) fn drop_refusals(&mut self) {
        while let Some(oldest) = self.refusals.pop_front() {
            self.close_refusal(oldest.key, oldest.serial);
        }
    }

    /// Closes the refusal `key`/`serial` if it still lingers; whether it did.
    fn close_refusal(&mut self, key: usize, serial: u32) -> bool {
        if !is_live(&self.entries, key, serial) {
            return false;
        }
        // Dropping the stream closes it and takes it out of the epoll set.
        self.entries.remove(key);
        self.stats.refused_lingering = self.stats.refused_lingering.saturating_sub(1);
        log::trace!("refusal #{key}: closed");
        true
    }
}

/// Whether the refusal `key`/`serial` is still in the slab (and not a later
/// entry that reuses its key).
fn is_live(entries: &slab::Slab<Entry>, key: usize, serial: u32) -> bool {
    matches!(entries.get(key), Some(Entry::Refused { serial: s, .. }) if *s == serial)
}
