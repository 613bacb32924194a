//! Histograms as hex strings of their V2 encoding (serde `with`; also used
//! by the workers' progress records, `live.rs`, every second).
//!
//! Not V2 + DEFLATE: its compressor's tables cost a worker 120-180 kB of
//! heap and stack that stayed resident after the first second's progress
//! record (a worker's base grew from 436 kB to 620 kB, issue 15), to shrink
//! a line on a pipe. V2 alone already encodes runs of empty buckets as one
//! number. The reader takes either encoding.
//!
//! Part of `measurements.rs`, which names it for serde.

use super::new_histogram;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2Serializer};
use serde::{Deserialize, Serializer, de::Error as _};
use std::fmt::Write as _;

/// `h` as hex of its V2 encoding (`None`: it would not encode).
pub fn encode(h: &Histogram<u64>) -> Option<String> {
    let mut bytes = Vec::new();
    V2Serializer::new().serialize(h, &mut bytes).ok()?;
    let mut hex = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(hex, "{b:02x}");
    }
    Some(hex)
}

/// A histogram from [`encode`]'s hex, re-homed in one that grows on
/// demand ([`new_histogram`]) so merges cannot fail; `None` if it is
/// not one.
pub fn decode(hex: &str) -> Option<Histogram<u64>> {
    let bytes = (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2).unwrap_or("zz"), 16))
        .collect::<Result<Vec<u8>, _>>()
        .ok()?;
    let decoded: Histogram<u64> = Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .ok()?;
    let mut h = new_histogram();
    h.add(&decoded).ok()?;
    Some(h)
}

pub fn serialize<S: Serializer>(h: &Histogram<u64>, s: S) -> Result<S::Ok, S::Error> {
    let hex = encode(h).ok_or_else(|| serde::ser::Error::custom("histogram: cannot encode"))?;
    s.serialize_str(&hex)
}

pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Histogram<u64>, D::Error> {
    let hex = String::deserialize(d)?;
    decode(&hex).ok_or_else(|| D::Error::custom("histogram: not a V2 histogram in hex"))
}
