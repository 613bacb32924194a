//! What the per-source limits need: a peer's source as they count it
//! ([`SourceKey`]), a table of per-source state that never grows past its
//! bound ([`SourceTable`]), and a token bucket ([`Bucket`]) with the time
//! passed in. No sockets and no clock: the loop hands in `now`.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A peer's source as the per-source limits count it: an IPv4 address (a
/// /32), or an IPv6 /64 prefix. An IPv6 host is usually given a whole /64,
/// so a limit per IPv6 address would be one address change away from
/// useless. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, a dual-stack
/// socket's IPv4 peer) counts as its IPv4 address.
///
/// Eight bytes, four-aligned, so a connection can keep it in its slab
/// entry: an IPv4 source is `hi = V4_TAG`, `lo` the address; an IPv6 one is
/// its prefix's two halves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SourceKey {
    hi: u32,
    lo: u32,
}

/// Marks an IPv4 source in [`SourceKey::hi`]: `ffff:ffff::/32` lies in
/// `ff00::/8`, multicast, which is never the source of a datagram or a
/// connection, so no IPv6 prefix is confused with it.
const V4_TAG: u32 = 0xffff_ffff;

impl SourceKey {
    /// The source of a peer at `ip`.
    pub fn of(ip: IpAddr) -> SourceKey {
        match ip.to_canonical() {
            IpAddr::V4(v4) => SourceKey {
                hi: V4_TAG,
                lo: u32::from(v4),
            },
            IpAddr::V6(v6) => {
                let prefix = (u128::from(v6) >> 64) as u64;
                SourceKey {
                    hi: (prefix >> 32) as u32,
                    lo: prefix as u32,
                }
            }
        }
    }
}

impl fmt::Display for SourceKey {
    /// `192.0.2.7`, or `2001:db8:1:2::/64`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.hi == V4_TAG {
            return Ipv4Addr::from(self.lo).fmt(f);
        }
        let prefix = (u128::from(self.hi) << 96) | (u128::from(self.lo) << 64);
        write!(f, "{}/64", Ipv6Addr::from(prefix))
    }
}

/// Per-source state, at most `capacity` entries. When full, a new source
/// takes the place of the oldest one (first in, first out): O(1), and the
/// memory stays bounded however many sources (spoofed ones included) turn
/// up. What that costs is stated by each user: an evicted source starts
/// again with a clean record. The map is std's `HashMap`, whose hash is
/// keyed at random per process, so sources chosen by an attacker cannot be
/// made to collide.
#[derive(Debug)]
pub struct SourceTable<K, V> {
    entries: HashMap<K, V>,
    /// Keys in insertion order; each key of `entries` exactly once.
    order: VecDeque<K>,
    capacity: usize,
}

impl<K: Hash + Eq + Copy, V> SourceTable<K, V> {
    /// An empty table holding at most `capacity` (at least 1) sources.
    pub fn new(capacity: usize) -> SourceTable<K, V> {
        SourceTable {
            entries: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// The state of `key`, inserted with `make()` if absent (evicting the
    /// oldest source when the table is full).
    pub fn entry(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        if !self.entries.contains_key(&key) {
            if self.entries.len() >= self.capacity
                && let Some(oldest) = self.order.pop_front()
            {
                self.entries.remove(&oldest);
            }
            self.order.push_back(key);
        }
        self.entries.entry(key).or_insert_with(make)
    }

    /// The state of `key`, if the table holds it.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.entries.get_mut(key)
    }

    /// Sources held now.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` when no source is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A token bucket: up to `burst` events at once, refilled at `per_second`.
/// Kept in thousandths of a token so that whole milliseconds of `now` lose
/// nothing to rounding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    /// Thousandths of a token.
    milli_tokens: u64,
    /// When it was last refilled (the loop's milliseconds).
    refilled_at: u64,
}

/// A bucket's limits: `burst` events at once, then `per_second`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Events allowed at once, from a full bucket.
    pub burst: u64,
    /// Events allowed per second after that.
    pub per_second: u64,
}

impl Bucket {
    /// A full bucket at `now`.
    pub fn full(rate: Rate, now: u64) -> Bucket {
        Bucket {
            milli_tokens: rate.burst * 1000,
            refilled_at: now,
        }
    }

    /// Takes one token if there is one at `now`.
    pub fn take(&mut self, rate: Rate, now: u64) -> bool {
        let elapsed = now.saturating_sub(self.refilled_at);
        // per_second tokens per 1000 ms = per_second milli-tokens per ms.
        let refill = elapsed.saturating_mul(rate.per_second);
        self.milli_tokens = self
            .milli_tokens
            .saturating_add(refill)
            .min(rate.burst * 1000);
        self.refilled_at = self.refilled_at.max(now);
        if self.milli_tokens >= 1000 {
            self.milli_tokens -= 1000;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> SourceKey {
        SourceKey::of(s.parse().unwrap())
    }

    #[test]
    fn ipv4_is_per_address_and_ipv6_per_64() {
        assert_ne!(key("192.0.2.1"), key("192.0.2.2"));
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:192.0.2.1"), key("192.0.2.1"));
        assert_eq!(key("192.0.2.1").to_string(), "192.0.2.1");
        assert_eq!(key("2001:db8:1:2::7").to_string(), "2001:db8:1:2::/64");
        assert_eq!(key("::1").to_string(), "::/64");
    }

    #[test]
    fn a_full_table_drops_its_oldest_source() {
        let mut t: SourceTable<u32, u32> = SourceTable::new(2);
        *t.entry(1, || 10) += 1;
        t.entry(2, || 20);
        assert_eq!(*t.entry(1, || 0), 11, "present: not replaced");
        t.entry(3, || 30);
        assert_eq!(t.len(), 2);
        assert!(t.get_mut(&1).is_none(), "the oldest went");
        assert_eq!(t.get_mut(&3), Some(&mut 30));
        assert!(!t.is_empty());
    }

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let rate = Rate {
            burst: 3,
            per_second: 2,
        };
        let mut b = Bucket::full(rate, 1000);
        assert!((0..3).all(|_| b.take(rate, 1000)));
        assert!(!b.take(rate, 1000), "burst used up");
        assert!(!b.take(rate, 1499), "half a second: not yet a whole token");
        assert!(b.take(rate, 1500));
        assert!(!b.take(rate, 1500));
        // A long pause refills up to the burst, no more.
        assert_eq!((0..10).filter(|_| b.take(rate, 60_000)).count(), 3);
        // A clock that goes backwards refills nothing.
        assert!(!b.take(rate, 50_000));
    }
}
