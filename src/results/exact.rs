//! Exact per-second latency for a merge, where the parts carry each
//! second's histogram (`series_histograms`: interval-log parts do, one per
//! interval). The seconds of all parts that share a wall-clock second are
//! added, and that second's p50/p90/p99/max read from the sum: exact, where
//! without histograms a merged second's percentile is only the largest
//! part's (an upper bound, `series.rs`).
//!
//! One second is decoded at a time, into one reused histogram: a day of
//! seconds never holds more than a few hundred KiB of histogram at once.

use super::model::{RunDoc, Second};
use super::read::rehome;
use crate::load::hdr_log::{from_base64, to_base64};
use crate::load::measurements::new_histogram;
use crate::load::percentiles::Percentiles;
use std::collections::BTreeMap;

/// Re-reads `merged`'s latency figures from the parts' per-second
/// histograms and returns the merged ones (in `merged`'s order); `None`,
/// leaving `merged` as it is, unless every part with a series has one
/// histogram per second (or one fails to decode, with a warning).
pub fn exact_seconds(
    parts: &[RunDoc],
    merged: &mut [Second],
    warnings: &mut Vec<String>,
) -> Option<Vec<String>> {
    let with_series = parts.iter().filter(|p| !p.seconds().is_empty());
    let mut by_unix: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
    for p in with_series {
        let hists = p.series_histograms.as_ref()?;
        if hists.len() != p.seconds().len() {
            return None;
        }
        for (s, h) in p.seconds().iter().zip(hists) {
            by_unix.entry(s.unix).or_default().push(h);
        }
    }
    let mut sum = new_histogram();
    let mut out = Vec::with_capacity(merged.len());
    for m in merged.iter_mut() {
        sum.reset();
        for text in by_unix.get(&m.unix).map_or(&[][..], Vec::as_slice) {
            match from_base64(text).and_then(rehome) {
                // Both grow on demand (rehomed into `new_histogram`): adding fails
                // only if the counts' length would overflow a usize.
                Ok(h) => drop(sum.add(&h)),
                Err(e) => {
                    warnings.push(format!(
                        "a per-second histogram of second {} did not decode ({e}): \
                         per-second percentiles are upper bounds",
                        m.unix
                    ));
                    return None;
                }
            }
        }
        let p = Percentiles::of(&sum, 0);
        let us = |v: Option<u64>| v.map(|v| v as f64);
        (m.p50_us, m.p90_us, m.p99_us, m.max_us) = (us(p.p50), us(p.p90), us(p.p99), us(p.max));
        out.push(to_base64(&sum));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::series::merge_series;

    /// A part with one second at `unix` holding `values` (ns).
    fn part(unix: i64, values: &[u64]) -> RunDoc {
        let mut h = new_histogram();
        for &v in values {
            h.record(v).unwrap();
        }
        let p = Percentiles::of(&h, 0);
        RunDoc {
            series: Some(vec![Second {
                unix,
                completed: h.len(),
                p99_us: p.p99.map(|v| v as f64),
                max_us: p.max.map(|v| v as f64),
                ..Second::default()
            }]),
            series_histograms: Some(vec![to_base64(&h)]),
            ..RunDoc::default()
        }
    }

    #[test]
    fn seconds_with_histograms_merge_exactly() {
        // 1000 fast replies on one part; 98 fast and 2 slow on the other,
        // whose own p99 is slow. The bound (the largest part's p99) says
        // 5 ms; of all 1100, 2 are slow, and p99 is 1 ms.
        let fast = part(100, &[1_000_000; 1000]);
        let mut mixed = vec![1_000_000; 98];
        mixed.extend([5_000_000; 2]);
        let slow = part(100, &mixed);
        let parts = [fast, slow];
        let mut warnings = Vec::new();
        let mut merged = merge_series(&parts, &mut warnings).unwrap();
        assert_eq!(merged[0].p99_us, Some(5_001.0), "the bound, before");
        let hists = exact_seconds(&parts, &mut merged, &mut warnings).unwrap();
        assert_eq!(merged[0].p99_us, Some(1_000.0), "exact: 2 of 1100 are slow");
        assert_eq!(merged[0].max_us, Some(5_001.0));
        assert_eq!(from_base64(&hists[0]).unwrap().len(), 1100);
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn without_histograms_on_every_part_the_bound_stands() {
        let mut bare = part(100, &[1_000]);
        bare.series_histograms = None;
        let parts = [part(100, &[2_000]), bare];
        let mut warnings = Vec::new();
        let mut merged = merge_series(&parts, &mut warnings).unwrap();
        assert!(exact_seconds(&parts, &mut merged, &mut warnings).is_none());
        let mut broken = part(100, &[1_000]);
        broken.series_histograms = Some(vec!["HISTnope".into()]);
        let parts = [part(100, &[2_000]), broken];
        assert!(exact_seconds(&parts, &mut merged, &mut warnings).is_none());
        assert!(warnings[0].contains("did not decode"), "{warnings:?}");
    }
}
