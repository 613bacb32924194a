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
//!   and a verdict out. One file per service. No sockets. Beside them the
//!   per-source limits, with `now` passed in: `sources.rs`, `throttle.rs`
//!   (login), `udp/guard.rs` (the UDP loop guard and rate limits), and
//!   `credentials.rs`. What each defends against: `SECURITY.md`.
//! - [`framing`]: finding lines in a byte stream, with the line-length cap.
//! - [`server`]: the event loop, the only code that touches server sockets:
//!   `mod.rs` (the loop, tokens, dispatch, serving the ready queue),
//!   `setup.rs` + `bind.rs` (starting), `accept.rs`, `refused.rs`
//!   (refusing over `--max-conns`, a bounded lingering close), `tcp.rs`
//!   (read, then `answer`: the one path from bytes to verdict; write,
//!   close), `conn.rs` (one connection's buffers and its `Phase`),
//!   `budget.rs` (`--output-budget` across connections), `udp.rs`,
//!   `deadlines.rs` + `timers.rs`, `shutdown.rs`; [`server::stats`]: the
//!   counters the loop keeps from what the protocols report, and
//!   `metrics.rs`: their Prometheus text.
//! - [`serve`]: `sockloop serve`: its flags (`args.rs`), one process
//!   (`mod.rs`) or the parent of `--workers` (`parent.rs`, with its
//!   workers' command lines in `worker_flags.rs`), the logins
//!   (`credentials.rs`: files, and a memfd for workers, never argv) and
//!   root (`privileges.rs`: refused, or given up after binding); [`workers`]: starting
//!   and supervising worker processes, and deriving a worker's command line
//!   from the parent's own flags.
//! - [`config`]: server settings and the rules between them.
//! - [`cli`]: the command line, the top: parses the subcommands' flags,
//!   runs one, and is the one place that prints an [`error`] and picks the
//!   exit status; [`flags`]: the parsers and range checks of flag values the
//!   subcommands share (addresses, seconds, counts).
//! - [`client`]: the tutorial's client (blocking, for humans).
//! - [`load`]: the load generator: `engine.rs` (the loop) composing
//!   `table.rs` (the sockets and the ramp-up's connects), `clock.rs` +
//!   `schedule.rs` + `pacing.rs` (the time, which requests are due, the
//!   timer; `stages.rs`: the rate as a function of time) and `meter.rs` +
//!   `stats.rs` + `series.rs` (what was measured, the live line, the
//!   per-second series); `search.rs` + `steps.rs` (the capacity search),
//!   `conn_ramp.rs` (connections that follow `--stages`);
//!   `tcp.rs`/`udp.rs` (the handlers; `causes.rs`: the report's names for
//!   socket errors), `phases.rs`, `churn.rs` (`--requests-per-conn`:
//!   closing and replacing connections), `scenario/` (what is said and
//!   verified, sans-IO; `line.rs` + `template.rs`: any line protocol),
//!   `preflight.rs` (will the run fit this host's memory and file table),
//!   `report.rs`, `workers.rs`.
//! - [`results`]: `sockloop report`: reading `load`'s reports (and
//!   interval logs), merging the parts of a run across hosts exactly
//!   (histograms added, series aligned on wall-clock seconds), and the text,
//!   JSON and HTML reports (plots drawn by plotters as inline SVG).
//! - [`limits`]: the open-file limit; [`log_queue`]: logging that never
//!   blocks the loop (a bounded queue to a writer thread); [`memory`]:
//!   unique memory (`RssAnon`, `Pss`) and the host's `MemAvailable` and
//!   file table, from /proc.
//! - [`readiness`]: the socket calls and edge-triggered rules both loops
//!   share: the TCP registration and `must_drain`, `read_some`, `OutBuf`
//!   and `SendRoom` (how much a send buffer can take, `room.rs`), the
//!   ready queue, `poll_events`.
//!
//! Dependencies point down this list's layers, never up: `protocol` uses
//! only `framing`; `server` uses `protocol` and `config`, never the
//! command line; `serve`, `client` and `load` use the leaves (`flags`,
//! `error`, `limits`, `memory`, `workers`); `results` uses `load`; `cli`
//! uses them all. `scripts/check-cycles.sh` (run by `.ci/run`) fails on
//! any import cycle between modules.

#![deny(missing_docs)]

pub mod cli;
pub mod client;
pub mod config;
pub mod error;
pub mod flags;
pub mod framing;
pub mod limits;
pub mod load;
pub mod log_queue;
pub mod memory;
pub mod protocol;
pub mod readiness;
pub mod results;
pub mod serve;
pub mod server;
pub mod workers;
