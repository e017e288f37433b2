"""The bridge is never silently wrong and never leaves QEMU changed (issues 12 and 13), end to
end with stock GDB and raw RSP clients.  Runs inside GDB (runner.py ... --bridge RSPBRIDGE) and
starts its own QEMU/bridge pairs (harness procs), each with QMP for QEMU's own view:

- the client's own `maintenance packet Qqemu.PhyMemMode:1` with the cache on: the GDB
  transcript through the bridge is the direct one;
- `target extended-remote`, `detach`, then every bridge command: a clear error, QEMU alive;
- --json through GDB's Python: one document, no exception, errors too; text errors once;
- vtop of a VA mapped over a PA nothing backs: the PA, with its note;
- every way out of a command (error, Ctrl-C, client gone, a stall longer than --timeout):
  QEMU's mode checked through a DIRECT connection afterwards (the bridge killed with SIGKILL,
  so nothing of its shutdown helps), run state unchanged, virtual reads right (cache off);
- --read-only: each refused QEMU monitor command changes nothing.
"""

import json
import os
import signal
import socket
import sys
import tempfile
import time

import gdb
import gdbside

sys.path.insert(0, os.path.dirname(os.path.abspath(gdbside.__file__)))
import procs  # noqa: E402
import runner  # noqa: E402

DEADLINE = 60.0  # hang guard for one exchange, never a timing assertion


