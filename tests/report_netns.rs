//! A run across several hosts without a second machine: network
//! namespaces. One namespace serves; three generator namespaces reach it
//! over veth pairs joined by a bridge. Each generator runs
//! `sockloop load --start-at` (one agreed instant) with its own label, and
//! `sockloop report` merges the three JSON reports: the merged counts must
//! be the sums, and the merged histogram the histogram of every sample the
//! three logged (their interval logs, added up here).
//!
//! # The network
//! ```text
//!  ns S (server)                         ns G0, G1, G2 (generators)
//!  br0 10.77.0.1/24 --+-- veth hN0 <-----> eth0 10.77.0.(2+N)/24
//!                     ...
//! ```
//! Everything, the bridge and the host ends of the veths included, lives
//! inside the test's own namespaces (created with `ip -n NS link add ...
//! peer ... netns GN`): nothing is added to the machine's own network, and
//! the only addresses used are the ones assigned here. The namespaces'
//! names carry this process's id (unique per run); a [`Net`] guard kills
//! the processes it started inside them and deletes the namespaces when
//! dropped, failure or not, which removes every link with them.
//!
//! Needs root and iproute2's `ip`; otherwise it prints SKIPPED and why.

mod common;

use common::log_samples;
use serde_json::Value;
use sockloop::load::hdr_log::from_base64;
use sockloop::load::measurements::new_histogram;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Generator namespaces.
const GENERATORS: usize = 3;

/// The test network's /24, private to its namespaces.
const SUBNET: &str = "10.77.0";

/// How far ahead `--start-at` lies: three debug-build generators start and
/// connect first, on a busy machine.
const START_AHEAD: Duration = Duration::from_secs(3);

/// How long any one process here may take (a generator: the wait for
/// `--start-at`, a one-second window, the drain).
const DEADLINE: Duration = Duration::from_secs(60);

/// The namespaces of one run; dropping it kills what runs inside and
/// deletes them (and with them every link the test made).
struct Net {
    server_ns: String,
    generator_ns: Vec<String>,
    children: Vec<Child>,
}

impl Drop for Net {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in std::iter::once(&self.server_ns).chain(&self.generator_ns) {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// `ip ARGS`, which must succeed.
#[track_caller]
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Why the test cannot run here, if it cannot.
fn unable() -> Option<String> {
    // SAFETY: geteuid has no arguments and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root".into());
    }
    match Command::new("ip").args(["netns", "list"]).output() {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(format!(
            "`ip netns` fails: {}",
            String::from_utf8_lossy(&out.stderr)
        )),
        Err(e) => Some(format!("no `ip` (iproute2): {e}")),
    }
}

/// Creates the namespaces and links (see the module doc).
fn build_net() -> Net {
    let tag = std::process::id();
    let mut net = Net {
        server_ns: format!("slrep{tag}s"),
        generator_ns: Vec::new(),
        children: Vec::new(),
    };
    ip(&["netns", "add", &net.server_ns]);
    let s = net.server_ns.clone();
    ip(&["-n", &s, "link", "set", "lo", "up"]);
    ip(&["-n", &s, "link", "add", "br0", "type", "bridge"]);
    ip(&[
        "-n",
        &s,
        "addr",
        "add",
        &format!("{SUBNET}.1/24"),
        "dev",
        "br0",
    ]);
    ip(&["-n", &s, "link", "set", "br0", "up"]);
    for i in 0..GENERATORS {
        let g = format!("slrep{tag}g{i}");
        // Pushed first: the guard deletes it even if a step below fails.
        net.generator_ns.push(g.clone());
        ip(&["netns", "add", &g]);
        ip(&["-n", &g, "link", "set", "lo", "up"]);
        let host_end = format!("h{i}");
        ip(&[
            "-n", &s, "link", "add", &host_end, "type", "veth", "peer", "name", "eth0", "netns", &g,
        ]);
        ip(&["-n", &s, "link", "set", &host_end, "master", "br0", "up"]);
        ip(&[
            "-n",
            &g,
            "addr",
            "add",
            &format!("{SUBNET}.{}/24", 2 + i),
            "dev",
            "eth0",
        ]);
        ip(&["-n", &g, "link", "set", "eth0", "up"]);
    }
    net
}

/// Starts `sockloop serve` (echo only) in the server namespace; its address.
fn start_server(net: &mut Net) -> String {
    let mut child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &net.server_ns,
            env!("CARGO_BIN_EXE_sockloop"),
            "serve",
        ])
        .arg(format!("--echo={SUBNET}.1:0"))
        .args([
            "--greet=off",
            "--login=off",
            "--command=off",
            "--udp-echo=off",
            "--udp-log=off",
        ])
        .arg("--allow-root")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sockloop serve");
    let stdout = child.stdout.take().unwrap();
    net.children.push(child);
    // Its first line says where it listens (the only synchronisation).
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening echo tcp ")
        .unwrap_or_else(|| {
            panic!("unexpected first line from serve: {line:?}");
        });
    assert!(addr.starts_with(SUBNET), "{addr}");
    addr.to_owned()
}

