//! The final report made from [`Measurements`]: human text, or one JSON
//! object whose keys other tools parse (documented in README.md, "Load
//! testing"; `tests/load.rs` checks the exact key set).
//!
//! Every figure says what it cannot know: each latency summary its samples,
//! "n/a" (null) where too few samples can give a percentile, and its clamped
//! values (`percentiles.rs`); the histograms' precision; in open loop the
//! schedule (scheduled, sent, the shortfall and what held it back) and the
//! generator's own lateness; and the verdicts on the generator
//! (`verdict.rs`).

use super::config::LoadConfig;
use super::hdr_log::to_base64;
use super::measurements::{Measurements, Unsent};
use super::percentiles::{Percentiles, Resolution};
use super::verdict::{self, Limit, SHORTFALL_TOLERANCE_PERCENT, Saturation};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

mod churn;
mod human;
mod scenarios;

pub use scenarios::{SearchReport, SeriesSample, StageReport, VERSION};

pub use churn::{Churn, Failures};

/// `connections` in the JSON report.
#[derive(Debug, Clone, Serialize)]
pub struct Connections {
    /// Came up.
    pub opened: u64,
    /// Never came up.
    pub failed: u64,
    /// Closed or reset by the server early.
    pub closed_by_server: u64,
    /// How long ramp-up took (s).
    pub ramp_secs: f64,
    /// Connections opened per second of ramp-up.
    pub per_sec: f64,
    /// Failed or ended by the target, by cause.
    pub failures: Failures,
}

/// `requests` in the JSON report.
#[derive(Debug, Clone, Serialize)]
pub struct Requests {
    /// Written.
    pub sent: u64,
    /// Verified replies.
    pub completed: u64,
    /// Wrong or missing replies.
    pub verify_errors: u64,
}

/// `throughput` in the JSON report.
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    /// Replies completed in the window / window seconds.
    pub msgs_per_sec: f64,
    /// Bytes sent + received in the window / window seconds.
    pub bytes_per_sec: f64,
}

/// `schedule` in the JSON report: open loop only (null in closed loop).
#[derive(Debug, Clone, Serialize)]
pub struct Schedule {
    /// Requests on the schedule: every connection's intended send times
    /// inside the window.
    pub scheduled: u64,
    /// Of those, sent (in the window, or owed and sent in the drain).
    pub sent: u64,
    /// Never sent: `scheduled - sent`.
    pub shortfall: u64,
    /// The shortfall in percent of the schedule.
    pub shortfall_percent: f64,
    /// What held back most of the shortfall (null: nothing).
    pub limit: Option<Limit>,
    /// The shortfall by what held each request back.
    pub unsent: Unsent,
    /// How late each request went out after it could have: the generator's
    /// own lateness.
    pub lag_us: Percentiles,
}

/// `udp` in the JSON report.
#[derive(Debug, Clone, Serialize)]
pub struct Udp {
    /// Datagrams sent.
    pub sent: u64,
    /// Answered within the loss timeout of their send.
    pub received: u64,
    /// Answered after it (counted here only).
    pub late: u64,
    /// Never answered.
    pub lost: u64,
    /// Datagrams the kernel dropped, by side: part of `lost`.
    pub kernel_drops: KernelDrops,
}

/// `udp.kernel_drops` in the JSON report: datagrams the kernel dropped
/// because a receive queue was full, on each side.
#[derive(Debug, Clone, Serialize)]
pub struct KernelDrops {
    /// Replies dropped on the generator's own sockets.
    pub generator: u64,
    /// Requests dropped on the target's sockets (`/proc/net/udp`), or null
    /// when the target is not on this host.
    pub server: Option<u64>,
}

/// `generator` in the JSON report.
#[derive(Debug, Clone, Serialize)]
pub struct Generator {
    /// CPU time over the window, in percent of one core.
    pub cpu_percent: f64,
    /// Time ready to run but waiting for a CPU, in percent of the window
    /// (null where the kernel does not say).
    pub run_queue_percent: Option<f64>,
    /// Any of `saturated_by`: the numbers may describe the generator.
    pub saturated: bool,
    /// Why (`verdict.rs`): "cpu", "schedule lag", "run queue".
    pub saturated_by: Vec<Saturation>,
}

/// `histograms` in the JSON report: the full histograms, in nanoseconds, in
/// HdrHistogram's standard base64 form ([`super::hdr_log::to_base64`]), so
/// that reports from several hosts merge exactly (`sockloop report`).
#[derive(Debug, Clone, Serialize)]
pub struct Histograms {
    /// Request latency (what `latency_us` summarizes).
    pub request_ns: String,
    /// Connect latency (`connect_latency_us`).
    pub connect_ns: String,
    /// Open loop: the generator's lateness (`schedule.lag_us`).
    pub schedule_lag_ns: String,
}

