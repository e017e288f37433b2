"""Two stock GDBs at once through the bridge (--sessions, issue 14).  Runs inside GDB
(runner.py ... --bridge RSPBRIDGE) and starts its own QEMU/bridge pairs:

1. one client alone (the bridge as it always was): this GDB runs a fixed session (break,
   continue, stepi, x, continue interrupted, continue to a breakpoint, stepi) and records
   its transcript;
2. the same session on a fresh QEMU behind a bridge with --sessions 4 while a second stock
   GDB (an observer) connects, reads memory and runs `monitor vtop`, `pte`, `maps` and
   `session` twice: once while the first one steps, once while its `continue` is in flight
   (started when the bridge's --trace shows the resume: an event, not a delay; the first
   GDB is interrupted once the observer is done).

Checks: the first GDB's transcript is the single-client one; the observer's reads and
translations are the controller's; its writes are refused naming the controller; the
guest was paused for it while running (`monitor session` counts the pauses).
"""

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

import gdb
import gdbside

sys.path.insert(0, os.path.dirname(os.path.abspath(gdbside.__file__)))
import procs  # noqa: E402
import runner  # noqa: E402

DEADLINE = 120.0  # hang guard for one step, never a timing assertion


class Rig:
    """One QEMU (stopped at reset) and a bridge with --trace in front of it."""

    def __init__(self, t, bridge_args):
        L = t.layout
        self.dir = tempfile.mkdtemp(prefix="rspt-sess-")
        self.trace = os.path.join(self.dir, "trace")
        qemu = procs.require(L.qemu[0], "QEMU")
        kernel = os.environ["RSPT_KERNEL"]
        bridge = os.environ.get("RSPT_BRIDGE_BIN")
        if not bridge:
            raise gdbside.Fail("runner.py gave no bridge (RSPT_BRIDGE_BIN)")
        self.b = None
        self.q, self.qport = procs.start_listener(lambda p: runner.qemu_argv(qemu, L, kernel, p), "QEMU")
        self.b, self.port = procs.start_listener(
            lambda p: [bridge, "--listen", "127.0.0.1:%d" % p, "--trace", self.trace]
            + list(bridge_args)
            + ["tcp:127.0.0.1:%d" % self.qport],
            "rspbridge",
        )

    def trace_size(self):
        try:
            return os.path.getsize(self.trace)
        except OSError:
            return 0

    def wait_trace(self, since, pattern):
        """Waits until the trace written after offset since matches pattern."""
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            with open(self.trace, "rb") as f:
                f.seek(since)
                if re.search(pattern, f.read()):
                    return True
            time.sleep(0.01)  # polling a file for an event; the deadline is a hang guard
        return False

    def close(self, t):
        for p in (self.b, self.q):
            if p is not None:
                rc = procs.reap(p, grace=10.0 if p is self.b else 2.0)
                if p is self.b:
                    t.check(rc == 0, "rspbridge exited with status %s after SIGTERM" % rc)
        for f in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, f))
        os.rmdir(self.dir)


def observer_commands(t, L):
    c = L.counter
    return [
        "set pagination off",
        "set width 0",
        "file " + t.elf,
        "target remote 127.0.0.1:%d",
        "echo @@x\\n",
        "x/2xg %#x" % c,
        "echo @@vtop\\n",
        "monitor vtop %#x" % c,
        "echo @@pte\\n",
        "monitor pte %#x" % c,
        "echo @@maps\\n",
        "monitor maps",
        "echo @@session\\n",
        "monitor session",
        "echo @@write\\n",
        "monitor phys write 0 00",
        "echo @@set\\n",
        "set var *(char *)%#x = 1" % c,
        "echo @@phys\\n",
        "maintenance packet Qqemu.PhyMemMode:1",
        "x/2xg %#x" % L.translate(c),
        "echo @@ctx\\n",
        "monitor context 0x1000",
        "monitor context",
        "echo @@end\\n",
        "disconnect",
    ]


def run_observer(t, L, port):
    """A second stock GDB: its output split at the @@ markers."""
    g = procs.require(L.gdb, "GDB")
    argv = [g, "-nx", "-batch"]
    for cmd in observer_commands(t, L):
        argv += ["-ex", cmd % port if "%d" in cmd else cmd]
    p = procs.spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = p.communicate(timeout=DEADLINE)
    finally:
        procs.reap(p)
    text = out.decode("latin-1").replace("\r", "")
    parts = {}
    for m in re.finditer(r"@@(\w+)\n(.*?)(?=@@|\Z)", text, re.S):
        parts[m.group(1)] = m.group(2)
    parts["all"] = text
    return parts


