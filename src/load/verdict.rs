//! The report's verdicts on its own numbers, and the warnings that say them:
//! was the generator saturated (its numbers then describe it as much as the
//! target), and did the open loop send its schedule (and if not, which
//! limit held it back). Each rule's threshold is a constant here, with where
//! its value comes from; `docs/load-testing.md` states them.

use super::measurements::{Measurements, Unsent};
use super::percentiles::min_samples;
use super::report::Report;
use hdrhistogram::Histogram;
use serde::Serialize;

/// CPU use of the generator, in percent of one core, above which its
/// numbers describe the generator more than the server.
pub const SATURATED_PERCENT: f64 = 90.0;

/// The shortest window whose CPU share can mean saturation. A window that
/// ended within a tenth of a second (every connection failed at once) is
/// all start-up cost: a high share there says nothing about the generator
/// being the bottleneck.
pub const SATURATION_MIN_WINDOW_SECS: f64 = 0.1;

/// Schedule lag below which it is never material: timer and wake-up noise.
/// Measured here (docs/benchmarks.md, issue 18), the pacing timerfd wakes
/// the loop within 25-75 us at p50 and 70-140 us at p90 on a shared 2-core
/// machine at load average 6; 200 us stays above that.
pub const LAG_FLOOR_NS: u64 = 200_000;

/// Above the floor, the lag is material when it exceeds this share of the
/// request latency at the same percentile: open-loop latency counts from
/// the intended time, so the lag is part of it, and a tenth of the tail
/// being the generator's own lateness is a tenth of the number describing
/// the generator, not the target.
pub const LAG_SHARE: f64 = 0.1;

/// Time the loop waited for a CPU while ready to run, in percent of the
/// window, above which it was starved: another process on its core (a busy
/// loop there took 57% in the audit) delays every event it handles.
pub const RUN_QUEUE_PERCENT: f64 = 10.0;

/// Open loop: scheduled requests that may go unsent, in percent of the
/// schedule, before the run fails. One in a thousand: unsent requests are
/// the slowest (they never went out), and a thousandth of them can move no
/// reported percentile up to p99 by more than a tenth of a point.
pub const SHORTFALL_TOLERANCE_PERCENT: f64 = 0.1;

/// Why the generator counts as saturated (JSON `generator.saturated_by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Saturation {
    /// It used more than [`SATURATED_PERCENT`] of a core.
    #[serde(rename = "cpu")]
    Cpu,
    /// Open loop: it sent requests materially late ([`LAG_FLOOR_NS`],
    /// [`LAG_SHARE`]).
    #[serde(rename = "schedule lag")]
    ScheduleLag,
    /// It waited for a CPU more than [`RUN_QUEUE_PERCENT`] of the window.
    #[serde(rename = "run queue")]
    RunQueue,
}

/// What kept scheduled requests from going out (JSON `schedule.limit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Limit {
    /// Every `--depth` slot of their connections was waiting for a reply.
    #[serde(rename = "depth")]
    Depth,
    /// Their connections had free slots: the generator did not get to them.
    #[serde(rename = "cpu")]
    Cpu,
    /// The target closed or refused their connections, or stopped reading.
    #[serde(rename = "target")]
    Target,
}

/// The CPU share of the window, in percent of one core (0 with no window).
pub fn cpu_percent(m: &Measurements) -> f64 {
    if m.window_secs > 0.0 {
        m.cpu_secs / m.window_secs * 100.0
    } else {
        0.0
    }
}

/// The run-queue wait over the window, in percent; `None` where Linux does
/// not keep it.
pub fn run_queue_percent(m: &Measurements) -> Option<f64> {
    let waited = m.run_queue_secs?;
    Some(if m.window_secs > 0.0 {
        waited / m.window_secs * 100.0
    } else {
        0.0
    })
}

/// Whether the schedule lag is material against the request latency: its
/// p99 (p90 from fewer than 100 sends, as the report's sample rule allows)
/// above [`LAG_FLOOR_NS`] and above [`LAG_SHARE`] of the latency's. With
/// too few sends, or no latency to compare with (every reply late or
/// missing), there is no verdict.
fn lag_is_material(lag: &Histogram<u64>, latency: &Histogram<u64>) -> bool {
    let Some(q) = [0.99, 0.9]
        .into_iter()
        .find(|&q| lag.len() >= min_samples(q))
    else {
        return false;
    };
    if latency.is_empty() {
        return false;
    }
    let lag_at = lag.value_at_quantile(q);
    let share = latency.value_at_quantile(q) as f64 * LAG_SHARE;
    lag_at > LAG_FLOOR_NS && lag_at as f64 > share
}

/// Every reason the generator of `m` counts as saturated (none: it was
/// not). A window shorter than [`SATURATION_MIN_WINDOW_SECS`] measured
/// start-up, not load: never saturated.
pub fn saturation(m: &Measurements) -> Vec<Saturation> {
    if m.window_secs < SATURATION_MIN_WINDOW_SECS {
        return Vec::new();
    }
    let mut why = Vec::new();
    if cpu_percent(m) > SATURATED_PERCENT {
        why.push(Saturation::Cpu);
    }
    if lag_is_material(&m.schedule_lag, &m.latency) {
        why.push(Saturation::ScheduleLag);
    }
    if run_queue_percent(m).is_some_and(|p| p > RUN_QUEUE_PERCENT) {
        why.push(Saturation::RunQueue);
    }
    why
}

