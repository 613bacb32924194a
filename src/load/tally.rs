//! The run's final accounting, for `phases.rs`: when sending stops, the
//! open loop's scheduled requests that never went out, each put down to
//! what held it back ([`Unsent`]); at the end, the requests never answered
//! (TCP: failures; UDP: losses). `Engine::finish` (`phases.rs`) then
//! closes the books.

use super::engine::Engine;
use super::measurements::Unsent;
use super::table::Entry;
use crate::readiness::room::send_queued;

impl Engine {
    /// No request goes out any more; open loop, the ones still owed are
    /// counted as never sent (once: [`Engine::count_unsent`]).
    pub(super) fn stop_sending(&mut self) {
        if self.schedule.is_sending() {
            self.count_unsent();
        }
        self.schedule.close();
    }

    /// Open loop, as sending stops: the scheduled requests never sent, each
    /// put down to what held back its connection in the last turn that
    /// could send (its replies sent what they could). Every slot busy: the
    /// `--depth` cap (and the target's pace behind it). Bytes the target did
    /// not take, or the connection gone: the target. A free slot: the
    /// generator did not get to it (CPU).
    fn count_unsent(&mut self) {
        let Some(scheduled) = self.schedule.scheduled() else {
            return;
        };
        let depth = self.cfg.depth;
        let mut unsent = Unsent::default();
        for (_, entry) in self.conns.iter_mut() {
            let (owed, full, stuck) = match entry {
                Entry::Tcp(c) => (
                    self.schedule.owed(c.next_intended),
                    c.in_flight >= depth,
                    !c.out.is_empty(),
                ),
                Entry::Udp(u) => (
                    self.schedule.owed(u.next_intended),
                    u.slots.free() == 0,
                    u.blocked,
                ),
            };
            let cause = if full {
                &mut unsent.depth
            } else if stuck {
                &mut unsent.target
            } else {
                &mut unsent.cpu
            };
            *cause += owed;
        }
        // Every connection's schedule is what it sent plus what it owes: the
        // rest belonged to connections that are gone.
        let sent = self.meter.rec.totals().sent;
        let live = unsent.total();
        unsent.target += scheduled.saturating_sub(sent).saturating_sub(live);
        let rec = &mut self.meter.rec;
        rec.scheduled(scheduled);
        rec.unsent(unsent);
    }

    /// End of the run: requests still unanswered are failures (TCP) or
    /// losses (UDP).
    pub(super) fn count_unanswered(&mut self) {
        let (mut missing, mut lost) = (0, 0);
        let rec = &mut self.meter.rec;
        for (key, entry) in self.conns.iter_mut() {
            match entry {
                Entry::Tcp(c) => {
                    missing += u64::from(c.in_flight);
                    if c.in_flight > 0 {
                        stalled(rec, key, c);
                    }
                }
                Entry::Udp(u) => lost += u64::from(u.slots.in_flight()),
            }
        }
        if missing > 0 {
            let secs = self.cfg.drain_timeout.as_secs_f64();
            rec.verify_failed(
                &format!("no reply within {secs} s after the window"),
                missing,
            );
            rec.abandoned(missing);
        }
        rec.udp_lost(lost);
    }
}

/// The report's entries for connections that stalled (requests unanswered
/// at the end): one count per kind, and a warning naming the first few.
pub const STALLED_READING: &str = "stalled connection: the server stopped reading";
/// See [`STALLED_READING`].
pub const STALLED_ANSWERING: &str = "stalled connection: the server stopped answering";

/// Warnings naming stalled connections, at most this many per run.
const STALL_WARNINGS: u64 = 5;

/// Counts connection `key`, which ends the run with requests unanswered:
/// requests it could not even send, or that its kernel still holds
/// unacknowledged (`readiness::room::send_queued`: the server's receive
/// window closed), mean the server stopped reading; otherwise it read them
/// and stopped answering. The kernel's queue counts too because a send
/// buffer that autotuning grew (up to `tcp_wmem`'s maximum) can take every
/// request of a run, leaving `out` empty.
fn stalled(rec: &mut super::stats::Recorder, key: usize, c: &super::conn::Conn) {
    let unread = !c.out.is_empty() || send_queued(&c.stream) == Some(true);
    let kind = if unread {
        STALLED_READING
    } else {
        STALLED_ANSWERING
    };
    let seen = rec.totals().errors.get(kind).copied().unwrap_or(0);
    if seen < STALL_WARNINGS {
        let local = c.stream.local_addr().map_or("?".into(), |a| a.to_string());
        log::warn!(
            "conn #{key} (from {local}): {kind}: {} requests unanswered, {} bytes unsent",
            c.in_flight,
            c.out.pending()
        );
    }
    rec.error(kind);
}