/// Runs `ARGS` to its end, or kills it after [`DEADLINE`].
fn run_bounded(mut command: Command) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let errs = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        let _ = tx.send(v);
    });
    let Ok(stdout) = rx.recv_timeout(DEADLINE) else {
        // SAFETY: kill(2) on the child spawned above.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        panic!("{command:?} did not finish within {DEADLINE:?}");
    };
    let status = child.wait().unwrap();
    Output {
        status,
        stdout,
        stderr: errs.join().unwrap_or_default(),
    }
}

/// Three generators in three namespaces, started together, merged exactly.
#[test]
fn generators_in_three_namespaces_merge_exactly() {
    if let Some(why) = unable() {
        eprintln!("SKIPPED the network-namespace test: {why} (needs root and iproute2)");
        return;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-netns");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut net = build_net();
    let target = start_server(&mut net);
    let start_at = (SystemTime::now() + START_AHEAD)
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let start = format!("{start_at:.3}");
    let runs: Vec<_> = net
        .generator_ns
        .iter()
        .enumerate()
        .map(|(i, ns)| {
            let log = dir.join(format!("g{i}.hlog"));
            let mut command = Command::new("ip");
            command
                .args(["netns", "exec", ns, env!("CARGO_BIN_EXE_sockloop"), "load"])
                .args(["--target", &target, "-c", "3", "-d", "1", "--rate", "50"])
                .args(["--start-at", &start, "--label", ns, "--json"])
                .arg("--hdr-log")
                .arg(&log)
                .env("RUST_LOG", "warn");
            let json = dir.join(format!("g{i}.json"));
            std::thread::spawn(move || (run_bounded(command), json, log))
        })
        .collect();
    let mut reports: Vec<PathBuf> = Vec::new();
    let mut all = new_histogram();
    let mut parts: Vec<Value> = Vec::new();
    for handle in runs {
        let (out, json, log) = handle.join().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(&json, &out.stdout).unwrap();
        parts.push(serde_json::from_slice(&out.stdout).unwrap());
        all.add(log_samples(&log)).unwrap();
        reports.push(json);
    }
    let mut report = Command::new(env!("CARGO_BIN_EXE_sockloop"));
    report.arg("report").args(&reports).arg("--json");
    let out = run_bounded(report);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let merged: Value = serde_json::from_slice(&out.stdout).unwrap();
    for p in &parts {
        assert_eq!(
            p["target"].as_str(),
            Some(target.as_str()),
            "across the bridge"
        );
        assert_eq!(p["connections"]["opened"], 3);
    }
    let sum = |a: &str, b: &str| parts.iter().map(|p| p[a][b].as_u64().unwrap()).sum::<u64>();
    for (a, b) in [
        ("requests", "sent"),
        ("requests", "completed"),
        ("connections", "opened"),
    ] {
        assert_eq!(merged[a][b].as_u64(), Some(sum(a, b)), "{a}.{b}");
    }
    assert!(sum("requests", "completed") > 0);
    let h = from_base64(merged["histograms"]["request_ns"].as_str().unwrap()).unwrap();
    let mut rehomed = new_histogram();
    rehomed.add(&h).unwrap();
    assert_eq!(rehomed, all, "the histogram of every sample");
    assert_eq!(merged["latency_us"]["samples"].as_u64(), Some(all.len()));
    assert_eq!(merged["merged"]["parts"], 3);
    drop(net);
    // The guard removed every namespace it made.
    let left = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let left = String::from_utf8_lossy(&left.stdout);
    assert!(
        !left.contains(&format!("slrep{}", std::process::id())),
        "{left}"
    );
}