class Rig:
    """One QEMU (QMP on a Unix socket) and optionally a bridge in front of it."""

    def __init__(self, t, bridge_args=None):
        L = t.layout
        self.t = t
        self.killed = False
        self.dir = tempfile.mkdtemp(prefix="rspt-trust-")
        self.qmp_path = os.path.join(self.dir, "qmp")
        kernel = os.environ["RSPT_KERNEL"]
        qemu = procs.require(L.qemu[0], "QEMU")
        extra = ["-qmp", "unix:%s,server=on,wait=off" % self.qmp_path]
        self.q, self.qport = procs.start_listener(lambda p: runner.qemu_argv(qemu, L, kernel, p) + extra, "QEMU")
        self.qmp = procs.QMP(self.qmp_path)
        self.b = None
        self.port = self.qport
        if bridge_args is not None:
            bridge = os.environ.get("RSPT_BRIDGE_BIN")
            if not bridge:
                raise gdbside.Fail("runner.py gave no bridge (RSPT_BRIDGE_BIN)")
            self.b, self.port = procs.start_listener(
                lambda p: [bridge, "--listen", "127.0.0.1:%d" % p] + list(bridge_args) + ["tcp:127.0.0.1:%d" % self.qport],
                "rspbridge",
            )

    def kill_bridge(self):
        """SIGKILL: the bridge's own shutdown gets no chance to put anything back."""
        if self.b and self.b.poll() is None:
            os.killpg(self.b.pid, signal.SIGKILL)
            self.b.wait(DEADLINE)
            self.killed = True

    def close(self):
        try:
            self.qmp.close()
        except OSError:
            pass
        for p in (self.b, self.q):
            if p is not None:
                rc = procs.reap(p, grace=10.0 if p is self.b else 2.0)
                if p is self.b and not self.killed:  # sanitizer reports make it non-zero
                    self.t.check(rc == 0, "rspbridge exited with status %s after SIGTERM" % rc)
        for f in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, f))
        os.rmdir(self.dir)

    def alive(self):
        return self.q.poll() is None and self.qmp.status() is not None

    def qmp_stopped_process(self):
        """QEMU's process is stopped (SIGSTOP): state T in /proc."""
        with open("/proc/%d/stat" % self.q.pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "T"


class Rsp:
    """A raw RSP client (ack mode), enough for qRcmd, m, ? and QEMU's mode query."""

    def __init__(self, port):
        deadline = time.monotonic() + DEADLINE
        while True:
            try:
                self.s = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.buf = b""

    def close(self):
        self.s.close()

    def send(self, body):
        b = body.encode()
        self.s.sendall(b"$" + b + b"#%02x" % (sum(b) & 0xFF))

    def packet(self):
        """The next packet's body (acknowledged), or None when the peer closed."""
        while True:
            i = self.buf.find(b"$")
            j = self.buf.find(b"#", i) if i >= 0 else -1
            if i >= 0 and j >= 0 and len(self.buf) >= j + 3:
                body = self.buf[i + 1 : j].decode("latin-1")
                self.buf = self.buf[j + 3 :]
                self.s.sendall(b"+")
                return body
            d = self.s.recv(65536)
            if not d:
                return None
            self.buf += d

    def ask(self, body):
        """Sends a request; returns (console text, final reply)."""
        self.send(body)
        return self.finish()

    def finish(self):
        text = ""
        while True:
            p = self.packet()
            if p is None:
                return text, None
            if p.startswith("O") and p != "OK" and len(p) % 2:
                text += bytes.fromhex(p[1:]).decode("latin-1")
                continue
            return text, p

    def rcmd(self, cmd):
        return self.ask("qRcmd," + cmd.encode().hex())

    def hello(self):
        """A client's first requests, and the target stopped as GDB sees it."""
        self.ask("qSupported:multiprocess+;swbreak+;hwbreak+;qRelocInsn+")
        _, stop = self.ask("?")
        return stop


def qemu_mode_direct(rig):
    """QEMU's physical-memory mode, asked on a direct gdbstub connection (no bridge)."""
    c = Rsp(rig.qport)
    try:
        c.hello()
        _, mode = c.ask("qqemu.PhyMemMode")
        return mode
    finally:
        c.close()


def xp_bytes(rig, pa, n):
    """Physical bytes as QEMU's monitor reads them (QMP), independent of any gdbstub mode."""
    out = rig.qmp.cmd("human-monitor-command", **{"command-line": "xp /%dxb %#x" % (n, pa)})
    vals = []
    for line in out.splitlines():
        vals += [int(w, 16) for w in line.split(":", 1)[1].split()]
    return bytes(vals[:n])


# ---------------------------------------------------------------------------------------------


def transcript(t, port, bridged, va, pa):
    """GDB's view while the client switches QEMU's mode itself."""
    gdb.execute("target remote 127.0.0.1:%d" % port, to_string=True)
    t.run_to(t.layout.stop)
    lines = []

    def do(cmd):
        try:
            out = gdb.execute(cmd, to_string=True)
        except gdb.error as e:
            out = "error: %s\n" % e
        lines.append("%s -> %s" % (cmd, out.strip()))

    do("x/4xg %#x" % va)
    do("x/4xg %#x" % pa)
    do("maintenance packet Qqemu.PhyMemMode:1")
    do("x/4xg %#x" % va)
    do("x/4xg %#x" % pa)
    if bridged:  # the bridge's own physical accesses in between: the client's mode stays
        for cmd in ("monitor vtop %#x" % va, "monitor phys read %#x 0x20" % pa, "monitor arch"):
            gdb.execute(cmd, to_string=True)
    do("x/4xg %#x" % va)
    do("x/4xg %#x" % pa)
    do("maintenance packet qqemu.PhyMemMode")
    do("maintenance packet Qqemu.PhyMemMode:0")
    do("x/4xg %#x" % va)
    do("x/4xg %#x" % pa)
    gdb.execute("disconnect", to_string=True)
    return lines


def test_client_mode(t):
    L = t.layout
    user = next(m for m in L.maps if m.root == L.roots[0] and m.name == "user")
    # A VA that is also a physical address with other bytes, and a PA not mapped at its VA.
    va, pa = user.va, user.pa
    t.require(L.translate(pa) is None, "layout: %#x must be unmapped" % pa)
    runs = []
    for bridged in (False, True):
        rig = Rig(t, [] if bridged else None)
        try:
            runs.append(transcript(t, rig.port, bridged, va, pa))
            if bridged:
                rig.kill_bridge()
            t.check(qemu_mode_direct(rig) == "0", "QEMU left in physical mode (bridged=%s)" % bridged)
        finally:
            rig.close()
    direct, bridged = runs
    for a, b in zip(direct, bridged):
        t.check(a == b, "PhyMemMode by the client: direct %r, bridged %r" % (a, b))
    t.check(len(direct) == len(bridged) == 11, "transcripts: %d, %d lines" % (len(direct), len(bridged)))
    t.check(direct[0] != direct[3], "physical and virtual reads of %#x agree: the test shows nothing" % va)
    t.log("client's PhyMemMode with the cache on: %d lines identical direct and bridged" % len(direct))


def test_detach_and_json(t):
    L = t.layout
    rig = Rig(t, [])
    try:
        gdb.execute("target extended-remote 127.0.0.1:%d" % rig.port, to_string=True)
        t.run_to(L.stop)
        user = next(m for m in L.maps if m.root == L.roots[0] and m.name == "user")
        hole = next(va for root, va, level in L.holes if root == L.roots[0] and level != "noncanonical")
        high = next(m for m in L.maps if m.root == L.roots[0] and m.name == "highpa")

        # --json through GDB's Python: one document and no exception, errors included.
        for va, key in ((user.va, "pa"), (hole, "error")):
            out = gdb.execute("monitor vtop %#x --json" % va, to_string=True)
            j = json.loads(out)
            t.check(key in j, "vtop %#x --json: %r" % (va, out))
        out = gdb.execute("monitor vtop 1 2 --json", to_string=True)
        t.check("unexpected argument '2'" in json.loads(out).get("error", ""), "extra argument --json: %r" % out)
        # Text: the command fails, and its message is shown once.
        out, ok = t.monitor_full("vtop %#x" % hole)
        t.check(not ok and out.count("not mapped") == 1, "vtop of a hole, text: ok=%s %r" % (ok, out))
        out, ok = t.monitor_full("vtop zz")
        t.check(not ok and out.count("bad VA 'zz'") == 1, "vtop zz: ok=%s %r" % (ok, out))
        j, ok = t.monitor_json("vtop %#x" % user.va)
        t.check(ok and int(j["pa"], 16) == user.pa and j.get("backed") == "ram", "vtop of RAM: %s" % j)
        # Bounds a user sees: a line too long says the limit; search stops at --max.
        out, ok = t.monitor_full("vtop " + "1" * 3000)
        t.check(not ok and "the limit is 2047" in out, "a 3005-character line: %r" % out[:200])
        j, ok = t.monitor_json("phys search %#x 0x1000 5a --max 3" % user.pa)
        t.check(ok and j["count"] == 3 and j["truncated"], "phys search --max 3: %s" % j)
        # A VA mapped over a PA nothing backs: the translation, with a note.
        j, ok = t.monitor_json("vtop %#x" % high.va)
        t.check(ok and int(j["pa"], 16) == high.pa and j.get("backed") == "none", "vtop over nothing: %s" % j)
        out, ok = t.monitor_full("vtop %#x" % high.va)
        t.check(ok and ("-> %#x" % high.pa) in out and "note: nothing backs" in out, "vtop over nothing, text: %r" % out)

        # Detach, then every bridge command: a clear error, and QEMU alive.
        gdb.execute("detach", to_string=True)
        cmds = [
            "vtop %#x" % user.va,
            "pte %#x" % user.va,
            "maps",
            "ptov %#x" % user.pa,
            "phys read %#x 0x20" % user.pa,
            "phys write %#x 00" % user.pa,
            "phys search %#x 0x1000 00" % user.pa,
            "phys map",
            "phys backend",
            "arch",
            "context %#x" % L.root_pa[L.roots[0]],
        ]
        for cmd in cmds:
            out, ok = t.monitor_full(cmd)
            t.check(not ok and "no process attached" in out, "after detach, `%s`: ok=%s %r" % (cmd, ok, out[:200]))
            t.require(rig.alive(), "QEMU died after `monitor %s` on a detached connection" % cmd)
        for cmd in ("cache stats", "help", "context"):
            out, ok = t.monitor_full(cmd)
            t.check(ok, "after detach, `%s` (needs no CPU) failed: %r" % (cmd, out[:200]))
        t.check(rig.alive(), "QEMU died")
        gdb.execute("disconnect", to_string=True)
        t.log("detach: %d bridge commands refused, QEMU alive; --json documents through GDB's Python" % len(cmds))
    finally:
        rig.close()


def way_out(t, how):
    """One way out of a long physical command; then QEMU's mode asked directly."""
    L = t.layout
    base, size = max(L.ram, key=lambda r: r[1])
    user = next(m for m in L.maps if m.root == L.roots[0] and m.name == "user")
    timeout_ms = 1000
    rig = Rig(t, ["--cache-size", "0", "--timeout", str(timeout_ms)])
    try:
        c = Rsp(rig.port)
        c.hello()
        # To the layout's stop (paging on: virtual and physical addresses differ).
        stop = t.symbol(L.stop)
        _, r = c.ask("Z1,%x,1" % stop)
        t.require(r == "OK", "Z1: %r" % r)
        _, r = c.ask("c")
        t.require(r and r[0] in "TS", "continue: %r" % r)
        c.ask("z1,%x,1" % stop)
        t.require(xp_bytes(rig, user.va, 16) != xp_bytes(rig, user.pa, 16), "layout: %#x and %#x hold the same bytes" % (user.va, user.pa))
        before = rig.qmp.status()
        long_read = "phys read %#x %#x" % (base, min(size, 0x4000000))
        if how == "error":
            _, r = c.rcmd("phys read %#x 0x1000" % (base + size - 0x100))
            t.check(r == "E01", "error: reply %r" % r)
        else:
            c.send("qRcmd," + long_read.encode().hex())
            p = c.packet()  # the first output: the command runs, QEMU in physical mode
            t.require(p and p.startswith("O"), "%s: no output from the phys read: %r" % (how, p))
            if how == "ctrl-c":
                c.s.sendall(b"\x03")
                _, r = c.finish()
                t.check(r is not None, "ctrl-c: no final reply")
            elif how == "gone":
                c.close()
                c = Rsp(rig.port)  # the next client: its command runs once the old one ended
                deadline = time.monotonic() + DEADLINE
                while True:
                    try:
                        _, r = c.rcmd("cache stats")
                    except OSError:  # refused as a second client (reset)
                        r = None
                    if r == "OK" or time.monotonic() > deadline:
                        break
                    c.close()
                    time.sleep(0.1)  # refused as a second client: the old close not yet seen
                    c = Rsp(rig.port)
                t.check(r == "OK", "gone: the next client's command: %r" % r)
            elif how == "stall":
                # QEMU stalls until the bridge has given up on it: the command's final reply
                # comes while QEMU cannot answer anything (after --timeout, no sleep here).
                os.kill(rig.q.pid, signal.SIGSTOP)
                try:
                    _, r = c.finish()
                    stopped = rig.qmp_stopped_process()
                finally:
                    os.kill(rig.q.pid, signal.SIGCONT)
                t.check(r is not None, "stall: no final reply")
                t.check(stopped, "stall: QEMU was not stopped while the command ended")
        # Virtual reads are right afterwards (cache off): QEMU's own physical bytes.
        want = xp_bytes(rig, user.pa, 16)
        deadline = time.monotonic() + DEADLINE
        while True:
            _, r = c.ask("m%x,10" % user.va)
            if r and not r.startswith("E") or time.monotonic() > deadline:
                break
            time.sleep(0.2)  # a stall: the bridge may still be reconnecting
        t.check(r == want.hex(), "%s: m %#x gave %r, QEMU has %s" % (how, user.va, r, want.hex()))
        c.close()
        rig.kill_bridge()
        mode = qemu_mode_direct(rig)
        t.check(mode == "0", "%s: QEMU left in physical mode %r (asked directly)" % (how, mode))
        after = rig.qmp.status()
        t.check(after == before, "%s: run state %s, was %s" % (how, after, before))
        t.log("way out `%s`: mode %s, run state %s, virtual read checked" % (how, mode, after))
    finally:
        rig.close()


def test_ways_out(t):
    for how in ("error", "ctrl-c", "gone", "stall"):
        way_out(t, how)


def test_read_only_monitor(t):
    rig = Rig(t, ["--read-only"])
    try:
        gdb.execute("target remote 127.0.0.1:%d" % rig.port, to_string=True)
        before = rig.qmp.status()
        pc = t.reg("pc")
        dump = os.path.join(rig.dir, "dump")
        newport = procs.free_port()
        refused = [
            "migrate exec:cat>%s" % dump,
            "pmemsave 0 0x1000 %s" % dump,
            "memsave 0 0x1000 %s" % dump,
            "dump-guest-memory %s" % dump,
            "chardev-add file,id=rspt,path=%s" % dump,
            "o 0x80 0x1",
            "system_reset",
            "quit",
            "stop",
            "cont",
            "gdbserver tcp::%d" % newport,
        ]
        for cmd in refused:
            out, ok = t.monitor_full(cmd)
            t.check(not ok and "info ..., gva2gpa, x, xp, help, ?" in out, "read-only: `%s` not refused: %r" % (cmd, out[:200]))
            t.require(rig.alive(), "QEMU died after `%s` on a read-only bridge" % cmd)
        t.check(not os.path.exists(dump), "a refused command wrote %s" % dump)
        t.check(rig.qmp.status() == before, "run state %s, was %s" % (rig.qmp.status(), before))
        t.check(procs.listening(rig.qport, rig.q.pid), "QEMU's gdbstub left port %d" % rig.qport)
        t.check(not procs.listening(newport), "QEMU's gdbstub moved to port %d" % newport)
        t.check(t.reg("pc") == pc, "the guest moved (reset or ran)")
        chardevs = rig.qmp.cmd("query-chardev")
        t.check(all(c["label"] != "rspt" for c in chardevs), "chardev-add went through")
        out, ok = t.monitor_full("info status")
        t.check(ok and "VM status" in out, "read-only: `info status` refused: %r" % out)
        gdb.execute("disconnect", to_string=True)
        t.log("read-only: %d monitor commands refused, nothing happened" % len(refused))
    finally:
        rig.close()


def test_monitor_policy_and_context(t):
    """--monitor none / read-only, and a context ending with its client."""
    L = t.layout
    user = next(m for m in L.maps if m.root == L.roots[0] and m.name == "user")
    for args, refused, allowed in (
        (["--monitor", "none"], ["info status", "gva2gpa %#x" % user.va], []),
        (["--monitor", "read-only"], ["system_reset", "stop"], ["info status"]),
        (["--monitor", "all"], [], ["info status"]),
    ):
        rig = Rig(t, args)
        try:
            gdb.execute("target remote 127.0.0.1:%d" % rig.port, to_string=True)
            for cmd in refused:
                out, ok = t.monitor_full(cmd)
                t.check(not ok and "refused" in out and args[1] in out, "%s: `%s`: ok=%s %r" % (args, cmd, ok, out[:200]))
            for cmd in allowed:
                out, ok = t.monitor_full(cmd)
                t.check(ok and "VM status" in out, "%s: `%s` refused: %r" % (args, cmd, out[:200]))
            out, ok = t.monitor_full("arch")  # the bridge's own commands work under every policy
            t.check(ok, "%s: monitor arch: %r" % (args, out[:200]))
            if args[1] == "all":
                # A context chosen by one client does not carry over to the next one.
                t.run_to(L.stop)
                root = L.root_pa[L.roots[-1]]
                out, ok = t.monitor_full("context %#x" % root)
                t.check(ok and "root" in out, "context: %r" % out)
                gdb.execute("disconnect", to_string=True)
                gdb.execute("target remote 127.0.0.1:%d" % rig.port, to_string=True)
                j, ok = t.monitor_json("context")
                t.check(ok and j.get("context") == "default", "a new client inherited the context: %s" % j)
            gdb.execute("disconnect", to_string=True)
        finally:
            rig.close()
    t.log("--monitor none/read-only/all, and a context ending with its client")


def main(t):
    t.gdb("set pagination off")
    t.gdb("set confirm off")
    t.gdb("set width 0")
    t.gdb("set remotetimeout 30")
    t.gdb("set stack-cache off")
    t.gdb("set code-cache off")
    t.gdb("file " + t.elf)
    test_client_mode(t)
    test_detach_and_json(t)
    test_read_only_monitor(t)
    test_monitor_policy_and_context(t)
    test_ways_out(t)


gdbside.run(main)
