//! Unit tests of the schedule: what is due, what is owed and counted, and
//! the lag, at given times (no loop, no clock).

use super::*;
use crate::load::stages::Profile;

const MS: u64 = 1_000_000;

/// A schedule at `rate` per second (None: closed loop), window open
/// until `until`.
fn schedule(rate: Option<f64>, until: u64) -> Schedule {
    let poll = mio::Poll::new().unwrap();
    let mut s = Schedule::new(rate, None, poll.registry(), Token(1));
    s.open(0, until, 4);
    s
}

#[test]
fn closed_loop_fills_every_free_slot_now() {
    let s = schedule(None, 100 * MS);
    assert_eq!(s.due(0, 16, 5 * MS), Burst::now(16, 5 * MS));
    assert_eq!(s.due(0, 0, 5 * MS).count, 0);
}

#[test]
fn open_loop_sends_every_intended_time_that_has_come() {
    // 1000/s: one every ms.
    let s = schedule(Some(1000.0), 100 * MS);
    let b = s.due(10 * MS, 8, 13 * MS);
    assert_eq!((b.count, b.at(0), b.at(3)), (4, 10 * MS, 13 * MS));
    assert_eq!(s.due(10 * MS, 8, 9 * MS).count, 0, "not due yet");
    assert_eq!(s.due(10 * MS, 2, 13 * MS).count, 2, "capped by free slots");
}

#[test]
fn open_loop_sends_nothing_intended_at_or_after_the_window_end() {
    let s = schedule(Some(1000.0), 12 * MS);
    let b = s.due(10 * MS, 8, 50 * MS);
    assert_eq!((b.count, b.at(b.count)), (2, 12 * MS));
    assert_eq!(s.due(12 * MS, 8, 50 * MS).count, 0);
}

#[test]
fn nothing_is_due_outside_the_window() {
    let mut s = schedule(None, 100 * MS);
    s.close();
    assert_eq!(s.due(0, 16, 5 * MS).count, 0);
}

#[test]
fn closed_loop_stops_at_the_window_end() {
    let mut s = schedule(None, 100 * MS);
    s.end_window(100 * MS, 50 * MS);
    assert_eq!(s.due(0, 16, 101 * MS).count, 0);
    assert_eq!((s.scheduled(), s.owed(0)), (None, 0), "no schedule");
}

#[test]
fn open_loop_sends_what_is_owed_after_the_window_end_and_no_more() {
    let mut s = schedule(Some(1000.0), 12 * MS);
    // A 100 ms drain: owed requests go out in its first 50 ms.
    s.end_window(12 * MS, 100 * MS);
    // Owed: intended at 10 and 11 ms, sent in the drain, stamped then.
    let b = s.due(10 * MS, 8, 50 * MS);
    assert_eq!((b.count, b.at(0), b.at(1)), (2, 10 * MS, 11 * MS));
    assert_eq!(s.owed(10 * MS), 2);
    assert_eq!(s.owed(12 * MS), 0);
    assert!(!s.stop_due(61 * MS));
    assert!(s.stop_due(62 * MS), "the drain's middle");
    s.close();
    assert_eq!(s.due(10 * MS, 8, 62 * MS).count, 0, "closed");
    assert_eq!(s.owed(10 * MS), 2, "still owed: unsent");
}

#[test]
fn a_window_cut_short_schedules_only_what_came_before_its_end() {
    let mut s = schedule(Some(1000.0), 100 * MS);
    s.end_window(20 * MS, 100 * MS);
    assert_eq!(s.due(19 * MS, 8, 30 * MS).count, 1);
    assert_eq!(s.due(20 * MS, 8, 30 * MS).count, 0);
}

#[test]
fn scheduled_counts_every_connections_grid_inside_the_window() {
    // 4 connections at 1000/s, staggered by 250 us, over 10 ms: 10 each.
    assert_eq!(schedule(Some(1000.0), 10 * MS).scheduled(), Some(40));
    // Over 10.5 ms: connections 0 and 1 (first at 0 and 0.25 ms) get an
    // 11th intended time (10 and 10.25 ms), 2 and 3 (10.5, 10.75) none.
    assert_eq!(
        schedule(Some(1000.0), 10 * MS + MS / 2).scheduled(),
        Some(42)
    );
    assert_eq!(schedule(None, 10 * MS).scheduled(), None);
}

#[test]
fn lag_is_the_generators_lateness_only() {
    let s = schedule(Some(1000.0), 100 * MS);
    let b = s.due(10 * MS, 8, 13 * MS);
    assert_eq!(s.lag(&b, 0, 13 * MS, false), Some(3 * MS));
    assert_eq!(s.lag(&b, 3, 13 * MS, false), Some(0));
    assert_eq!(s.lag(&b, 0, 13 * MS, true), Some(0), "held by --depth");
    let closed = schedule(None, 100 * MS);
    let b = closed.due(0, 1, 13 * MS);
    assert_eq!(closed.lag(&b, 0, 13 * MS, false), None);
}

