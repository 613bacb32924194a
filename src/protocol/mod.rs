//! The services' protocols, as plain state machines with no sockets.
//!
//! Each TCP connection owns one [`Session`]: bytes and a [`Ctx`] (time,
//! randomness, credentials) go in, reply bytes and a [`Verdict`] come out.
//! Only the event loop (`server`) touches sockets; it hands every chunk it
//! reads to [`Session::feed`] and writes whatever lands in `out`.
//! Sessions report what happened ([`Ctx::tally`]) and the loop counts it:
//! this module sits below everything else in the crate and uses nothing
//! from it but [`crate::framing`] (`scripts/check-cycles.sh` checks that).
//! That split is what lets every protocol be tested byte-for-byte without a
//! socket, and what keeps the loop readable in one sitting.
//!
//! One file per service: [`echo`], [`greet`], [`login`], [`command`], and
//! [`udp`] for the two datagram services; [`metrics`] is the operator's HTTP
//! endpoint. Beside them: [`credentials`] (the accepted logins and how they
//! are compared), and the per-source limits with `now` passed in:
//! [`sources`] (the source of a peer, a bounded table, a token bucket) and
//! [`throttle`] (login's penalties).

pub mod command;
pub mod credentials;
mod ctx;
pub mod echo;
pub mod greet;
pub mod login;
pub mod metrics;
pub mod sources;
pub mod throttle;
pub mod udp;

use crate::framing::{self, Frame};
use std::fmt;

pub use credentials::Credentials;
pub use ctx::{Ctx, Hold, Tally, local_now};
pub use sources::SourceKey;

/// Every service sockloop serves: the six of the tutorial plus the metrics
/// endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// TCP echo: bytes back unchanged.
    Echo,
    /// TCP greet: `NAME` → `Hi NAME`.
    Greet,
    /// TCP login, then commands.
    Login,
    /// TCP command: R, T, L, E.
    Command,
    /// UDP echo: each datagram back to its sender.
    UdpEcho,
    /// UDP log: each datagram logged, no reply.
    UdpLog,
    /// Prometheus metrics over HTTP (`--metrics`, off by default).
    Metrics,
}

impl Service {
    /// Every service, each once, in the order `serve` binds and prints
    /// them: the tutorial's six, then the metrics endpoint.
    pub const ALL: [Service; 7] = [
        Service::Echo,
        Service::Greet,
        Service::Login,
        Service::Command,
        Service::UdpEcho,
        Service::UdpLog,
        Service::Metrics,
    ];

    /// The six services of the socket tutorial: [`Service::ALL`] without
    /// the metrics endpoint, which is the operator's, off by default.
    pub const TUTORIAL: [Service; 6] = [
        Service::Echo,
        Service::Greet,
        Service::Login,
        Service::Command,
        Service::UdpEcho,
        Service::UdpLog,
    ];

    /// The service called `name` on the command line (see [`Service::name`]).
    pub fn from_name(name: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The service's name as used on the command line and in `listening` lines.
    pub fn name(self) -> &'static str {
        match self {
            Service::Echo => "echo",
            Service::Greet => "greet",
            Service::Login => "login",
            Service::Command => "command",
            Service::UdpEcho => "udp-echo",
            Service::UdpLog => "udp-log",
            Service::Metrics => "metrics",
        }
    }

    /// `true` for the datagram services.
    pub fn is_udp(self) -> bool {
        matches!(self, Service::UdpEcho | Service::UdpLog)
    }

