//! Collecting the end-to-end figures per server and printing them: medians
//! over the rounds, then sockloop's figures as ratios to each other server.
//!
//! The table is Markdown so it can be pasted into docs/benchmarks.md as is.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One figure measured per server (per round, or once).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Metric {
    /// Echo messages per second at depth 1.
    RateD1,
    /// Echo messages per second at depth 16.
    RateD16,
    /// p99 latency at depth 1, µs.
    P99D1,
    /// p99 latency at depth 16, µs.
    P99D16,
    /// Server CPU per message at depth 1, µs.
    CpuD1,
    /// Server CPU per message at depth 16, µs.
    CpuD16,
    /// The user-space part of [`Metric::CpuD1`], µs.
    UserD1,
    /// The user-space part of [`Metric::CpuD16`], µs.
    UserD16,
    /// Resident bytes per idle connection.
    IdleRss,
    /// Syscalls per message at depth 1 (perf, full speed).
    SysD1,
    /// Syscalls per message at depth 16 (perf, full speed).
    SysD16,
    /// Syscalls per message at a fixed rate (strace -c).
    SysStrace,
    /// UDP echo datagrams per second, 64 bytes.
    UdpRate64,
    /// UDP echo datagrams per second, 1,400 bytes.
    UdpRate1400,
    /// Server CPU per datagram echoed, 64 bytes, µs.
    UdpCpu64,
    /// Server CPU per datagram echoed, 1,400 bytes, µs.
    UdpCpu1400,
    /// The user-space part of [`Metric::UdpCpu64`], µs.
    UdpUser64,
    /// The user-space part of [`Metric::UdpCpu1400`], µs.
    UdpUser1400,
    /// Datagrams lost per run, 64 bytes.
    UdpLost64,
    /// Datagrams lost per run, 1,400 bytes.
    UdpLost1400,
    /// Churn: new connections per second, one echo each.
    Cps,
    /// Churn: server CPU per connection, µs.
    CpuPerConn,
    /// The user-space part of [`Metric::CpuPerConn`], µs.
    UserPerConn,
    /// Churn: p99 connect latency, µs.
    ConnectP99,
}

impl Metric {
    /// Every metric, in table order.
    pub const ALL: [Metric; 24] = [
        Metric::RateD1,
        Metric::RateD16,
        Metric::P99D1,
        Metric::P99D16,
        Metric::CpuD1,
        Metric::CpuD16,
        Metric::UserD1,
        Metric::UserD16,
        Metric::IdleRss,
        Metric::SysD1,
        Metric::SysD16,
        Metric::SysStrace,
        Metric::UdpRate64,
        Metric::UdpRate1400,
        Metric::UdpCpu64,
        Metric::UdpCpu1400,
        Metric::UdpUser64,
        Metric::UdpUser1400,
        Metric::UdpLost64,
        Metric::UdpLost1400,
        Metric::Cps,
        Metric::CpuPerConn,
        Metric::UserPerConn,
        Metric::ConnectP99,
    ];

    fn header(self) -> &'static str {
        match self {
            Metric::RateD1 => "msgs/s d1",
            Metric::RateD16 => "msgs/s d16",
            Metric::P99D1 => "p99 µs d1",
            Metric::P99D16 => "p99 µs d16",
            Metric::CpuD1 => "CPU µs/msg d1",
            Metric::CpuD16 => "CPU µs/msg d16",
            Metric::UserD1 => "user µs/msg d1",
            Metric::UserD16 => "user µs/msg d16",
            Metric::IdleRss => "RssAnon B/idle conn",
            Metric::SysD1 => "syscalls/msg d1",
            Metric::SysD16 => "syscalls/msg d16",
            Metric::SysStrace => "syscalls/msg strace",
            Metric::UdpRate64 => "msgs/s 64 B",
            Metric::UdpRate1400 => "msgs/s 1400 B",
            Metric::UdpCpu64 => "CPU µs/dgram 64 B",
            Metric::UdpCpu1400 => "CPU µs/dgram 1400 B",
            Metric::UdpUser64 => "user µs/dgram 64 B",
            Metric::UdpUser1400 => "user µs/dgram 1400 B",
            Metric::UdpLost64 => "lost/run 64 B",
            Metric::UdpLost1400 => "lost/run 1400 B",
            Metric::Cps => "conns/s",
            Metric::CpuPerConn => "CPU µs/conn",
            Metric::UserPerConn => "user µs/conn",
            Metric::ConnectP99 => "connect p99 µs",
        }
    }

    /// A messages-per-second figure (its spread is listed per round).
    fn is_rate(self) -> bool {
        matches!(
            self,
            Metric::RateD1
                | Metric::RateD16
                | Metric::UdpRate64
                | Metric::UdpRate1400
                | Metric::Cps
        )
    }

    fn format(self, value: f64) -> String {
        match self {
            Metric::RateD1
            | Metric::RateD16
            | Metric::P99D1
            | Metric::P99D16
            | Metric::UdpRate64
            | Metric::UdpRate1400
            | Metric::UdpLost64
            | Metric::UdpLost1400
            | Metric::Cps
            | Metric::ConnectP99 => format!("{value:.0}"),
            Metric::IdleRss => format!("{value:.0}"),
            _ => format!("{value:.2}"),
        }
    }
}

