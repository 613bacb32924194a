//! TCP connections in the event loop: reading, answering, writing, closing
//! (accepting them is `accept.rs`).
//!
//! The handlers here are the only code that calls a connection's protocol
//! ([`Session`]), so every close a protocol asks for or a socket error
//! causes is decided here. Two other places also end connections: the timer
//! (`deadlines.rs`: idle timeout, end of a lingering close) and shutdown
//! (`shutdown.rs`); all of them go through [`Server::close`] here.
//! Each readiness rule is commented where it is applied.

use super::conn::{Conn, Phase, ReadOutcome, read_some};
use super::{Entry, Server};
use crate::config::ServeConfig;
use crate::protocol::{CloseReason, Ctx, Service, Session, Tally, Verdict, local_now};
use crate::readiness::write_some;
use crate::stats::Stats;
use rand::rngs::SmallRng;
use std::io;
use std::net::Shutdown;

impl Server {
    /// The socket has room again: flush pending output.
    pub(super) fn write_ready(&mut self, key: usize) {
        let cap = self.config.output_cap;
        let Some(Entry::Conn(conn)) = self.entries.get_mut(key) else {
            return;
        };
        // WRITABLE matters only while output is pending; otherwise it is just
        // the other half of an edge-triggered event.
        if conn.pending() == 0 {
            return;
        }
        let was_paused = conn.pending() >= cap;
        match conn.flush() {
            Ok(n) => {
                log::trace!("write #{key}: {n} bytes, {} still pending", conn.pending());
                self.stats.wrote(conn.session.service(), n);
                if n > 0 {
                    conn.last_active = self.now;
                }
            }
            Err(e) => return self.close_on_error(key, "write", e),
        }
        match conn.phase {
            Phase::Closing(reason) if conn.pending() == 0 => self.finish_close(key, reason),
            // Backpressure lifted: resume reading. The input that waited in the
            // kernel meanwhile raises no new edge, so requeue explicitly.
            Phase::Open if was_paused && conn.pending() < cap => self.requeue(key),
            Phase::Open | Phase::Closing(_) | Phase::Lingering(_) => {}
        }
    }

    /// The socket is readable (or requeued): read one chunk and answer it.
    pub(super) fn read_ready(&mut self, key: usize) {
        let cap = self.config.output_cap;
        let Some(Entry::Conn(conn)) = self.entries.get_mut(key) else {
            return;
        };
        match conn.phase {
            Phase::Open => {}
            // Closing: no more requests are read; the flush decides.
            Phase::Closing(_) => return,
            Phase::Lingering(reason) => return self.linger_read(key, reason),
        }
        // Backpressure: while too much output waits, leave input in the
        // kernel (its receive window then slows the sender); write_ready
        // requeues us once the output drains.
        if conn.pending() >= cap {
            log::trace!("read #{key}: paused, {} bytes pending", conn.pending());
            return;
        }
        // Lines held back by backpressure are answered before reading more,
        // so `input` never grows past one read chunk plus one partial line.
        // `more_waiting`: reading was paused, so the kernel may hold input
        // that raised its edge long ago; come back for it after the stash.
        if memchr::memchr(b'\n', &conn.input).is_some() {
            return self.answer(key, 0, true);
        }
        let service = conn.session.service();
        match read_some(conn, &mut self.scratch) {
            Ok(ReadOutcome::Drained(n)) => self.on_bytes(key, service, n, false),
            Ok(ReadOutcome::Full(n)) => self.on_bytes(key, service, n, true),
            // Nothing there: a spurious wakeup, or data already taken. Harmless.
            Ok(ReadOutcome::Empty) => log::trace!("read #{key}: would block"),
            // Ok(0): the peer closed its side.
            Ok(ReadOutcome::Eof) => {
                log::trace!("read #{key}: end of stream (peer sent FIN)");
                self.peer_closed(key);
            }
            Err(e) => self.close_on_error(key, "read", e),
        }
    }

    fn on_bytes(&mut self, key: usize, service: Service, n: usize, more_waiting: bool) {
        log::trace!("read #{key}: {n} bytes");
        self.stats.read(service, n);
        self.answer(key, n, more_waiting);
    }

