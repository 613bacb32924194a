//! Login (TCP 7002): a user line, a password line, then command mode.
//!
//! # Format
//! ```text
//! USER LF PASSWORD LF     ; both trimmed of surrounding whitespace
//!   match    -> "hello " USER ", welcome to the server" LF, then commands (see command.rs)
//!   mismatch -> "ERR invalid credentials" LF, back to awaiting a user
//!   3rd mismatch on one connection -> "ERR too many failed attempts" LF, close
//! ```
//! A user name over [`MAX_USER_NAME`] bytes is not kept: its password is
//! checked against nothing and fails like any wrong one.
//!
//! # Throttling
//! Once the connection's source has failed, its password lines are checked
//! at most once per penalty window and each failure reply waits for the
//! window's end ([`super::throttle`], the loop's table lent through
//! `Ctx::login_throttle`, charged to this connection's source; the waiting
//! is [`Hold`], which the loop does with its timer heap, asking
//! [`Login::is_held`]). A source that never failed is never held.
//!
//! `E` in command mode stops the whole server only if the peer is on
//! loopback and `Ctx::allow_remote_shutdown` says the flag is on.
//!
//! # States
//! ```text
//! AwaitUser --user--> AwaitPassword{user} --match--> Commands --E--> (closed)
//!     ^                     |
//!     +-----mismatch--------+ (3rd mismatch: closed)
//! ```
//! Every change of state goes through [`Login::set_state`], which traces
//! `old -> new`. Passwords are compared through their digests in constant
//! time ([`super::credentials`]) and never logged, and neither is a user
//! line: a client that retypes its password where the name goes (after a
//! failure) would put it there, so traces show only its length.

use super::{CloseReason, Ctx, Hold, SourceKey, Verdict, command};
use crate::framing::trim;
use std::fmt;
use std::net::IpAddr;

pub use super::credentials::{CredentialError, Credentials, MAX_USER_NAME, Weakness, parse_user};

/// Failed attempts allowed before the connection is closed.
///
/// Three, as most login prompts allow (sshd's default MaxAuthTries is 6,
/// `login(1)` gives 3 before a delay); it bounds credential guessing per
/// connection without locking out a typo or two.
pub const MAX_FAILURES: u8 = 3;

/// The reply to a wrong user or password.
pub const ERR_INVALID: &[u8] = b"ERR invalid credentials\n";
/// The reply to the last allowed failure, just before closing.
pub const ERR_TOO_MANY: &[u8] = b"ERR too many failed attempts\n";

/// Where a login connection is in its conversation.
#[derive(Clone, PartialEq, Eq)]
pub enum LoginState {
    /// Waiting for the user-name line.
    AwaitUser,
    /// Got a user name; waiting for its password.
    AwaitPassword {
        /// The (trimmed) user name from the previous line; empty (which no
        /// accepted pair has) if it was over [`MAX_USER_NAME`] bytes. Boxed
        /// twice: a thin pointer keeps `Login` (and so every connection's
        /// slab entry) small.
        #[allow(clippy::redundant_allocation)]
        user: Box<Box<[u8]>>,
    },
    /// Logged in: every line is a command.
    Commands,
}

impl fmt::Debug for LoginState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoginState::AwaitUser => f.write_str("AwaitUser"),
            // The line could be a password typed in the wrong place: its
            // length is all a trace needs.
            LoginState::AwaitPassword { user } => {
                write!(f, "AwaitPassword {{ user: {} bytes }}", user.len())
            }
            LoginState::Commands => f.write_str("Commands"),
        }
    }
}

/// One connection's login state machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    state: LoginState,
    failures: u8,
    /// The peer's source, which the throttle charges; `None` when the
    /// peer is not known (the protocol tested alone): no throttling.
    source: Option<SourceKey>,
    /// The peer is on loopback: only then may `E` stop the server.
    peer_loopback: bool,
    /// A [`Hold`] was asked for and the loop has not ended it yet.
    held: bool,
}

impl Default for Login {
    fn default() -> Self {
        Self::new()
    }
}

