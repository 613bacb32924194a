//! The generator's running counts: what the loop records per event, and
//! each second's [`Progress`] for the live line (`live.rs`) and the
//! `--hdr-log` interval (`hdr_log.rs`). The handlers tell the
//! [`Recorder`] what happened through its methods; `meter.rs` owns it and
//! decides when an interval ends.
//!
//! Latencies go into a one-second `interval` histogram only; each tick adds
//! it into the run's total and hands it on (one O(buckets) add per second
//! instead of two records per reply). The interval is also the live line's
//! "p99 of the last second" and the log's interval.

use super::live::{Progress, Stage};
use super::measurements::{Measurements, Unsent, new_histogram, record};
use super::series::{Plan, SeriesRec};
use hdrhistogram::Histogram;

/// Counters of the run plus the per-second view.
#[derive(Debug)]
pub struct Recorder {
    /// The run's totals.
    m: Measurements,
    /// Latencies since the last tick.
    interval: Histogram<u64>,
    /// Whether replies and bytes count toward the measured window now.
    in_window: bool,
    /// Requests sent and not yet answered, lost or abandoned.
    outstanding: u64,
    /// Connections (UDP: sockets) currently up.
    open_now: u64,
    tick_msgs: u64,
    tick_bytes_out: u64,
    tick_bytes_in: u64,
    /// The time series and the stages' attribution (`series.rs`).
    series: SeriesRec,
    /// The turn's time (ns), for the series and the stages.
    now: u64,
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
            series: SeriesRec::default(),
            now: 0,
        }
    }
}

impl Recorder {
    /// A reply verified `latency_ns` after its (intended) send time.
    pub fn reply(&mut self, latency_ns: u64) {
        record(&mut self.interval, latency_ns, &mut self.m.clamped.latency);
        self.m.completed += 1;
        self.series.cur.completed += 1;
        // The stage its request was intended in.
        let intended = self.now.saturating_sub(latency_ns);
        if let Some(stage) = self
            .series
            .stage_at(intended)
            .and_then(|i| self.m.stages.get_mut(i))
        {
            stage.completed += 1;
            record(&mut stage.latency, latency_ns, &mut stage.clamped);
        }
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
        self.series.cur.sent += n;
        if let Some(stage) = self
            .series
            .stage_at(self.now)
            .and_then(|i| self.m.stages.get_mut(i))
        {
            stage.sent += n;
        }
    }

    /// Open loop: a request went out `lag_ns` after it could have.
    pub fn schedule_lag(&mut self, lag_ns: u64) {
        let clamped = &mut self.m.clamped.schedule_lag;
        record(&mut self.m.schedule_lag, lag_ns, clamped);
    }

    /// Open loop: the window's schedule held `n` requests.
    pub fn scheduled(&mut self, n: u64) {
        self.m.scheduled = n;
    }

    /// Open loop: the scheduled requests never sent, by cause.
    pub fn unsent(&mut self, unsent: Unsent) {
        self.m.unsent = unsent;
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
        record(&mut self.m.connect, ns, &mut self.m.clamped.connect);
        self.m.opened += 1;
        self.open_now += 1;
        self.series.cur.connects += 1;
        if self.in_window {
            self.m.opened_in_window += 1;
        }
    }

    /// Churn: the generator closed a connection after its last verified
    /// reply, to replace it.
    pub fn recycled(&mut self) {
        self.m.recycled += 1;
        self.closed(None);
    }

    /// A connection never came up.
    pub fn connect_failed(&mut self, reason: &str) {
        self.m.failed += 1;
        self.count_error(reason, 1);
    }

    /// An open connection ended; `by_server` if the server ended it.
    pub fn closed(&mut self, by_server: Option<&str>) {
        self.open_now = self.open_now.saturating_sub(1);
        self.series.cur.closes += 1;
        if let Some(reason) = by_server {
            self.m.closed_by_server += 1;
            self.count_error(reason, 1);
        }
    }

    /// A reply failed verification (or never came).
    pub fn verify_failed(&mut self, reason: &str, n: u64) {
        self.m.verify_errors += n;
        self.count_error(reason, n);
    }

    /// Counts one occurrence of `reason` (an anomaly, not a failure).
    pub fn error(&mut self, reason: &str) {
        self.count_error(reason, 1);
    }

    /// The one place errors are counted: the run's, the second's, the
    /// stage's.
    fn count_error(&mut self, reason: &str, n: u64) {
        self.m.error_n(reason, n);
        self.series.error(reason, n);
        if let Some(stage) = self
            .series
            .stage_at(self.now)
            .and_then(|i| self.m.stages.get_mut(i))
        {
            stage.errors += n;
        }
    }

    /// The turn's time (ns since the run started): when what is recorded
    /// until the next turn happened.
    pub fn set_now(&mut self, now: u64) {
        self.now = now;
    }

    /// A window opens at `now`, paced by `plan` (the series' labels;
    /// `--stages` also sizes the stages' tallies).
    pub fn open_series(&mut self, now: u64, plan: Plan, keep_histograms: bool) {
        if let Plan::Stages { profile, .. } = &plan {
            let n = (0..).map_while(|i| profile.stage_span(i)).count();
            self.m.stages = vec![Default::default(); n];
        }
        self.series.keep_histograms = keep_histograms;
        self.series.open(now, plan);
        // A search's later steps reopen the window.
        self.in_window = true;
    }

    /// The window closed at `now` (the series' later seconds are the
    /// drain's).
    pub fn close_series(&mut self, now: u64) {
        self.series.close(now);
    }

    /// The second ends at `now` (the tick's grid).
    pub fn end_second(&mut self, now: u64) {
        self.series.cur.conns_open = self.open_now;
        self.series.flush(now);
    }

