//! The final report made from [`Measurements`]: human text, or one JSON
//! object whose keys other tools parse (documented in README.md, "Load
//! testing"; `tests/load.rs` checks the exact key set).

use super::config::LoadConfig;
use super::measurements::Measurements;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// CPU use of the generator, in percent of one core, above which its
/// numbers describe the generator more than the server.
pub const SATURATED_PERCENT: f64 = 90.0;

/// The shortest window whose CPU share can mean saturation. A window that
/// ended within a tenth of a second (every connection failed at once) is
/// all start-up cost: a high share there says nothing about the generator
/// being the bottleneck.
pub const SATURATION_MIN_WINDOW_SECS: f64 = 0.1;

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

/// Latency summary in microseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest.
    pub max: u64,
    /// Mean.
    pub mean: f64,
}

impl Percentiles {
    /// Summarizes a nanosecond histogram in microseconds (zeros if empty).
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        // Nearest microsecond (hdrhistogram reports the top of a bucket).
        let us = |ns: u64| ns.saturating_add(500) / 1000;
        Percentiles {
            p50: us(h.value_at_quantile(0.50)),
            p90: us(h.value_at_quantile(0.90)),
            p99: us(h.value_at_quantile(0.99)),
            p999: us(h.value_at_quantile(0.999)),
            max: us(h.max()),
            mean: round3(h.mean() / 1000.0),
        }
    }
}

/// `udp` in the JSON report.
#[derive(Debug, Clone, Serialize)]
pub struct Udp {
    /// Datagrams sent.
    pub sent: u64,
    /// Replies received.
    pub received: u64,
    /// Unanswered after the loss timeout.
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
    /// Above [`SATURATED_PERCENT`] over a window of at least
    /// [`SATURATION_MIN_WINDOW_SECS`]: the numbers may describe the generator.
    pub saturated: bool,
}

