//! The text report of `sockloop report`: the run's settings and totals,
//! the whole-run latency table (from the merged histograms), one row per
//! part when merged, and how the merge was made.

use super::model::RunDoc;
use std::fmt::Write as _;

/// The report for humans.
pub fn human(doc: &RunDoc) -> String {
    let mut s = String::new();
    let unknown = || "?".to_owned();
    let mode = doc.mode();
    let parts = doc.merged.as_ref().map_or(1, |m| m.parts);
    // Writing to a String cannot fail.
    let _ = writeln!(
        s,
        "sockloop report: {} {} {}: {} connections, {mode}, depth {}, {:.3} s window, {parts} part{}",
        doc.label.as_deref().unwrap_or(""),
        doc.service.clone().unwrap_or_else(unknown),
        doc.target.clone().unwrap_or_else(unknown),
        doc.conns.map_or_else(unknown, |c| c.to_string()),
        doc.depth.map_or_else(unknown, |d| d.to_string()),
        doc.duration_secs,
        if parts == 1 { "" } else { "s" }
    );
    let c = &doc.connections;
    let _ = writeln!(
        s,
        "  connections  {} opened, {} failed, {} closed by server",
        c.opened, c.failed, c.closed_by_server
    );
    if let Some(churn) = &doc.churn {
        let _ = writeln!(
            s,
            "  churn        {:.1} connections/s over the window ({} opened); {} closed after \
             {} replies each (--close {})",
            churn.conns_per_sec,
            churn.opened_in_window,
            churn.recycled,
            churn.requests_per_conn,
            churn.close
        );
    }
    let r = &doc.requests;
    let _ = writeln!(
        s,
        "  requests     {} sent, {} completed, {} verify errors",
        r.sent, r.completed, r.verify_errors
    );
    if let Some(sched) = &doc.schedule {
        let _ = writeln!(
            s,
            "  schedule     {} scheduled, {} sent, {} never sent ({:.1}%)",
            sched.scheduled, sched.sent, sched.shortfall, sched.shortfall_percent
        );
    }
    let _ = writeln!(
        s,
        "  throughput   {:.1} msg/s, {:.2} MB/s (sent + received)",
        doc.throughput.msgs_per_sec,
        doc.throughput.bytes_per_sec / 1e6
    );
    let _ = writeln!(
        s,
        "  latency us   {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>11}",
        "samples", "p50", "p90", "p99", "p99.9", "max", "mean"
    );
    let lag = doc.schedule.as_ref().map(|sc| ("sched. lag", &sc.lag_us));
    let rows = [
        Some(("request", &doc.latency_us)),
        Some(("connect", &doc.connect_latency_us)),
        lag,
    ];
    for (name, p) in rows.into_iter().flatten() {
        let _ = writeln!(s, "    {name:<10} {}", p.row());
    }
    for (reason, n) in &doc.errors {
        let _ = writeln!(s, "  error        {n} x {reason}");
    }
    let g = &doc.generator;
    let _ = writeln!(
        s,
        "  generator    {:.1}% of one core (busiest part){}",
        g.cpu_percent,
        if g.saturated {
            format!(" (SATURATED: {})", g.saturated_by.join(", "))
        } else {
            String::new()
        }
    );
    if !doc.hosts.is_empty() {
        let _ = writeln!(
            s,
            "  {:<20} {:>8} {:>10} {:>10} {:>7} {:>10} {:>8} {:>8} {:>6}  start",
            "part", "conns", "sent", "completed", "errors", "msg/s", "p50 us", "p99 us", "cpu %"
        );
        let cell = |v: Option<u64>| v.map_or_else(|| "n/a".to_owned(), |v| v.to_string());
        for h in &doc.hosts {
            let _ = writeln!(
                s,
                "  {:<20} {:>8} {:>10} {:>10} {:>7} {:>10.1} {:>8} {:>8} {:>6.1}  {}{}",
                h.label,
                h.opened,
                h.sent,
                h.completed,
                h.errors,
                h.msgs_per_sec,
                cell(h.p50_us),
                cell(h.p99_us),
                h.cpu_percent,
                h.window_start_unix
                    .map_or_else(|| "?".to_owned(), |u| u.to_string()),
                if h.saturated_by.is_empty() {
                    String::new()
                } else {
                    format!(" SATURATED ({})", h.saturated_by.join(", "))
                }
            );
        }
    }
    if let Some(m) = &doc.merged {
        let _ = writeln!(s, "  merged       {}", m.method);
        for w in &m.warnings {
            let _ = writeln!(s, "  warning      {w}");
        }
    }
    s
}
