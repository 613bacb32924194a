//! The HTML report in a real browser: headless Chromium (Debian's
//! `chromium` package) opens each page offline and must log nothing to its
//! console (no script error, no blocked fetch: the page's
//! Content-Security-Policy turns any fetch into a console error), and the
//! page's own check must find data drawn in every chart
//! (`data-plots-ok="N/N"`, see src/results/html.rs).
//!
//! Pages: `load --html` of a real run, `report --html` of two real runs
//! merged, and `report --html` of a report in the scenario shape (stages,
//! errors by cause, a capacity search) written here, so that every kind of
//! chart is drawn. Without Chromium each test prints SKIPPED and how to
//! install it, and checks only what it can without a browser.

mod common;

use common::{Server, load};
use serde_json::json;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long Chromium may take to start, load a page and dump it (a cold
/// start on a busy 2-core machine takes a few seconds).
const BROWSER_DEADLINE: Duration = Duration::from_secs(90);

/// How far ahead the two real runs' `--start-at` lies, rounded down to a
/// whole second (so at least a second less): time for two debug builds to
/// start and ramp up on a busy machine. A `--start-at` already past when
/// one starts fails it.
const START_AHEAD: Duration = Duration::from_secs(4);

/// The browser, if installed.
fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser"].into_iter().find(|name| {
        Command::new(name)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// A fresh directory under target/tmp.
fn dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Opens `page` in headless Chromium and checks it: no console message,
/// and every chart drawn with data. Skipped, loudly, without Chromium.
#[track_caller]
fn check_in_browser(page: &Path, charts_expected: usize) {
    let html = std::fs::read_to_string(page).unwrap();
    let charts = html.matches("<figure class=\"plot\"").count();
    assert_eq!(charts, charts_expected, "charts in {}", page.display());
    let Some(browser) = chromium() else {
        eprintln!(
            "SKIPPED the browser check of {}: no chromium (apt-get install -y chromium)",
            page.display()
        );
        return;
    };
    let profile = page.with_extension("profile");
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let pid = child.id();
    let errs = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        let _ = tx.send(s);
    });
    let dom = match rx.recv_timeout(BROWSER_DEADLINE) {
        Ok(dom) => dom,
        Err(_) => {
            // SAFETY: kill(2) on the browser this test started.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            panic!(
                "chromium did not dump {} within {BROWSER_DEADLINE:?}",
                page.display()
            );
        }
    };
    let _ = child.wait();
    let stderr = errs.join().unwrap_or_default();
    let _ = std::fs::remove_dir_all(&profile);
    let console: Vec<&str> = stderr.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:#?}");
    let ok = format!("data-plots-ok=\"{charts}/{charts}\"");
    assert!(
        dom.contains(&ok),
        "{} not drawn with data in every chart ({ok} missing); stderr:\n{stderr}",
        page.display()
    );
    eprintln!(
        "browser check of {}: {charts} charts drawn, console clean",
        page.display()
    );
}

