//! The `--hdr-log` file: request latencies as an HdrHistogram interval log,
//! written as HdrHistogram's reference writer (Java `HistogramLogWriter`,
//! log format 1.3) writes one, so every HdrHistogram log tool reads it.
//!
//! # Format
//! ```text
//! #[Logged with sockloop 0.1.0 load: request latency in nanoseconds]
//! #[Histogram log format version 1.3]
//! #[StartTime: 1796189990.947 (seconds since epoch), Wed Dec 02 05:39:50 UTC 2026]
//! #[BaseTime: 1796189990.947 (seconds since epoch)]
//! "StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"
//! 0.001,1.000,3.891,HISTFAAACOx4nD1Xf2hV...
//! ```
//! The header is the writer's `outputComment`, `outputLogFormatVersion`,
//! `outputStartTime`, `outputBaseTime` and `outputLegend`, in the order its
//! documentation recommends. One line per interval (`outputIntervalHistogram`):
//! start in seconds since `BaseTime`, length in seconds, the interval's
//! largest latency divided by [`MAX_VALUE_UNIT_RATIO`] (so in
//! milliseconds), and the histogram (nanoseconds) as base64 of its V2 +
//! DEFLATE encoding.
//!
//! Why not the `hdrhistogram` crate's `IntervalLogWriter`: it writes no
//! version line and no legend, its `StartTime` line lacks the date, and
//! scaling `Interval_Max` with it adds a `#[MaxValueDivisor: ...]` line the
//! reference never writes. The encoding itself is the crate's
//! ([`V2DeflateSerializer`]); only the text around it is written here.

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer as _, V2DeflateSerializer};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The log format version the reference writer (HdrHistogram 2.1.x) writes.
pub const LOG_FORMAT_VERSION: &str = "1.3";

/// What `Interval_Max` is divided by: the reference writer's default
/// `maxValueUnitRatio`, nanoseconds to milliseconds.
pub const MAX_VALUE_UNIT_RATIO: f64 = 1_000_000.0;

/// The reference writer's legend line (`outputLegend`).
pub const LEGEND: &str =
    "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"";

/// An open interval log.
pub struct HdrLog<W: Write = BufWriter<File>> {
    out: W,
    serializer: V2DeflateSerializer,
    /// One interval's V2 + DEFLATE bytes, reused.
    encoded: Vec<u8>,
    /// Their base64, reused.
    text: String,
}

impl<W: Write> std::fmt::Debug for HdrLog<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HdrLog")
    }
}

impl HdrLog {
    /// Creates the file and writes the header; interval timestamps will be
    /// seconds since now.
    pub fn create(path: &Path) -> io::Result<HdrLog> {
        HdrLog::new(BufWriter::new(File::create(path)?), SystemTime::now())
    }
}

impl<W: Write> HdrLog<W> {
    /// Writes the header to `out`, with `start` as `StartTime` and `BaseTime`.
    pub fn new(mut out: W, start: SystemTime) -> io::Result<HdrLog<W>> {
        write_header(&mut out, start)?;
        Ok(HdrLog {
            out,
            serializer: V2DeflateSerializer::new(),
            encoded: Vec::new(),
            text: String::new(),
        })
    }

    /// Appends one interval starting `start` after the base time. A failed
    /// write is logged, not fatal: the run and its report go on.
    pub fn interval(&mut self, h: &Histogram<u64>, start: Duration, length: Duration) {
        if let Err(e) = self.write_interval(h, start, length) {
            log::warn!("--hdr-log: interval not written: {e}");
        }
    }

    fn write_interval(
        &mut self,
        h: &Histogram<u64>,
        start: Duration,
        length: Duration,
    ) -> io::Result<()> {
        self.encoded.clear();
        self.serializer
            .serialize(h, &mut self.encoded)
            .map_err(|e| io::Error::other(e.to_string()))?;
        self.text.clear();
        base64::engine::general_purpose::STANDARD.encode_string(&self.encoded, &mut self.text);
        writeln!(
            self.out,
            "{:.3},{:.3},{:.3},{}",
            start.as_secs_f64(),
            length.as_secs_f64(),
            h.max() as f64 / MAX_VALUE_UNIT_RATIO,
            self.text
        )
    }

    /// Flushes the file.
    pub fn finish(&mut self) {
        if let Err(e) = self.out.flush() {
            log::warn!("--hdr-log: {e}");
        }
    }
}

