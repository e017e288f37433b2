#!/usr/bin/env python3
"""bench_maps - the complete page-table dump of a Linux-like x86-64 guest (an espfix-like
area of 65,536 aliases and thousands of ordinary mappings: qemu-tests guest x86_64_espfix),
from stock GDB: `monitor maps` through rspbridge, cold (cache flushed) and warm, its --all
and --json forms, against QEMU's own `monitor info tlb` on an identical guest with GDB
connected to QEMU directly, in interleaved rounds of the same run.  Also the first output
on a new connection against the next one, and the same maps commands with a client that
only collects the output (the bridge's own time: GDB's cost per character of output is
most of the time above).  Prints times and ratios; never asserts timings.

    bench_maps.py --bridge RSPBRIDGE --build-dir BUILD [--rounds N] [--short]

Exit 77 (skip) when QEMU, GDB or the guest is missing, 1 with RSP_NO_SKIP=1.
"""

import argparse
import os
import socket
import subprocess
import time
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
HARNESS = os.path.join(HERE, "..", "..", "qemu-tests", "harness")
sys.path.insert(0, HARNESS)
import layout  # noqa: E402
import procs  # noqa: E402
import runner  # noqa: E402


def rsp_packet(body):
    return b"$" + body + b"#%02x" % (sum(body) & 0xFF)


