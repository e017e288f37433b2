"""Inside GDB, started by bench_http_qemu.py: the same `vtop VA --json` N times through
GDB's monitor and N times over HTTP keep-alive, in interleaved rounds; medians."""

import json
import os
import statistics
import sys
import time

import gdb
import gdbside
import procs

sys.path.insert(0, os.environ["RSPB_PY"])
import rspbridge  # noqa: E402


def main(t):
    rounds, n = int(os.environ["RSPB_ROUNDS"]), int(os.environ["RSPB_N"])
    port, pid = int(os.environ["RSPT_HTTP_PORT"]), int(os.environ["RSPT_BRIDGE_PID"])
    deadline = time.monotonic() + 20  # hang guard
    while not procs.listening(port, pid):
        t.require(time.monotonic() < deadline, "no HTTP endpoint on port %d" % port)
        time.sleep(0.05)
    t.connect()
    t.to_stop()
    L = t.layout
    vas = [m.va + 0x10 for m in L.maps if m.root == L.roots[0]][:8]
    b = rspbridge.Bridge("http://127.0.0.1:%d" % port)
    # Same answers both ways (a benchmark of different work would mean nothing).
    for va in vas:
        j = json.loads(gdb.execute("monitor vtop %#x --json" % va, to_string=True))
        t.require(b.vtop(va) == j, "vtop %#x: HTTP and GDB disagree" % va)
    res = {"gdb": [], "http": []}
    for _ in range(rounds):
        t0 = time.perf_counter()
        for i in range(n):
            gdb.execute("monitor vtop %#x --json" % vas[i % len(vas)], to_string=True)
        res["gdb"].append(n / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        for i in range(n):
            b.vtop(vas[i % len(vas)])
        res["http"].append(n / (time.perf_counter() - t0))
    g, h = statistics.median(res["gdb"]), statistics.median(res["http"])
    t.log("vtop --json, %d requests x %d rounds, medians:" % (n, rounds))
    t.log("  GDB monitor (qRcmd through the bridge): %8.0f requests/s" % g)
    t.log("  HTTP keep-alive (python client):        %8.0f requests/s" % h)
    t.log("  ratio HTTP / GDB monitor: %.2f" % (h / g))
    b.close()


gdbside.run(main)
