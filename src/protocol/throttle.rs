//! Login throttling per source: at most one password check per penalty
//! window once a source has failed, and a cap on its unauthenticated
//! connections. Sans-IO: the loop passes `now` and keeps the table; login
//! asks through a [`LoginGate`] in its `Ctx`.
//!
//! # Rules (per source: an IPv4 address or an IPv6 /64, [`SourceKey`])
//! - **Checks are spaced.** After the k-th recent failure, no password of
//!   that source is checked before `now + delay(k)`, on any connection:
//!   `delay(k)` = [`FIRST_DELAY_MS`] doubled per further failure, capped
//!   at [`MAX_DELAY_MS`] (1, 2, 4, 8, 16, 30, 30 ... s). A password line
//!   that arrives earlier waits, unread, until then ([`Hold::Retry`]); the
//!   failure reply itself is sent only then too ([`Hold::Until`]). Opening
//!   more connections gains nothing: the spacing is the source's, so one
//!   source gets at most one guess per second, and fewer the longer it
//!   keeps failing (OpenSSH's PerSourcePenalties, since 9.8).
//! - **Unauthenticated connections are capped** at [`MAX_UNAUTHENTICATED`]
//!   per source while it has recent failures (OpenSSH's MaxStartups, per
//!   source): more are refused at accept.
//! - **Failures are forgotten** [`FORGET_MS`] after the last one. A
//!   successful login does not clear them: an attacker with one account of
//!   its own must not be able to reset its penalty between guesses.
//! - **A source that never failed is never held, delayed or capped**, which
//!   is why a load test that logs in with the right password
//!   (`sockloop load --service login`) runs exactly as fast as before.
//!
//! The table holds [`TABLE_CAPACITY`] sources; past that the oldest is
//! forgotten ([`SourceTable`]), so memory is bounded but an attacker with
//! more addresses than that can reset its oldest records. That, and
//! guessing from many addresses at once, is what a strong password and
//! fail2ban (the `login failure from` log line) are for.
//!
//! [`Hold::Retry`]: super::Hold::Retry
//! [`Hold::Until`]: super::Hold::Until

use super::sources::{SourceKey, SourceTable};

/// The penalty after a source's first recent failure: one second, as
/// `login(1)` and most prompts wait after a wrong password.
pub const FIRST_DELAY_MS: u64 = 1_000;

/// The longest penalty: 30 s. Long enough that a guesser gets two tries a
/// minute; short enough that a real user who mistyped a few times waits
/// no longer than a coffee sip, well within the 300 s idle timeout.
pub const MAX_DELAY_MS: u64 = 30_000;

/// Recent failures are forgotten this long after the last one: 10 minutes,
/// the order of fail2ban's default `findtime`.
pub const FORGET_MS: u64 = 10 * 60 * 1000;

/// Unauthenticated login connections a failing source may hold at once:
/// 10, OpenSSH's MaxStartups start value.
pub const MAX_UNAUTHENTICATED: u32 = 10;

/// Sources remembered at once: 4096 records of 24 bytes plus the map's
/// overhead, well under a megabyte.
pub const TABLE_CAPACITY: usize = 4096;

/// One source's record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Record {
    /// Its login connections open and not logged in.
    unauthenticated: u32,
    /// Failures since it was last forgiven.
    failures: u32,
    /// When the last failure was (the loop's milliseconds).
    last_failure: u64,
    /// No password of this source is checked before this time.
    next_check: u64,
}

impl Record {
    /// Forgets failures older than [`FORGET_MS`].
    fn forgive(&mut self, now: u64) {
        if self.failures > 0 && now.saturating_sub(self.last_failure) >= FORGET_MS {
            self.failures = 0;
        }
    }
}

/// The penalty after the `failures`-th recent failure.
pub fn delay_after(failures: u32) -> u64 {
    // 2^5 s > MAX_DELAY_MS already: the shift never needs to go further.
    let doublings = failures.saturating_sub(1).min(5);
    (FIRST_DELAY_MS << doublings).min(MAX_DELAY_MS)
}

/// A new login connection was refused: its source is failing and already
/// holds [`MAX_UNAUTHENTICATED`] unauthenticated connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyUnauthenticated;

/// Every source's record; owned by the loop.
#[derive(Debug)]
pub struct LoginThrottle {
    table: SourceTable<SourceKey, Record>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle::new(TABLE_CAPACITY)
    }
}

impl LoginThrottle {
    /// A throttle remembering at most `capacity` sources.
    pub fn new(capacity: usize) -> LoginThrottle {
        LoginThrottle {
            table: SourceTable::new(capacity),
        }
    }

