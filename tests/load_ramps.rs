//! `sockloop load`'s load shapes against a real `sockloop serve`: `--stages`
//! (a total rate ramped over stages, or with `--idle` open connections),
//! `--find-max-rate` (the capacity search), and the per-second series with
//! `--workers`. Counts and their order are asserted, never timings.
//!
//! Every run is bounded: stages and steps of a second or less, few
//! connections, and the generator's deadline (`common::LOAD_DEADLINE`).

mod common;

use common::{Server, keys, load, report};
use serde_json::Value;
use std::process::Output;

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// The report of a run that must have succeeded.
#[track_caller]
fn clean(output: &Output) -> Value {
    let r = report(output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{r}\n{stderr}");
    assert_eq!(r["version"], 1);
    r
}

/// The sum of `key` over the series' samples.
fn series_sum(r: &Value, key: &str) -> u64 {
    r["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| u(&s[key]))
        .sum()
}

/// Each stage is reported apart, and the rate ramps: the stage asking for
/// the most requests sends and completes the most. The schedule itself is
/// exact: 0 -> 200/s over 1 s asks for 100, 200 -> 400/s for 300, 400 -> 0
/// for 200.
#[test]
fn stages_ramp_the_total_rate_and_report_each_stage() {
    let server = Server::start(&[]);
    let target = server.echo().to_string();
    let output = load(&[
        "--target",
        &target,
        "-c",
        "4",
        "--stages",
        "1s:200,1s:400,1s:0",
    ]);
    let r = clean(&output);
    assert_eq!(r["schedule"]["scheduled"], 600, "{r}");
    let window = r["duration_secs"].as_f64().unwrap();
    assert!(
        (3.0..4.0).contains(&window),
        "the window is the stages: {r}"
    );
    let stages = r["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 3, "{r}");
    for (i, s) in stages.iter().enumerate() {
        assert_eq!(
            keys(s),
            [
                "achieved_per_sec",
                "completed",
                "errors",
                "from_rate",
                "index",
                "latency_us",
                "secs",
                "sent",
                "start_secs",
                "to_rate"
            ]
        );
        assert_eq!((u(&s["index"]), s["secs"].as_f64()), (i as u64, Some(1.0)));
        assert_eq!(s["errors"], 0, "{s}");
        assert_eq!(s["completed"], s["latency_us"]["samples"], "{s}");
    }
    assert_eq!(
        stages
            .iter()
            .map(|s| s["to_rate"].as_f64().unwrap())
            .collect::<Vec<_>>(),
        [200.0, 400.0, 0.0]
    );
    assert_eq!(stages[1]["from_rate"], 200.0);
    let completed: Vec<u64> = stages.iter().map(|s| u(&s["completed"])).collect();
    assert!(
        completed[1] > completed[0] && completed[1] > completed[2],
        "{completed:?}"
    );
    let sent: u64 = stages.iter().map(|s| u(&s["sent"])).sum();
    assert_eq!(sent, u(&r["requests"]["sent"]), "{r}");
    assert_eq!(
        completed.iter().sum::<u64>(),
        u(&r["requests"]["completed"]),
        "every reply belongs to the stage its request was intended in"
    );
    // The series is labelled with the stages, in order, and its target
    // rate is the schedule's (the ramp from 0 to 200 averages 100/s).
    let series = r["series"].as_array().unwrap();
    let labels: Vec<Option<u64>> = series.iter().map(|s| s["stage"].as_u64()).collect();
    assert_eq!(labels[..3], [Some(0), Some(1), Some(2)], "{labels:?}");
    let target0 = series[0]["target_rate"].as_f64().unwrap();
    let target1 = series[1]["target_rate"].as_f64().unwrap();
    assert!(target0 < target1, "{series:?}");
    assert_eq!(series_sum(&r, "sent"), u(&r["requests"]["sent"]));
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(text.contains("target from -> to"), "{text}");
}

/// With `--idle`, the stages are open connections: they go up, then down
/// (closed by the generator, not errors), and the connections still open
/// at the end send their one request each.
#[test]
fn idle_stages_ramp_the_open_connections() {
    let server = Server::start(&[]);
    let target = server.echo().to_string();
    let output = load(&[
        "--target",
        &target,
        "-c",
        "20",
        "--idle",
        "--stages",
        "1s:20,1s:4",
    ]);
    let r = clean(&output);
    let opened = u(&r["connections"]["opened"]);
    assert!(opened >= 4, "{r}");
    assert_eq!(series_sum(&r, "connects"), opened, "{r}");
    let open: Vec<u64> = r["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| u(&s["conns_open"]))
        .collect();
    let peak = *open.iter().max().unwrap();
    assert!(peak > 4 && peak <= 20, "{open:?}");
    assert!(series_sum(&r, "closes") > 0, "ramped down: {r}");
    assert_eq!(r["errors"], serde_json::json!({}), "{r}");
    let last = *open.last().unwrap();
    assert!(last < peak, "{open:?}");
    assert_eq!(
        r["requests"]["completed"], last,
        "one request per open connection: {r}"
    );
    assert_eq!(r["stages"][0]["to_rate"], 20.0);
    assert_eq!(r["schedule"], Value::Null, "no rate in a hold");
}

/// The search reports its answer and every step (rate, p50/p99, errors),
/// with an objective the target meets at these small rates: unless the
/// generator itself saturates on this machine, in which case it must say
/// so.
#[test]
fn the_search_reports_the_answer_and_every_step() {
    let server = Server::start(&[]);
    let target = server.echo().to_string();
    let output = load(&[
        "--target",
        &target,
        "-c",
        "2",
        "--find-max-rate",
        "--slo",
        "p99=2s",
        "--search-from",
        "20",
        "--search-steps",
        "3",
        "--step-duration",
        "0.5",
    ]);
    let r = report(&output);
    let search = &r["search"];
    assert_eq!(keys(search), ["limited_by", "max_rate", "slo", "steps"]);
    assert_eq!(
        search["slo"],
        serde_json::json!({"percentile": "p99", "limit_us": 2e6})
    );
    let steps = search["steps"].as_array().unwrap();
    assert!((1..=3).contains(&steps.len()), "{r}");
    for step in steps {
        assert_eq!(
            keys(step),
            [
                "achieved_per_sec",
                "errors",
                "generator_saturated",
                "met",
                "p50_us",
                "p99_us",
                "rate"
            ]
        );
    }
    assert_eq!(steps[0]["rate"], 20.0);
    match search["max_rate"].as_f64() {
        Some(rate) => {
            assert!(output.status.success(), "{r}");
            assert!(rate >= 20.0, "{r}");
            assert!(steps.iter().any(|s| s["met"] == true));
            if steps.len() == 3 && steps.iter().all(|s| s["met"] == true) {
                assert_eq!(steps[2]["rate"], 80.0, "doubling: {r}");
                assert_eq!(search["limited_by"], Value::Null, "neither was hit: {r}");
            }
        }
        None => {
            assert_eq!(search["limited_by"], "generator", "{r}");
            assert!(!output.status.success());
        }
    }
    // One connection set for the whole search: opened once.
    assert_eq!(r["connections"]["opened"], 2, "{r}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("step 0") && stderr.contains("max rate"),
        "{stderr}"
    );
}

/// An objective no target can meet: the search finds no rate, says so and
/// fails the run.
#[test]
fn an_objective_never_met_finds_no_rate_and_fails() {
    let server = Server::start(&[]);
    let target = server.echo().to_string();
    let output = load(&[
        "--target",
        &target,
        "-c",
        "2",
        "--find-max-rate",
        "--slo",
        "p99=1us",
        "--search-from",
        "20",
        "--search-steps",
        "2",
        "--step-duration",
        "0.3",
    ]);
    let r = report(&output);
    assert!(!output.status.success(), "{r}");
    assert_eq!(r["search"]["max_rate"], Value::Null, "{r}");
    let steps = r["search"]["steps"].as_array().unwrap();
    assert!(
        !steps.is_empty() && steps.iter().all(|s| s["met"] == false),
        "{r}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no rate met the objective"), "{stderr}");
}

/// Bad `--stages` and `--slo` values, and the rules between the new flags,
/// are refused before connecting, with exit status 1 and a message that
/// says the form.
#[test]
fn bad_stages_and_objectives_are_refused_with_the_form() {
    for (args, says) in [
        (&["--stages", "10s"][..], "DURATION:TARGET"),
        (&["--stages", "10s:-5"], "target"),
        (&["--stages", "1s:5", "--rate", "5"], "--rate"),
        (
            &["--find-max-rate", "--slo", "p95=5ms"],
            "unknown percentile 'p95'",
        ),
        (&["--find-max-rate", "--slo", "p99=5"], "needs a unit"),
        (&["--find-max-rate"], "--slo p99=5ms"),
        (&["--slo", "p99=5ms"], "needs --find-max-rate"),
        (&["--idle", "-c", "5", "--stages", "1s:6"], "up to --conns"),
        (
            &["--find-max-rate", "--slo", "p99=5ms", "--workers", "2"],
            "one process",
        ),
    ] {
        let output = load(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}: nothing on stdout");
    }
}

/// With `--workers 2`, the series is the whole run's: one sample a second,
/// each second's counts summed over the workers (so they add up to the
/// totals), the target rate the whole run's, and percentiles from the
/// merged histograms.
#[test]
fn the_series_merges_the_workers_seconds() {
    let server = Server::start(&[]);
    let target = server.echo().to_string();
    let output = load(&[
        "--target",
        &target,
        "--workers",
        "2",
        "-c",
        "4",
        "--rate",
        "50",
        "-d",
        "2",
    ]);
    let r = clean(&output);
    let series = r["series"].as_array().unwrap();
    // Two seconds of window, and perhaps a piece of the drain.
    assert!((2..=3).contains(&series.len()), "{r}");
    for (i, s) in series.iter().enumerate() {
        assert_eq!(u(&s["second"]), i as u64);
        assert!(s.get("latency").is_none(), "internal: {s}");
    }
    for s in &series[..2] {
        // 4 connections x 50/s, over two workers.
        assert_eq!(s["target_rate"], 200.0, "{s}");
        assert_eq!(s["conns_open"], 4, "{s}");
        if u(&s["completed"]) >= 2 {
            assert!(s["p50_us"].is_f64(), "{s}");
        }
    }
    assert_eq!(series_sum(&r, "sent"), u(&r["requests"]["sent"]));
    assert_eq!(series_sum(&r, "completed"), u(&r["requests"]["completed"]));
    assert_eq!(
        series_sum(&r, "connects"),
        0,
        "the ramp-up is not in the series"
    );
    assert_eq!(r["stages"], Value::Null);
    assert_eq!(r["search"], Value::Null);
}
