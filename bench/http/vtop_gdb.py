"""Inside GDB, started by bench_http_qemu.py: the same `vtop VA --json` N times through
GDB's monitor and N times over HTTP keep-alive, in interleaved rounds; medians."""

import json
import os
import socket
import statistics
import sys
import time

import gdb
import gdbside
import procs

sys.path.insert(0, os.environ["RSPB_PY"])
import rspbridge  # noqa: E402


class Raw:
    """Keep-alive GETs on one socket, no http.client: what the endpoint costs without
    the Python client's own overhead."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def get(self, path):
        self.s.sendall(b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % path.encode())
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                head = self.buf[:i].lower()
                k = head.find(b"content-length:")
                n = int(head[k + 15:].split(b"\r\n")[0])
                if len(self.buf) >= i + 4 + n:
                    body, self.buf = self.buf[i + 4:i + 4 + n], self.buf[i + 4 + n:]
                    return head.split(b" ")[1], body
            d = self.s.recv(65536)
            if not d:
                raise OSError("closed")
            self.buf += d


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
    raw = Raw(port)
    st, body = raw.get("/v1/vtop?va=%#x" % vas[0])
    t.require(st == b"200" and json.loads(body) == b.vtop(vas[0]), "raw GET: %s %r" % (st, body[:100]))
    res = {"gdb": [], "http": [], "raw": []}
    for _ in range(rounds):
        t0 = time.perf_counter()
        for i in range(n):
            gdb.execute("monitor vtop %#x --json" % vas[i % len(vas)], to_string=True)
        res["gdb"].append(n / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        for i in range(n):
            b.vtop(vas[i % len(vas)])
        res["http"].append(n / (time.perf_counter() - t0))
        paths = ["/v1/vtop?va=%#x" % va for va in vas]
        t0 = time.perf_counter()
        for i in range(n):
            raw.get(paths[i % len(paths)])
        res["raw"].append(n / (time.perf_counter() - t0))
    g, h, r = (statistics.median(res[k]) for k in ("gdb", "http", "raw"))
    t.log("vtop --json, %d requests x %d rounds, medians:" % (n, rounds))
    t.log("  GDB monitor (qRcmd through the bridge): %8.0f requests/s" % g)
    t.log("  HTTP keep-alive (python client):        %8.0f requests/s" % h)
    t.log("  HTTP keep-alive (raw socket client):    %8.0f requests/s" % r)
    t.log("  ratio HTTP / GDB monitor: %.2f (python client), %.2f (raw socket)" % (h / g, r / g))
    b.close()


gdbside.run(main)
