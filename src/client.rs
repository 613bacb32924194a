//! `sockloop client`: the tutorial's client, for trying a service by hand.
//!
//! Blocking std sockets and one helper thread are the right tool here: one
//! connection, a human at the keyboard, and stdin cannot be polled by mio
//! when it is a file. TCP: stdin lines go out, everything that comes back
//! goes to stdout, and the client exits when either side closes. UDP: one
//! datagram per stdin line, each reply printed on its own line.

use crate::error::Error;
use crate::flags::{TIMER_RESOLUTION_SECS, connect_addr, secs_in, show_secs};
use clap::Args;
use std::io::{self, BufRead, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

/// `sockloop client ADDR`.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// The service's address: `IP:PORT`, `[IPv6]:PORT` or `HOST:PORT`, e.g.
    /// 127.0.0.1:7001. The port is required: the client talks to any
    /// service, so it has no default port.
    #[arg(value_parser = |s: &str| connect_addr(s, None))]
    pub addr: SocketAddr,
    /// Use UDP datagrams instead of a TCP connection.
    #[arg(long)]
    pub udp: bool,
    /// Send this one message (TCP: as a line), print the reply, exit.
    #[arg(short = 'm', long, value_name = "MESSAGE")]
    pub message: Option<String>,
    /// UDP: how long to wait for a reply (seconds).
    #[arg(long, value_name = "SECS", default_value = "2", allow_negative_numbers = true,
          value_parser = secs_in(TIMER_RESOLUTION_SECS, None))]
    pub timeout: Duration,
}

/// Runs the client.
pub fn run(args: &ClientArgs) -> Result<(), Error> {
    let addr = args.addr;
    let result = if args.udp {
        udp(addr, args)
    } else {
        tcp(addr, args.message.as_deref())
    };
    result.map_err(|e| format!("client {addr}: {e}").into())
}

fn tcp(addr: SocketAddr, message: Option<&str>) -> io::Result<()> {
    let mut stream = TcpStream::connect(addr)?;
    match message {
        Some(m) => {
            // One line, then our FIN: every service answers what it got and
            // closes, so reading to the end collects the whole reply.
            stream.write_all(m.as_bytes())?;
            stream.write_all(b"\n")?;
            stream.shutdown(Shutdown::Write)?;
        }
        None => {
            let mut to_server = stream.try_clone()?;
            std::thread::spawn(move || {
                let _ = io::copy(&mut io::stdin().lock(), &mut to_server);
                // stdin ended: tell the server we are done sending.
                let _ = to_server.shutdown(Shutdown::Write);
            });
        }
    }
    let mut stdout = io::stdout().lock();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                stdout.write_all(&buf[..n])?;
                stdout.flush()?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // The server reset the connection after its last reply.
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

fn udp(addr: SocketAddr, args: &ClientArgs) -> io::Result<()> {
    let local: SocketAddr = if addr.is_ipv6() {
        "[::]:0".parse().map_err(io::Error::other)?
    } else {
        "0.0.0.0:0".parse().map_err(io::Error::other)?
    };
    let socket = UdpSocket::bind(local)?;
    socket.connect(addr)?;
    socket.set_read_timeout(Some(args.timeout))?;
    let send_and_print = |payload: &[u8]| -> io::Result<()> {
        socket.send(payload)?;
        let mut buf = vec![0u8; crate::protocol::udp::MAX_DATAGRAM];
        match socket.recv(&mut buf) {
            Ok(n) => {
                let mut out = io::stdout().lock();
                out.write_all(&buf[..n])?;
                out.write_all(b"\n")?;
                out.flush()
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                eprintln!(
                    "sent {} bytes; no reply within {} (udp-log never replies)",
                    payload.len(),
                    show_secs(args.timeout)
                );
                Ok(())
            }
            Err(e) => Err(e),
        }
    };
    match &args.message {
        Some(m) => send_and_print(m.as_bytes()),
        None => {
            for line in io::stdin().lock().lines() {
                send_and_print(line?.as_bytes())?;
            }
            Ok(())
        }
    }
}
