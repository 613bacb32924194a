//! The generator's clock: nanoseconds since the run started, on
//! CLOCK_MONOTONIC (the clock `Instant` reads on Linux).
//!
//! The loop reads it once per turn, when `poll` returns, and passes that
//! `now` to everything the turn does (see `engine.rs`). The one other read
//! is a connect's start stamp (`conn.rs`, `start_connect`), taken just
//! before the `connect()` call, so a connect's latency leaves out the
//! socket's creation and set-up.
//!
//! It reads CLOCK_MONOTONIC itself, not through `Instant`, so that a time of
//! the run converts to the absolute time a timerfd is set to
//! ([`Clock::monotonic`]): the pacing timer is armed for an intended send
//! time without reading the clock again, and cannot be made late by a
//! `now` that the turn's work has aged.

use std::time::Duration;

/// Nanoseconds of a duration, saturating: the unit of every time in the
/// generator.
pub fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The run's clock.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// CLOCK_MONOTONIC at the start of the run (ns).
    start: u64,
}

impl Clock {
    /// A clock whose zero is now.
    pub fn start() -> Clock {
        Clock {
            start: monotonic_ns(),
        }
    }

    /// Nanoseconds since the run started.
    pub fn now(&self) -> u64 {
        monotonic_ns().saturating_sub(self.start)
    }

    /// `at` (ns since the run started) as CLOCK_MONOTONIC nanoseconds.
    pub fn monotonic(&self, at: u64) -> u64 {
        self.start.saturating_add(at)
    }
}

/// CLOCK_MONOTONIC in nanoseconds (through the vDSO: no syscall).
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into `ts`, which outlives
    // the call. With a valid pointer and CLOCK_MONOTONIC (always present on
    // Linux) it cannot fail.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1_000_000_000).saturating_add(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_starts_at_zero_and_agrees_with_instant() {
        let before = std::time::Instant::now();
        let clock = Clock::start();
        let first = clock.now();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = clock.now();
        assert!(second >= first + 2_000_000, "{first} -> {second}");
        // Both are CLOCK_MONOTONIC: the clock cannot have run longer than an
        // Instant taken before it started.
        assert!(u128::from(second) <= before.elapsed().as_nanos());
        assert_eq!(clock.monotonic(5), clock.start + 5);
    }
}
