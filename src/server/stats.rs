//! The server's counters, and the one-line summary logged at shutdown.
//!
//! Plain integers bumped by the event loop as things happen; nothing here
//! does IO or takes time. The shutdown summary, the `--stats-interval` line
//! and the Prometheus exposition (`metrics.rs`) all read these fields. They
//! live with the server, which owns them; the protocols only report what
//! happened ([`crate::protocol::Tally`]) and the loop counts it here.
//!
//! The metrics endpoint's own connections are counted apart
//! ([`Stats::metrics`]): a scrape must not move the counters it reads, or
//! whoever waits on them (a test, an alert) races its own scrapes.

use crate::protocol::metrics::Status;
use crate::protocol::udp::guard::Drop;
use crate::protocol::{CloseReason, Service, Tally};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Counters kept by the event loop. The connection and byte counters are
/// the services' (echo, greet, login, command); the metrics endpoint's
/// connections are in [`Stats::metrics`] only.
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
    /// Reply bytes waiting for the kernel now, across all connections
    /// (what `--output-budget` caps).
    pub output_pending_bytes: u64,
    /// Connections with reply bytes waiting for the kernel now: their
    /// clients read slower than they ask, and reading them is paused.
    pub output_pending_conns: u64,
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
    /// Datagrams not answered (or udp-log lines not logged) by the UDP
    /// guard, indexed like [`Drop::ALL`]: source port, own port, loops,
    /// udp-log rate limits.
    pub udp_drops: [u64; Drop::ALL.len()],
    /// Connections refused at accept by the login throttle (a failing
    /// source with too many unauthenticated connections).
    pub logins_refused: u64,
    /// Log lines dropped because the log writer fell behind (set from the
    /// log queue when the counters are shown).
    pub log_lines_dropped: u64,
    /// Remote shutdowns (`E` in a logged-in session, where allowed): a
    /// worker that stopped for one exits with its own status.
    pub remote_shutdowns: u64,
    /// Datagrams the kernel dropped before the loop could read them: the
    /// socket's receive queue was full (SO_MEMINFO, read when asked: `udp.rs`).
    pub udp_kernel_drops: u64,
    /// Requests answered per TCP service, indexed like [`TCP_SERVICES`]:
    /// lines for the line services, reads for echo.
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
    /// The metrics endpoint's own connections and responses.
    pub metrics: EndpointStats,
}

/// The metrics endpoint's counters, apart from the services'.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndpointStats {
    /// Connections accepted (refused ones are not: they are 503s).
    pub accepted: u64,
    /// Connections open right now.
    pub active: u64,
    /// Responses sent, indexed like [`Status::ALL`].
    pub responses: [u64; Status::ALL.len()],
}

/// The TCP services whose requests are counted, in [`Stats::requests`] order
/// (the metrics endpoint counts its responses by status instead).
pub const TCP_SERVICES: [Service; 4] = [
    Service::Echo,
    Service::Greet,
    Service::Login,
    Service::Command,
];

impl Stats {
    /// Counts a connection opened on `service`.
    pub fn opened(&mut self, service: Service) {
        if service == Service::Metrics {
            self.metrics.accepted += 1;
            self.metrics.active += 1;
            return;
        }
        self.accepted += 1;
        self.active += 1;
        self.peak = self.peak.max(self.active);
    }

    /// Counts a connection on `service` closed for `reason`.
    pub fn closed(&mut self, service: Service, reason: CloseReason) {
        if service == Service::Metrics {
            self.metrics.active = self.metrics.active.saturating_sub(1);
            return;
        }
        self.active = self.active.saturating_sub(1);
        let index = CloseReason::ALL
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(0);
        self.closed[index] += 1;
    }

    /// Counts a connection on `service` refused because the server is full.
    pub fn refused(&mut self, service: Service) {
        if service == Service::Metrics {
            self.metrics.responses[Status::ServiceUnavailable.index()] += 1;
        } else {
            self.refused_full += 1;
        }
    }

    /// Counts `n` bytes read from a connection on `service`. The metrics
    /// endpoint's bytes are not counted: a scrape must not move the
    /// `bytes_in` it reports.
    pub fn read(&mut self, service: Service, n: usize) {
        if service != Service::Metrics {
            self.bytes_in += n as u64;
        }
    }

    /// Counts `n` bytes written to a connection on `service` (not for the
    /// metrics endpoint, as in [`Stats::read`]).
    pub fn wrote(&mut self, service: Service, n: usize) {
        if service != Service::Metrics {
            self.bytes_out += n as u64;
        }
    }

    /// Every TCP connection open, the metrics endpoint's included: what
    /// `--max-conns` bounds and what shutdown waits for.
    pub fn open_connections(&self) -> u64 {
        self.active + self.metrics.active
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
        self.output_pending_bytes += other.output_pending_bytes;
        self.output_pending_conns += other.output_pending_conns;
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
        self.udp_in += other.udp_in;
        self.udp_out += other.udp_out;
        self.udp_dropped += other.udp_dropped;
        for (mine, theirs) in self.udp_drops.iter_mut().zip(other.udp_drops) {
            *mine += theirs;
        }
        self.logins_refused += other.logins_refused;
        self.log_lines_dropped += other.log_lines_dropped;
        self.remote_shutdowns += other.remote_shutdowns;
        self.udp_kernel_drops += other.udp_kernel_drops;
        for (mine, theirs) in self.requests.iter_mut().zip(other.requests) {
            *mine += theirs;
        }
        self.logins_ok += other.logins_ok;
        self.logins_failed += other.logins_failed;
        self.loop_turns += other.loop_turns;
        self.events += other.events;
        self.poll_wait_ns += other.poll_wait_ns;
        self.busy_ns += other.busy_ns;
        self.metrics.accepted += other.metrics.accepted;
        self.metrics.active += other.metrics.active;
        for (mine, theirs) in self
            .metrics
            .responses
            .iter_mut()
            .zip(other.metrics.responses)
        {
            *mine += theirs;
        }
    }

