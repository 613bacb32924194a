//! Deadlines in the event loop: the poll timeout, and what fires when it
//! passes (connection timers: idle, send timeout and lingering close; the
//! end of a hold, the accept back-off, the stats line, the shutdown grace,
//! a second look at the output budget). The timer heap itself is
//! `timers.rs`.
//!
//! A hold (login's penalty, `protocol::Hold`) is one more connection
//! deadline in the same heap: `Server::hold` arms it, and while the session
//! says it is held (`Session::is_held`) nothing is read or written; when it
//! fires, the connection is released: its held reply is flushed and its
//! held input answered. Never a sleep: the loop goes on serving everyone
//! else.

use super::conn::{Conn, NOT_ARMED, Phase, Timeouts};
use super::{Entry, LINGER_MS, Server, timers};
use crate::protocol::CloseReason;
use std::time::Duration;

impl Server {
    /// How long `poll` may sleep: not at all while the ready queue has work,
    /// else until the nearest deadline, else forever.
    pub(super) fn poll_timeout(&self) -> Option<Duration> {
        if !self.ready.is_empty() {
            return Some(Duration::ZERO);
        }
        [
            self.timers.next_at(),
            self.next_refusal_deadline(),
            self.accept_paused_until,
            self.shutdown_at,
            self.next_stats_at,
            // Over the output budget with no slow reader old enough yet.
            self.budget_recheck.then_some(self.now + 1),
        ]
        .into_iter()
        .flatten()
        .min()
        // +1 ms: `now` is truncated to whole milliseconds, so without it we
        // could wake just before the deadline and spin until it passes.
        .map(|at| Duration::from_millis(at.saturating_sub(self.now) + 1))
    }

    /// Fires what is due: accept back-off, shutdown grace, connection
    /// timers, lingering refusals.
    pub(super) fn fire_deadlines(&mut self) {
        let now = self.now;
        self.expire_refusals();
        if self.accept_paused_until.is_some_and(|at| at <= now) {
            self.accept_paused_until = None;
            log::info!("accept: resuming after back-off");
            let listeners: Vec<usize> = self.keys(|e| matches!(e, Entry::Listener { .. }));
            for key in listeners {
                self.requeue(key);
            }
        }
        if let Some(at) = self.next_stats_at.filter(|at| *at <= now) {
            self.sync_udp_drops();
            log::info!("stats: {}", self.stats.compact());
            let every = self
                .config
                .stats_interval
                .map_or(1000, |d| (d.as_millis() as u64).max(1));
            // On a fixed grid, skipping ticks the loop slept through.
            self.next_stats_at = Some(at + every * ((now - at) / every + 1));
        }
        if self.shutdown_at.is_some_and(|at| at <= now) {
            for key in self.keys(|e| matches!(e, Entry::Conn(_))) {
                self.close(key, CloseReason::Shutdown);
            }
        }
        if self.budget_recheck {
            self.shed_slow_readers();
        }
        let timeouts = self.timeouts();
        while let Some(due) = self.timers.pop_due(now) {
            let key = due.key as usize;
            let Some(Entry::Conn(conn)) = self.entries.get_mut(key) else {
                log::trace!("timer #{key}: stale entry (connection closed), dropped");
                self.timers.dropped_stale();
                continue;
            };
            if conn.serial != due.serial || conn.armed_at != due.at {
                log::trace!("timer #{key}: stale entry (superseded), dropped");
                self.timers.dropped_stale();
                continue;
            }
            conn.armed_at = NOT_ARMED;
            if conn.session.is_held() {
                conn.session.end_hold();
                conn.last_active = now;
                log::trace!("timer #{key}: hold ended");
                self.release(key);
                continue;
            }
            match conn.deadline(timeouts) {
                // Idle, send timeout, or the end of a linger (its reason).
                Some((at, reason)) if at <= now => {
                    log::trace!("timer #{key}: expired ({})", reason.name());
                    self.close(key, reason);
                }
                // Active since this entry was armed: re-arm at the real deadline.
                Some((at, _)) => {
                    log::trace!("timer #{key}: active since armed, re-armed for {at} ms");
                    self.arm_deadline(key);
                }
                None => {}
            }
        }
        let entries = &self.entries;
        self.timers.compact(|d| {
            matches!(entries.get(d.key as usize),
                Some(Entry::Conn(c)) if c.serial == d.serial && c.armed_at == d.at)
        });
    }

    /// Arms the end of a hold the session asked for, at `at`: no reading or
    /// writing until then. Its armed deadline becomes `at` (the idle timeout
    /// waits: a penalty is not idleness).
    pub(super) fn hold(&mut self, key: usize, at: u64) {
        let Some(Entry::Conn(conn)) = self.entries.get_mut(key) else {
            return;
        };
        arm_at(&mut self.timers, key, conn, at);
        log::trace!("hold #{key}: until {at} ms");
    }

    /// A hold ended: the idle timer again, the held reply flushed (which
    /// finishes a close that waited for it), and held input answered.
    fn release(&mut self, key: usize) {
        self.arm_deadline(key);
        self.write_ready(key);
        if let Some(Entry::Conn(conn)) = self.entries.get(key)
            && conn.phase() == Phase::Open
        {
            // Input that arrived meanwhile raised its edge long ago.
            self.requeue(key);
        }
    }

    /// Makes sure the connection's deadline is armed no later than it is due
    /// (a held connection's is the end of its hold, already armed).
    pub(super) fn arm_deadline(&mut self, key: usize) {
        let timeouts = self.timeouts();
        let Some(Entry::Conn(conn)) = self.entries.get_mut(key) else {
            return;
        };
        if conn.session.is_held() {
            return;
        }
        let Some((at, _)) = conn.deadline(timeouts) else {
            return;
        };
        if conn.armed_at <= at {
            // Already armed at or before it: the lazy re-arm handles the rest.
            return;
        }
        arm_at(&mut self.timers, key, conn, at);
    }

    /// The connection timeouts, in loop milliseconds.
    pub(super) fn timeouts(&self) -> Timeouts {
        let ms = |d: Option<std::time::Duration>| d.map(|d| d.as_millis() as u64);
        Timeouts {
            idle_ms: ms(self.config.idle_timeout),
            send_ms: ms(self.config.send_timeout),
            linger_ms: LINGER_MS,
        }
    }
}

/// Arms `conn`'s deadline at `at`. The entry armed before (if any) stays in
/// the heap, stale: it is told apart by `armed_at` when it comes due, and
/// `forget_one` counts it for `Timers::compact`.
fn arm_at(heap: &mut timers::Timers, key: usize, conn: &mut Conn, at: u64) {
    if conn.armed_at != NOT_ARMED {
        heap.forget_one();
    }
    conn.armed_at = at;
    heap.arm(timers::Due {
        at,
        key: key as u32,
        serial: conn.serial,
    });
}
