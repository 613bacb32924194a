//! A minimal closed-loop echo load generator: `sockloop load` at depth 1
//! without pacing, ramp-up, scenarios or a report (docs/guide/08). Read it
//! beside `src/load/conn.rs` (the connect) and `src/load/tcp.rs` (the read,
//! verify, refill). Run: `cargo run --release --example mini_load [ADDR [CONNS [SECS]]]`.

use hdrhistogram::Histogram; // the latency histogram `sockloop load` keeps too
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token, event::Event};
use std::io::{self, ErrorKind, Read, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

type Hist = Histogram<u64>;
const SIZE: usize = 64; // bytes per request, as `sockloop load --size`'s default

struct Conn {
    stream: TcpStream,
    sent: Vec<u8>,    // the request in flight (depth 1; empty: connecting)
    written: usize,   // how much of `sent` the kernel took (short writes)
    got: usize,       // how much of the echo came back
    sent_at: Instant, // when the request went out
}

fn main() -> io::Result<ExitCode> {
    let addr = arg(1, "127.0.0.1:7000")?;
    let (n, secs): (usize, f64) = (arg(2, "10")?, arg(3, "5")?);
    let mut poll = Poll::new()?;
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        // Non-blocking connect: returns at once (EINPROGRESS); the outcome
        // comes later as an event. Registered now, so it cannot be missed.
        let mut stream = TcpStream::connect(addr)?;
        let interest = Interest::READABLE | Interest::WRITABLE;
        poll.registry().register(&mut stream, Token(i), interest)?;
        let (sent, written, got, sent_at) = (Vec::new(), 0, 0, Instant::now());
        conns.push(Some(Conn {
            stream,
            sent,
            written,
            got,
            sent_at,
        }));
    }
    let mut hist = Histogram::<u64>::new(3).map_err(io::Error::other)?; // 3 significant digits
    let (mut events, mut buf) = (Events::with_capacity(1024), vec![0u8; 64 * 1024]);
    let (start, mut failed) = (Instant::now(), 0);
    let (end, mut now) = (start + Duration::from_secs_f64(secs), start);
    while now < end && failed < n {
        match poll.poll(&mut events, Some(end - now)) {
            Err(e) if e.kind() == ErrorKind::Interrupted => {} // a signal: poll again
            r => r?,
        }
        now = Instant::now(); // once per turn, as the engine does (clock.rs)
        for event in events.iter() {
            let key = event.token().0;
            // A stale token (its connection already failed) finds None: harmless.
            if let Some(Some(c)) = conns.get_mut(key)
                && let Err(e) = serve(c, event, &mut buf, now, &mut hist)
            {
                eprintln!("conn {key}: {e}");
                conns[key] = None; // dropping closes the socket and deregisters it
                failed += 1;
            }
        }
    }
    let took = now.duration_since(start).as_secs_f64();
    let (count, p) = (hist.len(), |q| hist.value_at_quantile(q));
    let (rate, p50, p90, p99, max) = (count as f64 / took, p(0.5), p(0.9), p(0.99), hist.max());
    println!("{count} replies in {took:.2} s: {rate:.0} msgs/s, {failed}/{n} connections failed");
    println!("latency us: p50 {p50} p90 {p90} p99 {p99} max {max}");
    Ok(ExitCode::from(u8::from(failed > 0))) // 1 if any connection failed, as `load`
}

/// Positional argument `i`, or `default`.
fn arg<T: std::str::FromStr<Err: std::fmt::Display>>(i: usize, default: &str) -> io::Result<T> {
    let s = std::env::args().nth(i).unwrap_or(default.into());
    s.parse().map_err(|e| io::Error::other(format!("{s}: {e}")))
}

/// One event on `c`: settle the connect, flush, read and verify, send the next.
fn serve(c: &mut Conn, ev: &Event, buf: &mut [u8], now: Instant, h: &mut Hist) -> io::Result<()> {
    if c.sent.is_empty() {
        // How a non-blocking connect is learned (mio's TcpStream::connect
        // docs; `connect_outcome` in src/load/conn.rs): SO_ERROR first...
        if let Some(e) = c.stream.take_error()? {
            return Err(e);
        }
        // ...then the peer: NotConnected means still in progress (a spurious
        // wake-up); wait for the next edge.
        match c.stream.peer_addr() {
            Err(e) if e.kind() == ErrorKind::NotConnected => return Ok(()),
            r => r?,
        };
        c.stream.set_nodelay(true)?; // no Nagle: a 64-byte request goes at once
        return send_next(c, now);
    }
    if ev.is_writable() && c.written < c.sent.len() {
        flush(c)?; // WRITABLE matters only while a request is half written
    }
    // Drain until WouldBlock, THEN answer: a request sent mid-drain could
    // have its echo read in the same turn, timed at the same `now` (zero).
    loop {
        match c.stream.read(buf) {
            Ok(0) => return Err(io::Error::new(ErrorKind::UnexpectedEof, "closed by server")),
            Ok(k) => {
                let expected = &c.sent[c.got.min(SIZE)..];
                if k > expected.len() || buf[..k] != expected[..k] {
                    return Err(io::Error::new(ErrorKind::InvalidData, "echo differs"));
                }
                c.got += k;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    if c.got == SIZE {
        // The echo is complete (`send_next` sets `got` back to 0 each time).
        h.saturating_record(now.duration_since(c.sent_at).as_micros().max(1) as u64);
        send_next(c, now)?;
    }
    Ok(())
}

/// Closed loop: the next request goes out as soon as the last one is back.
fn send_next(c: &mut Conn, now: Instant) -> io::Result<()> {
    // Each request a rotation of the last: consecutive ones always differ.
    if c.sent.is_empty() {
        c.sent.extend((b'a'..=b'z').cycle().take(SIZE));
    } else {
        c.sent.rotate_left(1);
    }
    (c.written, c.got, c.sent_at) = (0, 0, now);
    flush(c)
}

/// Writes what the kernel takes of the request; the rest waits for WRITABLE.
fn flush(c: &mut Conn) -> io::Result<()> {
    while c.written < c.sent.len() {
        match c.stream.write(&c.sent[c.written..]) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(k) => c.written += k,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break, // short write
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
