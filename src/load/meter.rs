//! The generator's measurements: the [`Recorder`] the handlers tell what
//! happened, the measured window (its length, the CPU it took and how long
//! it waited for one), the
//! one-second tick that ends an interval, the live line it shows and the
//! `--hdr-log` file it writes.
//!
//! The engine says when the window opens and closes and what the run's
//! phase is called on the live line ([`Stage`] and since when); the meter
//! keeps the tick grid and everything measured.

use super::clock::ns;
use super::hdr_log::HdrLog;
use super::live::{LiveTo, Progress, Stage};
use super::measurements::Measurements;
use super::series::Plan;
use super::stats::Recorder;
use std::time::Duration;

/// The live line and HdrHistogram interval period.
pub const TICK: Duration = Duration::from_secs(1);

/// What the run measured so far, and when it is shown.
#[derive(Debug)]
pub struct Meter {
    /// The counts; the handlers record into it.
    pub rec: Recorder,
    /// The `--hdr-log` file.
    hdr: Option<HdrLog>,
    /// Where the live line goes.
    live: LiveTo,
    /// The window is open (once opened, it closes once; a capacity search
    /// opens one per step).
    window_open: bool,
    /// Windows opened so far.
    windows: u32,
    /// When the window opened (ns).
    window_start: u64,
    /// The process's CPU seconds when the window opened.
    cpu_at_start: f64,
    /// The loop's run-queue wait (s) when the window opened.
    run_queue_at_start: Option<f64>,
    /// When the current interval began (ns).
    last_tick: u64,
    /// When it ends.
    next_tick: u64,
}

impl Meter {
    /// A meter whose first interval ends one [`TICK`] after the start.
    pub fn new(hdr: Option<HdrLog>, live: LiveTo) -> Meter {
        Meter {
            rec: Recorder::default(),
            hdr,
            live,
            window_open: false,
            windows: 0,
            window_start: 0,
            cpu_at_start: 0.0,
            run_queue_at_start: None,
            last_tick: 0,
            next_tick: ns(TICK),
        }
    }

    /// When the current interval ends (a deadline of the loop).
    pub fn next_tick(&self) -> u64 {
        self.next_tick
    }

    /// When the window opened (ns since the run started).
    pub fn window_start(&self) -> u64 {
        self.window_start
    }

    /// The tick, if due at `now`: ends the interval, shows it labelled
    /// `stage` at its seconds `since`, and sets the next one.
    pub fn tick(&mut self, now: u64, stage: Stage, since: u64) {
        if now < self.next_tick {
            return;
        }
        self.end_interval(now, stage, since).show(self.live);
        self.rec.end_second(now);
        // On a fixed grid from the window's start (no drift), unless the loop
        // fell a whole tick behind: then a full tick from now, not a tick a
        // few microseconds long whose rates would be nonsense.
        self.next_tick += ns(TICK);
        if self.next_tick <= now {
            self.next_tick = now + ns(TICK);
        }
    }

    /// The ramp-up is over at `now`: the window opens, its CPU is measured
    /// from here, and the ticks (and HdrHistogram intervals) restart on its
    /// grid.
    pub fn open_window(&mut self, now: u64, plan: Plan) {
        // A capacity search's later step: its first interval starts here.
        if self.windows > 0 {
            self.fold_interval(now);
        } else {
            self.rec.begin_window(now as f64 / 1e9);
        }
        self.windows += 1;
        self.window_start = now;
        self.window_open = true;
        self.cpu_at_start = cpu_seconds();
        self.run_queue_at_start = run_queue_seconds();
        self.rec.open_series(now, plan, self.live == LiveTo::Parent);
        self.last_tick = now;
        self.next_tick = now + ns(TICK);
    }

    /// The window closes at `now` (once): its length, the CPU it took and
    /// the time the loop waited for a CPU.
    pub fn close_window(&mut self, now: u64) {
        if !self.window_open {
            return;
        }
        self.window_open = false;
        self.rec.close_series(now);
        let secs = (now - self.window_start) as f64 / 1e9;
        let cpu = (cpu_seconds() - self.cpu_at_start).max(0.0);
        let waited = match (self.run_queue_at_start, run_queue_seconds()) {
            (Some(start), Some(end)) => Some((end - start).max(0.0)),
            _ => None,
        };
        self.rec.end_window(secs, cpu, waited);
    }