    /// The transport, as printed in `listening` lines.
    pub fn proto(self) -> &'static str {
        if self.is_udp() { "udp" } else { "tcp" }
    }

    /// The default port (tutorial ports are privileged; these are not).
    pub fn default_port(self) -> u16 {
        match self {
            Service::Echo | Service::UdpEcho => 7000,
            Service::Greet => 7001,
            Service::Login => 7002,
            Service::Command => 7003,
            Service::UdpLog => 7004,
            // Next to the services; off unless `--metrics` asks for it.
            Service::Metrics => 7005,
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a connection ended. The protocols produce `Bye`, `TooManyFailures`
/// and `LineTooLong` from a line, and `Peer` from [`Session::finish`] after
/// the peer's FIN; the event loop adds `Peer` for a FIN with nothing left to
/// answer, and `Idle`, `SlowReader`, `SendTimeout`, `Error` and `Shutdown`. Counted per reason in the
/// shutdown summary and the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The client sent `E` and got `BYE`.
    Bye,
    /// The third failed login on one connection.
    TooManyFailures,
    /// A line longer than `--max-line`.
    LineTooLong,
    /// The peer closed its side (read returned 0) and its output was flushed.
    Peer,
    /// No traffic for `--idle-timeout`.
    Idle,
    /// Pending output across all connections passed `--output-budget`, and
    /// this connection's had waited longest without write progress.
    SlowReader,
    /// Pending output made no progress for `--send-timeout`.
    SendTimeout,
    /// A socket error (reset, broken pipe, ...).
    Error,
    /// The server is shutting down.
    Shutdown,
}

impl CloseReason {
    /// Every reason, for counting.
    pub const ALL: [CloseReason; 9] = [
        CloseReason::Bye,
        CloseReason::TooManyFailures,
        CloseReason::LineTooLong,
        CloseReason::Peer,
        CloseReason::Idle,
        CloseReason::SlowReader,
        CloseReason::SendTimeout,
        CloseReason::Error,
        CloseReason::Shutdown,
    ];

    /// Short name used in logs, summaries and as the Prometheus label value
    /// (`reason="line_too_long"`), so snake_case as Prometheus labels are.
    pub fn name(self) -> &'static str {
        match self {
            CloseReason::Bye => "bye",
            CloseReason::TooManyFailures => "too_many_failures",
            CloseReason::LineTooLong => "line_too_long",
            CloseReason::Peer => "peer",
            CloseReason::Idle => "idle",
            CloseReason::SlowReader => "slow_reader",
            CloseReason::SendTimeout => "send_timeout",
            CloseReason::Error => "error",
            CloseReason::Shutdown => "shutdown",
        }
    }
}

/// What the loop should do with a connection after feeding it input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Keep the connection open.
    Continue,
    /// Flush what is in `out`, then close this connection.
    Close(CloseReason),
    /// Flush, close this connection, and stop the whole server gracefully
    /// (`E` in a logged-in login session, from a loopback peer, with
    /// `--allow-remote-shutdown`: [`Ctx::allow_remote_shutdown`]).
    Shutdown,
}

/// The protocol state of one TCP connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Session {
    /// Echo has no state: it is not even line-framed.
    Echo,
    /// Greet has no state between lines.
    Greet,
    /// Login: awaiting a user, a password, or in command mode.
    Login(login::Login),
    /// Command has no state between lines.
    Command,
    /// An HTTP request for the metrics.
    Metrics(metrics::Http),
}

/// The result of [`Session::feed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fed {
    /// How many input bytes were used. The rest (a partial line, or lines
    /// left for later because `out` reached its budget) must be fed again.
    pub consumed: usize,
    /// What to do with the connection.
    pub verdict: Verdict,
}

impl Session {
    /// A fresh session for a connection accepted on `service`.
    ///
    /// Returns `None` for the UDP services, which have no connections.
    pub fn new(service: Service) -> Option<Session> {
        match service {
            Service::Echo => Some(Session::Echo),
            Service::Greet => Some(Session::Greet),
            Service::Login => Some(Session::Login(login::Login::new())),
            Service::Command => Some(Session::Command),
            Service::Metrics => Some(Session::Metrics(metrics::Http::new())),
            Service::UdpEcho | Service::UdpLog => None,
        }
    }

    /// The session for a connection accepted on `service` from `peer`:
    /// [`Session::new`], with login knowing its peer (for the throttle, and
    /// whether `E` may stop the server).
    pub fn from_peer(service: Service, peer: std::net::IpAddr) -> Option<Session> {
        match service {
            Service::Login => Some(Session::Login(login::Login::from_peer(peer))),
            _ => Session::new(service),
        }
    }

    /// Whether the session asked to be held ([`Hold`]) and the hold has not
    /// ended: the loop neither reads nor writes for it meanwhile.
    pub fn is_held(&self) -> bool {
        matches!(self, Session::Login(login) if login.is_held())
    }

    /// The loop's timer ended the hold.
    pub fn end_hold(&mut self) {
        if let Session::Login(login) = self {
            login.end_hold();
        }
    }

    /// The service this session speaks.
    pub fn service(&self) -> Service {
        match self {
            Session::Echo => Service::Echo,
            Session::Greet => Service::Greet,
            Session::Login(_) => Service::Login,
            Session::Command => Service::Command,
            Session::Metrics(_) => Service::Metrics,
        }
    }

