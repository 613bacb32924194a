//! What a protocol gets from the world and gives back, per call: the
//! [`Ctx`] (time, randomness, credentials, options, the login throttle, the
//! metrics body), what it answered ([`Tally`], for the loop to count) and
//! whether the loop must wait before going on ([`Hold`]).

use super::{metrics, throttle};
use chrono::{DateTime, FixedOffset};
use rand::rngs::SmallRng;

use super::Credentials;

/// A connection the protocol asks the loop to leave alone for a while
/// (login's penalty, [`throttle`]): set in [`Ctx::hold`], and then
/// [`Session::feed`](super::Session::feed) answers no further line. Times are the loop's
/// milliseconds, as [`Ctx::now`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// The last line was NOT used (it is not in `Fed::consumed`): feed it
    /// again at `at`.
    Retry {
        /// When to feed it again.
        at: u64,
    },
    /// The last line was answered, but the reply must not be sent, nor any
    /// further input read, before `at`.
    Until {
        /// When to send the reply and go on.
        at: u64,
    },
}

impl Hold {
    /// When the hold ends.
    pub fn at(self) -> u64 {
        match self {
            Hold::Retry { at } | Hold::Until { at } => at,
        }
    }
}

/// What the protocols counted while answering, for the server's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Requests answered (lines; reads for echo).
    pub requests: u64,
    /// Successful logins.
    pub logins_ok: u64,
    /// Failed logins.
    pub logins_failed: u64,
    /// The metrics endpoint's answer, once it has sent one.
    pub http_response: Option<metrics::Status>,
}

/// Everything a protocol needs from the outside world, passed in so that tests
/// control it: the clocks, randomness, credentials, options, the login
/// throttle, the metrics body; and what the call answered and asked, for
/// the caller to count and do.
pub struct Ctx<'a> {
    /// The local wall-clock time, asked for only when a reply needs it (`T`).
    pub wall_clock: fn() -> DateTime<FixedOffset>,
    /// The loop's monotonic time in milliseconds, read once per turn: what
    /// the login throttle counts in.
    pub now: u64,
    /// Randomness for `R`.
    pub rng: &'a mut SmallRng,
    /// The accepted user names and passwords.
    pub credentials: &'a Credentials,
    /// `--allow-remote-shutdown`: whether `E` in a logged-in login session
    /// from a loopback peer stops the whole server. `E` on the command
    /// service, where nobody logged in, never does.
    pub allow_remote_shutdown: bool,
    /// The loop's login throttle, which login charges to its peer's source
    /// (`None`: no throttling, as in tests of the protocol alone).
    pub login_throttle: Option<&'a mut throttle::LoginThrottle>,
    /// The metrics endpoint's body (the Prometheus text), rendered by the
    /// caller when a scrape asks for it: the server owns the counters, the
    /// endpoint knows only HTTP.
    pub exposition: &'a dyn Fn() -> String,
    /// What this call answered; the caller adds it to its counters.
    pub tally: Tally,
    /// Set when the connection must wait (see [`Hold`]); the caller holds it.
    pub hold: Option<Hold>,
}

impl<'a> Ctx<'a> {
    /// A context with no throttle, remote shutdown off, the loop's clock at
    /// 0, and nothing answered yet; callers set the rest by field.
    pub fn new(
        wall_clock: fn() -> DateTime<FixedOffset>,
        rng: &'a mut SmallRng,
        credentials: &'a Credentials,
        exposition: &'a dyn Fn() -> String,
    ) -> Ctx<'a> {
        Ctx {
            wall_clock,
            now: 0,
            rng,
            credentials,
            allow_remote_shutdown: false,
            login_throttle: None,
            exposition,
            tally: Tally::default(),
            hold: None,
        }
    }
}

/// The local time, as the server's [`Ctx::wall_clock`].
pub fn local_now() -> DateTime<FixedOffset> {
    chrono::Local::now().fixed_offset()
}
