//! Unit tests of the readiness layer, on in-memory readers and writers that
//! script what the kernel would say.

use super::*;
use std::collections::VecDeque;

/// A reader that returns scripted results, one per call.
struct Script(VecDeque<io::Result<Vec<u8>>>);

impl Script {
    fn new(steps: Vec<io::Result<&[u8]>>) -> Script {
        Script(steps.into_iter().map(|r| r.map(<[u8]>::to_vec)).collect())
    }
}

impl Read for Script {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.0.pop_front() {
            Some(Ok(bytes)) => {
                buf[..bytes.len()].copy_from_slice(&bytes);
                Ok(bytes.len())
            }
            Some(Err(e)) => Err(e),
            None => Err(ErrorKind::WouldBlock.into()),
        }
    }
}

fn would_block() -> io::Error {
    ErrorKind::WouldBlock.into()
}

#[track_caller]
fn read_once(steps: Vec<io::Result<&[u8]>>, buf_len: usize, drain_fully: bool) -> ReadOutcome {
    let mut buf = vec![0; buf_len];
    let mut drain_fully = drain_fully;
    read_some(&mut Script::new(steps), &mut buf, &mut drain_fully).unwrap()
}

// ---- read_some -------------------------------------------------------------

#[test]
fn a_short_read_is_drained() {
    assert_eq!(
        read_once(vec![Ok(b"abc")], 8, false),
        ReadOutcome::Drained(3)
    );
}

#[test]
fn a_full_read_may_leave_more() {
    assert_eq!(read_once(vec![Ok(b"abcd")], 4, false), ReadOutcome::More(4));
}

#[test]
fn a_short_read_after_a_fin_or_urgent_event_asks_for_more() {
    assert_eq!(read_once(vec![Ok(b"abc")], 8, true), ReadOutcome::More(3));
}

#[test]
fn draining_fully_lasts_until_would_block_then_the_shortcut_applies_again() {
    // An urgent mark: the first read stops at it, the second reads past it.
    let mut stream = Script::new(vec![
        Ok(b"Ada\n"),
        Ok(b"Bob\n"),
        Err(would_block()),
        Ok(b"Cy\n"),
    ]);
    let mut buf = [0; 64];
    let mut drain_fully = true;
    let mut read = || read_some(&mut stream, &mut buf, &mut drain_fully).unwrap();
    assert_eq!(read(), ReadOutcome::More(4));
    assert_eq!(read(), ReadOutcome::More(4));
    assert_eq!(read(), ReadOutcome::Empty, "everything reported was read");
    assert_eq!(
        read(),
        ReadOutcome::Drained(3),
        "a short read is drained again"
    );
    assert!(!drain_fully);
}

#[test]
fn only_would_block_ends_draining_fully() {
    for step in [
        Ok(&b""[..]),
        Ok(b"abc"),
        Err(ErrorKind::ConnectionReset.into()),
    ] {
        let mut drain_fully = true;
        let _ = read_some(&mut Script::new(vec![step]), &mut [0; 8], &mut drain_fully);
        assert!(drain_fully);
    }
}

#[test]
fn zero_bytes_is_the_peers_fin() {
    assert_eq!(read_once(vec![Ok(b"")], 8, false), ReadOutcome::Eof);
    assert_eq!(read_once(vec![Ok(b"")], 8, true), ReadOutcome::Eof);
}

#[test]
fn would_block_is_empty_and_interrupted_is_retried() {
    assert_eq!(
        read_once(vec![Err(would_block())], 8, false),
        ReadOutcome::Empty
    );
    let interrupted = io::Error::from(ErrorKind::Interrupted);
    assert_eq!(
        read_once(vec![Err(interrupted), Ok(b"x")], 8, false),
        ReadOutcome::Drained(1)
    );
}

#[test]
fn other_errors_are_returned() {
    let mut buf = [0; 8];
    let reset = io::Error::from(ErrorKind::ConnectionReset);
    let err = read_some(&mut Script::new(vec![Err(reset)]), &mut buf, &mut false).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
}

// ---- the urgent mark, on a real loopback connection ------------------------

