//! `sockloop load`: the load generator, one single-threaded mio loop that
//! opens many connections to one service, drives requests through them and
//! verifies every reply.
//!
//! # Layout
//! - [`config`]: the flags ([`LoadArgs`]) and the checked settings
//!   ([`LoadConfig`]) with their limits.
//! - [`scenario`]: what to send and what must come back, one file per
//!   service (and `line.rs` for any line protocol), no sockets (sans-IO).
//! - [`engine`]: the event loop. It composes three parts, each owning its
//!   state: `table.rs` (`Conns`: the slab of sockets, the ready queue, the
//!   ramp-up's connects and their timeouts), the time and pacing
//!   (`clock.rs`, read once per turn; `schedule.rs`, the one algorithm that
//!   says which requests are due, TCP and UDP alike; `pacing.rs`, the
//!   timerfd that wakes the loop for them) and the measurements (`meter.rs`:
//!   the window, the tick, the live line and the hdr log, over [`stats`]).
//!   `phases.rs` moves the run through ramp-up, the measured window and the
//!   drain; `steps.rs` runs a capacity search's steps (window and drain
//!   again, on the same connections) and `conn_ramp.rs` the open
//!   connections of `--idle --stages`; `churn.rs` closes a connection after
//!   `--requests-per-conn` replies and has it replaced; `tcp.rs` and
//!   `udp.rs` hold the socket handlers, `conn.rs` one TCP connection's
//!   state and its connect, `causes.rs` the report's names for socket
//!   errors and their causes, `server_drops.rs` the target's kernel drops
//!   (UDP) when it is on this host.
//! - [`stages`]: `--stages`, and the rate as a function of time the
//!   schedule paces by; [`search`]: `--slo` and the capacity search's state
//!   machine (both sans-IO).
//! - [`stats`]: the running counts and each second's numbers; [`series`]:
//!   the report's per-second series and per-stage tallies;
//!   [`live`]: the live line, and the merge of the workers' live lines;
//!   [`hdr_log`]: the `--hdr-log` file (HdrHistogram's interval log).
//! - `workers`: `--workers N`, the parent that runs N generator processes,
//!   prints their merged live line and merges their [`Measurements`].
//! - `preflight.rs`: will the run's connections fit in this host's memory
//!   and file table? Asked before anything is opened; `--force` runs anyway.
//! - [`measurements`]: what a run measured ([`Measurements`]: mergeable,
//!   serializable); [`report`]: the final report (human or JSON), its
//!   latency summaries ([`percentiles`]: samples, "n/a", clamped values) and
//!   its verdicts on itself ([`verdict`]: saturation, the open loop's
//!   shortfall, the warnings).
//!
//! # A run
//! 1. Ramp-up: open `--conns` connections (at `--connect-rate`), nothing is
//!    sent. Each connect is timed; one that takes longer than
//!    `--connect-timeout` fails.
//! 2. The measured window (`--duration`): closed loop (`--depth` requests in
//!    flight per connection) or open loop (`--rate` per connection on a fixed
//!    schedule, latency counted from each request's intended send time).
//!    With `--idle`, nothing is sent during the window, then one request per
//!    connection.
//!    With `--requests-per-conn N` (churn), a connection is closed by the
//!    generator after N verified replies and a new one connects in its
//!    place (at `--connect-rate`, if set) until the window ends.
//! 3. Drain: no new requests; replies still in flight are awaited (bounded
//!    by `--drain-timeout`, default [`engine::DRAIN_TIMEOUT`]) and verified.
//!
//! Once every connection has failed or been closed, the run stops at once
//! and says so (there is nothing left to measure or to wait for).

mod causes;
mod churn;
mod clock;
pub mod config;
mod conn;
mod conn_ramp;
pub mod engine;
pub mod hdr_log;
pub mod live;
pub mod measurements;
mod meter;
mod pacing;
pub mod percentiles;
mod phases;
mod preflight;
pub mod report;
pub mod scenario;
mod schedule;
pub mod search;
pub mod series;
mod server_drops;
pub mod stages;
pub mod stats;
mod steps;
mod table;
mod tally;
mod tcp;
mod udp;
pub mod verdict;
mod workers;