    /// Feeds input bytes, appending replies to `out`.
    ///
    /// Whole lines are answered until `out` holds at least `out_budget` bytes,
    /// or until a line asks to hold the connection ([`Ctx::hold`]); the
    /// unconsumed rest is the caller's to keep and feed again (that is how
    /// backpressure stops a flood of tiny requests from growing `out`).
    /// `max_line` is `--max-line`, for the line services; the metrics
    /// endpoint has HTTP limits of its own ([`metrics::MAX_LINE`]).
    pub fn feed(
        &mut self,
        input: &[u8],
        ctx: &mut Ctx<'_>,
        out: &mut Vec<u8>,
        max_line: usize,
        out_budget: usize,
    ) -> Fed {
        if let Session::Echo = self {
            ctx.tally.requests += 1;
            echo::respond(input, out);
            return Fed {
                consumed: input.len(),
                verdict: Verdict::Continue,
            };
        }
        // The metrics endpoint is HTTP, with HTTP's limits, not `--max-line`.
        let max_line = match self {
            Session::Metrics(_) => metrics::MAX_LINE,
            _ => max_line,
        };
        let mut consumed = 0;
        loop {
            match framing::next_line(&input[consumed..], max_line) {
                // Budget reached: hold the line back for the caller to feed again.
                Frame::Line { .. } if out.len() >= out_budget => break,
                Frame::Line {
                    content,
                    consumed: used,
                } => {
                    let verdict = self.on_line(content, ctx, out);
                    // A line to retry later stays in the input, unused.
                    if !matches!(ctx.hold, Some(Hold::Retry { .. })) {
                        consumed += used;
                    }
                    if verdict != Verdict::Continue || ctx.hold.is_some() {
                        return Fed { consumed, verdict };
                    }
                }
                Frame::Incomplete => break,
                // Whatever the budget: an over-long partial line must not stay
                // buffered (past `max_line`) and be answered at the client's EOF.
                Frame::TooLong => {
                    let verdict = match self {
                        Session::Metrics(http) => http.on_too_long(ctx, out),
                        _ => {
                            out.extend_from_slice(b"ERR line too long\n");
                            Verdict::Close(CloseReason::LineTooLong)
                        }
                    };
                    return Fed {
                        consumed: input.len(),
                        verdict,
                    };
                }
            }
        }
        Fed {
            consumed,
            verdict: Verdict::Continue,
        }
    }

    /// The peer closed its side: answer a final line that had no `\n`
    /// (so `printf R | nc` works), then the connection ends.
    pub fn finish(&mut self, rest: &[u8], ctx: &mut Ctx<'_>, out: &mut Vec<u8>) -> Verdict {
        let rest = framing::strip_cr(rest);
        match self {
            Session::Echo => {
                echo::respond(rest, out);
                Verdict::Close(CloseReason::Peer)
            }
            _ if rest.is_empty() => Verdict::Close(CloseReason::Peer),
            _ => match self.on_line(rest, ctx, out) {
                // A final line that may not be checked yet is dropped: a
                // peer that sent its FIN gets no later chance to retry it.
                Verdict::Continue if matches!(ctx.hold, Some(Hold::Retry { .. })) => {
                    ctx.hold = None;
                    Verdict::Close(CloseReason::Peer)
                }
                Verdict::Continue => Verdict::Close(CloseReason::Peer),
                other => other,
            },
        }
    }

