//! The request schedule: ONE algorithm, for TCP connections and UDP sockets
//! alike, that says how many requests a connection may send now, with which
//! send times, and when to wake it for the next.
//!
//! - Closed loop: as many requests as the connection has free `--depth`
//!   slots, all stamped `now`.
//! - Open loop (`--rate`): each connection has a grid of intended send
//!   times, one every `interval`. Every request whose intended time has come
//!   (and lies inside the window) is due, up to the free slots; the rest
//!   stay owed and keep their intended times, and go out as slots free up.
//!   Latency counts from the intended time, not from when the loop got to
//!   it: the coordinated-omission correction, as in wrk2. A connection with
//!   a free slot and nothing due yet is woken at its next intended time (the
//!   pacing timer, `pacing.rs`); one whose slots are all busy is refilled by
//!   its next reply.
//!
//! What is due comes out as a [`Burst`]: a TCP connection writes it in one
//! write, a UDP socket sends it one datagram per request. Same times, same
//! counts. Only the measured window sends: the schedule opens at its start
//! ([`Schedule::open`]) and closes at its end ([`Schedule::close`]).

use super::clock::Clock;
use super::pacing::Pacer;
use mio::{Registry, Token};

/// Requests a connection may send now: `count` of them, request `i` stamped
/// [`Burst::at`]`(i)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Burst {
    /// How many.
    pub count: u32,
    /// The first one's send time (ns since the run started): its intended
    /// time in open loop, `now` in closed loop.
    pub first: u64,
    /// Between consecutive send times: the interval (open loop), or 0 (closed
    /// loop: all are sent now).
    pub step: u64,
}

impl Burst {
    /// `count` requests sent at `now` (closed loop, and `--idle`'s one).
    pub fn now(count: u32, now: u64) -> Burst {
        Burst {
            count,
            first: now,
            step: 0,
        }
    }

    /// The send time of request `i` of the burst; `at(count)` is the
    /// intended time of the request after it.
    pub fn at(&self, i: u32) -> u64 {
        self.first + u64::from(i) * self.step
    }
}

/// When each connection's requests are due.
#[derive(Debug)]
pub struct Schedule {
    /// Open loop: nanoseconds between a connection's requests.
    interval: Option<u64>,
    /// While the window sends: its end (ns). No intended time at or after it
    /// is sent (requests still owed then are not sent, as in wrk2).
    window_until: Option<u64>,
    /// The wake-ups of connections waiting for their next intended time.
    pacer: Pacer,
}

impl Schedule {
    /// Closed loop (`rate` None) or `rate` requests per second per
    /// connection; the pacing timer registered as `token`.
    pub fn new(rate: Option<f64>, registry: &Registry, token: Token) -> Schedule {
        Schedule {
            interval: rate.map(|r| ((1e9 / r) as u64).max(1)),
            window_until: None,
            pacer: Pacer::new(rate.is_some(), registry, token),
        }
    }

    /// The window starts: requests are due until `until`.
    pub fn open(&mut self, until: u64) {
        self.window_until = Some(until);
    }

    /// The window ended: nothing is due any more; wake-ups are dropped.
    pub fn close(&mut self) {
        self.window_until = None;
        self.pacer.clear();
    }

    /// The first intended time of connection `i` of `n`: open loop, spread
    /// evenly over one interval from `now`, so connections do not all fire
    /// at once; closed loop, `now`.
    pub fn first_intended(&self, now: u64, i: usize, n: usize) -> u64 {
        let Some(interval) = self.interval else {
            return now;
        };
        // Fits: interval <= 1e12 ns (RATE_RANGE), i < n <= conns.
        now + (u128::from(interval) * i as u128 / n.max(1) as u128) as u64
    }

    /// What a connection with `free` slots, whose next request is intended
    /// at `next`, may send at `now`.
    pub fn due(&self, next: u64, free: u32, now: u64) -> Burst {
        let Some(until) = self.window_until else {
            return Burst::now(0, now);
        };
        let Some(interval) = self.interval else {
            return Burst::now(free, now);
        };
        let count = if free > 0 && next <= now && next < until {
            // The intended times next, next + interval, ... up to now and
            // before the window's end.
            let owed = (now.min(until - 1) - next) / interval + 1;
            owed.min(u64::from(free)) as u32
        } else {
            0
        };
        Burst {
            count,
            first: next,
            step: interval,
        }
    }