/// The final report; serializes to exactly the documented JSON keys.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The format's version ([`VERSION`]).
    pub version: u32,
    /// `--label`: this part's name, or null.
    pub label: Option<String>,
    /// `--start-at` in unix seconds (the window's agreed start), or null.
    pub start_at: Option<f64>,
    /// Service name, e.g. `echo`.
    pub service: String,
    /// Target address.
    pub target: String,
    /// Connections asked for.
    pub conns: usize,
    /// Requests in flight per connection.
    pub depth: u32,
    /// Open-loop rate per connection, or null (closed loop).
    pub rate: Option<f64>,
    /// Echo/udp-echo message size (the flag's value for other services).
    pub size: usize,
    /// The measured window's actual length.
    pub duration_secs: f64,
    /// Connection counts.
    pub connections: Connections,
    /// Connection churn; null without `--requests-per-conn`.
    pub churn: Option<Churn>,
    /// Request counts.
    pub requests: Requests,
    /// Open loop: the schedule and how it was kept; null in closed loop.
    pub schedule: Option<Schedule>,
    /// Rates over the window.
    pub throughput: Throughput,
    /// Request latency.
    pub latency_us: Percentiles,
    /// Connect latency.
    pub connect_latency_us: Percentiles,
    /// What every latency figure is made of.
    pub histogram: Resolution,
    /// The histograms themselves, for merging.
    pub histograms: Histograms,
    /// UDP counts.
    pub udp: Udp,
    /// Error counts by reason.
    pub errors: BTreeMap<String, u64>,
    /// The generator's own load.
    pub generator: Generator,
    /// One sample per second of the window and the drain.
    pub series: Vec<SeriesSample>,
    /// `--stages`: each stage; null otherwise.
    pub stages: Option<Vec<StageReport>>,
    /// `--find-max-rate`: the search; null otherwise.
    pub search: Option<SearchReport>,
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

impl Report {
    /// The report of `m` for a run configured as `c`.
    pub fn new(c: &LoadConfig, m: &Measurements) -> Report {
        let per_sec = |n: u64| {
            if m.window_secs > 0.0 {
                round3(n as f64 / m.window_secs)
            } else {
                0.0
            }
        };
        let saturated_by = verdict::saturation(m);
        let schedule = c.open_loop().then(|| {
            let shortfall = m.scheduled.saturating_sub(m.sent);
            Schedule {
                scheduled: m.scheduled,
                sent: m.sent,
                shortfall,
                shortfall_percent: round3(shortfall as f64 * 100.0 / m.scheduled.max(1) as f64),
                limit: verdict::limit(&m.unsent),
                unsent: m.unsent,
                lag_us: Percentiles::of(&m.schedule_lag, m.clamped.schedule_lag),
            }
        });
        Report {
            version: VERSION,
            label: c.label.clone(),
            start_at: c.start_at.map(|t| {
                let since = t.duration_since(std::time::UNIX_EPOCH);
                round3(since.map_or(0.0, |d| d.as_secs_f64()))
            }),
            service: c.service.name().to_owned(),
            target: c.target.to_string(),
            conns: c.conns,
            depth: c.depth,
            rate: c.rate,
            size: c.size,
            duration_secs: round3(m.window_secs),
            connections: Connections {
                opened: m.opened,
                failed: m.failed,
                closed_by_server: m.closed_by_server,
                ramp_secs: round3(m.ramp_secs),
                // `--idle --stages` opens nothing in its ramp-up: the
                // series has its connects. Under churn, `opened` counts the
                // replacements too: the ramp-up's are the first `--conns`.
                per_sec: if m.ramp_secs > 0.0 && !(c.idle && c.stages.is_some()) {
                    round3(m.opened.min(c.conns as u64) as f64 / m.ramp_secs)
                } else {
                    0.0
                },
                failures: Failures::of(m),
            },
            churn: Churn::of(c, m),
            requests: Requests {
                sent: m.sent,
                completed: m.completed,
                verify_errors: m.verify_errors,
            },
            schedule,
            throughput: Throughput {
                msgs_per_sec: per_sec(m.completed_in_window),
                bytes_per_sec: per_sec(m.bytes_both_ways_in_window),
            },
            latency_us: Percentiles::of(&m.latency, m.clamped.latency),
            connect_latency_us: Percentiles::of(&m.connect, m.clamped.connect),
            histogram: Resolution::of_histograms(),
            histograms: Histograms {
                request_ns: to_base64(&m.latency),
                connect_ns: to_base64(&m.connect),
                schedule_lag_ns: to_base64(&m.schedule_lag),
            },
            udp: Udp {
                sent: m.udp_sent,
                received: m.udp_received,
                late: m.udp_late,
                lost: m.udp_lost,
                kernel_drops: KernelDrops {
                    generator: m.udp_kernel_drops,
                    server: m.udp_server_kernel_drops,
                },
            },
            errors: m.errors.clone(),
            generator: Generator {
                cpu_percent: round3(verdict::cpu_percent(m)),
                run_queue_percent: verdict::run_queue_percent(m).map(round3),
                saturated: !saturated_by.is_empty(),
                saturated_by,
            },
            series: scenarios::series(m),
            stages: scenarios::stages(c, m),
            search: scenarios::search(c, m),
        }
    }

