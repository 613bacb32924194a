//! The server's settings, checked once before anything is bound.
//!
//! `cli` turns flags into a [`ServeConfig`]; [`ServeConfig::validate`]
//! enforces the rules that span several flags (weak credentials and
//! `--allow-remote-shutdown` only with loopback listeners). Single flag values are range-checked
//! before this, by their parsers (see [`crate::flags`]). The event loop only
//! reads it.

use crate::framing::DEFAULT_MAX_LINE;
use crate::protocol::credentials::Weakness;
use crate::protocol::{Credentials, Service};
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// Default `--idle-timeout`: five minutes, redis's `timeout` is off by
/// default and nginx's keepalive is 75 s; five minutes keeps a forgotten
/// `nc` session from living forever while never touching a load test.
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 300;

/// Largest `--max-line`: 1 MiB. A partial line is buffered up to this
/// size per connection, so 10,000 slow senders could hold 10 GiB; no name,
/// password or command of the tutorial's services comes near it.
pub const MAX_LINE_LIMIT: u64 = 1 << 20;

/// Smallest non-zero `--stats-interval`: ten lines a second is already more
/// than anyone reads, and below it the log floods (0.0001 s gave ~500 lines
/// a second, the loop waking only to log).
pub const MIN_STATS_INTERVAL_SECS: f64 = 0.1;

/// Default `--output-budget`: 64 MiB of reply bytes waiting for slow
/// readers, across all connections, before the ones that waited longest
/// without write progress are closed (`slow_reader`). A connection that
/// never reads holds about 1 KiB (`server::tcp`'s read rule), so 64 MiB is
/// some 60,000 such connections, more than one worker's 20,000
/// descriptors: the budget is the backstop for a flood of them, and for
/// larger `--max-line` replies. redis's `client-output-buffer-limit` and
/// memcached's `-m` are the same kind of cap.
pub const DEFAULT_OUTPUT_BUDGET: usize = 64 << 20;

/// Largest `--output-budget`: 1 TiB, beyond any machine this runs on.
pub const MAX_OUTPUT_BUDGET: u64 = 1 << 40;

/// Default `--send-timeout`: nginx's `send_timeout` is 60 s: a connection
/// whose pending output makes no progress for that long is closed
/// (`send_timeout`). Separate from `--idle-timeout`, which waits for
/// requests: a client that stops reading may still be sending.
pub const DEFAULT_SEND_TIMEOUT_SECS: u64 = 60;

/// Default `--udp-buffer`: SO_RCVBUF and SO_SNDBUF of every UDP socket.
/// The kernel's default (`net.core.rmem_default`, 208 KiB) overflowed at
/// `load --service udp-echo -c 8 --depth 32` (~190 datagrams dropped per
/// 3 s run, docs/benchmarks.md): 256 datagrams in flight arrive faster than
/// one loop turn drains them. 4 MiB holds ~7,000 64-byte datagrams (each
/// costs its payload plus ~600 bytes of kernel bookkeeping), and is the
/// usual `net.core.rmem_max` of tuned hosts; where the cap is lower the
/// kernel clamps it, and the server says so with the sysctl to raise.
pub const DEFAULT_UDP_BUFFER: usize = 4 << 20;

/// Largest `--udp-buffer`: 1 GiB. The kernel doubles the request into an
/// `int`, so more than 1 GiB could not be asked for anyway.
pub const MAX_UDP_BUFFER: u64 = 1 << 30;

/// How long a graceful shutdown waits for pending output (SIGINT/SIGTERM).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// File descriptors kept back from `--max-conns`' default: listeners,
/// epoll, the signal pipe, stdio, the metrics endpoint's own connections
/// ([`METRICS_RESERVE`]), and room for the refusals that tell clients
/// `ERR server full` (32 lingering at most).
pub const FD_RESERVE: u64 = 64;