/// Sends `byte` as TCP urgent data (`MSG_OOB`): std has no call for it.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn send_urgent(stream: &std::net::TcpStream, byte: u8) {
    use std::os::fd::AsRawFd;
    // SAFETY: `send` reads 1 byte from `&byte`, which lives across the call;
    // the descriptor is owned by `stream`.
    let sent = unsafe {
        libc::send(
            stream.as_raw_fd(),
            (&byte as *const u8).cast(),
            1,
            libc::MSG_OOB,
        )
    };
    assert_eq!(sent, 1, "send(MSG_OOB): {}", io::Error::last_os_error());
}

/// The kernel facts the rule rests on, and the rule at work: a read stops
/// at the urgent mark although bytes wait behind it, the event reports
/// PRIORITY (`must_drain`), and reading until `WouldBlock` gets the bytes
/// behind the mark. The urgent byte itself is not in the stream.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[test]
fn a_read_stops_at_the_urgent_mark_and_must_drain_reads_past_it() {
    use std::io::Write as _;
    use std::time::Instant;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    client.set_nodelay(true).unwrap();
    let (accepted, _) = listener.accept().unwrap();
    accepted.set_nonblocking(true).unwrap();
    let mut server = mio::net::TcpStream::from_std(accepted);
    let mut poll = Poll::new().unwrap();
    let token = mio::Token(1);
    poll.registry()
        .register(&mut server, token, TCP_INTEREST)
        .unwrap();

    client.write_all(b"Ada\n").unwrap();
    send_urgent(&client, b'x');
    client.write_all(b"Bob\n").unwrap();

    let (mut got, mut reads, mut saw_priority) = (Vec::new(), Vec::new(), false);
    let mut drain_fully = false;
    let mut events = Events::with_capacity(8);
    let deadline = Instant::now() + Duration::from_secs(10);
    while got != b"Ada\nBob\n" {
        let left = deadline.saturating_duration_since(Instant::now());
        match poll.poll(&mut events, Some(left)) {
            // Stopped and continued (signal(7)): not an answer, wait again.
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            other => other.unwrap(),
        }
        // Read only when told to, as the loops do: bytes left behind with
        // no event to come are a stall.
        assert!(
            !events.is_empty(),
            "stalled after {got:?} (reads {reads:?})"
        );
        for event in events.iter() {
            saw_priority |= event.is_priority();
            drain_fully |= must_drain(event);
        }
        let mut buf = [0; 64];
        // One event's worth of reading, as the loops do it (they requeue
        // on `More` instead of looping here).
        while let ReadOutcome::More(n) | ReadOutcome::Drained(n) =
            read_some(&mut server, &mut buf, &mut drain_fully).unwrap()
        {
            reads.push(n);
            got.extend_from_slice(&buf[..n]);
            if !drain_fully && n < buf.len() {
                break;
            }
        }
    }
    assert!(
        saw_priority,
        "urgent data is reported as PRIORITY (EPOLLPRI)"
    );
    assert_eq!(reads[0], 4, "the first read stops at the urgent mark");
    assert!(
        !drain_fully,
        "cleared by the WouldBlock after the last bytes"
    );
}

// ---- write_some and OutBuf -------------------------------------------------

/// A writer that takes `room` bytes, at most 3 per call, then would block.
struct Pipe {
    taken: Vec<u8>,
    room: usize,
    interrupt_once: bool,
    calls: usize,
}

