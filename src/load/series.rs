//! The report's time series and per-stage tallies, as the [`Recorder`](super::stats::Recorder)
//! (`stats.rs`) keeps them: one [`Second`] per second of the measured
//! window and the drain, and one [`StageTally`] per `--stages` stage.
//!
//! # Seconds
//! A sample is one tick of the live line's grid (`meter.rs`): one second
//! from the window's start, the last one (and, in a capacity search, the
//! one cut by the next step's start) shorter. Ramp-up is not in the series
//! (the report's `connections` sums it up). Counts are of what happened in
//! the second: requests sent, replies completed (and their latencies),
//! errors by cause, connects and closes; `conns_open` is the count at its
//! end. Its latency percentiles follow the report's sample rule
//! (`percentiles.rs`: p99 from 100 replies, else null).
//!
//! With `--workers`, a worker keeps each second's latency histogram too, at
//! [`MERGE_FIGURES`] significant figures (V2 + DEFLATE, hex: about 1.4 KB
//! for a busy second), so the parent merges the n-th second of every worker's window:
//! counts add, the histograms add, and the percentiles are taken from the
//! sum (within 1%); the max is the largest worker's, exact. One process
//! keeps only the numbers.
//!
//! # Bounds
//! At most [`MAX_SAMPLES`] seconds (a day); later seconds are counted in
//! `series_dropped`, not kept. At most [`MAX_CAUSES`] error causes per
//! second; the rest are counted under [`OTHER_CAUSE`].
//!
//! # Stages
//! A reply counts toward the stage its request was intended in (so a
//! stage's latency is that of the rate it asked for, even if the reply came
//! after the stage ended); requests sent and errors toward the stage of the
//! moment (the last stage during the drain).

use super::measurements::{HISTOGRAM_MAX_NS, histogram_hex, new_histogram};
use super::percentiles::min_samples;
use super::stages::Profile;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::rc::Rc;

/// Most samples kept: one a second for a day (each ~200 bytes, with
/// `--workers` plus its histogram).
pub const MAX_SAMPLES: usize = 86_400;

/// Most error causes kept per second; more are counted as [`OTHER_CAUSE`].
pub const MAX_CAUSES: usize = 16;

/// Significant figures of the per-second histograms workers hand over:
/// two (within 1%), enough for a plot's p50 and p99 at under a quarter of
/// the size of three. A day of them ([`MAX_SAMPLES`]) is about 120 MB of
/// JSON per worker, handed over once at the end.
pub const MERGE_FIGURES: u8 = 2;

/// The cause the causes past [`MAX_CAUSES`] in one second are counted as.
pub const OTHER_CAUSE: &str = "other causes";

/// One second of the run (JSON `series[]`, with the same keys but
/// `latency`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Second {
    /// Its index, 0 at the window's start.
    pub second: u64,
    /// The wall-clock unix second it started in (to line up hosts).
    pub unix: u64,
    /// The stage (or search step) it started in; `None` outside the window.
    pub stage: Option<u32>,
    /// The total request rate the schedule asked for over it; `None` in
    /// closed loop and outside the window.
    pub target_rate: Option<f64>,
    /// Requests sent.
    pub sent: u64,
    /// Replies completed.
    pub completed: u64,
    /// Errors, and by cause.
    pub errors: u64,
    /// Errors by cause.
    pub errors_by_cause: BTreeMap<String, u64>,
    /// Reply latency percentiles and max, us.
    pub p50_us: Option<f64>,
    /// p90 (us).
    pub p90_us: Option<f64>,
    /// p99 (us).
    pub p99_us: Option<f64>,
    /// Max (us).
    pub max_us: Option<f64>,
    /// Connections up at its end.
    pub conns_open: u64,
    /// Connections that came up in it.
    pub connects: u64,
    /// Connections that ended in it.
    pub closes: u64,
    /// With `--workers`: its latencies (hex), for the parent's merge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<String>,
}

impl Second {
    /// Counts `n` errors of `reason`, within [`MAX_CAUSES`].
    fn error(&mut self, reason: &str, n: u64) {
        self.errors += n;
        let key = if self.errors_by_cause.len() < MAX_CAUSES
            || self.errors_by_cause.contains_key(reason)
        {
            reason
        } else {
            OTHER_CAUSE
        };
        *self.errors_by_cause.entry(key.to_owned()).or_insert(0) += n;
    }

