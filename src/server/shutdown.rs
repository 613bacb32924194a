//! Stopping: SIGINT/SIGTERM/SIGHUP arrive through signal-hook's self-pipe as an
//! ordinary readable token; shutdown stops accepting, lets pending output
//! flush for a bounded time (such connections become `Closing(shutdown)`,
//! through `Conn::set_phase`), then closes everything.

use super::conn::Phase;
use super::{Entry, Server};
use crate::config::SHUTDOWN_GRACE;
use crate::protocol::CloseReason;

impl Server {
    /// SIGINT/SIGTERM/SIGHUP arrived (through signal-hook's self-pipe).
    pub(super) fn on_signal(&mut self) {
        let signals: Vec<i32> = self.signals.pending().collect();
        for signal in signals {
            log::info!("received signal {signal}: shutting down");
            self.begin_shutdown();
        }
    }

    /// Graceful shutdown: stop accepting, let pending output flush for up to
    /// [`SHUTDOWN_GRACE`], then close everything. A second request closes
    /// everything at once.
    pub(super) fn begin_shutdown(&mut self) {
        if self.shutdown_at.is_some() {
            self.shutdown_at = Some(self.now);
            return;
        }
        self.shutdown_at = Some(self.now + SHUTDOWN_GRACE.as_millis() as u64);
        // Refusals only linger to deliver their line; stopping ends them.
        self.drop_refusals();
        // The last word on the kernel's drops, before the UDP sockets go.
        self.sync_udp_drops();
        // Dropping a listener closes it: new connections are refused by the kernel.
        for key in self.keys(|e| !matches!(e, Entry::Conn(_))) {
            self.entries.remove(key);
        }
        for key in self.keys(|e| matches!(e, Entry::Conn(_))) {
            let Some(Entry::Conn(conn)) = self.entries.get_mut(key) else {
                continue;
            };
            match conn.phase() {
                Phase::Open | Phase::Closing(_) if !conn.out.is_empty() => {
                    conn.set_phase(key, Phase::Closing(CloseReason::Shutdown));
                }
                Phase::Open | Phase::Closing(_) => self.close(key, CloseReason::Shutdown),
                Phase::Lingering(reason) => self.close(key, reason),
            }
        }
    }
}
