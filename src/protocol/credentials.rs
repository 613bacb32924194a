//! The accepted logins: how `NAME:PASSWORD` is read ([`parse_user`]), which
//! pairs are too weak to face a network ([`Credentials::weakness`]), and how
//! a typed pair is compared ([`Credentials::check`]).
//!
//! # Comparing in constant time
//! Only SHA-256 digests are kept, never a password. A typed pair is hashed
//! the same way and the 32-byte digests are compared with a fold over every
//! byte, so the compare's time depends on neither password's length nor on
//! where the two differ. (A byte-by-byte compare of the passwords
//! themselves has to do something when the lengths differ; returning early
//! then tells a timing attacker the password's length, and the length is
//! not otherwise visible: the typed line's length is the attacker's own.)
//! Hashing the typed line costs time that depends only on that line's
//! length, which the attacker already knows. Every pair is looked at, user
//! name included, with no early exit on a match. The digest is not a
//! password store (the passwords came from the command line or a file the
//! operator controls); it is what makes the comparison length-free.

use sha2::{Digest, Sha256};
use std::fmt;

/// The longest user name login keeps between its two lines, and the
/// longest `--user` name. Names are for humans; 256 bytes is far above any
/// real one (Linux's own are at most 32) and bounds what an unauthenticated
/// connection holds.
pub const MAX_USER_NAME: usize = 256;

/// The tutorial's well-known pair, refused off loopback whoever typed it.
pub const DEFAULT_PAIR: (&str, &str) = ("admin", "12345");

/// A SHA-256 digest.
type Sha = [u8; 32];

/// One accepted pair: the name (for debug output only) and the digests.
#[derive(Clone, PartialEq, Eq)]
struct Pair {
    name: Box<str>,
    user: Sha,
    password: Sha,
    weakness: Option<Weakness>,
}

/// Why a pair must not be reachable from another machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weakness {
    /// The password is empty: an empty line logs in.
    EmptyPassword,
    /// The tutorial's `admin:12345`, known to everyone who read it.
    WellKnown,
}

impl fmt::Display for Weakness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Weakness::EmptyPassword => "an empty password",
            Weakness::WellKnown => "the well-known default password",
        })
    }
}

/// The accepted user names and passwords (`--user`, `--user-file`).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pairs: Vec<Pair>,
}

impl fmt::Debug for Credentials {
    // Never print passwords, not even in debug output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let users: Vec<&str> = self.pairs.iter().map(|p| &*p.name).collect();
        write!(f, "Credentials {{ users: {users:?}, passwords: <hidden> }}")
    }
}

/// Why a `NAME:PASSWORD` value was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialError {
    /// No `:` between name and password.
    MissingColon,
    /// The name part is empty (after trimming).
    EmptyName,
    /// A line break inside the name or password: login reads each from one
    /// line, so nobody could ever type it.
    LineBreak,
    /// A name longer than [`MAX_USER_NAME`]: login would never keep it.
    NameTooLong,
}

impl fmt::Display for CredentialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialError::MissingColon => f.write_str("expected NAME:PASSWORD (no ':' found)"),
            CredentialError::EmptyName => f.write_str("expected NAME:PASSWORD (the name is empty)"),
            CredentialError::LineBreak => {
                f.write_str("expected NAME:PASSWORD (a line break cannot be part of a login line)")
            }
            CredentialError::NameTooLong => {
                write!(
                    f,
                    "expected NAME:PASSWORD (the name is over {MAX_USER_NAME} bytes)"
                )
            }
        }
    }
}

impl std::error::Error for CredentialError {}

fn sha256(bytes: &[u8]) -> Sha {
    Sha256::digest(bytes).into()
}

impl Credentials {
    /// The tutorial's `admin` / `12345`: allowed only on loopback listeners.
    pub fn default_tutorial() -> Credentials {
        Credentials::from_pairs([DEFAULT_PAIR])
    }

    /// Credentials from `NAME:PASSWORD` values (`--user`, or the lines of
    /// `--user-file`).
    pub fn from_specs<S: AsRef<str>>(specs: &[S]) -> Result<Credentials, CredentialError> {
        let mut pairs = Vec::new();
        for spec in specs {
            pairs.push(parse_user(spec.as_ref())?);
        }
        Ok(Credentials::from_pairs(pairs))
    }

    fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Credentials {
        let pairs = pairs
            .into_iter()
            .map(|(name, password)| Pair {
                name: name.into(),
                user: sha256(name.as_bytes()),
                password: sha256(password.as_bytes()),
                weakness: if password.is_empty() {
                    Some(Weakness::EmptyPassword)
                } else if (name, password) == DEFAULT_PAIR {
                    Some(Weakness::WellKnown)
                } else {
                    None
                },
            })
            .collect();
        Credentials { pairs }
    }

    /// The first pair too weak to face a network, with its user name:
    /// an empty password, or the well-known default pair (whoever typed it).
    pub fn weakness(&self) -> Option<(&str, Weakness)> {
        self.pairs
            .iter()
            .find_map(|p| p.weakness.map(|w| (&*p.name, w)))
    }

    /// Whether `user`/`password` is an accepted pair, in time that depends
    /// only on the typed lengths (see the module header).
    pub fn check(&self, user: &[u8], password: &[u8]) -> bool {
        let (user, password) = (sha256(user), sha256(password));
        let mut ok = false;
        for pair in &self.pairs {
            // `&` rather than `&&`: no short cut on the user name either.
            ok |= digests_equal(&pair.user, &user) & digests_equal(&pair.password, &password);
        }
        ok
    }
}

/// The one reading of `NAME:PASSWORD`, for `serve --user`, `--user-file`
/// and `load --user` alike: split at the first `:` (the password may
/// contain `:`), then trim both parts of ASCII whitespace (`trim_ascii`,
/// the rule of [`crate::framing::trim`]) exactly as the login service trims
/// the lines it receives, so every stored pair can be typed. The name must
/// not be empty nor longer than [`MAX_USER_NAME`]; the password may be empty
/// (then only on loopback: [`Credentials::weakness`]).
pub fn parse_user(spec: &str) -> Result<(&str, &str), CredentialError> {
    let (name, password) = spec.split_once(':').ok_or(CredentialError::MissingColon)?;
    let (name, password) = (name.trim_ascii(), password.trim_ascii());
    if name.is_empty() {
        return Err(CredentialError::EmptyName);
    }
    if name.len() > MAX_USER_NAME {
        return Err(CredentialError::NameTooLong);
    }
    if spec.contains(['\n', '\r']) {
        return Err(CredentialError::LineBreak);
    }
    Ok((name, password))
}

/// Compares two digests looking at every byte: no early exit.
fn digests_equal(a: &Sha, b: &Sha) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // black_box keeps the optimiser from turning the fold back into a memcmp.
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framing::trim;

    #[test]
    fn user_specs_parse_at_the_first_colon() {
        assert_eq!(parse_user("bob:pa:ss"), Ok(("bob", "pa:ss")));
        assert_eq!(parse_user("bob:"), Ok(("bob", "")));
        assert_eq!(parse_user("bob"), Err(CredentialError::MissingColon));
        assert_eq!(parse_user(":pw"), Err(CredentialError::EmptyName));
        let long = format!("{}:pw", "n".repeat(MAX_USER_NAME + 1));
        assert_eq!(parse_user(&long), Err(CredentialError::NameTooLong));
        let longest = format!("{}:pw", "n".repeat(MAX_USER_NAME));
        assert!(parse_user(&longest).is_ok());
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
        assert!(!c.check(b"bob", b"pw "), "a longer password is another one");
        assert!(!c.check(b"bob", b"p"), "and so is its prefix");
        assert_eq!(c.weakness(), None);
    }

    /// The rule is about the value, not about who typed it: an explicit
    /// `--user admin:12345` is as weak as the default.
    #[test]
    fn empty_and_well_known_passwords_are_weak_whoever_typed_them() {
        assert_eq!(
            Credentials::default_tutorial().weakness(),
            Some(("admin", Weakness::WellKnown))
        );
        let typed = Credentials::from_specs(&["bob:pw", "admin:12345"]).unwrap();
        assert_eq!(typed.weakness(), Some(("admin", Weakness::WellKnown)));
        let empty = Credentials::from_specs(&["bob:"]).unwrap();
        assert_eq!(empty.weakness(), Some(("bob", Weakness::EmptyPassword)));
        // The default password under another name is not the default pair.
        let other = Credentials::from_specs(&["root:12345"]).unwrap();
        assert_eq!(other.weakness(), None);
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
    fn digests_equal_looks_at_every_byte() {
        let a = sha256(b"abc");
        let mut b = a;
        assert!(digests_equal(&a, &b));
        b[31] ^= 1;
        assert!(!digests_equal(&a, &b));
        assert!(!digests_equal(&a, &sha256(b"ab")));
    }
}
