//! Merging the parts of one run (hosts, or workers) into one [`RunDoc`].
//!
//! # What is exact and what is not
//! - Counts add. Rates (replies per second, bytes per second) add: the
//!   parts ran side by side over the same window.
//! - Whole-run latencies are exact: the parts' full histograms are added
//!   and the percentiles read from the sum; a percentile is never averaged.
//!   A part without histograms cannot be merged (its percentiles alone
//!   cannot be), and is refused.
//! - The time series is aligned on wall-clock (unix) seconds and summed
//!   (`series.rs`). Its per-second `p50_us`/`p99_us` (and a stage's
//!   percentiles) are the largest part's: an upper bound on the merged
//!   percentile (at most `1 - q` of each part lies above its own, so at most
//!   `1 - q` of all lies above the largest), exact only with one part.
//!   `max_us` is exact. Where every part carries per-second histograms
//!   (interval logs), the seconds are exact too (`exact.rs`).
//! - The generator's verdict: the busiest part's CPU, saturated if any part
//!   was, and every part's own verdict in `hosts`.
//!
//! # Settings
//! Parts must be of one run: the same service, message size, depth and
//! rate (open loop at the same rate, or all closed loop). Anything else is
//! refused, naming the two files and the setting ([`check_settings`]).
//! Parts read from interval logs carry no settings and are not compared.

use super::exact::exact_seconds;
use super::model::{
    Churn, Connections, Failures, Generator, HostRow, KernelDrops, MergeNote, Requests, RunDoc,
    Schedule, Throughput, Udp,
};
use super::read::rehome;
use super::series::{merge_search, merge_series, merge_stages};
use crate::load::hdr_log::{from_base64, to_base64};
use crate::load::measurements::{Unsent, new_histogram};
use crate::load::percentiles::Percentiles;
use hdrhistogram::Histogram;

/// How the merge treats each figure, as written into `merged.method`.
pub const METHOD: &str = "counts and rates summed; whole-run latency percentiles read from the \
     sum of the parts' histograms (exact); series aligned on unix seconds and summed, per-second \
     and per-stage p50/p99 the largest part's (an upper bound), max exact";

/// `merged.method` when every part carried per-second histograms
/// (`exact.rs`).
pub const METHOD_EXACT_SECONDS: &str = "counts and rates summed; whole-run latency percentiles \
     read from the sum of the parts' histograms (exact); series aligned on unix seconds and \
     summed, per-second percentiles read from the sum of the parts' per-second histograms \
     (exact), per-stage p50/p99 the largest part's (an upper bound)";

/// The parts' settings agree, or why not (naming the parts).
pub fn check_settings(parts: &[RunDoc]) -> Result<(), String> {
    let with_settings: Vec<&RunDoc> = parts.iter().filter(|p| p.service.is_some()).collect();
    let Some(first) = with_settings.first() else {
        return Ok(());
    };
    let name = |p: &RunDoc| p.label.clone().unwrap_or_default();
    let show = |v: Option<String>| v.unwrap_or_else(|| "none".into());
    for p in &with_settings[1..] {
        let checks: [(&str, Option<String>, Option<String>); 4] = [
            ("--service", first.service.clone(), p.service.clone()),
            (
                "--size",
                first.size.map(|v| v.to_string()),
                p.size.map(|v| v.to_string()),
            ),
            (
                "--depth",
                first.depth.map(|v| v.to_string()),
                p.depth.map(|v| v.to_string()),
            ),
            // Open loop at one rate per connection, or all closed loop.
            (
                "--rate",
                first.rate.map(|v| v.to_string()),
                p.rate.map(|v| v.to_string()),
            ),
        ];
        for (flag, a, b) in checks {
            if a != b {
                return Err(format!(
                    "cannot merge runs with different settings: {} has {flag} {}, {} has {flag} {} \
                     (merge only the parts of one run)",
                    name(first),
                    show(a),
                    name(p),
                    show(b)
                ));
            }
        }
    }
    Ok(())
}

/// One part's three histograms, decoded.
struct Hists {
    request: Histogram<u64>,
    connect: Histogram<u64>,
    lag: Histogram<u64>,
}

fn hists_of(p: &RunDoc) -> Result<Hists, String> {
    let name = p.label.clone().unwrap_or_default();
    let h = p.histograms.as_ref().ok_or_else(|| {
        format!(
            "{name} has no histograms (a report from an older sockloop): its percentiles \
             cannot be merged exactly, and are never averaged"
        )
    })?;
    let one = |text: &str, what: &str| -> Result<Histogram<u64>, String> {
        if text.is_empty() {
            return Ok(new_histogram());
        }
        from_base64(text)
            .and_then(rehome)
            .map_err(|e| format!("{name}: histograms.{what}: {e}"))
    };
    Ok(Hists {
        request: one(&h.request_ns, "request_ns")?,
        connect: one(&h.connect_ns, "connect_ns")?,
        lag: one(&h.schedule_lag_ns, "schedule_lag_ns")?,
    })
}

