//! UDP in the event loop: udp-echo and udp-log.
//!
//! A UDP socket has no connections and no per-peer state. Datagrams come in
//! batches, one `recvmmsg` of up to [`UDP_BATCH`] per call
//! ([`crate::readiness::datagrams`]), and each is then handled on its own,
//! in arrival order: counted, checked by the loop guard and the rate
//! limits (the decisions and their small per-peer tables are
//! `protocol::udp::guard`'s), traced, and
//! answered (echo) or logged (log). The batch's echo replies leave together
//! in one `sendmmsg`. The loop never waits to send: a reply that would
//! block is dropped and counted, which is what UDP promises anyway.
//!
//! Datagrams the kernel dropped before we could read them (the receive
//! queue was full) are counted too: [`Server::sync_udp_drops`] reads each
//! socket's drop count (SO_MEMINFO) when someone asks: for the stats line,
//! a metrics scrape, and the shutdown summary. Nothing per datagram.

use super::{Entry, Server, UDP_BATCH};
use crate::protocol::{Service, udp};
use crate::readiness::datagrams::{self, RecvBatch};
use std::io::{self, ErrorKind};

impl Server {
    /// The UDP socket is readable: receive one batch of at most
    /// [`UDP_BATCH`] datagrams and handle each. A full batch may leave more
    /// behind, so the socket is requeued; a shorter one means the queue ran
    /// empty, and the next datagram raises a new edge.
    pub(super) fn udp_ready(&mut self, key: usize) {
        let Server {
            entries,
            udp_in: batch,
            udp_out,
            udp_replies: replies,
            stats,
            udp_guard,
            now,
            ..
        } = self;
        let Some(Entry::Udp {
            socket, service, ..
        }) = entries.get(key)
        else {
            return;
        };
        let service = *service;
        let got = match batch.recv(socket, UDP_BATCH) {
            Ok(got) => got,
            // Nothing waiting: a spurious event, or the last batch took it.
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            // Not ECONNREFUSED for an earlier reply's ICMP error: Linux
            // reports that only to a connected socket or one with
            // IP_RECVERR (`__udp4_lib_err`, `__udp6_lib_err`), and this one
            // is neither. Whatever fails here is not expected to last:
            // come back next turn for what may still be queued.
            Err(e) => {
                log::debug!("recvmmsg on {service}: {e}");
                return self.requeue(key);
            }
        };
        log::trace!("recvmmsg #{key} {service}: {got} datagrams");
        replies.clear();
        for i in 0..got {
            let datagram = batch.get(i);
            let n = datagram.len();
            stats.udp_in += 1;
            let Some(source) = batch.source(i) else {
                // A UDP socket names an IPv4 or IPv6 sender, always.
                log::warn!("{service}: {n} bytes from an address of unknown family, ignored");
                continue;
            };
            // Loop guard (CVE-1999-0103, and loops on other ports) and the
            // udp-log rate limits; every refusal is counted by its reason.
            let verdict = match service {
                Service::UdpLog => udp_guard.log(source, *now),
                _ => udp_guard.echo(source, datagram, *now).map(|()| 0),
            };
            let suppressed = match verdict {
                Ok(suppressed) => suppressed,
                Err(reason) => {
                    stats.udp_drops[reason.index()] += 1;
                    log::trace!(
                        "{service}: {n} bytes from {source} dropped ({})",
                        reason.name()
                    );
                    continue;
                }
            };
            log::trace!("recv_from #{key} {service}: {n} bytes from {source}");
            match service {
                Service::UdpEcho => replies.push(i),
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
        let batch = &*batch;
        send_all(
            replies.len(),
            |from| udp_out.send(socket, replies[from..].iter().map(|&i| batch.echo(i))),
            |reply, fate| {
                // The trace's arguments are evaluated only when it is on.
                let i = replies[reply];
                let (n, to) = (|| batch.get(i).len(), || show(batch.source(i)));
                match fate {
                    Ok(()) => {
                        log::trace!("send_to #{key}: {} bytes to {}", n(), to());
                        stats.udp_out += 1;
                    }
                    Err(e) => {
                        log::debug!("udp-echo: reply to {} dropped: {e}", to());
                        stats.udp_dropped += 1;
                    }
                }
            },
        );
        if got == UDP_BATCH {
            // Batch used up: others get a turn; no new edge will report the rest.
            self.requeue(key);
        }
    }

    /// Brings the kernel drop counts up to date (SO_MEMINFO, one
    /// `getsockopt` per UDP socket).
    pub(super) fn sync_udp_drops(&mut self) {
        for (_, entry) in self.entries.iter_mut() {
            if let Entry::Udp { socket, drops, .. } = entry {
                match datagrams::drop_count_now(socket) {
                    Ok(count) => self.stats.udp_kernel_drops += drops.observe(count),
                    Err(e) => log::debug!("SO_MEMINFO: {e}"),
                }
            }
        }
    }
}

/// The loop's UDP buffers: room for one batch in, and the headers of one
/// batch out. With no UDP service, no room (nothing is allocated).
pub(super) fn batches(has_udp: bool) -> (RecvBatch, datagrams::SendBatch) {
    let capacity = if has_udp { UDP_BATCH } else { 0 };
    (RecvBatch::new(capacity), datagrams::SendBatch::default())
}

fn show(addr: Option<std::net::SocketAddr>) -> String {
    addr.map_or_else(|| "?".to_owned(), |a| a.to_string())
}

/// Sends `total` replies with `send(from)`, one `sendmmsg` of the replies
/// from index `from` on per call, and reports each reply's fate, in order,
/// to `fate(index, Ok | Err)`.
///
/// The rules (sendmmsg(2)): a count short of what was given means the next
/// reply failed and its error was lost, so the next call starts there, and
/// an error that persists comes back then. `WouldBlock`: the socket's send
/// buffer is full, so this reply and the rest of the batch are dropped,
/// never waited for (the socket is not even registered for WRITABLE). Any
/// other error belongs to the one reply it was for (e.g. EMSGSIZE, or
/// EACCES for a broadcast address): it is dropped, and the rest go on.
fn send_all(
    total: usize,
    mut send: impl FnMut(usize) -> io::Result<usize>,
    mut fate: impl FnMut(usize, Result<(), &io::Error>),
) {
    let mut next = 0;
    while next < total {
        match send(next) {
            Ok(sent) if sent > 0 => {
                let sent = sent.min(total - next);
                (next..next + sent).for_each(|i| fate(i, Ok(())));
                next += sent;
            }
            // Nothing sent and no error: never for a non-empty batch, but a
            // loop must not spin on it.
            Ok(_) => {
                fate(next, Err(&ErrorKind::WriteZero.into()));
                next += 1;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                (next..total).for_each(|i| fate(i, Err(&e)));
                return;
            }
            Err(e) => {
                fate(next, Err(&e));
                next += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// Runs [`send_all`] over `total` replies with `script` as what each
    /// `sendmmsg` says; returns the calls' start indexes and each reply's
    /// fate (`None`: sent; `Some(kind)`: dropped).
    fn run(total: usize, script: Vec<io::Result<usize>>) -> (Vec<usize>, Vec<Option<ErrorKind>>) {
        let mut script: VecDeque<_> = script.into();
        let mut calls = Vec::new();
        let mut fates = Vec::new();
        send_all(
            total,
            |from| {
                calls.push(from);
                script.pop_front().expect("no more sendmmsg calls expected")
            },
            |i, fate| {
                assert_eq!(i, fates.len(), "fates in order");
                fates.push(fate.err().map(io::Error::kind));
            },
        );
        (calls, fates)
    }

    fn would_block() -> io::Error {
        ErrorKind::WouldBlock.into()
    }

    #[test]
    fn a_whole_batch_goes_in_one_call() {
        assert_eq!(run(3, vec![Ok(3)]), (vec![0], vec![None; 3]));
        assert_eq!(run(0, vec![]), (vec![], vec![]));
    }

    /// A reply that would block is dropped with the rest of its batch,
    /// never retried or waited for.
    #[test]
    fn a_reply_that_would_block_drops_the_rest_of_the_batch() {
        let (calls, fates) = run(5, vec![Ok(2), Err(would_block())]);
        assert_eq!(calls, [0, 2]);
        let dropped = Some(ErrorKind::WouldBlock);
        assert_eq!(fates, [None, None, dropped, dropped, dropped]);
        let (_, fates) = run(2, vec![Err(would_block())]);
        assert_eq!(fates, [dropped, dropped]);
    }

    /// Another error is the one reply's: it is dropped and the next call
    /// starts after it.
    #[test]
    fn a_failed_reply_is_dropped_alone() {
        let refused = || io::Error::from(ErrorKind::PermissionDenied);
        let (calls, fates) = run(4, vec![Ok(1), Err(refused()), Ok(2)]);
        assert_eq!(calls, [0, 1, 2]);
        assert_eq!(fates, [None, Some(ErrorKind::PermissionDenied), None, None]);
    }

    /// A call that sends nothing and says no error cannot spin the loop.
    #[test]
    fn a_call_that_sends_nothing_moves_on() {
        let (calls, fates) = run(2, vec![Ok(0), Ok(1)]);
        assert_eq!(calls, [0, 1]);
        assert_eq!(fates, [Some(ErrorKind::WriteZero), None]);
    }
}
