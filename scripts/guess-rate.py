#!/usr/bin/env python3
"""Measures how fast one source can guess login passwords.

Usage: scripts/guess-rate.py LOGIN_ADDR [SECONDS] [CONNS] [USER]

Opens CONNS connections from 127.0.0.1 to the login service and, on each,
sends three wrong guesses at once (USER, then a different password each
time; the server closes a connection after the third failure), reads the
replies to the end, and reconnects, for SECONDS. Prints the number of
guesses the server answered (an `ERR invalid credentials` or `ERR too many
failed attempts` reply, each one checked password), per second, and the
connections refused at accept. Nothing but the standard library: a
`selectors` loop, so the client is one thread like the server.
"""
import selectors
import socket
import sys
import time

FAIL = (b"ERR invalid credentials\n", b"ERR too many failed attempts\n")


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
    conns = int(sys.argv[3]) if len(sys.argv) > 3 else 64
    user = sys.argv[4] if len(sys.argv) > 4 else "admin"
    sel = selectors.DefaultSelector()
    counts = {"guesses": 0, "refused": 0, "connections": 0, "connect_errors": 0}
    serial = [0]

    def open_one():
        s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            s.connect((host.strip("[]"), int(port)))
        except OSError:
            # The backlog overflowed, or no ephemeral port is free: retry soon.
            counts["connect_errors"] += 1
            s.close()
            time.sleep(0.01)
            return open_one() if time.monotonic() < end else None
        s.setblocking(False)
        batch = b""
        for _ in range(3):
            serial[0] += 1
            batch += f"{user}\nwrong-{serial[0]}\n".encode()
        s.sendall(batch)
        counts["connections"] += 1
        sel.register(s, selectors.EVENT_READ, bytearray())

    end = time.monotonic() + seconds
    for _ in range(conns):
        open_one()
    while time.monotonic() < end:
        for key, _ in sel.select(timeout=max(0.0, end - time.monotonic())):
            s, buf = key.fileobj, key.data
            try:
                data = s.recv(65536)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                data = b""
            buf.extend(data)
            while b"\n" in buf:
                line, _, rest = bytes(buf).partition(b"\n")
                buf[:] = rest
                line += b"\n"
                if line in FAIL:
                    counts["guesses"] += 1
                elif line.startswith(b"ERR"):
                    # Refused at accept: an attacker retries; not too fast
                    # for this machine's sake (10 ms).
                    counts["refused"] += 1
                    time.sleep(0.01)
            if not data:
                sel.unregister(s)
                s.close()
                if time.monotonic() < end:
                    open_one()
    print(
        f"{counts['guesses']} guesses in {seconds:.0f} s = "
        f"{counts['guesses'] / seconds:.1f} guesses/s from one source "
        f"({conns} connections at a time, {counts['connections']} opened, "
        f"{counts['refused']} refused at accept, {counts['connect_errors']} connect errors)"
    )


if __name__ == "__main__":
    main()
