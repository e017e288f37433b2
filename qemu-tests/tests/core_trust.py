"""The bridge core leaves the target as it was (runs inside GDB; runner.py --bridge --qmp).

Ending the bridge with SIGINT, SIGTERM or SIGHUP in the middle of a long `monitor phys read`
(QEMU switched to physical-memory mode for it): the bridge stops the command, lets it put the
mode back, runs the service's finish step and exits 0.  Then GDB connects DIRECTLY to QEMU's
gdbstub and asks `qqemu.PhyMemMode` (QEMU answers its current mode): it must be 0, and QEMU
must be alive and in the run state it was in (QMP, independent of any gdb connection).

Also GDB's kill: refused with --read-only (QEMU untouched, the session goes on), a detach
with --on-kill detach (QEMU alive and running the guest).

Each round starts its own bridge (RSPT_BRIDGE_PATH) with --trace, and signals it once the
trace shows the command under way (the mode switched and reads flowing): an event, not a
delay.
"""

import os
import re
import signal
import subprocess
import tempfile
import threading
import time

import gdb
import gdbside
import procs


def qmp_status():
    q = procs.QMP(os.environ["RSPT_QMP"])
    try:
        return q.status()
    finally:
        q.close()


def direct_mode(t, qport):
    """QEMU's physical-memory mode, asked by GDB connected straight to QEMU."""
    t.gdb("target remote 127.0.0.1:%d" % qport)
    try:
        out = t.gdb("maintenance packet qqemu.PhyMemMode")
    finally:
        t.gdb("disconnect")
    m = re.search(r'received: "([^"]*)"', out)
    if not m:
        raise gdbside.Fail("qqemu.PhyMemMode: unexpected answer %r" % out)
    return m.group(1)


def signal_when_under_way(pid, trace, sig, fired, stop):
    """Sends sig to the bridge once its trace shows the phys read under way."""
    deadline = time.monotonic() + 60
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            with open(trace, "rb") as f:
                data = f.read()
        except OSError:
            data = b""
        i = data.find(b"b>t $Qqemu.PhyMemMode:1")
        if i >= 0 and data.count(b"b>t $m", i) >= 8:
            os.kill(pid, sig)
            fired.set()
            return
        stop.wait(0.01)  # polling the trace file for the event


def one_round(t, bridge, qport, base, size, sig, tmp):
    name = signal.Signals(sig).name
    trace = os.path.join(tmp, "trace-%s" % name)
    errlog = open(os.path.join(tmp, "bridge-%s.log" % name), "w+")
    b, port = procs.start_listener(
        lambda p: [bridge, "--listen", "127.0.0.1:%d" % p, "--trace", trace, "tcp:127.0.0.1:%d" % qport],
        "rspbridge",
        stderr=errlog,
    )
    try:
        t.gdb("target remote 127.0.0.1:%d" % port)
        state_before = qmp_status()
        fired, stop = threading.Event(), threading.Event()
        th = threading.Thread(target=signal_when_under_way, args=(b.pid, trace, sig, fired, stop), daemon=True)
        th.start()
        ended_by = None
        try:
            gdb.execute("monitor phys read %#x %#x" % (base, min(size, 0x4000000)), to_string=True)
            ended_by = "the command finished"
        except gdb.error as e:
            ended_by = str(e)
        stop.set()
        th.join()
        t.require(fired.is_set(), "%s: the phys read ended (%s) before the signal" % (name, ended_by))
        try:
            rc = b.wait(30)  # a hang guard: the bridge's own bound is its --timeout
        except subprocess.TimeoutExpired:
            rc = None
        errlog.seek(0)
        log = errlog.read()
        t.check(rc == 0, "%s: the bridge did not exit 0 (status %s); log: %s" % (name, rc, log[-500:]))
        t.check("stopping the running command" in log, "%s: the bridge did not stop the command: %s" % (name, log[-500:]))
        try:
            t.gdb("disconnect")
        except gdb.error:
            pass
        state_after = qmp_status()  # raises if QEMU is gone
        t.check(state_after == state_before, "%s: QEMU's run state %s, was %s" % (name, state_after, state_before))
        mode = direct_mode(t, qport)
        t.check(mode == "0", "%s: QEMU left in physical-memory mode %r after the bridge ended" % (name, mode))
        t.log("%s during phys read: bridge exit %s, QEMU %s, PhyMemMode %s" % (name, rc, state_after, mode))
    finally:
        procs.reap(b)
        errlog.close()


def kill_round(t, bridge, qport, args, tmp):
    """GDB's kill through a bridge started with args: (gdb error or None, QEMU state after)."""
    errlog = open(os.path.join(tmp, "bridge-kill-%s.log" % "-".join(a.strip("-") for a in args)), "w+")
    b, port = procs.start_listener(
        lambda p: [bridge, "--listen", "127.0.0.1:%d" % p] + args + ["tcp:127.0.0.1:%d" % qport],
        "rspbridge",
        stderr=errlog,
    )
    try:
        t.gdb("target remote 127.0.0.1:%d" % port)
        err = None
        try:
            t.gdb("kill")
        except gdb.error as e:
            err = str(e)
        state = qmp_status()  # raises if QEMU is gone
        if err is not None:
            t.reg("pc")  # the session goes on
        try:
            t.gdb("disconnect")
        except gdb.error:
            pass
        return err, state
    finally:
        procs.reap(b)
        errlog.close()


def main(t):
    bridge = os.environ.get("RSPT_BRIDGE_PATH")
    t.require(bridge and os.environ.get("RSPT_QMP"), "core_trust.py needs the runner's --bridge and --qmp")
    qport = int(os.environ["RSPT_QEMU_PORT"])
    t.connect()  # through the runner's bridge: GDB knows the guest
    t.to_stop()  # the guest ran and is stopped by GDB (QEMU's run state "debug")
    t.gdb("disconnect")
    base, size = max(t.layout.ram, key=lambda r: r[1])
    with tempfile.TemporaryDirectory(prefix="rspt-core-") as tmp:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            one_round(t, bridge, qport, base, size, sig, tmp)
        # --read-only: GDB's kill (vKill with QEMU) is refused, QEMU untouched.
        before = qmp_status()
        err, state = kill_round(t, bridge, qport, ["--read-only"], tmp)
        t.check(err is not None, "--read-only: kill was not refused")
        t.check(state == before, "--read-only: QEMU's run state %s after kill, was %s" % (state, before))
        # --on-kill detach: GDB sees its process killed, QEMU keeps running the guest.
        err, state = kill_round(t, bridge, qport, ["--on-kill", "detach"], tmp)
        t.check(err is None, "--on-kill detach: kill failed: %r" % err)
        t.check(state == "running", "--on-kill detach: QEMU's run state %s after kill, want running" % state)
        t.log("kill: refused with --read-only (%s), detached with --on-kill detach (%s)" % (before, state))


gdbside.run(main)
