//! Starting `sockloop`: the [`Builder`] of a server's flags and limits,
//! waiting for its `listening` lines, and [`run_to_exit`] for runs that are
//! expected to fail at startup.

use super::server::{Exited, Server, wait_with_deadline};
use super::{IO_TIMEOUT, SERVICES};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Instant;

/// Numbers the stderr files of the servers started by one test process.
static NEXT_LOG: AtomicU32 = AtomicU32::new(0);

/// How to start a server: per-service addresses, extra flags, and limits.
#[derive(Debug, Clone)]
pub struct Builder {
    addrs: Vec<(&'static str, String)>,
    args: Vec<String>,
    nofile: Option<u64>,
    log_filter: String,
    /// Run as root without `--allow-root` (see [`Builder::typed_as_given`]).
    typed_as_given: bool,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            addrs: SERVICES
                .iter()
                .map(|&s| (s, "127.0.0.1:0".to_owned()))
                .collect(),
            args: Vec::new(),
            nofile: None,
            log_filter: "info".to_owned(),
            typed_as_given: false,
        }
    }
}

impl Builder {
    /// Sets one service's address flag (`IP:PORT` or `off`).
    pub fn service(mut self, service: &str, addr: &str) -> Self {
        let slot = self
            .addrs
            .iter_mut()
            .find(|(s, _)| *s == service)
            .unwrap_or_else(|| panic!("unknown service {service}"));
        slot.1 = addr.to_owned();
        self
    }

    /// Turns every service off except `keep`.
    pub fn only(mut self, keep: &[&str]) -> Self {
        for (service, addr) in &mut self.addrs {
            if !keep.contains(service) {
                *addr = "off".to_owned();
            }
        }
        self
    }

    /// Extra flags, e.g. `["--max-conns", "5"]`.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    /// Starts the child with this soft and hard RLIMIT_NOFILE.
    pub fn nofile(mut self, limit: u64) -> Self {
        self.nofile = Some(limit);
        self
    }

    /// The `RUST_LOG` filter (default `info`, so an ambient RUST_LOG does not
    /// change what the tests see).
    pub fn log(mut self, filter: &str) -> Self {
        self.log_filter = filter.to_owned();
        self
    }

    /// No `--allow-root` added as root: the command line exactly as a user
    /// would type it.
    pub fn typed_as_given(mut self) -> Self {
        self.typed_as_given = true;
        self
    }

    /// The full argument list after `sockloop`. Run as root (as CI is),
    /// `serve` refuses to start unless told what to do about it: the tests
    /// say `--allow-root`, unless a test chose `--user-id` itself.
    fn command_line(&self) -> Vec<String> {
        let mut argv = vec!["serve".to_owned()];
        for (service, addr) in &self.addrs {
            argv.push(format!("--{service}"));
            argv.push(addr.clone());
        }
        argv.extend(self.args.iter().cloned());
        let chose = |flag: &str| self.args.iter().any(|a| a.starts_with(flag));
        if is_root() && !self.typed_as_given && !chose("--user-id") && !chose("--allow-root") {
            argv.push("--allow-root".to_owned());
        }
        argv
    }

    /// Spawns the server and waits for one `listening` line per enabled
    /// service. Panics (with the server's stderr) if it exits or stalls first.
    #[track_caller]
    pub fn spawn(self) -> Server {
        let expected = self.addrs.iter().filter(|(_, a)| a != "off").count();
        let stderr_path = stderr_file_path();
        let stderr = File::create(&stderr_path).expect("create stderr file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_sockloop"));
        command
            .args(self.command_line())
            .env("RUST_LOG", &self.log_filter)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        if let Some(limit) = self.nofile {
            set_nofile_in_child(&mut command, limit);
        }
        let mut child = command.spawn().expect("spawn sockloop");
        let stdout = lines_of(child.stdout.take().expect("piped stdout"));
        let mut server = Server {
            child,
            addrs: HashMap::new(),
            stderr_path,
            stdout,
        };
        let deadline = Instant::now() + IO_TIMEOUT;
        while server.addrs.len() < expected {
            let wait = deadline.saturating_duration_since(Instant::now());
            let line = match server.stdout.recv_timeout(wait) {
                Ok(line) => line,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no listening lines in time; stderr:\n{}", server.stderr())
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = server.child.wait().expect("wait");
                    panic!(
                        "server exited ({status}) before listening; stderr:\n{}",
                        server.stderr()
                    )
                }
            };
            let (service, addr) = parse_listening(&line);
            server.addrs.insert(service, addr);
        }
        server
    }
}

impl Builder {
    /// Runs `sockloop serve` with these flags and waits for it to exit by
    /// itself (for startup errors); see [`run_to_exit`].
    #[track_caller]
    pub fn run_to_exit(self) -> Exited {
        let argv = self.command_line();
        run_to_exit(&argv.iter().map(String::as_str).collect::<Vec<_>>())
    }
}

/// Whether the tests run as root (the effective user id is 0).
pub fn is_root() -> bool {
    // SAFETY: geteuid(2) cannot fail and has no side effect.
    unsafe { libc::geteuid() == 0 }
}

/// `listening SERVICE PROTO ADDR` -> `(SERVICE, ADDR)`, checking PROTO.
#[track_caller]
fn parse_listening(line: &str) -> (String, SocketAddr) {
    let parts: Vec<&str> = line.split(' ').collect();
    let [word, service, proto, addr] = parts[..] else {
        panic!("not a listening line: {line:?}");
    };
    assert_eq!(word, "listening", "{line:?}");
    let want_proto = if service.starts_with("udp-") {
        "udp"
    } else {
        "tcp"
    };
    assert_eq!(proto, want_proto, "{line:?}");
    let addr = addr
        .parse()
        .unwrap_or_else(|_| panic!("bad address in {line:?}"));
    (service.to_owned(), addr)
}

/// A fresh path for one server's stderr, under cargo's tmp dir for tests.
fn stderr_file_path() -> PathBuf {
    let n = NEXT_LOG.fetch_add(1, Ordering::Relaxed);
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("sockloop-{}-{n}.stderr", std::process::id()))
}

/// Makes the child start with soft = hard = `limit` open files.
fn set_nofile_in_child(command: &mut Command, limit: u64) {
    let lim = libc::rlimit {
        rlim_cur: limit as libc::rlim_t,
        rlim_max: limit as libc::rlim_t,
    };
    // SAFETY: runs in the forked child before exec; setrlimit is
    // async-signal-safe and only reads `lim`, which was copied in.
    unsafe {
        command.pre_exec(move || {
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Reads a pipe line by line on a thread; the receiver disconnects at EOF.
fn lines_of(pipe: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Runs `sockloop` with exactly `args` (for startup errors): waits for it to
/// exit by itself, killing it after [`IO_TIMEOUT`] (and then panicking).
#[track_caller]
pub fn run_to_exit(args: &[&str]) -> Exited {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sockloop"))
        .args(args)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sockloop");
    let stdout = lines_of(child.stdout.take().expect("stdout"));
    let stderr = lines_of(child.stderr.take().expect("stderr"));
    let Some(status) = wait_with_deadline(&mut child) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("sockloop {args:?} did not exit by itself");
    };
    Exited {
        status,
        stderr: stderr.iter().map(|l| l + "\n").collect(),
        stdout: stdout.iter().map(|l| l + "\n").collect(),
    }
}
