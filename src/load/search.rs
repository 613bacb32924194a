//! `--find-max-rate --slo p99=5ms`: the capacity search, as a plain state
//! machine ([`Search`]) fed each step's result ([`Step`]); the engine runs
//! the steps (`phases.rs`). No sockets, no clock.
//!
//! # The search
//! 1. Grow: start at `--search-from` and double while a step meets the
//!    objective, until one does not (the knee is bracketed) or
//!    [`MAX_RATE`] is reached.
//! 2. If the very first step fails, halve instead, until one meets it.
//! 3. Bisect the bracket [highest met, lowest failed] until the two are
//!    within [`PRECISION`] of each other.
//!
//! It stops after `--search-steps` steps in any case, and at once when a
//! step misses the objective with the *generator* saturated (`steps.rs`):
//! the miss may be the generator's own, so the answer is the highest rate
//! met before it and `limited_by` says "generator". A step that misses with
//! a healthy generator found the *target*'s limit. A step met despite a
//! saturated generator counts as met: its latencies include the
//! generator's delays and still passed.
//!
//! A step meets the objective when its latency at the objective's
//! percentile is at most the limit, it has no error (no failed connection,
//! wrong or missing reply), and the open loop sent its schedule (a
//! shortfall above the report's tolerance means the target held requests
//! back).

use serde::Serialize;

/// The highest rate the search tries (total requests per second): the
/// stage profile's limit ([`super::stages::MAX_TARGET`]).
pub const MAX_RATE: f64 = super::stages::MAX_TARGET;

/// The lowest: one request a second over the whole run.
pub const MIN_RATE: f64 = 1.0;

/// The bracket is narrow enough when its top is within 5% of its bottom:
/// run-to-run noise of a latency percentile on a shared machine is about
/// that (docs/benchmarks.md), so narrower would chase noise.
pub const PRECISION: f64 = 0.05;

/// Most steps `--search-steps` allows; at the default `--step-duration`
/// of 5 s, 64 steps are about six minutes.
pub const MAX_STEPS: u64 = 64;

/// A latency objective: `percentile` at most `limit_us`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Slo {
    /// `p50`, `p90`, `p99` or `p99.9`.
    #[serde(serialize_with = "percentile_name")]
    pub percentile: f64,
    /// The limit, in microseconds.
    pub limit_us: f64,
}

fn percentile_name<S: serde::Serializer>(q: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(Slo::name_of(*q))
}

/// The percentiles an objective may name, with their spelling.
const PERCENTILES: [(&str, f64); 4] = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999)];

impl Slo {
    /// `p99=5ms`: a percentile (p50, p90, p99, p99.9), `=`, a positive
    /// number and a unit (s, ms, us or µs).
    pub fn parse(s: &str) -> Result<Slo, String> {
        let form = "expected PERCENTILE=LIMIT, e.g. p99=5ms (p50, p90, p99, p99.9; s, ms, us, µs)";
        let (name, limit) = s.split_once('=').ok_or_else(|| format!("'{s}': {form}"))?;
        let name = name.trim();
        let percentile = PERCENTILES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, q)| *q)
            .ok_or_else(|| format!("'{s}': unknown percentile '{name}'; {form}"))?;
        let limit = limit.trim();
        let units = [("ms", 1e3), ("us", 1.0), ("µs", 1.0), ("s", 1e6)];
        let (number, scale) = units
            .iter()
            .find_map(|(u, scale)| limit.strip_suffix(u).map(|n| (n, *scale)))
            .ok_or_else(|| format!("'{s}': the limit needs a unit; {form}"))?;
        match number.trim().parse::<f64>() {
            Ok(v) if v.is_finite() && v > 0.0 && v * scale <= 3.6e9 => Ok(Slo {
                percentile,
                limit_us: v * scale,
            }),
            _ => Err(format!(
                "'{s}': the limit must be a positive number up to one hour; {form}"
            )),
        }
    }

    /// The percentile's name (`p99.9` for 0.999).
    pub fn name_of(q: f64) -> &'static str {
        PERCENTILES
            .iter()
            .find(|(_, p)| *p == q)
            .map_or("p?", |(n, _)| n)
    }
}

