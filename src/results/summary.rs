//! A latency summary as a report carries it ([`Summary`]): the generator's
//! `load::percentiles::Percentiles`, readable back from JSON.

use crate::load::percentiles::Percentiles;
use serde::{Deserialize, Deserializer, Serialize};

/// serde `deserialize_with` for a field a report may write as null: null
/// reads as the field's default (an empty map, zero counts), as absence
/// does with `#[serde(default)]`.
pub fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A latency summary in microseconds (`load::percentiles::Percentiles`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Summary {
    /// Values recorded.
    pub samples: u64,
    /// Median.
    pub p50: Option<u64>,
    /// 90th percentile.
    pub p90: Option<u64>,
    /// 99th.
    pub p99: Option<u64>,
    /// 99.9th.
    pub p999: Option<u64>,
    /// Largest.
    pub max: Option<u64>,
    /// Mean.
    pub mean: Option<f64>,
    /// Clamped to the histogram's range.
    pub clamped: u64,
}

impl From<Percentiles> for Summary {
    fn from(p: Percentiles) -> Summary {
        Summary {
            samples: p.samples,
            p50: p.p50,
            p90: p.p90,
            p99: p.p99,
            p999: p.p999,
            max: p.max,
            mean: p.mean,
            clamped: p.clamped,
        }
    }
}

impl Summary {
    /// As the generator's own summary, for its text row.
    pub fn percentiles(&self) -> Percentiles {
        Percentiles {
            samples: self.samples,
            p50: self.p50,
            p90: self.p90,
            p99: self.p99,
            p999: self.p999,
            max: self.max,
            mean: self.mean,
            clamped: self.clamped,
        }
    }
}