    /// Its percentiles, from its latency histogram `h`.
    fn summarize(&mut self, h: &Histogram<u64>) {
        // Whole nanoseconds, as microseconds.
        let us = |ns: u64| ns as f64 / 1000.0;
        let n = h.len();
        let at = |q: f64| (n >= min_samples(q)).then(|| us(h.value_at_quantile(q)));
        self.p50_us = at(0.5);
        self.p90_us = at(0.9);
        self.p99_us = at(0.99);
        self.max_us = (n > 0).then(|| us(h.max()));
    }

    /// Adds another generator's same second.
    pub fn merge(&mut self, other: &Second) {
        self.unix = self.unix.min(other.unix);
        self.stage = self.stage.or(other.stage);
        self.target_rate = match (self.target_rate, other.target_rate) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        self.sent += other.sent;
        self.completed += other.completed;
        for (cause, n) in &other.errors_by_cause {
            self.error(cause, *n);
        }
        self.conns_open += other.conns_open;
        self.connects += other.connects;
        self.closes += other.closes;
        // The exact max of each; the percentiles from the merged histograms.
        let max = match (self.max_us, other.max_us) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let decode = |hex: &Option<String>| hex.as_deref().and_then(histogram_hex::decode);
        match (decode(&self.latency), decode(&other.latency)) {
            (Some(mut a), Some(b)) => {
                // Both grow on demand (`new_histogram`), so adding only grows the total:
                // it fails only if the counts' length would overflow a usize.
                let _ = a.add(&b);
                self.summarize(&a);
                self.latency = histogram_hex::encode(&a);
            }
            (None, Some(b)) => {
                self.summarize(&b);
                self.latency.clone_from(&other.latency);
            }
            // Neither kept histograms (not workers): the percentiles
            // cannot be merged.
            (_, None) => {}
        }
        self.max_us = max;
    }
}

/// One `--stages` stage's counts (JSON `stages[]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageTally {
    /// Requests sent during it.
    pub sent: u64,
    /// Replies to requests intended in it.
    pub completed: u64,
    /// Errors during it.
    pub errors: u64,
    /// Latencies of the replies to requests intended in it (ns).
    #[serde(with = "histogram_hex")]
    pub latency: Histogram<u64>,
    /// Of those, values above the histogram's range (recorded as its top).
    #[serde(default)]
    pub clamped: u64,
}

impl Default for StageTally {
    fn default() -> StageTally {
        StageTally {
            sent: 0,
            completed: 0,
            errors: 0,
            latency: new_histogram(),
            clamped: 0,
        }
    }
}

impl StageTally {
    /// Adds another generator's same stage.
    pub fn merge(&mut self, other: &StageTally) {
        self.sent += other.sent;
        self.completed += other.completed;
        self.errors += other.errors;
        self.clamped += other.clamped;
        let _ = self.latency.add(&other.latency);
    }
}

/// What the current window asks for, to label its seconds.
#[derive(Debug, Clone)]
pub enum Plan {
    /// Closed loop: no target rate, no stage.
    Closed,
    /// `--rate`: this total rate, no stage.
    Even(f64),
    /// `--stages`.
    Stages {
        /// The profile.
        profile: Rc<Profile>,
        /// Whether it is a rate (`false`: open connections, `--idle`).
        rate: bool,
    },
    /// A capacity search's step.
    Step {
        /// Which step.
        index: u32,
        /// Its total rate.
        rate: f64,
    },
}

/// The seconds so far and the one being counted.
#[derive(Debug)]
pub struct SeriesRec {
    /// Finished seconds.
    pub samples: Vec<Second>,
    /// Seconds past [`MAX_SAMPLES`], not kept.
    pub dropped: u64,
    /// The current second's counts (its latencies arrive by interval).
    pub cur: Second,
    /// The current second's latencies, from the intervals that ended in it.
    hist: Histogram<u64>,
    /// Keep each second's histogram (a worker).
    pub keep_histograms: bool,
    /// Whether the window has opened (the series starts there).
    started: bool,
    /// When the current second started (ns), and the window (ns).
    since: u64,
    window_start: u64,
    /// When the window ends (ns); `None` while open.
    window_end: Option<u64>,
    /// The unix time at the window's start (s).
    unix_at_window: f64,
    plan: Plan,
    /// `--stages`: where each stage ends (ns since the run started).
    pub stage_ends: Vec<u64>,
}