    /// A login connection from `source` was accepted at `now`: counts it as
    /// unauthenticated, or refuses it (see the module header).
    pub fn open(&mut self, source: SourceKey, now: u64) -> Result<(), TooManyUnauthenticated> {
        let record = self.table.entry(source, Record::default);
        record.forgive(now);
        if record.failures > 0 && record.unauthenticated >= MAX_UNAUTHENTICATED {
            return Err(TooManyUnauthenticated);
        }
        record.unauthenticated += 1;
        Ok(())
    }

    /// An unauthenticated login connection from `source` closed (or logged
    /// in). A source forgotten meanwhile has nothing to count down.
    pub fn release(&mut self, source: SourceKey) {
        if let Some(record) = self.table.get_mut(&source) {
            record.unauthenticated = record.unauthenticated.saturating_sub(1);
        }
    }

    /// The gate login asks on a connection from `source`.
    pub fn gate(&mut self, source: SourceKey) -> LoginGate<'_> {
        LoginGate {
            throttle: self,
            source,
        }
    }
}

/// What login asks before and after checking a password, for one
/// connection's source.
#[derive(Debug)]
pub struct LoginGate<'a> {
    throttle: &'a mut LoginThrottle,
    source: SourceKey,
}

impl LoginGate<'_> {
    /// `Ok` if a password may be checked at `now`; else when it may.
    pub fn may_check(&mut self, now: u64) -> Result<(), u64> {
        match self.throttle.table.get_mut(&self.source) {
            Some(record) if record.next_check > now => Err(record.next_check),
            Some(_) | None => Ok(()),
        }
    }

    /// A password check failed at `now`: returns when the failure reply
    /// may be sent, which is also when this source's next check may be.
    pub fn failed(&mut self, now: u64) -> u64 {
        let record = self.throttle.table.entry(self.source, Record::default);
        record.forgive(now);
        record.failures = record.failures.saturating_add(1);
        record.last_failure = now;
        record.next_check = now + delay_after(record.failures);
        record.next_check
    }

    /// The connection logged in: it is no longer unauthenticated.
    pub fn succeeded(&mut self) {
        self.throttle.release(self.source);
    }

    /// The source this gate is for (the failure log line names it).
    pub fn source(&self) -> SourceKey {
        self.source
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(n: u8) -> SourceKey {
        SourceKey::of([192, 0, 2, n].into())
    }

    #[test]
    fn the_delay_doubles_per_failure_up_to_its_cap() {
        let delays: Vec<u64> = (1..=8).map(delay_after).collect();
        assert_eq!(delays, [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
        assert_eq!(delay_after(u32::MAX), MAX_DELAY_MS);
    }

    /// One guess per window per source, whichever connection makes it.
    #[test]
    fn checks_of_a_failing_source_are_spaced_on_every_connection() {
        let mut t = LoginThrottle::default();
        assert_eq!(t.gate(source(1)).may_check(0), Ok(()));
        assert_eq!(t.gate(source(1)).failed(0), 1000);
        // Another connection of the same source waits too; others do not.
        assert_eq!(t.gate(source(1)).may_check(999), Err(1000));
        assert_eq!(t.gate(source(2)).may_check(999), Ok(()));
        assert_eq!(t.gate(source(1)).may_check(1000), Ok(()));
        assert_eq!(t.gate(source(1)).failed(1000), 3000);
    }

    #[test]
    fn failures_are_forgotten_after_a_while_not_by_a_success() {
        let mut t = LoginThrottle::default();
        t.gate(source(1)).failed(0);
        t.gate(source(1)).succeeded();
        assert_eq!(t.gate(source(1)).failed(1000), 3000, "second failure");
        assert_eq!(
            t.gate(source(1)).failed(1000 + FORGET_MS),
            1000 + FORGET_MS + 1000
        );
    }

    #[test]
    fn a_failing_source_is_capped_a_clean_one_is_not() {
        let mut t = LoginThrottle::default();
        for _ in 0..100 {
            assert_eq!(t.open(source(1), 0), Ok(()), "never failed: no cap");
        }
        t.gate(source(2)).failed(0);
        for _ in 0..MAX_UNAUTHENTICATED {
            assert_eq!(t.open(source(2), 0), Ok(()));
        }
        assert_eq!(t.open(source(2), 0), Err(TooManyUnauthenticated));
        t.release(source(2));
        assert_eq!(t.open(source(2), 0), Ok(()), "one closed: room for one");
        t.gate(source(2)).succeeded();
        assert_eq!(t.open(source(2), 0), Ok(()), "one logged in: room for one");
    }

    #[test]
    fn the_table_is_bounded() {
        let mut t = LoginThrottle::new(2);
        for n in 0..10 {
            t.gate(source(n)).failed(0);
        }
        assert_eq!(t.table.len(), 2);
        // A forgotten source starts clean; releasing it changes nothing.
        t.release(source(0));
        assert_eq!(t.gate(source(0)).may_check(1), Ok(()));
    }
}
