//! TCP in the generator's loop: connect, read and verify, send what the
//! schedule says is due, flush, close. Each handler takes a slab key and
//! copes with a key that is gone (stale events are harmless).
//!
//! One request's path: [`Engine::send_requests`] builds a burst and writes
//! it once (`OutBuf::send`), stamping each request's send time in the
//! connection's slots; its reply arrives as an event that queues the
//! connection; the pass calls [`Engine::tcp_read`], which verifies the
//! reply, records `now - send time`, and refills.

use super::causes::error_name;
use super::churn;
use super::conn::{ConnectOutcome, State, connect_outcome, start_connect};
use super::engine::{Engine, READ_CHUNK};
use super::scenario::VerifyError;
use super::schedule::Burst;
use super::table::Entry;
use crate::readiness::{ReadOutcome, must_drain, read_some};

impl Engine {
    /// Issues connect number `index` (non-blocking), from the next source.
    pub(super) fn start_tcp_connect(&mut self, index: usize) {
        let (stream, started) =
            match start_connect(self.cfg.target, self.source_for(index), &self.clock) {
                Ok(s) => s,
                Err(reason) => return self.meter.rec.connect_failed(&reason),
            };
        let talk = self.workload.talk(index, &mut self.rng);
        if let Err(e) = self
            .conns
            .add_tcp(self.poll.registry(), stream, talk, started)
        {
            self.meter.rec.connect_failed(&format!("register: {e}"));
        }
    }

