//! The batch calls on real loopback UDP sockets. Every wait is a blocking
//! receive with a timeout (a blocking `recvmmsg` waits for each datagram it
//! is asked for), so nothing depends on how fast the kernel delivers.

use super::*;
use std::net::UdpSocket;
use std::time::Duration;

/// Far above a loopback delivery; short enough that a bug fails the test.
const TIMEOUT: Duration = Duration::from_secs(10);

/// How long to wait for a datagram that may have been dropped before
/// sending it again (as `tests/common`'s `UDP_RESEND`).
const RESEND: Duration = Duration::from_millis(200);

/// A blocking socket on 127.0.0.1 with [`TIMEOUT`] on reads.
fn socket() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s
}

fn addr(s: &UdpSocket) -> SocketAddr {
    s.local_addr().unwrap()
}

// ---- RecvBatch and SendBatch -------------------------------------------------

/// One `recvmmsg` takes an empty, a small and a 65,507-byte datagram, each
/// whole with its sender; one `sendmmsg` echoes them back to those senders.
#[test]
fn a_batch_carries_each_datagram_and_its_sender_and_echoes_back() {
    let (server, client) = (socket(), socket());
    let big: Vec<u8> = (0..65_507).map(|i| (i % 251) as u8).collect();
    let datagrams: [&[u8]; 3] = [b"", b"hello", &big];
    for d in datagrams {
        client.send_to(d, addr(&server)).unwrap();
    }
    let mut batch = RecvBatch::new(MAX_BATCH);
    assert_eq!(batch.recv(&server, 3).unwrap(), 3);
    for (i, d) in datagrams.iter().enumerate() {
        assert!(batch.get(i) == *d, "datagram {i}");
        assert_eq!(batch.source(i), Some(addr(&client)));
    }
    let sent = SendBatch::default().send(&server, (0..3).map(|i| batch.echo(i)));
    assert_eq!(sent.unwrap(), 3);
    let mut buf = vec![0; SLOT];
    for d in datagrams {
        let (n, from) = client.recv_from(&mut buf).unwrap();
        assert_eq!((n, from), (d.len(), addr(&server)));
        assert!(buf[..n] == *d);
    }
}

/// A batch never takes more than it has room for, nor more than asked.
#[test]
fn a_batch_takes_at_most_its_capacity_and_what_is_asked() {
    let (server, client) = (socket(), socket());
    for i in 0..3u8 {
        client.send_to(&[i], addr(&server)).unwrap();
    }
    let mut batch = RecvBatch::new(2);
    assert_eq!(batch.recv(&server, MAX_BATCH).unwrap(), 2);
    assert_eq!((batch.get(0), batch.get(1)), (&[0][..], &[1][..]));
    assert_eq!(batch.recv(&server, 1).unwrap(), 1);
    assert_eq!(batch.get(0), &[2]);
    assert_eq!(RecvBatch::new(0).recv(&server, 5).unwrap(), 0);
}

/// On a connected socket datagrams go without a name, in order; an empty
/// list sends nothing.
#[test]
fn a_connected_socket_sends_a_batch_without_names() {
    let (server, client) = (socket(), socket());
    client.connect(addr(&server)).unwrap();
    let payloads: [&[u8]; 3] = [b"one", b"", b"three"];
    let outgoing = payloads.map(|data| Outgoing { data, to: None });
    let mut send = SendBatch::default();
    assert_eq!(send.send(&client, outgoing).unwrap(), 3);
    assert_eq!(send.send(&client, []).unwrap(), 0);
    let mut buf = [0; 16];
    for p in payloads {
        let (n, from) = server.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (p, addr(&client)));
    }
}

/// Nothing waiting on a nonblocking socket is `WouldBlock`.
#[test]
fn an_empty_queue_would_block() {
    let s = socket();
    s.set_nonblocking(true).unwrap();
    let error = RecvBatch::new(4).recv(&s, 4).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::WouldBlock);
}