impl Login {
    /// A new connection from an unknown peer: awaiting the user name, no
    /// failures yet, not throttled, and `E` never stops the server.
    pub fn new() -> Login {
        Login {
            state: LoginState::AwaitUser,
            failures: 0,
            source: None,
            peer_loopback: false,
            held: false,
        }
    }

    /// A new connection from `peer`, charged to its source by the throttle.
    pub fn from_peer(peer: IpAddr) -> Login {
        Login {
            source: Some(SourceKey::of(peer)),
            peer_loopback: peer.to_canonical().is_loopback(),
            ..Login::new()
        }
    }

    /// The peer's source, if known.
    pub fn source(&self) -> Option<SourceKey> {
        self.source
    }

    /// Whether the connection waits for a hold to end: nothing may be read
    /// or written for it until the loop calls [`Login::end_hold`].
    pub fn is_held(&self) -> bool {
        self.held
    }

    /// The loop's timer ended the hold.
    pub fn end_hold(&mut self) {
        self.held = false;
    }

    /// The current state.
    pub fn state(&self) -> &LoginState {
        &self.state
    }

    /// Failed attempts so far on this connection.
    pub fn failures(&self) -> u8 {
        self.failures
    }

    /// Whether the connection has logged in (is in command mode).
    pub fn is_logged_in(&self) -> bool {
        self.state == LoginState::Commands
    }

    /// The one place the state changes, so a trace shows every transition.
    fn set_state(&mut self, next: LoginState) {
        log::trace!("login: {:?} -> {:?}", self.state, next);
        self.state = next;
    }

    /// Answers one line.
    pub fn on_line(&mut self, line: &[u8], ctx: &mut Ctx<'_>, out: &mut Vec<u8>) -> Verdict {
        match &self.state {
            // Line 1: remember who is logging in; nothing is sent yet. An
            // over-long name is not kept: it bounds what an unauthenticated
            // connection holds, and no accepted name is that long.
            LoginState::AwaitUser => {
                let user = trim(line);
                let user = if user.len() > MAX_USER_NAME {
                    &[][..]
                } else {
                    user
                };
                self.set_state(LoginState::AwaitPassword {
                    user: Box::new(user.into()),
                });
                Verdict::Continue
            }
            // Line 2: check the pair; the password itself is never kept.
            LoginState::AwaitPassword { user } => {
                let now = ctx.now;
                let mut gate = match (ctx.login_throttle.as_deref_mut(), self.source) {
                    (Some(throttle), Some(source)) => Some(throttle.gate(source)),
                    _ => None,
                };
                // The source is in its penalty window: leave the line unread.
                if let Some(Err(at)) = gate.as_mut().map(|g| g.may_check(now)) {
                    log::trace!("login: password check held until {at} ms");
                    ctx.hold = Some(Hold::Retry { at });
                    self.held = true;
                    return Verdict::Continue;
                }
                if ctx.credentials.check(user, trim(line)) {
                    ctx.tally.logins_ok += 1;
                    if let Some(gate) = gate.as_mut() {
                        gate.succeeded();
                    }
                    out.extend_from_slice(b"hello ");
                    out.extend_from_slice(user);
                    out.extend_from_slice(b", welcome to the server\n");
                    self.set_state(LoginState::Commands);
                    return Verdict::Continue;
                }
                self.failures += 1;
                ctx.tally.logins_failed += 1;
                log::trace!("login: failure {}/{MAX_FAILURES}", self.failures);
                // The reply waits for the end of the source's new penalty.
                if let Some(at) = gate.as_mut().map(|g| g.failed(now)) {
                    ctx.hold = Some(Hold::Until { at });
                    self.held = true;
                }
                if self.failures >= MAX_FAILURES {
                    out.extend_from_slice(ERR_TOO_MANY);
                    return Verdict::Close(CloseReason::TooManyFailures);
                }
                out.extend_from_slice(ERR_INVALID);
                self.set_state(LoginState::AwaitUser);
                Verdict::Continue
            }
            // Logged in: the command service takes over, and here `E` may
            // stop the server (if this connection is allowed to).
            LoginState::Commands => {
                let may_stop = ctx.allow_remote_shutdown && self.peer_loopback;
                command::on_line(line, ctx, out, may_stop)
            }
        }
    }
}

#[cfg(test)]
mod tests;
