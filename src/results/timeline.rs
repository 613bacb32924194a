//! What a report says over time, as `sockloop report` reads it: the
//! per-second `series`, the rate `stages` and a capacity `search` (the
//! shape `load --json` writes; every key optional, unknown keys ignored).

use super::summary::Summary;
use super::summary::nullable;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    #[serde(deserialize_with = "nullable")]
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
    #[serde(deserialize_with = "nullable")]
    pub latency_us: Summary,
}

/// `search`: a capacity search.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Search {
    /// The objective.
    #[serde(deserialize_with = "nullable")]
    pub slo: Slo,
    /// The highest rate that met it.
    pub max_rate: Option<f64>,
    /// What stopped the search: "target", "generator", or null.
    pub limited_by: Option<String>,
    /// Each rate tried.
    #[serde(deserialize_with = "nullable")]
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
