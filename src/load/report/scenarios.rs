//! The report's scenario parts: `version`, the per-second `series`, the
//! per-stage `stages` and the capacity `search` (keys documented in
//! README.md, "Load testing"), and their rows in the human report.

use super::Report;
use crate::load::config::LoadConfig;
use crate::load::measurements::Measurements;
use crate::load::percentiles::Percentiles;
use crate::load::search::{LimitedBy, Slo, Step};
use crate::load::series::Second;
use crate::load::stages::Profile;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The report format's version (JSON `version`): bumped on any change that
/// removes or changes the meaning of a key; new keys do not bump it.
pub const VERSION: u32 = 1;

/// `series[]` in the JSON report: one second.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesSample {
    /// 0-based from the window's start.
    pub second: u64,
    /// Wall-clock unix second it started in.
    pub unix: u64,
    /// Stage (or search step) index; null outside the window or without
    /// stages.
    pub stage: Option<u32>,
    /// Total requests per second the schedule asked for; null in closed
    /// loop and outside the window.
    pub target_rate: Option<f64>,
    /// Requests sent in it.
    pub sent: u64,
    /// Replies completed in it.
    pub completed: u64,
    /// Errors in it.
    pub errors: u64,
    /// Errors in it by cause.
    pub errors_by_cause: BTreeMap<String, u64>,
    /// Reply latency p50 (us), null with too few replies.
    pub p50_us: Option<f64>,
    /// p90 (us), null with fewer than 10 replies.
    pub p90_us: Option<f64>,
    /// p99 (us), null with fewer than 100 replies.
    pub p99_us: Option<f64>,
    /// Max (us), null without replies.
    pub max_us: Option<f64>,
    /// Connections up at its end.
    pub conns_open: u64,
    /// Connections that came up in it.
    pub connects: u64,
    /// Connections that ended in it.
    pub closes: u64,
}

impl From<&Second> for SeriesSample {
    fn from(s: &Second) -> SeriesSample {
        SeriesSample {
            second: s.second,
            unix: s.unix,
            stage: s.stage,
            target_rate: s.target_rate,
            sent: s.sent,
            completed: s.completed,
            errors: s.errors,
            errors_by_cause: s.errors_by_cause.clone(),
            p50_us: s.p50_us,
            p90_us: s.p90_us,
            p99_us: s.p99_us,
            max_us: s.max_us,
            conns_open: s.conns_open,
            connects: s.connects,
            closes: s.closes,
        }
    }
}

/// `stages[]` in the JSON report: one stage.
#[derive(Debug, Clone, Serialize)]
pub struct StageReport {
    /// 0-based.
    pub index: u32,
    /// When it started, from the window's start (s).
    pub start_secs: f64,
    /// Its length (s).
    pub secs: f64,
    /// The target it ramped from and to: total requests per second, or
    /// with `--idle` open connections.
    pub from_rate: f64,
    /// See `from_rate`.
    pub to_rate: f64,
    /// Requests sent during it.
    pub sent: u64,
    /// Replies to requests intended in it.
    pub completed: u64,
    /// `completed` per second of the stage.
    pub achieved_per_sec: f64,
    /// Errors during it.
    pub errors: u64,
    /// Latency of the replies to requests intended in it.
    pub latency_us: Percentiles,
}

