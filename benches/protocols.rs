//! Micro-benchmarks of the sans-IO layer: line framing and each service's
//! state machine, bytes in and bytes out, with no sockets.
//!
//! These are the costs the event loop pays per chunk it reads, apart from
//! the syscalls (measured end to end by `benches/e2e.rs`). Each benchmark
//! reports input bytes per second (criterion `Throughput::Bytes`).
//!
//! Run: `cargo bench --bench protocols` (about a minute). Every group uses
//! a short warm-up and measurement time (see [`short_config`]) because the
//! functions are small and stable; the machine is shared, so compare runs
//! made back to back, not across days.

use chrono::{DateTime, FixedOffset};
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use sockloop::framing::{DEFAULT_MAX_LINE, Frame, next_line};
use sockloop::protocol::{Credentials, Ctx, Service, Session, Verdict, local_now};
use std::hint::black_box;
use std::time::Duration;

/// Lines in the "many short lines" framing buffer and in the greet chunk:
/// 100 is a full read's worth of pipelined tiny requests.
const LINES_PER_CHUNK: usize = 100;

/// The output budget the loop passes to `feed`; unlimited here so one call
/// answers the whole chunk (the budget's effect is a server concern).
const NO_BUDGET: usize = usize::MAX;

/// Warm-up 1 s and measurement 2 s per benchmark keep the whole run near a
/// minute; the functions measured run millions of times in that window.
fn short_config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
}

/// A fixed clock for benchmarks whose reply does not use the time.
fn fixed_clock() -> DateTime<FixedOffset> {
    DateTime::UNIX_EPOCH.fixed_offset()
}

/// Feeds `input` to a fresh session, answering into `out` (cleared first,
/// as the loop reuses one reply buffer); returns the reply length.
fn feed_once(session: &mut Session, input: &[u8], ctx: &mut Ctx<'_>, out: &mut Vec<u8>) -> usize {
    out.clear();
    let fed = session.feed(input, ctx, out, DEFAULT_MAX_LINE, NO_BUDGET);
    // A benchmark that silently stopped answering would measure nothing.
    assert_eq!(
        fed.consumed,
        input.len(),
        "the whole chunk must be answered"
    );
    assert_eq!(fed.verdict, Verdict::Continue);
    out.len()
}

/// `count` lines made by `line(i)`, each ending in `\n`.
fn lines(count: usize, line: impl Fn(usize) -> String) -> Vec<u8> {
    (0..count)
        .flat_map(|i| format!("{}\n", line(i)).into_bytes())
        .collect()
}

/// Counts the lines in `buf` with `next_line`, consuming as the loop does.
fn count_lines(mut buf: &[u8]) -> usize {
    let mut count = 0;
    while let Frame::Line { consumed, .. } = next_line(buf, DEFAULT_MAX_LINE) {
        buf = &buf[consumed..];
        count += 1;
    }
    count
}

/// One benchmark in `group`: a fresh `session_for()` is fed `input` per
/// iteration. The context and reply buffer live across iterations, as in
/// the server, so only the protocol's own work is timed.
fn bench_feed(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    input: &[u8],
    session_for: impl Fn() -> Session,
    clock: fn() -> DateTime<FixedOffset>,
) {
    let mut rng = SmallRng::seed_from_u64(7);
    let credentials = Credentials::default_tutorial();
    // A stand-in for the server's exposition (`GET /metrics`).
    let exposition = || "sockloop_connections_active 0\n".to_owned();
    let mut ctx = Ctx::new(clock, &mut rng, &credentials, &exposition);
    let mut out = Vec::new();
    group.throughput(Throughput::Bytes(input.len() as u64));
    group.bench_function(name, |b| {
        b.iter(|| {
            let mut session = session_for();
            feed_once(&mut session, black_box(input), &mut ctx, &mut out)
        })
    });
}

fn framing(c: &mut Criterion) {
    let mut group = c.benchmark_group("framing");
    let short = lines(LINES_PER_CHUNK, |i| format!("name-{i:04}"));
    assert_eq!(count_lines(&short), LINES_PER_CHUNK);
    group.throughput(Throughput::Bytes(short.len() as u64));
    group.bench_function("100_short_lines", |b| {
        b.iter(|| count_lines(black_box(&short)))
    });

    // The longest line the default --max-line accepts.
    let mut long = vec![b'x'; DEFAULT_MAX_LINE];
    long.push(b'\n');
    assert_eq!(count_lines(&long), 1);
    group.throughput(Throughput::Bytes(long.len() as u64));
    group.bench_function("one_4KiB_line", |b| {
        b.iter(|| count_lines(black_box(&long)))
    });
    group.finish();
}

fn echo(c: &mut Criterion) {
    let mut group = c.benchmark_group("echo");
    // 64 B: the e2e message size; 16 KiB: a bulk read.
    for (name, size) in [("64B", 64), ("16KiB", 16 * 1024)] {
        let input: Vec<u8> = (0..size).map(|i| i as u8).collect();
        bench_feed(&mut group, name, &input, || Session::Echo, fixed_clock);
    }
    group.finish();
}

fn greet(c: &mut Criterion) {
    let mut group = c.benchmark_group("greet");
    let input = lines(LINES_PER_CHUNK, |i| format!(" name-{i:04}\r"));
    bench_feed(
        &mut group,
        "100_names",
        &input,
        || Session::Greet,
        fixed_clock,
    );
    group.finish();
}

fn command(c: &mut Criterion) {
    let mut group = c.benchmark_group("command");
    let r_and_l = lines(LINES_PER_CHUNK, |i| {
        if i % 2 == 0 { "R" } else { "l" }.to_string()
    });
    bench_feed(
        &mut group,
        "100_R_L",
        &r_and_l,
        || Session::Command,
        fixed_clock,
    );
    // T formats the real local time, as the server does.
    let t = lines(LINES_PER_CHUNK, |_| "T".to_string());
    bench_feed(&mut group, "100_T", &t, || Session::Command, local_now);
    group.finish();
}

fn login(c: &mut Criterion) {
    let mut group = c.benchmark_group("login");
    // One whole conversation per iteration: a wrong password, the right one,
    // then commands, on a fresh session.
    let mut input = b"admin\nwrong\nadmin\n12345\n".to_vec();
    input.extend(lines(20, |i| {
        if i % 2 == 0 { "R" } else { "L" }.to_string()
    }));
    let fresh = || Session::new(Service::Login).expect("login is a TCP service");
    bench_feed(
        &mut group,
        "login_then_20_commands",
        &input,
        fresh,
        fixed_clock,
    );
    group.finish();
}

criterion_group! {
    name = benches;
    config = short_config();
    targets = framing, echo, greet, command, login
}
criterion_main!(benches);
