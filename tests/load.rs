//! `sockloop load` against a real `sockloop serve` (and against deliberately
//! broken targets): every scenario verifies, the JSON report has exactly the
//! documented shape, and failures make the exit status non-zero.
//!
//! Every run is bounded: a short `--duration`, few connections, and a
//! deadline on the generator process (`common::LOAD_DEADLINE`) after which
//! it is killed and the test fails.

mod common;

use common::{IO_TIMEOUT, Server, has_python_hdrh, keys, load, report};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Output};
use std::thread;

/// The report has exactly the documented keys, and ordered percentiles
/// given only from enough samples.
#[track_caller]
fn assert_shape(r: &Value) {
    assert_eq!(
        keys(r),
        [
            "churn",
            "connect_latency_us",
            "connections",
            "conns",
            "depth",
            "duration_secs",
            "errors",
            "generator",
            "histogram",
            "histograms",
            "label",
            "latency_us",
            "rate",
            "requests",
            "schedule",
            "search",
            "series",
            "service",
            "size",
            "stages",
            "start_at",
            "target",
            "throughput",
            "udp",
            "version",
        ]
    );
    assert_eq!(
        keys(&r["histograms"]),
        ["connect_ns", "request_ns", "schedule_lag_ns"]
    );
    assert_eq!(
        r["version"], 1,
        "bump it (and the README) on an incompatible change"
    );
    assert_series(r);
    assert_eq!(
        keys(&r["connections"]),
        [
            "closed_by_server",
            "failed",
            "failures",
            "opened",
            "per_sec",
            "ramp_secs"
        ]
    );
    assert_eq!(
        keys(&r["connections"]["failures"]),
        [
            "connect_timeout",
            "other",
            "ports_exhausted",
            "refused",
            "reset"
        ]
    );
    if !r["churn"].is_null() {
        assert_eq!(
            keys(&r["churn"]),
            [
                "close",
                "conns_per_sec",
                "opened_in_window",
                "recycled",
                "requests_per_conn"
            ]
        );
    }
    assert_eq!(keys(&r["requests"]), ["completed", "sent", "verify_errors"]);
    assert_eq!(keys(&r["throughput"]), ["bytes_per_sec", "msgs_per_sec"]);
    assert_eq!(
        keys(&r["udp"]),
        ["kernel_drops", "late", "lost", "received", "sent"]
    );
    assert_eq!(keys(&r["udp"]["kernel_drops"]), ["generator", "server"]);
    assert_eq!(
        keys(&r["generator"]),
        [
            "cpu_percent",
            "run_queue_percent",
            "saturated",
            "saturated_by"
        ]
    );
    assert_eq!(
        r["histogram"],
        serde_json::json!({"significant_figures": 3, "highest_us": 3_600_000_000u64})
    );
    let mut summaries = vec![&r["latency_us"], &r["connect_latency_us"]];
    if r["rate"].is_null() {
        assert_eq!(r["schedule"], Value::Null, "closed loop: {r}");
    } else {
        assert_eq!(
            keys(&r["schedule"]),
            [
                "lag_us",
                "limit",
                "scheduled",
                "sent",
                "shortfall",
                "shortfall_percent",
                "unsent"
            ]
        );
        assert_eq!(keys(&r["schedule"]["unsent"]), ["cpu", "depth", "target"]);
        summaries.push(&r["schedule"]["lag_us"]);
    }
    for p in summaries {
        assert_percentiles(p);
    }
}

