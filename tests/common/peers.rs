//! Small independent servers for `sockloop load` to drive, each on its own
//! thread on `127.0.0.1:0`, written with `std::net` only (no sockloop code),
//! and bounded: at most `max_conns` connections accepted in all, every read
//! under [`IO_TIMEOUT`], each line at most [`MAX_PEER_LINE`] bytes.
//!
//! - [`PingServer`]: a Redis-inline-style responder (`PING` -> `+PONG\r\n`).
//! - [`start_resetting_echo`]: a line echo that resets connections (an RST
//!   via SO_LINGER 0) after accepting some.

use super::IO_TIMEOUT;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

/// The longest request line the peers read; longer is an error that closes
/// the connection.
pub const MAX_PEER_LINE: usize = 1024;

/// A Redis-inline-style PING responder: each line `PING` (a CR before the
/// LF allowed) is answered `+PONG\r\n`, anything else `-ERR unknown
/// command\r\n`.
pub struct PingServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// `PING`s answered so far.
    pub pings: Arc<AtomicU64>,
}

impl PingServer {
    /// Starts it; it serves up to `max_conns` connections, each on its own
    /// thread, until the client closes.
    pub fn start(max_conns: usize) -> PingServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let pings = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&pings);
        thread::spawn(move || {
            for _ in 0..max_conns {
                let Ok((stream, _)) = listener.accept() else {
                    return;
                };
                let counted = Arc::clone(&counted);
                thread::spawn(move || {
                    serve_lines(stream, |line| {
                        if line == b"PING" {
                            counted.fetch_add(1, Ordering::Relaxed);
                            b"+PONG\r\n".as_slice()
                        } else {
                            b"-ERR unknown command\r\n".as_slice()
                        }
                        .to_vec()
                    })
                });
            }
        });
        PingServer { addr, pings }
    }
}

/// A line echo (each line back as it came, LF-terminated) that answers its
/// first `healthy` connections and, from then on, reads one request on each
/// new one and resets it (SO_LINGER 0, then close: an RST) instead of
/// answering. Serves up to `max_conns` connections in all.
pub fn start_resetting_echo(healthy: usize, max_conns: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local addr");
    thread::spawn(move || {
        for accepted in 0..max_conns {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            if accepted < healthy {
                thread::spawn(move || serve_lines(stream, |line| [line, b"\n"].concat()));
            } else {
                thread::spawn(move || reset_after_a_request(stream));
            }
        }
    });
    addr
}

/// Reads one request line, then aborts the connection with an RST.
fn reset_after_a_request(stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let mut reader = BufReader::new(&stream);
    let mut line = Vec::new();
    let _ = (&mut reader)
        .take(MAX_PEER_LINE as u64)
        .read_until(b'\n', &mut line);
    let _ = socket2::SockRef::from(&stream).set_linger(Some(std::time::Duration::ZERO));
    // Dropping the stream now sends the RST.
}

/// Answers each line (without its line end) with `answer(line)` until the
/// client closes, a read times out, or a line is too long.
fn serve_lines(stream: TcpStream, answer: impl Fn(&[u8]) -> Vec<u8>) {
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut reader)
            .take(MAX_PEER_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let Some(text) = line.strip_suffix(b"\n") else {
            return; // too long, or the client closed mid-line
        };
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if writer.write_all(&answer(text)).is_err() {
            return;
        }
    }
}