/// The final report; serializes to exactly the documented JSON keys.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
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
    /// Request counts.
    pub requests: Requests,
    /// Rates over the window.
    pub throughput: Throughput,
    /// Request latency.
    pub latency_us: Percentiles,
    /// Connect latency.
    pub connect_latency_us: Percentiles,
    /// UDP counts.
    pub udp: Udp,
    /// Error counts by reason.
    pub errors: BTreeMap<String, u64>,
    /// The generator's own load.
    pub generator: Generator,
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
        let cpu_percent = if m.window_secs > 0.0 {
            round3(m.cpu_secs / m.window_secs * 100.0)
        } else {
            0.0
        };
        Report {
            service: c.service.service().name().to_owned(),
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
                per_sec: if m.ramp_secs > 0.0 {
                    round3(m.opened as f64 / m.ramp_secs)
                } else {
                    0.0
                },
            },
            requests: Requests {
                sent: m.sent,
                completed: m.completed,
                verify_errors: m.verify_errors,
            },
            throughput: Throughput {
                msgs_per_sec: per_sec(m.completed_in_window),
                bytes_per_sec: per_sec(m.bytes_both_ways_in_window),
            },
            latency_us: Percentiles::of(&m.latency),
            connect_latency_us: Percentiles::of(&m.connect),
            udp: Udp {
                sent: m.udp_sent,
                received: m.udp_received,
                lost: m.udp_lost,
                kernel_drops: KernelDrops {
                    generator: m.udp_kernel_drops,
                    server: m.udp_server_kernel_drops,
                },
            },
            errors: m.errors.clone(),
            generator: Generator {
                cpu_percent,
                saturated: cpu_percent > SATURATED_PERCENT
                    && m.window_secs >= SATURATION_MIN_WINDOW_SECS,
            },
        }
    }

    /// Whether the run failed: a connection failed or was closed early, or a
    /// reply was wrong or missing.
    pub fn failed(&self) -> bool {
        self.connections.failed > 0
            || self.connections.closed_by_server > 0
            || self.requests.verify_errors > 0
    }

    /// One line saying how many things failed.
    pub fn failure_summary(&self) -> String {
        format!(
            "{} connections failed, {} closed by the server, {} replies wrong or missing",
            self.connections.failed, self.connections.closed_by_server, self.requests.verify_errors
        )
    }

    /// The report as one line of JSON.
    pub fn to_json(&self) -> String {
        // Plain structs of numbers, strings and maps always serialize.
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The report for humans.
    pub fn human(&self) -> String {
        let mut s = String::new();
        let mode = match self.rate {
            Some(r) => format!("open loop {r}/s per connection, depth cap {}", self.depth),
            None => format!("closed loop, depth {}", self.depth),
        };
        // Writing to a String cannot fail.
        let _ = writeln!(
            s,
            "sockloop load: {} {}: {} connections, {mode}, {:.3} s window",
            self.service, self.target, self.conns, self.duration_secs
        );
        let c = &self.connections;
        let _ = writeln!(
            s,
            "  connections  {} opened, {} failed, {} closed by server; ramp-up {:.3} s ({:.0}/s)",
            c.opened, c.failed, c.closed_by_server, c.ramp_secs, c.per_sec
        );
        let r = &self.requests;
        let _ = writeln!(
            s,
            "  requests     {} sent, {} completed, {} verify errors",
            r.sent, r.completed, r.verify_errors
        );
        let _ = writeln!(
            s,
            "  throughput   {:.1} msg/s, {:.2} MB/s (sent + received)",
            self.throughput.msgs_per_sec,
            self.throughput.bytes_per_sec / 1e6
        );
        let _ = writeln!(
            s,
            "  latency us   {:>9} {:>9} {:>9} {:>9} {:>9} {:>11}",
            "p50", "p90", "p99", "p99.9", "max", "mean"
        );
        for (name, p) in [
            ("request", &self.latency_us),
            ("connect", &self.connect_latency_us),
        ] {
            let _ = writeln!(
                s,
                "    {name:<10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>11.1}",
                p.p50, p.p90, p.p99, p.p999, p.max, p.mean
            );
        }
        if self.service == "udp-echo" {
            let u = &self.udp;
            let server = u
                .kernel_drops
                .server
                .map_or_else(|| "? (not on this host)".to_owned(), |n| n.to_string());
            let _ = writeln!(
                s,
                "  udp          {} sent, {} received, {} lost; dropped by the kernel: \
                 server {server}, generator {}",
                u.sent, u.received, u.lost, u.kernel_drops.generator
            );
        }
        for (reason, n) in &self.errors {
            let _ = writeln!(s, "  error        {n} x {reason}");
        }
        let _ = writeln!(
            s,
            "  generator    {:.1}% of one core{}",
            self.generator.cpu_percent,
            if self.generator.saturated {
                " (SATURATED)"
            } else {
                ""
            }
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::LoadArgs;
    use crate::load::measurements::new_histogram;
    use clap::Parser;

    /// The default settings, as `sockloop load` with no flags.
    fn default_config() -> LoadConfig {
        #[derive(Parser)]
        struct Flags {
            #[command(flatten)]
            load: LoadArgs,
        }
        LoadConfig::from_args(&Flags::parse_from(["load"]).load).unwrap()
    }

    #[test]
    fn a_window_too_short_to_measure_is_never_saturated() {
        let config = default_config();
        let mut m = Measurements::default();
        // Every connection failed at once: a 50 us window, all start-up.
        (m.window_secs, m.cpu_secs) = (0.000_05, 0.000_06);
        let r = Report::new(&config, &m);
        assert!(r.generator.cpu_percent > SATURATED_PERCENT, "{r:?}");
        assert!(!r.generator.saturated);
        (m.window_secs, m.cpu_secs) = (1.0, 0.95);
        assert!(Report::new(&config, &m).generator.saturated);
    }

    #[test]
    fn percentiles_are_microseconds_and_ordered() {
        let mut h = new_histogram();
        for v in 1..=1000u64 {
            h.saturating_record(v * 1000);
        }
        let p = Percentiles::of(&h);
        assert_eq!(p.p50, 500);
        assert!(p.p50 <= p.p90 && p.p90 <= p.p99 && p.p99 <= p.p999 && p.p999 <= p.max);
        let empty = Percentiles::of(&new_histogram());
        assert_eq!((empty.p50, empty.max), (0, 0));
    }
}
