//! Reading one part of a run for `sockloop report`: a `load --json` report,
//! or an HdrHistogram interval log (`load --hdr-log`, or any writer of
//! HdrHistogram's log format 1.x), turned into a [`RunDoc`].
//!
//! A file is a JSON report when its first non-blank byte is `{`; anything
//! else is read as an interval log. A log has no settings, counts or
//! connections: its part carries the request histogram (the sum of its
//! intervals) and one `series` entry per interval, and is left out of the
//! settings check. Its values are read as nanoseconds, the unit sockloop
//! writes (its header says so); a log in another unit reads scaled.

use super::model::{Histograms, RunDoc, Second, Summary};
use crate::load::hdr_log::{from_base64, to_base64};
use crate::load::measurements::new_histogram;
use crate::load::percentiles::Percentiles;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use std::path::Path;

/// Largest file read (256 MiB): a report is a few hundred KiB, a day's
/// interval log of one-second intervals some tens of MiB.
pub const MAX_FILE_BYTES: u64 = 256 << 20;

/// Reads `path` as a JSON report or an interval log; its label is its own,
/// or the file's name.
pub fn read(path: &Path) -> Result<RunDoc, String> {
    let name = path.display();
    let size = std::fs::metadata(path)
        .map_err(|e| format!("{name}: {e}"))?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(format!("{name}: larger than {MAX_FILE_BYTES} bytes"));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("{name}: {e}"))?;
    let mut doc = parse(&bytes).map_err(|e| format!("{name}: {e}"))?;
    if doc.label.is_none() {
        let file = path.file_name().map_or_else(
            || path.display().to_string(),
            |f| f.to_string_lossy().into_owned(),
        );
        doc.label = Some(file);
    }
    Ok(doc)
}

/// A report or a log, by its first byte.
pub fn parse(bytes: &[u8]) -> Result<RunDoc, String> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'{') {
        let doc: RunDoc = serde_json::from_slice(bytes)
            .map_err(|e| format!("not a sockloop JSON report: {e}"))?;
        if doc.version.is_some_and(|v| v > super::model::VERSION) {
            return Err(format!(
                "report format version {} is newer than this sockloop reads ({})",
                doc.version.unwrap_or(0),
                super::model::VERSION
            ));
        }
        Ok(doc)
    } else {
        from_interval_log(bytes)
    }
}

/// A part made of an interval log: its intervals summed, one second each.
pub fn from_interval_log(bytes: &[u8]) -> Result<RunDoc, String> {
    let mut base: Option<f64> = None;
    let mut start: Option<f64> = None;
    let mut total = new_histogram();
    let mut series = Vec::new();
    // Each interval's histogram as the log wrote it: what makes a merged
    // second exact (`exact.rs`).
    let mut hists = Vec::new();
    let mut length = 0.0f64;
    for entry in IntervalLogIterator::new(bytes) {
        let entry = entry.map_err(|e| format!("not an HdrHistogram interval log: {e:?}"))?;
        match entry {
            LogEntry::StartTime(t) => start = Some(t.as_secs_f64()),
            LogEntry::BaseTime(t) => base = Some(t.as_secs_f64()),
            LogEntry::Interval(i) => {
                let h = rehome(from_base64(i.encoded_histogram())?)?;
                // Timestamps count from BaseTime, else from StartTime (the
                // reference reader's rule); a log with neither has no clock.
                let zero = base.or(start).unwrap_or(0.0);
                let at = zero + i.start_timestamp().as_secs_f64();
                length += i.duration().as_secs_f64();
                series.push(second_of(&h, at));
                hists.push(i.encoded_histogram().to_owned());
                let _ = total.add(&h);
            }
        }
    }
    if series.is_empty() {
        return Err("not an HdrHistogram interval log: no interval found".into());
    }
    let first = series.first().map_or(0, |s: &Second| s.unix);
    for s in &mut series {
        s.second = u64::try_from(s.unix.saturating_sub(first)).unwrap_or(0);
    }
    let latency: Summary = Percentiles::of(&total, 0);
    Ok(RunDoc {
        version: Some(super::model::VERSION),
        duration_secs: (length * 1000.0).round() / 1000.0,
        requests: super::model::Requests {
            completed: total.len(),
            ..Default::default()
        },
        latency_us: latency,
        throughput: super::model::Throughput {
            msgs_per_sec: if length > 0.0 {
                (total.len() as f64 / length * 1000.0).round() / 1000.0
            } else {
                0.0
            },
            bytes_per_sec: 0.0,
        },
        histograms: Some(Histograms {
            request_ns: to_base64(&total),
            connect_ns: to_base64(&new_histogram()),
            schedule_lag_ns: to_base64(&new_histogram()),
        }),
        series: Some(series),
        series_histograms: Some(hists),
        ..RunDoc::default()
    })
}

/// One interval as a `series` second: its count and its percentiles.
fn second_of(h: &Histogram<u64>, at_unix: f64) -> Second {
    let p = Percentiles::of(h, 0);
    let us = |v: Option<u64>| v.map(|v| v as f64);
    Second {
        unix: at_unix.floor() as i64,
        completed: h.len(),
        p50_us: us(p.p50),
        p90_us: us(p.p90),
        p99_us: us(p.p99),
        max_us: us(p.max),
        ..Second::default()
    }
}

/// `h` re-homed in a histogram that grows on demand (`new_histogram`),
/// so that adding it to the generator's never fails.
pub fn rehome(h: Histogram<u64>) -> Result<Histogram<u64>, String> {
    let mut out = new_histogram();
    out.add(&h)
        .map_err(|e| format!("histogram outside sockloop's range (1 ns..1 h): {e:?}"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::hdr_log::HdrLog;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn an_interval_log_becomes_a_part_with_one_second_per_interval() {
        let mut log = Vec::new();
        {
            let start = UNIX_EPOCH + Duration::from_secs(1_000);
            let mut w = HdrLog::new(&mut log, start).unwrap();
            let mut h = new_histogram();
            h.record(2_000_000).unwrap();
            w.interval(&h, Duration::from_millis(1), Duration::from_secs(1));
            h.record(4_000_000).unwrap();
            w.interval(&h, Duration::from_millis(1001), Duration::from_secs(1));
            w.finish();
        }
        let doc = parse(&log).unwrap();
        assert_eq!(doc.requests.completed, 3);
        assert_eq!(doc.latency_us.max, Some(4_002));
        let s = doc.seconds();
        assert_eq!(
            s.iter()
                .map(|s| (s.second, s.unix, s.completed))
                .collect::<Vec<_>>(),
            [(0, 1000, 1), (1, 1001, 2)]
        );
        assert_eq!(s[1].max_us, Some(4_002.0));
        let hists = doc.series_histograms.as_ref().unwrap();
        assert_eq!(from_base64(&hists[1]).unwrap().len(), 2);
    }

    #[test]
    fn what_is_neither_says_so() {
        assert!(parse(b"{ nope").unwrap_err().contains("JSON report"));
        assert!(parse(b"hello\n").unwrap_err().contains("interval log"));
        assert!(parse(b"").unwrap_err().contains("no interval"));
        assert!(parse(br#"{"version":99}"#).unwrap_err().contains("newer"));
    }
}
