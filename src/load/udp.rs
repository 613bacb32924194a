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
//! due comes from the same schedule as TCP's (`schedule.rs`). Datagrams go
//! and come in batches ([`crate::readiness::datagrams`]): what is due on a
//! socket leaves in one `sendmmsg` (up to [`MAX_BATCH`] a call), replies
//! come in one `recvmmsg` per pass, so that the generator is not what limits
//! a UDP measurement. Each datagram is still stamped, matched and verified
//! on its own.
//!
//! The kernel drops a reply when a socket's receive queue is full; each
//! socket's drop count is read at the end (SO_MEMINFO, in
//! [`Engine::count_udp_drops`]): the generator's share of "lost". The
//! target's share is read from `/proc/net/udp` (`server_drops.rs`).

use super::causes::error_name;
use super::clock::ns;
use super::engine::{Engine, UDP_LOSS_TIMEOUT};
use super::scenario::udp::{Answer, Slots};
use super::schedule::Burst;
use crate::readiness::datagrams::{self, KernelDrops, MAX_BATCH, Outgoing};
use mio::net::UdpSocket;
use std::io::{self, ErrorKind};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Datagrams received per socket per pass (one `recvmmsg`) before others
/// get a turn.
pub(super) const UDP_BATCH: usize = MAX_BATCH;

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
    /// Replies the kernel dropped on this socket, counted so far.
    pub drops: KernelDrops,
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
            drops: KernelDrops::default(),
        }
    }
}

