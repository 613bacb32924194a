//! UDP in the generator's loop: one connected UDP socket per "connection",
//! numbered datagrams in `--depth` slots, replies matched by number.
//!
//! Every datagram ends one way, judged by one rule whenever it is applied:
//! a reply within [`UDP_LOSS_TIMEOUT`](super::engine::UDP_LOSS_TIMEOUT) of
//! its *actual* send is received (its latency, from the intended time, is
//! recorded); a reply after that is late (counted once, not a latency
//! sample), whether it came before the periodic loss check freed its slot
//! or after (then the loss is taken back); no reply at all is lost. So
//! received + late + lost never exceeds sent.
//!
//! UDP has no handshake, so nothing is recorded as connect latency. What is
//! due comes from the same schedule as TCP's (`schedule.rs`); every datagram
//! is its own `send` (UDP has no stream to batch into).

use super::clock::ns;
use super::conn::error_name;
use super::engine::{Engine, UDP_LOSS_TIMEOUT};
use super::scenario::udp::{Answer, Slots};
use mio::net::UdpSocket;
use std::io::{self, ErrorKind};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Datagrams received per socket per pass before others get a turn.
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
    /// Open loop: a pacing wake-up is armed.
    pub timer_armed: bool,
    /// The last send would block: wait for WRITABLE.
    pub blocked: bool,
}

impl UdpConn {
    /// A socket with nothing sent yet.
    pub fn new(socket: UdpSocket, slots: Slots) -> UdpConn {
        UdpConn {
            socket,
            slots,
            next_intended: 0,
            queued: false,
            timer_armed: false,
            blocked: false,
        }
    }
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
        let socket = match open_socket(self.cfg.target, self.source_for(index)) {
            Ok(s) => s,
            Err(e) => {
                return self
                    .meter
                    .rec
                    .connect_failed(&format!("udp: {}", error_name(&e)));
            }
        };
        match self.conns.add_udp(self.poll.registry(), socket) {
            Ok(()) => self.meter.rec.udp_opened(),
            Err(e) => self.meter.rec.connect_failed(&format!("register: {e}")),
        }
    }

    /// An event on a UDP socket: it is served in this turn's pass.
    pub(super) fn udp_event(&mut self, key: usize, event: &mio::event::Event) {
        let Some(u) = self.conns.udp(key) else {
            return;
        };
        // WRITABLE only matters while a send was refused.
        let unblocked = event.is_writable() && u.blocked;
        if unblocked {
            u.blocked = false;
        }
        if unblocked || event.is_readable() || event.is_error() {
            self.conns.push_ready(key);
        }
    }

    /// Receives until `WouldBlock` (at most [`UDP_BATCH`] datagrams, then
    /// requeued), matching each reply, then sends what became due (held
    /// back by `--depth` until now if every slot was busy).
    pub(super) fn udp_read(&mut self, key: usize, now: u64) {
        let held = self.conns.udp(key).is_some_and(|u| u.slots.free() == 0);
        let mut drained = false;
        for _ in 0..UDP_BATCH {
            let Engine {
                conns,
                scratch,
                udp_echo,
                meter,
                ..
            } = self;
            let Some(u) = conns.udp(key) else {
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
            let rec = &mut meter.rec;
            rec.bytes_in(n);
            match udp_echo.check(&scratch[..n]) {
                Ok(seq) => match u.slots.answer(seq) {
                    // The loss check's rule (`Slots::expire`), at arrival.
                    Answer::Matched { sent_at, .. }
                        if now.saturating_sub(sent_at) >= ns(UDP_LOSS_TIMEOUT) =>
                    {
                        rec.udp_late();
                    }
                    Answer::Matched { intended, .. } => {
                        rec.udp_received(now.saturating_sub(intended));
                    }
                    Answer::AfterLoss => rec.udp_late_after_loss(),
                    Answer::Unmatched => rec.error("udp: duplicate or unknown reply"),
                },
                Err(e) => {
                    if rec.totals().verify_errors < 5 {
                        log::warn!("udp #{key}: {e}");
                    }
                    rec.verify_failed(&e.reason, 1);
                }
            }
        }
        if !drained {
            // Batch used up: no new edge will report what is still queued.
            self.conns.push_ready(key);
        }
        self.udp_pump(key, now, held);
    }

    /// Sends the datagrams the schedule says are due, one `send` each, and
    /// asks for a wake-up at the next intended time. `held`: every slot was
    /// busy until now (for the schedule lag).
    pub(super) fn udp_pump(&mut self, key: usize, now: u64, held: bool) {
        let Some(u) = self.conns.udp(key) else {
            return;
        };
        if u.blocked {
            return;
        }
        let burst = self.schedule.due(u.next_intended, u.slots.free(), now);
        for i in 0..burst.count {
            if !self.udp_send_one(key, burst.at(i), now) {
                // Blocked (WRITABLE resumes it) or failed (gone).
                return;
            }
            if let Some(lag) = self.schedule.lag(&burst, i, now, held) {
                self.meter.rec.schedule_lag(lag);
            }
            if let Some(u) = self.conns.udp(key) {
                u.next_intended = burst.at(i + 1);
            }
        }
        if let Some(u) = self.conns.udp(key) {
            let free = u.slots.free();
            self.schedule
                .wake_later(key, u.next_intended, free, &mut u.timer_armed);
        }
    }

    /// Sends one datagram stamped `stamp` (its intended time) at `now`;
    /// whether it went out.
    pub(super) fn udp_send_one(&mut self, key: usize, stamp: u64, now: u64) -> bool {
        let Engine {
            conns,
            out,
            udp_echo,
            meter,
            ..
        } = self;
        let Some(u) = conns.udp(key) else {
            return false;
        };
        let Some(seq) = u.slots.next_seq() else {
            return false;
        };
        udp_echo.datagram(seq, out);
        loop {
            match u.socket.send(out) {
                Ok(n) => {
                    u.slots.sent(seq, stamp, now);
                    meter.rec.udp_sent(n);
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
        if let Some(super::table::Entry::Udp(u)) = self.conns.remove(key) {
            let reason = match e.kind() {
                ErrorKind::ConnectionRefused => "udp: target port unreachable".to_owned(),
                _ => format!("udp: {}", error_name(e)),
            };
            self.meter
                .rec
                .udp_socket_failed(&reason, u64::from(u.slots.in_flight()));
        }
    }

    /// Declares datagrams sent more than the loss timeout ago lost and
    /// refills. (A reply that comes later still counts, as late.)
    pub(super) fn check_udp_loss(&mut self, now: u64) {
        let cutoff = now.saturating_sub(ns(UDP_LOSS_TIMEOUT));
        let mut refill = Vec::new();
        for (key, entry) in self.conns.iter_mut() {
            if let super::table::Entry::Udp(u) = entry {
                let held = u.slots.free() == 0;
                let lost = u.slots.expire(cutoff);
                if lost > 0 {
                    self.meter.rec.udp_lost(u64::from(lost));
                    refill.push((key, held));
                }
            }
        }
        for (key, held) in refill {
            self.udp_pump(key, now, held);
        }
    }
}
