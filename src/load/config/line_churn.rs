//! The flags of two scenarios beyond a fixed set of connections: `--service
//! line` (`--send`, `--expect`) and connection churn
//! (`--requests-per-conn`, `--close`), and the rules between them and the
//! other flags (the load shapes, `--stages` and `--find-max-rate`, are
//! `scenarios.rs`'s). Templates and patterns are parsed here, once, so a bad one
//! stops `load` before it connects (exit status 1, `cli.rs`).

use super::{LoadArgs, LoadService, MAX_BURST_BYTES};
use crate::load::scenario::line::MAX_REPLY;
use crate::load::scenario::template::{Expect, Template};
use clap::ValueEnum;

/// Largest `--requests-per-conn`: a billion replies is a connection that
/// lives for the whole of any run; larger values only mean "never churn".
pub const MAX_REQUESTS_PER_CONN: u64 = 1_000_000_000;

/// How churn closes a connection after its last verified reply. The
/// generator closes first either way (it knows when the last reply came;
/// the server does not): see docs/load-testing.md, "Connection churn".
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Close {
    /// `close()`: FIN, an orderly end. The generator is the active closer,
    /// so TIME_WAIT (60 s on Linux) holds the local port of each closed
    /// connection on the generator's side; the server keeps none.
    Fin,
    /// `SO_LINGER 0` then `close()`: an RST. No TIME_WAIT on either side, so
    /// no local port is held, but the server sees a reset, not an end.
    Reset,
}

/// `--send` and `--expect`, parsed.
#[derive(Debug, Clone)]
pub struct LineSpec {
    /// Each request line.
    pub send: Template,
    /// What each reply line must be.
    pub expect: Expect,
}

/// `--service line`'s template and pattern: both required with it, refused
/// without it (a `--send` given to `echo` would be silently ignored); and
/// the churn flags' rules (`--close reset` needs churn, UDP has none).
pub fn line_spec(a: &LoadArgs) -> Result<Option<LineSpec>, String> {
    if a.close == Close::Reset && a.requests_per_conn.is_none() {
        return Err("--close reset is for churn: give --requests-per-conn too".into());
    }
    if a.service != LoadService::Line {
        if a.send.is_some() || a.expect.is_some() {
            return Err("--send and --expect are for --service line".into());
        }
        if a.service == LoadService::UdpEcho && a.requests_per_conn.is_some() {
            return Err("--requests-per-conn is for TCP services (UDP has no connections)".into());
        }
        return Ok(None);
    }
    let (Some(send), Some(expect)) = (&a.send, &a.expect) else {
        return Err(
            "--service line needs --send TEMPLATE and --expect PATTERN (e.g. --send PING \
             --expect +PONG)"
                .into(),
        );
    };
    Ok(Some(LineSpec {
        send: Template::parse(send, "--send")?,
        expect: Expect::parse(expect, "--expect", MAX_REPLY)?,
    }))
}

/// A burst of `--depth` requests at their longest fits
/// [`MAX_BURST_BYTES`], as `--depth` x `--size` must for echo.
pub fn check_line_burst(spec: &LineSpec, depth: u32) -> Result<(), String> {
    let longest = spec.send.max_len() + 1;
    if depth as usize * longest > MAX_BURST_BYTES {
        return Err(format!(
            "--depth x the longest --send line ({longest} bytes) must be at most \
             {MAX_BURST_BYTES} bytes"
        ));
    }
    Ok(())
}
