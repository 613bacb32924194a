//! `sockloop load --workers N`: the parent of N generator processes.
//!
//! One generator loop is one core and one process's descriptors (20,000
//! here). With `--workers N` this process starts N copies of itself, each
//! with a share of `--conns` (and of `--connect-rate`), collects each one's
//! [`Measurements`] (histograms included) from its stdout, merges them, and
//! prints one report as a single run would. The live line is the whole
//! run's too: each worker sends its second as a `progress` line on its
//! stdout, and this parent prints the merged line ([`LiveMerge`]). Ctrl-C
//! reaches only this parent (workers run in their own process group); it
//! forwards one SIGTERM, and the workers end their windows early and still
//! report.
//!
//! A worker's command line is this process's own flags, passed through as
//! given, with its shares and the worker-only flags in place of the
//! parent's ([`worker_args`]); the tests below check that every `load`
//! flag reaches a worker.

use super::config::{LoadArgs, LoadConfig};
use super::live::{LiveMerge, LiveTo, PROGRESS_PREFIX, Progress};
use super::measurements::Measurements;
use super::stages::{Stage, Stages};
use crate::error::Error;
use crate::workers::{Pool, WorkerLine, own_flags, terminate, worker_command_line};
use clap::{Args, Command};
use std::ffi::OsString;
use std::time::Duration;

/// Runs the workers and reports their merged measurements.
pub fn run(args: &LoadArgs, config: &LoadConfig, html: super::HtmlWriter) -> Result<(), Error> {
    let mut pool = Pool::new().map_err(|e| format!("load: cannot set up workers: {e}"))?;
    let n = usize::from(args.workers);
    let share = |i: usize| config.conns / n + usize::from(i < config.conns % n);
    // Each worker's command line starts from this process's own flags.
    let parent_flags = own_flags();
    for index in 0..n {
        let started = worker_args(&parent_flags, config, args.workers, share(index), index)
            .and_then(|worker| pool.spawn(index, &worker).map_err(|e| e.to_string()));
        if let Err(e) = started {
            pool.stop_all();
            return Err(format!("load: cannot start worker {index}: {e}").into());
        }
    }
    let mut merged = Measurements::default();
    let mut live = LiveMerge::new(n);
    let show = |lines: Vec<String>| {
        if config.live == LiveTo::Stderr {
            for line in lines {
                eprintln!("{line}");
            }
        }
    };
    let mut reported = vec![false; n];
    let mut closed = 0;
    let mut forwarded = false;
    while closed < n {
        if pool.stop_requested() && !forwarded {
            for worker in &pool.workers {
                terminate(&worker.child);
            }
            forwarded = true;
        }
        match pool.next_line(Duration::from_millis(100)) {
            Some(WorkerLine::Line(index, line)) => {
                if let Some(json) = line.strip_prefix(PROGRESS_PREFIX) {
                    match serde_json::from_str::<Progress>(json) {
                        Ok(p) => show(live.add(index, p)),
                        Err(e) => log::warn!("load: worker {index}: unreadable progress: {e}"),
                    }
                    continue;
                }
                let Some(json) = line.strip_prefix("measurements ") else {
                    continue;
                };
                match serde_json::from_str::<Measurements>(json) {
                    Ok(m) => {
                        merged.merge(&m);
                        reported[index] = true;
                    }
                    Err(e) => log::warn!("load: worker {index}: unreadable measurements: {e}"),
                }
            }
            Some(WorkerLine::Closed(index)) => {
                closed += 1;
                show(live.exited(index));
            }
            None => {}
        }
    }
    for worker in &mut pool.workers {
        let _ = worker.child.wait();
    }
    for (index, _) in reported.iter().enumerate().filter(|(_, r)| !**r) {
        // Its connections' fate is unknown: count them as failed.
        merged.failed += share(index) as u64;
        merged.error(&format!("worker {index} exited without a report"));
    }
    super::finish(config, &merged, html)
}

/// The flags a worker does not take from the parent as given: `--workers`
/// (a worker is one process), its share of `--conns` and `--connect-rate`,
/// the target the parent resolved once (a name might resolve differently in
/// each worker), its own `--hdr-log` file, its share of `--stages`
/// ([`stages_share`]), the HTML report (the parent writes it), and the
/// flags only a parent sets. `--start-at` is passed as given: every worker
/// opens its window at the same instant.
const NOT_PASSED: [&str; 9] = [
    "workers",
    "stages",
    "html",
    "conns",
    "connect-rate",
    "target",
    "hdr-log",
    "report-measurements",
    "worker-index",
];

