//! Starting the server: checking the settings, binding the listeners (or
//! taking over the ones a worker parent bound), and registering them with
//! the loop's `Poll`. Nothing is served until `Server::run`.

use super::bind::{self, BindError, Bound, bind_all};
use super::timers::Timers;
use super::{Entry, READ_CHUNK, SIGNALS, Server, Stats, UDP_BATCH, udp};
use crate::config::{ConfigError, ServeConfig};
use crate::protocol::Service;
use crate::protocol::throttle::LoginThrottle;
use crate::protocol::udp::guard::UdpGuard;
use crate::readiness::ReadyQueue;
use crate::readiness::datagrams::{self, KernelDrops};
use mio::{Interest, Poll, Token};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use slab::Slab;
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::os::fd::RawFd;
use std::time::Instant;

/// Why the server could not start.
#[derive(Debug)]
pub enum ServerError {
    /// The settings are inconsistent.
    Config(ConfigError),
    /// A listener could not be bound.
    Bind(BindError),
    /// The poll or signal setup failed.
    Io(io::Error),
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::Config(e) => e.fmt(f),
            ServerError::Bind(e) => e.fmt(f),
            ServerError::Io(e) => write!(f, "cannot start the event loop: {e}"),
        }
    }
}

impl std::error::Error for ServerError {}
impl Server {
    /// Validates `config`, binds every listener and registers it. Nothing is
    /// served until [`Server::run`].
    pub fn bind(config: ServeConfig) -> Result<Server, ServerError> {
        config.validate().map_err(ServerError::Config)?;
        let bound = bind_all(&config.listeners, config.reuse_port).map_err(ServerError::Bind)?;
        Server::with_sockets(config, bound)
    }

    /// Like [`Server::bind`], but takes over the sockets a worker parent
    /// bound for this process (`fds`: one descriptor per service of
    /// `config.listeners`, see [`bind_shared`](crate::server::bind_shared)) instead of binding.
    pub fn adopt(config: ServeConfig, fds: &[(Service, RawFd)]) -> Result<Server, ServerError> {
        config.validate().map_err(ServerError::Config)?;
        // One descriptor per listener, each number taken over once (see the
        // SAFETY note in `bind::adopt`).
        let distinct = fds
            .iter()
            .enumerate()
            .all(|(n, &(service, fd))| !fds[..n].iter().any(|&(s, f)| s == service || f == fd));
        let mismatch = || {
            ServerError::Io(io::Error::other(format!(
                "inherited descriptors {fds:?} do not match the listeners {:?}",
                config.listeners
            )))
        };
        if !distinct || fds.len() != config.listeners.len() {
            return Err(mismatch());
        }
        let mut bound = Vec::new();
        for &(service, addr) in &config.listeners {
            let Some(&(_, fd)) = fds.iter().find(|(s, _)| *s == service) else {
                return Err(mismatch());
            };
            bound.push(bind::adopt(service, addr, fd).map_err(ServerError::Bind)?);
        }
        Server::with_sockets(config, bound)
    }

    /// Registers the bound sockets and builds the loop state.
    fn with_sockets(config: ServeConfig, bound: Vec<Bound>) -> Result<Server, ServerError> {
        let poll = Poll::new().map_err(ServerError::Io)?;
        // SIGHUP too: a closed terminal or `kill -HUP` stops gracefully,
        // with the summary, instead of killing the process mid-reply.
        let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP]).map_err(ServerError::Io)?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)
            .map_err(ServerError::Io)?;
        let mut entries = Slab::new();
        let mut listening = Vec::new();
        let mut udp_ports = Vec::new();
        for b in bound {
            let addr = b.local_addr().map_err(ServerError::Io)?;
            listening.push((b.service(), addr));
            let entry = entries.vacant_entry();
            let token = Token(entry.key());
            let registry = poll.registry();
            match b {
                Bound::Tcp(service, mut socket) => {
                    registry
                        .register(&mut socket, token, Interest::READABLE)
                        .map_err(ServerError::Io)?;
                    entry.insert(Entry::Listener {
                        socket,
                        service,
                        queued: false,
                    });
                }
                Bound::Udp(service, mut socket) => {
                    udp_ports.push(addr.port());
                    let drops = prepare_udp(&socket, service, config.udp_buffer)
                        .map_err(ServerError::Io)?;
                    // READABLE only: a reply that would block is dropped, never
                    // waited for, so writability is of no interest.
                    registry
                        .register(&mut socket, token, Interest::READABLE)
                        .map_err(ServerError::Io)?;
                    entry.insert(Entry::Udp {
                        socket,
                        service,
                        queued: false,
                        drops,
                    });
                }
            }
        }
        let next_stats_at = config.stats_interval.map(|d| d.as_millis() as u64);
        let (udp_in, udp_out) = udp::batches(!udp_ports.is_empty());
        Ok(Server {
            poll,
            entries,
            ready: ReadyQueue::default(),
            timers: Timers::default(),
            scratch: vec![0; READ_CHUNK].into_boxed_slice(),
            reply: Vec::new(),
            udp_in,
            udp_out,
            udp_replies: Vec::with_capacity(UDP_BATCH),
            config,
            rng: SmallRng::from_rng(&mut rand::rng()),
            signals,
            started: Instant::now(),
            now: 0,
            next_serial: 0,
            refusals: VecDeque::new(),
            udp_guard: UdpGuard::new(udp_ports),
            logins: LoginThrottle::default(),
            accept_paused_until: None,
            shutdown_at: None,
            next_stats_at,
            budget_recheck: false,
            listening,
            stats: Stats::default(),
        })
    }
}

/// Readies a UDP socket: its buffers (`--udp-buffer`, logged with what the
/// kernel granted, and a warning with the sysctl if it clamped them), and
/// its kernel drops, counted from what they are now: an inherited socket
/// may have dropped before we had it.
fn prepare_udp(
    socket: &mio::net::UdpSocket,
    service: Service,
    buffer: Option<usize>,
) -> io::Result<KernelDrops> {
    if let Some(bytes) = buffer {
        datagrams::set_buffers(socket, bytes)?.log(service.name());
    }
    Ok(match datagrams::drop_count_now(socket) {
        Ok(count) => KernelDrops::starting_at(count),
        // Before Linux 4.7 there is no SO_MEMINFO, and no drop count.
        Err(e) => {
            log::debug!("{service}: SO_MEMINFO: {e}");
            KernelDrops::default()
        }
    })
}
