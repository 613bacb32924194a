//! The Prometheus text exposition (format 0.0.4) of the server's counters.
//!
//! Rendered by the loop from [`Stats`] when the metrics endpoint
//! ([`crate::protocol::metrics`], which knows HTTP but not the counters)
//! asks for its body through `Ctx::exposition` (`tcp.rs`); nothing is kept
//! between scrapes. With `--workers`, each worker serves its own endpoint
//! and labels every sample `worker="N"`, N from its configuration
//! ([`crate::config::ServeConfig::worker`]).
//! Label values are snake_case, as Prometheus's own are
//! (`reason="line_too_long"`, `reason="source_port"`).

use super::stats::{Stats, TCP_SERVICES};
use crate::protocol::CloseReason;
use crate::protocol::metrics::Status;
use crate::protocol::udp::guard::Drop;
use std::fmt::Write;

/// The exposition text of `stats`, every sample labelled `worker="N"` for
/// worker N of a `--workers` parent.
pub fn render(stats: &Stats, worker: Option<u16>) -> String {
    let worker = worker.map(|w| format!("worker=\"{w}\""));
    let mut out = Exposition {
        text: String::with_capacity(4096),
        worker,
    };
    out.counter(
        "sockloop_connections_accepted_total",
        "TCP connections accepted.",
        &[],
        stats.accepted,
    );
    out.gauge(
        "sockloop_connections_active",
        "TCP connections open now.",
        stats.active,
    );
    out.gauge(
        "sockloop_connections_peak",
        "Most TCP connections open at once.",
        stats.peak,
    );
    out.counter(
        "sockloop_connections_refused_full_total",
        "Connections refused with ERR server full.",
        &[],
        stats.refused_full,
    );
    out.gauge(
        "sockloop_connections_refused_lingering",
        "Refused connections lingering now so their ERR line arrives.",
        stats.refused_lingering,
    );
    out.counter(
        "sockloop_connections_refused_cut_total",
        "Lingering refusals closed early to make room for a newer one.",
        &[],
        stats.refused_cut,
    );
    out.help(
        "sockloop_connections_closed_total",
        "counter",
        "TCP connections closed, by reason.",
    );
    for reason in CloseReason::ALL {
        out.sample(
            "sockloop_connections_closed_total",
            &[("reason", reason.name())],
            stats.closed_for(reason),
        );
    }
    out.gauge(
        "sockloop_output_pending_bytes",
        "Reply bytes waiting for the kernel across all connections (capped by --output-budget).",
        stats.output_pending_bytes,
    );
    out.gauge(
        "sockloop_output_pending_connections",
        "Connections with replies waiting for the kernel: their reading is paused.",
        stats.output_pending_conns,
    );
    out.counter(
        "sockloop_accept_backoffs_total",
        "Accept pauses after EMFILE/ENFILE.",
        &[],
        stats.accept_backoffs,
    );
    out.counter(
        "sockloop_bytes_in_total",
        "TCP bytes read.",
        &[],
        stats.bytes_in,
    );
    out.counter(
        "sockloop_bytes_out_total",
        "TCP bytes written.",
        &[],
        stats.bytes_out,
    );
    out.help(
        "sockloop_requests_total",
        "counter",
        "Requests answered, by service (echo: reads).",
    );
    for service in TCP_SERVICES {
        out.sample(
            "sockloop_requests_total",
            &[("service", service.name())],
            stats.requests_for(service),
        );
    }
    out.help(
        "sockloop_logins_total",
        "counter",
        "Login attempts, by result.",
    );
    out.sample(
        "sockloop_logins_total",
        &[("result", "ok")],
        stats.logins_ok,
    );
    out.sample(
        "sockloop_logins_total",
        &[("result", "failed")],
        stats.logins_failed,
    );
    out.counter(
        "sockloop_logins_refused_total",
        "Login connections refused at accept: a failing source with too many unauthenticated ones.",
        &[],
        stats.logins_refused,
    );
    out.counter(
        "sockloop_udp_datagrams_received_total",
        "UDP datagrams received.",
        &[],
        stats.udp_in,
    );
    out.counter(
        "sockloop_udp_datagrams_sent_total",
        "UDP datagrams sent.",
        &[],
        stats.udp_out,
    );
    out.help(
        "sockloop_udp_datagrams_dropped_total",
        "counter",
        "UDP datagrams dropped, by reason.",
    );
    out.sample(
        "sockloop_udp_datagrams_dropped_total",
        &[("reason", "send_failed")],
        stats.udp_dropped,
    );
    for reason in Drop::ALL.into_iter().filter(|d| !d.is_log()) {
        out.sample(
            "sockloop_udp_datagrams_dropped_total",
            &[("reason", reason.name())],
            stats.udp_drops[reason.index()],
        );
    }
    out.help(
        "sockloop_udp_log_lines_suppressed_total",
        "counter",
        "udp-log datagrams received but not logged, by rate limit.",
    );
    for reason in Drop::ALL.into_iter().filter(|d| d.is_log()) {
        out.sample(
            "sockloop_udp_log_lines_suppressed_total",
            &[("reason", reason.name())],
            stats.udp_drops[reason.index()],
        );
    }
    out.counter(
        "sockloop_log_lines_dropped_total",
        "Log lines dropped because the log writer fell behind (stderr not read fast enough).",
        &[],
        stats.log_lines_dropped,
    );
    out.counter(
        "sockloop_udp_kernel_drops_total",
        "UDP datagrams the kernel dropped before the loop read them (receive queue full).",
        &[],
        stats.udp_kernel_drops,
    );
    out.counter(
        "sockloop_loop_turns_total",
        "Event-loop turns (poll returns).",
        &[],
        stats.loop_turns,
    );
    out.counter(
        "sockloop_loop_events_total",
        "Readiness events handled.",
        &[],
        stats.events,
    );
    out.help(
        "sockloop_loop_seconds_total",
        "counter",
        "Event-loop time, waiting in poll or working.",
    );
    out.sample_f64(
        "sockloop_loop_seconds_total",
        &[("state", "poll")],
        stats.poll_wait_ns as f64 / 1e9,
    );
    out.sample_f64(
        "sockloop_loop_seconds_total",
        &[("state", "work")],
        stats.busy_ns as f64 / 1e9,
    );
    endpoint(&mut out, stats);
    out.text
}