/// The arguments of worker `index` of `workers`: the parent's own flags
/// (`parent_flags`: its arguments after `load`) as it was given them
/// ([`worker_command_line`]), with its share of the connections and of the
/// connect rate, the resolved target, its own `--hdr-log` file, and the
/// worker-only flags.
fn worker_args(
    parent_flags: &[OsString],
    config: &LoadConfig,
    workers: u16,
    conns: usize,
    index: usize,
) -> Result<Vec<OsString>, String> {
    let mut worker: Vec<OsString> = vec![
        format!("--target={}", config.target).into(),
        format!("--conns={conns}").into(),
        format!(
            "--connect-rate={}",
            config.connect_rate / f64::from(workers)
        )
        .into(),
    ];
    if let Some(stages) = &config.stages {
        let n = usize::from(workers);
        let before: usize = (0..index)
            .map(|i| config.conns / n + usize::from(i < config.conns % n))
            .sum();
        let share = stages_share(stages, config.idle, config.conns, before, conns);
        worker.push(format!("--stages={share}").into());
    }
    if let Some(path) = &config.hdr_log {
        // One log per worker: interval logs merge with HdrHistogram tools.
        let mut flag = OsString::from("--hdr-log=");
        flag.push(path);
        flag.push(format!(".{index}"));
        worker.push(flag);
    }
    worker.push("--report-measurements".into());
    worker.push(format!("--worker-index={index}").into());
    let flags = LoadArgs::augment_args(Command::new("load"));
    worker_command_line(flags, parent_flags, &NOT_PASSED, worker)
}

