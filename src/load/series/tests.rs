//! Unit tests of the series: seconds and their labels, the error-cause
//! cap, the stages' attribution, and the workers' merge.

use super::*;

const SEC: u64 = 1_000_000_000;

/// A histogram of `n` latencies of `us` microseconds each.
fn latencies(n: u64, us: u64) -> Histogram<u64> {
    let mut h = new_histogram();
    h.record_n(us * 1000, n).unwrap();
    h
}

#[test]
fn a_second_is_counted_labelled_and_numbered() {
    let profile = Profile::new(&crate::load::stages::Stages::parse("1s:100,1s:100").unwrap());
    let mut s = SeriesRec::default();
    s.error("before the window", 1);
    s.open(
        SEC,
        Plan::Stages {
            profile: Rc::new(profile),
            rate: true,
        },
    );
    s.cur.sent = 3;
    s.error("x", 2);
    s.interval(&latencies(200, 50));
    s.flush(2 * SEC);
    s.cur.sent = 1;
    s.flush(3 * SEC);
    s.close(3 * SEC);
    s.flush(3 * SEC + SEC / 2);
    let [a, b, drain] = &s.samples[..] else {
        panic!("{:?}", s.samples)
    };
    assert_eq!((a.second, a.stage, a.sent, a.errors), (0, Some(0), 3, 2));
    assert_eq!(a.errors_by_cause["x"], 2, "before the window: not counted");
    assert_eq!(
        a.target_rate,
        Some(50.0),
        "the ramp from 0 to 100 averages 50"
    );
    // Within the histogram's precision (the top of a bucket).
    let round = |v: Option<f64>| v.map(f64::round);
    assert_eq!(
        (round(a.p50_us), round(a.p99_us), round(a.max_us)),
        (Some(50.0), Some(50.0), Some(50.0))
    );
    assert_eq!(
        (b.second, b.stage, b.target_rate),
        (1, Some(1), Some(100.0))
    );
    assert_eq!((b.p50_us, b.max_us), (None, None), "no reply: no numbers");
    assert_eq!((drain.stage, drain.target_rate), (None, None), "the drain");
    assert_eq!(a.unix + 1, b.unix);
    assert!(a.latency.is_none(), "one process keeps no histograms");
}

#[test]
fn percentiles_follow_the_sample_rule() {
    let mut s = SeriesRec::default();
    s.open(0, Plan::Even(10.0));
    s.interval(&latencies(99, 7));
    s.flush(SEC);
    let a = &s.samples[0];
    let round = |v: Option<f64>| v.map(f64::round);
    assert_eq!(
        (round(a.p50_us), a.p99_us, round(a.max_us)),
        (Some(7.0), None, Some(7.0))
    );
    assert_eq!((a.stage, a.target_rate), (None, Some(10.0)));
}

#[test]
fn causes_past_the_cap_are_counted_together() {
    let mut second = Second::default();
    for i in 0..MAX_CAUSES + 3 {
        second.error(&format!("cause {i}"), 1);
    }
    second.error("cause 0", 1);
    assert_eq!(second.errors, MAX_CAUSES as u64 + 4);
    assert_eq!(second.errors_by_cause.len(), MAX_CAUSES + 1);
    assert_eq!(second.errors_by_cause[OTHER_CAUSE], 3);
    assert_eq!(second.errors_by_cause["cause 0"], 2);
}

#[test]
fn the_series_is_capped() {
    let mut s = SeriesRec::default();
    s.open(0, Plan::Closed);
    for i in 1..=MAX_SAMPLES as u64 + 2 {
        s.flush(i);
    }
    assert_eq!((s.samples.len(), s.dropped), (MAX_SAMPLES, 2));
}

#[test]
fn stages_are_found_by_time_and_the_drain_counts_toward_the_last() {
    let profile = Profile::new(&crate::load::stages::Stages::parse("1s:1,2s:1").unwrap());
    let mut s = SeriesRec::default();
    assert_eq!(s.stage_at(5), None, "no stages");
    s.open(
        10,
        Plan::Stages {
            profile: Rc::new(profile),
            rate: true,
        },
    );
    assert_eq!(s.stage_ends, [10 + SEC, 10 + 3 * SEC]);
    assert_eq!(s.stage_at(9), None, "before the window");
    assert_eq!(s.stage_at(10 + SEC - 1), Some(0));
    assert_eq!(s.stage_at(10 + SEC), Some(1));
    assert_eq!(s.stage_at(100 * SEC), Some(1), "the drain");
}

#[test]
fn workers_seconds_merge_exactly_from_their_histograms() {
    let worker = |n: u64, us: u64| {
        let mut s = SeriesRec {
            keep_histograms: true,
            ..SeriesRec::default()
        };
        s.open(0, Plan::Even(100.0));
        s.cur.completed = n;
        s.cur.conns_open = 2;
        s.error("reset", 1);
        s.interval(&latencies(n, us));
        s.flush(SEC);
        s.samples.remove(0)
    };
    let mut a = worker(60, 10);
    let b = worker(60, 1000);
    assert!(a.latency.is_some());
    a.merge(&b);
    assert_eq!((a.completed, a.conns_open, a.errors), (120, 4, 2));
    assert_eq!(a.errors_by_cause["reset"], 2);
    assert_eq!(a.target_rate, Some(200.0));
    // 120 samples: p99 is given now, from the merged histogram (the
    // slower worker's), which neither worker alone could give.
    assert_eq!(a.p99_us.map(f64::round), Some(1000.0));
    assert_eq!(a.p50_us.map(f64::round), Some(10.0));
}
