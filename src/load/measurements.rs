//! What a run measured: [`Measurements`], plain data that merges and
//! serializes.
//!
//! Counters, error counts and three HdrHistograms. Runs of several generator
//! processes merge with [`Measurements::merge`] (histograms add exactly). It
//! serializes with serde (the histograms as hex of hdrhistogram's V2
//! encoding), so a worker process can hand its measurements to the parent
//! as JSON. The report made from it is [`super::report`].

use super::search::Search;
use super::series::{Second, StageTally};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Highest latency a histogram records, in nanoseconds (one hour); longer
/// values are recorded as this and counted ([`Clamped`]), never dropped.
pub const HISTOGRAM_MAX_NS: u64 = 3_600_000_000_000;

/// The histograms' precision: three significant figures, so a recorded
/// value is within 0.1% of the truth (hdrhistogram keeps 2,048 sub-buckets
/// per power of two: 8 us wide at 10 ms, 524 us at 1 s). The report states
/// it.
pub const SIGNIFICANT_FIGURES: u8 = 3;

/// A latency histogram in nanoseconds, empty and small: 16 KiB, the
/// counts of one power of two at [`SIGNIFICANT_FIGURES`].
///
/// It grows as values need it ([`record`], `add`), each power of two 8 KiB
/// more, up to [`HISTOGRAM_MAX_NS`]: 264 KiB, which is what every histogram
/// cost from the start when it was made with those bounds, and each of the
/// generator's four (`Measurements`' three and the one-second interval) was
/// written in full at its creation (issue 15: 1.1 MB of an idle worker's
/// 1.8 MB of anonymous memory). Now one holding loopback latencies (up to
/// 1 ms) takes 88 KiB, one holding connects that waited for a 1 s SYN
/// retransmit 168 KiB.
pub fn new_histogram() -> Histogram<u64> {
    let mut h = Histogram::new(SIGNIFICANT_FIGURES).expect("valid constant histogram precision");
    h.auto(true);
    h
}

/// Records `ns` into `h` (at least 1 ns: the lowest value); a value above
/// [`HISTOGRAM_MAX_NS`] is recorded as that and counted in `clamped`.
pub fn record(h: &mut Histogram<u64>, ns: u64, clamped: &mut u64) {
    if ns > HISTOGRAM_MAX_NS {
        *clamped += 1;
    }
    // Not `saturating_record`: that clamps to the histogram's current top
    // instead of growing it. Growing fails only if the counts' length
    // overflows a usize, impossible below HISTOGRAM_MAX_NS; were it to,
    // the value is clamped to the current top rather than lost.
    let ns = ns.clamp(1, HISTOGRAM_MAX_NS);
    if h.record(ns).is_err() {
        h.saturating_record(ns);
    }
}

/// Values above [`HISTOGRAM_MAX_NS`], recorded as it, per histogram.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clamped {
    /// Request latencies.
    pub latency: u64,
    /// Connect latencies.
    pub connect: u64,
    /// Schedule lags.
    pub schedule_lag: u64,
}

/// Open loop: scheduled requests never sent, by what held each back
/// (`Engine::count_unsent`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unsent {
    /// Its connection had every `--depth` slot waiting for a reply.
    pub depth: u64,
    /// Its connection had a free slot: the generator did not get to it.
    pub cpu: u64,
    /// Its connection was gone (closed or refused by the target, or closed
    /// after a wrong reply), or the target stopped taking its bytes.
    pub target: u64,
}

