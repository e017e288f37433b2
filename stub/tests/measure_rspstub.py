#!/usr/bin/env python3
"""Measures rspstub on a dump it makes with QEMU, next to the live QEMU gdbstub.

    measure_rspstub.py --rspstub PATH [--mb 32]

Boots plain QEMU (stopped at the BIOS, 128 MiB), dumps it with dump-guest-memory, serves
the dump with rspstub, and reports for both targets over loopback TCP, with one request
in flight at a time: the round trip of a tiny packet (qC for rspstub, qAttached for QEMU)
and the physical read rate with m packets of 0x800 bytes in Qqemu.PhyMemMode (QEMU's
largest m), plus rspstub with larger packets.  Not a pass/fail test.
"""

import argparse
import os
import re
import socket
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "qemu-tests", "harness"))
import procs  # noqa: E402
from rspstub_qemu import QMP  # noqa: E402


class Client:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.noack = False

    def req(self, body):
        self.s.sendall(b"$" + body + b"#%02x" % (sum(body) & 0xFF))
        while True:
            m = re.search(rb"\$([^#]*)#..", self.buf)
            if m:
                self.buf = self.buf[m.end():]
                if not self.noack:
                    self.s.sendall(b"+")
                return m.group(1)
            self.buf += self.s.recv(1 << 16)


def measure(port, name, tiny, mb, chunk, noack):
    c = Client(port)
    if noack and c.req(b"QStartNoAckMode") == b"OK":
        c.noack = True
    n = 2000
    t = time.perf_counter()
    for _ in range(n):
        c.req(tiny)
    rtt = (time.perf_counter() - t) / n * 1e6
    assert c.req(b"Qqemu.PhyMemMode:1") == b"OK"
    total = mb << 20
    t = time.perf_counter()
    addr = 0x100000
    got = 0
    while got < total:
        r = c.req(b"m%x,%x" % (addr + got, chunk))
        if r.startswith(b"E") and len(r) == 3:
            raise RuntimeError("read error at %#x: %r" % (addr + got, r))
        got += len(r) // 2
    rate = total / (time.perf_counter() - t) / 1e6
    c.req(b"Qqemu.PhyMemMode:0")
    print("%-28s tiny packet %6.1f us   phys m,%#x  %7.1f MB/s" % (name, rtt, chunk, rate))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rspstub", required=True)
    ap.add_argument("--mb", type=int, default=32)
    a = ap.parse_args()
    qemu = procs.require("qemu-system-x86_64", "QEMU")
    tmp = tempfile.mkdtemp(prefix="measure_rspstub_")
    qsock = os.path.join(tmp, "qmp.sock")
    core = os.path.join(tmp, "bios.core")
    q, qport = procs.start_listener(
        lambda p: [qemu, "-m", "128M", "-nodefaults", "-display", "none", "-S",
                   "-qmp", "unix:%s,server=on,wait=off" % qsock, "-gdb", "tcp:127.0.0.1:%d" % p],
        "QEMU")
    try:
        qmp = QMP(qsock)
        qmp.cmd("dump-guest-memory", paging=False, protocol="file:" + core)
        measure(qport, "QEMU 7.2 gdbstub (live)", b"qAttached", a.mb, 0x800, False)
        for pkt in (4096, 65536):
            s, sport = procs.start_listener(
                lambda p: [a.rspstub, "--listen", str(p), "--packet-size", str(pkt), core],
                "rspstub", stderr=open(os.devnull, "w"))
            try:
                measure(sport, "rspstub (ack mode)", b"qC", a.mb, 0x800, False)
                measure(sport, "rspstub (no-ack)", b"qC", a.mb, 0x800, True)
                if pkt > 4096:
                    measure(sport, "rspstub PacketSize=%#x" % pkt, b"qC", a.mb, pkt // 2 - 8,
                            True)
            finally:
                procs.reap(s)
        qmp.close()
    finally:
        procs.reap(q)
        for n in os.listdir(tmp):
            os.unlink(os.path.join(tmp, n))
        os.rmdir(tmp)


if __name__ == "__main__":
    sys.exit(main())
