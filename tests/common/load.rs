//! Running `sockloop load` from a test: [`load`] (and [`load_with`], to
//! change the command first, e.g. pin it to a CPU) runs it with `--json`
//! under a deadline; [`report`] reads the JSON report from its stdout,
//! [`keys`] lists an object's keys. Its histograms: [`log_samples`] adds up
//! an interval log, and [`has_python_hdrh`] says whether the independent
//! reader (Python's `hdrh`) can check them.

use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use serde_json::Value;
use sockloop::load::hdr_log::from_base64;
use sockloop::load::measurements::new_histogram;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc::channel;
use std::thread;
use std::time::Duration;

/// How long one generator run may take: ramp-up, a window of a few seconds,
/// the drain (at most 3 s by default) and a debug build's start-up on a busy
/// machine.
pub const LOAD_DEADLINE: Duration = Duration::from_secs(60);

/// Runs `sockloop load ARGS --json`; its output, or a panic after the deadline.
#[track_caller]
pub fn load(args: &[&str]) -> Output {
    load_with(args, |_| {})
}

/// [`load`], with `setup` applied to the command before it is spawned.
#[track_caller]
pub fn load_with(args: &[&str], setup: impl FnOnce(&mut Command)) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sockloop"));
    command
        .arg("load")
        .args(args)
        .arg("--json")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    setup(&mut command);
    let mut child = command.spawn().expect("spawn sockloop load");
    let pid = child.id();
    let (tx, rx) = channel();
    thread::spawn(move || {
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        let out = child.stdout.take();
        let err = child.stderr.take();
        // stderr is drained on its own thread so a chatty child never blocks.
        let err_reader = thread::spawn(move || {
            if let Some(mut e) = err {
                let _ = e.read_to_end(&mut stderr);
            }
            stderr
        });
        if let Some(mut o) = out {
            let _ = o.read_to_end(&mut stdout);
        }
        let status = child.wait().expect("wait for sockloop load");
        let stderr = err_reader.join().unwrap_or_default();
        let _ = tx.send(Output {
            status,
            stdout,
            stderr,
        });
    });
    match rx.recv_timeout(LOAD_DEADLINE) {
        Ok(output) => output,
        Err(_) => {
            // SAFETY: kill(2) on the child we spawned; no memory involved.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            panic!("sockloop load {args:?} did not finish within {LOAD_DEADLINE:?}");
        }
    }
}

/// The JSON report on stdout: exactly one line, one object.
#[track_caller]
pub fn report(output: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "stdout: {stdout}\nstderr: {stderr}");
    serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("{e}: {stdout}\nstderr: {stderr}"))
}

/// The sorted keys of a JSON object.
#[track_caller]
pub fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect();
    k.sort_unstable();
    k
}

/// Every interval of an interval log (`--hdr-log`), added up: the samples
/// as the generator logged them second by second (not its whole-run
/// histogram).
#[track_caller]
pub fn log_samples(path: &Path) -> Histogram<u64> {
    let text = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut sum = new_histogram();
    for entry in IntervalLogIterator::new(&text) {
        if let Ok(LogEntry::Interval(i)) = entry {
            sum.add(from_base64(i.encoded_histogram()).unwrap())
                .unwrap();
        }
    }
    sum
}

/// Whether `python3` with `hdrh` (the independent HdrHistogram reader the
/// scripts/check_*.py checks use) is installed.
pub fn has_python_hdrh() -> bool {
    Command::new("python3")
        .args(["-c", "import hdrh"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
