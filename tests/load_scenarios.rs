//! `sockloop load`'s scenarios beyond a fixed set of connections, against a
//! real `sockloop serve` and against small independent servers
//! (`common::peers`): any line protocol (`--service line`) and connection
//! churn (`--requests-per-conn`). Each has a failure case that must make
//! `load` exit non-zero. (The report's exact key set is checked in
//! `tests/load.rs`.)
//!
//! Every run is bounded: a short `--duration`, few connections, and the
//! deadline on the generator process (`common::LOAD_DEADLINE`).

mod common;

use common::{PingServer, Server, load, report, start_resetting_echo};
use serde_json::Value;
use std::process::Output;
use std::sync::atomic::Ordering;

/// The report's key for a line reply that does not match `--expect`.
const MISMATCH: &str = "line: reply does not match --expect";

/// A run that passed: exit 0, nothing failed, every request answered.
#[track_caller]
fn assert_passed(output: &Output) -> Value {
    let r = report(output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{r}\n{stderr}");
    assert_eq!(r["errors"], serde_json::json!({}), "{r}");
    assert_eq!(r["requests"]["verify_errors"], 0, "{r}");
    let failures = &r["connections"]["failures"];
    for cause in [
        "refused",
        "connect_timeout",
        "ports_exhausted",
        "reset",
        "other",
    ] {
        assert_eq!(failures[cause], 0, "{cause}: {r}");
    }
    let completed = r["requests"]["completed"].as_u64().unwrap();
    assert!(completed > 0, "{r}");
    assert_eq!(r["requests"]["sent"], completed, "drained: {r}");
    r
}

// ---- any line protocol ----------------------------------------------------

/// sockloop's greet, driven as any line server: each connection sends its
/// own name and every greeting must name it, 4 requests pipelined.
#[test]
fn line_drives_sockloop_greet_and_checks_every_greeting() {
    let server = Server::start(&[]);
    let target = server.addr("greet").to_string();
    let output = load(&[
        "--service",
        "line",
        "--target",
        &target,
        "--send",
        "u{conn}-{seq}",
        "--expect",
        "Hi u{conn}-{seq}",
        "--depth",
        "4",
        "-c",
        "3",
        "-d",
        "1",
    ]);
    let r = assert_passed(&output);
    assert_eq!(r["service"], "line");
    assert_eq!(r["connections"]["opened"], 3, "{r}");
}

/// An independent Redis-inline-style server (CRLF replies): `PING` ->
/// `+PONG`, pipelined 8 deep; it answered exactly the PINGs the generator
/// counted as sent.
#[test]
fn line_drives_an_independent_ping_server() {
    let ping = PingServer::start(2);
    let target = ping.addr.to_string();
    let output = load(&[
        "--service",
        "line",
        "--target",
        &target,
        "--send",
        "PING",
        "--expect",
        "+PONG",
        "--depth",
        "8",
        "-c",
        "2",
        "-d",
        "1",
    ]);
    let r = assert_passed(&output);
    let sent = r["requests"]["sent"].as_u64().unwrap();
    // The generator exited after every reply came: each PING was counted
    // before its answer went out.
    assert_eq!(ping.pings.load(Ordering::Relaxed), sent, "{r}");
}

/// A reply that is not the expected one fails verification and the run.
#[test]
fn a_wrong_line_reply_fails_the_run() {
    let ping = PingServer::start(1);
    let target = ping.addr.to_string();
    let output = load(&[
        "--service",
        "line",
        "--target",
        &target,
        "--send",
        "PING",
        "--expect",
        "+PANG*",
        "-c",
        "1",
        "-d",
        "0.5",
    ]);
    let r = report(&output);
    assert!(!output.status.success(), "{r}");
    assert_eq!(r["requests"]["verify_errors"], 1, "{r}");
    assert_eq!(r["errors"][MISMATCH], 1, "{r}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("reply 0: \"+PONG\""), "{stderr}");
}

