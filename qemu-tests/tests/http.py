"""rspbridge --http end to end (runs inside GDB; runner.py --bridge ...
--bridge-arg=--http --bridge-arg=127.0.0.1:@HTTP_PORT@ [--bridge-arg=--read-only]).

Through the repo's Python client (python/rspbridge): every endpoint answers what the
monitor command answers through GDB (`monitor vtop VA --json` and the others), physical
and virtual reads equal the layout's byte patterns and GDB's reads, writes are refused
under --read-only (and go through otherwise, then are put back), bad input gets 400/404.
Then HTTP clients in another process while GDB steps (answers stay right, GDB's
transcript has nothing of theirs) and while GDB continues (409, the guest is not paused
for them; the client stops the guest with ^C through GDB once it saw the 409)."""

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time

import gdbside
import procs

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))
import rspbridge  # noqa: E402 - from the tree

# Runs in a plain python3 (not GDB's): HTTP requests in a loop while GDB works.
# argv: port, mode ("step": until stdin closes; "run": until a 409, then SIGINT to GDB),
# gdb pid, the expected vtop documents (JSON {va: doc}).
CLIENT = r"""
import json, os, signal, sys, threading, time
sys.path.insert(0, %(py)r)
import rspbridge
port, mode, gdb_pid, want = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
stop = threading.Event()
if mode == "step":
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
b = rspbridge.Bridge("http://127.0.0.1:%%d" %% port, timeout=30)
res = {"ok": 0, "wrong": [], "running": 0, "errors": []}
deadline = time.monotonic() + 60  # a hang guard, not a measure
while not stop.is_set() and time.monotonic() < deadline:
    for va, doc in want.items():
        try:
            got = b.vtop(int(va, 16))
            if got == doc:
                res["ok"] += 1
            else:
                res["wrong"].append([va, got])
        except rspbridge.Error as e:
            if e.status == 409:
                res["running"] += 1
            else:
                res["errors"].append([va, e.status, e.doc])
    if mode == "run" and res["running"]:
        break
if mode == "run":
    os.kill(gdb_pid, signal.SIGINT)  # the guest runs until GDB's ^C
print(json.dumps(res))
"""


