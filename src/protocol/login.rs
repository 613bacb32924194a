//! Login (TCP 7002): a user line, a password line, then command mode.
//!
//! # Format
//! ```text
//! USER LF PASSWORD LF     ; both trimmed of surrounding whitespace
//!   match    -> "hello " USER ", welcome to the server" LF, then commands (see command.rs)
//!   mismatch -> "ERR invalid credentials" LF, back to awaiting a user
//!   3rd mismatch on one connection -> "ERR too many failed attempts" LF, close
//! ```
//!
//! # States
//! ```text
//! AwaitUser --user--> AwaitPassword{user} --match--> Commands --E--> (closed)
//!     ^                     |
//!     +-----mismatch--------+ (3rd mismatch: closed)
//! ```
//! Every change of state goes through [`Login::set_state`], which traces
//! `old -> new`. Passwords are compared in constant time and never logged.

use super::{CloseReason, Ctx, Verdict, command};
use crate::framing::trim;
use std::fmt;

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
        /// The (trimmed) user name from the previous line.
        user: Box<[u8]>,
    },
    /// Logged in: every line is a command.
    Commands,
}

impl fmt::Debug for LoginState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoginState::AwaitUser => f.write_str("AwaitUser"),
            LoginState::AwaitPassword { user } => {
                write!(
                    f,
                    "AwaitPassword {{ user: {:?} }}",
                    String::from_utf8_lossy(user)
                )
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
}

impl Default for Login {
    fn default() -> Self {
        Self::new()
    }
}

impl Login {
    /// A new connection: awaiting the user name, no failures yet.
    pub fn new() -> Login {
        Login {
            state: LoginState::AwaitUser,
            failures: 0,
        }
    }

    /// The current state.
    pub fn state(&self) -> &LoginState {
        &self.state
    }

    /// Failed attempts so far on this connection.
    pub fn failures(&self) -> u8 {
        self.failures
    }

    /// The one place the state changes, so a trace shows every transition.
    fn set_state(&mut self, next: LoginState) {
        log::trace!("login: {:?} -> {:?}", self.state, next);
        self.state = next;
    }

    /// Answers one line.
    pub fn on_line(&mut self, line: &[u8], ctx: &mut Ctx<'_>, out: &mut Vec<u8>) -> Verdict {
        match &self.state {
            // Line 1: remember who is logging in; nothing is sent yet.
            LoginState::AwaitUser => {
                let user = trim(line).into();
                self.set_state(LoginState::AwaitPassword { user });
                Verdict::Continue
            }
            // Line 2: check the pair; the password itself is never kept.
            LoginState::AwaitPassword { user } => {
                if ctx.credentials.check(user, trim(line)) {
                    ctx.tally.logins_ok += 1;
                    out.extend_from_slice(b"hello ");
                    out.extend_from_slice(user);
                    out.extend_from_slice(b", welcome to the server\n");
                    self.set_state(LoginState::Commands);
                    return Verdict::Continue;
                }
                self.failures += 1;
                ctx.tally.logins_failed += 1;
                log::trace!("login: failure {}/{MAX_FAILURES}", self.failures);
                if self.failures >= MAX_FAILURES {
                    out.extend_from_slice(ERR_TOO_MANY);
                    return Verdict::Close(CloseReason::TooManyFailures);
                }
                out.extend_from_slice(ERR_INVALID);
                self.set_state(LoginState::AwaitUser);
                Verdict::Continue
            }
            // Logged in: the command service takes over.
            LoginState::Commands => command::on_line(line, ctx, out),
        }
    }
}

/// One accepted `(user, password)` pair.
type Pair = (Box<[u8]>, Box<[u8]>);

/// The accepted user names and passwords (`--user NAME:PASSWORD`).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pairs: Vec<Pair>,
    is_default: bool,
}

impl fmt::Debug for Credentials {
    // Never print passwords, not even in debug output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let users: Vec<_> = self
            .pairs
            .iter()
            .map(|(u, _)| String::from_utf8_lossy(u))
            .collect();
        write!(f, "Credentials {{ users: {users:?}, passwords: <hidden> }}")
    }
}