/// Metrics endpoint connections served beside `--max-conns`, so that a
/// scrape still works while a flood holds every connection the services
/// may have. A scrape is one request on one connection: 4 lets a couple of
/// Prometheus servers and a curl in at once; a fifth gets a 503.
pub const METRICS_RESERVE: usize = 4;

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The enabled services and the addresses to bind them to.
    pub listeners: Vec<(Service, SocketAddr)>,
    /// Connections served at once; the next gets `ERR server full`.
    pub max_conns: usize,
    /// Longest line content accepted by the line services.
    pub max_line: usize,
    /// Close connections idle this long; `None` = never.
    pub idle_timeout: Option<Duration>,
    /// Accepted logins.
    pub credentials: Credentials,
    /// Whether `E`, after logging in from a loopback peer, stops the whole
    /// server (refused unless login and command listen on loopback only).
    pub allow_remote_shutdown: bool,
    /// Reply bytes that may wait for slow readers, across all connections
    /// (`--output-budget`); past it, slow readers are closed.
    pub output_budget: usize,
    /// Close a connection whose pending output makes no progress this
    /// long (`--send-timeout`); `None` = never.
    pub send_timeout: Option<Duration>,
    /// Bind with SO_REUSEPORT (several workers on one port).
    pub reuse_port: bool,
    /// Log a stats line this often; `None` = never.
    pub stats_interval: Option<Duration>,
    /// SO_RCVBUF and SO_SNDBUF of the UDP sockets; `None` = the kernel's
    /// defaults.
    pub udp_buffer: Option<usize>,
    /// This process's index among the workers of `serve --workers`
    /// (`--worker-index`, set by the parent); `None` for a single process.
    /// Labels its metrics `worker="N"`.
    pub worker: Option<u16>,
}

impl ServeConfig {
    /// All six services on 127.0.0.1 and their default ports.
    pub fn defaults() -> ServeConfig {
        ServeConfig {
            listeners: Service::TUTORIAL
                .iter()
                .map(|&s| (s, SocketAddr::from(([127, 0, 0, 1], s.default_port()))))
                .collect(),
            max_conns: default_max_conns(),
            max_line: DEFAULT_MAX_LINE,
            idle_timeout: Some(Duration::from_secs(DEFAULT_IDLE_TIMEOUT_SECS)),
            credentials: Credentials::default_tutorial(),
            allow_remote_shutdown: false,
            output_budget: DEFAULT_OUTPUT_BUDGET,
            send_timeout: Some(Duration::from_secs(DEFAULT_SEND_TIMEOUT_SECS)),
            reuse_port: false,
            stats_interval: None,
            udp_buffer: Some(DEFAULT_UDP_BUFFER),
            worker: None,
        }
    }

    /// Checks the rules that span several settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.listeners.is_empty() {
            return Err(ConfigError::NothingToServe);
        }
        if self.max_line == 0 {
            return Err(ConfigError::ZeroMaxLine);
        }
        // Only the login service checks credentials: echo or command on a
        // public address exposes no password.
        let public = |service: Service| {
            self.listeners
                .iter()
                .find(|(s, a)| *s == service && !a.ip().is_loopback())
                .map(|&(_, addr)| addr)
        };
        // An empty password, or the tutorial's admin:12345 (whoever typed
        // it): fine for a lesson on this machine, never reachable from
        // another.
        if let (Some(addr), Some((user, weakness))) =
            (public(Service::Login), self.credentials.weakness())
        {
            return Err(ConfigError::WeakCredentialsExposed {
                addr,
                user: user.to_owned(),
                weakness,
            });
        }
        // `E` may stop the server only from a loopback peer; a listener
        // off loopback would invite everyone else to try.
        if self.allow_remote_shutdown {
            for service in [Service::Login, Service::Command] {
                if let Some(addr) = public(service) {
                    return Err(ConfigError::RemoteShutdownExposed { service, addr });
                }
            }
        }
        Ok(())
    }
}

/// The process's soft open-file limit minus [`FD_RESERVE`].
pub fn default_max_conns() -> usize {
    let (soft, _hard) = crate::limits::nofile();
    soft.saturating_sub(FD_RESERVE).max(1) as usize
}

