//! UDP in the generator's loop: one connected UDP socket per "connection",
//! numbered datagrams in `--depth` slots, replies matched by number, loss
//! declared after [`UDP_LOSS_TIMEOUT`](super::engine::UDP_LOSS_TIMEOUT).
//!
//! UDP has no handshake, so nothing is recorded as connect latency. Every
//! datagram is its own `send` (UDP has no stream to batch into).

use super::conn::error_name;
use super::engine::{Engine, Entry, Phase, UDP_LOSS_TIMEOUT, ns};
use super::scenario::udp::{Answer, Slots};
use mio::net::UdpSocket;
use mio::{Interest, Token};
use std::io::{self, ErrorKind};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Datagrams received per socket per turn before others get a turn.
const UDP_BATCH: usize = 64;

/// One UDP socket of the generator.
#[derive(Debug)]
pub struct UdpConn {
    /// Bound, connected to the target, registered READABLE | WRITABLE.
    pub socket: UdpSocket,
    /// Datagrams in flight.
    pub slots: Slots,
    /// Open loop: intended send time of the next datagram (ns).
    pub next_intended: u64,
    /// Already in the ready queue.
    pub queued: bool,
    /// Open loop: a pacing timer is armed.
    pub timer_armed: bool,
    /// The last send would block: wait for WRITABLE.
    pub blocked: bool,
}