    /// Feeds `scratch[..n]` (after any held-back input) to the protocol and
    /// sends the replies. `more_waiting`: the read filled the buffer.
    fn answer(&mut self, key: usize, n: usize, more_waiting: bool) {
        let Server {
            entries,
            scratch,
            reply,
            config,
            rng,
            now,
            stats,
            ..
        } = self;
        let Some(Entry::Conn(conn)) = entries.get_mut(key) else {
            return;
        };
        let new = &scratch[..n];
        let mut verdict = Verdict::Continue;
        let sent = if matches!(conn.session, Session::Echo) && conn.pending() == 0 {
            // Echo fast path: the reply IS the input, so write the read buffer
            // straight back instead of copying it through `echo::respond`.
            conn.last_active = *now;
            let one = Tally {
                requests: 1,
                ..Tally::default()
            };
            stats.count(Service::Echo, &one);
            write_and_queue(conn, new)
        } else {
            let mut ctx = protocol_ctx(config, rng, stats);
            reply.clear();
            let budget = config.output_cap.saturating_sub(conn.pending());
            let consumed = if conn.input.is_empty() {
                let fed = conn
                    .session
                    .feed(new, &mut ctx, reply, config.max_line, budget);
                // Keep what the protocol did not use: a partial line, or lines
                // held back because the output budget ran out.
                conn.input.extend_from_slice(&new[fed.consumed..]);
                verdict = fed.verdict;
                fed.consumed
            } else {
                let mut input = std::mem::take(&mut conn.input);
                input.extend_from_slice(new);
                let fed = conn
                    .session
                    .feed(&input, &mut ctx, reply, config.max_line, budget);
                input.drain(..fed.consumed);
                if !input.is_empty() {
                    conn.input = input;
                }
                verdict = fed.verdict;
                fed.consumed
            };
            // Only complete requests count as activity: a slowloris client
            // dripping bytes into a line that never ends is idle, and the
            // idle timeout closes it.
            if consumed > 0 {
                conn.last_active = *now;
            }
            let tally = ctx.tally;
            stats.count(conn.session.service(), &tally);
            log::trace!(
                "answer #{key}: {} requests, {} reply bytes, {} input bytes kept",
                tally.requests,
                reply.len(),
                conn.input.len()
            );
            write_and_queue(conn, reply)
        };
        match sent {
            Ok(w) => self.wrote(key, w),
            Err(e) => return self.close_on_error(key, "write", e),
        }
        self.apply(key, verdict, more_waiting);
    }

    /// Acts on a protocol verdict after its replies were queued.
    fn apply(&mut self, key: usize, verdict: Verdict, more_waiting: bool) {
        let cap = self.config.output_cap;
        let Some(Entry::Conn(conn)) = self.entries.get_mut(key) else {
            return;
        };
        match verdict {
            Verdict::Continue => {
                let held_back = memchr::memchr(b'\n', &conn.input).is_some();
                // Stopped before WouldBlock (full read, or lines held back) and
                // not paused by backpressure: come back next turn.
                if (more_waiting || held_back) && conn.pending() < cap {
                    self.requeue(key);
                }
            }
            Verdict::Close(reason) => self.start_close(key, reason),
            Verdict::Shutdown => {
                log::info!("remote shutdown requested on #{key}");
                self.start_close(key, CloseReason::Bye);
                self.begin_shutdown();
            }
        }
    }

    /// Read returned 0: answer a final unterminated line, then close once
    /// the output is flushed.
    fn peer_closed(&mut self, key: usize) {
        let Server {
            entries,
            reply,
            config,
            rng,
            stats,
            ..
        } = self;
        let Some(Entry::Conn(conn)) = entries.get_mut(key) else {
            return;
        };
        let mut ctx = protocol_ctx(config, rng, stats);
        reply.clear();
        let rest = std::mem::take(&mut conn.input);
        let verdict = conn.session.finish(&rest, &mut ctx, reply);
        let tally = ctx.tally;
        stats.count(conn.session.service(), &tally);
        let sent = if conn.pending() == 0 {
            write_and_queue(conn, reply)
        } else {
            conn.queue_output(reply);
            Ok(0)
        };
        match sent {
            Ok(w) => self.wrote(key, w),
            Err(e) => return self.close_on_error(key, "write", e),
        }
        match verdict {
            Verdict::Close(reason) => self.start_close(key, reason),
            Verdict::Continue => self.start_close(key, CloseReason::Peer),
            Verdict::Shutdown => {
                self.start_close(key, CloseReason::Bye);
                self.begin_shutdown();
            }
        }
    }

