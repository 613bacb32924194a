//! The live line: once a second, on stderr, what the last second did.
//!
//! ```text
//! [ramp   1.0s] conns 4000 open 0 failed | 0 msg/s | out 0.00 MB/s in 0.00 MB/s | p99 n/a
//! [   1.0s] conns 100 open 0 failed | 575585 msg/s | out 36.84 MB/s in 36.84 MB/s | p99 9610 us
//! [drain  1.0s] conns 100 open 0 failed | 12 msg/s | out 0.00 MB/s in 0.00 MB/s | p99 980 us
//! ```
//! The label says where the run is and for how long: ramp-up (seconds since
//! the start), the measured window (seconds since it began), the drain
//! (seconds since it began).
//!
//! One generator process prints its own [`Progress`]. With `--workers N`,
//! each worker sends its `Progress` to the parent instead, as a `progress
//! JSON` line on its stdout, and the parent's [`LiveMerge`] prints one line
//! for the whole run: connections and rates summed, p99 of the merged
//! histograms.
//!
//! Lining up: workers do not tick in step (each aligns its ticks with its
//! own window). So the parent numbers each worker's intervals per stage and
//! merges the workers' n-th window interval (or n-th ramp or drain interval)
//! into one row. A row is printed once every worker has reported it or gone
//! past it, or has exited; a worker that reports nothing for that row
//! counts with the connections it last reported.

use super::measurements::histogram_hex;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write as _;

/// The prefix of a worker's progress line on its stdout.
pub const PROGRESS_PREFIX: &str = "progress ";

/// Rows the parent holds back waiting for a slow worker. Past this many
/// (seconds, one row a second) the oldest is printed without that worker's
/// interval, so one stalled worker neither silences the line nor makes the
/// parent hold a histogram per second for it.
pub const MAX_ROWS_WAITING: usize = 4;

/// Where the run is, as the live line labels it. Ordered as a run goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Stage {
    /// Opening connections.
    Ramp,
    /// The measured window (or the `--idle` hold).
    Window,
    /// After the window: waiting for replies in flight.
    Drain,
}

/// Where a generator sends its live line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveTo {
    /// Printed on stderr: a run of one process, or the workers' parent.
    Stderr,
    /// Sent to the parent as a `progress JSON` line on stdout: a worker.
    Parent,
}

/// One interval of the live line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Progress {
    /// Where the run was when the interval ended.
    pub stage: Stage,
    /// The label's time: seconds since the stage began (ramp: since the
    /// start of the run).
    pub at_secs: f64,
    /// Connections up at the end of the interval.
    pub open: u64,
    /// Connections that never came up, so far.
    pub failed: u64,
    /// Replies verified per second over the interval.
    pub msgs_per_sec: f64,
    /// Bytes written per second.
    pub out_bytes_per_sec: f64,
    /// Bytes read per second.
    pub in_bytes_per_sec: f64,
    /// The interval's request latencies (ns).
    #[serde(with = "histogram_hex")]
    pub latency: Histogram<u64>,
}

impl Progress {
    /// The live line.
    pub fn line(&self) -> String {
        let label = match self.stage {
            Stage::Ramp => format!("[ramp {:>5.1}s]", self.at_secs),
            Stage::Window => format!("[{:>6.1}s]", self.at_secs),
            Stage::Drain => format!("[drain {:>4.1}s]", self.at_secs),
        };
        // A second without replies has no latency to show, not 0 us.
        let p99 = if self.latency.is_empty() {
            "n/a".to_owned()
        } else {
            format!("{} us", self.latency.value_at_quantile(0.99).div_ceil(1000))
        };
        format!(
            "{label} conns {} open {} failed | {:.0} msg/s | out {:.2} MB/s in {:.2} MB/s | p99 {p99}",
            self.open,
            self.failed,
            self.msgs_per_sec,
            self.out_bytes_per_sec / 1e6,
            self.in_bytes_per_sec / 1e6,
        )
    }

    /// Shows the interval where `to` says.
    pub fn show(&self, to: LiveTo) {
        match to {
            LiveTo::Stderr => eprintln!("{}", self.line()),
            LiveTo::Parent => match serde_json::to_string(self) {
                // A parent that stopped reading is gone; it killed us or
                // will (PR_SET_PDEATHSIG): nothing to do about a failed write.
                Ok(json) => {
                    let _ = writeln!(std::io::stdout().lock(), "{PROGRESS_PREFIX}{json}");
                }
                Err(e) => log::warn!("load: cannot encode progress: {e}"),
            },
        }
    }

    /// Adds another worker's interval of the same row.
    fn add(&mut self, other: &Progress) {
        self.at_secs = self.at_secs.max(other.at_secs);
        self.open += other.open;
        self.failed += other.failed;
        self.msgs_per_sec += other.msgs_per_sec;
        self.out_bytes_per_sec += other.out_bytes_per_sec;
        self.in_bytes_per_sec += other.in_bytes_per_sec;
        // Both grow on demand (rehomed into `new_histogram`): adding fails
        // only if the counts' length would overflow a usize.
        let _ = self.latency.add(&other.latency);
    }
}

/// A row: (stage, the interval's number within that stage, from 1).
type RowKey = (Stage, u32);

/// What the parent knows of one worker.
#[derive(Debug, Default)]
struct Worker {
    /// Intervals reported so far, per stage.
    reported: [u32; 3],
    /// The row of its latest interval.
    latest: Option<RowKey>,
    /// Its latest `open` and `failed`, for rows it has no interval in.
    open: u64,
    failed: u64,
    exited: bool,
}

/// One row being merged.
#[derive(Debug)]
struct Row {
    sum: Progress,
    /// Which workers' intervals are in `sum`.
    from: Vec<bool>,
}