#[test]
fn a_connection_is_woken_once_while_it_has_a_free_slot() {
    let mut s = schedule(Some(1000.0), 100 * MS);
    let mut armed = false;
    s.wake_later(7, 20 * MS, 0, &mut armed);
    assert!(!armed, "all slots busy: the next reply refills it");
    s.wake_later(7, 20 * MS, 1, &mut armed);
    s.wake_later(7, 21 * MS, 1, &mut armed);
    assert!(armed);
    assert_eq!(s.pop_due(19 * MS), None);
    assert_eq!(s.pop_due(25 * MS), Some(7));
    assert_eq!(s.pop_due(25 * MS), None, "armed once, woken once");
    let mut closed_loop = schedule(None, 100 * MS);
    let mut armed = false;
    closed_loop.wake_later(7, 20 * MS, 1, &mut armed);
    assert!(!armed, "closed loop: replies drive it, never a timer");
}

#[test]
fn first_intended_times_are_spread_over_one_interval() {
    let s = schedule(Some(1000.0), 100 * MS);
    let firsts: Vec<u64> = (0..4).map(|i| s.first_intended(5 * MS, i, 4)).collect();
    assert_eq!(
        firsts,
        [
            5 * MS,
            5 * MS + MS / 4,
            5 * MS + MS / 2,
            5 * MS + 3 * MS / 4
        ]
    );
    assert_eq!(schedule(None, 1).first_intended(5, 3, 4), 5);
}

// ---- a profile: the total rate as a function of time ----------------------

/// A schedule paced by `stages` (total rate), window open at 0 for `conns`
/// connections until the profile's end.
fn profiled(stages: &str, conns: usize) -> Schedule {
    let poll = mio::Poll::new().unwrap();
    let profile = Profile::new(&crate::load::stages::Stages::parse(stages).unwrap());
    let until = profile.len();
    let mut s = Schedule::new(None, Some(profile), poll.registry(), Token(1));
    s.open(0, until, conns);
    s
}

/// Every intended time of connection `i`, as the loop would send them one
/// at a time.
fn times_of(s: &Schedule, i: usize, n: usize) -> Vec<u64> {
    let mut next = s.first_intended(0, i, n);
    let mut out = Vec::new();
    while next != NEVER {
        let b = s.due(next, 1, u64::MAX - 1);
        if b.count == 0 {
            break;
        }
        out.push(b.at(0));
        next = b.at(1);
    }
    out
}

#[test]
fn a_constant_profile_is_the_even_grid_shared_by_the_connections() {
    // 4,000/s in all over 10 ms: 40 requests, 10 per connection, 1 ms apart.
    let s = profiled("10ms:4000", 4);
    // The stage ramps from 0: use a constant profile instead.
    let poll = mio::Poll::new().unwrap();
    let mut flat = Schedule::new(
        None,
        Some(Profile::constant(4000.0, 0.01)),
        poll.registry(),
        Token(1),
    );
    flat.open(0, 10 * MS, 4);
    assert_eq!(flat.scheduled(), Some(40));
    let t0 = times_of(&flat, 0, 4);
    assert_eq!(t0.len(), 10);
    assert_eq!(t0[..2], [MS / 8, MS / 8 + MS]);
    let t1 = times_of(&flat, 1, 4);
    assert_eq!(
        t1[0],
        MS / 8 + MS / 4,
        "interleaved: a quarter interval later"
    );
    assert_eq!(flat.owed(t0[5]), 5);
    assert_eq!(s.scheduled(), Some(20), "the ramp asks for half");
}

#[test]
fn a_ramp_sends_more_as_the_rate_grows_and_counts_what_it_owes() {
    let s = profiled("1s:2000", 2);
    assert_eq!(s.scheduled(), Some(1000));
    let all: Vec<u64> = (0..2).flat_map(|i| times_of(&s, i, 2)).collect();
    assert_eq!(
        all.len(),
        1000,
        "each grid request belongs to one connection"
    );
    let first_half = all.iter().filter(|&&t| t < 500 * MS).count();
    assert_eq!(
        first_half, 250,
        "a quarter of the area lies in the first half"
    );
    let next = s.first_intended(0, 1, 2);
    assert_eq!(s.owed(next), 500);
    // Due at 100 ms: connection 0's share of the requests intended so far.
    let b = s.due(s.first_intended(0, 0, 2), 64, 100 * MS);
    assert_eq!(b.count, 5, "10 requests by 100 ms, every other one");
    assert!(b.at(4) <= 100 * MS && b.at(5) > 100 * MS);
    let lag = s.lag(&b, 0, 100 * MS, false).unwrap();
    assert_eq!(lag, 100 * MS - b.at(0));
}

#[test]
fn past_its_last_request_a_connection_owes_nothing() {
    let s = profiled("10ms:200", 4);
    // One request in all (200/s ramped over 10 ms asks for 1).
    assert_eq!(s.scheduled(), Some(1));
    assert_eq!(s.first_intended(0, 1, 4), NEVER, "connection 1 gets none");
    assert_eq!((s.owed(NEVER), s.due(NEVER, 1, 5 * MS).count), (0, 0));
    let mut armed = false;
    let mut s = s;
    s.wake_later(3, NEVER, 1, &mut armed);
    assert!(!armed, "no wake-up for a time that never comes");
}
