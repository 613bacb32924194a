//! Worker processes (`serve --workers`, `load --workers`): past one
//! process's open-file limit, with a supervising parent.

mod common;

use common::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `sockloop load ARGS --json` to completion (killed after `limit`);
/// returns its exit success and the parsed report.
#[track_caller]
fn run_load(args: &[&str], limit: Duration) -> (bool, serde_json::Value) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sockloop"))
        .arg("load")
        .args(args)
        .arg("--json")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sockloop load");
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("sockloop load did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("load output");
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("bad JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)));
    (out.status.success(), report)
}

/// 25,000 connections are more than one process may hold here (20,000
/// descriptors): two server workers and two generator workers hold them all,
/// every one answers its request, and the parent's summary adds them up.
#[test]
fn two_workers_hold_25000_connections_past_one_process_limit() {
    let server = Server::builder()
        .only(&["echo"])
        .args(&["--workers", "2", "--idle-timeout", "0"])
        .spawn();
    let target = server.echo().to_string();
    let (ok, r) = run_load(
        &[
            "--workers",
            "2",
            "--target",
            &target,
            "-c",
            "25000",
            "--idle",
            "-d",
            "0.5",
            "--connect-timeout",
            "30",
            "--source",
            "127.0.0.2-127.0.0.40",
        ],
        Duration::from_secs(120),
    );
    assert!(ok, "load failed: {r}");
    assert_eq!(r["connections"]["opened"], 25000, "{r}");
    assert_eq!(r["connections"]["failed"], 0, "{r}");
    assert_eq!(
        r["requests"]["completed"], 25000,
        "every connection alive: {r}"
    );
    let exited = server.terminate();
    assert!(exited.status.success(), "{}", exited.stderr);
    assert!(
        exited.stderr.contains("shutdown complete (2 workers")
            && exited.stderr.contains("served 25000 connections"),
        "combined summary missing: {}",
        exited.stderr
    );
}

/// A worker killed by SIGKILL is restarted by the parent (logged with its
/// exit status) and the service keeps answering throughout.
#[test]
fn a_worker_that_dies_is_restarted() {
    let server = Server::builder()
        .only(&["greet"])
        .args(&["--workers", "2"])
        .spawn();
    let workers = children_of(server.pid());
    assert_eq!(workers.len(), 2, "two workers: {workers:?}");
    // SAFETY: kill(2) on a pid we just read as our server's child.
    unsafe { libc::kill(workers[0] as i32, libc::SIGKILL) };
    server.wait_for_log("restarting it");
    for i in 0..20 {
        let mut s = connect(server.greet());
        exchange(
            &mut s,
            format!("n{i}\n").as_bytes(),
            format!("Hi n{i}\n").as_bytes(),
        );
    }
    let deadline = Instant::now() + IO_TIMEOUT;
    while children_of(server.pid()).len() != 2 {
        assert!(Instant::now() < deadline, "worker not restarted");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!children_of(server.pid()).contains(&workers[0]));
    let exited = server.terminate();
    assert!(exited.status.success(), "{}", exited.stderr);
    assert!(
        exited.stderr.contains("signal: 9 (SIGKILL)"),
        "{}",
        exited.stderr
    );
}

/// With `--workers 2 --metrics`, each worker serves its own counters on its
/// own port, labelled with its index, and the parent prints both addresses.
#[test]
fn each_worker_serves_its_own_labelled_metrics() {
    let server = Server::builder()
        .only(&["greet"])
        .args(&["--workers", "2", "--metrics", "127.0.0.1:0"])
        .spawn();
    let mut labels = Vec::new();
    for _ in 0..2 {
        let mut s = connect(server.metrics_addr());
        send(&mut s, b"GET /metrics HTTP/1.0\r\n\r\n");
        let body = String::from_utf8(read_to_end(&mut s)).unwrap();
        let sample = body
            .lines()
            .find(|l| l.starts_with("sockloop_connections_active{"))
            .unwrap_or_else(|| panic!("no active gauge: {body}"));
        labels.push(sample.split('"').nth(1).unwrap_or_default().to_owned());
    }
    labels.sort();
    assert_eq!(labels, ["0", "1"]);
    assert!(server.terminate().status.success());
}