/// A setting that cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// Every service is `off`.
    NothingToServe,
    /// `--max-line 0`.
    ZeroMaxLine,
    /// Login would accept an empty password, or `admin`/`12345`, on a
    /// non-loopback address.
    WeakCredentialsExposed {
        /// The login listener's address.
        addr: SocketAddr,
        /// The user whose password is weak.
        user: String,
        /// What is wrong with it.
        weakness: Weakness,
    },
    /// `--allow-remote-shutdown` with login or command off loopback.
    RemoteShutdownExposed {
        /// The service listening off loopback.
        service: Service,
        /// Its address.
        addr: SocketAddr,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::NothingToServe => f.write_str("every service is off: nothing to serve"),
            ConfigError::ZeroMaxLine => f.write_str("--max-line must be at least 1"),
            ConfigError::WeakCredentialsExposed {
                addr,
                user,
                weakness,
            } => write!(
                f,
                "login would listen on non-loopback address {addr} with {weakness} for \
                 user {user:?}; set a real one with --user-file PATH (or --user NAME:PASSWORD)"
            ),
            ConfigError::RemoteShutdownExposed { service, addr } => write!(
                f,
                "--allow-remote-shutdown is refused while {service} listens on non-loopback \
                 address {addr}: only a loopback peer may stop the server"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_cover_all_services() {
        let c = ServeConfig::defaults();
        assert_eq!(c.listeners.len(), 6);
        assert_eq!(c.validate(), Ok(()));
    }

    /// Sets `service`'s address in `c`.
    fn listen(c: &mut ServeConfig, service: Service, addr: &str) {
        let slot = c.listeners.iter_mut().find(|(s, _)| *s == service);
        slot.expect("service in the defaults").1 = addr.parse().unwrap();
    }

    #[test]
    fn weak_credentials_refuse_a_public_login_whoever_typed_them() {
        let mut c = ServeConfig::defaults();
        listen(&mut c, Service::Login, "0.0.0.0:7002");
        let refused = |user: &str, weakness| {
            Err(ConfigError::WeakCredentialsExposed {
                addr: "0.0.0.0:7002".parse().unwrap(),
                user: user.to_owned(),
                weakness,
            })
        };
        assert_eq!(c.validate(), refused("admin", Weakness::WellKnown));
        c.credentials = Credentials::from_specs(&["admin:12345"]).unwrap();
        assert_eq!(c.validate(), refused("admin", Weakness::WellKnown));
        c.credentials = Credentials::from_specs(&["bob:"]).unwrap();
        assert_eq!(c.validate(), refused("bob", Weakness::EmptyPassword));
        c.credentials = Credentials::from_specs(&["bob:pw"]).unwrap();
        assert_eq!(c.validate(), Ok(()));
        // On loopback, the lesson's pairs are fine.
        listen(&mut c, Service::Login, "127.0.0.1:7002");
        c.credentials = Credentials::from_specs(&["bob:"]).unwrap();
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn remote_shutdown_is_refused_with_login_or_command_off_loopback() {
        let mut c = ServeConfig::defaults();
        c.allow_remote_shutdown = true;
        assert_eq!(c.validate(), Ok(()));
        c.credentials = Credentials::from_specs(&["bob:hunter2"]).unwrap();
        for service in [Service::Command, Service::Login] {
            let mut public = c.clone();
            listen(&mut public, service, "0.0.0.0:7003");
            assert_eq!(
                public.validate(),
                Err(ConfigError::RemoteShutdownExposed {
                    service,
                    addr: "0.0.0.0:7003".parse().unwrap()
                })
            );
        }
        // Other services off loopback are no way in.
        listen(&mut c, Service::Echo, "0.0.0.0:7000");
        assert_eq!(c.validate(), Ok(()));
    }

    /// Echo, greet, command, UDP and metrics take no password: on a public
    /// address they are fine while login stays on loopback (or is off).
    #[test]
    fn default_credentials_allow_other_public_services() {
        let mut c = ServeConfig::defaults();
        for service in Service::TUTORIAL
            .into_iter()
            .filter(|s| *s != Service::Login)
        {
            listen(&mut c, service, "0.0.0.0:0");
        }
        c.listeners
            .push((Service::Metrics, "0.0.0.0:0".parse().unwrap()));
        assert_eq!(c.validate(), Ok(()));
        c.listeners.retain(|(s, _)| *s != Service::Login);
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn nothing_to_serve_is_an_error() {
        let mut c = ServeConfig::defaults();
        c.listeners.clear();
        assert_eq!(c.validate(), Err(ConfigError::NothingToServe));
    }
}
