//! Connection deadlines (idle timeout, lingering close), without scanning.
//!
//! A min-heap of `(at, key, serial)` entries, one live entry per connection.
//! Activity does NOT touch the heap: a connection just records when it was
//! last active. When an entry comes due, the loop asks the connection for its
//! real deadline and either expires it or re-arms it later ("lazy
//! rescheduling"), so a busy connection costs one heap operation per timeout
//! period, not one per message. The poll timeout is the nearest entry.
//!
//! Entries of closed connections are not removed from the middle of the heap
//! (a heap cannot do that cheaply); the `serial` tells them apart from a new
//! connection that reuses the slab key, and [`Timers::compact`] drops them
//! once they outnumber the live ones, so the heap stays within twice the
//! number of connections (plus [`COMPACT_SLACK`]).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Stale entries tolerated before a compaction is worth its O(n) pass.
pub const COMPACT_SLACK: usize = 1024;

/// One armed deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Due {
    /// When, in milliseconds since the loop started.
    pub at: u64,
    /// The connection's slab key.
    pub key: u32,
    /// The connection's serial number, to tell a reused key apart.
    pub serial: u32,
}

/// The deadline heap.
#[derive(Debug, Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<Due>>,
    stale: usize,
}

impl Timers {
    /// Arms a deadline.
    pub fn arm(&mut self, due: Due) {
        self.heap.push(Reverse(due));
    }

    /// Notes that one armed entry no longer matters (its connection closed or
    /// was re-armed earlier).
    pub fn forget_one(&mut self) {
        self.stale += 1;
    }

    /// Notes that a popped entry turned out to be stale.
    pub fn dropped_stale(&mut self) {
        self.stale = self.stale.saturating_sub(1);
    }

    /// The earliest armed time, for the poll timeout.
    pub fn next_at(&self) -> Option<u64> {
        self.heap.peek().map(|Reverse(d)| d.at)
    }

    /// Removes and returns the earliest entry if it is due at `now`.
    pub fn pop_due(&mut self, now: u64) -> Option<Due> {
        match self.heap.peek() {
            Some(Reverse(d)) if d.at <= now => self.heap.pop().map(|Reverse(d)| d),
            _ => None,
        }
    }

    /// Number of entries, live and stale.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// `true` when nothing is armed.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Drops stale entries once they outnumber the live ones by more than
    /// `2 × COMPACT_SLACK` (`stale > len / 2 + COMPACT_SLACK`, with
    /// `len = live + stale`). `is_live` says whether an entry is still its
    /// connection's armed deadline.
    pub fn compact(&mut self, is_live: impl Fn(&Due) -> bool) {
        if self.stale <= self.heap.len() / 2 + COMPACT_SLACK {
            return;
        }
        self.heap.retain(|Reverse(d)| is_live(d));
        self.stale = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn due(at: u64, key: u32) -> Due {
        Due { at, key, serial: 0 }
    }

    #[test]
    fn entries_come_out_in_time_order_only_when_due() {
        let mut t = Timers::default();
        t.arm(due(30, 1));
        t.arm(due(10, 2));
        t.arm(due(20, 3));
        assert_eq!(t.next_at(), Some(10));
        assert_eq!(t.pop_due(5), None);
        assert_eq!(t.pop_due(25), Some(due(10, 2)));
        assert_eq!(t.pop_due(25), Some(due(20, 3)));
        assert_eq!(t.pop_due(25), None);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn compact_waits_for_enough_stale_entries_then_drops_them() {
        let mut t = Timers::default();
        for k in 0..3000 {
            t.arm(due(k, k as u32));
        }
        for _ in 0..1000 {
            t.forget_one();
        }
        t.compact(|d| d.key % 2 == 0);
        assert_eq!(t.len(), 3000, "1000 stale is within the slack");
        for _ in 0..2000 {
            t.forget_one();
        }
        t.compact(|d| d.key % 2 == 0);
        assert_eq!(t.len(), 1500);
        assert!(!t.is_empty());
    }
}
