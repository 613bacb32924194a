//! The echo payload: random bytes generated ONCE, then read as an endless
//! cyclic stream.
//!
//! Generating fresh random bytes per message would spend the generator's CPU
//! on the generator. Instead each connection's byte stream is the pattern
//! read cyclically from a per-connection start offset: any request is one
//! contiguous slice ([`Pattern::append`] is a memcpy), and the verifier needs
//! no copy of what was sent, only the stream position
//! ([`Pattern::mismatch`] is a memcmp).

use rand::Rng;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use std::sync::{Arc, OnceLock};

/// Length of one cycle. A prime (the largest below 64 KiB), so messages of
/// any size start at ever-changing offsets of the cycle instead of repeating
/// a few slices.
pub const PERIOD: usize = 65_521;

/// Bytes past one period that repeat its start, so every slice of up to
/// `WINDOW` bytes that starts inside the period is contiguous in memory.
pub const WINDOW: usize = 16 * 1024;

/// The pattern: `PERIOD + WINDOW` bytes with `bytes[i] == bytes[i % PERIOD]`.
///
/// Made at the first request, not before: a worker that only holds idle
/// connections never needs its 80 KiB (issue 15: a generator worker's base
/// memory). Clones share it: the engine's TCP and UDP scenarios make one
/// between them. Making it takes tens of microseconds, once per process,
/// inside the turn that sends the first request (a turn's sends are all
/// stamped with the turn's one clock reading anyway: `engine.rs`).
#[derive(Debug, Clone)]
pub struct Pattern {
    seed: u64,
    bytes: Arc<OnceLock<Box<[u8]>>>,
}

impl Pattern {
    /// A pattern from a fast PRNG (SmallRng), deterministic for `seed`.
    pub fn from_seed(seed: u64) -> Pattern {
        Pattern {
            seed,
            bytes: Arc::default(),
        }
    }

    /// The bytes, made on first use.
    fn bytes(&self) -> &[u8] {
        self.bytes.get_or_init(|| {
            let mut rng = SmallRng::seed_from_u64(self.seed);
            let mut bytes = vec![0u8; PERIOD + WINDOW];
            rng.fill_bytes(&mut bytes[..PERIOD]);
            bytes.copy_within(..WINDOW, PERIOD);
            bytes.into_boxed_slice()
        })
    }

    /// The contiguous slice of the stream at `pos`, at most `WINDOW` long.
    fn window(&self, pos: u64, len: usize) -> &[u8] {
        let start = (pos % PERIOD as u64) as usize;
        &self.bytes()[start..start + len.min(WINDOW)]
    }

    /// Appends `len` bytes of the stream starting at stream position `pos`.
    pub fn append(&self, mut pos: u64, mut len: usize, out: &mut Vec<u8>) {
        out.reserve(len);
        while len > 0 {
            let chunk = self.window(pos, len);
            out.extend_from_slice(chunk);
            pos += chunk.len() as u64;
            len -= chunk.len();
        }
    }

    /// Compares `data` with the stream at `pos`: `None` if equal, else the
    /// index of the first differing byte.
    pub fn mismatch(&self, mut pos: u64, data: &[u8]) -> Option<usize> {
        let mut done = 0;
        while done < data.len() {
            let expected = self.window(pos, data.len() - done);
            let got = &data[done..done + expected.len()];
            if got != expected {
                // Rare path: find the exact byte for the error message.
                let at = got.iter().zip(expected).position(|(a, b)| a != b);
                return Some(done + at.unwrap_or(0));
            }
            done += expected.len();
            pos += expected.len() as u64;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_is_cyclic_and_slices_match_themselves() {
        let p = Pattern::from_seed(1);
        let mut a = Vec::new();
        p.append(PERIOD as u64 - 10, 40_000, &mut a);
        let mut b = Vec::new();
        p.append(2 * PERIOD as u64 - 10, 40_000, &mut b);
        assert_eq!(a, b);
        assert_eq!(a.len(), 40_000);
        assert_eq!(p.mismatch(PERIOD as u64 - 10, &a), None);
        assert_eq!(a[10], p.bytes()[0], "position PERIOD wraps to 0");
    }

    #[test]
    fn mismatch_names_the_first_wrong_byte() {
        let p = Pattern::from_seed(2);
        let mut a = Vec::new();
        p.append(5, 20_000, &mut a);
        a[17_000] ^= 1;
        assert_eq!(p.mismatch(5, &a), Some(17_000));
        assert_eq!(p.mismatch(6, &a[1..]), Some(16_999));
    }
}
