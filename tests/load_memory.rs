//! What holding connections costs the generator, and the preflight that
//! keeps a run from sinking the machine (issue 15).
//!
//! - An idle generator's unique memory (`RssAnon`) stays small: its
//!   histograms, read buffer and echo pattern are made when first needed.
//! - A run that cannot fit this host is refused before anything is opened,
//!   with the numbers; `--preflight` prints the estimate and exits.

mod common;

use common::{Server, load};
use std::net::TcpListener;
use std::process::{Command, Stdio};

/// An idle generator's `RssAnon` bound. Measured with one connection
/// (docs/benchmarks.md): 0.44 MB release, 0.98 MB debug; before issue 15,
/// 1.78 MB release (four 264 KiB histograms written at creation, the
/// 80 KiB echo pattern twice, the 64 KiB read buffer), about 2.3 MB debug.
/// Generous above the new figures, below the old ones in either build.
const IDLE_RSS_ANON_MAX: u64 = 1536 * 1024;

/// A field of /proc/PID/status in KiB.
fn status_kib(pid: u32, name: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
}

/// A generator holding one idle connection has a small unique memory; the
/// figure is read once the server holds its connection (the generator's
/// memory of setting up is all allocated by then).
#[test]
fn an_idle_generator_holds_little_unique_memory() {
    let server = Server::builder().only(&["echo"]).spawn();
    let before = server.open_sockets();
    let target = server.echo().to_string();
    let mut generator = Command::new(env!("CARGO_BIN_EXE_sockloop"))
        .args(["load", "--service", "echo", "--target", &target])
        .args(["-c", "1", "--idle", "-d", "60"])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sockloop load");
    server.wait_for_open_sockets(before + 1);
    let anon = status_kib(generator.id(), "RssAnon");
    let rss = status_kib(generator.id(), "VmRSS");
    // SIGTERM ends the hold early; the process is ours, by its pid.
    let _ = generator.kill();
    let _ = generator.wait();
    eprintln!("idle generator: RssAnon {anon} kB, VmRSS {rss} kB");
    assert!(
        anon * 1024 <= IDLE_RSS_ANON_MAX,
        "an idle generator holds {anon} kB of anonymous memory (bound {} kB)",
        IDLE_RSS_ANON_MAX / 1024
    );
}

/// Ten million loopback connections are 20 million sockets, about 100 GB of
/// kernel memory: refused, with the numbers, before a single connect.
/// (The 50,000,000 is above `--conns`' own limit of 10,000,000,
/// which the flag parser refuses first.)
#[test]
fn a_run_that_cannot_fit_is_refused_with_the_numbers_and_opens_nothing() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let target = listener.local_addr().unwrap().to_string();
    let out = load(&["--target", &target, "-c", "10000000", "--idle", "-d", "1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for needle in [
        "preflight: 10000000 connections need about",
        "does not fit",
        "20000000 sockets x 5120 B",
        "MemAvailable",
        "fs.file-max",
        "connections fit",
        "--force runs it anyway",
    ] {
        assert!(stderr.contains(needle), "no {needle:?} in:\n{stderr}");
    }
    assert_eq!(
        listener.accept().map_err(|e| e.kind()).err(),
        Some(std::io::ErrorKind::WouldBlock),
        "the refused run connected"
    );
}

/// `--preflight` prints the estimate and exits: 0 for a run that fits,
/// 1 for one that does not; `--force` does not change its answer.
#[test]
fn preflight_prints_the_estimate_and_exits() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let target = listener.local_addr().unwrap().to_string();
    let small = load(&["--target", &target, "-c", "10", "--idle", "--preflight"]);
    let stdout = String::from_utf8_lossy(&small.stdout);
    assert_eq!(small.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("preflight: 10 connections need"),
        "{stdout}"
    );
    assert!(stdout.contains(": fits"), "{stdout}");
    let big = load(&[
        "--target",
        &target,
        "-c",
        "10000000",
        "--workers",
        "600",
        "--preflight",
        "--force",
    ]);
    assert_eq!(big.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&big.stdout).contains("does not fit"));
    assert_eq!(
        listener.accept().map_err(|e| e.kind()).err(),
        Some(std::io::ErrorKind::WouldBlock),
        "--preflight connected"
    );
}
