//! A latency histogram summarized for the report, saying what it cannot
//! know ([`Percentiles`]): how many samples it holds, `None` ("n/a") for a
//! percentile too few samples can give, and the values clamped to its range.
//!
//! # The sample rule
//! A percentile `q` is given only from at least `1 / (1 - q)` samples
//! ([`min_samples`]): p50 from 2, p90 from 10, p99 from 100, p99.9 from
//! 1,000. Below that, no sample lies above the percentile, and the
//! "percentile" is just the largest value seen (p99.9 of 200 replies is
//! their max). `max` and `mean` need one sample. An empty histogram gives no
//! numbers at all: never a 0 that reads as "instant".
//!
//! # Precision
//! Values are hdrhistogram's, to [`SIGNIFICANT_FIGURES`] (within 0.1%: a
//! bucket is 8 us wide at 10 ms, 524 us at 1 s), reported as the top of
//! their bucket, in microseconds rounded to nearest.

use super::measurements::{HISTOGRAM_MAX_NS, SIGNIFICANT_FIGURES};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// The percentiles the report gives, with their JSON names.
pub const QUANTILES: [(&str, f64); 4] =
    [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)];

/// The fewest samples percentile `q` is given from: `1 / (1 - q)`, so at
/// least one sample lies above it.
pub fn min_samples(q: f64) -> u64 {
    // Rounded: 1 / (1 - 0.999) is 999.9999... in floating point.
    (1.0 / (1.0 - q)).round() as u64
}

/// `histogram` in the JSON report: what every latency figure is made of.
#[derive(Debug, Clone, Serialize)]
pub struct Resolution {
    /// Significant figures kept (3: within 0.1%).
    pub significant_figures: u8,
    /// The highest value recorded (us); above it values are clamped, and
    /// counted in each summary's `clamped`.
    pub highest_us: u64,
}

impl Resolution {
    /// The generator's histograms' resolution.
    pub fn of_histograms() -> Resolution {
        Resolution {
            significant_figures: SIGNIFICANT_FIGURES,
            highest_us: HISTOGRAM_MAX_NS / 1000,
        }
    }
}

/// A histogram's summary in microseconds; `None` (JSON null, text "n/a")
/// where the samples cannot say (see the module's sample rule). Read back
/// from a report by `sockloop report` (`results::model::Summary`): a
/// missing key reads as its default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Percentiles {
    /// Values recorded.
    pub samples: u64,
    /// Median.
    pub p50: Option<u64>,
    /// 90th percentile.
    pub p90: Option<u64>,
    /// 99th percentile.
    pub p99: Option<u64>,
    /// 99.9th percentile.
    pub p999: Option<u64>,
    /// Largest.
    pub max: Option<u64>,
    /// Mean.
    pub mean: Option<f64>,
    /// Values above the histogram's range, recorded as its highest value.
    pub clamped: u64,
}

impl Percentiles {
    /// Summarizes a nanosecond histogram `h`, of which `clamped` values were
    /// clamped, in microseconds.
    pub fn of(h: &Histogram<u64>, clamped: u64) -> Percentiles {
        // Nearest microsecond (hdrhistogram reports the top of a bucket).
        let us = |ns: u64| ns.saturating_add(500) / 1000;
        let n = h.len();
        let at = |q: f64| (n >= min_samples(q)).then(|| us(h.value_at_quantile(q)));
        Percentiles {
            samples: n,
            p50: at(QUANTILES[0].1),
            p90: at(QUANTILES[1].1),
            p99: at(QUANTILES[2].1),
            p999: at(QUANTILES[3].1),
            max: (n > 0).then(|| us(h.max())),
            // Microseconds to three decimals: whole nanoseconds.
            mean: (n > 0).then(|| h.mean().round() / 1000.0),
            clamped,
        }
    }

    /// The text report's row: samples, the percentiles, max and mean.
    pub fn row(&self) -> String {
        let cell = |v: Option<u64>| v.map_or_else(|| "n/a".to_owned(), |v| v.to_string());
        let mean = self
            .mean
            .map_or_else(|| "n/a".to_owned(), |m| format!("{m:.1}"));
        format!(
            "{:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {mean:>11}",
            self.samples,
            cell(self.p50),
            cell(self.p90),
            cell(self.p99),
            cell(self.p999),
            cell(self.max),
        )
    }

    /// Whether any percentile is left out for want of samples.
    pub fn any_left_out(&self) -> bool {
        self.samples > 0 && self.p999.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::measurements::new_histogram;

    /// A histogram of `n` latencies 1..=n us.
    fn histogram(n: u64) -> Histogram<u64> {
        let mut h = new_histogram();
        for v in 1..=n {
            h.record(v * 1000).unwrap();
        }
        h
    }

    #[test]
    fn each_percentile_needs_one_sample_above_it() {
        assert_eq!(QUANTILES.map(|(_, q)| min_samples(q)), [2, 10, 100, 1000]);
        let p = Percentiles::of(&histogram(999), 0);
        assert_eq!((p.samples, p.p50, p.p99), (999, Some(500), Some(990)));
        assert_eq!(p.p999, None, "p99.9 of 999 samples would be their max");
        assert_eq!(p.max, Some(999));
        assert!(p.any_left_out());
        let p = Percentiles::of(&histogram(1000), 0);
        assert_eq!(p.p999, Some(999));
        assert!(!p.any_left_out());
        let one = Percentiles::of(&histogram(1), 0);
        assert_eq!((one.p50, one.max, one.mean), (None, Some(1), Some(1.0)));
    }

    #[test]
    fn an_empty_histogram_gives_no_numbers_not_zeros() {
        let p = Percentiles::of(&new_histogram(), 0);
        assert_eq!((p.samples, p.p50, p.max, p.mean), (0, None, None, None));
        assert!(p.row().contains("n/a"), "{}", p.row());
        assert!(!p.any_left_out(), "nothing to leave out");
        let json = serde_json::to_string(&p).unwrap();
        assert!(
            json.contains("\"p50\":null") && json.contains("\"mean\":null"),
            "{json}"
        );
    }

    #[test]
    fn values_are_microseconds_ordered_and_clamped_ones_counted() {
        let mut h = new_histogram();
        let mut clamped = 0;
        crate::load::measurements::record(&mut h, HISTOGRAM_MAX_NS * 2, &mut clamped);
        crate::load::measurements::record(&mut h, 5_000, &mut clamped);
        let p = Percentiles::of(&h, clamped);
        assert_eq!((p.samples, p.clamped), (2, 1));
        assert_eq!(p.p50, Some(5));
        let top = Percentiles::of(&histogram(1000), 0);
        let v = [top.p50, top.p90, top.p99, top.p999, top.max].map(Option::unwrap);
        assert!(v.windows(2).all(|w| w[0] <= w[1]), "{v:?}");
    }
}
