//! The pacing timers: the due times of the connections' next requests, and
//! the timerfd that wakes the loop for the earliest. Which times are due is
//! the schedule's (`schedule.rs`); this file only wakes the loop on time.
//!
//! `epoll_wait`'s timeout has millisecond granularity (mio rounds it up), so
//! a loop woken only by it sends up to 1 ms late, and in open loop that
//! lateness lands in every latency (counted from the intended time): a
//! 30 us round trip would read as ~600 us. So the pacer arms a timerfd
//! (nanosecond resolution, CLOCK_MONOTONIC like `Instant`) for the earliest
//! due time, registered in the loop like any socket, and lowers this
//! thread's timer slack from the default 50 us. The timerfd is set to the
//! absolute due time (`TFD_TIMER_ABSTIME`), so arming it needs no clock read
//! and a due time already past fires at once. If the timerfd cannot be
//! created, the loop falls back to the poll timeout.

use super::clock::Clock;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, ErrorKind};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Marks "timerfd not armed".
const DISARMED: u64 = u64::MAX;

/// Timer slack asked for while pacing (ns): the kernel may defer a wakeup by
/// this much to batch timers; the default is 50 us.
const TIMER_SLACK_NS: libc::c_ulong = 1_000;

/// The due times of the connections' next requests, earliest first.
#[derive(Debug, Default)]
pub struct Pacer {
    heap: BinaryHeap<Reverse<(u64, usize)>>,
    timer: Option<OwnedFd>,
    /// The due time the timerfd is set for (ns since the run started).
    armed: u64,
}

impl Pacer {
    /// A pacer with a timerfd registered as `token` (open loop), or a plain
    /// heap woken by the poll timeout (closed loop, or no timerfd).
    pub fn new(precise: bool, registry: &Registry, token: Token) -> Pacer {
        let timer = if precise {
            match create_timerfd(registry, token) {
                Ok(fd) => Some(fd),
                Err(e) => {
                    log::warn!("timerfd unavailable ({e}); open-loop sends may be up to 1 ms late");
                    None
                }
            }
        } else {
            None
        };
        Pacer {
            heap: BinaryHeap::new(),
            timer,
            armed: DISARMED,
        }
    }

    /// Whether the timerfd wakes the loop (so the poll timeout need not).
    pub fn precise(&self) -> bool {
        self.timer.is_some()
    }

    /// Connection `key` wants to send at `at`.
    pub fn push(&mut self, at: u64, key: usize) {
        self.heap.push(Reverse((at, key)));
    }

    /// The earliest due time.
    pub fn next_at(&self) -> Option<u64> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Removes and returns a connection due at `now`.
    pub fn pop_due(&mut self, now: u64) -> Option<usize> {
        match self.heap.peek() {
            Some(Reverse((at, _))) if *at <= now => self.heap.pop().map(|Reverse((_, k))| k),
            _ => None,
        }
    }

    /// Drops every due time (the window ended).
    pub fn clear(&mut self) {
        self.heap.clear();
    }

    /// Before `poll`: sets the timerfd to the earliest due time if it is
    /// not set for it already (one syscall only when that time changes).
    pub fn arm(&mut self, clock: &Clock) {
        let Some(fd) = &self.timer else {
            return;
        };
        let target = self.next_at().unwrap_or(DISARMED);
        if target == self.armed {
            return;
        }
        // it_value 0 disarms; an absolute CLOCK_MONOTONIC time is never 0
        // (the clock counts from boot).
        let at = if target == DISARMED {
            0
        } else {
            clock.monotonic(target)
        };
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: (at / 1_000_000_000) as libc::time_t,
                tv_nsec: (at % 1_000_000_000) as libc::c_long,
            },
        };
        // SAFETY: `spec` is a valid itimerspec that outlives the call; the
        // old-value pointer may be null; the descriptor is ours.
        let rc = unsafe {
            libc::timerfd_settime(
                fd.as_raw_fd(),
                libc::TFD_TIMER_ABSTIME,
                &spec,
                std::ptr::null_mut(),
            )
        };
        if rc == 0 {
            self.armed = target;
        } else {
            log::warn!("timerfd_settime: {}", io::Error::last_os_error());
        }
    }

    /// The timerfd fired: read its expiration count until `WouldBlock`, so
    /// the next expiration raises a new edge.
    pub fn on_timer(&mut self) {
        let Some(fd) = &self.timer else {
            return;
        };
        self.armed = DISARMED;
        let mut count = [0u8; 8];
        loop {
            // SAFETY: reads at most 8 bytes into `count`; the fd is ours.
            let n = unsafe { libc::read(fd.as_raw_fd(), count.as_mut_ptr().cast(), 8) };
            if n >= 0 {
                continue;
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                ErrorKind::Interrupted => continue,
                // Drained (WouldBlock), or an error there is no recovering
                // from in a read of a counter: stop either way.
                _ => break,
            }
        }
    }
}

/// A non-blocking CLOCK_MONOTONIC timerfd registered READABLE as `token`.
fn create_timerfd(registry: &Registry, token: Token) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; a negative result is checked below.
    let raw = unsafe {
        libc::timerfd_create(
            libc::CLOCK_MONOTONIC,
            libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    registry.register(&mut SourceFd(&fd.as_raw_fd()), token, Interest::READABLE)?;
    // SAFETY: prctl with PR_SET_TIMERSLACK takes a plain integer argument.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, TIMER_SLACK_NS) };
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_times_come_out_in_order_only_when_due() {
        let poll = mio::Poll::new().unwrap();
        let mut p = Pacer::new(true, poll.registry(), Token(1));
        p.push(30, 1);
        p.push(10, 2);
        assert_eq!(p.next_at(), Some(10));
        assert_eq!(p.pop_due(5), None);
        assert_eq!(p.pop_due(10), Some(2));
        assert_eq!(p.pop_due(100), Some(1));
        assert_eq!(p.pop_due(100), None);
    }

    #[test]
    fn the_timerfd_wakes_the_poll() {
        let mut poll = mio::Poll::new().unwrap();
        let mut p = Pacer::new(true, poll.registry(), Token(1));
        assert!(p.precise());
        let clock = Clock::start();
        p.push(2_000_000, 0);
        p.arm(&clock);
        let mut events = mio::Events::with_capacity(4);
        // Bounded: the timer is due in 2 ms; 10 s means it never fired.
        poll.poll(&mut events, Some(std::time::Duration::from_secs(10)))
            .unwrap();
        assert!(events.iter().any(|e| e.token() == Token(1)));
        p.on_timer();
        assert_eq!(p.armed, DISARMED);
    }
}
