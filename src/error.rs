//! Why a subcommand did not succeed, as the one line the user sees.
//!
//! A leaf module (it uses nothing else in the crate): `serve`, `client` and
//! `load` return an [`Error`], and [`crate::cli::run`], the one place that
//! prints errors, writes its line to stderr and exits with status 1, the one
//! failing status sockloop has (README, "Options and limits").

use std::fmt;

/// Why a subcommand ends with exit status 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// It could not do its job (a setting, a port in use, a socket error).
    /// Shown as `sockloop: error: MESSAGE`.
    Message(String),
    /// `load` ran and printed its report, and a connection or a reply
    /// failed. Shown as `sockloop load: FAILED: SUMMARY`.
    LoadFailed(String),
}

impl fmt::Display for Error {
    /// The whole line, prefix included.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Message(message) => write!(f, "sockloop: error: {message}"),
            Error::LoadFailed(summary) => write!(f, "sockloop load: FAILED: {summary}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<String> for Error {
    fn from(message: String) -> Error {
        Error::Message(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Error {
        Error::Message(message.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_is_one_line_with_its_prefix() {
        let e = Error::from(format!("--max-line: must be {}..={}", 1, 2));
        assert_eq!(e.to_string(), "sockloop: error: --max-line: must be 1..=2");
        let failed = Error::LoadFailed("3 replies wrong".into());
        assert_eq!(failed.to_string(), "sockloop load: FAILED: 3 replies wrong");
    }
}
