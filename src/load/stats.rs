//! The generator's running counts: what the loop records per event, the
//! live line printed every second, and the HdrHistogram interval log.
//!
//! Latencies go into a one-second `interval` histogram only; each tick adds
//! it into the run's total and resets it (one O(buckets) add per second
//! instead of two records per reply). The interval is also the live line's
//! "p99 of the last second" and the log's interval.

use super::measurements::{Measurements, new_histogram};
use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::IntervalLogWriterBuilder;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Counters of the run plus the per-second view.
#[derive(Debug)]
pub struct Recorder {
    /// The run's totals.
    pub m: Measurements,
    /// Latencies since the last tick.
    interval: Histogram<u64>,
    /// Whether replies and bytes count toward the measured window now.
    pub in_window: bool,
    /// Requests sent and not yet answered, lost or abandoned.
    pub outstanding: u64,
    /// Connections currently up.
    pub open_now: u64,
    tick_msgs: u64,
    tick_bytes_out: u64,
    tick_bytes_in: u64,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            m: Measurements::default(),
            interval: new_histogram(),
            in_window: false,
            outstanding: 0,
            open_now: 0,
            tick_msgs: 0,
            tick_bytes_out: 0,
            tick_bytes_in: 0,
        }
    }
}

impl Recorder {
    /// A reply verified `latency_ns` after its (intended) send time.
    pub fn reply(&mut self, latency_ns: u64) {
        self.interval.saturating_record(latency_ns.max(1));
        self.m.completed += 1;
        self.outstanding = self.outstanding.saturating_sub(1);
        self.tick_msgs += 1;
        if self.in_window {
            self.m.completed_in_window += 1;
        }
    }

    /// `n` requests went out.
    pub fn sent(&mut self, n: u64) {
        self.m.sent += n;
        self.outstanding += n;
    }

    /// `n` requests will never be answered (connection gone, or UDP loss).
    pub fn abandoned(&mut self, n: u64) {
        self.outstanding = self.outstanding.saturating_sub(n);
    }

    /// Bytes written to a socket. Inside the window they count toward
    /// the report's `bytes_per_sec`, which is both directions.
    pub fn bytes_out(&mut self, n: usize) {
        self.tick_bytes_out += n as u64;
        if self.in_window {
            self.m.bytes_both_ways_in_window += n as u64;
        }
    }

    /// Bytes read from a socket (counted as [`Recorder::bytes_out`] is).
    pub fn bytes_in(&mut self, n: usize) {
        self.tick_bytes_in += n as u64;
        if self.in_window {
            self.m.bytes_both_ways_in_window += n as u64;
        }
    }

    /// A connection came up after `ns`.
    pub fn connected(&mut self, ns: u64) {
        self.m.connect.saturating_record(ns.max(1));
        self.m.opened += 1;
        self.open_now += 1;
    }

    /// A connection never came up.
    pub fn connect_failed(&mut self, reason: &str) {
        self.m.failed += 1;
        self.m.error(reason);
    }

    /// An open connection ended; `by_server` if the server ended it.
    pub fn closed(&mut self, by_server: Option<&str>) {
        self.open_now = self.open_now.saturating_sub(1);
        if let Some(reason) = by_server {
            self.m.closed_by_server += 1;
            self.m.error(reason);
        }
    }

    /// A reply failed verification (or never came).
    pub fn verify_failed(&mut self, reason: &str, n: u64) {
        self.m.verify_errors += n;
        self.m.error_n(reason, n);
    }

    /// Ends a one-second interval: the live line's text, and the interval
    /// histogram handed to `log` before it is folded into the total.
    pub fn tick(&mut self, label: &str, secs: f64, mut log: impl FnMut(&Histogram<u64>)) -> String {
        let per_sec = |n: u64| n as f64 / secs.max(1e-9);
        let p99_us = self.interval.value_at_quantile(0.99).div_ceil(1000);
        let line = format!(
            "{label} conns {} open {} failed | {:.0} msg/s | out {:.2} MB/s in {:.2} MB/s | p99 {} us",
            self.open_now,
            self.m.failed,
            per_sec(self.tick_msgs),
            per_sec(self.tick_bytes_out) / 1e6,
            per_sec(self.tick_bytes_in) / 1e6,
            p99_us,
        );
        log(&self.interval);
        self.fold();
        self.tick_msgs = 0;
        self.tick_bytes_out = 0;
        self.tick_bytes_in = 0;
        line
    }

    /// Adds the interval's latencies to the total and resets it.
    pub fn fold(&mut self) {
        // Same bounds on both sides: cannot fail.
        let _ = self.m.latency.add(&self.interval);
        self.interval.reset();
    }
}

/// The `--hdr-log` file: an HdrHistogram interval log of request latencies
/// in nanoseconds, one interval per second of the window and the drain.
/// Interval timestamps are seconds since the generator started, which is
/// the log's `StartTime` and `BaseTime` header.
pub struct HdrLog {
    file: BufWriter<File>,
    serializer: V2DeflateSerializer,
}

impl std::fmt::Debug for HdrLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HdrLog")
    }
}

impl HdrLog {
    /// Creates the file and writes the log's header.
    pub fn create(path: &Path) -> io::Result<HdrLog> {
        let mut log = HdrLog {
            file: BufWriter::new(File::create(path)?),
            serializer: V2DeflateSerializer::new(),
        };
        let now = SystemTime::now();
        IntervalLogWriterBuilder::new()
            .add_comment("sockloop load: request latency in nanoseconds")
            .with_start_time(now)
            .with_base_time(now)
            .begin_log_with(&mut log.file, &mut log.serializer)?;
        Ok(log)
    }

    /// Appends one interval starting `start` after the base time.
    pub fn interval(&mut self, h: &Histogram<u64>, start: Duration, length: Duration) {
        // The header was written at creation; an empty builder adds none.
        let written = IntervalLogWriterBuilder::new()
            .begin_log_with(&mut self.file, &mut self.serializer)
            .map_err(|e| e.to_string())
            .and_then(|mut w| {
                w.write_histogram(h, start, length, None)
                    .map_err(|e| e.to_string())
            });
        if let Err(e) = written {
            log::warn!("--hdr-log: interval not written: {e}");
        }
    }

    /// Flushes the file.
    pub fn finish(&mut self) {
        if let Err(e) = self.file.flush() {
            log::warn!("--hdr-log: {e}");
        }
    }
}