    /// Adds one connection's protocol tally for `service`.
    pub fn count(&mut self, service: Service, tally: &Tally) {
        if let Some(i) = TCP_SERVICES.iter().position(|s| *s == service) {
            self.requests[i] += tally.requests;
        }
        self.logins_ok += tally.logins_ok;
        self.logins_failed += tally.logins_failed;
        if let Some(status) = tally.http_response {
            self.metrics.responses[status.index()] += 1;
        }
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
             udp in {} out {} dropped {} kernel drops {} | turns {} events {} busy {:.1}%",
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
            self.udp_dropped + self.udp_guarded(),
            self.udp_kernel_drops,
            self.loop_turns,
            self.events,
            busy * 100.0
        )
    }

    /// Datagrams the guard refused to answer (source port, own port, loops).
    pub fn udp_guarded(&self) -> u64 {
        Drop::ALL
            .iter()
            .filter(|d| !d.is_log())
            .map(|d| self.udp_drops[d.index()])
            .sum()
    }

    /// udp-log lines suppressed by its rate limits.
    pub fn udp_log_suppressed(&self) -> u64 {
        Drop::ALL
            .iter()
            .filter(|d| d.is_log())
            .map(|d| self.udp_drops[d.index()])
            .sum()
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
            "served {} connection{} (peak {}, refused full {}), bytes in {} out {}, closed:",
            self.accepted,
            if self.accepted == 1 { "" } else { "s" },
            self.peak,
            self.refused_full,
            self.bytes_in,
            self.bytes_out
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
            "; logins ok {} failed {} refused {}; udp datagrams in {} out {} dropped {} \
             guarded {} kernel drops {} log-suppressed {}; log lines dropped {}",
            self.logins_ok,
            self.logins_failed,
            self.logins_refused,
            self.udp_in,
            self.udp_out,
            self.udp_dropped,
            self.udp_guarded(),
            self.udp_kernel_drops,
            self.udp_log_suppressed(),
            self.log_lines_dropped
        )?;
        write!(f, "; metrics connections {}", self.metrics.accepted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_and_close_track_active_peak_and_reasons() {
        let mut s = Stats::default();
        s.opened(Service::Echo);
        s.opened(Service::Greet);
        s.closed(Service::Echo, CloseReason::Idle);
        s.opened(Service::Login);
        assert_eq!((s.accepted, s.active, s.peak), (3, 2, 2));
        assert_eq!(s.closed_for(CloseReason::Idle), 1);
        assert_eq!(s.closed_for(CloseReason::Peer), 0);
        assert!(s.to_string().contains("idle 1"));
    }

    #[test]
    fn summary_says_connection_or_connections() {
        let mut s = Stats::default();
        assert!(s.to_string().starts_with("served 0 connections ("));
        s.opened(Service::Echo);
        assert!(s.to_string().starts_with("served 1 connection ("));
        s.opened(Service::Echo);
        assert!(s.to_string().starts_with("served 2 connections ("));
    }

    #[test]
    fn add_sums_every_counter() {
        let mut a = Stats::default();
        a.opened(Service::Echo);
        a.closed(Service::Echo, CloseReason::Peer);
        a.opened(Service::Metrics);
        a.count(Service::Metrics, &http_response(Status::Ok));
        let mut b = a.clone();
        b.bytes_in = 7;
        b.add(&a);
        assert_eq!(
            (b.accepted, b.bytes_in, b.closed_for(CloseReason::Peer)),
            (2, 7, 2)
        );
        assert_eq!(
            (b.metrics.accepted, b.metrics.responses[Status::Ok.index()]),
            (2, 2)
        );
    }

    /// A scrape (open, answer, bytes, close) moves the endpoint's counters
    /// and none of the services': nobody waiting on those races a scrape.
    #[test]
    fn metrics_connections_are_counted_apart() {
        let mut s = Stats::default();
        s.opened(Service::Metrics);
        assert_eq!(s.open_connections(), 1);
        s.read(Service::Metrics, 40);
        s.count(Service::Metrics, &http_response(Status::Ok));
        s.wrote(Service::Metrics, 3000);
        s.closed(Service::Metrics, CloseReason::Bye);
        s.refused(Service::Metrics);
        let mut expected = Stats::default();
        expected.metrics.accepted = 1;
        expected.metrics.responses[Status::Ok.index()] = 1;
        expected.metrics.responses[Status::ServiceUnavailable.index()] = 1;
        assert_eq!(s, expected);
    }

    fn http_response(status: Status) -> Tally {
        Tally {
            http_response: Some(status),
            ..Tally::default()
        }
    }
}
