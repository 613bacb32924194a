//! Running a capacity search (`--find-max-rate`) in the engine: each step
//! is a measured window at one total rate, on the connections the ramp-up
//! opened (kept open from step to step), followed by a drain that waits
//! for its replies. At the end of a drain the step is judged ([`judge`])
//! and handed to the [`Search`] state machine, which names the next rate;
//! `phases.rs` calls [`Engine::next_step`] there.

use super::clock::ns;
use super::config::SearchConfig;
use super::engine::{Engine, Phase};
use super::measurements::Measurements;
use super::percentiles::min_samples;
use super::search::{Search, Slo, Step};
use super::series::Plan;
use super::stages::Profile;
use super::verdict::{self, Limit, SHORTFALL_TOLERANCE_PERCENT, Saturation};
use hdrhistogram::Histogram;

/// A search in progress: the state machine, and what the finished steps
/// measured together.
#[derive(Debug)]
pub struct Steps {
    search: Search,
    slo: Slo,
    /// The steps so far, merged (the report's top-level figures).
    total: Measurements,
    /// Interrupted (SIGINT/SIGTERM): the step under way is the last.
    interrupted: bool,
}

impl Steps {
    /// A search as configured.
    pub fn new(config: &SearchConfig) -> Steps {
        Steps {
            search: Search::new(config.from, config.steps),
            slo: config.slo,
            total: Measurements::default(),
            interrupted: false,
        }
    }

    /// A signal asked the run to finish: no step after the current one.
    pub fn interrupt(&mut self) {
        self.interrupted = true;
    }

    /// The run's measurements: every step's and `rest` (what came after the
    /// last step ended: nothing, or an unfinished step), with the search.
    pub fn finish(mut self, rest: &Measurements) -> Measurements {
        self.total.merge(rest);
        // The series is kept across steps and handed over whole at the end.
        self.total.series.clone_from(&rest.series);
        self.total.series_dropped = rest.series_dropped;
        self.total.search = Some(self.search);
        self.total
    }
}

/// The latency at quantile `q` of `m`, in us; with fewer samples than the
/// report's rule gives it from, the largest (it bounds every percentile).
fn at_or_max(m: &Measurements, q: f64) -> Option<f64> {
    at_or_max_of(&m.latency, q)
}

/// [`at_or_max`] of any nanosecond histogram `h`.
fn at_or_max_of(h: &Histogram<u64>, q: f64) -> Option<f64> {
    if h.is_empty() {
        return None;
    }
    let ns = if h.len() >= min_samples(q) {
        h.value_at_quantile(q)
    } else {
        h.max()
    };
    Some(ns as f64 / 1000.0)
}

/// A step at `rate` that measured `m`: met when its latency at the
/// objective's percentile (the max, with too few replies to give it) is
/// within the limit, nothing failed and the schedule went out. Whether the
/// generator was saturated is said apart (the search weighs it).
pub fn judge(rate: f64, m: &Measurements, slo: &Slo) -> Step {
    let errors = m.failed + m.closed_by_server + m.verify_errors;
    let shortfall = m.scheduled.saturating_sub(m.sent);
    let short = shortfall as f64 * 100.0 / m.scheduled.max(1) as f64 > SHORTFALL_TOLERANCE_PERCENT;
    // Requests the loop did not get to are the generator's shortfall.
    let saturated =
        generator_saturated(m, slo) || (short && verdict::limit(&m.unsent) == Some(Limit::Cpu));
    let within = at_or_max(m, slo.percentile).is_some_and(|us| us <= slo.limit_us);
    let gives = |q: f64| {
        (m.latency.len() >= min_samples(q)).then(|| m.latency.value_at_quantile(q) as f64 / 1000.0)
    };
    Step {
        rate,
        achieved_per_sec: if m.window_secs > 0.0 {
            (m.completed_in_window as f64 / m.window_secs * 1000.0).round() / 1000.0
        } else {
            0.0
        },
        p50_us: gives(0.5),
        p99_us: gives(0.99),
        errors,
        met: within && errors == 0 && !short,
        generator_saturated: saturated,
    }
}

/// Whether the generator's own limits could have decided the step: CPU or
/// the run queue (`verdict::saturation`), or a schedule lag at the
/// objective's percentile above [`verdict::LAG_SHARE`] of its limit (the
/// report's lag rule compares with the measured latency instead; a search
/// asks whether the lag could move the answer to "met?").
fn generator_saturated(m: &Measurements, slo: &Slo) -> bool {
    let lag_counts = at_or_max_of(&m.schedule_lag, slo.percentile)
        .is_some_and(|us| us > slo.limit_us * verdict::LAG_SHARE);
    verdict::saturation(m).iter().any(|why| match why {
        Saturation::Cpu | Saturation::RunQueue => true,
        Saturation::ScheduleLag => lag_counts,
    })
}

