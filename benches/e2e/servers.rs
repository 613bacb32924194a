//! The echo servers the end-to-end benchmark compares, each as a child
//! process: sockloop itself, two tokio servers (this bench binary re-run
//! with `SOCKLOOP_BENCH_ROLE`), and a hand-written C epoll loop; for UDP,
//! sockloop's udp-echo and two C loops (one datagram per syscall, and 64
//! per `recvmmsg`/`sendmmsg`).
//!
//! Every server prints `listening echo tcp ADDR` (UDP: `listening udp-echo
//! udp ADDR`) on stdout when ready; that line is the only synchronisation.
//! A server may be pinned to one CPU (`taskset -c N`, which execs it: the
//! pid is the server's). Children die with the bench (`PR_SET_PDEATHSIG`)
//! and are killed when their [`Server`] is dropped.

use std::io::{self, BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The environment variable that turns this binary into a tokio server.
pub const ROLE_VAR: &str = "SOCKLOOP_BENCH_ROLE";

/// How long a server may take to print its `listening` line.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// One kind of echo server.
#[derive(Debug, Clone)]
pub enum Kind {
    /// `sockloop serve` with only echo on.
    Sockloop,
    /// tokio, current-thread runtime.
    TokioCt,
    /// tokio, multi-thread runtime (one worker per core).
    TokioMt,
    /// `benches/ref/epoll_echo.c`, compiled to this path.
    EpollC(PathBuf),
    /// `sockloop serve` with only udp-echo on.
    SockloopUdp,
    /// `benches/ref/udp_echo.c`: one `recvfrom` and one `sendto` per datagram.
    UdpC(PathBuf),
    /// `benches/ref/udp_mmsg_echo.c`: 64 datagrams per `recvmmsg`/`sendmmsg`.
    UdpMmsgC(PathBuf),
}

impl Kind {
    /// The name used in tables.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Sockloop | Kind::SockloopUdp => "sockloop",
            Kind::TokioCt => "tokio-ct",
            Kind::TokioMt => "tokio-mt",
            Kind::EpollC(_) => "epoll-c",
            Kind::UdpC(_) => "udp-c",
            Kind::UdpMmsgC(_) => "udp-mmsg-c",
        }
    }

    /// Whether it serves UDP echo (else TCP echo).
    pub fn is_udp(&self) -> bool {
        matches!(self, Kind::SockloopUdp | Kind::UdpC(_) | Kind::UdpMmsgC(_))
    }

    /// What its ready line starts with, before the address.
    fn listening_prefix(&self) -> &'static str {
        if self.is_udp() {
            "listening udp-echo udp "
        } else {
            "listening echo tcp "
        }
    }

    fn command(&self, cpu: Option<usize>) -> io::Result<Command> {
        let mut cmd = self.bare_command()?;
        if let Some(cpu) = cpu {
            let mut pinned = Command::new("taskset");
            pinned.arg("-c").arg(cpu.to_string()).arg(cmd.get_program());
            pinned.args(cmd.get_args());
            for (key, value) in cmd.get_envs() {
                if let Some(value) = value {
                    pinned.env(key, value);
                }
            }
            cmd = pinned;
        }
        // Warnings only: the servers' logs are not part of the measurement.
        cmd.env("RUST_LOG", "warn");
        Ok(cmd)
    }

    fn bare_command(&self) -> io::Result<Command> {
        let cmd = match self {
            Kind::Sockloop => {
                let mut cmd = Command::new(env!("CARGO_BIN_EXE_sockloop"));
                cmd.arg("serve").arg("--echo").arg("127.0.0.1:0");
                for other in ["--greet", "--login", "--command", "--udp-echo", "--udp-log"] {
                    cmd.arg(other).arg("off");
                }
                // `serve` refuses root unless told; benchmarks often run as root.
                // SAFETY: geteuid(2) cannot fail and has no side effect.
                if unsafe { libc::geteuid() } == 0 {
                    cmd.arg("--allow-root");
                }
                cmd
            }
            Kind::TokioCt | Kind::TokioMt => {
                let mut cmd = Command::new(std::env::current_exe()?);
                cmd.env(ROLE_VAR, self.name());
                cmd
            }
            Kind::SockloopUdp => {
                let mut cmd = Command::new(env!("CARGO_BIN_EXE_sockloop"));
                cmd.arg("serve").arg("--udp-echo").arg("127.0.0.1:0");
                for other in ["--echo", "--greet", "--login", "--command", "--udp-log"] {
                    cmd.arg(other).arg("off");
                }
                cmd
            }
            Kind::EpollC(exe) | Kind::UdpC(exe) | Kind::UdpMmsgC(exe) => Command::new(exe),
        };
        Ok(cmd)
    }
}

/// A running server; killed on drop.
pub struct Server {
    /// Which server this is.
    pub name: &'static str,
    /// Its echo address, from its `listening` line.
    pub addr: String,
    child: Child,
}

impl Server {
    /// Starts `kind` and waits for its `listening` line.
    pub fn start(kind: &Kind) -> Result<Server, String> {
        Server::start_on(kind, None)
    }