class RawClient:
    """A minimal GDB-like client on a socket: no-ack mode, like GDB after qSupported."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.ack = True
        self.request(b"qSupported:multiprocess+;swbreak+;hwbreak+;qRelocInsn+")
        self.request(b"QStartNoAckMode")
        self.ack = False

    def send(self, body):
        self.sock.sendall(rsp_packet(body))

    def packet(self):
        while True:
            i = self.buf.find(b"$")
            j = self.buf.find(b"#", i) if i >= 0 else -1
            if i >= 0 and j >= 0 and len(self.buf) >= j + 3:
                body, self.buf = self.buf[i + 1 : j], self.buf[j + 3 :]
                if self.ack:
                    self.sock.sendall(b"+")
                return body
            data = self.sock.recv(1 << 20)
            if not data:
                raise OSError("connection closed")
            self.buf += data

    def request(self, body):
        self.send(body)
        return self.packet()

    def monitor(self, cmd):
        """(seconds to the first output packet, seconds to the final reply, bytes of text)."""
        t0 = time.perf_counter()
        self.send(b"qRcmd," + cmd.encode().hex().encode())
        first, text = None, 0
        while True:
            p = self.packet()
            if p.startswith(b"O") and p != b"OK":
                first = first or time.perf_counter() - t0
                text += (len(p) - 1) // 2
                continue
            return first or 0.0, time.perf_counter() - t0, text

    def close(self):
        self.sock.close()


def first_output(port, rounds):
    """The first large monitor output on a new connection against the next on the same one,
    both cold (the cache flushed in between: a warm re-read is not what is compared).  The
    bridge's very first connection (target discovery, first buffers) is shown on its own."""
    cmd = "phys read 0x100000 0x20000"
    res = {"new": [], "again": []}
    first_ever = None
    for r in range(rounds + 1):
        for attempt in range(100):  # the bridge takes one client: until it saw the last one go
            try:
                c = RawClient(port)
                break
            except OSError:
                if attempt == 99:
                    raise
        new = c.monitor(cmd)
        c.monitor("cache flush")
        again = c.monitor(cmd)
        c.close()
        if r == 0:
            first_ever = (new, again)
            continue
        res["new"].append(new)
        res["again"].append(again)
    print("bench_maps: the bridge's first connection: first output %.1f ms, whole %.1f ms; the same again %.1f ms"
          % (first_ever[0][0] * 1e3, first_ever[0][1] * 1e3, first_ever[1][1] * 1e3))
    for k in ("new", "again"):
        firsts = sorted(r[0] for r in res[k])
        totals = sorted(r[1] for r in res[k])
        print("bench_maps: %-5s connection: first output %.1f ms, whole %.1f ms (%d KiB of text; medians of %d)"
              % (k, firsts[len(firsts) // 2] * 1e3, totals[len(totals) // 2] * 1e3, res[k][0][2] >> 10, rounds))
    new = sorted(r[1] for r in res["new"])[rounds // 2]
    again = sorted(r[1] for r in res["again"])[rounds // 2]
    print("bench_maps: ratio new connection / same connection: %.2f" % (new / again))


def bridge_alone(port, elf, stop, rounds):
    """maps and its --all/--json forms with a client that only collects the hex: the bridge's
    own time, against the times from GDB (which decodes and prints every character)."""
    try:
        out = subprocess.run(["nm", elf], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        print("bench_maps: no nm: the bridge-alone times are left out")
        return
    addrs = [int(f[0], 16) for f in (l.split() for l in out.splitlines()) if len(f) == 3 and f[2] == stop]
    if not addrs:
        print("bench_maps: no symbol %s: the bridge-alone times are left out" % stop)
        return
    c = RawClient(port)
    try:
        c.request(b"Z1,%x,1" % addrs[0])
        c.send(b"c")
        c.packet()  # the stop reply
        c.request(b"z1,%x,1" % addrs[0])
        med = {}
        for cmd in ("maps", "maps --json", "maps --all", "maps --all --json"):
            runs = sorted(c.monitor(cmd) for _ in range(rounds))
            med[cmd] = runs[len(runs) // 2]
            print("bench_maps: bridge alone (warm, raw client): %-17s %6.1f ms, %8d bytes of text"
                  % (cmd, med[cmd][1] * 1e3, med[cmd][2]))
        for a, b in (("maps --json", "maps"), ("maps --all --json", "maps --all")):
            print("bench_maps: bridge alone: %s / %s: time %.2f, bytes %.2f"
                  % (a, b, med[a][1] / med[b][1], med[a][2] / med[b][2]))
    finally:
        c.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bridge", required=True)
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--short", action="store_true")
    ap.add_argument("--bridge-arg", action="append", default=[])
    args = ap.parse_args()
    no_skip = os.environ.get("RSP_NO_SKIP") == "1"
    guest = os.path.join(args.build_dir, "qemu-tests", "guests", "x86_64_espfix")
    lay_path = os.path.join(HERE, "..", "..", "qemu-tests", "layouts", "x86_64_espfix.layout")
    kernel, elf = os.path.join(guest, "guest.img"), os.path.join(guest, "guest.elf")
    rc = 1
    try:
        lay = layout.Layout(lay_path)
        argv = runner.gdb_argv(lay, os.path.join(HERE, "maps_gdb.py"))
        with runner.session(lay, kernel) as direct, runner.session(lay, kernel, args.bridge, bridge_args=args.bridge_arg) as via:
            first_output(via.port, 3 if args.short else 9)
            bridge_alone(via.port, elf, lay.stop, 3 if args.short else 7)
            env = dict(os.environ)
            env.update(
                RSPT_PORT=str(via.port),
                RSPT_DIRECT_PORT=str(direct.port),
                RSPT_LAYOUT=os.path.abspath(lay_path),
                RSPT_ELF=os.path.abspath(elf),
                RSPT_BRIDGE="1",
                RSPB_ROUNDS=str(2 if args.short else args.rounds),
            )
            g = procs.spawn(argv, env=env)
            try:
                rc = g.wait(900)
            except subprocess.TimeoutExpired:
                print("bench_maps: timeout", file=sys.stderr)
                rc = 1
            finally:
                procs.reap(g)
    except procs.Skip as e:
        print("bench_maps: %s" % e, file=sys.stderr)
        return 1 if no_skip else procs.SKIP
    finally:
        procs.reap_all()
    return rc


if __name__ == "__main__":
    sys.exit(main())