/// The metrics endpoint's own families, after promhttp's
/// `promhttp_metric_handler_requests_total{code}`. Scrapes move only these,
/// never the `sockloop_connections_*` / `sockloop_bytes_*` families above.
fn endpoint(out: &mut Exposition, stats: &Stats) {
    out.counter(
        "sockloop_metrics_connections_accepted_total",
        "Connections accepted by the metrics endpoint (not in sockloop_connections_*).",
        &[],
        stats.metrics.accepted,
    );
    out.gauge(
        "sockloop_metrics_connections_active",
        "Metrics endpoint connections open now, this scrape's included.",
        stats.metrics.active,
    );
    out.help(
        "sockloop_metrics_requests_total",
        "counter",
        "Metrics endpoint responses, by HTTP status code (503: refused, server full).",
    );
    for status in Status::ALL {
        out.sample(
            "sockloop_metrics_requests_total",
            &[("code", &status.code().to_string())],
            stats.metrics.responses[status.index()],
        );
    }
}

/// Builds the text, adding the worker label to every sample.
struct Exposition {
    text: String,
    worker: Option<String>,
}

impl Exposition {
    fn help(&mut self, name: &str, kind: &str, help: &str) {
        // Writing to a String cannot fail.
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn counter(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: u64) {
        self.help(name, "counter", help);
        self.sample(name, labels, value);
    }

    fn gauge(&mut self, name: &str, help: &str, value: u64) {
        self.help(name, "gauge", help);
        self.sample(name, &[], value);
    }

    fn labels(&self, labels: &[(&str, &str)]) -> String {
        let mut all: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        all.extend(self.worker.clone());
        if all.is_empty() {
            String::new()
        } else {
            format!("{{{}}}", all.join(","))
        }
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        let labels = self.labels(labels);
        let _ = writeln!(self.text, "{name}{labels} {value}");
    }

    fn sample_f64(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let labels = self.labels(labels);
        let _ = writeln!(self.text, "{name}{labels} {value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_has_help_type_and_samples() {
        let mut stats = Stats::default();
        stats.opened(crate::protocol::Service::Greet);
        stats.closed(crate::protocol::Service::Greet, CloseReason::Idle);
        let text = render(&stats, None);
        assert!(text.contains("# TYPE sockloop_connections_accepted_total counter\n"));
        assert!(text.contains("sockloop_connections_accepted_total 1\n"));
        assert!(text.contains("sockloop_connections_closed_total{reason=\"idle\"} 1\n"));
        assert!(text.contains("sockloop_requests_total{service=\"greet\"} 0\n"));
        assert!(text.contains("sockloop_metrics_requests_total{code=\"431\"} 0\n"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }

    /// Prometheus's usual style: every label value is snake_case.
    #[test]
    fn label_values_are_snake_case() {
        let text = render(&Stats::default(), Some(3));
        for value in text.split('"').skip(1).step_by(2) {
            assert!(
                value
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "label value {value:?} is not snake_case"
            );
        }
    }
}