pub use config::{LoadArgs, LoadConfig, LoadService};
pub use measurements::Measurements;
pub use report::Report;

use crate::error::Error;
use std::io::Write;

/// What writes `--html`'s page from the JSON report: `crate::results`,
/// which sits above `load` and is handed in by the command line.
pub type HtmlWriter = fn(&std::path::Path, &str) -> Result<(), String>;

/// Runs the generator; an error also when any connection failed or any
/// reply failed verification ([`Error::LoadFailed`], after the report).
pub fn run(args: &LoadArgs, html: HtmlWriter) -> Result<(), Error> {
    let config = LoadConfig::from_args(args).map_err(|e| format!("load: {e}"))?;
    let (old, soft, hard) = crate::limits::raise_nofile();
    log::info!("open-file limit: soft {old} -> {soft}, hard {hard}");
    if args.worker_index.is_none() {
        // The parent (or the one process) asks; its workers were counted.
        preflight(args, &config, hard)?;
        if args.preflight {
            return Ok(());
        }
    }
    if args.workers > 1 {
        return workers::run(args, &config, html);
    }
    let needed = config.conns as u64 + config::FD_RESERVE;
    if needed > soft {
        return Err(format!(
            "load: {} connections need {needed} file descriptors, the limit is {soft} \
             (raise it with `ulimit -n`, or spread them with --workers)",
            config.conns
        )
        .into());
    }
    let engine = engine::Engine::new(config.clone()).map_err(|e| format!("load: {e}"))?;
    let measurements = engine
        .run()
        .map_err(|e| format!("load: event loop failed: {e}"))?;
    if args.report_measurements {
        // A worker: the parent merges and reports.
        let json = serde_json::to_string(&measurements)
            .map_err(|e| format!("load: cannot encode measurements: {e}"))?;
        println!("measurements {json}");
        return Ok(());
    }
    finish(&config, &measurements, html)
}

/// The preflight (`preflight.rs`): an error with the estimate if the run
/// does not fit this host, unless `--force`; `--preflight` prints the
/// estimate whatever it says.
fn preflight(args: &LoadArgs, config: &LoadConfig, nofile: u64) -> Result<(), Error> {
    let Some(host) = preflight::Host::read(nofile) else {
        log::warn!("load: preflight skipped: /proc does not say what memory this host has");
        return Ok(());
    };
    let run = preflight::Run {
        conns: config.conns as u64,
        generators: u64::from(args.workers),
        target_here: config.target.ip().is_loopback(),
    };
    let estimate = preflight::estimate(run, host);
    if args.preflight {
        println!("{estimate}");
        return match estimate.fits() {
            true => Ok(()),
            false => Err("load: the run does not fit this host (--preflight)".into()),
        };
    }
    if estimate.fits() {
        log::debug!("load: {estimate}");
        Ok(())
    } else if args.force {
        eprintln!("sockloop load: --force: running anyway. {estimate}");
        Ok(())
    } else {
        Err(format!("load: {estimate}\n(--force runs it anyway)").into())
    }
}

/// Prints the report of a finished run (one process or merged workers),
/// after its warnings, and writes `--html`; an error if anything failed
/// (the open loop's shortfall above its tolerance included).
fn finish(config: &LoadConfig, measurements: &Measurements, html: HtmlWriter) -> Result<(), Error> {
    let report = Report::new(config, measurements);
    for warning in verdict::warnings(&report) {
        eprintln!("sockloop load: {warning}");
    }
    if config.json {
        eprint!("{}", report.human());
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{}", report.to_json());
        let _ = stdout.flush();
    } else {
        print!("{}", report.human());
    }
    if let Some(path) = &config.html {
        // A failed run's page is the one most worth looking at: written
        // whatever the verdict.
        html(path, &report.to_json()).map_err(|e| format!("load: {e}"))?;
    }
    if report.failed() {
        Err(Error::LoadFailed(report.failure_summary()))
    } else {
        Ok(())
    }
}