/// The part of `stages` for a worker with connections `before..before +
/// conns` of `total`: a rate in proportion to its connections; with
/// `idle`, whole connections, apportioned so that the workers' targets add
/// up to each stage's exactly (worker i gets `⌊t·b/total⌋ - ⌊t·a/total⌋` for
/// its range `a..b`).
fn stages_share(stages: &Stages, idle: bool, total: usize, before: usize, conns: usize) -> Stages {
    if !idle {
        return stages.scaled(conns as f64 / total.max(1) as f64);
    }
    let upto = |t: f64, k: usize| (t * k as f64 / total.max(1) as f64).floor();
    Stages(
        stages
            .0
            .iter()
            .map(|s| Stage {
                secs: s.secs,
                target: upto(s.target, before + conns) - upto(s.target, before),
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workers::testing;
    use clap::ArgAction;
    use std::path::PathBuf;

    /// A value other than its default for every `load` flag, by long name
    /// (no values: a switch). A flag added to `LoadArgs` without a sample
    /// here fails `every_load_flag_reaches_a_worker`.
    const SAMPLES: &[(&str, &[&str])] = &[
        ("service", &["line"]),
        ("target", &["127.0.0.2:7001"]),
        ("conns", &["9"]),
        ("connect-rate", &["30"]),
        ("connect-timeout", &["1.5"]),
        ("drain-timeout", &["0"]),
        ("duration", &["0.5"]),
        ("depth", &["4"]),
        ("rate", &["20"]),
        ("size", &["32"]),
        ("user", &["bob:-pw"]),
        ("source", &["127.0.0.2-127.0.0.3"]),
        ("udp-buffer", &["0"]),
        ("idle", &[]),
        ("send", &["u{conn} -x"]),
        ("expect", &["Hi u{conn}*"]),
        ("requests-per-conn", &["5"]),
        ("close", &["reset"]),
        ("json", &[]),
        ("hdr-log", &["/tmp/run.hlog"]),
        ("start-at", &["4102444800"]),
        ("label", &["host-1"]),
        ("html", &["/tmp/run.html"]),
        ("workers", &["3"]),
        ("force", &[]),
        ("preflight", &[]),
        ("report-measurements", &[]),
        ("worker-index", &["7"]),
        ("stages", &["1s:10,2s:0"]),
        ("find-max-rate", &[]),
        ("slo", &["p99=5ms"]),
        ("search-steps", &["3"]),
        ("search-from", &["50"]),
        ("step-duration", &["0.5"]),
    ];

    /// The scenario flags, which exclude `--rate`, `--duration` and each
    /// other; each has its own test of what a worker gets.
    const SCENARIOS: [&str; 6] = [
        "stages",
        "find-max-rate",
        "slo",
        "search-steps",
        "search-from",
        "step-duration",
    ];

    /// `--NAME VALUE` for each sample value, but for the flag `left_out`.
    fn flags_of(samples: &[(&str, &[&str])], left_out: &str) -> Vec<OsString> {
        testing::flags_of(samples, left_out)
    }

    /// The flags as `sockloop load` parses them.
    #[track_caller]
    fn parse(flags: &[OsString]) -> LoadArgs {
        testing::parse("load", flags)
    }

    #[test]
    fn every_load_flag_has_a_sample_that_is_not_its_default() {
        let defaults = parse(&[]);
        for arg in LoadArgs::augment_args(Command::new("load")).get_arguments() {
            if matches!(arg.get_action(), ArgAction::Help | ArgAction::Version) {
                continue;
            }
            let long = arg.get_long().expect("every load flag has a long name");
            let sample = SAMPLES.iter().find(|(name, _)| *name == long);
            let sample = sample.unwrap_or_else(|| {
                panic!("--{long} has no sample in SAMPLES: add one, and see that workers get it")
            });
            assert_ne!(
                parse(&flags_of(&[*sample], "")),
                defaults,
                "--{long}'s sample"
            );
        }
    }

    /// A worker parses the parent's settings back, every flag's sample
    /// included, with its shares, the resolved target, its own log file and
    /// the worker-only flags instead of the parent's. `--rate`, `--idle` and
    /// churn (`--requests-per-conn`, `--close`) exclude each other, so each
    /// parent leaves out all but one of them.
    #[test]
    fn every_load_flag_reaches_a_worker() {
        let exclusive = ["rate", "idle", "requests-per-conn", "close"];
        for kept in [&["rate"][..], &["idle"], &["requests-per-conn", "close"]] {
            let samples: Vec<(&str, &[&str])> = SAMPLES
                .iter()
                .filter(|(name, _)| !SCENARIOS.contains(name))
                .filter(|(name, _)| kept.contains(name) || !exclusive.contains(name))
                .copied()
                .collect();
            let parent_flags = flags_of(&samples, "");
            let parent = parse(&parent_flags);
            let config = LoadConfig::from_args(&parent).unwrap();
            let worker = worker_args(&parent_flags, &config, parent.workers, 4, 1).unwrap();
            assert_eq!(worker[0], "load");

            let mut expected = parent;
            expected.target = Some("127.0.0.2:7001".into());
            expected.conns = 4;
            expected.connect_rate = 10.0;
            expected.hdr_log = Some(PathBuf::from("/tmp/run.hlog.1"));
            expected.html = None;
            expected.workers = 1;
            expected.report_measurements = true;
            expected.worker_index = Some(1);
            assert_eq!(parse(&worker[1..]), expected, "{worker:?}");
        }
    }

    /// `--stages` reaches each worker as its share: the rate in proportion
    /// to its connections, or (`--idle`) whole connections adding up to
    /// each target.
    #[test]
    fn each_worker_gets_its_share_of_the_stages() {
        let flags = |extra: &[&str]| -> Vec<OsString> {
            ["--stages", "1s:10,2s:7,1s:0", "-c", "10", "--workers", "3"]
                .iter()
                .chain(extra)
                .map(OsString::from)
                .collect()
        };
        let worker_stages = |parent_flags: &[OsString]| -> Vec<Stages> {
            let parent = parse(parent_flags);
            let config = LoadConfig::from_args(&parent).unwrap();
            // Shares of 10 over 3: 4, 3, 3.
            [4, 3, 3]
                .iter()
                .enumerate()
                .map(|(i, &conns)| {
                    let worker = worker_args(parent_flags, &config, 3, conns, i).unwrap();
                    parse(&worker[1..]).stages.unwrap()
                })
                .collect()
        };
        let rates = worker_stages(&flags(&[]));
        assert_eq!(rates[0].0[0].target, 10.0 * (4.0 / 10.0));
        assert_eq!(rates[1].0[1].target, 7.0 * (3.0 / 10.0));
        let total: f64 = rates.iter().map(|s| s.0[1].target).sum();
        assert!((total - 7.0).abs() < 1e-9, "{total}");
        let conns = worker_stages(&flags(&["--idle"]));
        for stage in 0..3 {
            let targets: Vec<f64> = conns.iter().map(|s| s.0[stage].target).collect();
            let want = [10.0, 7.0, 0.0][stage];
            assert_eq!(targets.iter().sum::<f64>(), want, "{targets:?}");
            assert!(targets.iter().all(|t| t.fract() == 0.0), "{targets:?}");
        }
    }
}
