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
import select
import signal
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
# gdb pid, the VAs to translate (JSON list).
CLIENT = r"""
import json, os, signal, sys, threading, time
sys.path.insert(0, %(py)r)
import rspbridge
port, mode, gdb_pid, want = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
stop = threading.Event()
if mode == "step":
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
b = rspbridge.Bridge("http://127.0.0.1:%%d" %% port, timeout=30)
# Answers by kind: "VA 200 PA", "VA 404", "VA 409"; the guest may switch address spaces
# while GDB steps, so GDB's side checks each against the layout's roots.
res = {"n": 0, "running": 0, "seen": {}}
deadline = time.monotonic() + 60  # a hang guard, not a measure
while not stop.is_set() and time.monotonic() < deadline:
    for va in want:
        try:
            key = "%%s 200 %%s" %% (va, b.vtop(int(va, 16))["pa"])
        except rspbridge.Error as e:
            key = "%%s %%d" %% (va, e.status)
            res["running"] += e.status == 409
            if e.status == 409 and mode == "run" and "target" not in res:
                res["target"] = b.target()  # while it runs: answered, not paused
        res["n"] += 1
        res["seen"][key] = res["seen"].get(key, 0) + 1
    print("round", flush=True)  # one more round of answers (the stepping side counts them)
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
    """(status, closed): the answer to bytes sent as they are, and whether the server then
    closed the connection (EOF; the 30 s socket timeout is a hang guard)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before all of it was sent
        got, closed = b"", False
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    closed = True
                    break
                got += d
        except ConnectionResetError:
            closed = True  # closed with unread bytes of ours: a reset
        except socket.timeout:
            pass
    parts = got.split(b" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    try:
        doc = json.loads(got.split(b"\r\n\r\n", 1)[1])
    except (IndexError, ValueError):
        doc = None
    # Every error is a JSON document: a malformed request's too.
    if not (isinstance(doc, dict) and "error" in doc):
        status = ("no JSON error", status, got[:200])
    return status, closed


def concurrent(t, port, want, nclients=8, rounds=10):
    """nclients threads, each with its own keep-alive Bridge, translate the VAs of want
    (va -> the monitor's document) rounds times; returns the problems seen."""
    import threading

    bad, conns = [], []

    def worker(i):
        b = rspbridge.Bridge("http://127.0.0.1:%d" % port, timeout=60)
        try:
            for _ in range(rounds):
                for va_s, doc in sorted(want.items()):
                    got = b.vtop(int(va_s, 16))
                    if got != doc:
                        bad.append("client %d: vtop %s %s != %s" % (i, va_s, got, doc))
            conns.append(b.connections)
        except Exception as e:  # noqa: BLE001 - reported as a failure
            bad.append("client %d: %s" % (i, e))
        finally:
            b.close()

    ths = [threading.Thread(target=worker, args=(i,)) for i in range(nclients)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(120)  # hang guard
    if any(th.is_alive() for th in ths):
        bad.append("a client thread did not end")
    if conns != [1] * nclients:
        bad.append("keep-alive: TCP connections per client %s, want 1 each" % conns)
    return bad


def spawn_client(t, port, mode, want):
    script = CLIENT % {"py": os.path.join(ROOT, "python")}
    return subprocess.Popen(
        ["python3", "-c",
         script, str(port), mode, str(os.getpid()), json.dumps(sorted(want))],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )


class Lines:
    """The helper's stdout, read without blocking GDB longer than asked."""

    def __init__(self, p):
        self.fd, self.buf, self.rounds = p.stdout.fileno(), b"", 0

    def poll(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if r:
            d = os.read(self.fd, 4096)
            self.buf += d
            self.rounds = self.buf.count(b"round\n")
            return bool(d)
        return True


def client_result(t, p, what, lines=None):
    try:
        out, _ = p.communicate(input="", timeout=120)  # "step" ends when its stdin closes
        if lines:
            out = lines.buf.decode() + out
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise gdbside.Fail("%s: the HTTP client process did not end" % what)
    t.require(p.returncode == 0, "%s: the HTTP client process failed (%s)" % (what, p.returncode))
    return json.loads(out.strip().splitlines()[-1])


def capture(t, cmds):
    """GDB's output of cmds, all of it."""
    return "".join(t.gdb(c) for c in cmds)


def same_now(t, b, vas, what):
    """The target stopped: HTTP and GDB give the same vtop documents."""
    for va_s in sorted(vas):
        j, _ok = t.monitor_json("vtop %s" % va_s)
        try:
            h = b.vtop(int(va_s, 16))
        except rspbridge.Error as e:
            h = e.doc
        t.check(h == j, "vtop %s %s: HTTP %s, GDB %s" % (va_s, what, str(h)[:200], str(j)[:200]))


def check_answers(t, r, what):
    """Each kind of answer the helper saw is one the layout allows under some root (the
    guest may switch while it runs or steps), or 409; returns the number of 409s."""
    L = t.layout
    bad = []
    for key in r["seen"]:
        va_s, status, *pa = key.split()
        va = int(va_s, 16)
        pas = {L.translate(va, root) for root in L.roots}
        if status == "409":
            continue
        if status == "200" and int(pa[0], 16) in pas:
            continue
        if status == "404" and None in pas:
            continue
        bad.append(key)
    t.check(r["n"] > 0 and not bad, "%s: answers the layout does not allow: %s" % (what, bad[:6]))
    return r["running"]


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

    arch, ok = t.monitor_json("arch")
    t.require(ok, "monitor arch --json: %s" % arch)
    tg = b.target()
    t.check(tg.get("run_state") == "stopped" and tg.get("sessions") == 1 and tg.get("live") is True
            and tg.get("read_only") == ro, "target: %s" % tg)
    t.check((tg.get("arch"), tg.get("paging"), tg.get("context"), tg.get("privilege"))
            == (arch.get("target"), arch.get("mode"), arch.get("context"), arch.get("privilege")),
            "target %s != monitor arch %s" % (tg, arch))

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
    rdoc = b.regs()
    regs = rdoc.get("regs", {})
    # /v1/regs: the general registers (g) and the paging ones, each as GDB reads it.
    fam = L.mode.family
    must = {"x86": ["rip", "rsp", "rax", "r15", "eflags", "cs", "cr0", "cr3", "cr4", "efer"] if L.mode.word == 8
            else ["eip", "esp", "eax", "edi", "eflags", "cs", "cr0", "cr3", "cr4"],
            "arm64": ["pc", "sp", "x0", "x30", "cpsr", "TTBR0_EL1", "TTBR1_EL1", "TCR_EL1"],
            "riscv": ["pc", "sp", "ra", "t6", "satp"]}[fam]
    t.check(all(n in regs for n in must) and len(regs) >= 17,
            "regs: want %s among %d: %s" % (must, len(regs), sorted(regs)))
    t.check(rdoc.get("arch") == arch.get("target") and rdoc.get("paging") == arch.get("mode"),
            "regs: target fields %s" % {k: v for k, v in rdoc.items() if k != "regs"})
    for name, val in sorted(regs.items()):
        g = t.reg(name)
        t.check(int(val, 16) == g, "regs: %s %s != GDB's %#x" % (name, val, g))
    pcname = must[0]  # rip, eip or pc
    t.check(pcname in regs and int(regs[pcname], 16) == t.reg("pc"), "regs: %s is not GDB's pc" % pcname)

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

    # Another address space by its root (&root=): the monitor's --root documents, its bytes.
    other = None
    if len(L.roots) > 1:
        rb = L.roots[1]
        rpa = L.root_pa[rb]
        for m in [m for m in L.maps if m.root == rb][:4]:
            v = m.va + min(0x80, m.size // 2)
            j, ok = t.monitor_json("vtop %#x --root %#x" % (v, rpa))
            try:
                h = b.vtop(v, root=rpa)
            except rspbridge.Error as e:
                h = e.doc
            t.check(h == j, "vtop %#x root %#x: HTTP %s != GDB %s" % (v, rpa, h, j))
            tpa = L.translate(v, rb)
            if ok and tpa is not None and L.pattern_word(tpa) is not None:
                got = b.read_virt(v, 0x20, root=rpa)
                t.check(got == b.read_phys(tpa, 0x20) and got[:8] == L.pattern_word(tpa).to_bytes(8, "little"),
                        "virt %#x root %#x: %s, want the pattern at %#x" % (v, rpa, got[:8].hex(), tpa))
                other = other or (v, rpa, tpa)
        t.check(other is not None, "no VA of root %s read through &root=" % rb)
    # The cache document: the monitor's keys (its counters move with every request).
    j, ok = t.monitor_json("cache stats")
    t.check(ok and sorted(c) == sorted(j), "cache: keys %s != monitor's %s" % (sorted(c), sorted(j)))

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
        try:
            b.monitor("phys write %#x %s" % (pa, new.hex()))
            t.check(False, "POST /v1/monitor phys write went through a read-only bridge")
        except rspbridge.Error as e:
            t.check("read-only" in str(e.doc), "monitor phys write read-only: %d %s" % (e.status, e.doc))
        if other:
            try:
                b.write_virt(other[0], new, root=other[1])
                t.check(False, "PUT /v1/virt&root went through a read-only bridge")
            except rspbridge.Error as e:
                t.check(e.status == 403, "PUT /v1/virt&root read-only: %d %s" % (e.status, e.doc))
        t.check(b.read_phys(pa, 8) == before and t.xp(pa, 1, 8)[0] == int.from_bytes(before, "little"),
                "memory at %#x changed under a read-only bridge" % pa)
    else:
        b.write_phys(pa, new)
        t.gdb("maintenance flush dcache")
        t.check(t.xp(pa, 1, 8)[0] == int.from_bytes(new, "little"), "PUT /v1/phys %#x: GDB reads no change" % pa)
        b.write_virt(va, before)
        t.check(t.xp(pa, 1, 8)[0] == int.from_bytes(before, "little"), "PUT /v1/virt %#x: not put back" % va)
        if other:
            v, rpa, tpa = other
            old_b = b.read_phys(tpa, 8)
            b.write_virt(v, bytes(x ^ 0xA5 for x in old_b), root=rpa)
            t.check(t.xp(tpa, 1, 8)[0] == int.from_bytes(bytes(x ^ 0xA5 for x in old_b), "little"),
                    "PUT /v1/virt %#x root %#x: GDB reads no change at %#x" % (v, rpa, tpa))
            b.write_virt(v, old_b, root=rpa)
            t.check(t.xp(tpa, 1, 8)[0] == int.from_bytes(old_b, "little"), "PUT /v1/virt&root: not put back")

    # Bad input: JSON errors with a fitting status.
    bad = [
        ("GET", "/v1/vtop", 400), ("GET", "/v1/vtop?va=zz", 400), ("GET", "/v1/vtop?va=0x1&bogus=1", 400),
        ("GET", "/v1/vtop?va=0x12345678901234567", 400), ("GET", "/v1/vtop?va=0x1000&root=%zz", 400),
        ("GET", "/v1/pte", 400), ("GET", "/v1/ptov?va=0x1000", 400), ("GET", "/v1/phys?pa=0x1000", 400),
        ("GET", "/v1/phys?pa=0x0&len=0", 400), ("GET", "/v1/phys?pa=0x0&len=0x100001", 400),
        ("GET", "/v1/virt?va=0x1000&len=-1", 400), ("GET", "/v1/phys?pa=0xffffffffffffffff&len=2", 400),
        ("GET", "/v1/maps?lo=0x2000", 400), ("GET", "/v1/maps?lo=0x2000&hi=0x1000", 400),
        ("GET", "/v1/regs?x=1", 400), ("GET", "/v1/target?x=1", 400),
        ("GET", "/v1/nope", 404), ("DELETE", "/v1/vtop?va=0x1000", 405), ("PUT", "/v1/vtop?va=0x1000", 405),
        ("POST", "/v1/monitor", 400),
    ]
    if hole is not None:
        bad.append(("GET", "/v1/vtop?va=%#x" % hole, 404))
        bad.append(("GET", "/v1/virt?va=%#x&len=0x10" % hole, 404))
        bad.append(("GET", "/v1/virt?va=%#x&len=0x10&root=%#x" % (hole, L.root_pa[L.roots[0]]), 404))
    for method, path, status in bad:
        st, doc = raw(port, method, path, body=b"" if method in ("POST", "PUT") else None)
        t.check(st == status and isinstance(doc, dict) and "error" in doc, "%s %s: %d %r, want %d" % (method, path, st, doc, status))
    if hole is not None:
        j, ok = t.monitor_json("vtop %#x" % hole)
        st, doc = raw(port, "GET", "/v1/vtop?va=%#x" % hole)
        t.check(not ok and doc == j, "vtop %#x (a hole): HTTP %d %s != GDB %s" % (hole, st, doc, j))
        # pte shows the walk that found nothing: 200, the monitor's document.
        j, ok = t.monitor_json("pte %#x" % hole)
        st, doc = raw(port, "GET", "/v1/pte?va=%#x" % hole)
        t.check(st == 200 and doc == j and doc.get("mapped") is False, "pte %#x (a hole): HTTP %d %s != GDB %s" % (hole, st, doc, j))
    st, _ = raw(port, "GET", "/v1/target", headers={"X-Big": "a" * 20000})
    t.check(st == 431, "huge header: %d, want 431" % st)
    # Malformed or too large at the HTTP level: an answer, then the connection closes.
    for what, data, status in (
        ("malformed header", b"GET /v1/target HTTP/1.1\r\nno colon here\r\n\r\n", 400),
        ("not HTTP", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\0" * 64, 400),
        ("bad version", b"GET /v1/target HTTP/9.Z\r\n\r\n", 400),
        ("huge URL", b"GET /v1/vtop?va=" + b"1" * 9000 + b" HTTP/1.1\r\n\r\n", 414),
        ("huge headers", b"GET /v1/target HTTP/1.1\r\n" + b"X-A: b\r\n" * 3000 + b"\r\n", 431),
        ("huge body", b"PUT /v1/phys?pa=0x1000 HTTP/1.1\r\nContent-Length: 16777216\r\n\r\n", 413),
    ):
        st, closed = raw_bytes(port, data)
        t.check(st == status and closed, "%s: %s (closed %s), want %d and a close" % (what, st, closed, status))
    # Keep-alive: one connection for all of the above (b), and many clients at once.
    t.check(b.connections == 1, "keep-alive: the client opened %d connections" % b.connections)
    problems = concurrent(t, port, want_vtop)
    t.check(not problems, "concurrent clients: %s" % problems[:4])

    # HTTP while GDB steps: answers right, nothing of theirs in GDB's transcript.
    p = spawn_client(t, port, "step", want_vtop)
    lines = Lines(p)
    steps = ""
    try:
        deadline = time.monotonic() + 60  # hang guard
        while lines.rounds == 0 and time.monotonic() < deadline:
            t.require(lines.poll(1.0), "the HTTP client process ended before its first answer")
        t.require(lines.rounds, "the HTTP client process got no answer in 60 s")
        first, n = lines.rounds, 0
        # Step until the client answered 3 more rounds meanwhile (at least 40 steps).
        while (n < 40 or lines.rounds < first + 3) and n < 5000:
            steps += capture(t, ["stepi"])
            n += 1
            lines.poll(0)
        steps += capture(t, ["p/x $pc"])
        t.check(lines.rounds >= first + 3, "only %d HTTP rounds during %d steps" % (lines.rounds - first, n))
    except BaseException:
        p.kill()
        raise
    r = client_result(t, p, "stepping", lines)
    check_answers(t, r, "HTTP while stepping")
    strange = [ln for ln in steps.splitlines() if ln.strip() and not (
        ln.startswith("0x") or ln.startswith("$") or ln[:1].isdigit() or "in " in ln)]
    t.check(not strange and re.search(r"^\$\d+ = 0x", steps, re.M), "GDB's stepping transcript: %r" % (strange[:5] or steps[-200:]))
    t.log("stepping: %d HTTP answers, %d of them 409 (a step is a resume)" % (r["n"], r["running"]))
    same_now(t, b, want_vtop, "after stepping")

    # HTTP while the guest runs under GDB's continue: 409, not paused; its ^C stops it.
    p = spawn_client(t, port, "run", want_vtop)
    try:
        t.gdb("continue")
    except gdbside.gdb.error as e:
        t.check(False, "continue: %s" % e)
    r = client_result(t, p, "running")
    t.check(check_answers(t, r, "HTTP while running") > 0, "HTTP while running: no 409 (%s)" % r["seen"])
    rt = r.get("target") or {}
    t.check(rt.get("run_state") == "running" and rt.get("live") is False and rt.get("arch") == arch.get("target"),
            "/v1/target while running: %s" % rt)
    tg = b.target()
    t.check(tg.get("run_state") == "stopped", "after ^C: %s" % tg)
    same_now(t, b, want_vtop, "after the run")

    # HTTP alone: GDB detaches (the guest runs on); a request connects the target itself.
    t.gdb("detach")
    deadline = time.monotonic() + 20  # hang guard: the bridge sees GDB's connection close
    while b.target().get("sessions") != 0:
        t.require(time.monotonic() < deadline, "GDB detached but the bridge still counts a session")
        time.sleep(0.05)
    # /v1/target does not connect the target (QEMU would stop the guest): it stays detached.
    for _ in range(3):
        tg = b.target()
        t.check(tg.get("run_state") == "detached" and tg.get("live") is False and tg.get("arch") == arch.get("target")
                and tg.get("paging") == arch.get("mode"), "target with no debugger: %s" % tg)
    r = {"n": 0, "running": 0, "seen": {}}
    for va_s in sorted(want_vtop):
        try:
            key = "%s 200 %s" % (va_s, b.vtop(int(va_s, 16))["pa"])
        except rspbridge.Error as e:
            key = "%s %d" % (va_s, e.status)
        r["n"] += 1
        r["seen"][key] = r["seen"].get(key, 0) + 1
    t.check(check_answers(t, r, "HTTP without GDB") == 0, "HTTP without GDB: 409 with no client: %s" % r["seen"])
    regs = b.regs().get("regs", {})
    t.check(all(n in regs for n in must), "regs without GDB: %s" % sorted(regs))
    tg = b.target()
    # The connection the requests made is released a second after the last one.
    t.check(tg.get("sessions") == 0 and tg.get("run_state") in ("stopped", "detached"),
            "HTTP without GDB: target %s" % tg)

    # The target lost (QEMU ends): 503, and /v1/target says so without waiting.
    qpid = int(os.environ.get("RSPT_QEMU_PID") or 0)
    t.require(qpid, "no RSPT_QEMU_PID from the runner")
    os.kill(qpid, signal.SIGTERM)
    va0 = int(sorted(want_vtop)[0], 16)
    statuses = []
    deadline = time.monotonic() + 30  # hang guard: the bridge sees the connection go
    while time.monotonic() < deadline:
        try:
            b.vtop(va0)
            statuses.append(200)
        except rspbridge.Error as e:
            statuses.append(e.status)
            if e.status == 503:
                break
        time.sleep(0.1)
    t.check(statuses and statuses[-1] == 503 and set(statuses) <= {200, 503},
            "vtop with QEMU gone: %s, want 503" % statuses[-8:])
    for fn in (b.regs, lambda: b.read_phys(base, 8), lambda: b.maps()):
        try:
            fn()
            t.check(False, "a request with QEMU gone answered 200")
        except rspbridge.Error as e:
            t.check(e.status == 503 and "error" in e.doc, "with QEMU gone: %d %s, want 503" % (e.status, e.doc))
    tg = b.target()
    t.check(tg.get("run_state") in ("lost", "detached") and tg.get("live") is False and tg.get("arch") == arch.get("target"),
            "target with QEMU gone: %s" % tg)
    t.log("http: endpoints equal GDB's monitor; %s; 409 while running; works without GDB"
          % ("writes refused" if ro else "writes work"))
    b.close()


gdbside.run(main)
