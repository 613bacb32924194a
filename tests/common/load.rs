//! Running `sockloop load` from a test: [`load`] (and [`load_with`], to
//! change the command first, e.g. pin it to a CPU) runs it with `--json`
//! under a deadline; [`report`] reads the JSON report from its stdout.

use serde_json::Value;
use std::io::Read;
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
