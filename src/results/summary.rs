//! A latency summary as a report carries it ([`Summary`]: the generator's
//! `load::percentiles::Percentiles`, which reads back from JSON), and
//! [`nullable`], for fields a report may write as null.

use serde::{Deserialize, Deserializer};

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

/// A latency summary in microseconds: the generator's own type, which
/// reads back what it wrote.
pub use crate::load::percentiles::Percentiles as Summary;