/// Everything measured, by server and metric, plus notes for the reader.
#[derive(Debug, Default)]
pub struct Results {
    servers: Vec<&'static str>,
    /// (round, value) per server and metric; round 0 = measured once.
    samples: BTreeMap<(&'static str, Metric), Vec<(usize, f64)>>,
    /// The round that [`Results::add`] files samples under.
    pub round: usize,
    /// Per server: (runs where the generator said it was saturated, runs).
    saturation: BTreeMap<&'static str, (usize, usize)>,
    /// Per server: the generator's own CPU % in its depth-16 runs.
    generator_cpu: BTreeMap<&'static str, Vec<f64>>,
    /// Free-form lines printed under the table (breakdowns, failures).
    pub notes: Vec<String>,
    /// Which runs the generator's CPU is given for, e.g. `depth 16`.
    pub generator_cpu_runs: &'static str,
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

impl Results {
    /// Records one sample, filed under the current round.
    pub fn add(&mut self, server: &'static str, metric: Metric, value: f64) {
        if !self.servers.contains(&server) {
            self.servers.push(server);
        }
        let round = self.round;
        self.samples
            .entry((server, metric))
            .or_default()
            .push((round, value));
    }

    fn values(&self, server: &str, metric: Metric) -> Vec<f64> {
        self.samples
            .iter()
            .find(|((s, m), _)| *s == server && *m == metric)
            .map(|(_, samples)| samples.iter().map(|(_, v)| *v).collect())
            .unwrap_or_default()
    }

    /// The median over rounds of sockloop's figure divided by `other`'s in
    /// the same round: pairing runs made seconds apart cancels the slower
    /// drift of a shared machine. `None` for figures measured once.
    fn paired_ratio(&self, other: &str, metric: Metric) -> Option<f64> {
        let of = |server| {
            self.samples
                .iter()
                .find(|((s, m), _)| *s == server && *m == metric)
        };
        let (_, ours) = of("sockloop")?;
        let (_, theirs) = of(other)?;
        let ratios: Vec<f64> = ours
            .iter()
            .filter_map(|(round, a)| {
                let (_, b) = theirs.iter().find(|(r, _)| r == round)?;
                (*b != 0.0).then(|| a / b)
            })
            .collect();
        if ratios.len() < 2 {
            return None;
        }
        median(&ratios)
    }

    /// Records the generator's own state in one throughput run.
    pub fn add_generator(&mut self, server: &'static str, saturated: bool, cpu: Option<f64>) {
        let entry = self.saturation.entry(server).or_default();
        entry.0 += usize::from(saturated);
        entry.1 += 1;
        if let Some(cpu) = cpu {
            self.generator_cpu.entry(server).or_default().push(cpu);
        }
    }

    /// The median of one server's samples of `metric`.
    pub fn median(&self, server: &str, metric: Metric) -> Option<f64> {
        median(&self.values(server, metric))
    }

    /// The whole report: table, ratios, generator state, notes.
    pub fn render(&self) -> String {
        let metrics: Vec<Metric> = Metric::ALL
            .into_iter()
            .filter(|m| self.servers.iter().any(|s| self.median(s, *m).is_some()))
            .collect();
        let mut out = String::new();
        let headers: Vec<&str> = metrics.iter().map(|m| m.header()).collect();
        let _ = writeln!(out, "| server | {} |", headers.join(" | "));
        let _ = writeln!(out, "|---|{}", "---:|".repeat(metrics.len()));
        for server in &self.servers {
            let cells: Vec<String> = metrics
                .iter()
                .map(|m| self.median(server, *m).map_or("-".into(), |v| m.format(v)))
                .collect();
            let _ = writeln!(out, "| {server} | {} |", cells.join(" | "));
        }
        for other in self.servers.iter().filter(|s| **s != "sockloop") {
            let cells: Vec<String> = metrics
                .iter()
                .map(
                    |m| match (self.median("sockloop", *m), self.median(other, *m)) {
                        (Some(a), Some(b)) if b != 0.0 => format!("{:.2}x", a / b),
                        _ => "-".into(),
                    },
                )
                .collect();
            let _ = writeln!(out, "| sockloop / {other} | {} |", cells.join(" | "));
        }
        for other in self.servers.iter().filter(|s| **s != "sockloop") {
            let cells: Vec<String> = metrics
                .iter()
                .map(|m| {
                    self.paired_ratio(other, *m)
                        .map_or("-".into(), |r| format!("{r:.2}x"))
                })
                .collect();
            let _ = writeln!(
                out,
                "| same, paired by round: / {other} | {} |",
                cells.join(" | ")
            );
        }
        let _ = writeln!(out);
        for server in &self.servers {
            let (saturated, runs) = self.saturation.get(server).copied().unwrap_or_default();
            let cpu = self
                .generator_cpu
                .get(server)
                .and_then(|v| median(v))
                .map_or("-".into(), |c| format!("{c:.0}%"));
            let _ = writeln!(
                out,
                "- generator vs {server}: saturated in {saturated} of {runs} runs; \
                 its CPU at {} (median) {cpu}",
                self.generator_cpu_runs
            );
        }
        for server in &self.servers {
            let spreads: Vec<String> = metrics
                .iter()
                .filter(|m| m.is_rate())
                .map(|m| {
                    let mut values = self.values(server, *m);
                    values.sort_by(f64::total_cmp);
                    let shown: Vec<String> = values.iter().map(|v| format!("{v:.0}")).collect();
                    format!("{}: {}", m.header(), shown.join(" "))
                })
                .collect();
            let _ = writeln!(out, "- {server} per round, sorted: {}", spreads.join("; "));
        }
        for note in &self.notes {
            let _ = writeln!(out, "- {note}");
        }
        out
    }
}
