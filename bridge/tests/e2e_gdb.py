#!/usr/bin/env python3
"""End-to-end: stock gdb against qemu-system-x86_64 directly, through
rspbridge (--listen, QEMU started with --exec) and through rspbridge
--stdio, running the same GDB script; the transcripts must be identical.

QEMU runs with no guest at all (-S, the BIOS reset vector in real mode):
enough for breakpoints, continue, stepi, registers and memory.

Also --exec without gdb: a guest started without -S keeps running until
a client attaches (asked through QMP), QEMU ends when the bridge gets
SIGHUP or SIGKILL.

Usage: e2e_gdb.py RSPBRIDGE.  Exit 77 (skip) without QEMU or GDB unless
RSP_NO_SKIP=1.  Every process is killed by PID and reaped, also on failure.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "qemu-tests", "harness"))
import procs as harness  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "e2e_script.gdb")
# A second session on the same QEMU after the first detached (the guest
# ran meanwhile): attaching again must stop it, as a direct attach does.
SCRIPT2 = os.path.join(HERE, "e2e_script2.gdb")
QEMU = "qemu-system-x86_64"
QEMU_ARGS = ["-S", "-display", "none", "-monitor", "none", "-serial", "none",
             "-nodefaults", "-m", "64"]
procs = []


def which(name):
    for d in os.environ.get("PATH", "").split(":"):
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    return None


def skip(why):
    if os.environ.get("RSP_NO_SKIP") == "1":
        print("FAIL (RSP_NO_SKIP=1): " + why)
        sys.exit(1)
    print("SKIP: " + why)
    sys.exit(77)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, secs=10):
    end = time.time() + secs
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError("process exited early")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("port %d never opened" % port)


def spawn(argv, **kw):
    p = subprocess.Popen(argv, **kw)
    procs.append(p)
    return p


def kill_all():
    for p in procs:
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            p.wait(5)
        except Exception:
            pass


def gdb(target_cmd):
    out = ""
    for script in (SCRIPT, SCRIPT2):
        r = subprocess.run(["gdb", "-nx", "-batch", "-ex", target_cmd, "-x", script],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=60, text=True)
        # The next GDB connects at once: the bridge takes the old connection's close first,
        # and QEMU accepts the next client once it has seen the old one go.
        out += r.stdout + "--- next session ---\n"
    return out


def normalise(text):
    out = []
    first, _, second = text.partition("--- next session ---\n")
    # The guest ran between the sessions: where the second one finds it
    # depends on timing, direct or not.
    second = re.sub(r"(?m)^0x[0-9a-f]+ in \?\? \(\)$", "0x(where the guest was) in ?? ()", second)
    text = first + "--- next session ---\n" + second
    for line in text.splitlines():
        # The bridge's own log lines (--stdio: its stderr is gdb's).
        if line.startswith("Remote debugging using") or line.startswith("rspbridge: "):
            continue
        out.append(line)
    return "\n".join(out)


def run_direct():
    port = free_port()
    q = spawn([QEMU] + QEMU_ARGS + ["-gdb", "tcp:127.0.0.1:%d" % port])
    # QEMU pauses the guest when gdb connects; probing the port first is
    # harmless under -S.
    wait_port(port, q)
    out = gdb("target remote 127.0.0.1:%d" % port)
    os.kill(q.pid, signal.SIGKILL)
    q.wait(5)
    return out


def start_exec(bridge, qemu_args, env=None):
    """rspbridge --exec QEMU: (bridge, QEMU pid, listen port, gdb socket)."""
    b = spawn([bridge, "--listen", "127.0.0.1:0", "--exec", "--", QEMU] + qemu_args,
              stderr=subprocess.PIPE, text=True, env=env)
    port = qpid = sock = None
    end = time.time() + 15
    while time.time() < end and port is None:
        line = b.stderr.readline()
        if not line:
            break
        m = re.search(r"started .* \(pid (\d+)\)", line)
        if m:
            qpid = int(m.group(1))
            # Killed (by PID) in kill_all() if a check fails.
            procs.append(type("P", (), {"pid": qpid, "poll": lambda self: None,
                                        "wait": lambda self, t=None: None})())
            m = re.search(r"with -gdb unix:([^,]+)", line)
            sock = m and m.group(1)
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if m:
            port = int(m.group(1))
    if port is None or qpid is None or sock is None:
        raise RuntimeError("bridge did not say which QEMU it started, on which gdb socket, "
                           "and where it listens")
    return b, qpid, port, sock


def pid_gone(pid, secs=5):
    """The process ended within secs (a zombie counts: PID 1 in a container
    may never reap QEMU once the bridge is gone)."""
    end = time.time() + secs
    while True:
        try:
            with open("/proc/%d/stat" % pid) as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except (FileNotFoundError, ProcessLookupError, IndexError):
            return True
        if time.time() > end:
            return False
        time.sleep(0.05)


def run_bridge_exec(bridge):
    b, qpid, port, _ = start_exec(bridge, QEMU_ARGS)
    out = gdb("target remote 127.0.0.1:%d" % port)
    # The bridge ends QEMU when it exits.
    os.kill(b.pid, signal.SIGTERM)
    rc = b.wait(10)
    # Before reading the bridge's stderr: a surviving QEMU holds it open.
    if not pid_gone(qpid):
        raise RuntimeError("QEMU pid %d survived the bridge" % qpid)
    rest = b.stderr.read()
    if rc != 0:
        raise RuntimeError("bridge exit status %d: %s" % (rc, rest))
    return out


def run_bridge_stdio(bridge):
    port = free_port()
    q = spawn([QEMU] + QEMU_ARGS + ["-gdb", "tcp:127.0.0.1:%d" % port])
    wait_port(port, q)
    out = gdb("target remote | %s --stdio 127.0.0.1:%d" % (bridge, port))
    os.kill(q.pid, signal.SIGKILL)
    q.wait(5)
    return out


def qemu_dies(bridge):
    """QEMU started with --exec dies: the bridge says so and exits 4."""
    b, qpid, _, _ = start_exec(bridge, QEMU_ARGS)
    os.kill(qpid, signal.SIGKILL)
    rc = b.wait(10)
    rest = b.stderr.read()
    if rc != 4 or "QEMU (pid %d) was killed by signal 9" % qpid not in rest:
        raise RuntimeError("bridge exit %d after QEMU died: %s" % (rc, rest))


def rsp(port, packet):
    """One request to the bridge, its reply's body."""
    c = socket.create_connection(("127.0.0.1", port), 10)
    c.settimeout(10)
    c.sendall(b"$%s#%02x" % (packet, sum(packet) & 0xff))
    buf = b""
    while not re.search(rb"\$([^#]*)#..", buf):
        data = c.recv(4096)
        if not data:
            raise RuntimeError("bridge closed the connection: %r" % buf)
        buf += data
    c.close()
    return re.search(rb"\$([^#]*)#..", buf).group(1)


