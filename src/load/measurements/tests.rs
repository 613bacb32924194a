//! Unit tests of `measurements.rs`: growing histograms, recording, merging.

use super::*;

/// Bytes of counts a histogram holds (u64 counts).
fn bytes(h: &Histogram<u64>) -> usize {
    h.distinct_values() * std::mem::size_of::<u64>()
}

/// Issue 15: an idle generator's histograms cost what they hold, not
/// their full hour-long range (264 KiB each, written at creation).
#[test]
fn a_histogram_costs_what_it_holds_and_still_reaches_an_hour() {
    let mut h = new_histogram();
    assert_eq!(bytes(&h), 16 * 1024, "an empty histogram");
    let mut clamped = 0;
    record(&mut h, 1_000_000, &mut clamped);
    assert_eq!(bytes(&h), 88 * 1024, "values up to 1 ms");
    record(&mut h, 1_000_000_000, &mut clamped);
    assert_eq!(bytes(&h), 168 * 1024, "values up to 1 s");
    record(&mut h, HISTOGRAM_MAX_NS + 1, &mut clamped);
    assert_eq!(bytes(&h), 264 * 1024, "the whole range");
    assert_eq!(clamped, 1);
    assert_eq!(h.len(), 3);
    assert_eq!(h.max(), h.highest_equivalent(HISTOGRAM_MAX_NS));
    // A merge grows the receiving histogram too (worker -> parent).
    let mut total = new_histogram();
    total.add(&h).unwrap();
    assert_eq!((total.len(), total.max()), (3, h.max()));
}

#[test]
fn merge_adds_counts_and_histograms() {
    let mut a = Measurements::default();
    a.latency.record(1_000).unwrap();
    a.completed = 1;
    a.error("x");
    a.window_secs = 1.0;
    let mut b = Measurements::default();
    b.latency.record(3_000).unwrap();
    b.completed = 2;
    b.error_n("x", 2);
    b.window_secs = 2.0;
    a.cpu_secs = 0.5;
    b.cpu_secs = 0.25;
    (a.udp_kernel_drops, b.udp_kernel_drops) = (1, 2);
    (a.udp_server_kernel_drops, b.udp_server_kernel_drops) = (None, Some(40));
    (a.scheduled, b.scheduled) = (10, 20);
    (a.unsent.depth, b.unsent.depth, b.unsent.target) = (1, 2, 3);
    (a.udp_late, b.udp_late) = (4, 5);
    b.clamped.latency = 6;
    b.schedule_lag.record(7).unwrap();
    (a.run_queue_secs, b.run_queue_secs) = (None, Some(0.3));
    a.merge(&b);
    assert_eq!(a.scheduled, 30);
    assert_eq!(a.unsent.total(), 6);
    assert_eq!((a.udp_late, a.clamped.latency), (9, 6));
    assert_eq!(a.schedule_lag.len(), 1);
    assert_eq!(a.run_queue_secs, Some(0.3), "the longest wait known");
    assert_eq!(a.cpu_secs, 0.5, "the busiest worker's CPU, not the sum");
    assert_eq!(a.completed, 3);
    assert_eq!(a.latency.len(), 2);
    assert_eq!(a.errors["x"], 3);
    assert_eq!(a.window_secs, 2.0);
    assert_eq!(a.udp_kernel_drops, 3, "each worker's own sockets");
    assert_eq!(
        a.udp_server_kernel_drops,
        Some(40),
        "one counter, read by each"
    );
}

#[test]
fn measurements_round_trip_through_json() {
    let mut m = Measurements::default();
    m.latency.record(12_345).unwrap();
    m.connect.record(99_000).unwrap();
    m.completed = 7;
    m.error("x");
    let json = serde_json::to_string(&m).unwrap();
    let back: Measurements = serde_json::from_str(&json).unwrap();
    assert_eq!(back.latency, m.latency);
    assert_eq!(back.connect, m.connect);
    assert_eq!((back.completed, back.errors["x"]), (7, 1));
    assert!(
        serde_json::from_str::<Measurements>(&json.replace("latency\":\"", "latency\":\"zz"))
            .is_err()
    );
}
