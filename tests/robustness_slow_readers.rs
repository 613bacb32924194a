//! Clients that send and never read (issue 16): what each costs the server
//! (at most 8 KiB of user-space memory, on echo and on every line
//! service), the total under `--output-budget` (the longest stalled closed
//! as `slow_reader` while a reading client is served byte for byte), and
//! `--send-timeout`.
//!
//! Every wait synchronizes on the server's own gauges (the metrics
//! endpoint's `sockloop_output_pending_connections`: connections whose
//! replies wait for the kernel, which the server stops reading) or its
//! close counters; memory is the server's RssAnon (its unique anonymous
//! pages), read once that state is reached.

mod common;

use common::*;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// How long the clients may take to get every connection to the paused
/// state; reached only if the server never pauses them.
const SETTLE: Duration = Duration::from_secs(60);

/// The per-connection bound of the issue, in bytes.
const PER_CONN_BOUND: u64 = 8 * 1024;

/// A server with the metrics endpoint and `args`; its metrics address.
fn start(args: &[&str]) -> (Server, SocketAddr) {
    let server = Server::builder()
        .only(&["echo", "greet", "login", "command"])
        .args(&["--metrics", "127.0.0.1:0"])
        .args(args)
        .spawn();
    let metrics = server.metrics_addr();
    (server, metrics)
}

/// The value of the sample `name` (with its labels, as printed) in a fresh
/// scrape. Scrapes are counted apart from the services, so polling this
/// moves none of the gauges it reads.
#[track_caller]
fn sample(metrics: SocketAddr, name: &str) -> u64 {
    metric(&scrape(metrics), name)
}

/// A client that never reads: 16 KiB socket buffers and an Ethernet MSS
/// (so the kernel sizes the server's send buffer as for a real network,
/// not for loopback's 64 KiB segments: 2,000 such connections then pin
/// megabytes of kernel memory, not gigabytes), non-blocking.
fn non_reader(addr: SocketAddr, greeting: &[u8]) -> TcpStream {
    let mut stream = connect_small_buffers_with(addr, |socket| {
        socket.set_tcp_mss(1460).expect("TCP_MAXSEG");
    });
    stream.write_all(greeting).expect("greeting");
    stream.set_nonblocking(true).expect("nonblocking");
    stream
}

