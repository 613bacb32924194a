#!/usr/bin/env python3
"""Memory growth of an echo server per client that sends and never reads.

Starts SERVER_CMD (it must print `listening echo tcp ADDR`), reads its
RssAnon from /proc/PID/status, opens --clients connections that each push
64 KiB writes for --secs seconds and never read, waits until the server's
RssAnon stops changing, and prints the growth in total and per client.
RssAnon is the server's own unique anonymous memory: the kernel's socket
buffers are in nobody's RSS.

The clients advertise an MSS of --mss (1460: an Ethernet path; loopback's
65,483 would make the kernel size each server send buffer for 64 KiB
segments, over a megabyte per connection, so 2,000 slow readers would pin
gigabytes of kernel memory) and use 16 KiB socket buffers.

Bounded: --clients <= 10,000, --secs <= 30, 3 s more for RSS to settle.
Used for the "Slow readers" row of docs/benchmarks.md:

  scripts/slow-readers.py -- target/release/sockloop serve --echo 127.0.0.1:0 \\
      --greet off --login off --command off --udp-echo off --udp-log off
"""

import argparse
import os
import socket
import subprocess
import sys
import time

CHUNK = b"x" * 65536


def rss_anon_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    raise RuntimeError("no RssAnon")


def settled_rss(pid, limit_s=3.0):
    """RssAnon once two reads 200 ms apart agree (at most limit_s)."""
    last = rss_anon_kib(pid)
    until = time.monotonic() + limit_s
    while time.monotonic() < until:
        time.sleep(0.2)
        now = rss_anon_kib(pid)
        if now == last:
            return now
        last = now
    return last


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clients", type=int, default=2000)
    p.add_argument("--secs", type=float, default=2.0)
    p.add_argument("--mss", type=int, default=1460)
    p.add_argument("--label", default=None)
    p.add_argument("cmd", nargs="+")
    a = p.parse_args()
    if not (1 <= a.clients <= 10000 and 0 < a.secs <= 30):
        sys.exit("--clients 1..10000, --secs up to 30")
    server = subprocess.Popen(a.cmd, stdout=subprocess.PIPE, text=True)
    try:
        addr = None
        for line in server.stdout:
            if line.startswith("listening echo tcp "):
                host, port = line.split()[-1].rsplit(":", 1)
                addr = (host, int(port))
                break
        if addr is None:
            sys.exit("server printed no `listening echo tcp` line")
        before = settled_rss(server.pid)
        clients = []
        for _ in range(a.clients):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, a.mss)
            s.connect(addr)
            s.setblocking(False)
            clients.append(s)
        sent = 0
        until = time.monotonic() + a.secs
        while time.monotonic() < until:
            progress = False
            for s in clients:
                try:
                    sent += s.send(CHUNK)
                    progress = True
                except BlockingIOError:
                    pass
            if not progress:
                time.sleep(0.01)
        after = settled_rss(server.pid)
        growth = after - before
        label = a.label or os.path.basename(a.cmd[0])
        print(
            f"{label}: {a.clients} clients sent {sent / 2**20:.1f} MiB, "
            f"RssAnon {before} -> {after} KiB: growth {growth / 1024:.1f} MiB, "
            f"{growth * 1024 / a.clients:.0f} B per client"
        )
        for s in clients:
            s.close()
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__":
    main()
