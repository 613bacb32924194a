//! sockloop: the classic socket-tutorial services (TCP echo, greet, login,
//! command; UDP echo and log) served by ONE single-threaded `mio` event
//! loop, with the client and the load generator that speak them.
//!
//! It is built for two kinds of readers: people load-testing with many
//! connections (a target that holds tens of thousands of them in little
//! memory and never falls over) and people learning readiness-based IO (a
//! loop small enough to read in one sitting, with every edge-triggered rule
//! named where it is applied).
//!
//! # Layout
//! - [`protocol`]: the services as sans-IO state machines: bytes in, bytes
//!   and a verdict out. One file per service. No sockets.
//! - [`framing`]: finding lines in a byte stream, with the line-length cap.
//! - [`server`]: the event loop, the only code that touches server sockets:
//!   `mod.rs` (the loop, tokens, dispatch, ready queue), `accept.rs`,
//!   `refused.rs` (refusing over `--max-conns`, a bounded lingering close),
//!   `tcp.rs` (read, answer, write, close), `udp.rs`, `conn.rs` (one
//!   connection's buffers and reads), `deadlines.rs` + `timers.rs`,
//!   `shutdown.rs`, `bind.rs`.
//! - [`serve`]: `sockloop serve`, one process or a parent of workers;
//!   [`workers`]: starting and supervising worker processes.
//! - [`config`]: server settings and the rules between them.
//! - [`cli`]: command-line flags for `serve`, `client` and `load`;
//!   [`flags`]: the parsers and range checks of flag values they share
//!   (addresses, seconds, counts) and the error line.
//! - [`client`]: the tutorial's client (blocking, for humans).
//! - [`load`]: the load generator: `engine.rs` (the loop) composing
//!   `table.rs` (the sockets and the ramp-up's connects), `clock.rs` +
//!   `schedule.rs` + `pacing.rs` (the time, which requests are due, the
//!   timer) and `meter.rs` + `stats.rs` (what was measured, the live line);
//!   `tcp.rs`/`udp.rs` (the handlers), `phases.rs`, `scenario/` (what is
//!   said and verified, sans-IO), `report.rs`, `workers.rs`.
//! - [`limits`]: the open-file limit.
//! - [`readiness`]: the socket calls and edge-triggered rules both loops
//!   share: `read_some`, `OutBuf`, the ready queue, `poll_events`.
//! - [`stats`]: the server's counters; [`metrics`]: their Prometheus text.

#![deny(missing_docs)]

pub mod cli;
pub mod client;
pub mod config;
pub mod flags;
pub mod framing;
pub mod limits;
pub mod load;
pub mod metrics;
pub mod protocol;
pub mod readiness;
pub mod serve;
pub mod server;
pub mod stats;
pub mod workers;
