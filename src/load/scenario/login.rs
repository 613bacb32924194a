//! Login scenario: the user and password lines, the welcome, then commands.
//!
//! # Format
//! ```text
//! opening   = USER LF PASSWORD LF     ; written just before request 0
//! welcome   = "hello " USER ", welcome to the server" LF
//! then exactly the command scenario (see command.rs)
//! ```
//! The opening is pipelined with the first commands in one write: the
//! server answers lines in order, so the welcome arrives before the first
//! command reply. The welcome is verified but not counted as a reply.

use super::{Talk, VerifyError, command};

/// The login scenario: the credentials to log in with.
#[derive(Debug, Clone)]
pub struct Login {
    /// `USER LF PASSWORD LF`.
    opening: Vec<u8>,
    /// The welcome line without its `\n`.
    welcome: Vec<u8>,
}

impl Login {
    /// Logs in as `user` with `password`.
    pub fn new(user: &str, password: &str) -> Login {
        Login {
            opening: format!("{user}\n{password}\n").into_bytes(),
            welcome: format!("hello {user}, welcome to the server").into_bytes(),
        }
    }

    /// Appends the next `count` requests (after the opening, the first time).
    pub fn write_requests(&self, talk: &mut Talk, count: u32, out: &mut Vec<u8>) {
        if talk.sent == 0 {
            out.extend_from_slice(&self.opening);
        }
        command::write_requests(talk, count, out);
    }

    /// Verifies one reply line (without its `\n`).
    pub fn check_line(&self, talk: &mut Talk, line: &[u8]) -> Result<(), VerifyError> {
        if talk.logged_in {
            return command::check_line(talk, line);
        }
        if line != self.welcome.as_slice() {
            return Err(VerifyError::or_server_error(line, || {
                VerifyError::new("login: wrong welcome", String::from_utf8_lossy(line))
            }));
        }
        talk.logged_in = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::Workload;
    use super::*;

    #[test]
    fn opening_then_commands_in_one_write() {
        let w = Workload::Login(Login::new("admin", "12345"));
        let mut talk = Talk::new(1);
        let mut out = Vec::new();
        w.write_requests(&mut talk, 2, &mut out);
        assert!(out.starts_with(b"admin\n12345\n"));
        assert_eq!(out.len(), 12 + 4);
        out.clear();
        w.write_requests(&mut talk, 1, &mut out);
        assert_eq!(out.len(), 2, "the opening is sent once");
    }

    #[test]
    fn welcome_is_verified_but_not_counted() {
        let w = Workload::Login(Login::new("admin", "12345"));
        let mut talk = Talk::new(1);
        w.write_requests(&mut talk, 1, &mut Vec::new());
        let welcome = b"hello admin, welcome to the server\n";
        assert_eq!(w.check_replies(&mut talk, &welcome[..10]), Ok(0));
        assert_eq!(w.check_replies(&mut talk, &welcome[10..]), Ok(0));
        assert!(talk.logged_in);
        let reply: &[u8] = match command::command_for(1, 0) {
            b'R' => b"3\n",
            b'T' => b"2026-11-28T05:59:21.015+00:00\n",
            _ => b"Rust 1.95.0, sockloop 0.1.0\n",
        };
        assert_eq!(w.check_replies(&mut talk, reply), Ok(1));
    }

    #[test]
    fn rejected_login_is_an_error() {
        let w = Workload::Login(Login::new("admin", "wrong"));
        let mut talk = Talk::new(1);
        w.write_requests(&mut talk, 1, &mut Vec::new());
        let err = w
            .check_replies(&mut talk, b"ERR invalid credentials\n")
            .unwrap_err();
        assert_eq!(err.reason, "server replied: ERR invalid credentials");
        let mut talk = Talk::new(1);
        w.write_requests(&mut talk, 1, &mut Vec::new());
        let err = w.check_replies(&mut talk, b"hello bob, welcome to the server\n");
        assert_eq!(err.unwrap_err().reason, "login: wrong welcome");
    }
}
