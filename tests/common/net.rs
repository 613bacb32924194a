//! Blocking client-side socket helpers: every read and write is bounded by
//! [`IO_TIMEOUT`], and the assertion helpers compare exact bytes.

use super::IO_TIMEOUT;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};

/// Connects with [`IO_TIMEOUT`] read and write timeouts and TCP_NODELAY (so
/// each small write is its own segment, as a split line test wants).
#[track_caller]
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// [`connect`], from the loopback address `source` (any of 127.0.0.0/8):
/// a client of its own as the per-source limits count them.
#[track_caller]
pub fn connect_from(source: [u8; 4], addr: SocketAddr) -> TcpStream {
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    let from = SocketAddr::from((source, 0));
    socket
        .bind(&from.into())
        .unwrap_or_else(|e| panic!("bind {from}: {e}"));
    socket
        .connect_timeout(&addr.into(), IO_TIMEOUT)
        .unwrap_or_else(|e| panic!("connect {addr} from {from}: {e}"));
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// Writes `line` followed by `\n`.
#[track_caller]
pub fn send_line(stream: &mut TcpStream, line: &str) {
    send(stream, format!("{line}\n").as_bytes());
}

/// Writes all of `bytes`.
#[track_caller]
pub fn send(stream: &mut TcpStream, bytes: &[u8]) {
    stream
        .write_all(bytes)
        .unwrap_or_else(|e| panic!("write {:?}: {e}", bytes.escape_ascii().to_string()));
}

/// Reads up to and including the next `\n`, one byte at a time so nothing
/// after it is consumed. Panics on EOF or timeout before the `\n`.
#[track_caller]
pub fn read_line(stream: &mut TcpStream) -> Vec<u8> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match stream.read(&mut byte) {
            Ok(0) => panic!("EOF after {:?}, expected a line", show(&line)),
            Ok(_) => {
                line.push(byte[0]);
                if byte[0] == b'\n' {
                    return line;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("read after {:?}: {e}", show(&line)),
        }
    }
}

/// Reads exactly `n` bytes.
#[track_caller]
pub fn read_exact_bytes(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    stream
        .read_exact(&mut buf)
        .unwrap_or_else(|e| panic!("read {n} bytes: {e}"));
    buf
}

/// Reads until EOF.
#[track_caller]
pub fn read_to_end(stream: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    stream
        .read_to_end(&mut all)
        .unwrap_or_else(|e| panic!("read to end after {} bytes: {e}", all.len()));
    all
}

/// Sends `request` and returns the reply line.
#[track_caller]
pub fn read_reply(s: &mut TcpStream, request: &[u8]) -> Vec<u8> {
    send(s, request);
    read_line(s)
}

/// Asserts the next line is exactly `expected`.
#[track_caller]
pub fn expect_line(stream: &mut TcpStream, expected: &[u8]) {
    let got = read_line(stream);
    assert_eq!(show(&got), show(expected));
}

/// Sends `request` and asserts the reply line is exactly `expected`.
#[track_caller]
pub fn exchange(stream: &mut TcpStream, request: &[u8], expected: &[u8]) {
    send(stream, request);
    expect_line(stream, expected);
}

/// Asserts the server closed the connection cleanly: the next read is EOF
/// (not data, not a reset, not a timeout).
#[track_caller]
pub fn expect_closed(stream: &mut TcpStream) {
    let mut buf = [0u8; 256];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => panic!("expected EOF, got {:?}", show(&buf[..n])),
            // A read with a timeout fails with EINTR after the test process
            // was stopped and continued (signal(7)); it is not an answer.
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("expected EOF, got error: {e}"),
        }
    }
}

