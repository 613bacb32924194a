//! The output budget: reply bytes waiting for the kernel, across all
//! connections, and what happens past `--output-budget`.
//!
//! Each connection's share is bounded by the read rules (`tcp.rs`: no
//! reading while output is pending, and no read larger than the socket can
//! take back), so a client that never reads costs about 1 KiB. This bounds
//! the sum too, whatever the number of connections: every change to a
//! connection's `out` reports here ([`Server::output_changed`], and
//! [`Server::forget_output`] when one closes), which keeps the total and
//! the number of connections with output pending (both in the stats: the
//! `sockloop_output_pending_*` metrics) and each connection's stall clock
//! (`Conn::stalled_for`: since its output became pending or last made
//! progress, which `--send-timeout` also reads).
//!
//! Past the budget, the connections whose output has waited longest
//! without progress are closed (`slow_reader`, logged at debug), the
//! biggest first among equals, until the total is back under seven eighths
//! of the budget: the slack makes one scan of the connections free room
//! for many more stalls, instead of one scan per stall. A connection whose
//! output became pending or progressed in this very millisecond is never
//! picked: a client that reads gets WRITABLE and makes progress long before
//! the slow readers that filled the budget have waited less than it has.
//! If only such connections are left, the check comes back next turn
//! (`budget_recheck`).

use super::{Entry, Server};
use crate::protocol::CloseReason;
use std::cmp::Reverse;

impl Server {
    /// `key`'s pending output was `before` bytes and is now whatever its
    /// `out` holds: update the totals and its stall clock, arm its send
    /// timeout if its output just became pending, and enforce the budget.
    pub(super) fn output_changed(&mut self, key: usize, before: usize) {
        let now = self.now;
        let Some(Entry::Conn(conn)) = self.entries.get_mut(key) else {
            return;
        };
        let after = conn.out.pending();
        let stats = &mut self.stats;
        stats.output_pending_bytes =
            (stats.output_pending_bytes + after as u64).saturating_sub(before as u64);
        match (before, after) {
            (0, 0) => return,
            (0, _) => {
                stats.output_pending_conns += 1;
                conn.last_active = now;
            }
            (_, 0) => {
                stats.output_pending_conns = stats.output_pending_conns.saturating_sub(1);
                return;
            }
            // Progress restarts the stall clock; more queued behind pending
            // output (a held reply) does not.
            (b, a) if a < b => conn.last_active = now,
            (_, _) => {}
        }
        if before == 0 {
            // The send timeout now applies: make sure it is armed.
            self.arm_deadline(key);
        }
        if self.stats.output_pending_bytes > self.config.output_budget as u64 {
            self.shed_slow_readers();
        }
    }

    /// A connection holding `pending` output bytes closed.
    pub(super) fn forget_output(&mut self, pending: usize) {
        if pending > 0 {
            let stats = &mut self.stats;
            stats.output_pending_bytes = stats.output_pending_bytes.saturating_sub(pending as u64);
            stats.output_pending_conns = stats.output_pending_conns.saturating_sub(1);
        }
    }

    /// Over the budget: closes slow readers, longest stalled first (the
    /// biggest first among equals), down to seven eighths of the budget.
    pub(super) fn shed_slow_readers(&mut self) {
        let budget = self.config.output_budget as u64;
        self.budget_recheck = false;
        if self.stats.output_pending_bytes <= budget {
            return;
        }
        let now = self.now;
        let mut stalled: Vec<(Reverse<u64>, Reverse<usize>, usize)> = self
            .entries
            .iter()
            .filter_map(|(key, entry)| match entry {
                // Held replies wait for the timer, not for the reader.
                Entry::Conn(c)
                    if !c.out.is_empty() && !c.session.is_held() && c.stalled_for(now) > 0 =>
                {
                    Some((Reverse(c.stalled_for(now)), Reverse(c.out.pending()), key))
                }
                _ => None,
            })
            .collect();
        stalled.sort_unstable();
        let low_water = budget - budget / 8;
        for (Reverse(stalled_ms), Reverse(pending), key) in stalled {
            if self.stats.output_pending_bytes <= low_water {
                return;
            }
            log::debug!(
                "slow reader #{key}: {pending} bytes pending, no write progress for {} ms; \
                 {} bytes pending in all, over --output-budget {budget}",
                stalled_ms,
                self.stats.output_pending_bytes
            );
            self.close(key, CloseReason::SlowReader);
        }
        // Only connections that stalled this millisecond are left over the
        // budget: they may be picked from the next turn on.
        self.budget_recheck = self.stats.output_pending_bytes > budget;
    }
}