    /// Counts (and traces) bytes written straight after answering.
    fn wrote(&mut self, key: usize, written: usize) {
        let Some(Entry::Conn(conn)) = self.entries.get(key) else {
            return;
        };
        self.stats.wrote(conn.session.service(), written);
        if written > 0 {
            log::trace!(
                "write #{key}: {written} bytes, {} still pending",
                conn.pending()
            );
        } else if conn.pending() > 0 {
            log::trace!(
                "write #{key}: queued behind pending output, {} pending",
                conn.pending()
            );
        }
    }

    /// Stops reading; the connection closes once its output is flushed.
    fn start_close(&mut self, key: usize, reason: CloseReason) {
        let Some(Entry::Conn(conn)) = self.entries.get_mut(key) else {
            return;
        };
        log::trace!(
            "conn #{key}: {:?} -> Closing({})",
            conn.phase,
            reason.name()
        );
        conn.phase = Phase::Closing(reason);
        if conn.pending() == 0 {
            self.finish_close(key, reason);
        }
    }

    /// Output is flushed. A close the peer started (or an idle/error one)
    /// ends now; one we started lingers so our last reply is not lost to a
    /// reset (see `Phase::Lingering`).
    fn finish_close(&mut self, key: usize, reason: CloseReason) {
        let lingers = matches!(
            reason,
            CloseReason::Bye | CloseReason::TooManyFailures | CloseReason::LineTooLong
        );
        let Some(Entry::Conn(conn)) = self.entries.get_mut(key) else {
            return;
        };
        if !lingers || self.shutdown_at.is_some() {
            return self.close(key, reason);
        }
        // Send our FIN now; the peer sees end-of-stream right after the reply.
        if conn.stream.shutdown(Shutdown::Write).is_err() {
            return self.close(key, reason);
        }
        log::trace!("conn #{key}: Closing({0}) -> Lingering({0})", reason.name());
        conn.phase = Phase::Lingering(reason);
        conn.last_active = self.now;
        self.arm_deadline(key);
        self.linger_read(key, reason);
    }

    /// Lingering: discard input until the peer's FIN (or the linger timer).
    fn linger_read(&mut self, key: usize, reason: CloseReason) {
        let Some(Entry::Conn(conn)) = self.entries.get_mut(key) else {
            return;
        };
        match read_some(conn, &mut self.scratch) {
            // The peer's FIN (or a reset): the reply was delivered or never
            // will be; either way the close counts under its original reason.
            Ok(ReadOutcome::Eof) | Err(_) => self.close(key, reason),
            // A full chunk: more may wait and no edge will say so.
            Ok(ReadOutcome::Full(_)) => self.requeue(key),
            // Discarded and drained (or nothing there): the next edge, or the
            // linger deadline, brings us back.
            Ok(ReadOutcome::Drained(_) | ReadOutcome::Empty) => {}
        }
    }

    fn close_on_error(&mut self, key: usize, op: &str, e: io::Error) {
        log::debug!("{op} #{key}: {e}");
        self.close(key, CloseReason::Error);
    }

    /// Removes a connection. Dropping the stream closes the descriptor, and
    /// closing removes it from the epoll set (we never duplicate descriptors),
    /// so no separate deregister syscall is needed.
    pub(super) fn close(&mut self, key: usize, reason: CloseReason) {
        let Some(Entry::Conn(conn)) = self.entries.get(key) else {
            return;
        };
        let service = conn.session.service();
        if conn.armed_at != super::conn::NOT_ARMED {
            self.timers.forget_one();
        }
        self.entries.remove(key);
        self.stats.closed(service, reason);
        log::debug!("close #{key}: {}", reason.name());
    }
}

/// What the protocols get from the server: the real clock, the loop's rng,
/// the settings, and this turn's counters.
fn protocol_ctx<'a>(config: &'a ServeConfig, rng: &'a mut SmallRng, stats: &'a Stats) -> Ctx<'a> {
    Ctx {
        wall_clock: local_now,
        rng,
        credentials: &config.credentials,
        allow_remote_shutdown: config.allow_remote_shutdown,
        stats,
        tally: Tally::default(),
    }
}

/// Writes `bytes` now if nothing is pending (keeping any rest for WRITABLE),
/// or queues them behind pending output to keep the byte order.
fn write_and_queue(conn: &mut Conn, bytes: &[u8]) -> io::Result<usize> {
    if bytes.is_empty() {
        return Ok(0);
    }
    if conn.pending() > 0 {
        conn.queue_output(bytes);
        return Ok(0);
    }
    let written = write_some(&mut conn.stream, bytes)?;
    if written < bytes.len() {
        // Short write: keep the rest; the WRITABLE edge will flush it.
        conn.queue_output(&bytes[written..]);
    }
    Ok(written)
}
