//! The report's parts for connection churn and for why connections failed:
//! `churn` (null without `--requests-per-conn`) and `connections.failures`
//! in the JSON, their lines in the human report, and the one-line hint when
//! the generator ran out of local ports.

use super::{Report, round3};
use crate::load::causes::{Cause, cause_of};
use crate::load::config::{Close, LoadConfig};
use crate::load::measurements::Measurements;
use serde::Serialize;
use std::fmt::Write as _;

/// The hint printed when connects failed for want of a local port.
pub const PORTS_HINT: &str = "local ports ran out (EADDRNOTAVAIL): spread the connections \
    over more source addresses (--source A-B), let connects reuse TIME_WAIT ports \
    (sysctl net.ipv4.tcp_tw_reuse=1), widen net.ipv4.ip_local_port_range, or --close reset";

/// `churn` in the JSON report.
#[derive(Debug, Clone, Serialize)]
pub struct Churn {
    /// `--requests-per-conn`: verified replies before a connection is
    /// replaced.
    pub requests_per_conn: u64,
    /// `--close`: "fin" or "reset".
    pub close: &'static str,
    /// Connections the generator closed after their last reply.
    pub recycled: u64,
    /// Connections that came up inside the window.
    pub opened_in_window: u64,
    /// Those per second of the window: the connection rate sustained.
    pub conns_per_sec: f64,
}

/// `connections.failures` in the JSON report: connections that failed or
/// were ended by the target, by cause (`causes.rs`, `Cause`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Failures {
    /// Connects refused.
    pub refused: u64,
    /// Connects not answered within `--connect-timeout`.
    pub connect_timeout: u64,
    /// Connects without a local port (EADDRNOTAVAIL / EADDRINUSE from
    /// `connect`).
    pub ports_exhausted: u64,
    /// Open connections reset by the target.
    pub reset: u64,
    /// Any other cause: closed by the target, turned away (`ERR server
    /// full`), other socket errors; the error counts say which.
    pub other: u64,
}

impl Failures {
    /// The failures of `m`, read from its error counts.
    pub fn of(m: &Measurements) -> Failures {
        let mut f = Failures::default();
        for (reason, &n) in &m.errors {
            match cause_of(reason) {
                Some(Cause::Refused) => f.refused += n,
                Some(Cause::ConnectTimeout) => f.connect_timeout += n,
                Some(Cause::PortsExhausted) => f.ports_exhausted += n,
                Some(Cause::Reset) => f.reset += n,
                // Not a connection's failure by a known cause (a wrong
                // reply, `udp: ...`): `other` is what is left below.
                None => {}
            }
        }
        let known = f.refused + f.connect_timeout + f.ports_exhausted + f.reset;
        f.other = (m.failed + m.closed_by_server).saturating_sub(known);
        f
    }

    /// All of them.
    pub fn total(&self) -> u64 {
        self.refused + self.connect_timeout + self.ports_exhausted + self.reset + self.other
    }
}

impl Churn {
    /// The churn of a run configured as `c`; `None` without churn.
    pub fn of(c: &LoadConfig, m: &Measurements) -> Option<Churn> {
        let requests_per_conn = c.requests_per_conn?;
        let per_sec = if m.window_secs > 0.0 {
            round3(m.opened_in_window as f64 / m.window_secs)
        } else {
            0.0
        };
        Some(Churn {
            requests_per_conn,
            close: match c.close {
                Close::Fin => "fin",
                Close::Reset => "reset",
            },
            recycled: m.recycled,
            opened_in_window: m.opened_in_window,
            conns_per_sec: per_sec,
        })
    }
}

impl Report {
    /// The churn line, the failures line and the ports hint, each only when
    /// it has something to say.
    pub(super) fn churn_lines(&self, s: &mut String) {
        // Writing to a String cannot fail.
        if let Some(c) = &self.churn {
            let replies = if c.requests_per_conn == 1 {
                "reply"
            } else {
                "replies"
            };
            let _ = writeln!(
                s,
                "  churn        {:.1} connections/s over the window ({} opened); {} closed \
                 after {} {replies} each (--close {})",
                c.conns_per_sec, c.opened_in_window, c.recycled, c.requests_per_conn, c.close
            );
        }
        let f = &self.connections.failures;
        if f.total() > 0 {
            let _ = writeln!(
                s,
                "  failures     {} refused, {} connect timeout, {} no local port, {} reset, \
                 {} other",
                f.refused, f.connect_timeout, f.ports_exhausted, f.reset, f.other
            );
        }
        if f.ports_exhausted > 0 {
            let _ = writeln!(s, "  hint         {PORTS_HINT}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_counted_by_cause_and_the_rest_is_other() {
        let mut m = Measurements::default();
        m.error_n("connect: connection refused", 2);
        m.error_n("connect: address not available (local ports exhausted?)", 3);
        m.error("connect: no answer within 5 s");
        m.error("read: connection reset");
        m.error("closed by server");
        m.error("line: reply does not match --expect");
        (m.failed, m.closed_by_server) = (6, 2);
        let f = Failures::of(&m);
        assert_eq!(
            f,
            Failures {
                refused: 2,
                connect_timeout: 1,
                ports_exhausted: 3,
                reset: 1,
                other: 1,
            }
        );
        assert_eq!(f.total(), 8);
    }

    /// The settings `sockloop load ARGS` would run with.
    fn config(args: &[&str]) -> LoadConfig {
        #[derive(clap::Parser)]
        struct Flags {
            #[command(flatten)]
            load: crate::load::LoadArgs,
        }
        let argv = std::iter::once("load").chain(args.iter().copied());
        LoadConfig::from_args(&<Flags as clap::Parser>::parse_from(argv).load).unwrap()
    }

    #[test]
    fn churn_is_reported_per_window_second_and_ports_running_out_get_the_hint() {
        let mut m = Measurements::default();
        (m.opened, m.opened_in_window, m.recycled, m.window_secs) = (1_005, 1_000, 998, 2.0);
        let r = Report::new(&config(&["--requests-per-conn", "3"]), &m);
        let churn = r.churn.as_ref().expect("churn asked for");
        assert_eq!((churn.conns_per_sec, churn.close), (500.0, "fin"));
        assert_eq!(r.connections.per_sec, 0.0, "no ramp-up time measured");
        let text = r.human();
        assert!(
            text.contains("  churn        500.0 connections/s"),
            "{text}"
        );
        assert!(
            !text.contains("failures") && !text.contains("hint"),
            "{text}"
        );
        m.failed = 2;
        m.error_n("connect: address not available (local ports exhausted?)", 2);
        let text = Report::new(&config(&[]), &m).human();
        assert!(!text.contains("  churn "), "no churn asked for: {text}");
        assert!(text.contains("2 no local port"), "{text}");
        assert!(
            text.contains(&format!("  hint         {PORTS_HINT}\n")),
            "{text}"
        );
    }
}
