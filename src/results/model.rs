//! The JSON report as `sockloop report` reads and writes it ([`RunDoc`]):
//! the keys of `load --json` (README, "Load testing"), every one optional
//! on input so that reports from older or newer sockloops, and parts built
//! from an HdrHistogram interval log, still read; unknown keys are ignored.
//!
//! A merged report has the same shape, plus `hosts` (one row per part) and
//! `merged` (what the merge could and could not make exact), so it can be
//! read, rendered and merged again.

use crate::load::percentiles::Percentiles;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The JSON report format version this reader knows (`version`).
pub const VERSION: u32 = 1;

/// One run's report, one part's or merged.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RunDoc {
    /// Format version (absent in reports older than the time series).
    pub version: Option<u32>,
    /// `--label`, or the part's file name when it had none.
    pub label: Option<String>,
    /// `--start-at` (unix seconds).
    pub start_at: Option<f64>,
    /// Service name; `None` for a part read from an interval log.
    pub service: Option<String>,
    /// Target address.
    pub target: Option<String>,
    /// Connections asked for.
    pub conns: Option<u64>,
    /// Requests in flight per connection.
    pub depth: Option<u64>,
    /// Open-loop rate per connection (null: closed loop).
    pub rate: Option<f64>,
    /// Message size.
    pub size: Option<u64>,
    /// The measured window's length (s).
    pub duration_secs: f64,
    /// Connection counts.
    pub connections: Connections,
    /// Request counts.
    pub requests: Requests,
    /// Open loop: the schedule.
    pub schedule: Option<Schedule>,
    /// Rates over the window.
    pub throughput: Throughput,
    /// Request latency summary (us).
    pub latency_us: Summary,
    /// Connect latency summary (us).
    pub connect_latency_us: Summary,
    /// The histograms' resolution, as reported.
    pub histogram: Option<serde_json::Value>,
    /// The full histograms (base64, ns): what merges exactly.
    pub histograms: Option<Histograms>,
    /// UDP counts.
    pub udp: Udp,
    /// Errors by reason.
    pub errors: BTreeMap<String, u64>,
    /// The generator's own load.
    pub generator: Generator,
    /// One entry per second of the window.
    pub series: Option<Vec<Second>>,
    /// Rate stages, when the run had them.
    pub stages: Option<Vec<Stage>>,
    /// Capacity search, when the run was one.
    pub search: Option<Search>,
    /// Merged: one row per part.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<HostRow>,
    /// Merged: what the merge made exact and what it bounds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merged: Option<MergeNote>,
}

/// `connections`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Connections {
    /// Came up.
    pub opened: u64,
    /// Never came up.
    pub failed: u64,
    /// Closed by the server early.
    pub closed_by_server: u64,
    /// Ramp-up length (s).
    pub ramp_secs: f64,
    /// Connections opened per second of ramp-up.
    pub per_sec: f64,
}

/// `requests`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Requests {
    /// Written.
    pub sent: u64,
    /// Verified replies.
    pub completed: u64,
    /// Wrong or missing replies.
    pub verify_errors: u64,
}

/// `schedule` (open loop).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Schedule {
    /// On the schedule.
    pub scheduled: u64,
    /// Sent.
    pub sent: u64,
    /// Never sent.
    pub shortfall: u64,
    /// Never sent, in percent.
    pub shortfall_percent: f64,
    /// What held most of the shortfall back.
    pub limit: Option<String>,
    /// The shortfall by cause.
    pub unsent: crate::load::measurements::Unsent,
    /// The generator's lateness (us).
    pub lag_us: Summary,
}

/// `throughput`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Throughput {
    /// Replies per second.
    pub msgs_per_sec: f64,
    /// Bytes per second, both ways.
    pub bytes_per_sec: f64,
}

/// A latency summary in microseconds (`load::percentiles::Percentiles`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Summary {
    /// Values recorded.
    pub samples: u64,
    /// Median.
    pub p50: Option<u64>,
    /// 90th percentile.
    pub p90: Option<u64>,
    /// 99th.
    pub p99: Option<u64>,
    /// 99.9th.
    pub p999: Option<u64>,
    /// Largest.
    pub max: Option<u64>,
    /// Mean.
    pub mean: Option<f64>,
    /// Clamped to the histogram's range.
    pub clamped: u64,
}

impl From<Percentiles> for Summary {
    fn from(p: Percentiles) -> Summary {
        Summary {
            samples: p.samples,
            p50: p.p50,
            p90: p.p90,
            p99: p.p99,
            p999: p.p999,
            max: p.max,
            mean: p.mean,
            clamped: p.clamped,
        }
    }
}

impl Summary {
    /// As the generator's own summary, for its text row.
    pub fn percentiles(&self) -> Percentiles {
        Percentiles {
            samples: self.samples,
            p50: self.p50,
            p90: self.p90,
            p99: self.p99,
            p999: self.p999,
            max: self.max,
            mean: self.mean,
            clamped: self.clamped,
        }
    }
}

/// `histograms`: HdrHistogram base64, nanoseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Histograms {
    /// Request latency.
    pub request_ns: String,
    /// Connect latency.
    pub connect_ns: String,
    /// Schedule lag.
    pub schedule_lag_ns: String,
}

/// `udp`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Udp {
    /// Sent.
    pub sent: u64,
    /// Answered in time.
    pub received: u64,
    /// Answered late.
    pub late: u64,
    /// Never answered.
    pub lost: u64,
    /// Kernel drops by side.
    pub kernel_drops: KernelDrops,
}