/// `h` in HdrHistogram's standard text form: base64 of its V2 + DEFLATE
/// encoding (`HISTFAAA...`), as an interval log line carries it and every
/// HdrHistogram library decodes it. The JSON report's `histograms` use it.
pub fn to_base64(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    // Writing into a Vec fails only on a histogram too large to encode
    // (more than 2^31 counts slots); one that grows to u64::MAX at three
    // significant figures has under 60,000.
    if let Err(e) = V2DeflateSerializer::new().serialize(h, &mut bytes) {
        log::warn!("histogram not encoded: {e:?}");
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes [`to_base64`]'s form (any HdrHistogram's, V2 with or without
/// DEFLATE), with what is wrong when it is not one.
pub fn from_base64(text: &str) -> Result<Histogram<u64>, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| format!("histogram: not base64: {e}"))?;
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("histogram: not an HdrHistogram encoding: {e:?}"))
}

/// The header, line for line as the reference writer's calls write it.
fn write_header(out: &mut impl Write, start: SystemTime) -> io::Result<()> {
    // The reference keeps times in whole milliseconds; so do we, so that
    // StartTime, BaseTime and the date all name the same instant.
    let millis = start
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let secs = millis as f64 / 1000.0;
    // Java's Date.toString() ("EEE MMM dd HH:mm:ss zzz yyyy"), in UTC.
    let date = chrono::DateTime::<chrono::Utc>::from(start).format("%a %b %d %H:%M:%S UTC %Y");
    writeln!(
        out,
        "#[Logged with sockloop {} load: request latency in nanoseconds]",
        env!("CARGO_PKG_VERSION")
    )?;
    writeln!(out, "#[Histogram log format version {LOG_FORMAT_VERSION}]")?;
    writeln!(out, "#[StartTime: {secs:.3} (seconds since epoch), {date}]")?;
    writeln!(out, "#[BaseTime: {secs:.3} (seconds since epoch)]")?;
    writeln!(out, "{LEGEND}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::measurements::new_histogram;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

    /// 2026-12-02 05:39:50.947 UTC.
    fn start() -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(1_796_189_990_947)
    }

    fn log_text(intervals: &[(&Histogram<u64>, f64, f64)]) -> String {
        let mut log = HdrLog::new(Vec::new(), start()).unwrap();
        for (h, at, len) in intervals {
            log.interval(
                h,
                Duration::from_secs_f64(*at),
                Duration::from_secs_f64(*len),
            );
        }
        String::from_utf8(log.out).unwrap()
    }

    #[test]
    fn base64_round_trips_and_says_what_is_wrong() {
        let mut h = new_histogram();
        h.record(40_000).unwrap();
        h.record(3_891_000).unwrap();
        let text = to_base64(&h);
        assert!(text.starts_with("HISTFAAA"), "{text}");
        assert_eq!(from_base64(&text).unwrap(), h);
        assert!(from_base64("not base64!").unwrap_err().contains("base64"));
        assert!(from_base64("AAAA").unwrap_err().contains("HdrHistogram"));
    }

    #[test]
    fn the_header_is_the_reference_writers() {
        let text = log_text(&[]);
        let version = env!("CARGO_PKG_VERSION");
        assert_eq!(
            text,
            format!(
                "#[Logged with sockloop {version} load: request latency in nanoseconds]\n\
                 #[Histogram log format version 1.3]\n\
                 #[StartTime: 1796189990.947 (seconds since epoch), Wed Dec 02 05:39:50 UTC 2026]\n\
                 #[BaseTime: 1796189990.947 (seconds since epoch)]\n\
                 \"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n"
            )
        );
    }

    #[test]
    fn interval_max_is_in_milliseconds_and_the_histogram_in_nanoseconds() {
        let mut h = new_histogram();
        h.record(40_000).unwrap();
        h.record(3_891_000).unwrap();
        let text = log_text(&[(&h, 0.001, 1.0), (&new_histogram(), 1.001, 0.003)]);
        let lines: Vec<&str> = text.lines().skip(5).collect();
        assert_eq!(lines.len(), 2, "{text}");
        // 3,891,000 ns sits in a bucket whose highest equivalent value is
        // 3,891,199 ns (what the reference reports as the max): 3.891 ms.
        assert!(
            lines[0].starts_with("0.001,1.000,3.891,HISTFAAA"),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].starts_with("1.001,0.003,0.000,HISTFAAA"),
            "{}",
            lines[1]
        );
        // The crate's own reader still decodes it (the independent reader is
        // scripts/check_hdr_log.py, run by tests/load.rs).
        let entries: Vec<_> = IntervalLogIterator::new(text.as_bytes())
            .filter_map(|e| match e {
                Ok(LogEntry::Interval(i)) => Some(i),
                _ => None,
            })
            .collect();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].max(), 3.891);
    }
}