    /// One complete line (without its terminator) for a line service.
    fn on_line(&mut self, line: &[u8], ctx: &mut Ctx<'_>, out: &mut Vec<u8>) -> Verdict {
        // A line is a request, except in an HTTP head (counted per response).
        if !matches!(self, Session::Metrics(_)) {
            ctx.tally.requests += 1;
        }
        match self {
            Session::Greet => greet::on_line(line, out),
            // Nobody logged in here: `E` closes only this connection.
            Session::Command => command::on_line(line, ctx, out, false),
            Session::Login(login) => login.on_line(line, ctx, out),
            Session::Metrics(http) => http.on_line(line, ctx, out),
            Session::Echo => {
                // Unreachable by construction (echo is not line-framed); answer
                // as echo would rather than panic.
                echo::respond(line, out);
                Verdict::Continue
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Fixtures shared by the protocol unit tests.
    use super::*;
    use chrono::{DateTime, FixedOffset};
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    /// A fixed wall clock: 2026-11-28T12:34:56+01:00.
    pub fn fixed_clock() -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339("2026-11-28T12:34:56+01:00").unwrap()
    }

    /// The metrics body [`with_ctx`] hands out: a stand-in for the
    /// server's exposition, which the endpoint must send unchanged.
    pub const EXPOSITION: &str = "sockloop_connections_active 0\n";

    /// Runs `f` with a deterministic context.
    pub fn with_ctx<R>(allow_remote_shutdown: bool, f: impl FnOnce(&mut Ctx<'_>) -> R) -> R {
        let mut rng = SmallRng::seed_from_u64(7);
        let credentials = Credentials::default_tutorial();
        let exposition = || EXPOSITION.to_owned();
        let mut ctx = Ctx::new(fixed_clock, &mut rng, &credentials, &exposition);
        ctx.allow_remote_shutdown = allow_remote_shutdown;
        f(&mut ctx)
    }

    /// Feeds `input` to `session` in one piece; returns (output, fed).
    #[track_caller]
    pub fn feed_all(session: &mut Session, input: &[u8]) -> (Vec<u8>, Fed) {
        with_ctx(false, |ctx| {
            let mut out = Vec::new();
            let fed = session.feed(input, ctx, &mut out, 4096, usize::MAX);
            (out, fed)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn several_lines_in_one_chunk_are_all_answered() {
        let mut s = Session::Greet;
        let (out, fed) = feed_all(&mut s, b"ann\nbob\r\ncar");
        assert_eq!(out, b"Hi ann\nHi bob\n");
        assert_eq!(fed.consumed, 9, "the partial line `car` stays unconsumed");
        assert_eq!(fed.verdict, Verdict::Continue);
    }

    #[test]
    fn output_budget_stops_answering_between_lines() {
        let mut s = Session::Greet;
        with_ctx(false, |ctx| {
            let mut out = Vec::new();
            let fed = s.feed(b"a\nb\nc\n", ctx, &mut out, 4096, 6);
            assert_eq!(out, b"Hi a\nHi b\n");
            assert_eq!(fed.consumed, 4);
        });
    }

    #[test]
    fn too_long_line_errs_and_closes() {
        let mut s = Session::Command;
        with_ctx(false, |ctx| {
            let mut out = Vec::new();
            let fed = s.feed(&[b'x'; 20], ctx, &mut out, 10, usize::MAX);
            assert_eq!(out, b"ERR line too long\n");
            assert_eq!(fed.verdict, Verdict::Close(CloseReason::LineTooLong));
        });
    }

    #[test]
    fn finish_answers_a_final_unterminated_line() {
        let mut s = Session::Greet;
        with_ctx(false, |ctx| {
            let mut out = Vec::new();
            let v = s.finish(b"zed\r", ctx, &mut out);
            assert_eq!(out, b"Hi zed\n");
            assert_eq!(v, Verdict::Close(CloseReason::Peer));
            out.clear();
            assert_eq!(
                s.finish(b"", ctx, &mut out),
                Verdict::Close(CloseReason::Peer)
            );
            assert!(out.is_empty());
        });
    }

    #[test]
    fn echo_feed_consumes_everything() {
        let mut s = Session::Echo;
        let (out, fed) = feed_all(&mut s, b"\x00\xffno\nframing");
        assert_eq!(out, b"\x00\xffno\nframing");
        assert_eq!(fed.consumed, 12);
    }

    #[test]
    fn every_service_is_listed_once_and_found_by_name() {
        for (i, service) in Service::ALL.into_iter().enumerate() {
            assert!(!Service::ALL[..i].contains(&service), "{service} twice");
            assert_eq!(Service::from_name(service.name()), Some(service));
        }
        assert!(Service::TUTORIAL.iter().all(|s| Service::ALL.contains(s)));
        assert!(!Service::TUTORIAL.contains(&Service::Metrics));
        assert_eq!(Service::from_name("nope"), None);
    }

    #[test]
    fn udp_services_have_no_session() {
        assert_eq!(Session::new(Service::UdpEcho), None);
        assert_eq!(Session::new(Service::UdpLog), None);
        assert_eq!(Session::new(Service::Echo), Some(Session::Echo));
    }
}
