//! TCP connections in the event loop: reading, answering, writing, closing
//! (accepting them is `accept.rs`).
//!
//! Every request takes one path from bytes to verdict, [`Server::answer`]:
//! feed the protocol (`Conn::feed`, or `Conn::finish` at the peer's FIN),
//! count what it answered, write the replies, act on the verdict. Bytes
//! just read, lines held back because their replies would not fit the
//! socket (`Conn::reply_budget`), echo's fast path (the read buffer written
//! straight back, no copy) and the FIN all go through it. It is the only
//! caller of a connection's protocol, so every close a protocol asks for
//! is decided there. The timer (`deadlines.rs`: the idle and send
//! timeouts, the end of a lingering close), the output budget
//! (`budget.rs`: slow readers) and shutdown (`shutdown.rs`) end
//! connections too; all go through [`Server::close`] here.
//!
//! The socket calls are `crate::readiness`'s, which documents their rules;
//! the comments here say what each outcome means for a connection.

use super::conn::{Conn, NOT_ARMED, Phase};
use super::{Entry, Server, metrics};
use crate::config::ServeConfig;
use crate::protocol::{CloseReason, Ctx, Hold, Session, Verdict, local_now};
use crate::readiness::ReadOutcome;
use rand::rngs::SmallRng;
use std::io;
use std::net::Shutdown;

/// What [`Server::answer`] hands the protocol.
#[derive(Debug, Clone, Copy)]
enum Input {
    /// `scratch[..new]`, just read, behind any lines held back in
    /// `Conn::input` (`new` is 0 when only those are answered).
    Read { new: usize },
    /// The peer's FIN: what is left in `Conn::input` is its final line.
    Fin,
}

impl Server {
    /// The socket has room again: flush pending output.
    pub(super) fn write_ready(&mut self, key: usize) {
        let Some(Entry::Conn(conn)) = self.entries.get_mut(key) else {
            return;
        };
        // Nothing pending: the other half of an edge-triggered event. Held
        // (login's penalty): the reply waits for the timer, which calls us.
        if conn.out.is_empty() || conn.session.is_held() {
            return;
        }
        let before = conn.out.pending();
        match conn.out.flush(&mut conn.stream) {
            Ok(n) => {
                log::trace!(
                    "write #{key}: {n} bytes, {} still pending",
                    conn.out.pending()
                );
                self.stats.wrote(conn.session.service(), n);
                if n > 0 {
                    conn.last_active = self.now;
                }
            }
            Err(e) => return self.close_on_error(key, "write", e),
        }
        self.output_changed(key, before);
        let Some(Entry::Conn(conn)) = self.entries.get(key) else {
            return;
        };
        // Still pending: this flush stopped at `WouldBlock`, so the kernel
        // reports WRITABLE again once there is room.
        if !conn.out.is_empty() {
            return;
        }
        match conn.phase() {
            Phase::Closing(reason) => self.finish_close(key, reason),
            // Drained: reading resumes, in this turn's pass of the ready
            // queue, but only where input may wait that no edge will
            // announce (an edge came while we were not reading, or the last
            // read filled its buffer) or lines wait in `input`. After a
            // short read the next arrival raises its own edge, and a read
            // now would only say `WouldBlock`: one syscall per message saved.
            Phase::Open if conn.input_waiting() || conn.holds_a_line() => self.requeue(key),
            Phase::Open | Phase::Lingering(_) => {}
        }
    }