/// Writes `pattern` until the kernel refuses more. Errors other than
/// `WouldBlock` mean the server closed the connection: reported.
fn push(stream: &mut TcpStream, pattern: &[u8]) -> Result<(), std::io::Error> {
    loop {
        match stream.write(pattern) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Pushes every client's pattern until the server reports `want`
/// connections with output pending (each then paused for good: its client
/// never reads), bounded by [`SETTLE`].
#[track_caller]
fn push_until_paused(metrics: SocketAddr, clients: &mut [(TcpStream, &[u8])], want: u64) {
    let until = Instant::now() + SETTLE;
    loop {
        for (stream, pattern) in clients.iter_mut() {
            push(stream, pattern).expect("a non-reader was closed");
        }
        let paused = sample(metrics, "sockloop_output_pending_connections");
        if paused == want {
            return;
        }
        assert!(Instant::now() < until, "{paused} of {want} paused");
        // Pacing between passes; the condition above is what is waited on.
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// 2,000 clients that send and never read, 500 on each of echo, greet,
/// login (logged in, then commands) and command, cost the server at most
/// 8 KiB each in RssAnon once every one of them is paused with a reply
/// pending; then every service still answers.
#[test]
fn two_thousand_non_readers_cost_at_most_8_kib_each() {
    const PER_SERVICE: usize = 500;
    let (server, metrics) = start(&["--max-conns", "2500"]);
    server.assert_serving(DEFAULT_LOGIN);
    let before = proc_status_kib(server.pid(), "RssAnon");
    let echo_pattern = vec![b'e'; 16 * 1024];
    let services: [(SocketAddr, &[u8], &[u8]); 4] = [
        (server.echo(), b"", &echo_pattern),
        (server.greet(), b"", b"ann\nbob\ncarol\n"),
        (server.login(), b"admin\n12345\n", b"T\nR\nL\n"),
        (server.command(), b"", b"T\nR\nL\n"),
    ];
    let mut clients: Vec<(TcpStream, &[u8])> = Vec::new();
    for (addr, greeting, pattern) in services {
        for _ in 0..PER_SERVICE {
            clients.push((non_reader(addr, greeting), pattern));
        }
    }
    let n = clients.len() as u64;
    push_until_paused(metrics, &mut clients, n);
    let after = proc_status_kib(server.pid(), "RssAnon");
    let pending = sample(metrics, "sockloop_output_pending_bytes");
    let per_conn = after.saturating_sub(before) * 1024 / n;
    eprintln!(
        "{n} non-readers: RssAnon {before} -> {after} KiB, {per_conn} B per connection; \
         {pending} reply bytes pending in all"
    );
    assert!(
        per_conn <= PER_CONN_BOUND,
        "{per_conn} B per non-reading connection"
    );
    server.assert_serving(DEFAULT_LOGIN);
    drop(clients);
    let exit = server.terminate();
    exit.assert_success();
    assert_eq!(
        summary_count(&exit.stderr, "slow_reader"),
        0,
        "under budget"
    );
}

/// `--output-budget 64 KiB` with 300 echo clients that never read (each
/// paused with about 1 KiB pending): the longest stalled are closed as
/// `slow_reader` until the rest fits, the pending total stays under the
/// budget, RssAnon grows by less than the budget plus fixed overhead, and
/// a client that reads gets 64 KiB messages back byte for byte meanwhile.
#[test]
fn the_output_budget_closes_slow_readers_and_serves_readers() {
    const BUDGET: u64 = 64 * 1024;
    const NON_READERS: usize = 300;
    let budget = BUDGET.to_string();
    let (server, metrics) = start(&["--output-budget", &budget]);
    let before = proc_status_kib(server.pid(), "RssAnon");
    let pattern = vec![b's'; 16 * 1024];
    let mut clients: Vec<TcpStream> = (0..NON_READERS)
        .map(|_| non_reader(server.echo(), b""))
        .collect();
    // Push until the budget has closed some and every survivor is paused.
    let until = Instant::now() + SETTLE;
    loop {
        clients.retain_mut(|c| push(c, &pattern).is_ok());
        let paused = sample(metrics, "sockloop_output_pending_connections");
        let shed = sample(
            metrics,
            "sockloop_connections_closed_total{reason=\"slow_reader\"}",
        );
        let open = sample(metrics, "sockloop_connections_active");
        if shed > 0 && paused == open {
            break;
        }
        assert!(
            Instant::now() < until,
            "shed {shed}, {paused} of {open} paused"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let pending = sample(metrics, "sockloop_output_pending_bytes");
    assert!(pending <= BUDGET, "{pending} bytes pending");

    // A reader, served byte for byte while the survivors stay connected.
    let mut reader = connect(server.echo());
    for round in 0..20u8 {
        let message: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8 ^ round).collect();
        reader.write_all(&message).expect("send");
        let mut echoed = vec![0; message.len()];
        reader.read_exact(&mut echoed).expect("the echo");
        assert!(echoed == message, "round {round}: not byte-exact");
    }
    close_cleanly(reader);

    let after = proc_status_kib(server.pid(), "RssAnon");
    let growth = after.saturating_sub(before);
    let shed = sample(
        metrics,
        "sockloop_connections_closed_total{reason=\"slow_reader\"}",
    );
    eprintln!(
        "budget {BUDGET}: {shed} of {NON_READERS} closed as slow readers, {pending} bytes \
         pending, RssAnon {before} -> {after} KiB"
    );
    // Fixed overhead: the slab, the timer heap, the shared read and reply
    // buffers and the allocator's slack, 2 MiB at most.
    assert!(
        growth * 1024 < BUDGET + 2 * 1024 * 1024,
        "RssAnon grew {growth} KiB"
    );
    drop(clients);
    let exit = server.terminate();
    exit.assert_success();
    assert_eq!(summary_count(&exit.stderr, "slow_reader"), shed);
}

/// `--send-timeout 1`: an echo client that never reads is paused with its
/// reply pending, then closed as `send_timeout` (not `idle`: the idle
/// timeout is five minutes), and the server still serves.
#[test]
fn the_send_timeout_closes_a_client_that_stopped_reading() {
    let (server, metrics) = start(&["--send-timeout", "1"]);
    let mut client = vec![(non_reader(server.echo(), b""), &[b't'; 16 * 1024][..])];
    push_until_paused(metrics, &mut client, 1);
    let name = "sockloop_connections_closed_total{reason=\"send_timeout\"}";
    let until = Instant::now() + SETTLE;
    while sample(metrics, name) == 0 {
        assert!(Instant::now() < until, "not closed by the send timeout");
        // Paused is not stalled for good: TCP autotuning may still grow the
        // server's send buffer, which then takes what was pending (progress,
        // which restarts the timeout) and lets the server answer what it
        // had not read. So the client keeps offering input until every
        // buffer is full and the output truly makes no progress; once the
        // server closes, the push fails, which is fine.
        let _ = push(&mut client[0].0, &[b't'; 16 * 1024]);
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(sample(metrics, "sockloop_output_pending_connections"), 0);
    assert_eq!(sample(metrics, "sockloop_output_pending_bytes"), 0);
    server.assert_serving(DEFAULT_LOGIN);
    let exit = server.terminate();
    exit.assert_success();
    assert_eq!(summary_count(&exit.stderr, "send_timeout"), 1);
    assert_eq!(summary_count(&exit.stderr, "idle"), 0);
}
