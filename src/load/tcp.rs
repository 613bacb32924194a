//! TCP in the generator's loop: connect, send bursts, read and verify,
//! flush, close. Each handler takes a slab key and copes with a key that is
//! gone (stale events are harmless).

use super::conn::{Conn, ConnectOutcome, State, connect_outcome, error_name, start_connect};
use super::engine::{Engine, Entry, Phase, ns};
use super::scenario::{Talk, VerifyError};
use crate::readiness::{ReadOutcome, read_some};
use mio::{Interest, Token};
use rand::Rng;

impl Engine {
    /// Issues connect number `index` (non-blocking), from the next source.
    pub(super) fn start_tcp_connect(&mut self, index: usize) {
        let sources = &self.cfg.sources;
        let source = (!sources.is_empty()).then(|| sources[index % sources.len()]);
        let now = self.clock_ns();
        let mut stream = match start_connect(self.cfg.target, source) {
            Ok(s) => s,
            Err(e) => {
                return self
                    .rec
                    .connect_failed(&format!("connect: {}", error_name(&e)));
            }
        };
        let entry = self.entries.vacant_entry();
        let key = entry.key();
        // Registered once, before the handshake ends: the WRITABLE edge
        // that reports the connect's outcome cannot be missed.
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut stream, Token(key), interest)
        {
            return self.rec.connect_failed(&format!("register: {e}"));
        }
        let talk = Talk::new(self.rng.next_u32());
        entry.insert(Entry::Tcp(Conn::connecting(stream, talk, now)));
        self.connecting.push_back((key, now));
        self.pending_connects += 1;
    }

    /// The connect started at `started` on `key` hit `--connect-timeout`
    /// (unless it finished meanwhile: then the entry is stale).
    pub(super) fn connect_timed_out(&mut self, key: usize, started: u64) {
        let still_connecting = matches!(self.entries.get(key),
            Some(Entry::Tcp(c)) if c.state == State::Connecting && c.connect_at == started);
        if still_connecting {
            self.entries.remove(key);
            self.pending_connects -= 1;
            let secs = self.cfg.connect_timeout.as_secs_f64();
            self.rec
                .connect_failed(&format!("connect: no answer within {secs} s"));
        }
    }

    /// An event on a TCP connection.
    pub(super) fn tcp_event(&mut self, key: usize, event: &mio::event::Event) {
        let Some(Entry::Tcp(conn)) = self.entries.get_mut(key) else {
            return;
        };
        if conn.state == State::Connecting {
            match connect_outcome(&conn.stream) {
                ConnectOutcome::Pending => return,
                ConnectOutcome::Failed(e) => {
                    self.entries.remove(key);
                    self.pending_connects -= 1;
                    return self
                        .rec
                        .connect_failed(&format!("connect: {}", error_name(&e)));
                }
                ConnectOutcome::Up => {
                    conn.state = State::Open;
                    let took =
                        super::engine::ns(self.clock.elapsed()).saturating_sub(conn.connect_at);
                    self.pending_connects -= 1;
                    self.rec.connected(took);
                }
            }
        } else if event.is_writable() {
            self.tcp_flush(key);
        }
        // Also right after the connect: the server may already have closed
        // (e.g. `ERR server full`), and that edge will not come again.
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            self.tcp_read(key);
        }
    }

    /// WRITABLE: flush pending requests (a no-op when nothing is pending).
    fn tcp_flush(&mut self, key: usize) {
        let Some(Entry::Tcp(conn)) = self.entries.get_mut(key) else {
            return;
        };
        match conn.out.flush(&mut conn.stream) {
            Ok(n) => self.rec.bytes_out(n),
            Err(e) => self.server_closed(key, &format!("write: {}", error_name(&e))),
        }
    }

    /// Reads what arrived, verifies it, and sends the requests it makes due.
    pub(super) fn tcp_read(&mut self, key: usize) {
        let Engine {
            entries,
            scratch,
            workload,
            rec,
            send_times,
            cfg,
            clock,
            now,
            ..
        } = self;
        let Some(Entry::Tcp(conn)) = entries.get_mut(key) else {
            return;
        };
        if conn.state != State::Open {
            return;
        }
        let (n, more) = match read_some(&mut conn.stream, scratch, conn.peer_closed_seen) {
            Ok(ReadOutcome::Drained(n)) => (n, false),
            Ok(ReadOutcome::More(n)) => (n, true),
            Ok(ReadOutcome::Empty) => return,
            Ok(ReadOutcome::Eof) => return self.server_closed(key, "closed by server"),
            Err(e) => return self.server_closed(key, &format!("read: {}", error_name(&e))),
        };
        // One clock read per read event: the replies in it arrived together.
        *now = ns(clock.elapsed());
        rec.bytes_in(n);
        match workload.check_replies(&mut conn.talk, &scratch[..n]) {
            // The server refused the connection (`ERR server full`), or
            // spoke before anything was asked: the server ending the
            // connection, not a wrong reply.
            Err(e) if e.refused || conn.talk.sent == 0 => {
                return self.server_closed(key, &e.reason);
            }
            Err(e) => return self.verify_failed(key, e),
            Ok(replies) => {
                let depth = cfg.depth;
                let base = key * depth as usize;
                for _ in 0..replies {
                    let sent_at = send_times[base + conn.ring_head as usize];
                    conn.ring_head = (conn.ring_head + 1) % depth;
                    rec.reply(now.saturating_sub(sent_at));
                }
                conn.in_flight -= replies;
            }
        }
        self.refill(key);
        if more {
            self.requeue(key);
        }
    }

    /// Sends the requests now due on `key`: closed loop, as many as free
    /// `--depth` slots; open loop, those whose intended time has come (up to
    /// the free slots; the rest stay owed and keep their intended times).
    pub(super) fn refill(&mut self, key: usize) {
        if self.phase != Phase::Measure {
            return;
        }
        let (now, end, depth) = (self.now, self.phase_until, self.cfg.depth);
        let Some(Entry::Tcp(conn)) = self.entries.get_mut(key) else {
            return;
        };
        let free = depth - conn.in_flight;
        let Some(interval) = self.interval_ns else {
            if free > 0 {
                self.send_requests(key, free, now, 0);
            }
            return;
        };
        let next = conn.next_intended;
        if free > 0 && next <= now && next < end {
            let due = (now.min(end - 1) - next) / interval + 1;
            let count = due.min(u64::from(free)) as u32;
            self.send_requests(key, count, next, interval);
        }
        // Wake at the next intended time, unless all slots are busy: then
        // the next reply calls this again.
        let Some(Entry::Tcp(conn)) = self.entries.get_mut(key) else {
            return;
        };
        if conn.in_flight < depth && conn.next_intended < end && !conn.timer_armed {
            conn.timer_armed = true;
            self.pacer.push(conn.next_intended, key);
        }
    }

    /// Builds `count` requests and writes them in ONE write; their send
    /// times are `first`, `first + step`, ... (step 0: all sent now).
    pub(super) fn send_requests(&mut self, key: usize, count: u32, first: u64, step: u64) {
        let Engine {
            entries,
            workload,
            out,
            send_times,
            rec,
            cfg,
            ..
        } = self;
        let Some(Entry::Tcp(conn)) = entries.get_mut(key) else {
            return;
        };
        out.clear();
        workload.write_requests(&mut conn.talk, count, out);
        let depth = cfg.depth;
        let base = key * depth as usize;
        let mut at = first;
        for _ in 0..count {
            let slot = (conn.ring_head + conn.in_flight) % depth;
            send_times[base + slot as usize] = at;
            conn.in_flight += 1;
            at += step;
        }
        conn.next_intended = at;
        rec.sent(u64::from(count));
        match conn.out.send(&mut conn.stream, out) {
            Ok(n) => rec.bytes_out(n),
            Err(e) => self.server_closed(key, &format!("write: {}", error_name(&e))),
        }
    }

    /// Open loop: serves the pacing timers that are due.
    pub(super) fn fire_pacing(&mut self) {
        while let Some(key) = self.pacer.pop_due(self.now) {
            match self.entries.get_mut(key) {
                Some(Entry::Tcp(c)) => {
                    c.timer_armed = false;
                    self.refill(key);
                }
                Some(Entry::Udp(u)) => {
                    u.timer_armed = false;
                    self.udp_pump(key);
                }
                None => {}
            }
        }
    }

    /// The server closed or reset the connection before the run ended.
    pub(super) fn server_closed(&mut self, key: usize, reason: &str) {
        if let Some(Entry::Tcp(conn)) = self.entries.try_remove(key) {
            log::debug!("conn #{key}: {reason}");
            self.rec.abandoned(u64::from(conn.in_flight));
            self.rec.closed(Some(reason));
        }
    }

    /// A reply failed verification: the stream is out of step, so the
    /// connection is closed (its other requests are abandoned).
    pub(super) fn verify_failed(&mut self, key: usize, e: VerifyError) {
        if self.rec.m.verify_errors < 5 {
            log::warn!("conn #{key}: {e}");
        }
        self.rec.verify_failed(&e.reason, 1);
        if let Some(Entry::Tcp(conn)) = self.entries.try_remove(key) {
            self.rec.abandoned(u64::from(conn.in_flight));
            self.rec.closed(None);
        }
    }

    /// Window start: every connection's first requests (open loop: first
    /// intended times staggered evenly over one interval, so connections do
    /// not all fire at once).
    pub(super) fn start_requests(&mut self) {
        let keys: Vec<usize> = self.entries.iter().map(|(k, _)| k).collect();
        let n = keys.len().max(1) as u64;
        for (i, &key) in keys.iter().enumerate() {
            if let Some(interval) = self.interval_ns {
                // Fits: interval <= 1e12 ns (RATE_RANGE), i < n <= conns.
                let at = self.now + (u128::from(interval) * i as u128 / u128::from(n)) as u64;
                match self.entries.get_mut(key) {
                    Some(Entry::Tcp(c)) => c.next_intended = at,
                    Some(Entry::Udp(u)) => u.next_intended = at,
                    None => {}
                }
            }
            match self.entries.get(key) {
                Some(Entry::Tcp(_)) => self.refill(key),
                Some(Entry::Udp(_)) => self.udp_pump(key),
                None => {}
            }
        }
    }

    /// `--idle`, end of the hold: exactly one request on every connection.
    pub(super) fn send_idle_requests(&mut self) {
        let keys: Vec<usize> = self.entries.iter().map(|(k, _)| k).collect();
        for key in keys {
            let now = self.clock_ns();
            match self.entries.get(key) {
                Some(Entry::Tcp(c)) if c.state == State::Open => {
                    self.send_requests(key, 1, now, 0);
                }
                Some(Entry::Udp(_)) => {
                    self.udp_send_one(key, now);
                }
                _ => {}
            }
        }
        self.now = self.clock_ns();
    }

    /// End of the run: requests still unanswered are failures (TCP) or
    /// losses (UDP).
    pub(super) fn count_unanswered(&mut self) {
        let mut missing = 0;
        let mut lost = 0;
        for (_, entry) in self.entries.iter() {
            match entry {
                Entry::Tcp(c) => missing += u64::from(c.in_flight),
                Entry::Udp(u) => lost += u64::from(u.slots.in_flight()),
            }
        }
        if missing > 0 {
            let secs = self.cfg.drain_timeout.as_secs_f64();
            self.rec.verify_failed(
                &format!("no reply within {secs} s after the window"),
                missing,
            );
        }
        self.rec.m.udp_lost += lost;
        self.rec.abandoned(missing + lost);
    }
}
