//! Unit tests of the capacity search: the objective's parser and the
//! bracketing, fed made-up step results (no loop, no target).

use super::*;

#[track_caller]
fn slo(s: &str) -> Slo {
    Slo::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn objectives_take_four_percentiles_and_three_units() {
    assert_eq!(
        slo("p99=5ms"),
        Slo {
            percentile: 0.99,
            limit_us: 5000.0
        }
    );
    assert_eq!(slo("p50=250us").limit_us, 250.0);
    assert_eq!(slo("p90 = 1.5µs").limit_us, 1.5);
    assert_eq!(
        slo("p99.9=2s"),
        Slo {
            percentile: 0.999,
            limit_us: 2e6
        }
    );
    assert_eq!(Slo::name_of(0.999), "p99.9");
    let json = serde_json::to_string(&slo("p99.9=1ms")).unwrap();
    assert_eq!(json, r#"{"percentile":"p99.9","limit_us":1000.0}"#);
}

#[test]
fn bad_objectives_say_the_form() {
    for (bad, word) in [
        ("p99", "PERCENTILE=LIMIT"),
        ("p95=5ms", "unknown percentile 'p95'"),
        ("p99=5", "needs a unit"),
        ("p99=5min", "needs a unit"),
        ("p99=-1ms", "positive"),
        ("p99=0us", "positive"),
        ("p99=xms", "positive"),
        ("p99=4000s", "up to one hour"),
    ] {
        let e = Slo::parse(bad).expect_err(bad);
        assert!(e.contains(word) && e.contains("e.g. p99=5ms"), "{bad}: {e}");
    }
}

/// A step at `rate`: met or not, the generator healthy or not.
fn step(rate: f64, met: bool, saturated: bool) -> Step {
    Step {
        rate,
        achieved_per_sec: rate,
        p50_us: Some(1.0),
        p99_us: Some(2.0),
        errors: 0,
        met,
        generator_saturated: saturated,
    }
}

/// Runs a search against a target that meets the objective up to `knee`
/// (and a generator that saturates from `generator`), returning the rates
/// tried.
fn run(search: &mut Search, knee: f64, generator: f64) -> Vec<f64> {
    let mut tried = Vec::new();
    while let Some(rate) = search.next_rate() {
        tried.push(rate);
        // A saturated generator misses (its delays are in every latency).
        search.record(step(
            rate,
            rate <= knee && rate < generator,
            rate >= generator,
        ));
    }
    tried
}

#[test]
fn it_doubles_until_it_brackets_the_knee_then_bisects() {
    let mut s = Search::new(100.0, 20);
    let tried = run(&mut s, 1000.0, f64::INFINITY);
    assert_eq!(tried[..5], [100.0, 200.0, 400.0, 800.0, 1600.0]);
    assert_eq!(tried[5], 1200.0, "the middle of [800, 1600]");
    let best = s.max_rate().unwrap();
    assert!(
        best <= 1000.0 && best > 1000.0 / (1.0 + 2.0 * PRECISION),
        "{best}"
    );
    assert_eq!(s.limited_by(), Some(LimitedBy::Target));
    assert_eq!(s.steps().len(), tried.len());
    assert!(
        tried.len() < 20,
        "stops once the bracket is narrow: {tried:?}"
    );
}

#[test]
fn a_first_step_that_fails_halves_the_rate() {
    let mut s = Search::new(1000.0, 20);
    let tried = run(&mut s, 300.0, f64::INFINITY);
    assert_eq!(tried[..3], [1000.0, 500.0, 250.0]);
    assert_eq!(tried[3], 375.0);
    assert!(s.max_rate().is_some_and(|r| (250.0..=300.0).contains(&r)));
}

#[test]
fn an_objective_never_met_finds_no_rate() {
    let mut s = Search::new(8.0, 10);
    let tried = run(&mut s, 0.0, f64::INFINITY);
    assert_eq!(tried, [8.0, 4.0, 2.0, 1.0], "down to MIN_RATE");
    assert_eq!(s.max_rate(), None);
    assert_eq!(s.limited_by(), Some(LimitedBy::Target));
}

#[test]
fn the_step_budget_bounds_the_search() {
    let mut s = Search::new(100.0, 3);
    let tried = run(&mut s, f64::INFINITY, f64::INFINITY);
    assert_eq!(tried, [100.0, 200.0, 400.0]);
    assert_eq!(
        (s.max_rate(), s.limited_by()),
        (Some(400.0), None),
        "never failed"
    );
    assert_eq!(Search::new(100.0, 0).next_rate(), None);
}

#[test]
fn a_saturated_generator_stops_the_search_and_says_so() {
    let mut s = Search::new(100.0, 20);
    let tried = run(&mut s, 10_000.0, 800.0);
    assert_eq!(tried, [100.0, 200.0, 400.0, 800.0]);
    assert_eq!(s.max_rate(), Some(400.0), "the last rate measured cleanly");
    assert_eq!(s.limited_by(), Some(LimitedBy::Generator));
}

#[test]
fn the_rate_never_passes_the_top_of_the_range() {
    let mut s = Search::new(MAX_RATE / 1.5, 5);
    let tried = run(&mut s, f64::INFINITY, f64::INFINITY);
    assert_eq!(tried, [MAX_RATE / 1.5, MAX_RATE]);
}

#[test]
fn a_step_met_despite_a_saturated_generator_counts() {
    let mut s = Search::new(100.0, 2);
    s.record(step(100.0, true, true));
    assert_eq!(s.next_rate(), Some(200.0), "met: the search goes on");
    s.record(step(200.0, false, true));
    assert_eq!((s.next_rate(), s.max_rate()), (None, Some(100.0)));
    assert_eq!(s.limited_by(), Some(LimitedBy::Generator));
}