/// A non-blocking UDP socket bound to `source` (or any address) and
/// connected to `target`, so it only hears from the target.
fn open_socket(target: SocketAddr, source: Option<IpAddr>) -> io::Result<UdpSocket> {
    let any = match target {
        SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let socket = std::net::UdpSocket::bind(SocketAddr::new(source.unwrap_or(any), 0))?;
    socket.connect(target)?;
    socket.set_nonblocking(true)?;
    Ok(UdpSocket::from_std(socket))
}

impl Engine {
    /// Opens UDP socket number `index`.
    pub(super) fn open_udp(&mut self, index: usize) {
        let sources = &self.cfg.sources;
        let source = (!sources.is_empty()).then(|| sources[index % sources.len()]);
        let mut socket = match open_socket(self.cfg.target, source) {
            Ok(s) => s,
            Err(e) => return self.rec.connect_failed(&format!("udp: {}", error_name(&e))),
        };
        let entry = self.entries.vacant_entry();
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut socket, Token(entry.key()), interest)
        {
            return self.rec.connect_failed(&format!("register: {e}"));
        }
        entry.insert(Entry::Udp(UdpConn {
            socket,
            slots: Slots::new(self.cfg.depth),
            next_intended: 0,
            queued: false,
            timer_armed: false,
            blocked: false,
        }));
        self.rec.m.opened += 1;
        self.rec.open_now += 1;
    }

    /// An event on a UDP socket.
    pub(super) fn udp_event(&mut self, key: usize, event: &mio::event::Event) {
        if event.is_writable()
            && let Some(Entry::Udp(u)) = self.entries.get_mut(key)
            && u.blocked
        {
            // WRITABLE only matters while a send was refused.
            u.blocked = false;
            self.udp_pump(key);
        }
        if event.is_readable() || event.is_error() {
            self.udp_read(key);
        }
    }

    /// Receives until `WouldBlock` (at most [`UDP_BATCH`] datagrams, then
    /// requeued), matching each reply, then sends what became due.
    pub(super) fn udp_read(&mut self, key: usize) {
        let now = self.clock_ns();
        self.now = now;
        let mut drained = false;
        for _ in 0..UDP_BATCH {
            let Engine {
                entries,
                scratch,
                udp_echo,
                rec,
                ..
            } = self;
            let Some(Entry::Udp(u)) = entries.get_mut(key) else {
                return;
            };
            let n = match u.socket.recv(scratch) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    drained = true;
                    break;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // An ICMP error from an earlier datagram (port unreachable).
                Err(e) => return self.udp_failed(key, &e),
            };
            rec.m.udp_received += 1;
            rec.bytes_in(n);
            match udp_echo.check(&scratch[..n]) {
                Ok(seq) => match u.slots.answer(seq) {
                    Answer::Matched(sent_at) => rec.reply(now.saturating_sub(sent_at)),
                    Answer::Late => rec.m.error("udp: reply after its loss timeout, or twice"),
                },
                Err(e) => {
                    if rec.m.verify_errors < 5 {
                        log::warn!("udp #{key}: {e}");
                    }
                    rec.verify_failed(&e.reason, 1);
                }
            }
        }
        if !drained {
            // Batch used up: no new edge will report what is still queued.
            self.requeue(key);
        }
        self.udp_pump(key);
    }

    /// Sends the datagrams now due: closed loop, one per free slot; open
    /// loop, those whose intended time has come (up to the free slots).
    pub(super) fn udp_pump(&mut self, key: usize) {
        if self.phase != Phase::Measure {
            return;
        }
        let (now, end) = (self.now, self.phase_until);
        loop {
            let Some(Entry::Udp(u)) = self.entries.get_mut(key) else {
                return;
            };
            if u.blocked || u.slots.free() == 0 {
                return;
            }
            let stamp = match self.interval_ns {
                None => now,
                Some(_) if u.next_intended <= now && u.next_intended < end => u.next_intended,
                Some(_) => break,
            };
            if !self.udp_send_one(key, stamp) {
                return;
            }
            if let (Some(interval), Some(Entry::Udp(u))) =
                (self.interval_ns, self.entries.get_mut(key))
            {
                u.next_intended += interval;
            }
        }
        // Open loop: wake at the next intended time.
        if let Some(Entry::Udp(u)) = self.entries.get_mut(key)
            && u.next_intended < end
            && !u.timer_armed
        {
            u.timer_armed = true;
            self.pacer.push(u.next_intended, key);
        }
    }

    /// Sends one datagram stamped `stamp`; whether it went out.
    pub(super) fn udp_send_one(&mut self, key: usize, stamp: u64) -> bool {
        let Engine {
            entries,
            out,
            udp_echo,
            rec,
            ..
        } = self;
        let Some(Entry::Udp(u)) = entries.get_mut(key) else {
            return false;
        };
        let Some(seq) = u.slots.next_seq() else {
            return false;
        };
        udp_echo.datagram(seq, out);
        loop {
            match u.socket.send(out) {
                Ok(n) => {
                    u.slots.sent(seq, stamp);
                    rec.sent(1);
                    rec.m.udp_sent += 1;
                    rec.bytes_out(n);
                    return true;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // Socket buffer full: WRITABLE will say when to go on.
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    u.blocked = true;
                    return false;
                }
                Err(e) => {
                    self.udp_failed(key, &e);
                    return false;
                }
            }
        }
    }

    /// The socket got an error (e.g. the target port is unreachable): it
    /// counts as a failed connection and is closed.
    fn udp_failed(&mut self, key: usize, e: &io::Error) {
        if let Some(Entry::Udp(u)) = self.entries.try_remove(key) {
            let reason = match e.kind() {
                ErrorKind::ConnectionRefused => "udp: target port unreachable".to_owned(),
                _ => format!("udp: {}", error_name(e)),
            };
            self.rec.abandoned(u64::from(u.slots.in_flight()));
            self.rec.m.udp_lost += u64::from(u.slots.in_flight());
            self.rec.open_now = self.rec.open_now.saturating_sub(1);
            self.rec.connect_failed(&reason);
        }
    }

    /// Declares datagrams older than the loss timeout lost and refills.
    pub(super) fn check_udp_loss(&mut self) {
        let cutoff = self.now.saturating_sub(ns(UDP_LOSS_TIMEOUT));
        let mut refill = Vec::new();
        for (key, entry) in self.entries.iter_mut() {
            if let Entry::Udp(u) = entry {
                let lost = u.slots.expire(cutoff);
                if lost > 0 {
                    self.rec.m.udp_lost += u64::from(lost);
                    self.rec.abandoned(u64::from(lost));
                    refill.push(key);
                }
            }
        }
        for key in refill {
            self.udp_pump(key);
        }
    }
}