/// A non-blocking UDP socket bound to `source` (or any address) and
/// connected to `target`, so it only hears from the target; its buffers
/// sized (`--udp-buffer`, what the kernel granted returned to be logged).
fn open_socket(
    target: SocketAddr,
    source: Option<IpAddr>,
    buffer: Option<usize>,
) -> io::Result<(UdpSocket, Option<datagrams::Buffers>)> {
    let any = match target {
        SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let socket = std::net::UdpSocket::bind(SocketAddr::new(source.unwrap_or(any), 0))?;
    socket.connect(target)?;
    socket.set_nonblocking(true)?;
    let granted = match buffer {
        Some(bytes) => Some(datagrams::set_buffers(&socket, bytes)?),
        None => None,
    };
    Ok((UdpSocket::from_std(socket), granted))
}

impl Engine {
    /// Opens UDP socket number `index`.
    pub(super) fn open_udp(&mut self, index: usize) {
        let opened = open_socket(self.cfg.target, self.source_for(index), self.cfg.udp_buffer);
        let socket = match opened {
            Ok((socket, granted)) => {
                // Every socket gets the same: said once.
                if let Some(granted) = granted.filter(|_| index == 0) {
                    granted.log("udp-echo sockets");
                }
                socket
            }
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

    /// Receives one batch (at most [`UDP_BATCH`] datagrams; a full one is
    /// requeued, a shorter one means the queue ran empty), matching each
    /// reply, then sends what became due (held back by `--depth` until now
    /// if every slot was busy).
    pub(super) fn udp_read(&mut self, key: usize, now: u64) {
        let held = self.conns.udp(key).is_some_and(|u| u.slots.free() == 0);
        let Engine {
            conns,
            udp_in: batch,
            udp_echo,
            meter,
            ..
        } = self;
        let Some(u) = conns.udp(key) else {
            return;
        };
        let got = match batch.recv(&u.socket, UDP_BATCH) {
            Ok(got) => got,
            Err(e) if e.kind() == ErrorKind::WouldBlock => 0,
            // An ICMP error from an earlier datagram (port unreachable):
            // Linux reports it because this socket is connected
            // (`__udp4_lib_err`).
            Err(e) => return self.udp_failed(key, &e),
        };
        let rec = &mut meter.rec;
        for i in 0..got {
            let datagram = batch.get(i);
            rec.bytes_in(datagram.len());
            match udp_echo.check(datagram) {
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
        if got == UDP_BATCH {
            // Batch used up: no new edge will report what is still queued.
            self.conns.push_ready(key);
        }
        self.udp_pump(key, now, held);
    }

    /// Sends the datagrams the schedule says are due, a batch per
    /// `sendmmsg`, and asks for a wake-up at the next intended time.
    /// `held`: every slot was busy until now (for the schedule lag).
    pub(super) fn udp_pump(&mut self, key: usize, now: u64, held: bool) {
        let Some(u) = self.conns.udp(key) else {
            return;
        };
        if u.blocked {
            return;
        }
        let burst = self.schedule.due(u.next_intended, u.slots.free(), now);
        let mut sent = 0;
        while sent < burst.count {
            let Some(n) = self.udp_send(key, &burst, sent, now) else {
                // Blocked (WRITABLE resumes it) or failed (gone).
                return;
            };
            for i in sent..sent + n {
                if let Some(lag) = self.schedule.lag(&burst, i, now, held) {
                    self.meter.rec.schedule_lag(lag);
                }
            }
            sent += n;
            if let Some(u) = self.conns.udp(key) {
                u.next_intended = burst.at(sent);
            }
        }
        if let Some(u) = self.conns.udp(key) {
            let free = u.slots.free();
            self.schedule
                .wake_later(key, u.next_intended, free, &mut u.timer_armed);
        }
    }

    /// Sends one datagram stamped `stamp` (its intended time: `--idle`'s one
    /// request) at `now`; whether it went out.
    pub(super) fn udp_send_one(&mut self, key: usize, stamp: u64, now: u64) -> bool {
        self.udp_send(key, &Burst::now(1, stamp), 0, now).is_some()
    }

    /// Sends datagrams `from..` of `burst` (at most [`MAX_BATCH`], one per
    /// free slot) in one `sendmmsg`, each stamped with its time in the
    /// burst (its intended time) and sent at `now`; how many went out (at
    /// least one), or `None` if the socket would block (it waits for
    /// WRITABLE) or failed (it is gone).
    fn udp_send(&mut self, key: usize, burst: &Burst, from: u32, now: u64) -> Option<u32> {
        let Engine {
            conns,
            out,
            udp_out,
            udp_echo,
            meter,
            ..
        } = self;
        let u = conns.udp(key)?;
        let wanted = ((burst.count - from) as usize).min(MAX_BATCH);
        let mut seqs = [0u64; MAX_BATCH];
        out.clear();
        let mut n = 0;
        for (slot, seq) in seqs.iter_mut().zip(u.slots.free_seqs().take(wanted)) {
            *slot = seq;
            udp_echo.append_datagram(seq, out);
            n += 1;
        }
        if n == 0 {
            return None;
        }
        let size = udp_echo.size();
        let batch = out.chunks(size).map(|data| Outgoing { data, to: None });
        match udp_out.send(&u.socket, batch) {
            Ok(sent) if sent > 0 => {
                for (i, seq) in seqs[..sent].iter().enumerate() {
                    u.slots.sent(*seq, burst.at(from + i as u32), now);
                    meter.rec.udp_sent(size);
                }
                Some(sent as u32)
            }
            // Nothing sent and no error: never for a non-empty batch, but a
            // socket that does it cannot be used.
            Ok(_) => {
                self.udp_failed(key, &ErrorKind::WriteZero.into());
                None
            }
            // Socket buffer full: WRITABLE will say when to go on.
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                u.blocked = true;
                None
            }
            Err(e) => {
                self.udp_failed(key, &e);
                None
            }
        }
    }

    /// The run's kernel drops, at its end: the target's since the start
    /// (if it is on this host), and the generator's own, brought up to date.
    pub(super) fn count_udp_drops(&mut self) {
        if let Some(before) = self.server_drops_before
            && let Some(after) = super::server_drops::target_drops(self.cfg.target)
        {
            let drops = after.wrapping_sub(before);
            self.meter.rec.udp_server_kernel_drops(u64::from(drops));
        }
        self.sync_udp_drops();
    }

    /// Adds every socket's drop count (SO_MEMINFO).
    fn sync_udp_drops(&mut self) {
        for (_, entry) in self.conns.iter_mut() {
            if let super::table::Entry::Udp(u) = entry
                && let Ok(count) = datagrams::drop_count_now(&u.socket)
            {
                self.meter.rec.udp_kernel_drops(u.drops.observe(count));
            }
        }
    }

    /// The socket got an error (e.g. the target port is unreachable): it
    /// counts as a failed connection and is closed.
    fn udp_failed(&mut self, key: usize, e: &io::Error) {
        if let Some(super::table::Entry::Udp(mut u)) = self.conns.remove(key) {
            if let Ok(count) = datagrams::drop_count_now(&u.socket) {
                self.meter.rec.udp_kernel_drops(u.drops.observe(count));
            }
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
