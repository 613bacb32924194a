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

use super::config::{LoadArgs, LoadConfig};
use super::live::{LiveMerge, LiveTo, PROGRESS_PREFIX, Progress};
use super::measurements::Measurements;
use crate::error::Error;
use crate::workers::{Pool, WorkerLine, terminate};
use clap::ValueEnum;
use std::time::Duration;

/// Runs the workers and reports their merged measurements.
pub fn run(args: &LoadArgs, config: &LoadConfig) -> Result<(), Error> {
    let mut pool = Pool::new().map_err(|e| format!("load: cannot set up workers: {e}"))?;
    let n = usize::from(args.workers);
    let share = |i: usize| config.conns / n + usize::from(i < config.conns % n);
    for index in 0..n {
        if let Err(e) = pool.spawn(index, &worker_args(args, config, share(index), index)) {
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
    super::finish(config, &merged)
}

/// The command line of worker `index`: the parent's settings with its share
/// of the connections and of the connect rate.
fn worker_args(args: &LoadArgs, config: &LoadConfig, conns: usize, index: usize) -> Vec<String> {
    let service = args
        .service
        .to_possible_value()
        .map_or_else(|| "echo".to_owned(), |v| v.get_name().to_owned());
    let mut out: Vec<String> = vec![
        "load".into(),
        "--service".into(),
        service,
        "--target".into(),
        config.target.to_string(),
        "--conns".into(),
        conns.to_string(),
        "--connect-rate".into(),
        (args.connect_rate / f64::from(args.workers)).to_string(),
        "--connect-timeout".into(),
        args.connect_timeout.as_secs_f64().to_string(),
        "--duration".into(),
        args.duration.as_secs_f64().to_string(),
        "--drain-timeout".into(),
        args.drain_timeout.as_secs_f64().to_string(),
        "--depth".into(),
        args.depth.to_string(),
        "--size".into(),
        args.size.to_string(),
        "--user".into(),
        args.user.clone(),
        "--report-measurements".into(),
        "--worker-index".into(),
        index.to_string(),
    ];
    if let Some(rate) = args.rate {
        out.extend(["--rate".into(), rate.to_string()]);
    }
    if let Some(source) = &args.source {
        out.extend(["--source".into(), source.clone()]);
    }
    if args.idle {
        out.push("--idle".into());
    }
    if let Some(path) = &args.hdr_log {
        // One log per worker: interval logs merge with HdrHistogram tools.
        out.extend(["--hdr-log".into(), format!("{}.{index}", path.display())]);
    }
    out
}