/// `sockloop report ARGS`, which must succeed.
#[track_caller]
fn report(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_sockloop"))
        .arg("report")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two real runs: `load --html` draws one, `report --html` the two merged.
/// Without the per-second series (older reports) a page says so instead of
/// drawing empty charts: every chart it has holds data.
#[test]
fn pages_of_real_runs_render_with_data_and_a_clean_console() {
    let dir = dir("browser-real");
    let server = Server::builder().only(&["echo"]).spawn();
    let target = server.echo().to_string();
    let start = (SystemTime::now() + START_AHEAD)
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let runs: Vec<_> = (0..2)
        .map(|i| {
            let (target, start, dir) = (target.clone(), start.clone(), dir.clone());
            std::thread::spawn(move || {
                let page = dir.join(format!("load{i}.html"));
                let out = load(&[
                    "--target",
                    &target,
                    "-c",
                    "2",
                    "-d",
                    "1",
                    "--rate",
                    "50",
                    "--start-at",
                    &start,
                    "--label",
                    &format!("gen-{i}"),
                    "--html",
                    page.to_str().unwrap(),
                ]);
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let json = dir.join(format!("load{i}.json"));
                std::fs::write(&json, &out.stdout).unwrap();
                (page, json)
            })
        })
        .collect();
    let runs: Vec<(PathBuf, PathBuf)> = runs.into_iter().map(|r| r.join().unwrap()).collect();
    drop(server);
    let page = std::fs::read_to_string(&runs[0].0).unwrap();
    assert!(page.contains("gen-0") && page.contains("Latency by percentile"));
    let with_series = page.contains("id=\"throughput\"");
    // The spectrum, plus throughput, latency and connections over time
    // once reports carry the per-second series.
    let charts = if with_series { 4 } else { 1 };
    check_in_browser(&runs[0].0, charts);
    let merged = dir.join("merged.html");
    let (a, b) = (runs[0].1.to_str().unwrap(), runs[1].1.to_str().unwrap());
    report(&[a, b, "--html", merged.to_str().unwrap()]);
    let page = std::fs::read_to_string(&merged).unwrap();
    assert!(
        page.contains("Parts</h2>") && page.contains("gen-1"),
        "per-part rows"
    );
    check_in_browser(&merged, charts);
}

/// A report in the scenario shape (per-second series, stages, errors by
/// cause, a capacity search): every kind of chart is drawn and has data.
#[test]
fn every_kind_of_chart_renders_with_data() {
    let dir = dir("browser-all");
    let series: Vec<_> = (0..10u64)
        .map(|i| {
            let stage = i / 5;
            json!({"second": i, "unix": 1_800_000_000 + i, "stage": stage,
                   "target_rate": 100.0 * (stage + 1) as f64, "sent": 100 * (stage + 1),
                   "completed": 100 * (stage + 1) - i % 3, "errors": i % 3,
                   "errors_by_cause": {"timeout": i % 3},
                   "p50_us": 40.0 + i as f64, "p99_us": 90.0 + 10.0 * i as f64,
                   "max_us": 300.0 + 20.0 * i as f64, "conns_open": 10,
                   "connects": if i == 0 { 10 } else { 0 }, "closes": 0})
        })
        .collect();
    let stage = |index: u64, rate: f64| {
        json!({"index": index, "start_secs": 5.0 * index as f64, "secs": 5.0,
               "from_rate": rate, "to_rate": rate, "sent": 500, "completed": 495,
               "achieved_per_sec": 99.0, "errors": 5,
               "latency_us": {"samples": 495, "p50": 42, "p90": 70, "p99": 120,
                              "p999": 300, "max": 400, "mean": 50.0, "clamped": 0}})
    };
    let steps: Vec<_> = [
        (100.0, 90.0, true),
        (200.0, 140.0, true),
        (400.0, 900.0, false),
    ]
    .iter()
    .map(|&(rate, p99, met)| {
        json!({"rate": rate, "achieved_per_sec": rate, "p50_us": 40.0, "p99_us": p99,
                   "errors": 0, "met": met, "generator_saturated": false})
    })
    .collect();
    let doc = json!({
        "version": 1, "label": "fixture", "service": "echo", "target": "127.0.0.1:7000",
        "conns": 10, "depth": 1, "rate": 10.0, "size": 64, "duration_secs": 10.0,
        "requests": {"sent": 1500, "completed": 1485, "verify_errors": 0},
        "latency_us": {"samples": 3, "p50": 40, "max": 400},
        "errors": {"timeout": 9},
        "series": series, "stages": [stage(0, 100.0), stage(1, 200.0)],
        "search": {"slo": {"percentile": "p99", "limit_us": 500.0}, "max_rate": 200.0,
                   "limited_by": "target", "steps": steps},
    });
    let file = dir.join("fixture.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    let page = dir.join("fixture.html");
    report(&[file.to_str().unwrap(), "--html", page.to_str().unwrap()]);
    let html = std::fs::read_to_string(&page).unwrap();
    for id in [
        "throughput",
        "latency",
        "connections",
        "errors",
        "spectrum",
        "search",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
    }
    assert!(html.contains("stage boundary") && html.contains("objective: p99 &lt;= 500 µs"));
    check_in_browser(&page, 6);
}
