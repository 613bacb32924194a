//! Connection churn (`--requests-per-conn N`), for the loop in `engine.rs`:
//! a connection sends at most N requests; once their N replies are
//! verified, the generator closes it ([`Engine::recycle`]) and asks the
//! table for one more connect in its place (`Conns::replace`), started at
//! once or on the `--connect-rate` grid ([`Engine::churn_connects`]). The
//! new connection sends as soon as it is up (`tcp.rs`).
//!
//! Which side closes first: the generator, after the last reply (the
//! server cannot know which reply is the last). With `--close fin` (the
//! default) that is an orderly close, and TIME_WAIT (60 s on Linux) lands
//! on the generator: one local port per closed connection, per target,
//! for a minute, which is what exhausts the ephemeral range at high rates
//! (the report counts it: `EADDRNOTAVAIL`). The server keeps no TIME_WAIT.
//! `--close reset` (SO_LINGER 0) sends an RST instead: no TIME_WAIT on
//! either side, at the price of the server seeing a reset, not an end.
//! docs/load-testing.md, "Connection churn", has the numbers and the
//! sysctls.
//!
//! A connection that fails (refused, timed out, reset, a wrong reply) is
//! not replaced: as without churn, a failure ends its slot, the run fails,
//! and the run stops once no slot is left.

use super::causes::connect_timeout_reason;
use super::config::Close;
use super::conn::abort_on_close;
use super::engine::{Engine, Phase};
use super::table::Entry;

/// Replacement connects started per turn, at most. More than the ramp's one
/// (`engine::CONNECT_BATCH`): churn is measured in connections per second,
/// and a turn per connect would cap it at the loop's turn rate. A connect's
/// latency then also holds the rest of the batch's `connect()` calls (a
/// few microseconds each) before the `poll` that sees it up.
pub const CHURN_BATCH: usize = 64;

impl Engine {
    /// Every connection is gone and no connect is pending: nothing is left
    /// to measure. (Under churn, a slot between its close and its
    /// replacement is not gone; a hold that follows `--stages` may have no
    /// connection on purpose.)
    pub(super) fn no_connection_left(&self) -> bool {
        self.meter.rec.open_now() == 0
            && !self.conns.connects_pending()
            && !self.conns_follow_stages()
    }

    /// Each connect whose `--connect-timeout` passed by `now` fails.
    pub(super) fn expire_connects(&mut self, now: u64) {
        while self.conns.expire_connect(now).is_some() {
            let reason = connect_timeout_reason(self.cfg.connect_timeout);
            self.meter.rec.connect_failed(&reason);
        }
    }

    /// The window, under churn: starts the replacement connects due at
    /// `now` ([`CHURN_BATCH`] a turn at most) and fails those that timed
    /// out. Nothing without `--requests-per-conn`.
    pub(super) fn churn_connects(&mut self, now: u64) {
        if self.cfg.requests_per_conn.is_none() {
            return;
        }
        for _ in 0..CHURN_BATCH {
            let Some(index) = self.conns.take_due_connect(now) else {
                break;
            };
            self.start_tcp_connect(index);
        }
        self.expire_connects(now);
    }

    /// Churn: connection `key` has had its last verified reply at `now`:
    /// closed by the generator (`--close`), and, while the window is open,
    /// replaced.
    pub(super) fn recycle(&mut self, key: usize, now: u64) {
        let Some(Entry::Tcp(conn)) = self.conns.remove(key) else {
            return;
        };
        if self.cfg.close == Close::Reset
            && let Err(e) = abort_on_close(&conn.stream)
        {
            // The close is then an orderly one: TIME_WAIT, not a failure.
            log::debug!("conn #{key}: SO_LINGER 0: {e}");
        }
        log::trace!(
            "conn #{key}: {} replies, closed by us ({:?})",
            conn.talk.answered,
            self.cfg.close
        );
        // Dropping the stream closes it (and takes it out of the epoll set).
        drop(conn);
        self.meter.rec.recycled();
        if self.phases.current() == Phase::Measure {
            self.conns.replace(now);
        }
    }
}

/// How many requests a connection that has sent `sent` may send now, of
/// its `free` `--depth` slots: all of them, or under churn (`limit`) no
/// more than its last.
pub(super) fn room(limit: Option<u64>, sent: u64, free: u32) -> u32 {
    match limit {
        None => free,
        Some(n) => u64::from(free).min(n.saturating_sub(sent)) as u32,
    }
}

/// Whether a connection with `answered` verified replies has had its last.
pub(super) fn is_spent(limit: Option<u64>, answered: u64) -> bool {
    limit.is_some_and(|n| answered >= n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_churned_connection_sends_exactly_its_share() {
        assert_eq!(room(None, 1_000, 8), 8, "no churn: every free slot");
        assert_eq!(room(Some(3), 0, 8), 3, "depth 8, 3 per connection");
        assert_eq!(room(Some(3), 2, 8), 1);
        assert_eq!(room(Some(3), 3, 8), 0, "its last is sent");
        assert_eq!(room(Some(10), 0, 4), 4, "the depth caps it first");
        assert!(!is_spent(None, u64::MAX));
        assert!(!is_spent(Some(2), 1));
        assert!(is_spent(Some(2), 2));
    }
}