/// The parent's side: merges the workers' intervals into whole-run lines.
#[derive(Debug)]
pub struct LiveMerge {
    workers: Vec<Worker>,
    rows: BTreeMap<RowKey, Row>,
}

impl LiveMerge {
    /// A merge of `workers` workers' progress.
    pub fn new(workers: usize) -> LiveMerge {
        LiveMerge {
            workers: (0..workers).map(|_| Worker::default()).collect(),
            rows: BTreeMap::new(),
        }
    }

    /// Worker `index` reported an interval; returns the lines now complete.
    pub fn add(&mut self, index: usize, progress: Progress) -> Vec<String> {
        let n = self.workers.len();
        let Some(worker) = self.workers.get_mut(index) else {
            log::warn!("load: progress from unknown worker {index}");
            return Vec::new();
        };
        let count = &mut worker.reported[progress.stage as usize];
        *count += 1;
        let key = (progress.stage, *count);
        worker.latest = Some(key);
        worker.open = progress.open;
        worker.failed = progress.failed;
        match self.rows.get_mut(&key) {
            Some(row) => {
                row.sum.add(&progress);
                row.from[index] = true;
            }
            None => {
                let mut from = vec![false; n];
                from[index] = true;
                self.rows.insert(
                    key,
                    Row {
                        sum: progress,
                        from,
                    },
                );
            }
        }
        self.ready()
    }

    /// Worker `index` exited: no more rows wait for it. Returns the lines
    /// now complete (all of them once every worker has exited).
    pub fn exited(&mut self, index: usize) -> Vec<String> {
        if let Some(worker) = self.workers.get_mut(index) {
            worker.exited = true;
        }
        self.ready()
    }

    /// Takes the complete rows off the front, in order, as lines.
    fn ready(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        while let Some(&key) = self.rows.keys().next() {
            let complete = self
                .workers
                .iter()
                .all(|w| w.exited || w.latest.is_some_and(|latest| latest >= key));
            if !complete && self.rows.len() <= MAX_ROWS_WAITING {
                break;
            }
            let Some(Row { mut sum, from }) = self.rows.remove(&key) else {
                break;
            };
            for (worker, _) in self.workers.iter().zip(&from).filter(|(_, f)| !**f) {
                sum.open += worker.open;
                sum.failed += worker.failed;
            }
            lines.push(sum.line());
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::measurements::new_histogram;

    /// An interval with no replies.
    fn empty(stage: Stage, at_secs: f64, open: u64) -> Progress {
        Progress {
            stage,
            at_secs,
            open,
            failed: 0,
            msgs_per_sec: 0.0,
            out_bytes_per_sec: 0.0,
            in_bytes_per_sec: 0.0,
            latency: new_histogram(),
        }
    }

    fn window(at: f64, open: u64, msgs: f64, latency_ns: u64) -> Progress {
        let mut p = empty(Stage::Window, at, open);
        p.msgs_per_sec = msgs;
        p.latency.record(latency_ns).unwrap();
        p
    }

    #[test]
    fn labels_say_ramp_window_and_drain() {
        let line = |stage| empty(stage, 1.0, 3).line();
        assert!(line(Stage::Ramp).starts_with("[ramp   1.0s] conns 3 open 0 failed |"));
        assert!(line(Stage::Window).starts_with("[   1.0s] conns 3 open"));
        assert!(line(Stage::Drain).starts_with("[drain  1.0s] conns 3 open"));
        assert!(
            line(Stage::Ramp).ends_with("| p99 n/a"),
            "no replies, no 0 us"
        );
    }

    #[test]
    fn a_row_waits_for_every_worker_then_sums_them() {
        let mut live = LiveMerge::new(2);
        assert!(live.add(0, window(1.0, 10, 100.0, 2_000)).is_empty());
        let lines = live.add(1, window(1.01, 10, 50.0, 9_999));
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0].starts_with("[   1.0s] conns 20 open 0 failed | 150 msg/s"),
            "{}",
            lines[0]
        );
        assert!(lines[0].ends_with("p99 10 us"), "{}", lines[0]);
    }

    #[test]
    fn rows_line_up_by_number_not_by_time() {
        let mut live = LiveMerge::new(2);
        // Worker 1 ramps for a second longer: its ramp row has no partner.
        assert!(live.add(1, empty(Stage::Ramp, 1.0, 4)).is_empty());
        assert!(live.add(0, window(1.0, 10, 1.0, 1_000)).len() == 1);
        let lines = live.add(1, window(1.0, 10, 1.0, 1_000));
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0].starts_with("[   1.0s] conns 20 open"),
            "{}",
            lines[0]
        );
    }

    #[test]
    fn a_worker_that_exits_holds_nothing_back() {
        let mut live = LiveMerge::new(2);
        assert!(live.add(0, window(1.0, 10, 1.0, 1_000)).is_empty());
        let lines = live.exited(1);
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0].starts_with("[   1.0s] conns 10 open"),
            "{}",
            lines[0]
        );
    }

    #[test]
    fn a_stalled_worker_delays_the_line_a_bounded_time() {
        let mut live = LiveMerge::new(2);
        live.add(1, window(1.0, 7, 1.0, 1_000));
        let mut printed = Vec::new();
        for s in 1..=(MAX_ROWS_WAITING as u32 + 2) {
            printed.extend(live.add(0, window(f64::from(s), 10, 1.0, 1_000)));
        }
        // Row 1 had both; rows 2.. only worker 0, until the cap lets one out,
        // with worker 1's connections as it last reported them.
        assert_eq!(printed.len(), 2, "{printed:?}");
        assert!(
            printed[1].starts_with("[   2.0s] conns 17 open"),
            "{printed:?}"
        );
    }
}
