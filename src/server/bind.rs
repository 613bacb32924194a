//! Binding the listeners: one TCP listener or UDP socket per service.
//!
//! Uses socket2 to set what std cannot before `bind`/`listen`: SO_REUSEADDR
//! (restart while old connections sit in TIME_WAIT), IPV6_V6ONLY (an IPv6
//! address means only IPv6), SO_REUSEPORT when several workers share a port,
//! and the listen backlog. Everything is bound before anything is served, so
//! a failure leaves nothing half-started.
//!
//! With `--workers N` the parent binds every worker's sockets itself
//! ([`bind_shared`]) and each worker takes its own over ([`adopt`]), so a
//! port in use is refused by the parent, once, before any worker starts.

use crate::protocol::Service;
use socket2::{Domain, Protocol, Socket, Type};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// The listen backlog asked for. Linux silently caps it at
/// `net.core.somaxconn` (4096 by default since 5.4: listen(2)); asking for
/// that much lets a connect burst wait in the accept queue. Past it nothing
/// is refused: with `net.ipv4.tcp_abort_on_overflow` = 0 (the default,
/// tcp(7)) the kernel drops the SYN or the handshake's last ACK and the
/// client retransmits, a second or more later.
pub const LISTEN_BACKLOG: i32 = 4096;

/// A bound socket of one service.
#[derive(Debug)]
pub enum Bound {
    /// A listening TCP socket.
    Tcp(Service, mio::net::TcpListener),
    /// A bound UDP socket.
    Udp(Service, mio::net::UdpSocket),
}

impl Bound {
    /// The service this socket serves.
    pub fn service(&self) -> Service {
        match self {
            Bound::Tcp(s, _) | Bound::Udp(s, _) => *s,
        }
    }

    /// The address actually bound (port 0 resolved).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Bound::Tcp(_, l) => l.local_addr(),
            Bound::Udp(_, u) => u.local_addr(),
        }
    }

    /// The socket's descriptor, for handing it to a worker process.
    pub fn raw_fd(&self) -> RawFd {
        match self {
            Bound::Tcp(_, l) => l.as_raw_fd(),
            Bound::Udp(_, u) => u.as_raw_fd(),
        }
    }

    fn socket_ref(&self) -> socket2::SockRef<'_> {
        match self {
            Bound::Tcp(_, l) => socket2::SockRef::from(l),
            Bound::Udp(_, u) => socket2::SockRef::from(u),
        }
    }
}

/// A listener that could not be set up, naming the service and address.
#[derive(Debug)]
pub struct BindError {
    /// The service whose listener failed.
    pub service: Service,
    /// The address it was to bind.
    pub addr: SocketAddr,
    /// The operating system's error.
    pub source: io::Error,
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot listen for {} on {} {}: {}",
            self.service,
            self.service.proto(),
            self.addr,
            self.source
        )
    }
}

impl std::error::Error for BindError {}

/// Binds every `(service, addr)`; on the first failure, drops what was bound.
pub fn bind_all(
    addrs: &[(Service, SocketAddr)],
    reuse_port: bool,
) -> Result<Vec<Bound>, BindError> {
    addrs
        .iter()
        .map(|&(service, addr)| {
            bind_one(service, addr, reuse_port).map_err(|source| BindError {
                service,
                addr,
                source,
            })
        })
        .collect()
}