/// The time series: exactly the documented keys per sample, numbered from
/// 0, and its counts add up to the run's (the ramp-up sends nothing).
#[track_caller]
fn assert_series(r: &Value) {
    let series = r["series"]
        .as_array()
        .unwrap_or_else(|| panic!("series: {r}"));
    let (mut sent, mut completed) = (0, 0);
    for (i, sample) in series.iter().enumerate() {
        assert_eq!(
            keys(sample),
            [
                "closes",
                "completed",
                "connects",
                "conns_open",
                "errors",
                "errors_by_cause",
                "max_us",
                "p50_us",
                "p90_us",
                "p99_us",
                "second",
                "sent",
                "stage",
                "target_rate",
                "unix"
            ],
            "{sample}"
        );
        assert_eq!(sample["second"], i as u64, "{r}");
        let causes: u64 = sample["errors_by_cause"]
            .as_object()
            .unwrap()
            .values()
            .map(|n| n.as_u64().unwrap())
            .sum();
        assert_eq!(sample["errors"], causes, "{sample}");
        sent += sample["sent"].as_u64().unwrap();
        completed += sample["completed"].as_u64().unwrap();
    }
    assert_eq!(sent, r["requests"]["sent"], "{r}");
    assert_eq!(completed, r["requests"]["completed"], "{r}");
}

/// A latency summary: its keys, each percentile given exactly when there
/// are enough samples for it (p_q from 1 / (1 - q)), and in order.
#[track_caller]
fn assert_percentiles(p: &Value) {
    assert_eq!(
        keys(p),
        [
            "clamped", "max", "mean", "p50", "p90", "p99", "p999", "samples"
        ]
    );
    let samples = p["samples"].as_u64().unwrap_or_else(|| panic!("{p}"));
    let needs = [
        ("p50", 2),
        ("p90", 10),
        ("p99", 100),
        ("p999", 1000),
        ("max", 1),
    ];
    let mut given = Vec::new();
    for (k, min) in needs {
        assert_eq!(
            p[k].is_u64(),
            samples >= min,
            "{k} from {samples} samples: {p}"
        );
        given.extend(p[k].as_u64());
    }
    assert!(given.windows(2).all(|w| w[0] <= w[1]), "not ordered: {p}");
    assert_eq!(p["mean"].is_f64(), samples > 0, "mean: {p}");
    assert_eq!(p["clamped"], 0, "{p}");
}

/// A healthy run: exit 0, everything answered and verified.
#[track_caller]
fn assert_clean(output: &Output, conns: u64) -> Value {
    let r = report(output);
    assert_shape(&r);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "status {:?}: {r}\n{stderr}",
        output.status
    );
    assert_eq!(r["connections"]["opened"], conns, "{r}");
    assert_eq!(r["churn"], Value::Null, "no churn asked for: {r}");
    assert_eq!(r["connections"]["failed"], 0, "{r}");
    assert_eq!(r["connections"]["closed_by_server"], 0, "{r}");
    assert_eq!(r["requests"]["verify_errors"], 0, "{r}");
    assert_eq!(r["errors"], serde_json::json!({}), "{r}");
    let completed = r["requests"]["completed"].as_u64().unwrap();
    assert!(completed > 0, "{r}");
    assert!(completed <= r["requests"]["sent"].as_u64().unwrap(), "{r}");
    assert!(r["latency_us"]["max"].as_u64().unwrap() > 0, "{r}");
    if !r["schedule"].is_null() {
        assert_eq!(r["schedule"]["shortfall"], 0, "{r}");
        assert_eq!(r["schedule"]["limit"], Value::Null, "{r}");
    }
    r
}

/// Runs one closed-loop scenario against a fresh server for about a second.
#[track_caller]
fn scenario(service: &str, extra: &[&str]) -> Value {
    let server = Server::start(&[]);
    let target = server.addr(service).to_string();
    let mut args = vec![
        "--service",
        service,
        "--target",
        &target,
        "-c",
        "3",
        "-d",
        "1",
    ];
    args.extend_from_slice(extra);
    let r = assert_clean(&load(&args), 3);
    assert_eq!(r["service"], service);
    assert_eq!(r["target"], target.as_str());
    assert_eq!(
        r["requests"]["sent"], r["requests"]["completed"],
        "drained: {r}"
    );
    r
}

