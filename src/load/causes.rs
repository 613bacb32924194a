//! The report's keys for socket errors (`connect: connection refused`,
//! `read: connection reset`, ...), made here ([`error_name`],
//! [`connect_timeout_reason`]) and read back here ([`cause_of`]) into the
//! causes the report counts connection failures by (`report/churn.rs`).

use std::io::{self, ErrorKind};

/// [`error_name`]s, which [`cause_of`] reads back.
const REFUSED: &str = "connection refused";
const RESET: &str = "connection reset";
const BROKEN_PIPE: &str = "broken pipe";
const TIMED_OUT: &str = "timed out";
const NO_ADDRESS: &str = "address not available (local ports exhausted?)";
const ADDRESS_IN_USE: &str = "address in use";
/// The start of [`connect_timeout_reason`].
const NO_ANSWER: &str = "connect: no answer within";

/// A short, stable description of a socket error for the report's keys.
pub fn error_name(e: &io::Error) -> String {
    match e.kind() {
        ErrorKind::ConnectionRefused => REFUSED.into(),
        ErrorKind::ConnectionReset => RESET.into(),
        ErrorKind::BrokenPipe => BROKEN_PIPE.into(),
        ErrorKind::TimedOut => TIMED_OUT.into(),
        ErrorKind::AddrNotAvailable => NO_ADDRESS.into(),
        ErrorKind::AddrInUse => ADDRESS_IN_USE.into(),
        _ => e.to_string(),
    }
}

/// The report's key for a connect that did not finish within
/// `--connect-timeout`.
pub fn connect_timeout_reason(timeout: std::time::Duration) -> String {
    format!("{NO_ANSWER} {} s", timeout.as_secs_f64())
}

/// What ended a connection, as the report's failure breakdown counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The target refused the connect (RST to the SYN: nothing listening,
    /// or a full accept queue with `tcp_abort_on_overflow`).
    Refused,
    /// No answer within `--connect-timeout` (or the kernel's own SYN
    /// retries: ETIMEDOUT): a full SYN backlog drops SYNs silently.
    ConnectTimeout,
    /// No local port left for the connect's 4-tuple: EADDRNOTAVAIL, or
    /// EADDRINUSE, from `connect` (a failed bind to `--source` is keyed
    /// `bind --source: ...` and is not this).
    PortsExhausted,
    /// The peer reset an open connection (or a write met the reset: EPIPE).
    Reset,
}

/// The cause in a report key made by this file (`connect: ...`,
/// `read: ...`, `write: ...`: a TCP connection's steps); `None` for any
/// other reason. Other keys may end in the same words and are not these
/// causes: `udp: connection refused` counts datagrams, not connections, and
/// `server replied: connection reset` is a line the server sent.
pub fn cause_of(reason: &str) -> Option<Cause> {
    let (during, name) = reason.split_once(": ")?;
    if !matches!(during, "connect" | "read" | "write") {
        return None;
    }
    if reason.starts_with(NO_ANSWER) || (during == "connect" && name == TIMED_OUT) {
        return Some(Cause::ConnectTimeout);
    }
    match name {
        REFUSED => Some(Cause::Refused),
        NO_ADDRESS | ADDRESS_IN_USE => Some(Cause::PortsExhausted),
        RESET | BROKEN_PIPE => Some(Cause::Reset),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_read_back_from_the_keys_this_file_makes() {
        let key = |during: &str, kind: ErrorKind| {
            format!("{during}: {}", error_name(&io::Error::from(kind)))
        };
        let cases = [
            (
                key("connect", ErrorKind::ConnectionRefused),
                Some(Cause::Refused),
            ),
            (
                key("connect", ErrorKind::AddrNotAvailable),
                Some(Cause::PortsExhausted),
            ),
            (
                key("connect", ErrorKind::AddrInUse),
                Some(Cause::PortsExhausted),
            ),
            (
                key("connect", ErrorKind::TimedOut),
                Some(Cause::ConnectTimeout),
            ),
            (key("read", ErrorKind::ConnectionReset), Some(Cause::Reset)),
            (key("write", ErrorKind::BrokenPipe), Some(Cause::Reset)),
            (key("read", ErrorKind::TimedOut), None),
            (
                connect_timeout_reason(std::time::Duration::from_millis(500)),
                Some(Cause::ConnectTimeout),
            ),
            ("closed by server".to_owned(), None),
            // Not a TCP connection's step: the same words, another thing.
            (key("udp", ErrorKind::ConnectionRefused), None),
            ("server replied: connection reset".to_owned(), None),
            ("line: reply does not match --expect".to_owned(), None),
        ];
        for (reason, cause) in cases {
            assert_eq!(cause_of(&reason), cause, "{reason}");
        }
        assert_eq!(
            connect_timeout_reason(std::time::Duration::from_millis(500)),
            "connect: no answer within 0.5 s"
        );
    }
}
