//! Shared helpers for the integration tests: run the real `sockloop serve`
//! binary and talk to it over loopback sockets.
//!
//! [`Server::start`] spawns the binary with every service on `127.0.0.1:0`,
//! waits for its `listening` lines (the only synchronisation a test needs to
//! begin) and knows each service's address. The child's stderr goes to a file
//! the test can read at any time ([`Server::stderr`]); dropping a [`Server`]
//! kills the child. The socket helpers all use [`IO_TIMEOUT`], so a server
//! bug fails a test instead of hanging it.
//!
//! - `spawn.rs`: [`Builder`] (flags, limits) and starting the process.
//! - `load.rs`: running `sockloop load --json` under a deadline, and its
//!   report.
//! - `server.rs`: the running [`Server`]: addresses (the metrics endpoint's
//!   too), logs, signals, /proc.
//! - `net.rs`: blocking socket helpers that assert exact bytes; a scrape
//!   of `/metrics` and one sample of it.
//! - `peers.rs`: small independent servers (`std::net`, bounded) for the
//!   generator to drive: a Redis-inline-style PING responder, an echo that
//!   resets connections.
//! - `robust.rs`: open-socket counts, "still serving" probes and the
//!   shutdown summary's counters, for the robustness suites.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

mod load;
mod net;
mod peers;
mod robust;
mod server;
mod spawn;

// Re-exported for the tests; a binary that uses none of a module's items
// would otherwise warn.
#[allow(unused_imports)]
pub use load::*;
#[allow(unused_imports)]
pub use net::*;
#[allow(unused_imports)]
pub use peers::*;
#[allow(unused_imports)]
pub use robust::*;
#[allow(unused_imports)]
pub use server::*;
#[allow(unused_imports)]
pub use spawn::*;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::time::Duration;

/// Read/write timeout on every test socket, and the bound on waiting for the
/// server to start or exit: far above any healthy reply time (even a debug
/// build on a busy 2-core machine), short enough that a bug fails the test.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a test waits for the answer to a datagram before sending it
/// again: UDP may drop a datagram (the server's receive queue is full after
/// a burst), and a lost probe must not fail a test about something else.
/// Far above a loopback round trip, even to a busy debug build.
pub const UDP_RESEND: Duration = Duration::from_millis(200);

/// The services in the order `serve` binds them and its flags are named.
pub const SERVICES: [&str; 6] = ["echo", "greet", "login", "command", "udp-echo", "udp-log"];

/// A random generator whose seed is printed; set `SOCKLOOP_TEST_SEED` to
/// replay a failing run.
pub fn seeded_rng(test: &str) -> SmallRng {
    let seed = std::env::var("SOCKLOOP_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().next_u64());
    eprintln!("{test}: seed {seed}");
    SmallRng::seed_from_u64(seed)
}
