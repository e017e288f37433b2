"""Starting QEMU, the bridge and GDB for one test, and always reaping them.

Every child is started by this module, remembered by its Popen object and killed by PID
(its own process group, so nothing else is touched) in a finally block, at exit and on
SIGTERM/SIGINT.  Children also get PR_SET_PDEATHSIG, so they die with this process even
when it is killed with SIGKILL (for example by a CTest timeout).
"""

import atexit
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

SKIP = 77

_children = []


class Skip(Exception):
    pass


def _pdeathsig():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    os.setpgid(0, 0)


def spawn(argv, **kw):
    p = subprocess.Popen(argv, preexec_fn=_pdeathsig, **kw)
    _children.append(p)
    return p


def reap(p, grace=2.0):
    """Ends one child we started: SIGTERM to its group, then SIGKILL, then wait."""
    if p.poll() is None:
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                break
            try:
                p.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
    if p in _children:
        _children.remove(p)
    return p.returncode


def reap_all():
    for p in list(reversed(_children)):
        reap(p, grace=1.0)


def _on_signal(sig, _frame):
    reap_all()
    sys.exit(128 + sig)


atexit.register(reap_all)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGHUP, _on_signal)


def require(program, what=None):
    """Path of a program, or Skip (a failure under RSP_NO_SKIP=1) when it is missing."""
    path = shutil.which(program) if os.sep not in program else program
    if not path or not os.access(path, os.X_OK):
        raise Skip("%s not found: %s" % (what or "program", program))
    return path


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def listening(port, pid=None):
    """True when something (process pid, if given) listens on 127.0.0.1:port; read from
    /proc, never connecting: a connection would be taken as the debugger by a single-client
    gdbstub.  Checking the owner matters: between our probe and the child's bind another
    program may take the port."""
    want = "0100007F:%04X" % port
    inodes = set()
    try:
        with open("/proc/net/tcp") as f:
            for line in f.readlines()[1:]:
                w = line.split()
                if w[1] == want and w[3] == "0A":
                    inodes.add("socket:[%s]" % w[9])
    except OSError:
        return False
    if not inodes or pid is None:
        return bool(inodes)
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)) in inodes:
                return True
        except OSError:
            continue
    return False


def start_listener(make_argv, what, timeout=10.0, tries=3, **kw):
    """Starts a program that listens on a port we choose; retries with another port when
    the program dies (the port was taken between our probe and its bind)."""
    last = None
    for _ in range(tries):
        port = free_port()
        p = spawn(make_argv(port), **kw)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if p.poll() is not None:
                break
            if listening(port, p.pid):
                return p, port
            time.sleep(0.02)
        last = p.poll()
        reap(p)  # died (port taken?) or never listened: try another port
    raise RuntimeError("%s did not start listening (exit status %s)" % (what, last))


class QMP:
    """QEMU's own view of the guest (QMP on a Unix socket), independent of any gdb connection."""

    def __init__(self, path, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX)
                self.s.connect(path)
                break
            except OSError:
                self.s.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.s.settimeout(60)
        self.f = self.s.makefile("rw")
        self._read()  # the greeting
        self.cmd("qmp_capabilities")

    def _read(self):
        while True:
            line = self.f.readline()
            if not line:
                raise RuntimeError("QMP closed")
            m = json.loads(line)
            if "event" not in m:
                return m

    def cmd(self, name, **args):
        self.f.write(json.dumps({"execute": name, "arguments": args}) + "\n")
        self.f.flush()
        r = self._read()
        if "error" in r:
            raise RuntimeError("QMP %s: %s" % (name, r["error"]))
        return r["return"]

    def status(self):
        return self.cmd("query-status")["status"]

    def close(self):
        self.f.close()
        self.s.close()
