//! The connection table ([`Conns`]): every socket of the generator in one
//! `Slab` (its key is its mio `Token`), the ready queue over it, each TCP
//! connection's send-time slots, and the ramp-up's connects: which is due
//! next (`--connect-rate`), which are in progress and when they time out.
//!
//! Under churn (`--requests-per-conn`, `churn.rs`) a connection closed
//! after its last reply asks for one more connect in its place
//! ([`Conns::replace`]), paced by the same `--connect-rate`. The table
//! never holds more entries than `--conns`: a replacement is asked for only
//! once its predecessor is removed, so slab keys, and with them the
//! send-time slots, stay within the first `--conns`.
//!
//! The table keeps its counts right by itself: a connect in progress is
//! counted until it comes up ([`Conns::connected`]) or its entry is removed
//! ([`Conns::remove`]), whoever removes it.

use super::conn::{Conn, State};
use super::scenario::Talk;
use super::scenario::udp::Slots;
use super::udp::UdpConn;
use crate::readiness::{Pass, Queueable, ReadyQueue, TCP_INTEREST};
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use slab::Slab;
use std::collections::VecDeque;
use std::io;

/// The deadline queue is compacted past twice `max(--conns, this)`
/// entries: a floor, so a run of few connections does not compact often.
const DEADLINES_MIN: usize = 64;

/// One socket of the generator.
#[derive(Debug)]
pub enum Entry {
    /// A TCP connection.
    Tcp(Conn),
    /// A UDP socket connected to the target.
    Udp(UdpConn),
}

impl Queueable for Entry {
    fn queued(&mut self) -> &mut bool {
        match self {
            Entry::Tcp(c) => &mut c.queued,
            Entry::Udp(u) => &mut u.queued,
        }
    }
}

/// The generator's sockets.
#[derive(Debug)]
pub struct Conns {
    entries: Slab<Entry>,
    /// Sockets to serve in the next pass (see `engine.rs`).
    ready: ReadyQueue,
    /// `depth` send-time slots per TCP connection, at `key * depth` (ns; the
    /// intended time in open loop). Preallocated: no allocation per request.
    send_times: Box<[u64]>,
    depth: u32,
    /// Connects (UDP: sockets) to start in all, and started so far
    /// (churn: the replacements asked for count in `wanted`).
    wanted: usize,
    started: usize,
    /// `--connect-rate` (0: as fast as possible).
    connect_rate: f64,
    /// The pacing grid: connect `i` is due at `.0 + (i - .1) / rate`. It
    /// starts at (0, 0); churn restarts it at a replacement asked for when
    /// the grid lies in the past, so a lull is not made up in a burst.
    pace_from: (u64, usize),
    /// `--connect-timeout` (ns).
    connect_timeout: u64,
    /// Connects in progress, in start order = deadline order: (key, start).
    /// Entries of connects that finished stay until their deadline passes
    /// or the queue is compacted (`add_tcp`: at most twice `slots`);
    /// `connecting` is the true count.
    deadlines: VecDeque<(usize, u64)>,
    /// `--conns`: the most entries the table holds at once (churn's
    /// replacements come only after their predecessors left).
    slots: usize,
    connecting: usize,
}

impl Conns {
    /// A table for `wanted` connections of `depth` requests in flight.
    pub fn new(wanted: usize, depth: u32, connect_rate: f64, connect_timeout: u64) -> Conns {
        Conns {
            entries: Slab::with_capacity(wanted.min(65_536)),
            ready: ReadyQueue::default(),
            send_times: vec![0; wanted.saturating_mul(depth as usize)].into_boxed_slice(),
            depth,
            wanted,
            started: 0,
            connect_rate,
            pace_from: (0, 0),
            connect_timeout,
            deadlines: VecDeque::new(),
            slots: wanted,
            connecting: 0,
        }
    }

    // ---- the ramp-up ------------------------------------------------------

