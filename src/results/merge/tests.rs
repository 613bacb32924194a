//! `merge.rs`'s tests: exactness against every sample, and the settings check.

use super::*;
use crate::results::model::{Histograms, Second};
use rand::{RngExt, SeedableRng};

/// A part of `n` random latencies (ns) with its counts, series and
/// histograms, as `load --json` writes one; also its samples.
fn part(label: &str, seed: u64, n: u64, unix: i64) -> (RunDoc, Vec<u64>) {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let samples: Vec<u64> = (0..n)
        .map(|_| rng.random_range(1_000..50_000_000))
        .collect();
    let mut h = new_histogram();
    for &v in &samples {
        h.record(v).unwrap();
    }
    let doc = RunDoc {
        label: Some(label.into()),
        service: Some("echo".into()),
        size: Some(64),
        depth: Some(1),
        conns: Some(10),
        duration_secs: 2.0,
        requests: Requests {
            sent: n,
            completed: n,
            verify_errors: 0,
        },
        throughput: Throughput {
            msgs_per_sec: n as f64 / 2.0,
            bytes_per_sec: 0.0,
        },
        latency_us: Percentiles::of(&h, 0),
        histograms: Some(Histograms {
            request_ns: to_base64(&h),
            connect_ns: String::new(),
            schedule_lag_ns: String::new(),
        }),
        errors: [("timeout".to_owned(), 1)].into(),
        series: Some(vec![
            Second {
                unix,
                completed: n / 2,
                ..Second::default()
            },
            Second {
                unix: unix + 1,
                completed: n - n / 2,
                ..Second::default()
            },
        ]),
        ..RunDoc::default()
    };
    (doc, samples)
}

#[test]
fn merged_latency_is_the_histogram_of_all_samples() {
    let (a, sa) = part("a", 1, 3_000, 100);
    let (b, sb) = part("b", 2, 500, 100);
    let (c, sc) = part("c", 3, 7_000, 100);
    let m = merge(&[a, b, c]).unwrap();
    let mut all = new_histogram();
    for v in sa.iter().chain(&sb).chain(&sc) {
        all.record(*v).unwrap();
    }
    let merged = from_base64(&m.histograms.as_ref().unwrap().request_ns).unwrap();
    assert_eq!(merged, all);
    assert_eq!(m.latency_us, Percentiles::of(&all, 0));
    assert_eq!(m.requests.completed, 10_500);
    assert_eq!(m.throughput.msgs_per_sec, 5_250.0);
    assert_eq!(m.errors["timeout"], 3);
    assert_eq!(m.conns, Some(30));
    let s = m.seconds();
    assert_eq!((s.len(), s[0].completed + s[1].completed), (2, 10_500));
    assert_eq!(m.hosts.len(), 3);
    assert_eq!(m.merged.as_ref().unwrap().parts, 3);
    assert!(m.merged.as_ref().unwrap().warnings.is_empty());
    // A merge merges again: its parts' rows are kept.
    let (d, _) = part("d", 4, 10, 100);
    assert_eq!(merge(&[m, d.clone()]).unwrap().hosts.len(), 4);
    let twice = merge(&[d.clone(), d]).unwrap();
    let warnings = twice.merged.unwrap().warnings;
    assert!(
        warnings[0].contains("two parts are labelled d"),
        "{warnings:?}"
    );
}

#[test]
fn different_settings_are_refused_naming_both_parts() {
    let (a, _) = part("host-a", 1, 10, 100);
    let (mut b, _) = part("host-b", 2, 10, 100);
    b.size = Some(128);
    let e = merge(&[a.clone(), b.clone()]).unwrap_err();
    assert!(
        e.contains("host-a has --size 64, host-b has --size 128"),
        "{e}"
    );
    b.size = a.size;
    b.rate = Some(100.0);
    let e = merge(&[a.clone(), b.clone()]).unwrap_err();
    assert!(e.contains("--rate none") && e.contains("--rate 100"), "{e}");
    b.rate = None;
    b.service = Some("greet".into());
    assert!(merge(&[a.clone(), b]).unwrap_err().contains("--service"));
    let mut old = a.clone();
    old.histograms = None;
    let e = merge(&[a, old]).unwrap_err();
    assert!(
        e.contains("no histograms") && e.contains("never averaged"),
        "{e}"
    );
}

#[test]
fn parts_from_interval_logs_skip_the_settings_check() {
    let (a, _) = part("a", 1, 10, 100);
    let (mut log, _) = part("log", 2, 10, 100);
    log.service = None;
    log.size = None;
    assert!(merge(&[a, log]).is_ok());
}

#[test]
fn churn_and_failures_by_cause_add_up_across_parts() {
    let (mut a, _) = part("a", 1, 100, 100);
    let (mut b, _) = part("b", 2, 100, 100);
    let (c, _) = part("c", 3, 100, 100);
    let churn = |recycled, per_sec| Churn {
        requests_per_conn: 1,
        close: "fin".into(),
        recycled,
        opened_in_window: recycled,
        conns_per_sec: per_sec,
    };
    a.churn = Some(churn(100, 50.0));
    b.churn = Some(churn(60, 30.0));
    a.connections.failures = Some(Failures {
        refused: 1,
        ports_exhausted: 2,
        ..Failures::default()
    });
    b.connections.failures = Some(Failures {
        ports_exhausted: 3,
        reset: 4,
        ..Failures::default()
    });
    let m = merge(&[a, b, c]).unwrap();
    let got = m.churn.expect("churn merged");
    assert_eq!((got.recycled, got.opened_in_window), (160, 160));
    assert_eq!(got.conns_per_sec, 80.0, "side by side: rates add");
    assert_eq!(
        m.connections.failures,
        Some(Failures {
            refused: 1,
            ports_exhausted: 5,
            reset: 4,
            ..Failures::default()
        })
    );
    let (d, _) = part("d", 4, 100, 100);
    assert!(merge(&[d]).unwrap().churn.is_none(), "no churn: none");
}