/// Merges `parts` (at least one) into one report; refused when their
/// settings differ or a part has no histograms.
pub fn merge(parts: &[RunDoc]) -> Result<RunDoc, String> {
    let Some(first) = parts.first() else {
        return Err("nothing to merge".into());
    };
    check_settings(parts)?;
    let mut sum = Hists {
        request: new_histogram(),
        connect: new_histogram(),
        lag: new_histogram(),
    };
    for p in parts {
        let h = hists_of(p)?;
        // Both grow on demand (rehomed into `new_histogram`): adding fails
        // only if the counts' length would overflow a usize.
        let _ = sum.request.add(&h.request);
        let _ = sum.connect.add(&h.connect);
        let _ = sum.lag.add(&h.lag);
    }
    let total = |f: &dyn Fn(&RunDoc) -> u64| parts.iter().map(f).sum::<u64>();
    let settings = parts.iter().find(|p| p.service.is_some()).unwrap_or(first);
    let ramp_secs = parts
        .iter()
        .map(|p| p.connections.ramp_secs)
        .fold(0.0, f64::max);
    let opened = total(&|p| p.connections.opened);
    let mut warnings = Vec::new();
    let mut labels: Vec<&str> = parts.iter().filter_map(|p| p.label.as_deref()).collect();
    labels.sort_unstable();
    for twice in labels.windows(2).filter(|w| w[0] == w[1]) {
        warnings.push(format!(
            "two parts are labelled {}: the same report given twice is counted twice",
            twice[0]
        ));
    }
    let mut starts: Vec<String> = parts
        .iter()
        .filter_map(|p| p.start_at.map(|t| t.to_string()))
        .collect();
    starts.sort();
    starts.dedup();
    if starts.len() > 1 {
        warnings.push(format!(
            "the parts were given different --start-at times ({})",
            starts.join(", ")
        ));
    }
    let mut series = merge_series(parts, &mut warnings);
    let series_histograms = series
        .as_mut()
        .and_then(|merged| exact_seconds(parts, merged, &mut warnings));
    let method = if series_histograms.is_some() {
        METHOD_EXACT_SECONDS
    } else {
        METHOD
    };
    let doc = RunDoc {
        version: Some(super::model::VERSION),
        label: Some(
            parts
                .iter()
                .map(|p| p.label.clone().unwrap_or_default())
                .collect::<Vec<_>>()
                .join(" + "),
        ),
        start_at: first.start_at,
        service: settings.service.clone(),
        target: settings.target.clone(),
        conns: Some(total(&|p| p.conns.unwrap_or(0))),
        depth: settings.depth,
        rate: settings.rate,
        size: settings.size,
        duration_secs: parts.iter().map(|p| p.duration_secs).fold(0.0, f64::max),
        connections: Connections {
            opened,
            failed: total(&|p| p.connections.failed),
            closed_by_server: total(&|p| p.connections.closed_by_server),
            ramp_secs,
            per_sec: if ramp_secs > 0.0 {
                round3(opened as f64 / ramp_secs)
            } else {
                0.0
            },
            failures: parts
                .iter()
                .filter_map(|p| p.connections.failures)
                .reduce(Failures::plus),
        },
        churn: merge_churn(parts),
        requests: Requests {
            sent: total(&|p| p.requests.sent),
            completed: total(&|p| p.requests.completed),
            verify_errors: total(&|p| p.requests.verify_errors),
        },
        schedule: merge_schedule(parts, &sum.lag),
        throughput: Throughput {
            msgs_per_sec: round3(parts.iter().map(|p| p.throughput.msgs_per_sec).sum()),
            bytes_per_sec: round3(parts.iter().map(|p| p.throughput.bytes_per_sec).sum()),
        },
        latency_us: Percentiles::of(&sum.request, total(&|p| p.latency_us.clamped)),
        connect_latency_us: Percentiles::of(&sum.connect, total(&|p| p.connect_latency_us.clamped)),
        histogram: first.histogram.clone(),
        histograms: Some(super::model::Histograms {
            request_ns: to_base64(&sum.request),
            connect_ns: to_base64(&sum.connect),
            schedule_lag_ns: to_base64(&sum.lag),
        }),
        udp: Udp {
            sent: total(&|p| p.udp.sent),
            received: total(&|p| p.udp.received),
            late: total(&|p| p.udp.late),
            lost: total(&|p| p.udp.lost),
            kernel_drops: KernelDrops {
                generator: total(&|p| p.udp.kernel_drops.generator),
                server: parts.iter().filter_map(|p| p.udp.kernel_drops.server).max(),
            },
        },
        errors: parts.iter().fold(Default::default(), |mut acc, p| {
            for (cause, n) in &p.errors {
                *acc.entry(cause.clone()).or_insert(0) += n;
            }
            acc
        }),
        generator: merge_generator(parts),
        series,
        series_histograms,
        stages: merge_stages(parts),
        search: merge_search(parts, &mut warnings),
        hosts: parts.iter().flat_map(host_rows).collect(),
        merged: Some(MergeNote {
            parts: parts.len(),
            method: method.into(),
            warnings,
        }),
    };
    Ok(doc)
}

