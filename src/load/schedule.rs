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
//! counts. The schedule opens at the window's start ([`Schedule::open`]).
//! At its end ([`Schedule::end_window`]) the closed loop stops; the open
//! loop stops *scheduling*, but requests owed then (intended inside the
//! window) are still sent during the first half of the drain, timed from
//! their intended times, so a window that ends while the target stalls does
//! not drop them. (The second half leaves the last of them time to be
//! answered: the drain's end counts what is unanswered as missing.)
//!
//! The schedule also keeps the books the report needs: how many requests
//! the window held ([`Schedule::scheduled`]), how many a connection still
//! owes ([`Schedule::owed`]), and how late the generator itself sent each
//! one ([`Schedule::lag`]).

use super::clock::Clock;
use super::pacing::Pacer;
use super::stages::Profile;
use mio::{Registry, Token};
use std::rc::Rc;

mod burst;

use burst::Grid;
pub use burst::{Burst, NEVER};

/// How the open loop is paced.
#[derive(Debug, Clone)]
enum Pace {
    /// Closed loop: replies drive it.
    Closed,
    /// `--rate`: every connection sends one request every `interval` ns.
    Even(u64),
    /// `--stages`, and each step of a capacity search: a total rate
    /// function of time, one request grid shared by the connections.
    Profile(Rc<Profile>),
}

/// The measured window, as the schedule counts it.
#[derive(Debug, Clone, Copy)]
struct Window {
    /// When it opened (ns): the connections' grids start here.
    start: u64,
    /// Its end (ns): no intended time at or after it is scheduled.
    until: u64,
    /// The connections whose grids it holds: those open at its start.
    conns: usize,
}

/// When each connection's requests are due.
#[derive(Debug)]
pub struct Schedule {
    /// Closed or open loop, and how the open loop is paced.
    pace: Pace,
    /// Since the window opened.
    window: Option<Window>,
    /// Requests may go out: from the window's start until [`Schedule::close`].
    sending: bool,
    /// Open loop, once the window has ended: when to stop sending what it
    /// owes (the middle of the drain). The loop closes the schedule then
    /// (`Engine::stop_sending`), after counting what is still owed.
    stop_at: Option<u64>,
    /// The wake-ups of connections waiting for their next intended time.
    pacer: Pacer,
}

/// How many times of the grid `from`, `from + interval`, ... lie before
/// `until`.
fn grid_count(from: u64, until: u64, interval: u64) -> u64 {
    if from < until {
        (until - 1 - from) / interval + 1
    } else {
        0
    }
}

impl Schedule {
    /// Closed loop (`rate` None), `rate` requests per second per
    /// connection, or (`profile`, which wins) a total rate function of
    /// time; the pacing timer registered as `token`.
    pub fn new(
        rate: Option<f64>,
        profile: Option<Profile>,
        registry: &Registry,
        token: Token,
    ) -> Schedule {
        let pace = match (profile, rate) {
            (Some(p), _) => Pace::Profile(Rc::new(p)),
            (None, Some(r)) => Pace::Even(((1e9 / r) as u64).max(1)),
            (None, None) => Pace::Closed,
        };
        Schedule {
            pacer: Pacer::new(!matches!(pace, Pace::Closed), registry, token),
            pace,
            window: None,
            sending: false,
            stop_at: None,
        }
    }

    /// Paces the next window by `profile` (a capacity search's next step);
    /// only between windows, on a schedule made for the open loop.
    pub fn set_profile(&mut self, profile: Profile) {
        if !matches!(self.pace, Pace::Closed) {
            self.pace = Pace::Profile(Rc::new(profile));
        }
    }

    /// The window opens at `start` for `conns` connections: requests are
    /// due until `until`.
    pub fn open(&mut self, start: u64, until: u64, conns: usize) {
        self.window = Some(Window {
            start,
            until,
            conns,
        });
        self.sending = true;
        self.stop_at = None;
    }

    /// The window ends at `now` (early, if a signal cut it short), and the
    /// drain lasts `drain` ns. Closed loop: nothing more is sent. Open loop:
    /// nothing more is scheduled, and what is owed is still sent until the
    /// drain's middle ([`Schedule::stop_due`]).
    pub fn end_window(&mut self, now: u64, drain: u64) {
        match (&mut self.window, &self.pace) {
            (Some(window), Pace::Even(_) | Pace::Profile(_)) => {
                window.until = window.until.min(now);
                self.stop_at = Some(now.saturating_add(drain / 2));
            }
            _ => self.close(),
        }
    }

    /// Whether requests may still go out.
    pub fn is_sending(&self) -> bool {
        self.sending
    }

    /// Open loop, after the window: the time to stop sending has come.
    pub fn stop_due(&self, now: u64) -> bool {
        self.stop_deadline().is_some_and(|at| now >= at)
    }

    /// When the loop must wake to stop sending (a deadline of the loop).
    pub fn stop_deadline(&self) -> Option<u64> {
        self.stop_at.filter(|_| self.sending)
    }

    /// Nothing is due any more; wake-ups are dropped.
    pub fn close(&mut self) {
        self.sending = false;
        self.pacer.clear();
    }