    /// After a connection `key` sent what was due: open loop, if it still
    /// has `free` slots and its `next` intended time is inside the window,
    /// wakes it then (once: `armed` says a wake-up is already set).
    pub fn wake_later(&mut self, key: usize, next: u64, free: u32, armed: &mut bool) {
        let Some(until) = self.window_until else {
            return;
        };
        if self.interval.is_some() && free > 0 && next < until && !*armed {
            *armed = true;
            self.pacer.push(next, key);
        }
    }

    /// A connection whose wake-up is due at `now` (its armed flag must be
    /// cleared by the caller).
    pub fn pop_due(&mut self, now: u64) -> Option<usize> {
        self.pacer.pop_due(now)
    }

    /// The next wake-up, when only the poll timeout can wake the loop for it
    /// (no timerfd); `None` when the timerfd does, or none is set.
    pub fn poll_deadline(&self) -> Option<u64> {
        if self.pacer.precise() {
            None
        } else {
            self.pacer.next_at()
        }
    }

    /// Before `poll`: sets the timerfd to the earliest wake-up.
    pub fn arm_timer(&mut self, clock: &Clock) {
        self.pacer.arm(clock);
    }

    /// The timerfd fired (the wake-ups are taken in the next turn).
    pub fn on_timer(&mut self) {
        self.pacer.on_timer();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    /// A schedule at `rate` per second (None: closed loop), window open
    /// until `until`.
    fn schedule(rate: Option<f64>, until: u64) -> Schedule {
        let poll = mio::Poll::new().unwrap();
        let mut s = Schedule::new(rate, poll.registry(), Token(1));
        s.open(until);
        s
    }

    #[test]
    fn closed_loop_fills_every_free_slot_now() {
        let s = schedule(None, 100 * MS);
        assert_eq!(s.due(0, 16, 5 * MS), Burst::now(16, 5 * MS));
        assert_eq!(s.due(0, 0, 5 * MS).count, 0);
    }

    #[test]
    fn open_loop_sends_every_intended_time_that_has_come() {
        // 1000/s: one every ms.
        let s = schedule(Some(1000.0), 100 * MS);
        let b = s.due(10 * MS, 8, 13 * MS);
        assert_eq!((b.count, b.at(0), b.at(3)), (4, 10 * MS, 13 * MS));
        assert_eq!(s.due(10 * MS, 8, 9 * MS).count, 0, "not due yet");
        assert_eq!(s.due(10 * MS, 2, 13 * MS).count, 2, "capped by free slots");
    }

    #[test]
    fn open_loop_sends_nothing_intended_at_or_after_the_window_end() {
        let s = schedule(Some(1000.0), 12 * MS);
        let b = s.due(10 * MS, 8, 50 * MS);
        assert_eq!((b.count, b.at(b.count)), (2, 12 * MS));
        assert_eq!(s.due(12 * MS, 8, 50 * MS).count, 0);
    }

    #[test]
    fn nothing_is_due_outside_the_window() {
        let mut s = schedule(None, 100 * MS);
        s.close();
        assert_eq!(s.due(0, 16, 5 * MS).count, 0);
    }

    #[test]
    fn a_connection_is_woken_once_while_it_has_a_free_slot() {
        let mut s = schedule(Some(1000.0), 100 * MS);
        let mut armed = false;
        s.wake_later(7, 20 * MS, 0, &mut armed);
        assert!(!armed, "all slots busy: the next reply refills it");
        s.wake_later(7, 20 * MS, 1, &mut armed);
        s.wake_later(7, 21 * MS, 1, &mut armed);
        assert!(armed);
        assert_eq!(s.pop_due(19 * MS), None);
        assert_eq!(s.pop_due(25 * MS), Some(7));
        assert_eq!(s.pop_due(25 * MS), None, "armed once, woken once");
        let mut closed_loop = schedule(None, 100 * MS);
        let mut armed = false;
        closed_loop.wake_later(7, 20 * MS, 1, &mut armed);
        assert!(!armed, "closed loop: replies drive it, never a timer");
    }

    #[test]
    fn first_intended_times_are_spread_over_one_interval() {
        let s = schedule(Some(1000.0), 100 * MS);
        let firsts: Vec<u64> = (0..4).map(|i| s.first_intended(5 * MS, i, 4)).collect();
        assert_eq!(
            firsts,
            [
                5 * MS,
                5 * MS + MS / 4,
                5 * MS + MS / 2,
                5 * MS + 3 * MS / 4
            ]
        );
        assert_eq!(schedule(None, 1).first_intended(5, 3, 4), 5);
    }
}