def controller_session(t, rig, with_observer):
    """The first GDB's session on rig: its transcript, and what the observers printed."""
    L = t.layout
    seen = {}
    # Stop events are printed, not returned by to_string: they are recorded from
    # gdb.events.stop into the transcript in their place.
    lines = []

    def on_stop(ev):
        pc = gdb.selected_frame().pc()
        if isinstance(ev, gdb.BreakpointEvent):
            lines.append("[stopped: breakpoint at %#x]\n" % pc)
        elif isinstance(ev, gdb.SignalEvent):
            where = "" if ev.stop_signal == "SIGINT" else " at %#x" % pc  # SIGINT: anywhere
            lines.append("[stopped: %s%s]\n" % (ev.stop_signal, where))
        else:
            lines.append("[stopped at %#x]\n" % pc)

    def g(cmd):
        lines.append("(gdb) %s\n%s" % (cmd, t.gdb(cmd)))

    gdb.events.stop.connect(on_stop)
    g("target remote 127.0.0.1:%d" % rig.port)
    g("break %s" % L.stop)
    g("continue")
    g("break counter_loop")
    g("continue")
    seen["ctl_vtop"] = t.monitor("vtop %#x" % L.counter)
    # While this GDB steps: the observer runs alongside.
    obs = {}
    th = None
    if with_observer:
        th = threading.Thread(target=lambda: obs.update(a=run_observer(t, L, rig.port)), daemon=True)
        th.start()
    for _ in range(4):
        g("stepi")
        g("x/i $pc")
    g("x/2xg %#x" % L.counter)
    g("info registers pc")
    if th:
        th.join(DEADLINE)
        t.require(not th.is_alive(), "the observer during stepping did not finish")
    g("delete")
    # A continue in flight: the observer runs once the resume went upstream, then this GDB
    # is interrupted (SIGINT, as Ctrl-C; repeated should GDB not be waiting yet).
    done = threading.Event()
    mark = rig.trace_size()

    def during():
        try:
            if not rig.wait_trace(mark, rb"c>b \$(vCont;c|c)"):
                obs["error"] = "the resume never showed in the trace"
            elif with_observer:
                obs["b"] = run_observer(t, L, rig.port)
        finally:
            while not done.is_set():
                os.kill(os.getpid(), signal.SIGINT)
                done.wait(2.0)

    th = threading.Thread(target=during, daemon=True)
    th.start()
    try:
        g("continue")
    finally:
        done.set()
        th.join(DEADLINE)
    g("break counter_loop")
    g("continue")
    for _ in range(2):
        g("stepi")
        g("x/i $pc")
    g("delete")
    seen["ctl_session"] = t.monitor("session")
    seen.update(obs)
    gdb.events.stop.disconnect(on_stop)
    t.gdb("disconnect")
    text = "".join(lines)
    t.check("[stopped: SIGINT]" in text, "no interrupted continue in %r" % text[-500:])
    text = re.sub(r"Breakpoint \d+", "Breakpoint N", text)
    text = text.replace("127.0.0.1:%d" % rig.port, "127.0.0.1:PORT")
    return text, seen


def check_observer(t, L, o, ctl_vtop, when):
    t.require(o is not None, "%s: the observer did not run" % when)
    t.check(re.search(r"0x[0-9a-f]+:\s+0x[0-9a-f]+\s+0x[0-9a-f]+", o.get("x", "")) is not None,
            "%s: the observer's x/2xg: %r" % (when, o.get("x")))
    t.check(o.get("vtop", "").strip() == ctl_vtop.strip(),
            "%s: the observer's vtop %r, the controller's %r" % (when, o.get("vtop"), ctl_vtop))
    t.check("%x" % L.counter in o.get("pte", "").lower() or "0x" in o.get("pte", ""),
            "%s: the observer's pte: %r" % (when, o.get("pte")))
    t.check(len(o.get("maps", "").strip().splitlines()) >= 1, "%s: the observer's maps: %r" % (when, o.get("maps")))
    s = o.get("session", "")
    t.check(re.search(r"\n?1\s+controller\s", s) and re.search(r"observer\s.*\(this session\)", s),
            "%s: the observer's monitor session: %r" % (when, s))
    t.check("refused: session 2 is an observer; session 1 (127.0.0.1:" in o.get("write", "")
            or "refused: session 3 is an observer; session 1 (127.0.0.1:" in o.get("write", ""),
            "%s: the observer's phys write: %r" % (when, o.get("write")))
    t.check(re.search(r'received: "OK"', o.get("phys", "")) and re.search(r"%#x:\s+0x[0-9a-f]+" % L.translate(L.counter), o.get("phys", "")),
            "%s: the observer's own physical mode: %r" % (when, o.get("phys")))
    t.check("0x1000" in o.get("ctx", ""), "%s: the observer's own context: %r" % (when, o.get("ctx")))
    t.check("Cannot access memory" in o.get("set", "") or "E." in o.get("set", "") or "rror" in o.get("set", ""),
            "%s: the observer's memory write was not refused: %r" % (when, o.get("set")))


def main(t):
    L = t.layout
    for c in ("set pagination off", "set confirm off", "set width 0", "file " + t.elf):
        t.gdb(c)
    alone = Rig(t, [])
    try:
        want, _ = controller_session(t, alone, False)
    finally:
        alone.close(t)
    rig = Rig(t, ["--sessions", "4"])
    try:
        got, seen = controller_session(t, rig, True)
    finally:
        rig.close(t)
    t.require("error" not in seen, seen.get("error", ""))
    if not t.check(got == want, "the first GDB's transcript differs from the single-client one"):
        import difflib

        print("".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True), "alone", "with observer")))
    for k in ("a", "b"):
        if k not in seen or len(t.failures) or os.environ.get("RSPT_VERBOSE"):
            print("observer %s output:\n%s" % (k, seen.get(k, {}).get("all", "(none)")))
    check_observer(t, L, seen.get("a"), seen["ctl_vtop"], "while stepping")
    check_observer(t, L, seen.get("b"), seen["ctl_vtop"], "while running")
    m = re.search(r"pauses for observers: (\d+)", seen["ctl_session"])
    t.check(m is not None and int(m.group(1)) >= 1,
            "the guest was not paused for the observer while it ran: %r" % seen["ctl_session"])
    t.log("controller transcript: %d lines, identical: %s; %s" % (
        got.count("\n"), got == want, m.group(0) if m else "no pauses"))


gdbside.run(main)