impl Unsent {
    /// All of them.
    pub fn total(&self) -> u64 {
        self.depth + self.cpu + self.target
    }
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Measurements {
    /// Request latencies (ns): from send time (closed loop) or intended send
    /// time (open loop) to the reply's last byte.
    #[serde(with = "histogram_hex")]
    pub latency: Histogram<u64>,
    /// Connect latencies (ns): from the `connect()` call to the connection
    /// being up.
    #[serde(with = "histogram_hex")]
    pub connect: Histogram<u64>,
    /// Open loop: how late each request went out after it could have (its
    /// intended time, or the reply that freed a `--depth` slot for it), in
    /// ns: the generator's own lateness (`Schedule::lag`).
    #[serde(with = "histogram_hex")]
    pub schedule_lag: Histogram<u64>,
    /// Values clamped to the histograms' range.
    pub clamped: Clamped,
    /// Open loop: the requests on the schedule, that is every connection's
    /// intended send times inside the window; 0 in closed loop.
    pub scheduled: u64,
    /// Open loop: those never sent, and why.
    pub unsent: Unsent,
    /// Connections that came up.
    pub opened: u64,
    /// Of those, inside the measured window (churn's connections per
    /// second).
    #[serde(default)]
    pub opened_in_window: u64,
    /// Connections the generator closed after `--requests-per-conn`
    /// verified replies (churn), each replaced by a new one.
    #[serde(default)]
    pub recycled: u64,
    /// Connections that never came up (refused, timed out, error).
    pub failed: u64,
    /// Connections the server closed or reset before the run ended.
    pub closed_by_server: u64,
    /// Requests written (TCP) or datagrams sent (UDP).
    pub sent: u64,
    /// Replies verified.
    pub completed: u64,
    /// Replies verified inside the measured window.
    pub completed_in_window: u64,
    /// Replies that failed verification, and requests left unanswered.
    pub verify_errors: u64,
    /// Bytes sent plus received inside the measured window (the report's
    /// `bytes_per_sec` counts both directions).
    pub bytes_both_ways_in_window: u64,
    /// UDP datagrams sent.
    pub udp_sent: u64,
    /// UDP replies received within the loss timeout of their datagram's
    /// send (their latencies are in `latency`).
    pub udp_received: u64,
    /// UDP replies received after it: counted here only, once.
    pub udp_late: u64,
    /// UDP datagrams never answered.
    pub udp_lost: u64,
    /// Replies the kernel dropped on the generator's own sockets (their
    /// receive queues were full): part of `udp_lost`, the generator's share.
    #[serde(default)]
    pub udp_kernel_drops: u64,
    /// Datagrams the target's kernel dropped during the run (its receive
    /// queue was full), from `/proc/net/udp`; `None` when the target is not
    /// on this host.
    #[serde(default)]
    pub udp_server_kernel_drops: Option<u64>,
    /// Failures and anomalies by reason.
    pub errors: BTreeMap<String, u64>,
    /// Length of the measured window (s).
    pub window_secs: f64,
    /// The generator's CPU time (user + system) during the window (s).
    /// Merged over workers: the busiest process's, since saturation is a
    /// per-core question.
    pub cpu_secs: f64,
    /// How long the generator was ready to run but waited for a CPU during
    /// the window (s; Linux schedstat), `None` where the kernel does not say.
    /// Merged over workers: the longest wait.
    pub run_queue_secs: Option<f64>,
    /// How long ramp-up (opening every connection) took (s).
    #[serde(default)]
    pub ramp_secs: f64,
    /// One sample per second of the window and the drain (`series.rs`).
    #[serde(default)]
    pub series: Vec<Second>,
    /// Seconds past the series' cap, not kept.
    #[serde(default)]
    pub series_dropped: u64,
    /// `--stages`: each stage's counts.
    #[serde(default)]
    pub stages: Vec<StageTally>,
    /// `--find-max-rate`: the search (one process only: never merged).
    #[serde(skip)]
    pub search: Option<Search>,
}

impl Default for Measurements {
    fn default() -> Self {
        Measurements {
            latency: new_histogram(),
            connect: new_histogram(),
            schedule_lag: new_histogram(),
            clamped: Clamped::default(),
            scheduled: 0,
            unsent: Unsent::default(),
            opened: 0,
            opened_in_window: 0,
            recycled: 0,
            failed: 0,
            closed_by_server: 0,
            sent: 0,
            completed: 0,
            completed_in_window: 0,
            verify_errors: 0,
            bytes_both_ways_in_window: 0,
            udp_sent: 0,
            udp_received: 0,
            udp_late: 0,
            udp_lost: 0,
            udp_kernel_drops: 0,
            udp_server_kernel_drops: None,
            errors: BTreeMap::new(),
            window_secs: 0.0,
            cpu_secs: 0.0,
            run_queue_secs: None,
            ramp_secs: 0.0,
            series: Vec::new(),
            series_dropped: 0,
            stages: Vec::new(),
            search: None,
        }
    }
}

impl Measurements {
    /// Counts one occurrence of `reason`.
    pub fn error(&mut self, reason: &str) {
        self.error_n(reason, 1);
    }

