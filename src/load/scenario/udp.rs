//! udp-echo scenario: numbered datagrams, matched to their replies, with
//! loss detection. No sockets here.
//!
//! # Format
//! ```text
//! datagram = SEQ(8 bytes, little endian) PAYLOAD     ; size bytes in total
//! PAYLOAD  = the pattern stream at position SEQ * 8, size - 8 bytes
//! reply    = the same datagram
//! ```
//! Each socket has `depth` [`Slots`] for datagrams in flight. Slot `i` sends
//! the sequence numbers `i, i + depth, i + 2*depth, ...`, so a reply's slot
//! is `seq % depth` and a reply that comes back after its slot was declared
//! lost (or twice) is recognised as late instead of matching a newer datagram.

use super::{Pattern, VerifyError};

/// Bytes of the sequence number at the start of every datagram; also the
/// smallest datagram the scenario sends.
pub const HEADER: usize = 8;

/// Marks a free slot's send time.
const FREE: u64 = u64::MAX;

/// The udp-echo scenario: pattern and datagram size.
#[derive(Debug, Clone)]
pub struct UdpEcho {
    pattern: Pattern,
    size: usize,
}

impl UdpEcho {
    /// Datagrams of `size` bytes (raised to [`HEADER`] if smaller).
    pub fn new(pattern: Pattern, size: usize) -> UdpEcho {
        UdpEcho {
            pattern,
            size: size.max(HEADER),
        }
    }

    /// The datagram with sequence number `seq`, written into `out`.
    pub fn datagram(&self, seq: u64, out: &mut Vec<u8>) {
        out.clear();
        self.append_datagram(seq, out);
    }

    /// The datagram with sequence number `seq`, appended to `out` (a batch
    /// of datagrams lies in one buffer, [`UdpEcho::size`] bytes apart).
    pub fn append_datagram(&self, seq: u64, out: &mut Vec<u8>) {
        out.extend_from_slice(&seq.to_le_bytes());
        self.pattern.append(seq * 8, self.size - HEADER, out);
    }

    /// Bytes per datagram.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Verifies a reply; its sequence number.
    pub fn check(&self, reply: &[u8]) -> Result<u64, VerifyError> {
        if reply.len() != self.size {
            return Err(VerifyError::new(
                "udp: reply has the wrong length",
                format!("{} bytes, sent {}", reply.len(), self.size),
            ));
        }
        let mut seq = [0u8; HEADER];
        seq.copy_from_slice(&reply[..HEADER]);
        let seq = u64::from_le_bytes(seq);
        if let Some(i) = self.pattern.mismatch(seq.wrapping_mul(8), &reply[HEADER..]) {
            return Err(VerifyError::new(
                "udp: reply differs from request",
                format!("datagram {seq} byte {}", HEADER + i),
            ));
        }
        Ok(seq)
    }
}

/// What became of a reply's sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// It answered the datagram in flight, sent at this time.
    Matched(u64),
    /// Its slot holds another datagram, or none: late (already counted lost)
    /// or duplicated.
    Late,
}

/// One socket's datagrams in flight: `(seq, sent_at)` per slot.
#[derive(Debug)]
pub struct Slots {
    slots: Box<[(u64, u64)]>,
    in_flight: u32,
}

impl Slots {
    /// `depth` free slots.
    pub fn new(depth: u32) -> Slots {
        let slots = (0..u64::from(depth.max(1))).map(|i| (i, FREE)).collect();
        Slots {
            slots,
            in_flight: 0,
        }
    }

    /// Datagrams in flight.
    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }

    /// Free slots.
    pub fn free(&self) -> u32 {
        self.slots.len() as u32 - self.in_flight
    }

    /// The sequence number the next datagram would get, if a slot is free.
    /// Nothing changes until [`Slots::sent`].
    pub fn next_seq(&self) -> Option<u64> {
        self.slots
            .iter()
            .find(|(_, at)| *at == FREE)
            .map(|(seq, _)| *seq)
    }

    /// The sequence numbers the free slots would send next, in slot order
    /// (the first is [`Slots::next_seq`]). Nothing changes until
    /// [`Slots::sent`].
    pub fn free_seqs(&self) -> impl Iterator<Item = u64> + '_ {
        self.slots
            .iter()
            .filter(|(_, at)| *at == FREE)
            .map(|(seq, _)| *seq)
    }

    /// Records that datagram `seq` (from [`Slots::next_seq`]) went out at `at`.
    pub fn sent(&mut self, seq: u64, at: u64) {
        let depth = self.slots.len() as u64;
        let slot = &mut self.slots[(seq % depth) as usize];
        if slot.0 == seq && slot.1 == FREE {
            slot.1 = at;
            self.in_flight += 1;
        }
    }

    /// Matches a reply; frees its slot for the slot's next sequence number.
    pub fn answer(&mut self, seq: u64) -> Answer {
        let depth = self.slots.len() as u64;
        let slot = &mut self.slots[(seq % depth) as usize];
        if slot.0 != seq || slot.1 == FREE {
            return Answer::Late;
        }
        let at = slot.1;
        *slot = (seq + depth, FREE);
        self.in_flight -= 1;
        Answer::Matched(at)
    }

    /// Declares every datagram sent at or before `cutoff` lost and frees its
    /// slot; how many.
    pub fn expire(&mut self, cutoff: u64) -> u32 {
        let depth = self.slots.len() as u64;
        let mut lost = 0;
        for slot in self.slots.iter_mut() {
            if slot.1 != FREE && slot.1 <= cutoff {
                *slot = (slot.0 + depth, FREE);
                lost += 1;
            }
        }
        self.in_flight -= lost;
        lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_round_trip_and_carry_their_number() {
        let u = UdpEcho::new(Pattern::from_seed(4), 64);
        let mut d = Vec::new();
        u.datagram(77, &mut d);
        assert_eq!(d.len(), 64);
        assert_eq!(u.check(&d), Ok(77));
        let mut tiny = Vec::new();
        UdpEcho::new(Pattern::from_seed(4), 1).datagram(5, &mut tiny);
        assert_eq!(tiny.len(), HEADER, "raised to the header size");
    }

    #[test]
    fn wrong_datagrams_are_rejected() {
        let u = UdpEcho::new(Pattern::from_seed(4), 32);
        let mut d = Vec::new();
        u.datagram(3, &mut d);
        let mut flipped = d.clone();
        flipped[20] ^= 1;
        assert_eq!(
            u.check(&flipped).unwrap_err().reason,
            "udp: reply differs from request"
        );
        assert_eq!(
            u.check(&d[..31]).unwrap_err().reason,
            "udp: reply has the wrong length"
        );
    }

    #[test]
    fn slots_match_replies_in_any_order_and_reject_late_ones() {
        let mut s = Slots::new(2);
        let a = s.next_seq().unwrap();
        s.sent(a, 10);
        let b = s.next_seq().unwrap();
        s.sent(b, 20);
        assert_eq!((a, b), (0, 1));
        assert_eq!(s.next_seq(), None);
        assert_eq!(s.free_seqs().count(), 0);
        assert_eq!(s.answer(b), Answer::Matched(20));
        assert_eq!(s.answer(b), Answer::Late, "duplicate");
        assert_eq!(s.next_seq(), Some(3));
        assert_eq!(s.free_seqs().collect::<Vec<_>>(), [3]);
        assert_eq!(s.expire(15), 1, "datagram 0 is lost");
        assert_eq!(s.answer(a), Answer::Late, "after its loss");
        assert_eq!(s.in_flight(), 0);
        assert_eq!(s.free(), 2);
    }
}
