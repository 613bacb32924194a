//! The HTML report's tables: the settings with the generator's saturation
//! verdict, the whole-run totals and latency, and one row per part with how
//! the merge was made. Every text from a report goes through [`escape`].

use super::html::escape;
use super::model::{RunDoc, Summary};
use std::fmt::Write as _;

/// The settings table and the saturation verdict.
pub fn settings(s: &mut String, doc: &RunDoc) {
    let opt = |v: Option<String>| escape(&v.unwrap_or_else(|| "?".into()));
    let mode = doc.mode();
    let start = doc.start_at.map(|t| {
        chrono::DateTime::from_timestamp_millis((t * 1000.0) as i64)
            .map_or_else(|| t.to_string(), |d| d.to_rfc3339())
    });
    let rows = [
        ("service", opt(doc.service.clone())),
        ("target", opt(doc.target.clone())),
        (
            "connections",
            opt(doc
                .conns
                .filter(|_| doc.service.is_some())
                .map(|c| c.to_string())),
        ),
        ("mode", escape(&mode)),
        ("depth", opt(doc.depth.map(|d| d.to_string()))),
        ("message size (bytes)", opt(doc.size.map(|d| d.to_string()))),
        ("window (s)", format!("{:.3}", doc.duration_secs)),
        ("--start-at", opt(start)),
    ];
    s.push_str("<h2>Settings</h2>\n<table>");
    for (k, v) in rows {
        let _ = write!(
            s,
            "<tr><th class=\"l\">{k}</th><td class=\"l\">{v}</td></tr>"
        );
    }
    s.push_str("</table>\n");
    let g = &doc.generator;
    let _ = writeln!(
        s,
        "<p>Generator: {:.1}% of one core (the busiest part). {}</p>",
        g.cpu_percent,
        if g.saturated {
            format!(
                "<span class=\"bad\">SATURATED ({}): the numbers may describe the generator, not \
                 the target.</span>",
                escape(&g.saturated_by.join(", "))
            )
        } else {
            "<span class=\"ok\">Not saturated.</span>".into()
        }
    );
}

/// Requests, latency and errors over the whole run.
pub fn totals(s: &mut String, doc: &RunDoc) {
    let c = &doc.connections;
    let r = &doc.requests;
    let _ = write!(
        s,
        "<h2>Totals</h2>\n<table><tr><th>connections opened</th><th>failed</th>\
         <th>closed by server</th><th>requests sent</th><th>completed</th>\
         <th>verify errors</th><th>replies/s</th><th>MB/s (both ways)</th></tr>\
         <tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
         <td>{:.1}</td><td>{:.2}</td></tr></table>\n",
        c.opened,
        c.failed,
        c.closed_by_server,
        r.sent,
        r.completed,
        r.verify_errors,
        doc.throughput.msgs_per_sec,
        doc.throughput.bytes_per_sec / 1e6
    );
    s.push_str(
        "<table><tr><th class=\"l\">latency (µs)</th><th>samples</th><th>p50</th><th>p90</th>\
         <th>p99</th><th>p99.9</th><th>max</th><th>mean</th></tr>",
    );
    let lag = doc.schedule.as_ref().map(|sc| ("schedule lag", &sc.lag_us));
    for (name, p) in [
        Some(("request", &doc.latency_us)),
        Some(("connect", &doc.connect_latency_us)),
        lag,
    ]
    .into_iter()
    .flatten()
    {
        latency_row(s, name, p);
    }
    s.push_str("</table>\n");
    if !doc.errors.is_empty() {
        s.push_str("<table><tr><th class=\"l\">error</th><th>count</th></tr>");
        for (cause, n) in &doc.errors {
            let _ = write!(
                s,
                "<tr><td class=\"l\">{}</td><td>{n}</td></tr>",
                escape(cause)
            );
        }
        s.push_str("</table>\n");
    }
}

fn latency_row(s: &mut String, name: &str, p: &Summary) {
    let cell = |v: Option<u64>| v.map_or_else(|| "n/a".to_owned(), |v| v.to_string());
    let _ = write!(
        s,
        "<tr><td class=\"l\">{name}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
         <td>{}</td><td>{}</td><td>{}</td></tr>",
        p.samples,
        cell(p.p50),
        cell(p.p90),
        cell(p.p99),
        cell(p.p999),
        cell(p.max),
        p.mean
            .map_or_else(|| "n/a".to_owned(), |m| format!("{m:.1}"))
    );
}

/// One row per part, and how the merge was made.
pub fn hosts(s: &mut String, doc: &RunDoc) {
    if doc.hosts.is_empty() {
        return;
    }
    s.push_str(
        "<h2>Parts</h2>\n<table><tr><th class=\"l\">part</th><th class=\"l\">target</th>\
         <th>opened</th><th>sent</th><th>completed</th><th>errors</th><th>replies/s</th>\
         <th>p50 µs</th><th>p99 µs</th><th>window start (unix)</th><th>CPU %</th>\
         <th class=\"l\">generator</th></tr>",
    );
    let cell = |v: Option<u64>| v.map_or_else(|| "n/a".to_owned(), |v| v.to_string());
    for h in &doc.hosts {
        let verdict = if h.saturated_by.is_empty() {
            "<span class=\"ok\">ok</span>".to_owned()
        } else {
            format!(
                "<span class=\"bad\">saturated ({})</span>",
                escape(&h.saturated_by.join(", "))
            )
        };
        let _ = write!(
            s,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{:.1}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td>\
             <td class=\"l\">{verdict}</td></tr>",
            escape(&h.label),
            escape(h.target.as_deref().unwrap_or("?")),
            h.opened,
            h.sent,
            h.completed,
            h.errors,
            h.msgs_per_sec,
            cell(h.p50_us),
            cell(h.p99_us),
            h.window_start_unix
                .map_or_else(|| "?".to_owned(), |u| u.to_string()),
            h.cpu_percent
        );
    }
    s.push_str("</table>\n");
    if let Some(m) = &doc.merged {
        let _ = writeln!(s, "<p>Merged {} parts: {}.</p>", m.parts, escape(&m.method));
        for w in &m.warnings {
            let _ = writeln!(s, "<p class=\"bad\">{}</p>", escape(w));
        }
    }
}
