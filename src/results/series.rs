//! Merging what the parts measured over time: the per-second `series`
//! (aligned on wall-clock seconds), the rate `stages` (by index) and a
//! capacity `search` (by step). Percentiles here come without histograms,
//! so a merged one is the largest part's: an upper bound (see `merge.rs`).

use super::model::{RunDoc, Search, Second, Stage, Step, Summary};
use std::collections::BTreeMap;

/// How far apart (s) the parts' first seconds may lie before the merge
/// warns that their windows were not started together (`--start-at`).
pub const START_SPREAD_WARN_SECS: i64 = 1;

/// The parts' series summed per unix second, renumbered from the earliest;
/// `None` when no part has one. Warns when the windows' starts differ.
pub fn merge_series(parts: &[RunDoc], warnings: &mut Vec<String>) -> Option<Vec<Second>> {
    if parts.iter().all(|p| p.series.is_none()) {
        return None;
    }
    let starts: Vec<i64> = parts
        .iter()
        .filter_map(|p| p.seconds().first().map(|s| s.unix))
        .collect();
    if let (Some(lo), Some(hi)) = (starts.iter().min(), starts.iter().max())
        // Saturating: the seconds come from files, whatever they say.
        && hi.saturating_sub(*lo) > START_SPREAD_WARN_SECS
    {
        warnings.push(format!(
            "the parts' windows started up to {} s apart: the time series sums seconds that \
             were not all measured together (start them with --start-at)",
            hi.saturating_sub(*lo)
        ));
    }
    let mut by_unix: BTreeMap<i64, Second> = BTreeMap::new();
    for s in parts.iter().flat_map(RunDoc::seconds) {
        by_unix
            .entry(s.unix)
            .and_modify(|m| add_second(m, s))
            .or_insert_with(|| s.clone());
    }
    let first = by_unix.keys().next().copied().unwrap_or(0);
    Some(
        by_unix
            .into_values()
            .map(|mut s| {
                s.second = u64::try_from(s.unix.saturating_sub(first)).unwrap_or(0);
                s
            })
            .collect(),
    )
}

/// Adds part second `s` into merged second `m` (same unix second).
fn add_second(m: &mut Second, s: &Second) {
    m.stage = m.stage.or(s.stage);
    m.target_rate = sum_opt(m.target_rate, s.target_rate);
    m.sent += s.sent;
    m.completed += s.completed;
    m.errors += s.errors;
    for (cause, n) in &s.errors_by_cause {
        *m.errors_by_cause.entry(cause.clone()).or_insert(0) += n;
    }
    m.p50_us = max_opt(m.p50_us, s.p50_us);
    m.p90_us = max_opt(m.p90_us, s.p90_us);
    m.p99_us = max_opt(m.p99_us, s.p99_us);
    m.max_us = max_opt(m.max_us, s.max_us);
    m.conns_open += s.conns_open;
    m.connects += s.connects;
    m.closes += s.closes;
}

/// The parts' stages merged by index: counts and rates summed, latency
/// samples summed and percentiles the largest part's.
pub fn merge_stages(parts: &[RunDoc]) -> Option<Vec<Stage>> {
    let mut merged: BTreeMap<u64, Stage> = BTreeMap::new();
    let mut any = false;
    for stage in parts.iter().filter_map(|p| p.stages.as_ref()).flatten() {
        any = true;
        merged
            .entry(stage.index)
            .and_modify(|m| {
                m.from_rate = sum_opt(m.from_rate, stage.from_rate);
                m.to_rate = sum_opt(m.to_rate, stage.to_rate);
                m.sent += stage.sent;
                m.completed += stage.completed;
                m.achieved_per_sec += stage.achieved_per_sec;
                m.errors += stage.errors;
                m.secs = m.secs.max(stage.secs);
                m.latency_us = bound(&m.latency_us, &stage.latency_us);
            })
            .or_insert_with(|| stage.clone());
    }
    any.then(|| merged.into_values().collect())
}

/// Two summaries without histograms: samples summed, each percentile the
/// larger (an upper bound), the mean weighted by samples.
fn bound(a: &Summary, b: &Summary) -> Summary {
    let n = a.samples + b.samples;
    let mean = match (a.mean, b.mean) {
        (Some(x), Some(y)) if n > 0 => {
            Some((x * a.samples as f64 + y * b.samples as f64) / n as f64)
        }
        (x, y) => x.or(y),
    };
    Summary {
        samples: n,
        p50: a.p50.max(b.p50),
        p90: a.p90.max(b.p90),
        p99: a.p99.max(b.p99),
        p999: a.p999.max(b.p999),
        max: a.max.max(b.max),
        mean,
        clamped: a.clamped + b.clamped,
    }
}