    /// An event on a TCP connection: the connect's outcome, or room to
    /// flush; anything to read is read in this turn's pass.
    pub(super) fn tcp_event(&mut self, key: usize, event: &mio::event::Event, now: u64) {
        let Some(Entry::Tcp(conn)) = self.conns.get_mut(key) else {
            return;
        };
        if must_drain(event) {
            conn.drain_fully = true;
        }
        if conn.state == State::Connecting {
            match connect_outcome(&conn.stream) {
                ConnectOutcome::Pending => return,
                ConnectOutcome::Failed(e) => {
                    self.conns.remove(key);
                    return self
                        .meter
                        .rec
                        .connect_failed(&format!("connect: {}", error_name(&e)));
                }
                ConnectOutcome::Up => {
                    // The event came from this turn's poll: the connection
                    // was up by the time the turn's clock was read.
                    let took = now.saturating_sub(conn.connect_at);
                    self.conns.connected(key);
                    self.meter.rec.connected(took);
                    // Churn: a replacement sends at once while the window
                    // is open (before it, the schedule sends nothing).
                    if self.cfg.requests_per_conn.is_some() {
                        self.refill(key, now, false);
                    }
                }
            }
        } else if event.is_writable() {
            self.tcp_flush(key, now);
        }
        // Also right after the connect: the server may already have closed
        // (e.g. `ERR server full`), and that edge will not come again.
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            self.conns.push_ready(key);
        }
    }

    /// WRITABLE: flush pending requests (a no-op when nothing is pending);
    /// once they are all out, send what came due meanwhile (`refill` sends
    /// nothing while requests are pending).
    fn tcp_flush(&mut self, key: usize, now: u64) {
        let Some((conn, _)) = self.conns.tcp(key) else {
            return;
        };
        if conn.out.is_empty() {
            return;
        }
        match conn.out.flush(&mut conn.stream) {
            Ok(n) => self.meter.rec.bytes_out(n),
            Err(e) => return self.server_closed(key, &format!("write: {}", error_name(&e))),
        }
        if let Some((conn, _)) = self.conns.tcp(key)
            && conn.out.is_empty()
        {
            self.refill(key, now, false);
        }
    }

    /// Reads what arrived, verifies it, records each reply's latency at the
    /// turn's `now`, and sends the requests that makes due (held back by
    /// `--depth` until now if every slot was busy).
    pub(super) fn tcp_read(&mut self, key: usize, now: u64) {
        let Engine {
            conns,
            scratch,
            workload,
            meter,
            cfg,
            ..
        } = self;
        let Some((conn, times)) = conns.tcp(key) else {
            return;
        };
        if conn.state != State::Open {
            return;
        }
        if scratch.is_empty() {
            *scratch = vec![0; READ_CHUNK].into_boxed_slice();
        }
        let (n, more) = match read_some(&mut conn.stream, scratch, &mut conn.drain_fully) {
            Ok(ReadOutcome::Drained(n)) => (n, false),
            Ok(ReadOutcome::More(n)) => (n, true),
            Ok(ReadOutcome::Empty) => return,
            Ok(ReadOutcome::Eof) => return self.server_closed(key, "closed by server"),
            Err(e) => return self.server_closed(key, &format!("read: {}", error_name(&e))),
        };
        let held = conn.free(times) == 0;
        let rec = &mut meter.rec;
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
                for _ in 0..replies {
                    rec.reply(now.saturating_sub(conn.take_answered(times)));
                }
            }
        }
        if churn::is_spent(cfg.requests_per_conn, conn.talk.answered) {
            return self.recycle(key, now);
        }
        self.refill(key, now, held);
        if more {
            // Read stopped before `WouldBlock`: no new edge will report what
            // is still queued, so the next pass reads on.
            self.conns.push_ready(key);
        }
    }

    /// Sends what the schedule says is due on `key` at `now`, and asks for
    /// a wake-up at its next intended time. `held`: every `--depth` slot was
    /// busy until this turn's replies (for the schedule lag).
    pub(super) fn refill(&mut self, key: usize, now: u64, held: bool) {
        let Some((conn, times)) = self.conns.tcp(key) else {
            return;
        };
        // Requests still pending: the server is not reading them (yet). No
        // more go behind them, so a connection holds at most one burst's
        // rest, however long the server stalls; `tcp_flush` comes back
        // once they are out (the short write ended at `WouldBlock`, so
        // WRITABLE will come). What came due meanwhile is sent then.
        if !conn.out.is_empty() {
            return;
        }
        let limit = self.cfg.requests_per_conn;
        let free = churn::room(limit, conn.talk.sent, conn.free(times));
        let mut burst = self.schedule.due(conn.next_intended, free, now);
        // No more than the socket can take now (at least one request), so
        // that a server that stops reading leaves at most about one request
        // here, not a `--depth` burst: the rest stay due, and go out with
        // the next reply or flush. Requests are taken to be `--size` bytes
        // (echo's; the built-in line services' are shorter), or, for
        // `--service line`, the longest line its template renders. The
        // kernel is asked only when the credit runs below the burst
        // (`SendRoom`).
        let size = match &self.cfg.line {
            Some(spec) => spec.send.max_len() + 1,
            None => self.cfg.size,
        }
        .max(1);
        let bytes = (burst.count as usize).saturating_mul(size);
        if burst.count > 1 {
            let room = {
                let super::conn::Conn { out, stream, .. } = conn;
                out.room().read_limit(stream, size, bytes)
            };
            burst.count = burst.count.min((room / size).max(1) as u32);
        }
        if burst.count > 0 {
            self.send_requests(key, &burst);
            for i in 0..burst.count {
                if let Some(lag) = self.schedule.lag(&burst, i, now, held) {
                    self.meter.rec.schedule_lag(lag);
                }
            }
        }
        // The write may have failed and closed the connection.
        if let Some((conn, times)) = self.conns.tcp(key) {
            let free = churn::room(limit, conn.talk.sent, conn.free(times));
            self.schedule
                .wake_later(key, conn.next_intended, free, &mut conn.timer_armed);
        }
    }

    /// Builds the burst's requests and writes them in ONE write; each one's
    /// send time goes in the connection's slots.
    pub(super) fn send_requests(&mut self, key: usize, burst: &Burst) {
        let Engine {
            conns,
            workload,
            out,
            meter,
            ..
        } = self;
        let Some((conn, times)) = conns.tcp(key) else {
            return;
        };
        out.clear();
        workload.write_requests(&mut conn.talk, burst.count, out);
        for i in 0..burst.count {
            conn.stamp_sent(times, burst.at(i));
        }
        conn.next_intended = burst.at(burst.count);
        meter.rec.sent(u64::from(burst.count));
        match conn.out.send(&mut conn.stream, out) {
            Ok(n) => meter.rec.bytes_out(n),
            Err(e) => self.server_closed(key, &format!("write: {}", error_name(&e))),
        }
    }

    /// The server closed or reset the connection before the run ended.
    pub(super) fn server_closed(&mut self, key: usize, reason: &str) {
        if let Some(Entry::Tcp(conn)) = self.conns.remove(key) {
            log::debug!("conn #{key}: {reason}");
            self.meter.rec.abandoned(u64::from(conn.in_flight));
            self.meter.rec.closed(Some(reason));
        }
    }

    /// A reply failed verification: the stream is out of step, so the
    /// connection is closed (its other requests are abandoned).
    fn verify_failed(&mut self, key: usize, e: VerifyError) {
        let rec = &mut self.meter.rec;
        if rec.totals().verify_errors < 5 {
            log::warn!("conn #{key}: {e}");
        }
        rec.verify_failed(&e.reason, 1);
        if let Some(Entry::Tcp(conn)) = self.conns.remove(key) {
            self.meter.rec.abandoned(u64::from(conn.in_flight));
            self.meter.rec.closed(None);
        }
    }
}