/// `udp.kernel_drops`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct KernelDrops {
    /// On the generator's sockets.
    pub generator: u64,
    /// On the target's (null: not on this host).
    pub server: Option<u64>,
}

/// `generator`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Generator {
    /// CPU, percent of one core.
    pub cpu_percent: f64,
    /// Waiting for a CPU, percent of the window.
    pub run_queue_percent: Option<f64>,
    /// Whether the numbers may describe the generator.
    pub saturated: bool,
    /// Why.
    pub saturated_by: Vec<String>,
}

/// One second of `series`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Second {
    /// Seconds since the window's start.
    pub second: u64,
    /// The wall-clock unix second the sample started.
    pub unix: i64,
    /// The stage it belongs to.
    pub stage: Option<u64>,
    /// The stage's target rate then.
    pub target_rate: Option<f64>,
    /// Requests sent.
    pub sent: u64,
    /// Replies completed.
    pub completed: u64,
    /// Errors.
    pub errors: u64,
    /// Errors by cause.
    pub errors_by_cause: BTreeMap<String, u64>,
    /// Median latency (us). Merged: the largest part's (an upper bound).
    pub p50_us: Option<f64>,
    /// 90th percentile (us): not in `load`'s series; filled from interval
    /// logs. Merged: an upper bound, as `p50_us`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p90_us: Option<f64>,
    /// 99th percentile (us). Merged: an upper bound, as `p50_us`.
    pub p99_us: Option<f64>,
    /// Largest latency (us). Merged: exact.
    pub max_us: Option<f64>,
    /// Connections open.
    pub conns_open: u64,
    /// Connections opened in the second.
    pub connects: u64,
    /// Connections closed in the second.
    pub closes: u64,
}

/// One rate stage.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Stage {
    /// Stage number.
    pub index: u64,
    /// Start, seconds into the window.
    pub start_secs: f64,
    /// Length (s).
    pub secs: f64,
    /// Target rate at its start.
    pub from_rate: Option<f64>,
    /// Target rate at its end.
    pub to_rate: Option<f64>,
    /// Requests sent.
    pub sent: u64,
    /// Replies completed.
    pub completed: u64,
    /// Replies per second achieved.
    pub achieved_per_sec: f64,
    /// Errors.
    pub errors: u64,
    /// Latency in the stage (us). Merged: percentiles are the largest
    /// part's (an upper bound), samples the sum.
    pub latency_us: Summary,
}

/// `search`: a capacity search.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Search {
    /// The objective.
    pub slo: Slo,
    /// The highest rate that met it.
    pub max_rate: Option<f64>,
    /// What stopped the search: "target", "generator", or null.
    pub limited_by: Option<String>,
    /// Each rate tried.
    pub steps: Vec<Step>,
}

/// `search.slo`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Slo {
    /// Which percentile, e.g. "p99".
    pub percentile: String,
    /// Its limit (us).
    pub limit_us: f64,
}

/// One step of a search.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Step {
    /// The rate tried.
    pub rate: f64,
    /// Achieved replies per second.
    pub achieved_per_sec: f64,
    /// Median (us).
    pub p50_us: Option<f64>,
    /// 99th percentile (us).
    pub p99_us: Option<f64>,
    /// Errors.
    pub errors: u64,
    /// Whether the objective was met.
    pub met: bool,
    /// Whether the generator was saturated at this step.
    pub generator_saturated: bool,
}

/// `hosts[]` in a merged report: one part.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct HostRow {
    /// Its label.
    pub label: String,
    /// Target address.
    pub target: Option<String>,
    /// Connections opened.
    pub opened: u64,
    /// Requests sent.
    pub sent: u64,
    /// Replies completed.
    pub completed: u64,
    /// Errors (all causes).
    pub errors: u64,
    /// Replies per second.
    pub msgs_per_sec: f64,
    /// Its own p50 and p99 (us).
    pub p50_us: Option<u64>,
    /// 99th percentile (us).
    pub p99_us: Option<u64>,
    /// The first second of its window (unix), if it has a series.
    pub window_start_unix: Option<i64>,
    /// Its generator's CPU (% of a core).
    pub cpu_percent: f64,
    /// Its saturation verdict.
    pub saturated_by: Vec<String>,
}

/// `merged`: how the merge was made.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MergeNote {
    /// Parts merged.
    pub parts: usize,
    /// How each figure was merged, in words.
    pub method: String,
    /// Anything the reader should know (windows that do not line up).
    pub warnings: Vec<String>,
}

impl RunDoc {
    /// All errors, any cause.
    pub fn error_total(&self) -> u64 {
        self.errors.values().sum()
    }

    /// The series, empty when the report has none.
    pub fn seconds(&self) -> &[Second] {
        self.series.as_deref().unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_without_the_newer_keys_still_reads() {
        let doc: RunDoc =
            serde_json::from_str(r#"{"service":"echo","rate":null,"requests":{"sent":3}}"#)
                .unwrap();
        assert_eq!((doc.requests.sent, doc.series, doc.rate), (3, None, None));
        let doc: RunDoc = serde_json::from_str(
            r#"{"version":1,"series":[{"second":0,"unix":5,"stage":null,"p50_us":null,
               "errors_by_cause":{"x":1}}],"stages":null,"search":null,"unknown":[1]}"#,
        )
        .unwrap();
        assert_eq!(doc.seconds()[0].errors_by_cause["x"], 1);
        assert!(doc.stages.is_none() && doc.search.is_none());
    }
}