/// Binds `members` sockets of `service` that share one port, one per worker
/// process (`serve --workers`); the kernel spreads connections or datagrams
/// across them (SO_REUSEPORT).
///
/// Why in this order: SO_REUSEPORT lets ANY later socket of the same user
/// that also sets it join the port, so if every socket set it before
/// binding, a second `serve --workers` on the same address would start
/// without a word and take half the connections. So the first socket is
/// bound exactly as a single process binds it, without SO_REUSEPORT: if
/// anything holds the port, this fails with the same error. Only then is
/// SO_REUSEPORT turned on for it, and the siblings bind its concrete address
/// (port 0 resolved by that first bind) with SO_REUSEPORT. Linux checks the
/// option of the sockets already bound at each new bind, and forms the
/// group when the first sibling listens (TCP) or binds (UDP), with the first
/// socket as a member (tests/workers.rs checks both halves).
///
/// No race: from the first bind on, a socket of ours holds the port, and
/// every later bind without SO_REUSEPORT fails, which is how the first
/// socket of any other sockloop binds (except the hidden `--reuse-port`,
/// which asks to share).
pub fn bind_shared(
    service: Service,
    addr: SocketAddr,
    members: usize,
) -> Result<Vec<Bound>, BindError> {
    let error = |addr, source| BindError {
        service,
        addr,
        source,
    };
    let first = bind_one(service, addr, false).map_err(|e| error(addr, e))?;
    let concrete = first.local_addr().map_err(|e| error(addr, e))?;
    first
        .socket_ref()
        .set_reuse_port(true)
        .map_err(|e| error(concrete, e))?;
    let mut group = vec![first];
    for _ in 1..members {
        group.push(bind_one(service, concrete, true).map_err(|e| error(concrete, e))?);
    }
    Ok(group)
}

/// Takes over descriptor `fd`, a socket of `service` bound to `addr` that
/// the worker parent made with [`bind_shared`] and passed down through
/// `exec`. Checks that it is one: an open socket of the service's type
/// (listening, for TCP) bound to exactly `addr`.
pub fn adopt(service: Service, addr: SocketAddr, fd: RawFd) -> Result<Bound, BindError> {
    let error = |source| BindError {
        service,
        addr,
        source,
    };
    // SAFETY: F_GETFD only reads the descriptor table; -1 means not open.
    if fd < 0 || unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
        return Err(error(io::Error::other(format!(
            "inherited descriptor {fd} is not open"
        ))));
    }
    // SAFETY: the descriptor is open (checked above) and nothing else in
    // this process owns it: it arrived open across exec, under the number
    // the parent put on our command line, so no code here created it, and
    // `Server::adopt` takes each number once.
    let socket = socket2::Socket::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let not_ours = || {
        error(io::Error::other(format!(
            "inherited descriptor {fd} is not a {} socket bound to {addr}",
            service.proto()
        )))
    };
    let want = if service.is_udp() {
        Type::DGRAM
    } else {
        Type::STREAM
    };
    if socket.r#type().map_err(error)? != want
        || socket.local_addr().map_err(error)?.as_socket() != Some(addr)
        || (!service.is_udp() && !socket.is_listener().map_err(error)?)
    {
        return Err(not_ours());
    }
    // Already set by the parent (the flag is shared with its copy); cheap
    // to make sure, since a blocking socket would stall the loop.
    socket.set_nonblocking(true).map_err(error)?;
    Ok(if service.is_udp() {
        Bound::Udp(service, mio::net::UdpSocket::from_std(socket.into()))
    } else {
        Bound::Tcp(service, mio::net::TcpListener::from_std(socket.into()))
    })
}

fn bind_one(service: Service, addr: SocketAddr, reuse_port: bool) -> io::Result<Bound> {
    let domain = Domain::for_address(addr);
    let socket = if service.is_udp() {
        Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?
    } else {
        Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?
    };
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    if !service.is_udp() {
        socket.set_reuse_address(true)?;
    }
    // Workers share every service port; the metrics endpoint is per worker
    // (each has its own counters), so it never shares.
    if reuse_port && service != Service::Metrics {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    if service.is_udp() {
        let udp: std::net::UdpSocket = socket.into();
        Ok(Bound::Udp(service, mio::net::UdpSocket::from_std(udp)))
    } else {
        socket.listen(LISTEN_BACKLOG)?;
        let tcp: std::net::TcpListener = socket.into();
        Ok(Bound::Tcp(service, mio::net::TcpListener::from_std(tcp)))
    }
}
