//! Binding the listeners: one TCP listener or UDP socket per service.
//!
//! Uses socket2 to set what std cannot before `bind`/`listen`: SO_REUSEADDR
//! (restart while old connections sit in TIME_WAIT), IPV6_V6ONLY (an IPv6
//! address means only IPv6), SO_REUSEPORT when several workers share a port,
//! and the listen backlog. Everything is bound before anything is served, so
//! a failure leaves nothing half-started.

use crate::protocol::Service;
use socket2::{Domain, Protocol, Socket, Type};
use std::fmt;
use std::io;
use std::net::SocketAddr;

/// The listen backlog asked for. Linux silently caps it at
/// `net.core.somaxconn` (4096 by default since 5.4); asking for that much
/// lets a connect burst queue in the kernel instead of being refused.
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