def raw(port, method, path, body=None, headers=None):
    """(status, parsed JSON or bytes) of one request on its own connection."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        try:
            return r.status, json.loads(data)
        except ValueError:
            return r.status, data
    finally:
        c.close()


def raw_bytes(port, data):
    """The status of the answer to bytes sent as they are (the server then closes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(data)
        got = b""
        while b"\r\n" not in got:
            d = s.recv(4096)
            if not d:
                break
            got += d
    parts = got.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def spawn_client(t, port, mode, want):
    script = CLIENT % {"py": os.path.join(ROOT, "python")}
    return subprocess.Popen(
        ["python3", "-c",
         script, str(port), mode, str(os.getpid()), json.dumps(want)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )


def client_result(t, p, what):
    try:
        out, _ = p.communicate(input="", timeout=120)  # "step" ends when its stdin closes
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise gdbside.Fail("%s: the HTTP client process did not end" % what)
    t.require(p.returncode == 0, "%s: the HTTP client process failed (%s)" % (what, p.returncode))
    return json.loads(out.strip().splitlines()[-1])


def capture(t, cmds):
    """GDB's output of cmds, all of it."""
    return "".join(t.gdb(c) for c in cmds)


def main(t):
    port = int(os.environ.get("RSPT_HTTP_PORT") or 0)
    t.require(port, "no RSPT_HTTP_PORT: register this test with --http 127.0.0.1:@HTTP_PORT@")
    ro = "--read-only" in os.environ.get("RSPT_BRIDGE_ARGS", "").split()
    pid = int(os.environ.get("RSPT_BRIDGE_PID") or 0)
    deadline = time.monotonic() + 20  # hang guard: the bridge starts HTTP right after GDB's port
    while not procs.listening(port, pid or None):
        t.require(time.monotonic() < deadline, "rspbridge does not listen on HTTP port %d" % port)
        time.sleep(0.05)
    b = rspbridge.Bridge("http://127.0.0.1:%d" % port, timeout=60)
    L = t.layout
    t.connect()
    t.to_stop()

    tg = b.target()
    t.check(tg.get("run_state") == "stopped" and tg.get("sessions") == 1, "target: %s" % tg)

    # Translations: the same documents as through GDB.
    user = next(m for m in L.maps if m.root == L.roots[0] and m.name == "user")
    hole = next((va for r, va, _ in L.holes if r == L.roots[0]), None)
    vas = [user.va + 0x100, L.counter] + [m.va + m.size // 2 for m in L.maps if m.root == L.roots[0]][:6]
    want_vtop = {}
    for va in vas:
        for cmd, fn in (("vtop", b.vtop), ("pte", b.pte)):
            j, ok = t.monitor_json("%s %#x" % (cmd, va))
            try:
                h = fn(va)
            except rspbridge.Error as e:
                h = e.doc
                t.check(not ok, "%s %#x: HTTP %d %s, GDB %s" % (cmd, va, e.status, h, j))
            t.check(h == j, "%s %#x: HTTP %s != GDB %s" % (cmd, va, h, j))
            if cmd == "vtop" and ok:
                want_vtop["%#x" % va] = j
    t.require(want_vtop, "no VA translated")
    j, ok = t.monitor_json("ptov %#x" % user.pa)
    t.check(ok and b.ptov(user.pa) == j, "ptov %#x: HTTP != GDB %s" % (user.pa, j))
    j, ok = t.monitor_json("maps")
    t.check(ok and b.maps() == j, "maps: HTTP != GDB")
    lo, hi = user.va, user.va + user.size
    j, ok = t.monitor_json("maps %#x %#x" % (lo, hi))
    t.check(ok and b.maps(lo, hi) == j, "maps %#x %#x: HTTP != GDB %s" % (lo, hi, j))
    c = b.cache()
    t.check(isinstance(c, dict) and "error" not in c, "cache: %s" % c)
    out = b.monitor("vtop %#x --json" % user.va)
    t.check(json.loads(out) == t.monitor_json("vtop %#x" % user.va)[0], "POST /v1/monitor: %r" % out)
    regs = b.regs().get("regs", {})
    pcname = {"x86": "rip" if L.mode.word == 8 else "eip", "arm64": "pc", "riscv": "pc"}[L.mode.family]
    t.check(int(regs.get(pcname, "-1"), 16) == t.reg("pc"), "regs: %s %s != $pc %#x" % (pcname, regs.get(pcname), t.reg("pc")))

    # Memory: the layout's patterns, GDB's reads.
    base, _size = L.patterns[0]
    want = b"".join(L.pattern_word(base + i).to_bytes(8, "little") for i in range(0, 0x80, 8))
    got = b.read_phys(base, 0x80)
    t.check(got == want, "phys %#x: %s, want the pattern" % (base, got[:16].hex()))
    t.check(got[:64] == b"".join(w.to_bytes(8, "little") for w in t.xp(base, 8, 8)), "phys %#x != GDB's xp" % base)
    va = user.va + 0x100
    got = b.read_virt(va, 0x40)
    t.check(got == t.read_virt(va, 0x40), "virt %#x != GDB's read" % va)
    pw = L.pattern_word(user.pa + 0x100)
    if pw is not None:
        t.check(got[:8] == pw.to_bytes(8, "little"), "virt %#x: %s, want the pattern" % (va, got[:8].hex()))

    # Writes.
    pa = user.pa + 0x100
    before = b.read_phys(pa, 8)
    new = bytes(x ^ 0x5A for x in before)
    if ro:
        try:
            b.write_phys(pa, new)
            t.check(False, "PUT /v1/phys went through a read-only bridge")
        except rspbridge.Error as e:
            t.check(e.status == 403, "PUT /v1/phys read-only: %d %s" % (e.status, e.doc))
        try:
            b.write_virt(va, new)
            t.check(False, "PUT /v1/virt went through a read-only bridge")
        except rspbridge.Error as e:
            t.check(e.status == 403, "PUT /v1/virt read-only: %d %s" % (e.status, e.doc))
        t.check(b.read_phys(pa, 8) == before and t.xp(pa, 1, 8)[0] == int.from_bytes(before, "little"),
                "memory at %#x changed under a read-only bridge" % pa)
    else:
        b.write_phys(pa, new)
        t.gdb("maintenance flush dcache")
        t.check(t.xp(pa, 1, 8)[0] == int.from_bytes(new, "little"), "PUT /v1/phys %#x: GDB reads no change" % pa)
        b.write_virt(va, before)
        t.check(t.xp(pa, 1, 8)[0] == int.from_bytes(before, "little"), "PUT /v1/virt %#x: not put back" % va)

    # Bad input.
    bad = [
        ("GET", "/v1/vtop", 400), ("GET", "/v1/vtop?va=zz", 400), ("GET", "/v1/vtop?va=0x1&bogus=1", 400),
        ("GET", "/v1/phys?pa=0x0&len=0", 400), ("GET", "/v1/maps?lo=0x2000", 400), ("GET", "/v1/nope", 404),
        ("POST", "/v1/monitor", 400),
    ]
    if hole is not None:
        bad.append(("GET", "/v1/vtop?va=%#x" % hole, 404))
        bad.append(("GET", "/v1/virt?va=%#x&len=0x10" % hole, 404))
    for method, path, status in bad:
        st, doc = raw(port, method, path, body=b"" if method == "POST" else None)
        t.check(st == status and isinstance(doc, dict) and "error" in doc, "%s %s: %d %r, want %d" % (method, path, st, doc, status))
    st, _ = raw(port, "GET", "/v1/target", headers={"X-Big": "a" * 20000})
    t.check(st == 431, "huge header: %d, want 431" % st)
    st = raw_bytes(port, b"GET /v1/target HTTP/1.1\r\nno colon here\r\n\r\n")
    t.check(st == 400, "malformed request: %s, want 400" % st)

    # HTTP while GDB steps: answers right, nothing of theirs in GDB's transcript.
    p = spawn_client(t, port, "step", want_vtop)
    try:
        steps = capture(t, ["stepi"] * 40 + ["p/x $pc"])
    except BaseException:
        p.kill()
        raise
    r = client_result(t, p, "stepping")
    t.check(r["ok"] > 0 and not r["wrong"] and not r["errors"], "HTTP while stepping: %s" % r)
    strange = [ln for ln in steps.splitlines() if ln.strip() and not (
        ln.startswith("0x") or ln.startswith("$") or ln[:1].isdigit() or "in " in ln)]
    t.check(not strange and re.search(r"^\$\d+ = 0x", steps, re.M), "GDB's stepping transcript: %r" % (strange[:5] or steps[-200:]))
    t.log("stepping: %d HTTP answers, %d of them 409" % (r["ok"], r["running"]))
    for va_s, doc in list(want_vtop.items())[:2]:
        j = t.monitor_json("vtop %s" % va_s)[0]
        t.check(j == doc, "vtop %s through GDB changed after the HTTP load: %s, was %s" % (va_s, j, doc))

    # HTTP while the guest runs under GDB's continue: 409, not paused; its ^C stops it.
    p = spawn_client(t, port, "run", want_vtop)
    try:
        t.gdb("continue")
    except gdbside.gdb.error as e:
        t.check(False, "continue: %s" % e)
    r = client_result(t, p, "running")
    t.check(r["running"] > 0 and not r["wrong"] and not r["errors"], "HTTP while running: %s" % r)
    tg = b.target()
    t.check(tg.get("run_state") == "stopped", "after ^C: %s" % tg)
    for va_s, doc in list(want_vtop.items())[:2]:
        t.check(b.vtop(int(va_s, 16)) == doc, "vtop %s after the run" % va_s)
    t.log("http: endpoints equal GDB's monitor; %s; 409 while running" % ("writes refused" if ro else "writes work"))
    b.close()


gdbside.run(main)