#[test]
fn echo_verifies_every_byte() {
    let r = scenario("echo", &["--size", "100"]);
    assert_eq!(
        (r["conns"].as_u64(), r["size"].as_u64()),
        (Some(3), Some(100))
    );
    assert_eq!(r["rate"], Value::Null);
    assert!(r["throughput"]["msgs_per_sec"].as_f64().unwrap() > 0.0);
    assert!(r["connect_latency_us"]["max"].as_u64().unwrap() > 0, "{r}");
}

#[test]
fn greet_verifies_every_greeting_from_a_range_of_source_addresses() {
    // Binds 127.0.0.2..4 with IP_BIND_ADDRESS_NO_PORT before connecting.
    scenario("greet", &["--source", "127.0.0.2-127.0.0.4"]);
}

#[test]
fn login_logs_in_then_verifies_commands() {
    scenario("login", &[]);
}

#[test]
fn command_verifies_every_reply_form() {
    scenario("command", &[]);
}

#[test]
fn udp_echo_matches_every_datagram() {
    let r = scenario("udp-echo", &[]);
    assert_eq!(r["udp"]["sent"], r["requests"]["sent"], "{r}");
    assert!(r["udp"]["received"].as_u64().unwrap() > 0, "{r}");
    // The target is on this host, so its drops are known: none.
    let drops = &r["udp"]["kernel_drops"];
    assert_eq!(
        (drops["server"].as_u64(), drops["generator"].as_u64()),
        (Some(0), Some(0))
    );
    let tcp = scenario("echo", &[]);
    assert_eq!(
        tcp["udp"]["kernel_drops"]["server"],
        Value::Null,
        "no UDP: unknown"
    );
}

/// The server is stopped and its receive queue holds a few KiB
/// (`--udp-buffer 4096`): of the 2 x 64 datagrams of 1,000 bytes the
/// generator sends, the server's kernel drops all but a few, and the report
/// says so apart from the generator's own drops (none: nothing came back).
#[test]
fn udp_loss_is_told_apart_by_the_side_whose_kernel_dropped_it() {
    let server = Server::builder()
        .only(&["udp-echo"])
        .args(&["--udp-buffer", "4096"])
        .spawn();
    let target = server.udp_echo().to_string();
    server.pause();
    let output = load(&[
        "--service",
        "udp-echo",
        "--target",
        &target,
        "-c",
        "2",
        "--depth",
        "64",
        "--size",
        "1000",
        "-d",
        "0.2",
        "--drain-timeout",
        "0",
    ]);
    server.resume();
    let r = report(&output);
    let udp = &r["udp"];
    let (sent, lost) = (udp["sent"].as_u64().unwrap(), udp["lost"].as_u64().unwrap());
    let server_drops = udp["kernel_drops"]["server"]
        .as_u64()
        .expect("on this host");
    assert_eq!(sent, 128, "one window of 64 in flight per socket: {r}");
    assert_eq!(lost, sent, "a stopped server answers nothing: {r}");
    assert!(server_drops >= sent / 2 && server_drops <= lost, "{r}");
    assert_eq!(udp["kernel_drops"]["generator"], 0, "{r}");
}

#[test]
fn pipelined_depth_8_keeps_8_in_flight() {
    let r = scenario("echo", &["--depth", "8", "--connect-rate", "100"]);
    assert_eq!(r["depth"], 8);
    // Each connection starts with 8 requests in flight.
    assert!(r["requests"]["sent"].as_u64().unwrap() >= 24, "{r}");
}

