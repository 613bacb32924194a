//! `sockloop report` against real runs: three generators started together
//! with `load --start-at`, their JSON reports and interval logs merged, and
//! the merge checked against the parts (counts add up, the merged histogram
//! is every sample's) and against the unmerged run.

mod common;

use common::{Server, has_python_hdrh, load, log_samples};
use hdrhistogram::Histogram;
use serde_json::Value;
use sockloop::load::hdr_log::from_base64;
use sockloop::load::measurements::new_histogram;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Generators in the shared run.
const PARTS: usize = 3;

/// How far ahead the shared run's `--start-at` lies (rounded down to a
/// whole second: at least a second less): time for three debug builds,
/// one with two workers, to start and ramp up three connections each on a
/// busy machine. A `--start-at` already past when one starts fails it.
const START_AHEAD: Duration = Duration::from_secs(4);

/// The shared run: each part's JSON report and interval logs (one per
/// generator process), in `dir`.
struct Run {
    dir: PathBuf,
    reports: Vec<PathBuf>,
    logs: Vec<PathBuf>,
    start_at: f64,
}

/// Three generators against one echo server (the third of them two
/// `--workers`), their windows opened together at `--start-at`; made once
/// for every test here.
fn run() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| {
        // Under target/tmp: kept for a look after a failure, gone with
        // `cargo clean`.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let server = Server::builder().only(&["echo"]).spawn();
        let target = server.echo().to_string();
        // Whole seconds: the windows' first second is then this one. Rounded
        // down, so it lies between START_AHEAD less a second and
        // START_AHEAD ahead (`ahead`).
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let start_at = (now + START_AHEAD).as_secs() as f64;
        let ahead = Duration::from_secs_f64(start_at - now.as_secs_f64());
        let began = Instant::now();
        let handles: Vec<_> = (0..PARTS)
            .map(|i| {
                let (target, dir) = (target.clone(), dir.clone());
                std::thread::spawn(move || {
                    let log = dir.join(format!("part{i}.hlog"));
                    let start = format!("{start_at:.3}");
                    let label = format!("gen-{i}");
                    let mut args = vec![
                        "--target",
                        &target,
                        "-c",
                        "3",
                        "-d",
                        "1",
                        "--rate",
                        "50",
                        "--start-at",
                        &start,
                        "--label",
                        &label,
                        "--hdr-log",
                        log.to_str().unwrap(),
                    ];
                    // The last part is itself two worker processes, each
                    // waiting for the same instant (worker N logs to LOG.N).
                    let workers = if i == PARTS - 1 { 2 } else { 1 };
                    if workers > 1 {
                        args.extend(["--workers", "2"]);
                    }
                    let out = load(&args);
                    assert!(
                        out.status.success(),
                        "{}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    let json = dir.join(format!("part{i}.json"));
                    std::fs::write(&json, &out.stdout).unwrap();
                    let logs: Vec<PathBuf> = if workers > 1 {
                        (0..workers)
                            .map(|w| dir.join(format!("part{i}.hlog.{w}")))
                            .collect()
                    } else {
                        vec![log]
                    };
                    (json, logs)
                })
            })
            .collect();
        let (reports, logs): (Vec<PathBuf>, Vec<Vec<PathBuf>>) =
            handles.into_iter().map(|h| h.join().unwrap()).unzip();
        let logs = logs.concat();
        // No window opens before --start-at: the parts ran at least until
        // it plus their one-second window (a lower bound: it cannot flake).
        let least = ahead + Duration::from_secs(1) - Duration::from_millis(100);
        assert!(began.elapsed() >= least, "{:?}", began.elapsed());
        drop(server);
        Run {
            dir,
            reports,
            logs,
            start_at: (start_at * 1000.0).round() / 1000.0,
        }
    })
}

/// `sockloop report ARGS`.
fn report(args: &[&Path], flags: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sockloop"))
        .arg("report")
        .args(args)
        .args(flags)
        .stdin(Stdio::null())
        .output()
        .expect("run sockloop report")
}

/// The JSON of `report --json` (or a part's report file).
#[track_caller]
fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(bytes)))
}

fn read_json(path: &Path) -> Value {
    json_of(&std::fs::read(path).unwrap())
}

/// A `histograms` entry of a report, decoded.
fn hist(report: &Value, key: &str) -> Histogram<u64> {
    let h = from_base64(report["histograms"][key].as_str().unwrap()).unwrap();
    let mut out = new_histogram();
    out.add(&h).unwrap();
    out
}