    /// The socket is readable (or requeued): read one chunk and answer it.
    ///
    /// The read rules that bound a connection's memory:
    /// - nothing is read while output is pending: the kernel keeps the
    ///   input, and its receive window slows the sender. The short write
    ///   that left the output pending ended at `WouldBlock`, so WRITABLE
    ///   will come, and `write_ready` resumes reading;
    /// - lines held back in `input` are answered before anything is read,
    ///   so `input` never grows past one read plus one partial line;
    /// - a read takes no more than the socket's send buffer can take back
    ///   (`Conn::read_limit`): a client that stops reading leaves about one
    ///   [`MIN_READ`](super::conn::MIN_READ) of reply in `out`, not a 64 KiB
    ///   chunk's.
    pub(super) fn read_ready(&mut self, key: usize) {
        let Some(Entry::Conn(conn)) = self.entries.get_mut(key) else {
            return;
        };
        match conn.phase() {
            // Held: nothing is read until the timer releases (and requeues) it.
            Phase::Open if conn.session.is_held() => return,
            Phase::Open => {}
            // Closing: no more requests are read; the flush decides.
            Phase::Closing(_) => return,
            Phase::Lingering(reason) => return self.linger_read(key, reason),
        }
        // Output pending: leave input in the kernel (`Conn::unread` stays
        // set, so write_ready comes back for it once the output drains).
        if !conn.out.is_empty() {
            log::trace!("read #{key}: paused, {} bytes pending", conn.out.pending());
            return;
        }
        if conn.holds_a_line() {
            return self.answer(key, Input::Read { new: 0 });
        }
        // Requeued with nothing announced: the last read was short (the
        // queue was empty then), and what came since raised its own edge.
        if !conn.input_waiting() {
            return log::trace!("read #{key}: nothing waiting");
        }
        let limit = conn.read_limit();
        let service = conn.session.service();
        let new = match conn.read(&mut self.scratch[..limit]) {
            // Short: the queue was empty after it. Full: more may wait, and
            // `act` requeues us.
            Ok(ReadOutcome::Drained(n) | ReadOutcome::More(n)) => n,
            // Nothing there: a spurious wakeup, or data already taken.
            Ok(ReadOutcome::Empty) => return log::trace!("read #{key}: would block"),
            Ok(ReadOutcome::Eof) => {
                log::trace!("read #{key}: end of stream (peer sent FIN)");
                return self.answer(key, Input::Fin);
            }
            Err(e) => return self.close_on_error(key, "read", e),
        };
        log::trace!("read #{key}: {new} bytes (of {limit} asked)");
        self.stats.read(service, new);
        self.answer(key, Input::Read { new });
    }

    /// The one path from bytes to verdict: feed the protocol, count what it
    /// answered, write the replies (or hold them, if the protocol asks),
    /// then act on the verdict.
    fn answer(&mut self, key: usize, input: Input) {
        let Some(Entry::Conn(conn)) = self.entries.get_mut(key) else {
            return;
        };
        let service = conn.session.service();
        // 1. Feed.
        // The metrics endpoint's body, rendered only if a scrape asks for it.
        let exposition = || {
            let mut stats = self.stats.clone();
            stats.log_lines_dropped = crate::log_queue::dropped();
            metrics::render(&stats, self.config.worker)
        };
        let mut ctx = protocol_ctx(&self.config, &mut self.rng, &exposition);
        ctx.now = self.now;
        ctx.login_throttle = Some(&mut self.logins);
        self.reply.clear();
        let (verdict, reply): (Verdict, &[u8]) = match input {
            // Echo's fast path: the reply IS the input, so the read buffer
            // is written straight back instead of a copy made by
            // `echo::respond` (which still answers behind pending output,
            // where a copy is what gets queued).
            Input::Read { new } if matches!(conn.session, Session::Echo) && conn.out.is_empty() => {
                ctx.tally.requests += 1;
                conn.last_active = self.now;
                (Verdict::Continue, &self.scratch[..new])
            }
            Input::Read { new } => {
                let new = &self.scratch[..new];
                let limits = (self.config.max_line, conn.reply_budget());
                let fed = conn.feed(new, &mut ctx, &mut self.reply, limits, self.now);
                log::trace!(
                    "answer #{key}: {} requests, {} reply bytes, {} input bytes kept",
                    ctx.tally.requests,
                    self.reply.len(),
                    conn.input.len()
                );
                (fed.verdict, &self.reply)
            }
            Input::Fin => (conn.finish(&mut ctx, &mut self.reply), &self.reply),
        };
        // 2. Count (and log a failed login for fail2ban).
        let (tally, hold) = (ctx.tally, ctx.hold);
        self.stats.count(service, &tally);
        if tally.logins_failed > 0 {
            log_login_failure(key, conn, hold, self.now);
        }
        // 3. Write now, keeping what the kernel does not take (behind
        // pending output, only queue, to keep the byte order). Held: the
        // reply waits in `out` until the timer releases it.
        let before = conn.out.pending();
        if hold.is_some() {
            conn.out.queue(reply);
        } else {
            match conn.out.send(&mut conn.stream, reply) {
                Ok(written) => {
                    self.stats.wrote(service, written);
                    trace_write(key, written, conn.out.pending());
                }
                Err(e) => return self.close_on_error(key, "write", e),
            }
        }
        // The output budget may close slow readers here (this one too).
        self.output_changed(key, before);
        // 4. Act on the verdict (once held, the timer decides when to go on).
        if let Some(hold) = hold {
            self.hold(key, hold.at());
        }
        self.act(key, verdict, input);
    }