/// Bytes as readable text for assertion messages (`\n`, `\xff`, ...).
pub fn show(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

/// A client with small kernel buffers both ways (16 KiB), so that of what
/// it sends and never reads, the client's own kernel buffers hold little
/// (the server socket's buffers still hold megabytes: see
/// [`flood_budget`]). Writes give up after 1 s blocked: a blocked write
/// means the server stopped reading us, which bounds a flood in time.
#[track_caller]
pub fn connect_small_buffers(addr: SocketAddr) -> TcpStream {
    let stream = connect_small_buffers_with(addr, |_| {});
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
        .set_write_timeout(Some(std::time::Duration::from_secs(1)))
        .unwrap();
    stream
}

/// A blocking connection with 16 KiB kernel buffers both ways, `setup`
/// applied to its socket before the connect (no timeouts set).
#[track_caller]
pub fn connect_small_buffers_with(
    addr: SocketAddr,
    setup: impl FnOnce(&socket2::Socket),
) -> TcpStream {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )
    .expect("socket");
    socket.set_send_buffer_size(16 * 1024).expect("SO_SNDBUF");
    socket.set_recv_buffer_size(16 * 1024).expect("SO_RCVBUF");
    setup(&socket);
    socket
        .connect_timeout(&addr.into(), IO_TIMEOUT)
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    socket.into()
}

/// Writes up to `budget` bytes (`byte(i)` at offset `i`) without reading,
/// until done or a write blocks for the write timeout; returns bytes sent.
#[track_caller]
pub fn flood(stream: &mut TcpStream, budget: usize, byte: fn(usize) -> u8) -> usize {
    flood_unless_stopped(stream, budget, byte, &AtomicBool::new(false))
}

/// [`flood`], which also gives up as soon as `stop` is set (checked between
/// writes), so a test can end a flood that a broken server would let run.
#[track_caller]
pub fn flood_unless_stopped(
    stream: &mut TcpStream,
    budget: usize,
    byte: fn(usize) -> u8,
    stop: &AtomicBool,
) -> usize {
    let mut sent = 0;
    let mut chunk = vec![0u8; 64 * 1024];
    while sent < budget && !stop.load(Ordering::Relaxed) {
        let n = chunk.len().min(budget - sent);
        for (j, b) in chunk[..n].iter_mut().enumerate() {
            *b = byte(sent + j);
        }
        match stream.write(&chunk[..n]) {
            Ok(w) => sent += w,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
            Err(e) => panic!("flood write after {sent} bytes: {e}"),
        }
    }
    sent
}

/// Bytes a flood from one [`connect_small_buffers`] client must offer so
/// that, against a server that stops reading it (backpressure), its writes
/// certainly end up blocked: more than the kernel can buffer for the
/// connection, plus 1 MiB for what the server itself holds (a paused
/// connection's pending reply and held-back input: about one read, at most
/// a 64 KiB chunk; 1 MiB is far above it).
///
/// What the kernel buffers is bounded by the client's two buffers (16 KiB
/// each, doubled by the kernel) and the server socket's receive and send
/// buffers, which TCP autotuning grows up to the maxima of
/// `net.ipv4.tcp_rmem` and `tcp_wmem` (read here from /proc/sys). How far it
/// really grows them depends on timing, so no measured typical value will
/// do: with 100 slow readers, the server's receive buffers stayed near
/// 0.8 MiB (4.4 MiB per connection in all) while the server ran freely, but
/// one grew past 3 MiB, and a client got 8 MiB through unblocked, when the
/// server was starved (stopped 200 ms in every 250) and read in bursts.
pub fn flood_budget() -> usize {
    const SERVER_HOLDS: usize = 1 << 20;
    4 * 16 * 1024 + tcp_buffer_max("tcp_rmem") + tcp_buffer_max("tcp_wmem") + SERVER_HOLDS
}

/// The maximum (third) field of /proc/sys/net/ipv4/`name` (`tcp_rmem`,
/// `tcp_wmem`: "min default max" in bytes).
#[track_caller]
fn tcp_buffer_max(name: &str) -> usize {
    let path = format!("/proc/sys/net/ipv4/{name}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    text.split_whitespace()
        .nth(2)
        .and_then(|max| max.parse().ok())
        .unwrap_or_else(|| panic!("no maximum in {path}: {text:?}"))
}

/// The whole response (head and body) to `GET /metrics` from the metrics
/// endpoint at `addr`.
#[track_caller]
pub fn scrape(addr: SocketAddr) -> String {
    let mut s = connect(addr);
    send(&mut s, b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n");
    String::from_utf8(read_to_end(&mut s)).expect("UTF-8 metrics")
}

/// The value of the sample `name` (with its labels, as printed) in the
/// metrics text `text`.
#[track_caller]
pub fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no sample {name} in:\n{text}"))
}