impl Engine {
    /// The end of a drain: in a search, judges the step and starts the
    /// next one at `now` if there is one (whether it did). A step whose
    /// drain timed out with replies outstanding ends the search: the target
    /// stopped answering, and its late replies would land in the next step.
    pub(super) fn next_step(&mut self, now: u64) -> bool {
        let Some(steps) = self.steps.as_mut() else {
            return false;
        };
        let Some(rate) = steps.search.next_rate() else {
            return false;
        };
        let m = self.meter.rec.take_step();
        let mut step = judge(rate, &m, &steps.slo);
        let outstanding = self.meter.rec.outstanding();
        if outstanding > 0 {
            // Unanswered by the drain's end: failures of this step (the
            // run's end counts them as missing replies).
            step.errors += outstanding;
            step.met = false;
        }
        log::debug!("search step at {rate:.1}/s: {step:?}");
        steps.search.record(step);
        steps.total.merge(&m);
        let open = self.meter.rec.open_now();
        let Some(next) = steps
            .search
            .next_rate()
            .filter(|_| outstanding == 0 && open > 0 && !steps.interrupted)
        else {
            return false;
        };
        let index = steps.search.steps().len() as u32;
        let secs = self.cfg.duration.as_secs_f64();
        self.schedule.set_profile(Profile::constant(next, secs));
        self.meter
            .open_window(now, Plan::Step { index, rate: next });
        let until = now + ns(self.cfg.duration);
        self.phases.set(Phase::Measure, now, until);
        self.start_requests(now, until);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A step's measurements: a 1 s window of `n` replies of `us` each.
    fn measured(n: u64, us: u64) -> Measurements {
        let mut m = Measurements {
            window_secs: 1.0,
            completed_in_window: n,
            scheduled: n,
            sent: n,
            ..Measurements::default()
        };
        m.latency.record_n(us * 1000, n).unwrap();
        m
    }

    fn p99(ms: f64) -> Slo {
        Slo {
            percentile: 0.99,
            limit_us: ms * 1000.0,
        }
    }

    #[test]
    fn a_step_within_the_objective_and_without_errors_is_met() {
        let step = judge(100.0, &measured(200, 900), &p99(1.0));
        assert!(step.met && !step.generator_saturated, "{step:?}");
        assert_eq!(step.achieved_per_sec, 200.0);
        assert_eq!(step.p99_us.map(f64::round), Some(900.0));
        assert!(!judge(100.0, &measured(200, 1100), &p99(1.0)).met, "over");
    }

    #[test]
    fn errors_and_a_shortfall_miss_the_objective() {
        let mut m = measured(200, 10);
        m.closed_by_server = 1;
        let step = judge(100.0, &m, &p99(1.0));
        assert_eq!((step.met, step.errors), (false, 1));
        let mut m = measured(200, 10);
        m.scheduled = 300;
        m.unsent.depth = 100;
        let step = judge(100.0, &m, &p99(1.0));
        assert!(
            !step.met && !step.generator_saturated,
            "the target: {step:?}"
        );
        m.unsent = crate::load::measurements::Unsent {
            cpu: 100,
            ..Default::default()
        };
        let step = judge(100.0, &m, &p99(1.0));
        assert!(
            step.generator_saturated,
            "the loop did not get to them: {step:?}"
        );
    }

    #[test]
    fn too_few_replies_for_the_percentile_are_judged_by_their_max() {
        let mut m = measured(50, 10);
        m.latency.record(5_000_000).unwrap();
        let step = judge(50.0, &m, &p99(1.0));
        assert_eq!(step.p99_us, None, "51 replies cannot give a p99");
        assert!(!step.met, "their max, 5 ms, is over 1 ms");
        assert!(
            !judge(50.0, &Measurements::default(), &p99(1.0)).met,
            "no reply"
        );
    }

    #[test]
    fn a_late_generator_counts_only_against_the_objective() {
        let mut m = measured(1000, 100);
        // 0.5 ms late at p99: material next to 0.1 ms replies, and above
        // a tenth of a 2 ms objective, not of a 10 ms one.
        m.schedule_lag.record_n(500_000, 1000).unwrap();
        assert!(!judge(1000.0, &m, &p99(10.0)).generator_saturated);
        assert!(judge(1000.0, &m, &p99(2.0)).generator_saturated);
        m.cpu_secs = 0.95;
        assert!(judge(1000.0, &m, &p99(10.0)).generator_saturated, "CPU");
    }
}
