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
//! is `seq % depth`, and a reply that comes back after its slot moved on
//! never matches a newer datagram: it answers one declared lost (then that
//! one is late, not lost: [`Answer::AfterLoss`]), or it is a duplicate.

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
    /// It answered the datagram in flight, intended at `intended` and sent
    /// at `sent_at` (the slot is free again).
    Matched {
        /// Its intended send time (open loop), or its send time.
        intended: u64,
        /// When it actually went out: the loss timeout counts from here.
        sent_at: u64,
    },
    /// It answered a datagram already declared lost: that datagram is late,
    /// not lost (answered once: a second copy is a [`Answer::Unmatched`]).
    AfterLoss,
    /// A duplicate, a reply to a datagram never sent, or to one declared
    /// lost more than [`LOSS_MEMORY`] datagrams of its slot ago.
    Unmatched,
}

/// How many of a slot's past datagrams are remembered as lost, so that a
/// reply to one of them is counted as late instead of lost: one bit each.
pub const LOSS_MEMORY: u64 = 64;

/// One slot: the datagram in flight, if any, and which of its slot's past
/// datagrams were declared lost.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// The datagram in flight, or the next one the slot will send.
    seq: u64,
    /// Its intended send time ([`FREE`]: nothing in flight).
    intended: u64,
    /// When it went out.
    sent_at: u64,
    /// Bit `k`: the datagram `k + 1` sends before `seq` was declared lost
    /// and has not been answered since.
    lost: u64,
}

/// One socket's datagrams in flight, `depth` slots.
#[derive(Debug)]
pub struct Slots {
    slots: Box<[Slot]>,
    in_flight: u32,
}

impl Slots {
    /// `depth` free slots.
    pub fn new(depth: u32) -> Slots {
        let slots = (0..u64::from(depth.max(1)))
            .map(|seq| Slot {
                seq,
                intended: FREE,
                sent_at: FREE,
                lost: 0,
            })
            .collect();
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
            .find(|s| s.intended == FREE)
            .map(|s| s.seq)
    }

    /// The sequence numbers the free slots would send next, in slot order
    /// (the first is [`Slots::next_seq`]). Nothing changes until
    /// [`Slots::sent`].
    pub fn free_seqs(&self) -> impl Iterator<Item = u64> + '_ {
        self.slots
            .iter()
            .filter(|s| s.intended == FREE)
            .map(|s| s.seq)
    }

    /// Records that datagram `seq` (from [`Slots::next_seq`]), intended at
    /// `intended`, went out at `sent_at`.
    pub fn sent(&mut self, seq: u64, intended: u64, sent_at: u64) {
        let depth = self.slots.len() as u64;
        let slot = &mut self.slots[(seq % depth) as usize];
        if slot.seq == seq && slot.intended == FREE {
            (slot.intended, slot.sent_at) = (intended, sent_at);
            self.in_flight += 1;
        }
    }

    /// Matches a reply; frees its slot for the slot's next sequence number.
    pub fn answer(&mut self, seq: u64) -> Answer {
        let depth = self.slots.len() as u64;
        let slot = &mut self.slots[(seq % depth) as usize];
        if slot.seq == seq && slot.intended != FREE {
            let answer = Answer::Matched {
                intended: slot.intended,
                sent_at: slot.sent_at,
            };
            slot.advance(depth, false);
            self.in_flight -= 1;
            return answer;
        }
        // How many of the slot's datagrams back `seq` was: 1 = the previous.
        let back = slot.seq.saturating_sub(seq) / depth;
        if seq < slot.seq && back <= LOSS_MEMORY && slot.lost & (1 << (back - 1)) != 0 {
            slot.lost &= !(1 << (back - 1));
            return Answer::AfterLoss;
        }
        Answer::Unmatched
    }

    /// Declares every datagram sent at or before `cutoff` (its actual send,
    /// not its intended time) lost and frees its slot; how many.
    pub fn expire(&mut self, cutoff: u64) -> u32 {
        let depth = self.slots.len() as u64;
        let mut lost = 0;
        for slot in self.slots.iter_mut() {
            if slot.intended != FREE && slot.sent_at <= cutoff {
                slot.advance(depth, true);
                lost += 1;
            }
        }
        self.in_flight -= lost;
        lost
    }
}

impl Slot {
    /// The datagram in flight is settled (`lost`, or answered): the slot is
    /// free for its next sequence number and remembers which it lost.
    fn advance(&mut self, depth: u64, lost: bool) {
        self.seq += depth;
        (self.intended, self.sent_at) = (FREE, FREE);
        self.lost = (self.lost << 1) | u64::from(lost);
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
    fn slots_match_replies_in_any_order_and_tell_late_from_duplicate() {
        let mut s = Slots::new(2);
        let a = s.next_seq().unwrap();
        s.sent(a, 10, 11);
        let b = s.next_seq().unwrap();
        s.sent(b, 20, 21);
        assert_eq!((a, b), (0, 1));
        assert_eq!(s.next_seq(), None);
        assert_eq!(s.free_seqs().count(), 0);
        let matched = Answer::Matched {
            intended: 20,
            sent_at: 21,
        };
        assert_eq!(s.answer(b), matched);
        assert_eq!(s.answer(b), Answer::Unmatched, "duplicate");
        assert_eq!(s.next_seq(), Some(3));
        assert_eq!(s.free_seqs().collect::<Vec<_>>(), [3]);
        assert_eq!(s.expire(10), 0, "judged by the actual send (11), not 10");
        assert_eq!(s.expire(11), 1, "datagram 0 is lost");
        assert_eq!(s.answer(a), Answer::AfterLoss, "late after its loss");
        assert_eq!(s.answer(a), Answer::Unmatched, "counted once");
        assert_eq!(s.answer(9), Answer::Unmatched, "never sent");
        assert_eq!(s.in_flight(), 0);
        assert_eq!(s.free(), 2);
    }

    #[test]
    fn a_loss_is_remembered_for_its_slots_next_datagrams() {
        let mut s = Slots::new(1);
        s.sent(0, 0, 0);
        assert_eq!(s.expire(0), 1);
        for seq in 1..=LOSS_MEMORY {
            s.sent(seq, seq, seq);
            assert!(matches!(s.answer(seq), Answer::Matched { .. }));
        }
        // Datagram 0 is now LOSS_MEMORY + 1 datagrams back: forgotten.
        assert_eq!(s.answer(0), Answer::Unmatched);
        let mut s = Slots::new(1);
        s.sent(0, 0, 0);
        s.expire(0);
        for seq in 1..LOSS_MEMORY {
            s.sent(seq, seq, seq);
            s.answer(seq);
        }
        assert_eq!(s.answer(0), Answer::AfterLoss, "LOSS_MEMORY back: known");
    }
}
