#!/usr/bin/env python3
"""Runs one end-to-end test: QEMU (stopped, gdbstub on a free loopback port), optionally
rspbridge in front of it, and stock GDB in batch mode running a test script (Python inside
GDB, see gdbside.py).  Exit status: GDB's (0 pass, 1 fail), 77 when a tool is missing (a
failure when RSP_NO_SKIP=1).

    runner.py --layout L --kernel IMAGE --elf GUEST.elf --script T.py [--bridge RSPBRIDGE]
              [--timeout S] [--seed N] [--serial FILE] [--qmp]

With --qmp QEMU also gets a QMP socket, passed to the script as RSPT_QMP (QEMU's own view
of the run state, independent of any gdb connection).  RSPT_BRIDGE_PATH and RSPT_BRIDGE_PID
name the bridge the runner started, for scripts that signal it or start their own.
"""

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import layout  # noqa: E402
import procs  # noqa: E402


def qemu_argv(qemu, lay, kernel, port, serial=None):
    return [qemu] + lay.qemu[1:] + [
        "-nodefaults",
        "-display",
        "none",
        "-monitor",
        "none",
        "-serial",
        "file:" + serial if serial else "none",
        "-no-reboot",
        "-S",
        "-gdb",
        "tcp:127.0.0.1:%d" % port,
        "-kernel",
        kernel,
    ]


class Session:
    port = qport = None
    bridge_rc = None  # the bridge's exit status once reaped (0: ended by our SIGTERM)
    bridge_pid = None
    save_dir = None  # @SAVE_DIR@ (--save-dir): a private directory, removed afterwards


@contextlib.contextmanager
def session(lay, kernel, bridge=None, serial=None, bridge_args=(), qemu_extra=()):
    """Starts QEMU (and the bridge); yields a Session (.port for GDB, .qport QEMU's);
    reaps both, recording the bridge's exit status (sanitizer reports make it non-zero)."""
    qemu = procs.require(lay.qemu[0], "QEMU")
    if not os.path.exists(kernel):
        raise procs.Skip("guest image %s was not built (clang or ld.lld missing?)" % kernel)
    if bridge:
        procs.require(bridge, "rspbridge")
    started = []
    s = Session()
    b = None
    try:
        q, s.qport = procs.start_listener(
            lambda p: qemu_argv(qemu, lay, kernel, p, serial) + list(qemu_extra), "QEMU"
        )
        started.append(q)
        s.qemu_pid = q.pid
        s.port = s.qport
        if any("@SAVE_DIR@" in a for a in bridge_args):
            s.save_dir = tempfile.mkdtemp(prefix="rspt-save-")
        if bridge:
            def bridge_argv(p):
                # @HTTP_PORT@ (--http): a free port of its own, chosen per attempt.
                s.http_port = procs.free_port() if any("@HTTP_PORT@" in a for a in bridge_args) else None
                return (
                    [bridge, "--listen", "127.0.0.1:%d" % p]
                    + [
                        a.replace("@QEMU_PID@", str(q.pid))
                        .replace("@HTTP_PORT@", str(s.http_port))
                        .replace("@SAVE_DIR@", str(s.save_dir))
                        for a in bridge_args
                    ]  # --qemu-pid, --http, --save-dir
                    + ["tcp:127.0.0.1:%d" % s.qport]
                )

            b, s.port = procs.start_listener(bridge_argv, "rspbridge")
            started.append(b)
            s.bridge_pid = b.pid
        yield s
    finally:
        for p in reversed(started):
            rc = procs.reap(p, grace=10.0 if p is b else 2.0)
            if p is b:
                s.bridge_rc = rc
        if s.save_dir:
            shutil.rmtree(s.save_dir, ignore_errors=True)


def gdb_argv(lay, script):
    gdb = procs.require(lay.gdb, "GDB")
    return [
        gdb,
        "-nx",
        "-batch",
        "-ex",
        "python import sys; sys.path.insert(0, %r)" % HERE,
        "-x",
        script,
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layout", required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--elf", required=True)
    ap.add_argument("--script", required=True)
    ap.add_argument("--bridge")
    ap.add_argument("--bridge-arg", action="append", default=[], help="an extra bridge argument")
    ap.add_argument("--timeout", type=float, default=240)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--serial")
    ap.add_argument("--qmp", action="store_true", help="give QEMU a QMP socket (RSPT_QMP)")
    args = ap.parse_args()
    no_skip = os.environ.get("RSP_NO_SKIP") == "1"
    try:
        lay = layout.Layout(args.layout)
        argv = gdb_argv(lay, args.script)
        qmp_dir = tempfile.TemporaryDirectory(prefix="rspt-qmp-") if args.qmp else None
        qemu_extra = []
        if qmp_dir:
            qmp_path = os.path.join(qmp_dir.name, "qmp.sock")
            qemu_extra = ["-qmp", "unix:%s,server=on,wait=off" % qmp_path]
        with session(lay, args.kernel, args.bridge, args.serial, args.bridge_arg, qemu_extra) as s:
            env = dict(os.environ)
            env.update(
                RSPT_PORT=str(s.port),
                RSPT_QEMU_PORT=str(s.qport),
                RSPT_LAYOUT=os.path.abspath(args.layout),
                RSPT_ELF=os.path.abspath(args.elf),
                RSPT_BRIDGE="1" if args.bridge else "0",
                RSPT_BRIDGE_ARGS=" ".join(args.bridge_arg),
                RSPT_BRIDGE_BIN=os.path.abspath(args.bridge) if args.bridge else "",
                RSPT_KERNEL=os.path.abspath(args.kernel),
            )
            env["RSPT_QEMU_PID"] = str(s.qemu_pid)  # for a test that ends QEMU itself (a lost target)
            if args.bridge:
                env.update(RSPT_BRIDGE_PATH=os.path.abspath(args.bridge), RSPT_BRIDGE_PID=str(s.bridge_pid))
                if getattr(s, "http_port", None):
                    env["RSPT_HTTP_PORT"] = str(s.http_port)
                if s.save_dir:
                    env["RSPT_SAVE_DIR"] = s.save_dir
            if qmp_dir:
                env["RSPT_QMP"] = qmp_path
            if args.seed is not None:
                env["RSPT_SEED"] = str(args.seed)
            g = procs.spawn(argv, env=env)
            try:
                rc = g.wait(args.timeout)
            except subprocess.TimeoutExpired:
                print("runner: timeout after %gs" % args.timeout, file=sys.stderr)
                rc = 1
            finally:
                procs.reap(g)
        if args.bridge and s.bridge_rc != 0:
            print("runner: rspbridge exited with status %s after SIGTERM" % s.bridge_rc, file=sys.stderr)
            rc = rc or 1
    except procs.Skip as e:
        print("runner: %s" % e, file=sys.stderr)
        return 1 if no_skip else procs.SKIP
    except Exception as e:  # noqa: BLE001 - any harness failure fails the test
        print("runner: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        return 1
    finally:
        procs.reap_all()
    if rc == procs.SKIP and no_skip:
        print("runner: the test skipped and RSP_NO_SKIP=1", file=sys.stderr)
        return 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