#[test]
fn open_loop_sends_on_schedule_and_writes_an_hdr_log() {
    let server = Server::start(&[]);
    let target = server.addr("command").to_string();
    let dir = std::env::temp_dir().join(format!("sockloop-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("latency.hlog");
    let output = load(&[
        "--service",
        "command",
        "--target",
        &target,
        "-c",
        "2",
        "-d",
        "1",
        "--rate",
        "50",
        // Fewer slots than requests: one due while all 8 wait for replies
        // goes out when a slot frees, in the drain if need be.
        "--depth",
        "8",
        "--hdr-log",
        log.to_str().unwrap(),
    ]);
    let r = assert_clean(&output, 2);
    assert_eq!(r["rate"].as_f64(), Some(50.0));
    // 2 connections x 50/s x 1 s on a fixed grid: exactly 100 intended sends
    // (the first at the window's start, the grid never runs past its end),
    // every one sent.
    assert_eq!(r["schedule"]["scheduled"], 100, "{r}");
    assert_eq!(r["requests"]["sent"], 100, "{r}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.starts_with('#'), "{text}");
    assert!(text.contains("#[BaseTime: "), "{text}");
    assert!(
        text.lines()
            .any(|l| !l.starts_with('#') && l.contains("HISTF")),
        "no interval histogram: {text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn idle_mode_holds_then_sends_one_request_per_connection() {
    let server = Server::start(&[]);
    let target = server.addr("greet").to_string();
    let output = load(&[
        "--service",
        "greet",
        "--target",
        &target,
        "-c",
        "5",
        "-d",
        "0.5",
        "--idle",
    ]);
    let r = assert_clean(&output, 5);
    assert_eq!(r["requests"]["sent"], 5, "{r}");
    assert_eq!(r["requests"]["completed"], 5, "{r}");
}

/// A TCP echo server that flips one bit of the 11th byte it echoes.
fn start_flipping_echo() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let mut seen = 0usize;
        let mut buf = [0u8; 4096];
        loop {
            let n = match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if (seen..seen + n).contains(&10) {
                buf[10 - seen] ^= 0x01;
            }
            seen += n;
            if stream.write_all(&buf[..n]).is_err() {
                return;
            }
        }
    });
    addr
}

#[test]
fn a_corrupted_echo_fails_verification_and_the_run() {
    let addr = start_flipping_echo().to_string();
    let output = load(&["--target", &addr, "-c", "1", "-d", "0.5", "--size", "16"]);
    let r = report(&output);
    assert_shape(&r);
    assert!(!output.status.success(), "{r}");
    assert_eq!(r["requests"]["verify_errors"], 1, "{r}");
    assert_eq!(r["errors"]["echo: reply differs from request"], 1, "{r}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("reply 0 byte 10"), "{stderr}");
}

#[test]
fn a_refused_target_fails_every_connection() {
    // A port bound but not listening: connects are refused, and no other
    // process (another test's server) can take the port meanwhile, as it
    // could a port that was closed again.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    socket.bind(&addr.into()).unwrap();
    let target = socket
        .local_addr()
        .unwrap()
        .as_socket()
        .unwrap()
        .to_string();
    let output = load(&["--target", &target, "-c", "3", "-d", "0.5"]);
    let r = report(&output);
    assert_shape(&r);
    assert!(!output.status.success(), "{r}");
    assert_eq!(r["connections"]["failed"], 3, "{r}");
    assert_eq!(r["connections"]["opened"], 0, "{r}");
    assert_eq!(r["errors"]["connect: connection refused"], 3, "{r}");
    assert_eq!(r["connections"]["failures"]["refused"], 3, "{r}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("all 3 connections failed (3 could not connect); stopping"),
        "{stderr}"
    );
    drop(socket);
}

#[test]
fn a_connect_that_never_completes_times_out() {
    // A listener that never accepts, with the smallest backlog: once its
    // queue is full the kernel drops further SYNs, so those connects hang.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    socket.bind(&addr.into()).unwrap();
    socket.listen(0).unwrap();
    let target = socket
        .local_addr()
        .unwrap()
        .as_socket()
        .unwrap()
        .to_string();
    let output = load(&[
        "--target",
        &target,
        "-c",
        "6",
        "-d",
        "0.2",
        "--connect-timeout",
        "0.5",
    ]);
    let r = report(&output);
    assert_shape(&r);
    assert!(!output.status.success(), "{r}");
    let failed = r["connections"]["failed"].as_u64().unwrap();
    assert!(failed >= 1, "{r}");
    assert_eq!(
        r["errors"]["connect: no answer within 0.5 s"], failed,
        "{r}"
    );
    assert_eq!(
        r["connections"]["failures"]["connect_timeout"], failed,
        "{r}"
    );
    assert_eq!(
        r["connections"]["opened"].as_u64().unwrap() + failed,
        6,
        "{r}"
    );
    drop(socket);
}

#[test]
fn connections_the_server_turns_away_fail_with_its_reason() {
    let server = Server::start(&["--max-conns", "2"]);
    let target = server.addr("greet").to_string();
    let output = load(&[
        "--service",
        "greet",
        "--target",
        &target,
        "-c",
        "4",
        "-d",
        "0.5",
    ]);
    let r = report(&output);
    assert_shape(&r);
    assert!(!output.status.success(), "{r}");
    assert_eq!(r["connections"]["closed_by_server"], 2, "{r}");
    assert_eq!(r["errors"]["server replied: ERR server full"], 2, "{r}");
    assert_eq!(r["requests"]["verify_errors"], 0, "{r}");
}

#[test]
fn bad_flags_are_refused_before_connecting() {
    for args in [
        &["--depth", "0"][..],
        &["--rate", "0"],
        &["-d", "100000000"],
        &["--size", "0"],
        &["--source", "127.0.0.9-127.0.0.1"],
        &["--user", "nocolon"],
        &["--idle", "--rate", "5"],
        &["--requests-per-conn", "0"],
        &["--requests-per-conn", "2", "--idle"],
        &["--close", "reset"],
        &["--send", "PING"],
    ] {
        let output = load(args);
        assert!(!output.status.success(), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}: nothing on stdout");
    }
}

/// A TCP server that accepts `n` connections, reads one byte from each
/// (the generator sends only once its window has begun), then closes them
/// all.
fn start_closing_after_first_request(n: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let mut streams = Vec::new();
        for _ in 0..n {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
            streams.push(stream);
        }
        for stream in &mut streams {
            let _ = stream.read(&mut [0u8; 1]);
        }
        // Dropping them closes every connection mid-window.
    });
    addr
}