    /// Acts on a protocol verdict after its replies were written or queued.
    fn act(&mut self, key: usize, verdict: Verdict, input: Input) {
        match (verdict, input) {
            (Verdict::Continue, Input::Read { .. }) => {
                let Some(Entry::Conn(conn)) = self.entries.get(key) else {
                    return;
                };
                // Stopped before WouldBlock (a full read, or lines held
                // back), with nothing pending and not held: come back next
                // turn. With output pending, WRITABLE brings us back.
                if (conn.input_waiting() || conn.holds_a_line())
                    && conn.out.is_empty()
                    && !conn.session.is_held()
                {
                    self.requeue(key);
                }
            }
            // The peer sent all it will send, and it has been answered.
            (Verdict::Continue, Input::Fin) => self.start_close(key, CloseReason::Peer),
            (Verdict::Close(reason), _) => self.start_close(key, reason),
            (Verdict::Shutdown, _) => {
                let peer = match self.entries.get(key) {
                    Some(Entry::Conn(conn)) => peer_of(conn),
                    _ => "?".to_owned(),
                };
                log::info!("remote shutdown requested by {peer} (#{key}, logged in)");
                self.stats.remote_shutdowns += 1;
                self.start_close(key, CloseReason::Bye);
                self.begin_shutdown();
            }
        }
    }

    /// Stops reading; the connection closes once its output is flushed.
    fn start_close(&mut self, key: usize, reason: CloseReason) {
        let Some(Entry::Conn(conn)) = self.entries.get_mut(key) else {
            return;
        };
        conn.set_phase(key, Phase::Closing(reason));
        if conn.out.is_empty() {
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
        conn.set_phase(key, Phase::Lingering(reason));
        conn.last_active = self.now;
        self.arm_deadline(key);
        self.linger_read(key, reason);
    }

    /// Lingering: discard input until the peer's FIN (or the linger timer).
    fn linger_read(&mut self, key: usize, reason: CloseReason) {
        let Some(Entry::Conn(conn)) = self.entries.get_mut(key) else {
            return;
        };
        match conn.read(&mut self.scratch) {
            // The peer's FIN (or a reset): the reply was delivered or never
            // will be; either way the close counts under its original reason.
            Ok(ReadOutcome::Eof) | Err(_) => self.close(key, reason),
            // More may wait and no edge will say so.
            Ok(ReadOutcome::More(_)) => self.requeue(key),
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
        let pending = conn.out.pending();
        if conn.armed_at != NOT_ARMED {
            self.timers.forget_one();
        }
        // It held one of its source's unauthenticated login slots.
        if let Session::Login(login) = &conn.session
            && !login.is_logged_in()
            && let Some(source) = login.source()
        {
            self.logins.release(source);
        }
        self.entries.remove(key);
        self.forget_output(pending);
        self.stats.closed(service, reason);
        log::debug!("close #{key}: {}", reason.name());
    }
}

/// What the protocols get from the server: the real clock, the loop's rng,
/// the settings, and this turn's counters as Prometheus text (rendered only
/// when a scrape asks for them). `answer` adds the loop's time, the login
/// gate and whether this peer may stop the server.
fn protocol_ctx<'a>(
    config: &'a ServeConfig,
    rng: &'a mut SmallRng,
    exposition: &'a dyn Fn() -> String,
) -> Ctx<'a> {
    let mut ctx = Ctx::new(local_now, rng, &config.credentials, exposition);
    ctx.allow_remote_shutdown = config.allow_remote_shutdown;
    ctx
}

/// The peer's address as logged: `IP port N`, or its source if the socket
/// no longer knows it (reset meanwhile).
fn peer_of(conn: &Conn) -> String {
    match (conn.stream.peer_addr(), &conn.session) {
        (Ok(peer), _) => format!("{} port {}", peer.ip().to_canonical(), peer.port()),
        (Err(_), Session::Login(login)) if login.source().is_some() => {
            login.source().map(|s| s.to_string()).unwrap_or_default()
        }
        (Err(e), _) => format!("? ({e})"),
    }
}

/// The line fail2ban watches, at info, one per failed password (README,
/// "Login throttling"): the peer, and how long its source now waits.
/// Never the user line: it could be a password typed in the wrong place.
fn log_login_failure(key: usize, conn: &Conn, hold: Option<Hold>, now: u64) {
    let wait = hold.map_or(0, |h| h.at().saturating_sub(now));
    log::info!(
        "login failure from {}: wrong user or password (#{key}; next check from this address in {wait} ms)",
        peer_of(conn)
    );
}

/// The trace line of a write made while answering.
fn trace_write(key: usize, written: usize, pending: usize) {
    if written > 0 {
        log::trace!("write #{key}: {written} bytes, {pending} still pending");
    } else if pending > 0 {
        log::trace!("write #{key}: queued behind pending output, {pending} pending");
    }
}
