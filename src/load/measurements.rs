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

/// Histograms as hex strings of their V2 encoding (serde `with`; also used
/// by the workers' progress records, `live.rs`, every second).
///
/// Not V2 + DEFLATE: its compressor's tables cost a worker 120-180 kB of
/// heap and stack that stayed resident after the first second's progress
/// record (a worker's base grew from 436 kB to 620 kB, issue 15), to shrink
/// a line on a pipe. V2 alone already encodes runs of empty buckets as one
/// number. The reader takes either encoding.
pub(super) mod histogram_hex {
    use super::new_histogram;
    use hdrhistogram::Histogram;
    use hdrhistogram::serialization::{Deserializer, Serializer as _, V2Serializer};
    use serde::{Deserialize, Serializer, de::Error as _};
    use std::fmt::Write as _;

    /// `h` as hex of its V2 encoding (`None`: it would not encode).
    pub fn encode(h: &Histogram<u64>) -> Option<String> {
        let mut bytes = Vec::new();
        V2Serializer::new().serialize(h, &mut bytes).ok()?;
        let mut hex = String::with_capacity(bytes.len() * 2);
        for b in bytes {
            // Writing to a String cannot fail.
            let _ = write!(hex, "{b:02x}");
        }
        Some(hex)
    }

    /// A histogram from [`encode`]'s hex, re-homed in one that grows on
    /// demand ([`new_histogram`]) so merges cannot fail; `None` if it is
    /// not one.
    pub fn decode(hex: &str) -> Option<Histogram<u64>> {
        let bytes = (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2).unwrap_or("zz"), 16))
            .collect::<Result<Vec<u8>, _>>()
            .ok()?;
        let decoded: Histogram<u64> = Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .ok()?;
        let mut h = new_histogram();
        h.add(&decoded).ok()?;
        Some(h)
    }

    pub fn serialize<S: Serializer>(h: &Histogram<u64>, s: S) -> Result<S::Ok, S::Error> {
        let hex = encode(h).ok_or_else(|| serde::ser::Error::custom("histogram: cannot encode"))?;
        s.serialize_str(&hex)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Histogram<u64>, D::Error> {
        let hex = String::deserialize(d)?;
        decode(&hex).ok_or_else(|| D::Error::custom("histogram: not a V2 histogram in hex"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes of counts a histogram holds (u64 counts).
    fn bytes(h: &Histogram<u64>) -> usize {
        h.distinct_values() * std::mem::size_of::<u64>()
    }

    /// Issue 15: an idle generator's histograms cost what they hold, not
    /// their full hour-long range (264 KiB each, written at creation).
    #[test]
    fn a_histogram_costs_what_it_holds_and_still_reaches_an_hour() {
        let mut h = new_histogram();
        assert_eq!(bytes(&h), 16 * 1024, "an empty histogram");
        let mut clamped = 0;
        record(&mut h, 1_000_000, &mut clamped);
        assert_eq!(bytes(&h), 88 * 1024, "values up to 1 ms");
        record(&mut h, 1_000_000_000, &mut clamped);
        assert_eq!(bytes(&h), 168 * 1024, "values up to 1 s");
        record(&mut h, HISTOGRAM_MAX_NS + 1, &mut clamped);
        assert_eq!(bytes(&h), 264 * 1024, "the whole range");
        assert_eq!(clamped, 1);
        assert_eq!(h.len(), 3);
        assert_eq!(h.max(), h.highest_equivalent(HISTOGRAM_MAX_NS));
        // A merge grows the receiving histogram too (worker -> parent).
        let mut total = new_histogram();
        total.add(&h).unwrap();
        assert_eq!((total.len(), total.max()), (3, h.max()));
    }

    #[test]
    fn merge_adds_counts_and_histograms() {
        let mut a = Measurements::default();
        a.latency.record(1_000).unwrap();
        a.completed = 1;
        a.error("x");
        a.window_secs = 1.0;
        let mut b = Measurements::default();
        b.latency.record(3_000).unwrap();
        b.completed = 2;
        b.error_n("x", 2);
        b.window_secs = 2.0;
        a.cpu_secs = 0.5;
        b.cpu_secs = 0.25;
        (a.udp_kernel_drops, b.udp_kernel_drops) = (1, 2);
        (a.udp_server_kernel_drops, b.udp_server_kernel_drops) = (None, Some(40));
        (a.scheduled, b.scheduled) = (10, 20);
        (a.unsent.depth, b.unsent.depth, b.unsent.target) = (1, 2, 3);
        (a.udp_late, b.udp_late) = (4, 5);
        b.clamped.latency = 6;
        b.schedule_lag.record(7).unwrap();
        (a.run_queue_secs, b.run_queue_secs) = (None, Some(0.3));
        a.merge(&b);
        assert_eq!(a.scheduled, 30);
        assert_eq!(a.unsent.total(), 6);
        assert_eq!((a.udp_late, a.clamped.latency), (9, 6));
        assert_eq!(a.schedule_lag.len(), 1);
        assert_eq!(a.run_queue_secs, Some(0.3), "the longest wait known");
        assert_eq!(a.cpu_secs, 0.5, "the busiest worker's CPU, not the sum");
        assert_eq!(a.completed, 3);
        assert_eq!(a.latency.len(), 2);
        assert_eq!(a.errors["x"], 3);
        assert_eq!(a.window_secs, 2.0);
        assert_eq!(a.udp_kernel_drops, 3, "each worker's own sockets");
        assert_eq!(
            a.udp_server_kernel_drops,
            Some(40),
            "one counter, read by each"
        );
    }

    #[test]
    fn measurements_round_trip_through_json() {
        let mut m = Measurements::default();
        m.latency.record(12_345).unwrap();
        m.connect.record(99_000).unwrap();
        m.completed = 7;
        m.error("x");
        let json = serde_json::to_string(&m).unwrap();
        let back: Measurements = serde_json::from_str(&json).unwrap();
        assert_eq!(back.latency, m.latency);
        assert_eq!(back.connect, m.connect);
        assert_eq!((back.completed, back.errors["x"]), (7, 1));
        assert!(
            serde_json::from_str::<Measurements>(&json.replace("latency\":\"", "latency\":\"zz"))
                .is_err()
        );
    }
}