    /// Counts `n` occurrences of `reason`.
    pub fn error_n(&mut self, reason: &str, n: u64) {
        match self.errors.get_mut(reason) {
            Some(c) => *c += n,
            None => {
                self.errors.insert(reason.to_owned(), n);
            }
        }
    }

    /// Adds another generator's measurements of the same run (workers run
    /// their windows side by side: the window and the ramp-up are the
    /// longest, CPU is the busiest worker's, the server's drops are the
    /// one counter each worker read).
    pub fn merge(&mut self, other: &Measurements) {
        // Both grow on demand (`new_histogram`), so adding only grows the total:
        // it fails only if the counts' length would overflow a usize.
        let _ = self.latency.add(&other.latency);
        let _ = self.connect.add(&other.connect);
        let _ = self.schedule_lag.add(&other.schedule_lag);
        self.clamped.latency += other.clamped.latency;
        self.clamped.connect += other.clamped.connect;
        self.clamped.schedule_lag += other.clamped.schedule_lag;
        self.scheduled += other.scheduled;
        self.unsent.depth += other.unsent.depth;
        self.unsent.cpu += other.unsent.cpu;
        self.unsent.target += other.unsent.target;
        self.opened += other.opened;
        self.opened_in_window += other.opened_in_window;
        self.recycled += other.recycled;
        self.failed += other.failed;
        self.closed_by_server += other.closed_by_server;
        self.sent += other.sent;
        self.completed += other.completed;
        self.completed_in_window += other.completed_in_window;
        self.verify_errors += other.verify_errors;
        self.bytes_both_ways_in_window += other.bytes_both_ways_in_window;
        self.udp_sent += other.udp_sent;
        self.udp_received += other.udp_received;
        self.udp_late += other.udp_late;
        self.udp_lost += other.udp_lost;
        self.udp_kernel_drops += other.udp_kernel_drops;
        // Every worker reads the same server counter over the same run.
        self.udp_server_kernel_drops = self
            .udp_server_kernel_drops
            .max(other.udp_server_kernel_drops);
        for (reason, n) in &other.errors {
            self.error_n(reason, *n);
        }
        self.window_secs = self.window_secs.max(other.window_secs);
        self.cpu_secs = self.cpu_secs.max(other.cpu_secs);
        self.run_queue_secs = match (self.run_queue_secs, other.run_queue_secs) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.ramp_secs = self.ramp_secs.max(other.ramp_secs);
        // Workers' n-th seconds (and stages) side by side.
        merge_by_index(&mut self.series, &other.series, Second::merge);
        self.series_dropped = self.series_dropped.max(other.series_dropped);
        merge_by_index(&mut self.stages, &other.stages, StageTally::merge);
    }
}

/// Merges `b` into `a` item by item; `b`'s extra items are appended.
fn merge_by_index<T: Clone>(a: &mut Vec<T>, b: &[T], merge: fn(&mut T, &T)) {
    for (i, item) in b.iter().enumerate() {
        match a.get_mut(i) {
            Some(mine) => merge(mine, item),
            None => a.push(item.clone()),
        }
    }
}

pub(super) mod histogram_hex;

#[cfg(test)]
mod tests;