/// The merged report's counts are the parts' sums, and its latency
/// histogram is the histogram of every sample all three logged (interval
/// logs, added up independently of the reports); its percentiles are read
/// from it, and an independent HdrHistogram reader agrees.
#[test]
fn a_merge_of_three_generators_is_exact() {
    let run = run();
    let parts: Vec<Value> = run.reports.iter().map(|p| read_json(p)).collect();
    let paths: Vec<&Path> = run.reports.iter().map(PathBuf::as_path).collect();
    let out = report(&paths, &["--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let merged = json_of(&out.stdout);
    let sum = |f: &dyn Fn(&Value) -> u64| parts.iter().map(f).sum::<u64>();
    for key in [
        ("requests", "sent"),
        ("requests", "completed"),
        ("requests", "verify_errors"),
        ("connections", "opened"),
        ("schedule", "scheduled"),
    ] {
        assert_eq!(
            merged[key.0][key.1].as_u64().unwrap(),
            sum(&|p| p[key.0][key.1].as_u64().unwrap()),
            "{key:?}"
        );
    }
    assert!(merged["requests"]["completed"].as_u64().unwrap() > 0);
    let mut all = new_histogram();
    for log in &run.logs {
        all.add(log_samples(log)).unwrap();
    }
    assert_eq!(hist(&merged, "request_ns"), all, "every sample, once");
    assert_eq!(merged["latency_us"]["samples"].as_u64(), Some(all.len()));
    let p99 = (all.value_at_quantile(0.99) + 500) / 1000;
    assert_eq!(merged["latency_us"]["p99"].as_u64(), Some(p99));
    let mut connects = new_histogram();
    for p in &parts {
        connects.add(hist(p, "connect_ns")).unwrap();
    }
    assert_eq!(hist(&merged, "connect_ns"), connects);
    // One row per part, each with its label and the agreed start.
    let labels: Vec<&str> = merged["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["gen-0", "gen-1", "gen-2"]);
    for p in &parts {
        assert_eq!(p["start_at"].as_f64(), Some(run.start_at));
        // With the per-second series: every window's first second is the
        // agreed one (or the next, should a busy machine wake it late).
        if let Some(first) = p["series"][0]["unix"].as_f64() {
            assert!((0.0..=1.0).contains(&(first - run.start_at)), "{first}");
        }
    }
    let file = run.dir.join("merged.json");
    std::fs::write(&file, &out.stdout).unwrap();
    independent_reader(&file);
    // The interval logs merge to the same histogram.
    let logs: Vec<&Path> = run.logs.iter().map(PathBuf::as_path).collect();
    let out = report(&logs, &["--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let from_logs = json_of(&out.stdout);
    assert_eq!(hist(&from_logs, "request_ns"), all);
    // Logs carry each second's histogram: their merged seconds are exact,
    // and hold every sample once.
    let seconds = from_logs["series_histograms"].as_array().unwrap();
    assert_eq!(seconds.len(), from_logs["series"].as_array().unwrap().len());
    let mut again = new_histogram();
    for h in seconds {
        again
            .add(from_base64(h.as_str().unwrap()).unwrap())
            .unwrap();
    }
    assert_eq!(again, all);
    let method = from_logs["merged"]["method"].as_str().unwrap();
    assert!(
        method.contains("per-second percentiles read from the sum"),
        "{method}"
    );
}

/// One part through `report` is that run's own report: the same counts,
/// percentiles and rates (nothing re-derived differently).
#[test]
fn one_report_through_report_is_the_run_unchanged() {
    let run = run();
    let out = report(&[&run.reports[0]], &["--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = json_of(&out.stdout);
    let original = read_json(&run.reports[0]);
    for key in [
        "requests",
        "connections",
        "latency_us",
        "connect_latency_us",
        "throughput",
        "schedule",
        "errors",
        "generator",
        "histograms",
        "label",
        "service",
    ] {
        assert_eq!(again[key], original[key], "{key}");
    }
    let text = report(&[&run.reports[0]], &[]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("sockloop report: gen-0 echo"), "{text}");
}

/// Parts of different runs are refused, naming both and the setting; a
/// file that is neither a report nor a log says so.
#[test]
fn different_settings_are_refused_with_a_clear_message() {
    let run = run();
    let mut other = read_json(&run.reports[1]);
    other["size"] = 128.into();
    let odd = run.dir.join("odd-size.json");
    std::fs::write(&odd, other.to_string()).unwrap();
    let out = report(&[&run.reports[0], &odd], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "cannot merge runs with different settings: gen-0 has --size 64, gen-1 has --size 128"
        ),
        "{stderr}"
    );
    let junk = run.dir.join("junk.txt");
    std::fs::write(&junk, "hello\n").unwrap();
    let out = report(&[&junk], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("junk.txt: not an HdrHistogram interval log"),
        "{stderr}"
    );
}

/// A `--start-at` that has passed cannot be kept: refused before anything
/// is opened.
#[test]
fn a_start_in_the_past_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_sockloop"))
        .args(["load", "--start-at", "2020-01-01T00:00:00Z"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--start-at is") && stderr.contains("in the past"),
        "{stderr}"
    );
}

/// `load --html` writes its page whatever the verdict: a failed run's page
/// is the one most worth a look (here, every connect is refused).
#[test]
fn a_failed_run_still_writes_its_page() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-failed");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("failed.html");
    // Port 1 on loopback: nothing listens there, every connect is refused.
    let out = load(&[
        "--target",
        "127.0.0.1:1",
        "-c",
        "2",
        "-d",
        "0.1",
        "--html",
        page.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("<td>0</td><td>2</td>"),
        "0 opened, 2 failed: {html}"
    );
    let bad = dir.join("no-such-dir").join("x.html");
    let out = load(&[
        "--target",
        "127.0.0.1:1",
        "-c",
        "1",
        "-d",
        "0.1",
        "--html",
        bad.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("sockloop: error: load: --html") && stderr.contains("x.html"),
        "{stderr}"
    );
}

/// Runs scripts/check_report_histograms.py (python `hdrh`) on `report`, or
/// says loudly that it was skipped.
fn independent_reader(report: &Path) {
    let has_hdrh = has_python_hdrh();
    if !has_hdrh {
        eprintln!(
            "SKIPPED the independent histogram check: no python3 with hdrh \
             (pip install hdrhistogram)"
        );
        return;
    }
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scripts/check_report_histograms.py"
    );
    let out = Command::new("python3")
        .arg(script)
        .arg(report)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains("matching the report"),
        "{said}"
    );
}