    /// The window's end, while requests may go out.
    fn sending_until(&self) -> Option<u64> {
        self.window.filter(|_| self.sending).map(|w| w.until)
    }

    /// Open loop: the requests the window held, every connection's intended
    /// times before its end; `None` in closed loop or before the window.
    pub fn scheduled(&self) -> Option<u64> {
        let window = self.window?;
        match &self.pace {
            Pace::Closed => None,
            Pace::Even(interval) => {
                let n = window.conns;
                let each = (0..n).map(|i| {
                    let first = self.first_intended(window.start, i, n);
                    grid_count(first, window.until, *interval)
                });
                Some(each.sum())
            }
            // Every grid request before the end (each belongs to one of
            // the window's connections).
            Pace::Profile(p) => Some(match window.until.checked_sub(window.start + 1) {
                Some(last) => p.requests_by(last),
                None => 0,
            }),
        }
    }

    /// Profile: the grid requests from `next` (a connection's next intended
    /// time) up to `by` (inclusive), one connection's share (every n-th).
    fn profile_count(&self, p: &Profile, window: Window, next: u64, by: u64) -> u64 {
        if next == NEVER || next > by || next < window.start {
            return 0;
        }
        let j = p.requests_by(next - window.start).saturating_sub(1);
        let last = p.requests_by(by - window.start);
        let n = window.conns.max(1) as u64;
        if last > j { (last - 1 - j) / n + 1 } else { 0 }
    }

    /// Open loop: the requests a connection whose next intended time is
    /// `next` still owes (intended before the window's end); 0 in closed
    /// loop.
    pub fn owed(&self, next: u64) -> u64 {
        let Some(window) = self.window else {
            return 0;
        };
        match &self.pace {
            Pace::Closed => 0,
            Pace::Even(interval) => grid_count(next, window.until, *interval),
            Pace::Profile(p) => match window.until.checked_sub(1) {
                Some(by) => self.profile_count(p, window, next, by),
                None => 0,
            },
        }
    }

    /// Open loop: how late request `i` of `burst`, sent at `now`, went out
    /// after it could have: after its intended time, or, when it was `held`
    /// because every `--depth` slot was busy until a reply in this turn
    /// freed one, after that reply (so 0: it goes out in the same turn). The
    /// generator's own lateness, apart from the target's. `None` in closed
    /// loop, where there is no schedule to be late for.
    pub fn lag(&self, burst: &Burst, i: u32, now: u64, held: bool) -> Option<u64> {
        if matches!(self.pace, Pace::Closed) {
            return None;
        }
        Some(if held {
            0
        } else {
            now.saturating_sub(burst.at(i))
        })
    }

    /// The first intended time of connection `i` of `n`: `--rate`, spread
    /// evenly over one interval from `now`, so connections do not all fire
    /// at once; a profile, its grid request `i` (the grid interleaves them
    /// already); closed loop, `now`.
    pub fn first_intended(&self, now: u64, i: usize, n: usize) -> u64 {
        match &self.pace {
            Pace::Closed => now,
            // Fits: interval <= 1e12 ns (RATE_RANGE), i < n <= conns.
            Pace::Even(interval) => {
                now + (u128::from(*interval) * i as u128 / n.max(1) as u128) as u64
            }
            Pace::Profile(p) => p.request_time(i as u64).map_or(NEVER, |t| now + t),
        }
    }

    /// What a connection with `free` slots, whose next request is intended
    /// at `next`, may send at `now`.
    pub fn due(&self, next: u64, free: u32, now: u64) -> Burst {
        let (Some(until), Some(window)) = (self.sending_until(), self.window) else {
            return Burst::now(0, now);
        };
        let open = free > 0 && next <= now && next < until;
        match &self.pace {
            Pace::Closed => Burst::now(free, now),
            Pace::Even(interval) => {
                let count = if open {
                    // The intended times next, next + interval, ... up to
                    // now and before the window's end.
                    let owed = (now.min(until - 1) - next) / interval + 1;
                    owed.min(u64::from(free)) as u32
                } else {
                    0
                };
                Burst {
                    count,
                    first: next,
                    grid: Grid::Step(*interval),
                }
            }
            Pace::Profile(p) => {
                let count = if open {
                    let owed = self.profile_count(p, window, next, now.min(until - 1));
                    owed.min(u64::from(free)) as u32
                } else {
                    0
                };
                let j = match next.checked_sub(window.start) {
                    Some(t) if next != NEVER => p.requests_by(t).saturating_sub(1),
                    _ => 0,
                };
                Burst {
                    count,
                    first: next,
                    grid: Grid::Profile {
                        profile: Rc::clone(p),
                        start: window.start,
                        j,
                        n: window.conns.max(1) as u64,
                    },
                }
            }
        }
    }

    /// After a connection `key` sent what was due: open loop, if it still
    /// has `free` slots and its `next` intended time is inside the window,
    /// wakes it then (once: `armed` says a wake-up is already set).
    pub fn wake_later(&mut self, key: usize, next: u64, free: u32, armed: &mut bool) {
        let Some(until) = self.sending_until() else {
            return;
        };
        if !matches!(self.pace, Pace::Closed) && free > 0 && next < until && !*armed {
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
mod tests;
