//! The server's counters, and the one-line summary logged at shutdown.
//!
//! Plain integers bumped by the event loop as things happen; nothing here
//! does IO or takes time. The shutdown summary, the `--stats-interval` line
//! and the Prometheus exposition ([`crate::metrics`]) all read these fields.

use crate::protocol::{CloseReason, Service, Tally};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Counters kept by the event loop.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stats {
    /// TCP connections accepted and served.
    pub accepted: u64,
    /// Connections open right now.
    pub active: u64,
    /// Most connections open at once.
    pub peak: u64,
    /// Connections refused with `ERR server full`.
    pub refused_full: u64,
    /// Refused connections lingering now (at most
    /// `server::REFUSED_LINGER_MAX`), so that their line arrives.
    pub refused_lingering: u64,
    /// Lingering refusals closed early to make room for a newer one.
    pub refused_cut: u64,
    /// Times `accept` hit the file-descriptor limit and backed off.
    pub accept_backoffs: u64,
    /// Closed connections, indexed like [`CloseReason::ALL`].
    pub closed: [u64; CloseReason::ALL.len()],
    /// TCP bytes read.
    pub bytes_in: u64,
    /// TCP bytes written.
    pub bytes_out: u64,
    /// Datagrams received.
    pub udp_in: u64,
    /// Datagrams sent.
    pub udp_out: u64,
    /// Replies dropped because the socket would block or failed.
    pub udp_dropped: u64,
    /// Datagrams dropped by the loop guard (small-service or own source ports).
    pub udp_guarded: u64,
    /// Requests answered per TCP service, indexed like [`TCP_SERVICES`]:
    /// lines for the line services, reads for echo, HTTP requests for metrics.
    pub requests: [u64; TCP_SERVICES.len()],
    /// Successful logins.
    pub logins_ok: u64,
    /// Failed logins (wrong user or password).
    pub logins_failed: u64,
    /// Event-loop turns (`poll` returns).
    pub loop_turns: u64,
    /// Readiness events handled.
    pub events: u64,
    /// Nanoseconds spent waiting in `poll`.
    pub poll_wait_ns: u64,
    /// Nanoseconds spent working between polls.
    pub busy_ns: u64,
}

/// The TCP services whose requests are counted, in [`Stats::requests`] order.
pub const TCP_SERVICES: [Service; 5] = [
    Service::Echo,
    Service::Greet,
    Service::Login,
    Service::Command,
    Service::Metrics,
];

impl Stats {
    /// Counts a connection opened.
    pub fn opened(&mut self) {
        self.accepted += 1;
        self.active += 1;
        self.peak = self.peak.max(self.active);
    }

    /// Counts a connection closed for `reason`.
    pub fn closed(&mut self, reason: CloseReason) {
        self.active = self.active.saturating_sub(1);
        let index = CloseReason::ALL
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(0);
        self.closed[index] += 1;
    }

    /// Adds another process's counters (workers' totals). `peak` adds up
    /// too: the workers' peaks are an upper bound of the combined peak.
    pub fn add(&mut self, other: &Stats) {
        self.accepted += other.accepted;
        self.active += other.active;
        self.peak += other.peak;
        self.refused_full += other.refused_full;
        self.refused_lingering += other.refused_lingering;
        self.refused_cut += other.refused_cut;
        self.accept_backoffs += other.accept_backoffs;
        for (mine, theirs) in self.closed.iter_mut().zip(other.closed) {
            *mine += theirs;
        }
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
        self.udp_in += other.udp_in;
        self.udp_out += other.udp_out;
        self.udp_dropped += other.udp_dropped;
        self.udp_guarded += other.udp_guarded;
        for (mine, theirs) in self.requests.iter_mut().zip(other.requests) {
            *mine += theirs;
        }
        self.logins_ok += other.logins_ok;
        self.logins_failed += other.logins_failed;
        self.loop_turns += other.loop_turns;
        self.events += other.events;
        self.poll_wait_ns += other.poll_wait_ns;
        self.busy_ns += other.busy_ns;
    }

    /// Adds one connection's protocol tally for `service`.
    pub fn count(&mut self, service: Service, tally: &Tally) {
        if let Some(i) = TCP_SERVICES.iter().position(|s| *s == service) {
            self.requests[i] += tally.requests;
        }
        self.logins_ok += tally.logins_ok;
        self.logins_failed += tally.logins_failed;
    }

    /// Requests answered by `service`.
    pub fn requests_for(&self, service: Service) -> u64 {
        TCP_SERVICES
            .iter()
            .position(|s| *s == service)
            .map_or(0, |i| self.requests[i])
    }

    /// The `--stats-interval` line: the counters that move, compactly.
    pub fn compact(&self) -> String {
        let busy = self.busy_ns as f64 / (self.busy_ns + self.poll_wait_ns).max(1) as f64;
        format!(
            "conns active {} peak {} accepted {} refused {} | bytes in {} out {} | \
             requests echo {} greet {} login {} command {} | logins ok {} failed {} | \
             udp in {} out {} dropped {} | turns {} events {} busy {:.1}%",
            self.active,
            self.peak,
            self.accepted,
            self.refused_full,
            self.bytes_in,
            self.bytes_out,
            self.requests_for(Service::Echo),
            self.requests_for(Service::Greet),
            self.requests_for(Service::Login),
            self.requests_for(Service::Command),
            self.logins_ok,
            self.logins_failed,
            self.udp_in,
            self.udp_out,
            self.udp_dropped + self.udp_guarded,
            self.loop_turns,
            self.events,
            busy * 100.0
        )
    }

    /// How many closed for `reason`.
    pub fn closed_for(&self, reason: CloseReason) -> u64 {
        CloseReason::ALL
            .iter()
            .position(|r| *r == reason)
            .map_or(0, |i| self.closed[i])
    }
}

impl fmt::Display for Stats {
    /// The shutdown summary line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "served {} connections (peak {}, refused full {}), bytes in {} out {}, closed:",
            self.accepted, self.peak, self.refused_full, self.bytes_in, self.bytes_out
        )?;
        for reason in CloseReason::ALL {
            write!(f, " {} {}", reason.name(), self.closed_for(reason))?;
        }
        write!(f, "; requests:")?;
        for service in TCP_SERVICES {
            write!(f, " {} {}", service, self.requests_for(service))?;
        }
        write!(
            f,
            "; logins ok {} failed {}; udp datagrams in {} out {} dropped {} guarded {}",
            self.logins_ok,
            self.logins_failed,
            self.udp_in,
            self.udp_out,
            self.udp_dropped,
            self.udp_guarded
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_and_close_track_active_peak_and_reasons() {
        let mut s = Stats::default();
        s.opened();
        s.opened();
        s.closed(CloseReason::Idle);
        s.opened();
        assert_eq!((s.accepted, s.active, s.peak), (3, 2, 2));
        assert_eq!(s.closed_for(CloseReason::Idle), 1);
        assert_eq!(s.closed_for(CloseReason::Peer), 0);
        assert!(s.to_string().contains("idle 1"));
    }

    #[test]
    fn add_sums_every_counter() {
        let mut a = Stats::default();
        a.opened();
        a.closed(CloseReason::Peer);
        let mut b = a.clone();
        b.bytes_in = 7;
        b.add(&a);
        assert_eq!(
            (b.accepted, b.bytes_in, b.closed_for(CloseReason::Peer)),
            (2, 7, 2)
        );
    }
}
