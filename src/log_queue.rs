//! Logging that never blocks the event loop: every log line goes into a
//! bounded queue, and one writer thread writes the queue to stderr.
//!
//! # Why a writer thread, and not a non-blocking stderr
//! A loop that must never block cannot write its log synchronously: a
//! stderr on a pipe whose reader is slow (journald, a log shipper, a
//! terminal scrolled back) blocks `write` once the pipe's 64 KiB fill, and
//! every service stops answering. Two shapes avoid that; this is the
//! second:
//! - the loop itself flushes a bounded buffer to a non-blocking stderr,
//!   registered for WRITABLE like a socket. But O_NONBLOCK is a flag of
//!   the open file description, which stderr shares with whoever else holds
//!   it: the shell and the terminal (whose own writes then fail with
//!   EAGAIN, a classic bug of programs that set it), and, with `--workers`,
//!   the parent and every sibling. Setting it would change their stderr too;
//! - a bounded queue to a writer thread that does ordinary blocking writes
//!   and changes nothing about stderr. The loop only appends a line under a
//!   mutex that the writer holds just long enough to take one line, never
//!   while writing. The thread does no socket IO and knows nothing of the
//!   loop.
//!
//! # Bounds
//! At most [`QUEUE_LINES`] lines wait, each at most [`MAX_LINE_BYTES`]
//! (cut beyond). When the queue is full, the new line is dropped and counted
//! ([`dropped`]: `sockloop_log_lines_dropped_total`, and the summary line),
//! and once the writer catches up it writes `N log lines suppressed` in
//! their place. At exit, [`flush`] waits for the queue to drain for at most
//! [`FLUSH_TIMEOUT`], so the last lines (the summary) are not lost and a
//! stderr nobody reads cannot hold the exit longer than that.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// Lines waiting at most: 4096 lines of typically 100-200 bytes (a udp-log
/// line is at most ~1.1 KB), a few hundred KiB to a few MiB at worst.
pub const QUEUE_LINES: usize = 4096;

/// The longest line kept whole; longer ones are cut (no line sockloop
/// writes comes near it: udp-log shows at most 256 bytes of a datagram).
pub const MAX_LINE_BYTES: usize = 4096;

/// How long [`flush`] waits for the writer at exit: long enough for
/// thousands of lines to a healthy reader, short enough that a stuck
/// reader delays the exit only briefly.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// Lines dropped because the queue was full, since the process started.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// The queue, once [`writer`] started it.
static QUEUE: OnceLock<Queue> = OnceLock::new();

struct Queue {
    state: Mutex<State>,
    /// Signalled when a line arrives (the writer waits on it).
    arrived: Condvar,
    /// Signalled when the writer has written everything (flush waits on it).
    drained: Condvar,
}

#[derive(Default)]
struct State {
    lines: VecDeque<Vec<u8>>,
    /// The writer is writing a line it took (the queue may look empty).
    writing: bool,
}

impl Queue {
    /// The state; a panic elsewhere while holding the lock leaves the
    /// queue usable (it holds only bytes).
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Lines dropped so far because the writer fell behind.
pub fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// The `Write` the logger writes each formatted record to, once per
/// record (env_logger's `Target::Pipe` does one `write_all` per record).
/// Writing never blocks on stderr and never fails: a line the queue has no
/// room for is counted and dropped.
#[derive(Debug)]
pub struct QueueWriter;

impl Write for QueueWriter {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        push(line);
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Starts the writer thread (once) and returns the logger's target.
pub fn writer() -> io::Result<QueueWriter> {
    if QUEUE.get().is_none() {
        let queue = Queue {
            state: Mutex::new(State::default()),
            arrived: Condvar::new(),
            drained: Condvar::new(),
        };
        if QUEUE.set(queue).is_ok() {
            std::thread::Builder::new()
                .name("log-writer".into())
                .spawn(write_forever)?;
        }
    }
    Ok(QueueWriter)
}

/// Appends one line, or counts it as dropped.
fn push(line: &[u8]) {
    let Some(queue) = QUEUE.get() else {
        // No writer (a library user that did not start one): write through.
        let _ = io::stderr().write_all(line);
        return;
    };
    let mut state = queue.lock();
    if state.lines.len() >= QUEUE_LINES {
        DROPPED.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let mut kept = line[..line.len().min(MAX_LINE_BYTES)].to_vec();
    if kept.len() < line.len() {
        kept.extend_from_slice(b" ...\n");
    }
    state.lines.push_back(kept);
    drop(state);
    queue.arrived.notify_one();
}

/// The writer thread: takes one line at a time and writes it to stderr,
/// saying how many were dropped whenever it catches up after a drop.
fn write_forever() {
    let Some(queue) = QUEUE.get() else { return };
    let mut reported = 0;
    loop {
        let line = {
            let mut state = queue.lock();
            state.writing = false;
            loop {
                let line = state.lines.pop_front();
                // Caught up after a drop: say so now, not with the next line.
                if line.is_some() || dropped() > reported {
                    state.writing = true;
                    break line;
                }
                queue.drained.notify_all();
                state = queue.arrived.wait(state).unwrap_or_else(|e| e.into_inner());
            }
        };
        let dropped = dropped();
        let mut stderr = io::stderr().lock();
        // Errors (stderr closed): nobody left to tell; keep draining.
        if dropped > reported {
            let notice = format!(
                "sockloop: {} log lines suppressed (the log writer fell behind)\n",
                dropped - reported
            );
            let _ = stderr.write_all(notice.as_bytes());
            reported = dropped;
        }
        if let Some(line) = line {
            let _ = stderr.write_all(&line);
        }
    }
}

/// Waits until every queued line is written, for at most [`FLUSH_TIMEOUT`]
/// (at exit, and before an error line, so the lines stay in order).
pub fn flush() {
    let Some(queue) = QUEUE.get() else { return };
    let deadline = Instant::now() + FLUSH_TIMEOUT;
    let mut state = queue.lock();
    while !state.lines.is_empty() || state.writing {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        state = match queue.drained.wait_timeout(state, left) {
            Ok((state, _)) => state,
            Err(e) => e.into_inner().0,
        };
    }
}