impl Pipe {
    fn with_room(room: usize) -> Pipe {
        Pipe {
            taken: vec![],
            room,
            interrupt_once: false,
            calls: 0,
        }
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.calls += 1;
        if std::mem::take(&mut self.interrupt_once) {
            return Err(ErrorKind::Interrupted.into());
        }
        if self.room == 0 {
            return Err(would_block());
        }
        let n = buf.len().min(self.room).min(3);
        self.taken.extend_from_slice(&buf[..n]);
        self.room -= n;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn short_writes_continue_until_would_block() {
    let mut p = Pipe {
        interrupt_once: true,
        ..Pipe::with_room(7)
    };
    assert_eq!(write_some(&mut p, b"0123456789").unwrap(), 7);
    assert_eq!(p.taken, b"0123456");
}

#[test]
fn zero_length_write_is_an_error() {
    struct Zero;
    impl Write for Zero {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Ok(0)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    assert_eq!(
        write_some(&mut Zero, b"x").unwrap_err().kind(),
        ErrorKind::WriteZero
    );
    assert_eq!(write_some(&mut Zero, b"").unwrap(), 0);
}

#[test]
fn send_keeps_what_a_short_write_left_and_keeps_the_order() {
    let mut out = OutBuf::default();
    let mut p = Pipe::with_room(4);
    assert_eq!(out.send(&mut p, b"abcdef").unwrap(), 4);
    assert_eq!(out.pending(), 2);
    // Behind pending bytes, `send` only queues: no write may overtake them.
    let calls = p.calls;
    assert_eq!(out.send(&mut p, b"gh").unwrap(), 0);
    assert_eq!(p.calls, calls);
    p.room = 100;
    assert_eq!(out.flush(&mut p).unwrap(), 4);
    assert_eq!(p.taken, b"abcdefgh");
    assert!(out.is_empty());
}

#[test]
fn flush_frees_the_buffer_once_empty_and_makes_no_call_when_idle() {
    let mut out = OutBuf::default();
    out.queue(b"hello");
    let mut p = Pipe::with_room(100);
    assert_eq!(out.flush(&mut p).unwrap(), 5);
    assert_eq!(out.buf.capacity(), 0, "an idle OutBuf holds no heap memory");
    let calls = p.calls;
    assert_eq!(out.flush(&mut p).unwrap(), 0);
    assert_eq!(p.calls, calls, "WRITABLE with nothing pending is a no-op");
}

#[test]
fn queue_reclaims_the_written_prefix() {
    let mut out = OutBuf::default();
    out.queue(b"0123456789");
    let mut p = Pipe::with_room(6);
    assert_eq!(out.flush(&mut p).unwrap(), 6);
    out.queue(b"ab");
    assert_eq!(out.buf, b"6789ab");
    assert_eq!(out.pending(), 6);
}

#[test]
fn an_idle_out_buf_is_small() {
    assert!(std::mem::size_of::<OutBuf>() <= 32);
}

// ---- ReadyQueue ------------------------------------------------------------

#[derive(Default)]
struct Sock {
    queued: bool,
}

impl Queueable for Sock {
    fn queued(&mut self) -> &mut bool {
        &mut self.queued
    }
}

#[test]
fn a_socket_is_queued_once() {
    let mut slab = Slab::new();
    let a = slab.insert(Sock::default());
    let mut q = ReadyQueue::default();
    assert!(q.push(&mut slab, a));
    assert!(!q.push(&mut slab, a));
    assert!(
        !q.push(&mut slab, 99),
        "a key not in the slab is not queued"
    );
    let mut pass = q.start_pass();
    assert_eq!(q.next(&mut pass, &mut slab), Some(a));
    assert!(!slab[a].queued);
    assert_eq!(q.next(&mut pass, &mut slab), None);
}

#[test]
fn sockets_requeued_during_a_pass_wait_for_the_next() {
    let mut slab = Slab::new();
    let a = slab.insert(Sock::default());
    let b = slab.insert(Sock::default());
    let mut q = ReadyQueue::default();
    q.push(&mut slab, a);
    q.push(&mut slab, b);
    let mut pass = q.start_pass();
    assert_eq!(q.next(&mut pass, &mut slab), Some(a));
    assert!(q.push(&mut slab, a), "served, so it may be queued again");
    assert_eq!(q.next(&mut pass, &mut slab), Some(b));
    assert_eq!(
        q.next(&mut pass, &mut slab),
        None,
        "a waits for the next turn"
    );
    assert!(!q.is_empty());
    let mut pass = q.start_pass();
    assert_eq!(q.next(&mut pass, &mut slab), Some(a));
}

#[test]
fn closed_sockets_are_skipped() {
    let mut slab = Slab::new();
    let a = slab.insert(Sock::default());
    let b = slab.insert(Sock::default());
    let mut q = ReadyQueue::default();
    q.push(&mut slab, a);
    q.push(&mut slab, b);
    slab.remove(a);
    let mut pass = q.start_pass();
    assert_eq!(q.next(&mut pass, &mut slab), Some(b));
    assert_eq!(q.next(&mut pass, &mut slab), None);
    assert!(q.is_empty());
}
