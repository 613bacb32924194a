//! Unit tests of the stage profile: parsing, the rate function, its
//! integral and inverse, and the request grid (no loop, no clock).

use super::*;

const SEC: u64 = 1_000_000_000;

#[track_caller]
fn stages(s: &str) -> Stages {
    Stages::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[track_caller]
fn refused(s: &str, words: &[&str]) {
    let e = Stages::parse(s).expect_err(s);
    for w in words {
        assert!(e.contains(w), "{s}: {e}");
    }
}

#[test]
fn parses_durations_with_units_and_targets() {
    let s = stages("10s:1000, 1.5m:5000,250ms:0,1h:2,3:4");
    let secs: Vec<f64> = s.0.iter().map(|s| s.secs).collect();
    assert_eq!(secs, [10.0, 90.0, 0.25, 3600.0, 3.0]);
    assert_eq!(s.0[1].target, 5000.0);
    assert_eq!((s.peak(), s.secs()), (5000.0, 3703.25));
}

#[test]
fn bad_stages_say_which_and_the_form() {
    refused("", &["stage 1", "DURATION:TARGET"]);
    refused("10s", &["stage 1 '10s'", "DURATION:TARGET"]);
    refused("10s:100,x:5", &["stage 2 'x:5'", "duration"]);
    refused("10s:-1", &["stage 1", "target"]);
    refused("10s:nan", &["target"]);
    refused("0s:5", &["at least 0.001"]);
    refused("10q:5", &["units"]);
    refused("10s:1e9", &["0..=100000000"]);
    refused(&vec!["1s:1"; MAX_STAGES + 1].join(","), &["at most 32"]);
    refused("200h:1", &["at most 604800"]);
    assert_eq!(stages(&vec!["1s:1"; MAX_STAGES].join(",")).0.len(), 32);
}

#[test]
fn a_worker_share_round_trips_through_the_flag_form() {
    let s = stages("10s:1000,30s:5000,0.5s:0");
    let share = s.scaled(4.0 / 9.0);
    assert_eq!(stages(&share.to_string()), share);
    assert_eq!(share.0[0].target, 1000.0 * (4.0 / 9.0));
}

#[test]
fn the_rate_ramps_linearly_from_the_previous_target() {
    let p = Profile::new(&stages("10s:1000,10s:1000,10s:0"));
    assert_eq!(p.len(), 30 * SEC);
    assert_eq!(p.rate_at(0), 0.0, "starts from 0");
    assert_eq!(p.rate_at(5 * SEC), 500.0);
    assert_eq!(p.rate_at(15 * SEC), 1000.0, "holds");
    assert_eq!(p.rate_at(25 * SEC), 500.0, "ramps down");
    assert_eq!(p.rate_at(30 * SEC), 0.0, "past the end");
    assert_eq!(
        [0, 10 * SEC, 29 * SEC, 30 * SEC].map(|t| p.stage_at(t)),
        [Some(0), Some(1), Some(2), None]
    );
    assert_eq!(p.stage_span(1), Some((10 * SEC, 10 * SEC)));
}

#[test]
fn the_count_is_the_integral_and_time_of_its_inverse() {
    let p = Profile::new(&stages("10s:1000,10s:1000,10s:0"));
    // 5,000 + 10,000 + 5,000.
    assert_eq!(p.total(), 20_000.0);
    assert_eq!(p.count_at(10 * SEC), 5_000.0);
    assert_eq!(p.count_at(5 * SEC), 1_250.0, "a quarter of the ramp's area");
    assert_eq!(p.count_at(40 * SEC), 20_000.0);
    for c in [0.5, 1.0, 1_250.0, 5_000.0, 12_345.5, 19_999.0, 20_000.0] {
        let t = p.time_of(c).unwrap();
        let back = p.count_at(t);
        assert!(back >= c - 1e-6 && back < c + 1.0, "{c} -> {t} -> {back}");
    }
    assert_eq!(p.time_of(1_250.0), Some(5 * SEC));
    assert_eq!(p.time_of(20_000.5), None, "past the total");
    assert_eq!(p.time_of(0.0), None);
}

#[test]
fn the_grid_is_even_at_a_constant_rate_and_bends_on_a_ramp() {
    // 1000/s for 1 s: requests at 0.5 ms, 1.5 ms, ...
    let p = Profile::constant(1000.0, 1.0);
    assert_eq!(p.total(), 1000.0);
    assert_eq!(p.request_time(0), Some(500_000));
    assert_eq!(p.request_time(1), Some(1_500_000));
    assert_eq!(p.request_time(999), Some(999_500_000));
    assert_eq!(p.request_time(1000), None);
    assert_eq!(p.requests_by(SEC), 1000);
    assert_eq!(p.requests_by(0), 0);
    // A ramp from 0: gaps shrink as the rate grows.
    let ramp = Profile::new(&stages("1s:1000"));
    let t: Vec<u64> = (0..500).map(|j| ramp.request_time(j).unwrap()).collect();
    let gaps: Vec<u64> = t.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.windows(2).all(|g| g[1] <= g[0]), "{gaps:?}");
    assert_eq!(ramp.requests_by(SEC), 500, "half of 1000/s over 1 s");
}

#[test]
fn every_request_time_maps_back_to_its_request() {
    let p = Profile::new(&stages("2s:100000000,1s:3,1s:0"));
    for j in (0..100_000_000).step_by(999_983).chain([0, 1, 2]) {
        let t = p.request_time(j).unwrap();
        assert_eq!(p.requests_by(t), j + 1, "request {j} at {t}");
    }
}

#[test]
fn a_stage_at_rate_zero_asks_for_nothing() {
    let p = Profile::new(&stages("5s:0,1s:0"));
    assert_eq!(
        (p.total(), p.request_time(0), p.requests_by(6 * SEC)),
        (0.0, None, 0)
    );
    // Starting after a silent stage: the first request comes in stage 2.
    let p = Profile::new(&stages("5s:0,1s:1000"));
    let first = p.request_time(0).unwrap();
    assert_eq!(p.stage_at(first), Some(1));
}