/// Once every connection is gone, the run stops at once and says why,
/// instead of idling through the rest of a 30 s window.
#[test]
fn when_every_connection_is_closed_the_run_stops_and_says_why() {
    let target = start_closing_after_first_request(3).to_string();
    let output = load(&["--target", &target, "-c", "3", "-d", "30"]);
    let r = report(&output);
    assert_shape(&r);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{r}\n{stderr}");
    assert_eq!(r["connections"]["closed_by_server"], 3, "{r}");
    assert!(
        stderr.contains("all 3 connections failed (3 closed by the server); stopping"),
        "{stderr}"
    );
    assert_eq!(r["errors"]["stopped early: no connection left"], 1, "{r}");
    // Not a timing: the window it reports ended when the connections did,
    // nowhere near the 30 s asked for.
    let window = r["duration_secs"].as_f64().unwrap();
    assert!(window < 15.0, "window {window} s: {r}");
}

/// A TCP server that accepts connections and never answers (it reads and
/// discards until the client closes).
fn start_silent() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        while let Ok((mut stream, _)) = listener.accept() {
            stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
            thread::spawn(move || while matches!(stream.read(&mut [0u8; 4096]), Ok(n) if n > 0) {});
        }
    });
    addr
}

/// The live line's label, e.g. `drain  1.0s` of `[drain  1.0s] conns ...`.
fn label(line: &str) -> Option<&str> {
    line.strip_prefix('[')?.split(']').next()
}

/// The seconds of a window line's label (`[   3.0s]`); None for a ramp or
/// drain label.
fn window_secs(label: &str) -> Option<f64> {
    label.trim().strip_suffix('s')?.parse().ok()
}