    /// When the next connect is due (`None`: all are started). Connect `i`
    /// is due `i / --connect-rate` seconds after the start (of the pacing
    /// grid: `pace_from`), or at once.
    pub fn next_connect_at(&self, now: u64) -> Option<u64> {
        if self.started >= self.wanted {
            None
        } else if self.connect_rate > 0.0 {
            Some(self.due(self.started))
        } else {
            Some(now)
        }
    }

    /// When connect `i` is due on the pacing grid (`--connect-rate` > 0).
    fn due(&self, i: usize) -> u64 {
        let (at, from) = self.pace_from;
        at + (i.saturating_sub(from) as f64 * 1e9 / self.connect_rate) as u64
    }

    /// Churn: a connection was closed at `now` after its last reply; one
    /// more connect takes its place, due at once or on the pacing grid.
    pub fn replace(&mut self, now: u64) {
        let idle = self.started == self.wanted;
        if self.connect_rate > 0.0 && idle && self.due(self.started) < now {
            self.pace_from = (now, self.started);
        }
        self.wanted += 1;
    }

    /// A connect is still to start or in progress.
    pub fn connects_pending(&self) -> bool {
        self.started < self.wanted || self.connecting > 0
    }

    /// The index of the next connect if it is due at `now` (it then counts
    /// as started).
    pub fn take_due_connect(&mut self, now: u64) -> Option<usize> {
        let due = self.next_connect_at(now)? <= now;
        due.then(|| {
            self.started += 1;
            self.started - 1
        })
    }

    /// `--idle --stages`: the connects wanted now are `n` more than those
    /// started (fewer if `n` is below the connects not yet started: those
    /// are called off). The slab never holds more than `--conns` entries:
    /// the caller keeps `open + connecting + n` within it.
    pub fn want(&mut self, n: usize) {
        self.wanted = self.started + n;
    }

    /// Sockets in the table: open, or connecting.
    pub fn sockets(&self) -> usize {
        self.entries.len()
    }

    /// Every connect is started and none is in progress; frees the deadline
    /// queue (it held one entry per connection).
    pub fn ramp_done(&mut self) -> bool {
        let done = self.started == self.wanted && self.connecting == 0;
        if done && self.deadlines.capacity() > 0 {
            self.deadlines = VecDeque::new();
        }
        done
    }

    /// The earliest connect timeout.
    pub fn connect_deadline(&self) -> Option<u64> {
        let &(_, started) = self.deadlines.front()?;
        Some(started + self.connect_timeout)
    }

    /// Removes one connect still in progress whose timeout passed at `now`,
    /// and returns its key; `None` once no timeout is due.
    pub fn expire_connect(&mut self, now: u64) -> Option<usize> {
        while let Some(&(key, started)) = self.deadlines.front() {
            if started + self.connect_timeout > now {
                return None;
            }
            self.deadlines.pop_front();
            // The entry is stale if that connect finished (the key may even
            // belong to a newer one): only the same connect, still pending.
            let same = matches!(self.entries.get(key),
                Some(Entry::Tcp(c)) if c.state == State::Connecting && c.connect_at == started);
            if same {
                self.remove(key);
                return Some(key);
            }
        }
        None
    }

    // ---- entries ----------------------------------------------------------

    /// Registers `stream` (its `connect()` issued at `started`) for
    /// `readiness::TCP_INTEREST` and adds it as a connect in progress.
    pub fn add_tcp(
        &mut self,
        registry: &Registry,
        mut stream: TcpStream,
        talk: Talk,
        started: u64,
    ) -> io::Result<usize> {
        let entry = self.entries.vacant_entry();
        let key = entry.key();
        // Registered once, before the handshake ends: the WRITABLE edge
        // that reports the connect's outcome cannot be missed.
        registry.register(&mut stream, Token(key), TCP_INTEREST)?;
        entry.insert(Entry::Tcp(Conn::connecting(stream, talk, started)));
        self.deadlines.push_back((key, started));
        // Under churn, finished connects' entries would pile up behind one
        // that hangs until its timeout (connects per second x timeout of
        // them): past twice the slots, keep only the live ones, of which
        // there are at most `slots` (amortized O(1) per connect).
        if self.deadlines.len() > 2 * self.slots.max(DEADLINES_MIN) {
            let entries = &self.entries;
            self.deadlines.retain(|&(key, started)| {
                matches!(entries.get(key),
                    Some(Entry::Tcp(c)) if c.state == State::Connecting && c.connect_at == started)
            });
        }
        self.connecting += 1;
        Ok(key)
    }

