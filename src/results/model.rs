//! The JSON report as `sockloop report` reads and writes it ([`RunDoc`]):
//! the keys of `load --json` (README, "Load testing"), every one optional
//! on input so that reports from older or newer sockloops, and parts built
//! from an HdrHistogram interval log, still read; unknown keys are ignored,
//! and a null where an object or a map belongs reads as empty (`summary.rs`, `nullable`).
//!
//! A merged report has the same shape, plus `hosts` (one row per part) and
//! `merged` (what the merge could and could not make exact), so it can be
//! read, rendered and merged again.

use super::summary::nullable;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use super::summary::Summary;
pub use super::timeline::{Search, Second, Slo, Stage, Step};

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
    #[serde(deserialize_with = "nullable")]
    pub connections: Connections,
    /// Connection churn, when the run had it (null otherwise, as `load`
    /// writes it).
    pub churn: Option<Churn>,
    /// Request counts.
    #[serde(deserialize_with = "nullable")]
    pub requests: Requests,
    /// Open loop: the schedule.
    pub schedule: Option<Schedule>,
    /// Rates over the window.
    #[serde(deserialize_with = "nullable")]
    pub throughput: Throughput,
    /// Request latency summary (us).
    #[serde(deserialize_with = "nullable")]
    pub latency_us: Summary,
    /// Connect latency summary (us).
    #[serde(deserialize_with = "nullable")]
    pub connect_latency_us: Summary,
    /// The histograms' resolution, as reported.
    pub histogram: Option<serde_json::Value>,
    /// The full histograms (base64, ns): what merges exactly.
    pub histograms: Option<Histograms>,
    /// UDP counts.
    #[serde(deserialize_with = "nullable")]
    pub udp: Udp,
    /// Errors by reason.
    #[serde(deserialize_with = "nullable")]
    pub errors: BTreeMap<String, u64>,
    /// The generator's own load.
    #[serde(deserialize_with = "nullable")]
    pub generator: Generator,
    /// One entry per second of the window.
    pub series: Option<Vec<Second>>,
    /// Per `series` entry, in its order: that second's request latency
    /// histogram (HdrHistogram base64, ns), when the part has them
    /// (interval-log parts do; `load --json` does not write them). With
    /// them on every part, a merged second's percentiles are exact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series_histograms: Option<Vec<String>>,
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
    /// Failed or ended by the target, by cause (absent in reports older
    /// than connection churn).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failures: Option<Failures>,
}

/// `connections.failures`: connections that failed or were ended by the
/// target, by cause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Failures {
    /// Connects refused.
    pub refused: u64,
    /// Connects not answered within `--connect-timeout`.
    pub connect_timeout: u64,
    /// Connects without a local port.
    pub ports_exhausted: u64,
    /// Open connections reset.
    pub reset: u64,
    /// Any other cause.
    pub other: u64,
}

impl Failures {
    /// The sum of two parts' failures.
    pub fn plus(self, o: Failures) -> Failures {
        Failures {
            refused: self.refused + o.refused,
            connect_timeout: self.connect_timeout + o.connect_timeout,
            ports_exhausted: self.ports_exhausted + o.ports_exhausted,
            reset: self.reset + o.reset,
            other: self.other + o.other,
        }
    }
}

/// `churn` (`load --requests-per-conn`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Churn {
    /// Replies per connection before it is replaced.
    pub requests_per_conn: u64,
    /// `fin` or `reset`.
    pub close: String,
    /// Connections the generator closed after their last reply.
    pub recycled: u64,
    /// Connections that came up inside the window.
    pub opened_in_window: u64,
    /// Those per second of the window.
    pub conns_per_sec: f64,
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
    #[serde(deserialize_with = "nullable")]
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
    #[serde(deserialize_with = "nullable")]
    pub kernel_drops: KernelDrops,
}

/// `udp.kernel_drops`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct KernelDrops {
    /// On the generator's sockets.
    #[serde(deserialize_with = "nullable")]
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
    #[serde(deserialize_with = "nullable")]
    pub saturated_by: Vec<String>,
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
    #[serde(deserialize_with = "nullable")]
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
    #[serde(deserialize_with = "nullable")]
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

    /// How the run shaped its load, in words (the text report and the
    /// page's settings say the same).
    pub fn mode(&self) -> String {
        if self.service.is_none() {
            return "settings unknown (interval log)".into();
        }
        if let Some(search) = &self.search {
            let slo = &search.slo;
            return format!(
                "capacity search for {} <= {} us, {} steps",
                slo.percentile,
                slo.limit_us,
                search.steps.len()
            );
        }
        if let Some(stages) = self.stages.as_ref().filter(|s| !s.is_empty()) {
            // Targets are total requests/s, or with --idle open connections.
            let targets: Vec<String> = stages
                .iter()
                .map(|st| format!("{}s:{}", st.secs, st.to_rate.unwrap_or(0.0)))
                .collect();
            return format!("stages {}", targets.join(","));
        }
        let shape = match self.rate {
            Some(r) => format!("open loop, {r} requests/s per connection"),
            None => "closed loop".into(),
        };
        match &self.churn {
            Some(c) => format!("{shape}, {} requests per connection", c.requests_per_conn),
            None => shape,
        }
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
        assert_eq!(doc.mode(), "settings unknown (interval log)");
        let doc: RunDoc = serde_json::from_str(
            r#"{"errors":null,"connections":null,"latency_us":null,
               "series":[{"errors_by_cause":null,"unix":7}]}"#,
        )
        .unwrap();
        assert!(doc.errors.is_empty() && doc.seconds()[0].errors_by_cause.is_empty());
        assert!(serde_json::from_str::<RunDoc>(r#"{"errors":[1]}"#).is_err());
    }
}