def exec_lifecycle(bridge):
    """--exec on a guest without -S: it keeps running until a client
    attaches (the bridge does not probe QEMU's gdbstub); QEMU ends when the
    bridge gets SIGHUP, and when the bridge is killed with SIGKILL."""
    tmp = tempfile.mkdtemp(prefix="rsp-e2e-")
    try:
        env = dict(os.environ, TMPDIR=tmp)
        qmp_path = os.path.join(tmp, "qmp.sock")
        args = [a for a in QEMU_ARGS if a != "-S"] + [
            "-qmp", "unix:%s,server=on,wait=off" % qmp_path]
        b, qpid, port, sock = start_exec(bridge, args, env)
        if not sock.startswith(tmp + "/rspbridge."):
            raise RuntimeError("gdb socket %s not in $TMPDIR %s" % (sock, tmp))
        qmp = harness.QMP(qmp_path)
        # The bridge has not attached to QEMU's gdbstub (which would stop the guest): the
        # gdb chardev has no client, and the guest runs.
        gdbdev = [c["filename"] for c in qmp.cmd("query-chardev") if c["label"] == "gdb"]
        if len(gdbdev) != 1 or not gdbdev[0].startswith("disconnected:"):
            raise RuntimeError("QEMU's gdbstub before any client attached: %r" % gdbdev)
        st = qmp.status()
        if st != "running":
            raise RuntimeError("guest without -S is %r before any client attached" % st)
        reply = rsp(port, b"?")
        if not reply.startswith(b"T"):
            raise RuntimeError("stop reply through the bridge: %r" % reply)
        st = qmp.status()
        qmp.close()
        if st != "paused":
            raise RuntimeError("guest is %r after a client attached, expected paused" % st)
        os.kill(b.pid, signal.SIGHUP)
        rc = b.wait(10)
        if not pid_gone(qpid):
            raise RuntimeError("QEMU pid %d survived the bridge's SIGHUP" % qpid)
        rest = b.stderr.read()
        if rc != 0 or "SIGHUP, exiting" not in rest:
            raise RuntimeError("bridge exit %d after SIGHUP: %s" % (rc, rest))
        if os.path.exists(os.path.dirname(sock)):
            raise RuntimeError("gdb socket directory %s left behind" % os.path.dirname(sock))

        # SIGKILL: no handler runs; QEMU must still go (PR_SET_PDEATHSIG).
        b, qpid, _, _ = start_exec(bridge, QEMU_ARGS, env)
        os.kill(b.pid, signal.SIGKILL)
        b.wait(10)
        if not pid_gone(qpid):
            raise RuntimeError("QEMU pid %d survived the bridge's SIGKILL" % qpid)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    if len(sys.argv) != 2:
        print("usage: e2e_gdb.py RSPBRIDGE")
        return 2
    bridge = sys.argv[1]
    if not which(QEMU):
        skip(QEMU + " not found")
    try:
        # Needs QEMU only.
        exec_lifecycle(bridge)
        if not which("gdb"):
            skip("gdb not found (the --exec lifecycle checks passed)")
        direct = normalise(run_direct())
        via = normalise(run_bridge_exec(bridge))
        via_stdio = normalise(run_bridge_stdio(bridge))
        qemu_dies(bridge)
    finally:
        kill_all()
    # The script must have done real work, so that two empty transcripts
    # cannot pass.
    for want in ["0xffff0:\t0xea\t0x5b\t0xe0", "rip            0xe05b",
                 "0x1000:\t0x12345678\t0x000000ab", "efer", "Breakpoint 1 at 0xfe05b",
                 "VM status: paused", "Restoring binary file e2e-bios.bin into memory (0x20000 to 0x25000)"]:
        if want not in direct:
            print("direct transcript lacks %r:\n%s" % (want, direct))
            return 1
    ok = True
    for name, t in (("--exec", via), ("--stdio", via_stdio)):
        if t != direct:
            ok = False
            import difflib
            print("transcript through the bridge (%s) differs from direct:" % name)
            for d in difflib.unified_diff(direct.splitlines(), t.splitlines(), "direct", name,
                                          lineterm=""):
                print(d)
    if ok:
        print("identical transcripts (%d lines) direct, via --exec, via --stdio; "
              "QEMU death ends the bridge with status 4; --exec leaves a running guest "
              "running until a client attaches, QEMU ends on the bridge's SIGHUP and "
              "SIGKILL" % len(direct.splitlines()))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