    /// Registers a connected UDP socket for READABLE | WRITABLE and adds it.
    pub fn add_udp(
        &mut self,
        registry: &Registry,
        mut socket: mio::net::UdpSocket,
    ) -> io::Result<()> {
        let entry = self.entries.vacant_entry();
        let interest = Interest::READABLE | Interest::WRITABLE;
        registry.register(&mut socket, Token(entry.key()), interest)?;
        entry.insert(Entry::Udp(UdpConn::new(socket, Slots::new(self.depth))));
        Ok(())
    }

    /// Connection `key`'s connect succeeded: it is open.
    pub fn connected(&mut self, key: usize) {
        if let Some(Entry::Tcp(c)) = self.entries.get_mut(key)
            && c.state == State::Connecting
        {
            c.state = State::Open;
            self.connecting -= 1;
        }
    }

    /// Removes `key` (dropping the socket closes it and takes it out of the
    /// epoll set: no `deregister`).
    pub fn remove(&mut self, key: usize) -> Option<Entry> {
        let entry = self.entries.try_remove(key)?;
        if let Entry::Tcp(c) = &entry
            && c.state == State::Connecting
        {
            self.connecting -= 1;
        }
        Some(entry)
    }

    /// The socket at `key`.
    pub fn get(&self, key: usize) -> Option<&Entry> {
        self.entries.get(key)
    }

    /// The socket at `key`, to change.
    pub fn get_mut(&mut self, key: usize) -> Option<&mut Entry> {
        self.entries.get_mut(key)
    }

    /// TCP connection `key` and its `--depth` send-time slots.
    pub fn tcp(&mut self, key: usize) -> Option<(&mut Conn, &mut [u64])> {
        let Some(Entry::Tcp(conn)) = self.entries.get_mut(key) else {
            return None;
        };
        let depth = self.depth as usize;
        let base = key * depth;
        Some((conn, &mut self.send_times[base..base + depth]))
    }

    /// UDP socket `key`.
    pub fn udp(&mut self, key: usize) -> Option<&mut UdpConn> {
        match self.entries.get_mut(key) {
            Some(Entry::Udp(u)) => Some(u),
            _ => None,
        }
    }

    /// Every socket, to change.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (usize, &mut Entry)> {
        self.entries.iter_mut()
    }

    /// The keys of every socket, in key order.
    pub fn keys(&self) -> Vec<usize> {
        self.entries.iter().map(|(key, _)| key).collect()
    }

    /// The first key at or after `from` that holds a socket.
    pub fn next_key(&self, from: usize) -> Option<usize> {
        (from..self.entries.capacity()).find(|&key| self.entries.contains(key))
    }

    // ---- the ready queue --------------------------------------------------

    /// Puts `key` on the ready queue (once) for the next pass.
    pub fn push_ready(&mut self, key: usize) {
        self.ready.push(&mut self.entries, key);
    }

    /// Something waits in the ready queue: `poll` must not sleep.
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Starts a pass over the sockets queued so far.
    pub fn start_pass(&self) -> Pass {
        self.ready.start_pass()
    }

    /// The next socket of `pass` (see [`ReadyQueue::next`]).
    pub fn next_ready(&mut self, pass: &mut Pass) -> Option<usize> {
        self.ready.next(pass, &mut self.entries)
    }
}

#[cfg(test)]
mod tests;