/// The limit that held back most of the unsent requests (`None`: none).
pub fn limit(unsent: &Unsent) -> Option<Limit> {
    [
        (unsent.depth, Limit::Depth),
        (unsent.cpu, Limit::Cpu),
        (unsent.target, Limit::Target),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .max_by_key(|(n, _)| *n)
    .map(|(_, limit)| limit)
}

/// The warnings a report calls for, one line each: saturation, and a
/// shortfall above the tolerance.
pub fn warnings(r: &Report) -> Vec<String> {
    let mut out = Vec::new();
    let g = &r.generator;
    if g.saturated {
        let reasons: Vec<String> = g
            .saturated_by
            .iter()
            .map(|why| match why {
                Saturation::Cpu => format!("it used {:.0}% of one core", g.cpu_percent),
                Saturation::ScheduleLag => {
                    let lag = r
                        .schedule
                        .as_ref()
                        .and_then(|s| s.lag_us.p99.or(s.lag_us.max));
                    format!(
                        "it sent requests late (schedule lag p99 {} us)",
                        lag.unwrap_or(0)
                    )
                }
                Saturation::RunQueue => format!(
                    "it waited for a CPU {:.0}% of the window",
                    g.run_queue_percent.unwrap_or(0.0)
                ),
            })
            .collect();
        out.push(format!(
            "WARNING: the generator was saturated: {}. Its numbers describe it as much as \
             the target (use fewer connections, a lower --rate or more --workers, and keep \
             other work off its core)",
            reasons.join("; ")
        ));
    }
    // A search's steps above the knee fall short by design; each step
    // says so itself.
    if let Some(s) = r
        .schedule
        .as_ref()
        .filter(|s| r.shortfall_failed() && s.shortfall > 0 && r.search.is_none())
    {
        let why = match s.limit {
            Some(Limit::Depth) => {
                let per_conn = r.throughput.msgs_per_sec / r.connections.opened.max(1) as f64;
                format!(
                    "--depth {}: every slot of their connections was waiting for a reply when \
                     they fell due; replies came back at {per_conn:.0}/s per connection, \
                     --rate asks {}/s. Raise --depth or lower --rate (if replies slow down as \
                     --depth grows, the target is at capacity)",
                    r.depth,
                    r.rate.unwrap_or(0.0)
                )
            }
            Some(Limit::Cpu) => "the generator's CPU: their connections had free slots but \
                 the loop did not get to them (use fewer connections, a lower --rate or more \
                 --workers)"
                .to_owned(),
            Some(Limit::Target) | None => "the target: it closed, refused or stopped reading \
                 the connections that owed them"
                .to_owned(),
        };
        out.push(format!(
            "WARNING: sent {} of {} scheduled requests: {} ({:.1}%) never went out, above the \
             {SHORTFALL_TOLERANCE_PERCENT}% tolerance. Limited by {why}",
            s.sent, s.scheduled, s.shortfall, s.shortfall_percent
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Measurements of a window `secs` long.
    fn window(secs: f64) -> Measurements {
        Measurements {
            window_secs: secs,
            ..Measurements::default()
        }
    }

    #[test]
    fn a_window_too_short_to_measure_is_never_saturated() {
        let mut m = Measurements::default();
        // Every connection failed at once: a 50 us window, all start-up.
        (m.window_secs, m.cpu_secs) = (0.000_05, 0.000_06);
        assert!(cpu_percent(&m) > SATURATED_PERCENT);
        assert_eq!(saturation(&m), []);
        (m.window_secs, m.cpu_secs) = (1.0, 0.95);
        assert_eq!(saturation(&m), [Saturation::Cpu]);
    }

    #[test]
    fn a_starved_loop_is_saturated_at_low_cpu() {
        let mut m = Measurements::default();
        (m.window_secs, m.cpu_secs) = (2.0, 0.4);
        m.run_queue_secs = Some(0.1);
        assert_eq!(saturation(&m), [], "5% of the window in the run queue");
        m.run_queue_secs = Some(1.0);
        assert_eq!(saturation(&m), [Saturation::RunQueue]);
        m.run_queue_secs = None;
        assert_eq!(saturation(&m), [], "unknown is not saturated");
    }

    #[test]
    fn schedule_lag_is_material_above_the_floor_and_its_share() {
        let mut m = window(1.0);
        for _ in 0..1000 {
            m.latency.record(2_000_000).unwrap();
            m.schedule_lag.record(1_500_000).unwrap();
        }
        assert_eq!(saturation(&m), [Saturation::ScheduleLag], "1.5 ms of 2 ms");
        m.latency.record_n(100_000_000, 1000).unwrap();
        assert_eq!(saturation(&m), [], "1.5 ms of a 100 ms tail: immaterial");
        let mut small = window(1.0);
        small.latency.record_n(100_000, 1000).unwrap();
        small.schedule_lag.record_n(LAG_FLOOR_NS / 2, 1000).unwrap();
        assert_eq!(saturation(&small), [], "below the floor: timer noise");
        let mut late = window(1.0);
        late.schedule_lag.record_n(5_000_000, 1000).unwrap();
        assert_eq!(
            saturation(&late),
            [],
            "no reply in time: nothing to compare"
        );
        late.latency.record_n(5_000_000, 9).unwrap();
        late.schedule_lag.reset();
        late.schedule_lag.record_n(5_000_000, 9).unwrap();
        assert_eq!(saturation(&late), [], "9 sends: too few for a verdict");
        late.schedule_lag.record(5_000_000).unwrap();
        assert_eq!(saturation(&late), [Saturation::ScheduleLag], "10: p90");
    }

    #[test]
    fn the_limit_is_what_held_back_most() {
        let unsent = |depth, cpu, target| Unsent { depth, cpu, target };
        assert_eq!(limit(&unsent(0, 0, 0)), None);
        assert_eq!(limit(&unsent(5, 1, 0)), Some(Limit::Depth));
        assert_eq!(limit(&unsent(1, 5, 2)), Some(Limit::Cpu));
        assert_eq!(limit(&unsent(0, 0, 3)), Some(Limit::Target));
    }
}