/// Which limit the search ran into (JSON `search.limited_by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum LimitedBy {
    /// A step failed the objective with a healthy generator.
    #[serde(rename = "target")]
    Target,
    /// A step found the generator saturated.
    #[serde(rename = "generator")]
    Generator,
}

/// One step's result, as the engine measured it (JSON `search.steps[]`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// The total rate asked for (requests per second).
    pub rate: f64,
    /// Replies completed per second of the step's window.
    pub achieved_per_sec: f64,
    /// Its latency percentiles (us; null without enough samples).
    pub p50_us: Option<f64>,
    /// p99 (us).
    pub p99_us: Option<f64>,
    /// Failures: connections, wrong or missing replies.
    pub errors: u64,
    /// Whether it met the objective.
    pub met: bool,
    /// Whether the generator was saturated (`verdict::saturation`).
    pub generator_saturated: bool,
}

/// The search: which rate to try next, and what it found.
#[derive(Debug, Clone)]
pub struct Search {
    /// Steps left.
    budget: u64,
    /// The rate to try next (`None`: finished).
    next: Option<f64>,
    /// The highest rate met, and the lowest failed.
    met: Option<f64>,
    failed: Option<f64>,
    limited_by: Option<LimitedBy>,
    steps: Vec<Step>,
}

impl Search {
    /// A search starting at `from` (clamped to the rate range), of at most
    /// `steps` steps.
    pub fn new(from: f64, steps: u64) -> Search {
        Search {
            budget: steps,
            next: (steps > 0).then_some(from.clamp(MIN_RATE, MAX_RATE)),
            met: None,
            failed: None,
            limited_by: None,
            steps: Vec::new(),
        }
    }

    /// The rate of the next step; `None` once the search is over.
    pub fn next_rate(&self) -> Option<f64> {
        self.next
    }

    /// A step's result: decides the next rate.
    pub fn record(&mut self, step: Step) {
        let rate = step.rate;
        let (met, saturated) = (step.met, step.generator_saturated);
        self.steps.push(step);
        self.budget = self.budget.saturating_sub(1);
        if saturated && !met {
            // The miss may be the generator's own: nothing above this rate
            // can be learned, and this step says nothing about the target.
            // (A step met despite a saturated generator stands: its
            // latencies include the generator's delays and still passed.)
            self.limited_by = Some(LimitedBy::Generator);
            self.next = None;
            return;
        }
        if met {
            self.met = Some(self.met.map_or(rate, |m| m.max(rate)));
        } else {
            self.failed = Some(self.failed.map_or(rate, |f| f.min(rate)));
            self.limited_by = Some(LimitedBy::Target);
        }
        self.next = if self.budget == 0 {
            None
        } else {
            self.bracket()
        };
    }

    /// The next rate from the bracket so far.
    fn bracket(&self) -> Option<f64> {
        match (self.met, self.failed) {
            (Some(lo), None) => (lo < MAX_RATE).then(|| (lo * 2.0).min(MAX_RATE)),
            (None, Some(hi)) => (hi > MIN_RATE).then(|| (hi / 2.0).max(MIN_RATE)),
            (Some(lo), Some(hi)) if hi > lo * (1.0 + PRECISION) => Some((lo + hi) / 2.0),
            _ => None,
        }
    }

    /// The highest rate that met the objective (`None`: none did).
    pub fn max_rate(&self) -> Option<f64> {
        self.met
    }

    /// Which limit it ran into (`None`: neither, within its steps).
    pub fn limited_by(&self) -> Option<LimitedBy> {
        self.limited_by
    }

    /// Every step, in order.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }
}

#[cfg(test)]
mod tests;