/// After the window the live line says it is draining, and counts the
/// drain's seconds, not the window's.
#[test]
fn the_drain_is_labelled_on_the_live_line() {
    let target = start_silent().to_string();
    let output = load(&[
        "--target",
        &target,
        "-c",
        "1",
        "-d",
        "1",
        "--drain-timeout",
        "2",
    ]);
    let r = report(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "unanswered: {r}");
    assert_eq!(
        r["errors"]["no reply within 2 s after the window"], 1,
        "{r}"
    );
    let labels: Vec<&str> = stderr.lines().filter_map(label).collect();
    assert!(
        labels.iter().any(|l| l.starts_with("drain ")),
        "no drain line: {stderr}"
    );
    for secs in labels.iter().filter_map(|l| window_secs(l)) {
        assert!(secs < 2.0, "a 1 s window labelled {secs} s: {stderr}");
    }
}

/// With workers, the live line is the whole run's: every worker's
/// connections, not worker 0's share.
#[test]
fn with_workers_the_live_line_counts_every_connection() {
    let server = Server::start(&[]);
    let target = server.addr("echo").to_string();
    let output = load(&["--target", &target, "--workers", "2", "-c", "20", "-d", "2"]);
    assert_clean(&output, 20);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let window_lines: Vec<&str> = stderr
        .lines()
        .filter(|l| label(l).and_then(window_secs).is_some())
        .collect();
    assert!(!window_lines.is_empty(), "no live line: {stderr}");
    for line in &window_lines {
        assert!(
            line.contains("] conns 20 open 0 failed |"),
            "{line}\n{stderr}"
        );
    }
}

/// `--hdr-log` writes what HdrHistogram's reference writer writes, and an
/// independent reader (HdrHistogram's Python port, via
/// scripts/check_hdr_log.py) decodes the same latencies as the report.
#[test]
fn the_hdr_log_is_the_reference_format_and_an_independent_reader_agrees() {
    let server = Server::start(&[]);
    let target = server.addr("echo").to_string();
    let dir = std::env::temp_dir().join(format!("sockloop-hdr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("latency.hlog");
    let output = load(&[
        "--target",
        &target,
        "-c",
        "2",
        "-d",
        "1",
        "--hdr-log",
        log.to_str().unwrap(),
    ]);
    assert_clean(&output, 2);
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() > 5, "{text}");
    assert_eq!(
        lines[0],
        format!(
            "#[Logged with sockloop {} load: request latency in nanoseconds]",
            env!("CARGO_PKG_VERSION")
        )
    );
    assert_eq!(lines[1], "#[Histogram log format version 1.3]");
    // e.g. `#[StartTime: 1796189990.947 (seconds since epoch), Wed Dec 02 05:39:50 UTC 2026]`
    let start = lines[2]
        .strip_prefix("#[StartTime: ")
        .and_then(|l| l.split_once(" (seconds since epoch), "))
        .unwrap_or_else(|| panic!("{}", lines[2]));
    let millis = start.0.split_once('.').map(|(_, ms)| ms.len());
    assert_eq!(millis, Some(3), "{}", lines[2]);
    assert!(
        start.1.contains(" UTC ") && start.1.ends_with(']'),
        "{}",
        lines[2]
    );
    assert_eq!(
        lines[3],
        format!("#[BaseTime: {} (seconds since epoch)]", start.0)
    );
    assert_eq!(
        lines[4],
        "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\""
    );
    let json = dir.join("report.json");
    std::fs::write(&json, &output.stdout).unwrap();
    check_with_independent_reader(&log, &json);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs scripts/check_hdr_log.py if python3 with `hdrh` is here; says so
/// loudly when it is not (the test then checked only the header).
fn check_with_independent_reader(log: &std::path::Path, json: &std::path::Path) {
    let has_hdrh = has_python_hdrh();
    if !has_hdrh {
        eprintln!(
            "SKIPPED the independent --hdr-log check: no python3 with hdrh \
             (pip install hdrhistogram); only the header was checked"
        );
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/check_hdr_log.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(log)
        .arg(json)
        .output()
        .expect("run check_hdr_log.py");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{said}");
    assert!(out.status.success(), "{said}");
    assert!(said.contains("matching the report"), "{said}");
}