/// Bad templates and patterns stop `load` before it connects, with the
/// flag and the reason, exit status 1.
#[test]
fn bad_templates_and_patterns_are_refused_before_connecting() {
    let target = "127.0.0.1:9";
    for (args, says) in [
        (
            &["--send", "x{nope}", "--expect", "*"][..],
            "--send: unknown placeholder '{nope}'",
        ),
        (
            &["--send", "x", "--expect", "{rand:3}"],
            "--expect: {rand:N} cannot be expected",
        ),
        (
            &["--send", "{rand:999}", "--expect", "*"],
            "N must be a number 1..=256",
        ),
        (
            &["--send", "x"],
            "--service line needs --send TEMPLATE and --expect PATTERN",
        ),
    ] {
        let mut argv = vec!["--service", "line", "--target", target];
        argv.extend_from_slice(args);
        let output = load(&argv);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
    let output = load(&["--service", "line", "--send", "x", "--expect", "*"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("needs --target"), "{stderr}");
}

// ---- connection churn -----------------------------------------------------

/// Checks a churn run's counts against each other: every connection that
/// came up was closed by the generator after exactly `n` replies, or was
/// still open at the end (at most one per slot); replies and requests
/// follow from that.
#[track_caller]
fn assert_churn_counts(r: &Value, n: u64, slots: u64) {
    let churn = &r["churn"];
    assert_eq!(churn["requests_per_conn"], n, "{r}");
    let opened = r["connections"]["opened"].as_u64().unwrap();
    let recycled = churn["recycled"].as_u64().unwrap();
    let completed = r["requests"]["completed"].as_u64().unwrap();
    assert!(recycled > slots, "connections were replaced: {r}");
    let open_at_end = opened - recycled;
    assert!(open_at_end <= slots, "{r}");
    assert!(completed >= n * recycled, "{r}");
    assert!(completed <= n * recycled + (n - 1) * open_at_end, "{r}");
    let in_window = churn["opened_in_window"].as_u64().unwrap();
    assert!(in_window <= opened && in_window > 0, "{r}");
    let per_sec = churn["conns_per_sec"].as_f64().unwrap();
    let window = r["duration_secs"].as_f64().unwrap();
    // Both are rounded to 3 decimals.
    let expected = in_window as f64 / window;
    assert!((per_sec - expected).abs() <= expected * 1e-3, "{r}");
    assert!(
        r["connect_latency_us"]["samples"].as_u64().unwrap() == opened,
        "{r}"
    );
}

/// Churn against sockloop's echo: 3 replies per connection, pipelined 2
/// deep, then a new connection in its place.
#[test]
fn churn_replaces_each_connection_after_its_replies() {
    let server = Server::start(&[]);
    let target = server.addr("echo").to_string();
    let output = load(&[
        "--target",
        &target,
        "--requests-per-conn",
        "3",
        "--depth",
        "2",
        "-c",
        "4",
        "-d",
        "1",
    ]);
    let r = assert_passed(&output);
    assert_eq!(r["churn"]["close"], "fin");
    assert_churn_counts(&r, 3, 4);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("connections/s over the window"), "{stderr}");
}

/// Churn with resets instead of FINs, over two workers and a range of
/// source addresses, driving the line scenario: each worker counts its own
/// connections, and `{conn}` numbers every replacement anew.
#[test]
fn churn_works_with_workers_sources_resets_and_the_line_scenario() {
    let server = Server::start(&[]);
    let target = server.addr("greet").to_string();
    let output = load(&[
        "--service",
        "line",
        "--target",
        &target,
        "--send",
        "u{conn}",
        "--expect",
        "Hi u{conn}",
        "--requests-per-conn",
        "1",
        "--close",
        "reset",
        "--workers",
        "2",
        "--source",
        "127.0.0.2-127.0.0.3",
        "-c",
        "4",
        "-d",
        "1",
    ]);
    let r = assert_passed(&output);
    assert_eq!(r["churn"]["close"], "reset");
    assert_churn_counts(&r, 1, 4);
}

/// A target that starts resetting connections in the middle of a churn:
/// the resets are counted by cause, the slots they end are not replaced,
/// and the run fails.
#[test]
fn a_reset_in_the_middle_of_a_churn_fails_the_run() {
    let conns = 2;
    // 20 healthy connections, then a reset for each new one; no more than
    // that can be asked for: each reset ends its slot.
    let target = start_resetting_echo(20, 20 + conns).to_string();
    let output = load(&[
        "--service",
        "line",
        "--target",
        &target,
        "--send",
        "r{seq}",
        "--expect",
        "r{seq}",
        "--requests-per-conn",
        "1",
        "-c",
        &conns.to_string(),
        "-d",
        "30",
    ]);
    let r = report(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{r}\n{stderr}");
    assert_eq!(r["churn"]["recycled"], 20, "the healthy ones: {r}");
    assert_eq!(r["connections"]["opened"], 20 + conns as u64, "{r}");
    assert_eq!(r["connections"]["failures"]["reset"], conns as u64, "{r}");
    assert_eq!(r["connections"]["closed_by_server"], conns as u64, "{r}");
    assert!(
        stderr.contains("stopping"),
        "every slot reset: the run stops early: {stderr}"
    );
}

/// A `--source` address that is not on this host fails at the bind with
/// EADDRNOTAVAIL, the errno of local ports running out: it is counted as
/// a failure of its own (`other`, naming the bind), without the ports hint.
#[test]
fn a_source_address_not_on_this_host_is_not_port_exhaustion() {
    let output = load(&[
        "--target",
        "127.0.0.1:9",
        // TEST-NET-1 (RFC 5737): never assigned to a host.
        "--source",
        "192.0.2.1",
        "--requests-per-conn",
        "1",
        "-c",
        "2",
        "-d",
        "0.2",
    ]);
    let r = report(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{r}");
    let failures = &r["connections"]["failures"];
    assert_eq!(failures["other"], 2, "{r}");
    assert_eq!(failures["ports_exhausted"], 0, "{r}");
    let key = r["errors"]
        .as_object()
        .and_then(|e| e.keys().find(|k| k.starts_with("bind --source: ")))
        .cloned();
    assert!(key.is_some(), "{r}");
    assert!(!stderr.contains("hint"), "{stderr}");
}

/// Whether this process may make a network namespace (`unshare -n`: root,
/// or user namespaces allowed).
fn can_unshare() -> bool {
    std::process::Command::new("unshare")
        .args(["-n", "true"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `sockloop load --requests-per-conn 1 -c 4 ARGS --json` against a
/// `sockloop serve` echo in a network namespace of its own (`unshare -n`,
/// so the sysctls touch nothing else) with 100 local ports and no
/// TIME_WAIT reuse; `None` where no namespace can be made (not root).
fn churn_in_100_ports(args: &str) -> Option<Output> {
    if !can_unshare() {
        eprintln!("SKIPPED: cannot unshare a network namespace here (needs root)");
        return None;
    }
    let bin = env!("CARGO_BIN_EXE_sockloop");
    let dir = std::env::temp_dir().join(format!(
        "sockloop-ports-{}-{}",
        std::process::id(),
        args.len()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("ready");
    // The server's stdout is a fifo held open on fd 3: its `listening` line
    // is the signal that it is up (the port is fixed: the namespace is new).
    let script = format!(
        "set -e
         ip link set lo up
         sysctl -qw net.ipv4.ip_local_port_range='40000 40099'
         sysctl -qw net.ipv4.tcp_tw_reuse=0
         mkfifo {fifo}
         {bin} serve --echo 127.0.0.1:7000 --greet off --login off --command off \
             --udp-echo off --udp-log off --allow-root > {fifo} 2>/dev/null &
         server=$!
         exec 3< {fifo}
         read -r listening <&3
         set +e
         {bin} load --target 127.0.0.1:7000 --requests-per-conn 1 -c 4 {args} --json
         status=$?
         kill $server
         wait $server
         exit $status",
        fifo = fifo.display()
    );
    let output = std::process::Command::new("timeout")
        .args(["60", "unshare", "-n", "sh", "-c", &script])
        .env("RUST_LOG", "warn")
        .output()
        .expect("run unshare");
    let _ = std::fs::remove_dir_all(&dir);
    Some(output)
}

/// Local ports running out, for real: with FIN closes the generator is the
/// active closer, so each closed connection leaves its port in TIME_WAIT
/// on the generator's side; after 100 connections the next connects fail
/// with EADDRNOTAVAIL: counted as `ports_exhausted`, with the hint, and the
/// run fails.
#[test]
fn ports_running_out_fail_the_run_with_their_cause_and_the_hint() {
    let Some(output) = churn_in_100_ports("-d 10") else {
        return;
    };
    let r = report(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{r}\n{stderr}");
    assert_eq!(r["connections"]["failures"]["ports_exhausted"], 4, "{r}");
    let opened = r["connections"]["opened"].as_u64().unwrap();
    assert!((4..=100).contains(&opened), "100 ports: {r}");
    assert_eq!(r["churn"]["recycled"], opened, "{r}");
    assert!(
        stderr.contains("hint         local ports ran out (EADDRNOTAVAIL)"),
        "{stderr}"
    );
}

/// The same 100 ports with `--close reset`: an RST leaves no TIME_WAIT, so
/// ports are free again at once and far more than 100 connections come
/// and go without a failure.
#[test]
fn closing_with_a_reset_leaves_no_time_wait_to_run_out_of_ports() {
    let Some(output) = churn_in_100_ports("--close reset -d 0.5") else {
        return;
    };
    let r = assert_passed(&output);
    let opened = r["connections"]["opened"].as_u64().unwrap();
    assert!(opened > 300, "3 times the 100 ports: {r}");
}