/// `search` in the JSON report.
#[derive(Debug, Clone, Serialize)]
pub struct SearchReport {
    /// The objective.
    pub slo: Slo,
    /// The highest total rate that met it; null: none did.
    pub max_rate: Option<f64>,
    /// What the search ran into; null: neither, within its steps.
    pub limited_by: Option<LimitedBy>,
    /// Every step, in order.
    pub steps: Vec<Step>,
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The series of `m`.
pub fn series(m: &Measurements) -> Vec<SeriesSample> {
    m.series.iter().map(SeriesSample::from).collect()
}

/// The stages of a `--stages` run (`None` otherwise).
pub fn stages(c: &LoadConfig, m: &Measurements) -> Option<Vec<StageReport>> {
    let stages = c.stages.as_ref()?;
    let profile = Profile::new(stages);
    let mut from = 0.0;
    let mut out = Vec::new();
    for (i, stage) in stages.0.iter().enumerate() {
        let tally = m.stages.get(i).cloned().unwrap_or_default();
        let start = profile.stage_span(i).map_or(0, |(start, _)| start);
        out.push(StageReport {
            index: i as u32,
            start_secs: round3(start as f64 / 1e9),
            secs: stage.secs,
            from_rate: from,
            to_rate: stage.target,
            sent: tally.sent,
            completed: tally.completed,
            achieved_per_sec: round3(tally.completed as f64 / stage.secs),
            errors: tally.errors,
            latency_us: Percentiles::of(&tally.latency, tally.clamped),
        });
        from = stage.target;
    }
    Some(out)
}

/// The search of a `--find-max-rate` run (`None` otherwise).
pub fn search(c: &LoadConfig, m: &Measurements) -> Option<SearchReport> {
    let config = c.search.as_ref()?;
    let found = m.search.as_ref();
    Some(SearchReport {
        slo: config.slo,
        max_rate: found.and_then(|s| s.max_rate()),
        limited_by: found.and_then(|s| s.limited_by()),
        steps: found.map(|s| s.steps().to_vec()).unwrap_or_default(),
    })
}

impl Report {
    /// The stage table and the search's steps, for humans.
    pub(super) fn scenario_rows(&self, s: &mut String) {
        let cell = |v: Option<u64>| v.map_or_else(|| "n/a".to_owned(), |v| v.to_string());
        if let Some(stages) = &self.stages {
            let _ = writeln!(
                s,
                "  stages       {:>3} {:>9} {:>21} {:>9} {:>10} {:>7} {:>8} {:>8} {:>8}",
                "#",
                "secs",
                "target from -> to",
                "sent",
                "achieved/s",
                "errors",
                "p50 us",
                "p99 us",
                "p99.9 us"
            );
            for st in stages {
                let _ = writeln!(
                    s,
                    "               {:>3} {:>9.3} {:>21} {:>9} {:>10.1} {:>7} {:>8} {:>8} {:>8}",
                    st.index,
                    st.secs,
                    format!("{} -> {}", st.from_rate, st.to_rate),
                    st.sent,
                    st.achieved_per_sec,
                    st.errors,
                    cell(st.latency_us.p50),
                    cell(st.latency_us.p99),
                    cell(st.latency_us.p999),
                );
            }
        }
        if let Some(search) = &self.search {
            let name = Slo::name_of(search.slo.percentile);
            let us = |v: Option<f64>| v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.0}"));
            for (i, st) in search.steps.iter().enumerate() {
                let verdict = match (st.met, st.generator_saturated) {
                    (true, false) => "met",
                    (true, true) => "met (generator saturated)",
                    (false, false) => "missed",
                    (false, true) => "missed, generator saturated",
                };
                let _ = writeln!(
                    s,
                    "  step {i:<3}     {:.1}/s -> {:.1}/s achieved, p50 {} us, p99 {} us, \
                     {} errors: {verdict}",
                    st.rate,
                    st.achieved_per_sec,
                    us(st.p50_us),
                    us(st.p99_us),
                    st.errors
                );
            }
            let limit = match search.limited_by {
                Some(LimitedBy::Target) => "the target's limit",
                Some(LimitedBy::Generator) => {
                    "the GENERATOR's limit (saturated; use --workers \
                     elsewhere or a faster host to go higher)"
                }
                None => "neither limit within --search-steps",
            };
            let answer = search
                .max_rate
                .map_or_else(|| "none".to_owned(), |r| format!("{r:.1}/s"));
            let _ = writeln!(
                s,
                "  max rate     {answer} with {name} <= {} us and no errors; found {limit}",
                search.slo.limit_us
            );
        }
    }
}
