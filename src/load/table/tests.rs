//! Unit tests of the connection table, on real loopback connects (the table
//! holds mio streams) but without a loop: the tests call what the loop
//! would.

use super::*;
use crate::load::conn::start_connect;
use std::net::{SocketAddr, TcpListener};

/// A table of `wanted` connections with a 1 ms connect timeout, its poll,
/// and a listener to connect to (kept alive by the caller).
fn table(wanted: usize, depth: u32, connect_rate: f64) -> (Conns, mio::Poll, TcpListener) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let poll = mio::Poll::new().unwrap();
    (Conns::new(wanted, depth, connect_rate, MS), poll, listener)
}

const MS: u64 = 1_000_000;

#[track_caller]
fn connect(conns: &mut Conns, poll: &mio::Poll, to: &TcpListener, at: u64) -> usize {
    let addr: SocketAddr = to.local_addr().unwrap();
    let (stream, _) = start_connect(addr, None, &crate::load::clock::Clock::start()).unwrap();
    conns
        .add_tcp(poll.registry(), stream, Talk::new(0), at)
        .unwrap()
}

#[test]
fn connects_are_paced_by_the_connect_rate() {
    // 1000 connects per second: one per millisecond.
    let (mut conns, _poll, _listener) = table(2, 1, 1000.0);
    assert_eq!(conns.take_due_connect(0), Some(0));
    assert_eq!(conns.take_due_connect(0), None);
    assert_eq!(conns.next_connect_at(0), Some(MS));
    assert_eq!(conns.take_due_connect(MS), Some(1));
    assert_eq!(conns.next_connect_at(MS), None, "all started");
    let (mut unpaced, _poll, _listener) = table(2, 1, 0.0);
    assert_eq!(unpaced.take_due_connect(0), Some(0));
    assert_eq!(unpaced.take_due_connect(0), Some(1));
}

#[test]
fn a_connect_counts_until_it_is_up_removed_or_expired() {
    let (mut conns, poll, listener) = table(3, 1, 0.0);
    while conns.take_due_connect(0).is_some() {}
    let up = connect(&mut conns, &poll, &listener, 0);
    let closed = connect(&mut conns, &poll, &listener, 0);
    let slow = connect(&mut conns, &poll, &listener, 0);
    assert_eq!(conns.connect_deadline(), Some(MS));
    conns.connected(up);
    assert!(conns.remove(closed).is_some());
    assert!(!conns.ramp_done(), "one connect is still in progress");
    assert_eq!(conns.expire_connect(MS - 1), None, "not due yet");
    // `up` and `closed` have deadline entries too: stale, skipped.
    assert_eq!(conns.expire_connect(MS), Some(slow));
    assert_eq!(conns.expire_connect(MS), None);
    assert!(conns.get(slow).is_none(), "an expired connect is removed");
    assert!(conns.ramp_done());
    assert_eq!(conns.connect_deadline(), None);
}

#[test]
fn each_connection_has_its_own_send_time_ring() {
    let (mut conns, poll, listener) = table(2, 2, 0.0);
    let a = connect(&mut conns, &poll, &listener, 0);
    let b = connect(&mut conns, &poll, &listener, 0);
    let (conn, times) = conns.tcp(a).unwrap();
    conn.stamp_sent(times, 10);
    conn.stamp_sent(times, 20);
    assert_eq!(conn.free(times), 0);
    assert_eq!(conn.take_answered(times), 10, "replies in request order");
    conn.stamp_sent(times, 30);
    assert_eq!(conn.take_answered(times), 20);
    assert_eq!(conn.take_answered(times), 30, "the ring wrapped");
    let (conn, times) = conns.tcp(b).unwrap();
    assert_eq!((conn.free(times), times), (2, &mut [0, 0][..]));
}

#[test]
fn a_socket_waits_in_the_ready_queue_once() {
    let (mut conns, poll, listener) = table(1, 1, 0.0);
    let key = connect(&mut conns, &poll, &listener, 0);
    conns.push_ready(key);
    conns.push_ready(key);
    assert!(conns.has_ready());
    let mut pass = conns.start_pass();
    assert_eq!(conns.next_ready(&mut pass), Some(key));
    assert_eq!(conns.next_ready(&mut pass), None);
    assert!(!conns.has_ready());
}

#[test]
fn churn_replacements_are_due_at_once_or_on_a_grid_that_skips_lulls() {
    let (mut unpaced, _poll, _listener) = table(1, 1, 0.0);
    assert_eq!(unpaced.take_due_connect(0), Some(0));
    assert!(!unpaced.connects_pending());
    unpaced.replace(5 * MS);
    assert!(unpaced.connects_pending());
    assert_eq!(unpaced.take_due_connect(5 * MS), Some(1), "at once");
    // 1000/s: the ramp's connect 0 at 0; a replacement asked for at 50 ms
    // is due then, not 49 ms late on the old grid (no burst after a lull),
    // and the next one 1 ms after it.
    let (mut paced, _poll, _listener) = table(1, 1, 1000.0);
    assert_eq!(paced.take_due_connect(0), Some(0));
    paced.replace(50 * MS);
    paced.replace(50 * MS);
    assert_eq!(paced.next_connect_at(50 * MS), Some(50 * MS));
    assert_eq!(paced.take_due_connect(50 * MS), Some(1));
    assert_eq!(paced.take_due_connect(50 * MS), None, "paced");
    assert_eq!(paced.take_due_connect(51 * MS), Some(2));
}

#[test]
fn under_churn_the_deadline_queue_stays_bounded_behind_a_hung_connect() {
    let (mut conns, poll, listener) = table(2, 1, 0.0);
    // One connect that never finishes holds the front of the queue.
    let hung = connect(&mut conns, &poll, &listener, 0);
    // Hundreds come up and are recycled behind it, as churn does.
    for at in 1..=300 {
        let key = connect(&mut conns, &poll, &listener, at);
        conns.connected(key);
        conns.remove(key);
    }
    assert!(
        conns.deadlines.len() <= 2 * DEADLINES_MIN + 1,
        "{} entries",
        conns.deadlines.len()
    );
    assert_eq!(conns.deadlines.front().map(|&(k, _)| k), Some(hung));
    assert_eq!(conns.expire_connect(MS), Some(hung), "still timed out");
}