/// A part's row in `hosts`, or its own rows when it is itself a merge.
fn host_rows(p: &RunDoc) -> Vec<HostRow> {
    if !p.hosts.is_empty() {
        return p.hosts.clone();
    }
    vec![HostRow {
        label: p.label.clone().unwrap_or_default(),
        target: p.target.clone(),
        opened: p.connections.opened,
        sent: p.requests.sent,
        completed: p.requests.completed,
        errors: p.error_total(),
        msgs_per_sec: p.throughput.msgs_per_sec,
        p50_us: p.latency_us.p50,
        p99_us: p.latency_us.p99,
        window_start_unix: p.seconds().first().map(|s| s.unix),
        cpu_percent: p.generator.cpu_percent,
        saturated_by: p.generator.saturated_by.clone(),
    }]
}

/// Open loop: the parts' schedules summed, the lag from the summed
/// histogram; null when no part ran open loop.
fn merge_schedule(parts: &[RunDoc], lag: &Histogram<u64>) -> Option<Schedule> {
    let scheds: Vec<&Schedule> = parts.iter().filter_map(|p| p.schedule.as_ref()).collect();
    if scheds.is_empty() {
        return None;
    }
    let scheduled: u64 = scheds.iter().map(|s| s.scheduled).sum();
    let sent: u64 = scheds.iter().map(|s| s.sent).sum();
    let unsent = scheds.iter().fold(Unsent::default(), |mut u, s| {
        u.depth += s.unsent.depth;
        u.cpu += s.unsent.cpu;
        u.target += s.unsent.target;
        u
    });
    let shortfall = scheduled.saturating_sub(sent);
    let limit = crate::load::verdict::limit(&unsent)
        .and_then(|l| serde_json::to_value(l).ok())
        .and_then(|v| v.as_str().map(str::to_owned));
    Some(Schedule {
        scheduled,
        sent,
        shortfall,
        shortfall_percent: round3(shortfall as f64 * 100.0 / scheduled.max(1) as f64),
        limit,
        unsent,
        lag_us: Percentiles::of(lag, scheds.iter().map(|s| s.lag_us.clamped).sum()),
    })
}

/// The busiest part's CPU and run queue; saturated if any part was, for
/// every reason any part gave.
fn merge_generator(parts: &[RunDoc]) -> Generator {
    let mut by: Vec<String> = Vec::new();
    for p in parts {
        for why in &p.generator.saturated_by {
            if !by.contains(why) {
                by.push(why.clone());
            }
        }
    }
    Generator {
        cpu_percent: parts
            .iter()
            .map(|p| p.generator.cpu_percent)
            .fold(0.0, f64::max),
        run_queue_percent: parts
            .iter()
            .filter_map(|p| p.generator.run_queue_percent)
            .reduce(f64::max),
        saturated: parts.iter().any(|p| p.generator.saturated),
        saturated_by: by,
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests;

/// The parts' churn: counts and rates summed (the parts ran side by side,
/// as their msgs/s are summed), the settings of the first part that had it;
/// `None` if none had churn.
fn merge_churn(parts: &[RunDoc]) -> Option<Churn> {
    let first = parts.iter().find_map(|p| p.churn.as_ref())?;
    let churned = || parts.iter().filter_map(|p| p.churn.as_ref());
    Some(Churn {
        requests_per_conn: first.requests_per_conn,
        close: first.close.clone(),
        recycled: churned().map(|c| c.recycled).sum(),
        opened_in_window: churned().map(|c| c.opened_in_window).sum(),
        conns_per_sec: round3(churned().map(|c| c.conns_per_sec).sum()),
    })
}