// ---- drops ---------------------------------------------------------------------

/// A socket with the smallest buffer and no reader overflows, and
/// SO_MEMINFO counts every datagram the kernel threw away. The test runs on
/// one CPU, so the kernel handles its sends in the order they are made
/// (loopback queues each on the sending CPU's backlog): once the marker
/// sent after the burst is read, every datagram of the burst was queued or
/// dropped before it.
#[test]
fn an_overflowing_queue_counts_its_drops() {
    pin_to_current_cpu();
    let (server, client) = (socket(), socket());
    set_buffers(&server, 1).unwrap();
    assert_eq!(drop_count_now(&server).unwrap(), 0);
    const BURST: u32 = 100;
    for _ in 0..BURST {
        client.send_to(&[7; 1000], addr(&server)).unwrap();
    }
    // The marker is sent again whenever the queue is empty without it: the
    // copy before was dropped, the queue being full then.
    server.set_read_timeout(Some(RESEND)).unwrap();
    let mut batch = RecvBatch::new(1);
    let (mut received, mut markers) = (0, 0);
    loop {
        match batch.recv(&server, 1) {
            Ok(_) if batch.get(0) == b"marker" => break,
            Ok(_) => received += 1,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                assert!(markers < 50, "no marker came through");
                client.send_to(b"marker", addr(&server)).unwrap();
                markers += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
    let drops = drop_count_now(&server).unwrap();
    assert_eq!(
        received + drops,
        BURST + markers - 1,
        "each one queued or dropped"
    );
    assert!(
        drops >= BURST / 2,
        "a few KiB hold a few datagrams: {drops}"
    );
    let mut counted = KernelDrops::default();
    assert_eq!(counted.observe(drops), u64::from(drops));
    assert_eq!(counted.observe(drops), 0, "counted once");
}

/// Runs the calling thread on the CPU it is on now, so that its sends are
/// handled in the order it makes them.
fn pin_to_current_cpu() {
    // SAFETY: sched_getcpu only reads; sched_setaffinity reads the set
    // (a zeroed cpu_set_t is empty) for the calling thread (pid 0).
    unsafe {
        let cpu = libc::sched_getcpu();
        assert!(cpu >= 0, "sched_getcpu: {}", io::Error::last_os_error());
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu as usize, &mut set);
        let r = libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set);
        assert_eq!(r, 0, "sched_setaffinity: {}", io::Error::last_os_error());
    }
}

/// Counts only readings ahead of the last (one behind, or the same, adds
/// nothing), and across the 32-bit wrap.
#[test]
fn kernel_drops_count_only_readings_ahead() {
    let mut d = KernelDrops::starting_at(10);
    assert_eq!(d.observe(12), 2);
    assert_eq!(d.observe(11), 0, "an older reading");
    assert_eq!(d.observe(12), 0, "the same reading");
    assert_eq!(d.observe(15), 3);
    let mut wrapping = KernelDrops::starting_at(u32::MAX - 1);
    assert_eq!(wrapping.observe(3), 5);
}

/// The buffer report says what was granted, and names the sysctl when the
/// kernel's cap clamped the request.
#[test]
fn buffers_say_when_the_kernel_clamped_them() {
    let granted = Buffers {
        asked: 4 << 20,
        receive: 8 << 20,
        send: 8 << 20,
    };
    assert!(!granted.clamped());
    assert!(!granted.describe("x").contains("sysctl"));
    let clamped = Buffers {
        receive: 425_984,
        ..granted
    };
    assert!(clamped.clamped());
    assert!(
        clamped
            .describe("udp-echo")
            .ends_with("`sysctl -w net.core.rmem_max=4194304 net.core.wmem_max=4194304`"),
        "{}",
        clamped.describe("udp-echo")
    );
    let s = socket();
    let small = set_buffers(&s, 4096).unwrap();
    assert_eq!((small.receive, small.send), (8192, 8192), "doubled");
}