    /// A capacity search's step ended: its measurements, the current
    /// interval folded in; the next step starts from zero (connections,
    /// requests in flight and the series carry on).
    pub fn take_step(&mut self) -> Measurements {
        self.fold();
        std::mem::take(&mut self.m)
    }

    /// A UDP socket is up (UDP has no handshake: no connect latency).
    pub fn udp_opened(&mut self) {
        self.m.opened += 1;
        self.open_now += 1;
        self.series.cur.connects += 1;
    }

    /// A datagram of `bytes` went out.
    pub fn udp_sent(&mut self, bytes: usize) {
        self.sent(1);
        self.m.udp_sent += 1;
        self.bytes_out(bytes);
    }

    /// The reply to a datagram in flight came within the loss timeout of
    /// its send, `latency_ns` after its (intended) send time.
    pub fn udp_received(&mut self, latency_ns: u64) {
        self.m.udp_received += 1;
        self.reply(latency_ns);
    }

    /// The reply to a datagram still in flight came after the loss timeout:
    /// late, counted once, and not a latency sample (every datagram is
    /// judged by the same rule, whenever the loss check ran).
    pub fn udp_late(&mut self) {
        self.m.udp_late += 1;
        self.abandoned(1);
    }

    /// A reply came for a datagram already declared lost: it is late, not
    /// lost (and still not a latency sample).
    pub fn udp_late_after_loss(&mut self) {
        self.m.udp_lost = self.m.udp_lost.saturating_sub(1);
        self.m.udp_late += 1;
    }

    /// `n` datagrams are lost (unanswered past the loss timeout, or their
    /// socket failed).
    pub fn udp_lost(&mut self, n: u64) {
        self.m.udp_lost += n;
        self.abandoned(n);
    }

    /// The kernel dropped `n` replies on the generator's own sockets.
    pub fn udp_kernel_drops(&mut self, n: u64) {
        self.m.udp_kernel_drops += n;
    }

    /// The target's kernel dropped `n` datagrams during the run.
    pub fn udp_server_kernel_drops(&mut self, n: u64) {
        self.m.udp_server_kernel_drops = Some(n);
    }

    /// A UDP socket failed (e.g. port unreachable) with `in_flight`
    /// datagrams: a failed connection, its datagrams lost.
    pub fn udp_socket_failed(&mut self, reason: &str, in_flight: u64) {
        self.udp_lost(in_flight);
        self.open_now = self.open_now.saturating_sub(1);
        self.series.cur.closes += 1;
        self.connect_failed(reason);
    }

    /// The measured window opens after a ramp-up of `ramp_secs`: replies
    /// and bytes count toward it from now on, and what the ramp-up measured
    /// is folded into the total (the ticks restart on the window's grid).
    pub fn begin_window(&mut self, ramp_secs: f64) {
        self.m.ramp_secs = ramp_secs;
        self.in_window = true;
        self.fold();
    }

    /// The window closed after `window_secs`, during which the process used
    /// `cpu_secs` of CPU and waited `run_queue_secs` for one.
    pub fn end_window(&mut self, window_secs: f64, cpu_secs: f64, run_queue_secs: Option<f64>) {
        self.in_window = false;
        self.m.window_secs = window_secs;
        self.m.cpu_secs = cpu_secs;
        self.m.run_queue_secs = run_queue_secs;
    }

    /// Requests sent and not yet answered, lost or abandoned.
    pub fn outstanding(&self) -> u64 {
        self.outstanding
    }

    /// Connections (UDP: sockets) up now.
    pub fn open_now(&self) -> u64 {
        self.open_now
    }

    /// The run's totals so far (the latency histogram as of the last tick).
    pub fn totals(&self) -> &Measurements {
        &self.m
    }

    /// Ends an interval of `secs` seconds, labelled `stage` at `at_secs`:
    /// hands its histogram to `log`, adds it to the total, and returns the
    /// interval's [`Progress`] (which takes the histogram; a fresh one
    /// starts).
    pub fn tick(
        &mut self,
        stage: Stage,
        at_secs: f64,
        secs: f64,
        log: impl FnOnce(&Histogram<u64>),
    ) -> Progress {
        let per_sec = |n: u64| n as f64 / secs.max(1e-9);
        log(&self.interval);
        // Both grow on demand (`new_histogram`), so adding only grows the total:
        // it fails only if the counts' length would overflow a usize.
        let _ = self.m.latency.add(&self.interval);
        self.series.interval(&self.interval);
        let progress = Progress {
            stage,
            at_secs,
            open: self.open_now,
            failed: self.m.failed,
            msgs_per_sec: per_sec(self.tick_msgs),
            out_bytes_per_sec: per_sec(self.tick_bytes_out),
            in_bytes_per_sec: per_sec(self.tick_bytes_in),
            latency: std::mem::replace(&mut self.interval, new_histogram()),
        };
        self.tick_msgs = 0;
        self.tick_bytes_out = 0;
        self.tick_bytes_in = 0;
        progress
    }

    /// Adds the interval's latencies to the total and resets it.
    pub fn fold(&mut self) {
        // Both grow on demand (`new_histogram`), so adding only grows the total:
        // it fails only if the counts' length would overflow a usize.
        let _ = self.m.latency.add(&self.interval);
        self.series.interval(&self.interval);
        self.interval.reset();
    }

    /// The run's measurements, the current interval folded in.
    pub fn into_measurements(mut self) -> Measurements {
        self.fold();
        self.m.series = std::mem::take(&mut self.series.samples);
        self.m.series_dropped = self.series.dropped;
        self.m
    }
}
