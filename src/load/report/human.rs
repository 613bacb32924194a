//! The report for humans ([`Report::human`]): one line per part, the
//! latency table with each row's samples ("n/a" where too few), and what the
//! numbers are made of.

use super::Report;
use crate::load::percentiles::min_samples;
use std::fmt::Write as _;

impl Report {
    /// The report for humans.
    pub fn human(&self) -> String {
        let mut s = String::new();
        let mode = match (self.rate, &self.stages, &self.search) {
            (Some(r), _, _) => format!("open loop {r}/s per connection, depth cap {}", self.depth),
            (None, Some(_), _) if self.schedule.is_some() => {
                format!("open loop by stages (total rate), depth cap {}", self.depth)
            }
            (None, Some(_), _) => "open connections by stages".to_owned(),
            (None, None, Some(_)) => {
                format!("capacity search (total rate), depth cap {}", self.depth)
            }
            (None, None, None) => format!("closed loop, depth {}", self.depth),
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
        self.churn_lines(&mut s);
        let r = &self.requests;
        let _ = writeln!(
            s,
            "  requests     {} sent, {} completed, {} verify errors",
            r.sent, r.completed, r.verify_errors
        );
        if let Some(sched) = &self.schedule {
            let u = &sched.unsent;
            let held = if sched.shortfall > 0 {
                format!(
                    " ({:.1}%; held back by --depth {}, CPU {}, the target {})",
                    sched.shortfall_percent, u.depth, u.cpu, u.target
                )
            } else {
                String::new()
            };
            let _ = writeln!(
                s,
                "  schedule     {} scheduled, {} sent, {} never sent{held}",
                sched.scheduled, sched.sent, sched.shortfall
            );
        }
        let _ = writeln!(
            s,
            "  throughput   {:.1} msg/s, {:.2} MB/s (sent + received)",
            self.throughput.msgs_per_sec,
            self.throughput.bytes_per_sec / 1e6
        );
        self.latency_table(&mut s);
        self.scenario_rows(&mut s);
        if self.service == "udp-echo" {
            let u = &self.udp;
            let server = u
                .kernel_drops
                .server
                .map_or_else(|| "? (not on this host)".to_owned(), |n| n.to_string());
            let _ = writeln!(
                s,
                "  udp          {} sent, {} received, {} late (after 1 s), {} lost; \
                 dropped by the kernel: server {server}, generator {}",
                u.sent, u.received, u.late, u.lost, u.kernel_drops.generator
            );
        }
        for (reason, n) in &self.errors {
            let _ = writeln!(s, "  error        {n} x {reason}");
        }
        let g = &self.generator;
        let waited = g.run_queue_percent.map_or_else(String::new, |p| {
            format!(", waited for a CPU {p:.1}% of the window")
        });
        let _ = writeln!(
            s,
            "  generator    {:.1}% of one core{waited}{}",
            g.cpu_percent,
            if g.saturated { " (SATURATED)" } else { "" }
        );
        s
    }

    /// The latency rows (request, connect, and the schedule lag in open
    /// loop) and what their numbers are made of.
    fn latency_table(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "  latency us   {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>11}",
            "samples", "p50", "p90", "p99", "p99.9", "max", "mean"
        );
        let lag = self
            .schedule
            .as_ref()
            .map(|sched| ("sched. lag", &sched.lag_us));
        let rows = [
            Some(("request", &self.latency_us)),
            Some(("connect", &self.connect_latency_us)),
            lag,
        ];
        for (name, p) in rows.into_iter().flatten() {
            let _ = writeln!(s, "    {name:<10} {}", p.row());
            if p.clamped > 0 {
                let top = self.histogram.highest_us / 1_000_000;
                let _ = writeln!(
                    s,
                    "    {:<10} {} above {top} s, counted as {top} s",
                    "", p.clamped
                );
            }
        }
        let left_out = [&self.latency_us, &self.connect_latency_us]
            .iter()
            .any(|p| p.any_left_out());
        let _ = writeln!(
            s,
            "  precision    {} significant figures (within 0.1%){}",
            self.histogram.significant_figures,
            if left_out {
                format!(
                    "; n/a: too few samples (p90 needs {}, p99 {}, p99.9 {})",
                    min_samples(0.9),
                    min_samples(0.99),
                    min_samples(0.999)
                )
            } else {
                String::new()
            }
        );
    }
}