    /// Ends the current interval early, at a phase change, and shows it
    /// labelled as the phase it measured. (An interval that just ended on
    /// its tick leaves nothing to show.)
    pub fn cut_interval(&mut self, now: u64, stage: Stage, since: u64) {
        if now > self.last_tick {
            self.end_interval(now, stage, since).show(self.live);
        }
    }

    /// Closes the books at `now`: the last, partial interval goes to the log
    /// but not to the screen (its rates over a few milliseconds would only
    /// mislead).
    pub fn finish(mut self, now: u64, stage: Stage, since: u64) -> Measurements {
        if now > self.last_tick {
            self.end_interval(now, stage, since);
        }
        self.rec.end_second(now);
        if let Some(log) = self.hdr.as_mut() {
            log.finish();
        }
        self.rec.into_measurements()
    }

    /// Ends the current interval at `now` without showing it (a search's
    /// step boundary, after its drain): logged and counted.
    fn fold_interval(&mut self, now: u64) {
        if now > self.last_tick {
            self.end_interval(now, super::live::Stage::Drain, self.window_start);
        }
    }

    /// Ends the current interval at `now`: logs it (except during ramp-up,
    /// which sends no requests), folds it into the total, and returns what
    /// it measured, labelled `stage` at its seconds `since`.
    fn end_interval(&mut self, now: u64, stage: Stage, since: u64) -> Progress {
        let secs = (now - self.last_tick) as f64 / 1e9;
        let at_secs = now.saturating_sub(since) as f64 / 1e9;
        let (start, length) = (self.last_tick, now - self.last_tick);
        let hdr = match stage {
            Stage::Ramp => None,
            Stage::Window | Stage::Drain => self.hdr.as_mut(),
        };
        let progress = self.rec.tick(stage, at_secs, secs, |h| {
            if let Some(log) = hdr {
                log.interval(h, Duration::from_nanos(start), Duration::from_nanos(length));
            }
        });
        self.last_tick = now;
        progress
    }
}

/// The process's CPU time so far (user + system), in seconds.
pub fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we pass and nothing else.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: see above; RUSAGE_SELF is always valid.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return 0.0;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// How long this thread (the loop) has been ready to run but waiting for a
/// CPU, in seconds: the second field of `/proc/thread-self/schedstat`
/// (run_delay, ns). A busy process on the generator's core shows here even
/// when the generator's own CPU use is low. `None` where the kernel does
/// not keep it (no CONFIG_SCHED_INFO) or the file cannot be read.
pub fn run_queue_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let waited_ns: u64 = text.split_whitespace().nth(1)?.parse().ok()?;
    Some(waited_ns as f64 / 1e9)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    #[test]
    fn ticks_keep_their_grid_and_restart_after_a_stall() {
        let mut m = Meter::new(None, LiveTo::Stderr);
        m.tick(SEC / 2, Stage::Ramp, 0);
        assert_eq!(m.next_tick(), SEC, "not due yet");
        m.tick(SEC + 3, Stage::Ramp, 0);
        assert_eq!(m.next_tick(), 2 * SEC, "late by 3 ns: the grid holds");
        m.tick(5 * SEC + SEC / 2, Stage::Ramp, 0);
        assert_eq!(
            m.next_tick(),
            6 * SEC + SEC / 2,
            "a stall: one tick from now"
        );
    }

    #[test]
    fn the_window_restarts_the_grid_and_closes_once() {
        let mut m = Meter::new(None, LiveTo::Stderr);
        m.open_window(SEC / 4, Plan::Closed);
        assert_eq!((m.window_start(), m.next_tick()), (SEC / 4, SEC + SEC / 4));
        m.rec.reply(1_000);
        m.close_window(SEC / 4 + 2 * SEC);
        m.close_window(9 * SEC);
        let measured = m.finish(9 * SEC, Stage::Drain, SEC);
        assert_eq!(measured.window_secs, 2.0, "the first close counts");
        assert_eq!(measured.ramp_secs, 0.25);
        assert_eq!((measured.completed, measured.completed_in_window), (1, 1));
        assert_eq!(measured.latency.len(), 1, "the last interval is folded in");
    }

    #[test]
    fn the_run_queue_wait_is_read_where_linux_keeps_it() {
        // This kernel keeps schedstat (the report says null elsewhere).
        if std::path::Path::new("/proc/thread-self/schedstat").exists() {
            let waited = run_queue_seconds().expect("schedstat parses");
            assert!(waited >= 0.0);
        }
    }
}
