//! The one nonblocking write both event loops (server and generator) make.
//!
//! Kept in one place so the readiness rules for a write are implemented,
//! and commented, once: the server's `server::conn` and the generator's
//! `load::conn` both call [`write_some`].

use std::io::{self, ErrorKind, Write};

/// Writes as much of `bytes` as the kernel takes now; returns how much.
///
/// Readiness rules: `Interrupted` is retried; `WouldBlock` ends the attempt
/// with a short count (the caller keeps the rest and waits for WRITABLE,
/// which the kernel raises once the send buffer has room again); `Ok(0)`
/// for a non-empty buffer means the socket cannot take data and is reported
/// as `WriteZero`.
pub fn write_some(stream: &mut impl Write, bytes: &[u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < bytes.len() {
        match stream.write(&bytes[done..]) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that takes `room` bytes, then would block.
    struct Pipe {
        taken: Vec<u8>,
        room: usize,
        interrupt_once: bool,
    }

    impl Write for Pipe {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if std::mem::take(&mut self.interrupt_once) {
                return Err(ErrorKind::Interrupted.into());
            }
            if self.room == 0 {
                return Err(ErrorKind::WouldBlock.into());
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
            taken: vec![],
            room: 7,
            interrupt_once: true,
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
}
