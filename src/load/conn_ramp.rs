//! `--idle --stages`: the number of open connections follows the stage
//! profile instead of a request rate. The ramp-up opens nothing; during the
//! hold, each turn compares the profile's target (rounded to whole
//! connections) with the connections up, connecting and due, and starts
//! connects ([`CONNECT_BATCH`] a turn, paced by `--connect-rate` as in a
//! ramp-up) or closes connections (the newest first; the generator closes,
//! so TIME_WAIT stays on this side). The loop wakes at least every
//! [`FOLLOW_EVERY`] to follow the profile; at the hold's end every
//! connection still open sends its one request, as in `--idle`.

use super::clock::ns;
use super::engine::{CONNECT_BATCH, Engine};
use super::stages::Profile;
use super::table::Entry;
use std::time::Duration;

/// How often the hold re-reads the profile when nothing else wakes the
/// loop: a ramp of 1,000 connections a second moves 10 per wake-up.
pub const FOLLOW_EVERY: Duration = Duration::from_millis(10);

impl Engine {
    /// Whether the connections follow a profile (`--idle --stages`).
    pub(super) fn conns_follow_stages(&self) -> bool {
        self.cfg.idle && self.cfg.stages.is_some()
    }

    /// During the hold, at `now`: opens or closes connections toward the
    /// profile's target, and expires connects that timed out.
    pub(super) fn follow_stages(&mut self, now: u64) {
        let Some(stages) = &self.cfg.stages else {
            return;
        };
        // The profile is small (at most 32 stages): rebuilt per turn rather
        // than kept beside the engine's other state.
        let profile = Profile::new(stages);
        let at = now.saturating_sub(self.meter.window_start());
        let target = (profile.rate_at(at).round() as usize).min(self.cfg.conns);
        // Up or connecting; connects wanted but not started are called
        // off or kept by `want`.
        let have = self.conns.sockets();
        if target >= have {
            self.conns.want(target - have);
        } else {
            self.conns.want(0);
            self.close_newest(have - target);
        }
        for _ in 0..CONNECT_BATCH {
            let Some(index) = self.conns.take_due_connect(now) else {
                break;
            };
            if self.is_udp() {
                self.open_udp(index);
            } else {
                self.start_tcp_connect(index);
            }
        }
        self.expire_connects(now);
    }

    /// When the hold must look at the profile again (a deadline of the
    /// loop): at once if a connect is due, else within [`FOLLOW_EVERY`].
    pub(super) fn follow_deadline(&self, now: u64) -> u64 {
        let follow = now + ns(FOLLOW_EVERY);
        self.conns
            .next_connect_at(now)
            .map_or(follow, |at| at.min(follow))
    }

    /// Closes `n` open connections, the newest (highest key) first; the
    /// generator closes them, not the target: not errors.
    fn close_newest(&mut self, n: usize) {
        let keys = self.conns.keys();
        let mut closed = 0;
        for &key in keys.iter().rev() {
            if closed == n {
                break;
            }
            let open = match self.conns.get(key) {
                Some(Entry::Tcp(c)) => c.state == super::conn::State::Open,
                Some(Entry::Udp(_)) => true,
                None => false,
            };
            if open && self.conns.remove(key).is_some() {
                self.meter.rec.closed(None);
                closed += 1;
            }
        }
    }
}