/// Why a `--user` value was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialError {
    /// No `:` between name and password.
    MissingColon,
    /// The name part is empty (after trimming).
    EmptyName,
    /// A line break inside the name or password: login reads each from one
    /// line, so nobody could ever type it.
    LineBreak,
}

impl fmt::Display for CredentialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialError::MissingColon => f.write_str("expected NAME:PASSWORD (no ':' found)"),
            CredentialError::EmptyName => f.write_str("expected NAME:PASSWORD (the name is empty)"),
            CredentialError::LineBreak => {
                f.write_str("expected NAME:PASSWORD (a line break cannot be part of a login line)")
            }
        }
    }
}

impl std::error::Error for CredentialError {}

impl Credentials {
    /// The tutorial's `admin` / `12345`: allowed only on loopback listeners.
    pub fn default_tutorial() -> Credentials {
        Credentials {
            pairs: vec![(b"admin"[..].into(), b"12345"[..].into())],
            is_default: true,
        }
    }

    /// Credentials from `--user NAME:PASSWORD` values.
    pub fn from_specs<S: AsRef<str>>(specs: &[S]) -> Result<Credentials, CredentialError> {
        let mut pairs = Vec::new();
        for spec in specs {
            let (name, password) = parse_user(spec.as_ref())?;
            pairs.push((name.as_bytes().into(), password.as_bytes().into()));
        }
        Ok(Credentials {
            pairs,
            is_default: false,
        })
    }

    /// `true` for the tutorial's default pair.
    pub fn is_default(&self) -> bool {
        self.is_default
    }

    /// Whether `user`/`password` is an accepted pair, in time that does not
    /// depend on where the bytes differ (every pair and byte is looked at).
    pub fn check(&self, user: &[u8], password: &[u8]) -> bool {
        let mut ok = false;
        for (u, p) in &self.pairs {
            // `&` rather than `&&`: no short cut on the user name either.
            ok |= constant_time_eq(u, user) & constant_time_eq(p, password);
        }
        ok
    }
}

/// The one reading of `NAME:PASSWORD`, for `serve --user` and `load
/// --user` alike: split at the first `:` (the password may contain `:`),
/// then trim both parts of ASCII whitespace (`trim_ascii`, the rule of
/// [`trim`]) exactly as the login service trims the lines it receives, so
/// every stored pair can be typed. The name
/// must not be empty; the password may be (an empty line logs in).
pub fn parse_user(spec: &str) -> Result<(&str, &str), CredentialError> {
    let (name, password) = spec.split_once(':').ok_or(CredentialError::MissingColon)?;
    let (name, password) = (name.trim_ascii(), password.trim_ascii());
    if name.is_empty() {
        return Err(CredentialError::EmptyName);
    }
    if spec.contains(['\n', '\r']) {
        return Err(CredentialError::LineBreak);
    }
    Ok((name, password))
}