impl Default for SeriesRec {
    fn default() -> SeriesRec {
        SeriesRec {
            samples: Vec::new(),
            dropped: 0,
            cur: Second::default(),
            hist: new_histogram(),
            keep_histograms: false,
            started: false,
            since: 0,
            window_start: 0,
            window_end: None,
            unix_at_window: 0.0,
            plan: Plan::Closed,
            stage_ends: Vec::new(),
        }
    }
}

impl SeriesRec {
    /// A window opens at `now` (ns), paced by `plan`: the first (a later
    /// search step's: the current second is cut here, and the next one
    /// starts).
    pub fn open(&mut self, now: u64, plan: Plan) {
        if self.started {
            self.flush(now);
        } else {
            // What the ramp-up counted is not the series' (the report's
            // `connections` has it).
            self.cur = Second::default();
            self.window_start = now;
            self.unix_at_window = unix_now();
        }
        self.started = true;
        self.since = now;
        self.window_end = None;
        if let Plan::Stages { profile, .. } = &plan {
            self.stage_ends = (0..)
                .map_while(|i| profile.stage_span(i))
                .map(|(start, len)| now + start + len)
                .collect();
        }
        self.plan = plan;
    }

    /// The window closed at `now`.
    pub fn close(&mut self, now: u64) {
        self.window_end = Some(now);
    }

    /// Latencies of an interval that ended in the current second.
    pub fn interval(&mut self, h: &Histogram<u64>) {
        if self.started {
            let _ = self.hist.add(h);
        }
    }

    /// An error of `reason`, `n` times.
    pub fn error(&mut self, reason: &str, n: u64) {
        if self.started {
            self.cur.error(reason, n);
        }
    }

    /// The stage of the moment `at` (ns): the last one after the end.
    pub fn stage_at(&self, at: u64) -> Option<usize> {
        if self.stage_ends.is_empty() || at < self.window_start {
            return None;
        }
        let i = self.stage_ends.partition_point(|&end| end <= at);
        Some(i.min(self.stage_ends.len() - 1))
    }

    /// Ends the current second at `now` with `conns_open` connections up.
    pub fn flush(&mut self, now: u64) {
        if !self.started || now <= self.since {
            return;
        }
        let mut s = std::mem::take(&mut self.cur);
        let start = self.since;
        s.second = self.samples.len() as u64 + self.dropped;
        let offset = start.saturating_sub(self.window_start) as f64 / 1e9;
        s.unix = (self.unix_at_window + offset).floor() as u64;
        let in_window = self.window_end.is_none_or(|end| start < end);
        if in_window {
            (s.stage, s.target_rate) = self.label(start, now);
        }
        s.summarize(&self.hist);
        if self.keep_histograms && !self.hist.is_empty() {
            s.latency = coarse(&self.hist).and_then(|h| histogram_hex::encode(&h));
        }
        self.hist.reset();
        self.since = now;
        if self.samples.len() < MAX_SAMPLES {
            self.samples.push(s);
        } else {
            self.dropped += 1;
        }
    }

    /// The stage and target rate of the second from `start` to `end`.
    fn label(&self, start: u64, end: u64) -> (Option<u32>, Option<f64>) {
        let secs = (end - start) as f64 / 1e9;
        match &self.plan {
            Plan::Closed => (None, None),
            Plan::Even(rate) => (None, Some(*rate)),
            Plan::Step { index, rate } => (Some(*index), Some(*rate)),
            Plan::Stages { profile, rate } => {
                let stage = self.stage_at(start).map(|i| i as u32);
                let from = start.saturating_sub(self.window_start);
                let to = end.saturating_sub(self.window_start);
                let asked = profile.count_at(to) - profile.count_at(from);
                let target = (secs > 0.0).then(|| (asked / secs * 1000.0).round() / 1000.0);
                (stage, target.filter(|_| *rate))
            }
        }
    }
}

/// `h` at [`MERGE_FIGURES`] significant figures: what a worker hands over
/// for each second (1.3-1.4 KB of hex, against 6 KB at full precision:
/// measured on busy echo seconds of `-c 10 --depth 4`).
fn coarse(h: &Histogram<u64>) -> Option<Histogram<u64>> {
    let mut c = Histogram::new_with_bounds(1, HISTOGRAM_MAX_NS, MERGE_FIGURES).ok()?;
    c.add(h).ok()?;
    Some(c)
}

/// Seconds since the unix epoch, now (0 if the clock is before it).
fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests;
