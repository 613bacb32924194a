//! Which charts a report gets, made from its [`RunDoc`]: throughput and
//! latency over time (with stage boundaries), the percentile spectrum,
//! connections, errors by cause, and a capacity search's rate -> latency
//! curve. Each is a [`Chart`], or a sentence saying why there is none.

use super::model::{RunDoc, Second};
use super::plots::{Chart, Line, nines_x};
use super::read::rehome;
use crate::load::hdr_log::from_base64;
use hdrhistogram::Histogram;
use std::collections::BTreeSet;

/// The x axis of every chart over time.
const TIME_AXIS: &str = "time into the window (s)";

/// Points per unit of the nines axis in the spectrum (one per 1/40 of a
/// decade: smooth at 640 px).
const SPECTRUM_STEPS: u32 = 40;

/// Most points a line over time is drawn with. A week-long window has
/// 604,800 seconds, tens of MB of SVG; past this many, each point stands
/// for a bucket of seconds (a rate's mean, a latency's largest value), and
/// the page stays a few hundred KB at most.
pub const MAX_POINTS: usize = 1200;

/// Deepest percentile drawn: 99.9999% (six nines), where one in a million
/// lies above; fewer samples stop the curve earlier.
const MAX_NINES: f64 = 6.0;

/// One chart's place on the page: the chart, or why there is none.
pub enum Figure {
    /// A chart with data (its id on the page, and the chart).
    Chart(&'static str, Chart),
    /// No chart: the title, and why.
    Missing(&'static str, String),
}

/// The report's figures, in page order.
pub fn figures(doc: &RunDoc) -> Vec<Figure> {
    let s = doc.seconds();
    let marks = stage_marks(doc);
    let over_time = |id, title: &str, y: &str, lines: Vec<Line>| {
        let mut c = Chart::new(title, TIME_AXIS, y, lines);
        c.marks = marks.clone();
        Figure::Chart(id, c)
    };
    let mut out = Vec::new();
    if s.is_empty() {
        let why = "this report has no per-second series (made by a sockloop without it).";
        out.push(Figure::Missing(
            "Throughput, latency, connections and errors over time",
            why.into(),
        ));
    } else {
        // An interval log counts replies only: no sends, no connections.
        let from_log = doc.service.is_none();
        let mut lines = vec![line(s, "completed/s", |x| Some(x.completed as f64))];
        if !from_log {
            lines.push(line(s, "sent/s", |x| Some(x.sent as f64)));
        }
        lines.push(line(s, "target rate", |x| x.target_rate));
        out.push(over_time(
            "throughput",
            "Request throughput",
            "requests per second",
            lines,
        ));
        let lat = vec![
            line_max(s, "p50", |x| x.p50_us),
            line_max(s, "p90", |x| x.p90_us),
            line_max(s, "p99", |x| x.p99_us),
            line_max(s, "max", |x| x.max_us),
        ];
        out.push(over_time(
            "latency",
            "Request latency over time",
            "latency (µs)",
            lat,
        ));
        let conns = vec![
            line(s, "connections open", |x| Some(x.conns_open as f64)),
            line(s, "connects/s", |x| Some(x.connects as f64)),
            line(s, "closes/s", |x| Some(x.closes as f64)),
        ];
        out.push(over_time(
            "connections",
            "Connections",
            "connections (count, per second)",
            conns,
        ));
        out.push(errors(doc, s, over_time));
    }
    out.push(spectrum(doc));
    if let Some(search) = &doc.search {
        let p99 = search
            .steps
            .iter()
            .filter_map(|st| st.p99_us.map(|p| (st.rate, p)))
            .collect();
        let mut c = Chart::new(
            "Capacity search: rate -> latency",
            "offered rate (requests per second)",
            &format!("{} latency (µs)", search.slo.percentile),
            vec![Line {
                name: format!("{} at each step", search.slo.percentile),
                points: p99,
                dots: true,
            }],
        );
        c.objective = Some((
            search.slo.limit_us,
            format!(
                "objective: {} <= {} µs",
                search.slo.percentile, search.slo.limit_us
            ),
        ));
        out.push(Figure::Chart("search", c));
    }
    out
}

/// One line from the series, leaving out the seconds without a value; a
/// long series is drawn in buckets of seconds, each point the bucket's mean
/// (see [`MAX_POINTS`]).
fn line(s: &[Second], name: &str, y: impl Fn(&Second) -> Option<f64>) -> Line {
    bucketed(s, name, y, false)
}

/// [`line`] for a latency: each bucket's largest value, so a spike is never
/// averaged away.
fn line_max(s: &[Second], name: &str, y: impl Fn(&Second) -> Option<f64>) -> Line {
    bucketed(s, name, y, true)
}

fn bucketed(s: &[Second], name: &str, y: impl Fn(&Second) -> Option<f64>, max: bool) -> Line {
    let per = s.len().div_ceil(MAX_POINTS).max(1);
    let points = s
        .chunks(per)
        .filter_map(|chunk| {
            let values: Vec<f64> = chunk.iter().filter_map(&y).collect();
            let first = chunk.first()?;
            if values.is_empty() {
                return None;
            }
            let v = if max {
                values.iter().copied().fold(f64::MIN, f64::max)
            } else {
                values.iter().sum::<f64>() / values.len() as f64
            };
            Some((first.second as f64, v))
        })
        .collect();
    Line::new(name, points)
}

/// Errors per second, one line per cause; a sentence when there were none.
fn errors(
    doc: &RunDoc,
    s: &[Second],
    over_time: impl Fn(&'static str, &str, &str, Vec<Line>) -> Figure,
) -> Figure {
    let causes: BTreeSet<&String> = s.iter().flat_map(|x| x.errors_by_cause.keys()).collect();
    if causes.is_empty() && s.iter().all(|x| x.errors == 0) {
        let total = doc.error_total();
        let why = if total == 0 {
            "No errors in this run.".to_owned()
        } else {
            format!("{total} errors, none inside the measured window (see the table).")
        };
        return Figure::Missing("Errors over time", why);
    }
    let mut lines: Vec<Line> = causes
        .iter()
        .map(|c| {
            line(s, c, |x| {
                Some(*x.errors_by_cause.get(*c).unwrap_or(&0) as f64)
            })
        })
        .collect();
    if lines.is_empty() {
        lines.push(line(s, "errors", |x| Some(x.errors as f64)));
    }
    over_time(
        "errors",
        "Errors over time, by cause",
        "errors per second",
        lines,
    )
}

/// Where one stage ends and the next begins (s into the window): from
/// `stages`, else from the series' stage numbers.
fn stage_marks(doc: &RunDoc) -> Vec<f64> {
    if let Some(stages) = &doc.stages {
        return stages
            .iter()
            .map(|st| st.start_secs)
            .filter(|&x| x > 0.0)
            .collect();
    }
    doc.seconds()
        .windows(2)
        .filter(|w| w[0].stage != w[1].stage)
        .map(|w| w[1].second as f64)
        .collect()
}

/// The percentile spectrum of request and connect latency, from the full
/// histograms (or, without them, the summary's percentiles).
fn spectrum(doc: &RunDoc) -> Figure {
    let decode = |text: Option<&str>| {
        text.filter(|t| !t.is_empty())
            .and_then(|t| from_base64(t).and_then(rehome).ok())
    };
    let h = doc.histograms.as_ref();
    let request = decode(h.map(|h| h.request_ns.as_str()));
    let connect = decode(h.map(|h| h.connect_ns.as_str()));
    let curve = |h: Option<Histogram<u64>>, summary: &super::model::Summary| match h {
        Some(h) => spectrum_points(&h),
        None => [
            (0.5, summary.p50),
            (0.9, summary.p90),
            (0.99, summary.p99),
            (0.999, summary.p999),
        ]
        .iter()
        .filter_map(|&(q, v)| v.map(|v| (nines_x(q), v as f64)))
        .collect(),
    };
    let mut c = Chart::new(
        "Latency by percentile",
        "percentile (log scale: 90%, 99%, 99.9%...)",
        "latency (µs, log scale)",
        vec![
            Line::new("request", curve(request, &doc.latency_us)),
            Line::new("connect", curve(connect, &doc.connect_latency_us)),
        ],
    );
    // Request and connect latency may lie decades apart: a log axis shows
    // both.
    (c.nines, c.log_y) = (true, true);
    Figure::Chart("spectrum", c)
}

/// The spectrum of `h` (ns) in µs: the value at each step of the nines axis,
/// as deep as the samples go (one in `n` above the deepest).
pub fn spectrum_points(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    let n = h.len();
    if n == 0 {
        return Vec::new();
    }
    let deepest = (n as f64).log10().min(MAX_NINES);
    let steps = (deepest * f64::from(SPECTRUM_STEPS)).floor() as u32;
    let mut points: Vec<(f64, f64)> = (0..=steps)
        .map(|i| {
            let x = f64::from(i) / f64::from(SPECTRUM_STEPS);
            let q = 1.0 - 10f64.powf(-x);
            (x, h.value_at_quantile(q) as f64 / 1000.0)
        })
        .collect();
    // The largest value closes the curve at the deepest point.
    if let Some(last) = points.last_mut() {
        last.1 = last.1.max(h.max() as f64 / 1000.0);
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::measurements::new_histogram;

    #[test]
    fn a_long_series_is_drawn_in_buckets_keeping_its_spikes() {
        let s: Vec<Second> = (0..10_000u64)
            .map(|i| Second {
                second: i,
                completed: 100,
                max_us: Some(if i == 4_321 { 9e6 } else { 10.0 }),
                ..Second::default()
            })
            .collect();
        let rate = line(&s, "completed/s", |x| Some(x.completed as f64));
        assert!(rate.points.len() <= MAX_POINTS, "{}", rate.points.len());
        assert!(rate.points.iter().all(|p| p.1 == 100.0), "means");
        let max = line_max(&s, "max", |x| x.max_us);
        assert_eq!(
            max.points.iter().filter(|p| p.1 == 9e6).count(),
            1,
            "the spike"
        );
        let short = line(&s[..5], "x", |x| Some(x.second as f64));
        assert_eq!(
            short.points,
            [(0.0, 0.0), (1.0, 1.0), (2.0, 2.0), (3.0, 3.0), (4.0, 4.0)]
        );
    }

    #[test]
    fn the_spectrum_goes_as_deep_as_the_samples() {
        let mut h = new_histogram();
        for v in 1..=1000u64 {
            h.record(v * 1000).unwrap();
        }
        let p = spectrum_points(&h);
        assert_eq!(
            p.len(),
            3 * SPECTRUM_STEPS as usize + 1,
            "three nines of 1000"
        );
        assert_eq!(p[0].0, 0.0);
        assert!(
            (p[SPECTRUM_STEPS as usize].1 - 900.0).abs() < 2.0,
            "{:?}",
            p[40]
        );
        assert!((p.last().unwrap().1 - 1000.0).abs() < 2.0);
        assert!(p.windows(2).all(|w| w[0].1 <= w[1].1), "rising");
        assert!(spectrum_points(&new_histogram()).is_empty());
    }
}