    /// Open loop: more of the schedule went unsent than the tolerance
    /// ([`SHORTFALL_TOLERANCE_PERCENT`]).
    pub fn shortfall_failed(&self) -> bool {
        self.schedule
            .as_ref()
            .is_some_and(|s| s.shortfall_percent > SHORTFALL_TOLERANCE_PERCENT)
    }

    /// Whether the run failed: a connection failed or was closed early, a
    /// reply was wrong or missing, or the open loop fell short of its
    /// schedule.
    pub fn failed(&self) -> bool {
        // A search expects failures above the knee: it fails only when no
        // rate met the objective.
        if let Some(search) = &self.search {
            return search.max_rate.is_none();
        }
        self.connections.failed > 0
            || self.connections.closed_by_server > 0
            || self.requests.verify_errors > 0
            || self.shortfall_failed()
    }

    /// One line saying how many things failed.
    pub fn failure_summary(&self) -> String {
        if let Some(search) = &self.search {
            return format!("no rate met the objective in {} steps", search.steps.len());
        }
        let mut s = format!(
            "{} connections failed, {} closed by the server, {} replies wrong or missing",
            self.connections.failed, self.connections.closed_by_server, self.requests.verify_errors
        );
        if let Some(sched) = self.schedule.as_ref().filter(|_| self.shortfall_failed()) {
            let _ = write!(
                s,
                ", {} of {} scheduled requests never sent",
                sched.shortfall, sched.scheduled
            );
        }
        s
    }

    /// The report as one line of JSON.
    pub fn to_json(&self) -> String {
        // Plain structs of numbers, strings and maps always serialize.
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::LoadArgs;
    use clap::Parser;

    /// The settings `sockloop load ARGS` would run with.
    fn config(args: &[&str]) -> LoadConfig {
        #[derive(Parser)]
        struct Flags {
            #[command(flatten)]
            load: LoadArgs,
        }
        let argv = std::iter::once("load").chain(args.iter().copied());
        LoadConfig::from_args(&Flags::parse_from(argv).load).unwrap()
    }

    #[test]
    fn closed_loop_has_no_schedule_and_an_empty_run_no_numbers() {
        let r = Report::new(&config(&[]), &Measurements::default());
        assert!(r.schedule.is_none());
        assert_eq!((r.latency_us.samples, r.latency_us.p50), (0, None));
        let text = r.human();
        assert!(text.contains("request            0       n/a"), "{text}");
        assert!(!text.contains("schedule"), "{text}");
        assert!(!r.failed());
    }

    #[test]
    fn a_shortfall_above_the_tolerance_fails_the_run_and_says_why() {
        let mut m = Measurements::default();
        (m.scheduled, m.sent, m.window_secs) = (1000, 999, 1.0);
        m.unsent.depth = 1;
        let c = config(&["--rate", "100"]);
        let r = Report::new(&c, &m);
        assert!(!r.failed(), "0.1% is within the tolerance: {r:?}");
        m.sent = 900;
        m.unsent.depth = 100;
        let r = Report::new(&c, &m);
        let s = r.schedule.as_ref().unwrap();
        assert_eq!(
            (s.shortfall, s.shortfall_percent, s.limit),
            (100, 10.0, Some(Limit::Depth))
        );
        assert!(r.failed());
        assert!(
            r.failure_summary()
                .contains("100 of 1000 scheduled requests never sent")
        );
        let warnings = verdict::warnings(&r);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("Limited by --depth 1"), "{warnings:?}");
        assert!(
            r.human()
                .contains("1000 scheduled, 900 sent, 100 never sent")
        );
    }

    #[test]
    fn clamped_values_are_shown_with_the_range_they_passed() {
        let mut m = Measurements::default();
        let mut clamped = 0;
        let over = crate::load::measurements::HISTOGRAM_MAX_NS + 1;
        crate::load::measurements::record(&mut m.latency, over, &mut clamped);
        m.clamped.latency = clamped;
        let r = Report::new(&config(&[]), &m);
        assert_eq!(r.latency_us.clamped, 1);
        let text = r.human();
        assert!(text.contains("1 above 3600 s, counted as 3600 s"), "{text}");
    }
}