/// The parts' searches merged step by step (as far as every part went):
/// rates summed, latencies the largest part's, met only where every part
/// met the objective. Warns when the parts took different steps.
pub fn merge_search(parts: &[RunDoc], warnings: &mut Vec<String>) -> Option<Search> {
    let searches: Vec<&Search> = parts.iter().filter_map(|p| p.search.as_ref()).collect();
    let first = (*searches.first()?).clone();
    if searches.len() == 1 {
        return Some(first);
    }
    let steps = searches.iter().map(|s| s.steps.len()).min().unwrap_or(0);
    if searches.iter().any(|s| s.steps.len() != steps) {
        warnings.push(format!(
            "the parts' capacity searches took different numbers of steps: merged the first {steps}"
        ));
    }
    let merged_steps: Vec<Step> = (0..steps)
        .map(|i| {
            let mut m = Step {
                met: true,
                ..Step::default()
            };
            for s in &searches {
                let step = &s.steps[i];
                m.rate += step.rate;
                m.achieved_per_sec += step.achieved_per_sec;
                m.p50_us = max_opt(m.p50_us, step.p50_us);
                m.p99_us = max_opt(m.p99_us, step.p99_us);
                m.errors += step.errors;
                m.met &= step.met;
                m.generator_saturated |= step.generator_saturated;
            }
            m
        })
        .collect();
    let max_rate = merged_steps
        .iter()
        .filter(|s| s.met)
        .map(|s| s.rate)
        .reduce(f64::max);
    Some(Search {
        slo: first.slo,
        max_rate,
        limited_by: searches.iter().find_map(|s| s.limited_by.clone()),
        steps: merged_steps,
    })
}

fn sum_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x + y),
        (x, y) => x.or(y),
    }
}

fn max_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn second(unix: i64, completed: u64, p99: f64) -> Second {
        Second {
            unix,
            completed,
            sent: completed,
            p99_us: Some(p99),
            max_us: Some(p99 * 2.0),
            conns_open: 10,
            errors_by_cause: BTreeMap::from([("timeout".into(), 1)]),
            errors: 1,
            ..Second::default()
        }
    }

    fn part(series: Vec<Second>) -> RunDoc {
        RunDoc {
            series: Some(series),
            ..RunDoc::default()
        }
    }

    #[test]
    fn seconds_align_on_unix_time_and_sum() {
        let a = part(vec![second(100, 5, 10.0), second(101, 6, 30.0)]);
        let b = part(vec![second(101, 7, 20.0), second(102, 8, 40.0)]);
        let mut warnings = Vec::new();
        let m = merge_series(&[a, b], &mut warnings).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        let got: Vec<_> = m
            .iter()
            .map(|s| (s.second, s.unix, s.completed, s.p99_us, s.conns_open))
            .collect();
        assert_eq!(
            got,
            [
                (0, 100, 5, Some(10.0), 10),
                (1, 101, 13, Some(30.0), 20),
                (2, 102, 8, Some(40.0), 10)
            ]
        );
        assert_eq!(m[1].errors_by_cause["timeout"], 2);
        assert_eq!(m[1].max_us, Some(60.0));
    }

    #[test]
    fn seconds_at_the_ends_of_time_do_not_overflow() {
        let a = part(vec![second(i64::MIN, 1, 1.0)]);
        let b = part(vec![second(i64::MAX, 1, 1.0)]);
        let mut warnings = Vec::new();
        let m = merge_series(&[a, b], &mut warnings).unwrap();
        assert_eq!(
            m.iter().map(|s| s.second).collect::<Vec<_>>(),
            [0, i64::MAX as u64]
        );
        assert!(
            warnings[0].contains(&format!("{} s apart", i64::MAX)),
            "{warnings:?}"
        );
    }

    #[test]
    fn windows_started_apart_are_merged_with_a_warning() {
        let a = part(vec![second(100, 1, 1.0)]);
        let b = part(vec![second(110, 1, 1.0)]);
        let mut warnings = Vec::new();
        merge_series(&[a, b], &mut warnings);
        assert!(warnings[0].contains("10 s apart"), "{warnings:?}");
        assert!(merge_series(&[RunDoc::default()], &mut warnings).is_none());
    }

    #[test]
    fn stages_sum_and_bound_their_percentiles() {
        let stage = |sent, p99| Stage {
            index: 0,
            sent,
            achieved_per_sec: sent as f64,
            to_rate: Some(100.0),
            latency_us: Summary {
                samples: sent,
                p99: Some(p99),
                mean: Some(p99 as f64),
                ..Summary::default()
            },
            ..Stage::default()
        };
        let a = RunDoc {
            stages: Some(vec![stage(10, 50)]),
            ..RunDoc::default()
        };
        let b = RunDoc {
            stages: Some(vec![stage(30, 90)]),
            ..RunDoc::default()
        };
        let m = merge_stages(&[a, b]).unwrap();
        assert_eq!((m[0].sent, m[0].to_rate), (40, Some(200.0)));
        assert_eq!(m[0].latency_us.p99, Some(90));
        assert_eq!(m[0].latency_us.mean, Some(80.0));
    }

    #[test]
    fn searches_merge_step_by_step() {
        let search = |p99s: &[f64], limit| Search {
            slo: super::super::model::Slo {
                percentile: "p99".into(),
                limit_us: limit,
            },
            steps: p99s
                .iter()
                .enumerate()
                .map(|(i, &p)| Step {
                    rate: 100.0 * (i + 1) as f64,
                    p99_us: Some(p),
                    met: p <= limit,
                    ..Step::default()
                })
                .collect(),
            ..Search::default()
        };
        let a = RunDoc {
            search: Some(search(&[100.0, 200.0, 900.0], 500.0)),
            ..RunDoc::default()
        };
        let b = RunDoc {
            search: Some(search(&[100.0, 600.0], 500.0)),
            ..RunDoc::default()
        };
        let mut warnings = Vec::new();
        let m = merge_search(&[a, b], &mut warnings).unwrap();
        assert_eq!(m.steps.len(), 2);
        assert_eq!(m.steps[1].p99_us, Some(600.0));
        assert!(!m.steps[1].met);
        assert_eq!(m.max_rate, Some(200.0));
        assert!(warnings[0].contains("different numbers of steps"));
    }
}