/// Compares two byte strings without an early exit on the first difference.
/// The length is not secret (it leaks through the line length anyway).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // black_box keeps the optimiser from turning the fold back into a memcmp.
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::testing::with_ctx;

    /// Fixture: a login that has received the user `admin`.
    fn awaiting_password() -> Login {
        Login {
            state: LoginState::AwaitPassword {
                user: b"admin"[..].into(),
            },
            failures: 0,
        }
    }

    #[track_caller]
    fn send(login: &mut Login, line: &[u8]) -> (Vec<u8>, Verdict) {
        with_ctx(false, |ctx| {
            let mut out = Vec::new();
            let v = login.on_line(line, ctx, &mut out);
            (out, v)
        })
    }

    // --- AwaitUser ---

    #[test]
    fn user_line_moves_to_await_password_silently() {
        let mut login = Login::new();
        assert_eq!(send(&mut login, b" admin "), (vec![], Verdict::Continue));
        assert_eq!(login, awaiting_password());
    }

    // --- AwaitPassword ---

    #[test]
    fn right_password_welcomes_and_enters_command_mode() {
        let mut login = awaiting_password();
        let (out, v) = send(&mut login, b"12345");
        assert_eq!(out, b"hello admin, welcome to the server\n");
        assert_eq!(v, Verdict::Continue);
        assert_eq!(login.state(), &LoginState::Commands);
    }

    #[test]
    fn wrong_password_errs_and_returns_to_await_user() {
        let mut login = awaiting_password();
        assert_eq!(
            send(&mut login, b"1234"),
            (ERR_INVALID.to_vec(), Verdict::Continue)
        );
        assert_eq!(login.state(), &LoginState::AwaitUser);
        assert_eq!(login.failures(), 1);
    }

    #[test]
    fn wrong_user_with_right_password_is_rejected() {
        let mut login = Login::new();
        send(&mut login, b"root");
        assert_eq!(send(&mut login, b"12345").0, ERR_INVALID);
    }

    #[test]
    fn third_failure_closes_with_too_many_attempts() {
        let mut login = Login::new();
        for _ in 0..2 {
            send(&mut login, b"admin");
            assert_eq!(send(&mut login, b"nope").0, ERR_INVALID);
        }
        send(&mut login, b"admin");
        assert_eq!(
            send(&mut login, b"nope"),
            (
                ERR_TOO_MANY.to_vec(),
                Verdict::Close(CloseReason::TooManyFailures)
            )
        );
    }

    #[test]
    fn success_after_failures_still_logs_in() {
        let mut login = Login::new();
        for _ in 0..2 {
            send(&mut login, b"admin");
            send(&mut login, b"bad");
        }
        send(&mut login, b"admin");
        assert_eq!(
            send(&mut login, b"12345").0,
            b"hello admin, welcome to the server\n"
        );
    }

    // --- Commands ---

    #[test]
    fn command_mode_answers_commands_and_bye_closes() {
        let mut login = Login {
            state: LoginState::Commands,
            failures: 0,
        };
        assert_eq!(send(&mut login, b"x").0, command::ERR_UNKNOWN);
        assert_eq!(
            send(&mut login, b"e"),
            (b"BYE\n".to_vec(), Verdict::Close(CloseReason::Bye))
        );
    }

    // --- Credentials ---

    #[test]
    fn user_specs_parse_at_the_first_colon() {
        assert_eq!(parse_user("bob:pa:ss"), Ok(("bob", "pa:ss")));
        assert_eq!(parse_user("bob:"), Ok(("bob", "")));
        assert_eq!(parse_user("bob"), Err(CredentialError::MissingColon));
        assert_eq!(parse_user(":pw"), Err(CredentialError::EmptyName));
    }

    #[test]
    fn user_specs_are_trimmed_as_login_trims_its_lines() {
        assert_eq!(parse_user(" bob:pw"), Ok(("bob", "pw")));
        assert_eq!(parse_user("bob: pw \t"), Ok(("bob", "pw")));
        assert_eq!(parse_user(" \t:pw"), Err(CredentialError::EmptyName));
        assert_eq!(parse_user("bob:p\nw"), Err(CredentialError::LineBreak));
        assert_eq!(parse_user("b\rob:pw"), Err(CredentialError::LineBreak));
        // What the login service compares: its received lines, trimmed.
        let c = Credentials::from_specs(&[" bob : pw "]).unwrap();
        assert!(c.check(trim(b"bob \r"), trim(b" pw")));
    }

    #[test]
    fn custom_credentials_replace_the_default() {
        let c = Credentials::from_specs(&["bob:pw", "eve:x"]).unwrap();
        assert!(c.check(b"bob", b"pw"));
        assert!(c.check(b"eve", b"x"));
        assert!(!c.check(b"admin", b"12345"));
        assert!(!c.check(b"bob", b"x"));
        assert!(!c.is_default());
    }

    #[test]
    fn debug_output_hides_passwords() {
        let c = Credentials::from_specs(&["bob:s3cret"]).unwrap();
        let shown = format!("{c:?}");
        assert!(
            shown.contains("bob") && !shown.contains("s3cret"),
            "{shown}"
        );
    }

    #[test]
    fn constant_time_eq_compares_content_and_length() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }
}