    /// Starts `kind`, on CPU `cpu` if given, and waits for its `listening`
    /// line.
    pub fn start_on(kind: &Kind, cpu: Option<usize>) -> Result<Server, String> {
        let mut cmd = kind
            .command(cpu)
            .map_err(|e| format!("{}: {e}", kind.name()))?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        die_with_parent(&mut cmd);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", kind.name()))?;
        let stdout = child.stdout.take().ok_or("no stdout pipe")?;
        // Built before waiting, so a server that never gets ready is killed.
        let mut server = Server {
            name: kind.name(),
            addr: String::new(),
            child,
        };
        server.addr = read_listening_line(stdout, kind.listening_prefix())
            .map_err(|e| format!("{}: {e}", kind.name()))?;
        Ok(server)
    }

    /// The server's process id (for /proc, perf and strace).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `size` bytes in one datagram and checks they come back exactly
    /// (bounded by a read timeout).
    pub fn udp_echo_once(&self, size: usize) -> Result<(), String> {
        let fail = |e: io::Error| format!("{} at {}: {e}", self.name, self.addr);
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").map_err(fail)?;
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(fail)?;
        let message: Vec<u8> = (0..size).map(|i| i as u8).collect();
        let mut reply = vec![0; 65_536];
        socket.send_to(&message, &self.addr).map_err(fail)?;
        let n = socket.recv(&mut reply).map_err(fail)?;
        if reply[..n] != message {
            return Err(format!("{} echoed {:?}", self.name, &reply[..n]));
        }
        Ok(())
    }

    /// Sends `size` bytes on a new connection and checks they come back
    /// exactly (bounded by a read timeout).
    pub fn echo_once(&self, size: usize) -> Result<(), String> {
        use std::io::{Read, Write};
        let fail = |e: io::Error| format!("{} at {}: {e}", self.name, self.addr);
        let mut stream = std::net::TcpStream::connect(&self.addr).map_err(fail)?;
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(fail)?;
        let message: Vec<u8> = (0..size).map(|i| i as u8).collect();
        let mut reply = vec![0; size];
        stream.write_all(&message).map_err(fail)?;
        stream.read_exact(&mut reply).map_err(fail)?;
        if reply != message {
            return Err(format!("{} echoed {reply:?}", self.name));
        }
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Killing our own child by its handle; the exit status is irrelevant.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Makes the kernel kill the child if this process dies first, so an
/// aborted bench leaves no servers behind.
fn die_with_parent(cmd: &mut Command) {
    // SAFETY: prctl is async-signal-safe and touches only the child.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Reads stdout until the line `PREFIX ADDR`, bounded by
/// [`STARTUP_TIMEOUT`]. The reader thread then keeps draining stdout so
/// the server never blocks on a full pipe.
fn read_listening_line(
    stdout: impl io::Read + Send + 'static,
    prefix: &'static str,
) -> Result<String, String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        for line in lines.by_ref() {
            let Ok(line) = line else { break };
            if let Some(addr) = line.strip_prefix(prefix) {
                let _ = tx.send(addr.trim().to_string());
                break;
            }
        }
        lines.for_each(drop);
    });
    rx.recv_timeout(STARTUP_TIMEOUT)
        .map_err(|_| format!("no `{}` line on stdout", prefix.trim_end()))
}

/// Compiles the C reference server `benches/ref/NAME.c` into `out_dir`
/// with `cc -O2`.
pub fn build_c(out_dir: &Path, name: &str) -> Result<PathBuf, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("benches/ref/{name}.c"));
    let exe = out_dir.join(name);
    let status = Command::new("cc")
        .args(["-O2", "-Wall", "-o"])
        .arg(&exe)
        .arg(&src)
        .status()
        .map_err(|e| format!("cc: {e}"))?;
    if !status.success() {
        return Err(format!("cc -O2 {} failed: {status}", src.display()));
    }
    Ok(exe)
}

/// `SOCKLOOP_BENCH_ROLE=tokio-ct|tokio-mt`: run a tokio echo server written
/// the way the tokio tutorial writes one, print its address, serve forever.
pub fn run_tokio_role(role: &str) -> Result<(), String> {
    // Same open-file limit as sockloop gets, for the 10,000 idle connections.
    sockloop::limits::raise_nofile();
    let runtime = match role {
        "tokio-ct" => tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build(),
        "tokio-mt" => tokio::runtime::Builder::new_multi_thread()
            .enable_io()
            .build(),
        other => return Err(format!("unknown {ROLE_VAR} {other:?}")),
    }
    .map_err(|e| format!("runtime: {e}"))?;
    runtime
        .block_on(tokio_echo())
        .map_err(|e| format!("{role}: {e}"))
}

/// The reference tokio server: accept loop, one task per connection,
/// `read` into a 4 KiB buffer then `write_all`.
async fn tokio_echo() -> io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("listening echo tcp {}", listener.local_addr()?);
    loop {
        let (mut socket, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            // EMFILE or an aborted handshake: keep serving the others.
            Err(e) => {
                eprintln!("accept: {e}");
                continue;
            }
        };
        // sockloop sets TCP_NODELAY too; without it the comparison would
        // measure Nagle, not the runtime.
        let _ = socket.set_nodelay(true);
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            loop {
                let n = match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                if socket.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        });
    }
}
