#!/usr/bin/env python3
"""The bare-metal stub inside a QEMU guest, over QEMU's serial TCP socket.

Boots a demo guest (stub/ports/<arch>/) whose UART carries the stub, then:
  1. drives stock GDB (gdb-multiarch) against it: registers, memory, a breakpoint hit
     twice with the counter it guards advancing by one, a single step, writes, an
     unreadable address;
  2. speaks raw RSP to check what GDB cannot show in batch mode: the stop reply after a
     continue interrupted with 0x03, and detach.

    port_qemu.py --guest ELF --qemu "qemu-system-riscv64 -M virt -bios none" [--gdb G]

Exit status 0 pass, 1 fail, 77 skip (a failure when RSP_NO_SKIP=1).
"""

import argparse
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "qemu-tests", "harness"))
import procs  # noqa: E402


def frame(body):
    return b"$" + body + b"#%02x" % (sum(body) & 0xFF)


class Raw:
    """A minimal RSP client (ack mode) for the checks GDB cannot make in batch mode."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def _packet(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(rb"\$([^#]*)#([0-9a-f]{2})", self.buf)
            if m:
                self.buf = self.buf[m.end():]
                self.s.sendall(b"+")
                return m.group(1)
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError("no reply (have %r)" % self.buf)
            self.s.settimeout(left)
            self.buf += self.s.recv(4096)

    def send(self, body, reply=True):
        self.s.sendall(frame(body))
        return self._packet() if reply else None

    def close(self):
        self.s.close()


# Per architecture: bytes the compiled-in breakpoint leaves the pc after (RISC-V and AArch64
# step over it in the trap handler, x86's int3 is past already), the instruction size
# when fixed, the pc's register number.
ARCH = {
    "riscv64": {"brk_skip": 4, "insn": 4, "pc": b"20"},
    "aarch64": {"brk_skip": 4, "insn": 4, "pc": b"20"},
    "x86_64": {"brk_skip": 1, "insn": None, "pc": b"10"},
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--guest", required=True, help="the guest's ELF (symbols for GDB)")
    ap.add_argument("--kernel", help="what QEMU boots (default: the ELF)")
    ap.add_argument("--qemu", required=True, help="QEMU command line (machine options)")
    ap.add_argument("--gdb", default="gdb-multiarch")
    ap.add_argument("--step", action="store_true", help="the port has hardware single-step")
    ap.add_argument("--arch", choices=sorted(ARCH), default="riscv64")
    ap.add_argument("--hw", action="store_true", help="the port has hardware breakpoints (Z1)")
    ap.add_argument("--bridge", help="also test rspbridge (--phys offset:0) in front")
    ap.add_argument("--bridge-dir", help="use DIR/rspbridge when it has been built")
    a = ap.parse_args()
    arch = ARCH[a.arch]
    if a.bridge_dir and not a.bridge and os.access(os.path.join(a.bridge_dir, "rspbridge"),
                                                   os.X_OK):
        a.bridge = os.path.join(a.bridge_dir, "rspbridge")

    a.kernel = a.kernel or a.guest
    for f in (a.guest, a.kernel):
        if not os.path.exists(f):
            raise procs.Skip("guest %s was not built (clang or ld.lld missing?)" % f)
    qargv = shlex.split(a.qemu)
    qemu = procs.require(qargv[0], "QEMU")
    gdb = procs.require(a.gdb, "GDB")

    def qemu_argv(port):
        return [qemu] + qargv[1:] + [
            "-nodefaults", "-display", "none", "-monitor", "none", "-no-reboot",
            "-kernel", a.kernel, "-serial", "tcp:127.0.0.1:%d,server=on,wait=off" % port]

    failures = []

    def check(cond, what, detail=""):
        if not cond:
            failures.append(what + ("\n" + detail if detail else ""))

    tmp = tempfile.mkdtemp(prefix="stub_port_")
    q, port = procs.start_listener(qemu_argv, "QEMU")
    try:
        script = os.path.join(tmp, "t.gdb")
        with open(script, "w") as f:
            f.write("\n".join([
                "set pagination off", "set confirm off",
                "file " + a.guest,
                "target remote 127.0.0.1:%d" % port,
                "p/x $pc",
                "p/x (unsigned long)stub_compiled_break + %d" % arch["brk_skip"],
                "x/4xb pattern",
                "p counter",
                "break worker",
                "continue",
                "p counter",
                "continue",
                "p counter",
                "delete",
                "p/x $pc",
                "stepi",
                "p/x $pc",
                "set var pattern[0] = 0xa5",
                "x/1xb pattern",
                "python\ntry:\n  gdb.execute('x/1xb 0', to_string=True)\n  print('READ-0 OK')\n"
                "except gdb.error as e:\n  print('READ-0 ERROR', e)\nend",
                "set var pattern[0] = 0x5a",
            ] + ([
                "hbreak worker",
                "continue",
                "p counter",
                "continue",
                "p counter",
                "delete",
            ] if a.hw else []) + ["detach"]) + "\n")
        p = subprocess.run([gdb, "-nx", "-batch", "-x", script], capture_output=True, text=True,
                           timeout=120)
        out = p.stdout + p.stderr
        values = re.findall(r"^\$\d+ = (.*)$", out, re.M)
        # $1 pc, $2 expected pc, $3 counter, $4 counter, $5 counter, $6 pc, $7 pc
        # (with --hw: $8 counter, $9 counter at the hardware breakpoint)
        want = 9 if a.hw else 7
        check(len(values) == want, "GDB session incomplete", out)
        if a.hw and len(values) == 9:
            check(int(values[8]) == int(values[7]) + 1,
                  "the hardware breakpoint did not stop once per call", out)
            check("Hardware assisted breakpoint" in out, "hardware breakpoint not reported", out)
        if len(values) == want:
            check(values[0] == values[1], "the first stop is not after the compiled-in ebreak",
                  out)
            c0, c1, c2 = (int(v) for v in values[2:5])
            check(c2 == c1 + 1, "the breakpoint in worker() did not stop once per call", out)
            check(c1 >= c0, "the counter went backwards", out)
            if arch["insn"]:
                check(int(values[6], 16) == int(values[5], 16) + arch["insn"],
                      "stepi did not move by one instruction", out)
            else:
                check(int(values[6], 16) != int(values[5], 16), "stepi did not move", out)
        check(re.search(r"<pattern>:\s+0x5a\s+0x5b\s+0x58\s+0x59", out), "pattern bytes", out)
        check(re.search(r"<pattern>:\s+0xa5\s*$", out, re.M), "memory write not visible", out)
        check("READ-0 ERROR" in out, "reading outside RAM did not fail", out)
        check("Breakpoint 1, worker" in out, "breakpoint not reported", out)

        if a.bridge:
            # The bridge in front of the bare-metal stub: physical memory through the
            # offset backend (M-mode has no translation: PA = VA), and run control.
            b, bport = procs.start_listener(
                lambda bp: [a.bridge, "--listen", "127.0.0.1:%d" % bp, "--phys", "offset:0",
                            "tcp:127.0.0.1:%d" % port], "rspbridge",
                stderr=open(os.path.join(tmp, "bridge.log"), "w"))
            try:
                with open(script, "w") as f:
                    f.write("\n".join([
                        "set pagination off", "set confirm off", "file " + a.guest,
                        "target remote 127.0.0.1:%d" % bport,
                        "x/4xb pattern",
                        "python\naddr = int(gdb.parse_and_eval('(unsigned long)&pattern'))\n"
                        "print(gdb.execute('monitor phys read %#x 0x10' % addr, to_string=True))\n"
                        "end",
                        "break worker", "continue", "p counter", "continue", "p counter",
                        "delete", "detach"]) + "\n")
                p = subprocess.run([gdb, "-nx", "-batch", "-x", script], capture_output=True,
                                   text=True, timeout=120)
                bout = p.stdout + p.stderr
                check(re.search(r"<pattern>:\s+0x5a\s+0x5b\s+0x58\s+0x59", bout),
                      "pattern through the bridge", bout)
                check(re.search(r"5a 5b 58 59 5e 5f 5c 5d", bout),
                      "monitor phys read through the bridge", bout)
                bvals = [int(v) for v in re.findall(r"^\$\d+ = (\d+)$", bout, re.M)]
                check(len(bvals) == 2 and bvals[1] == bvals[0] + 1,
                      "breakpoint through the bridge", bout)
            finally:
                procs.reap(b)

        # Raw RSP: interrupt a running guest.
        r = Raw(port)
        try:
            stop = r.send(b"?")
            check(stop.startswith(b"T") or stop.startswith(b"S"), "bad ? reply %r" % stop)
            sup = r.send(b"qSupported:swbreak+")
            check(b"PacketSize=" in sup and b"vContSupported+" in sup, "qSupported %r" % sup)
            want = b"vCont;c;C;s;S;t" if a.step else b"vCont;c;C;t"
            got = r.send(b"vCont?")
            check(got == want, "vCont? gave %r, want %r" % (got, want))
            if a.step:
                # Stopped right after the compiled-in breakpoint, on its "ret": one
                # hardware step lands on the return address (x30 on AArch64, the word
                # at rsp on x86).
                if a.arch == "aarch64":
                    ret = r.send(b"p1e")
                else:
                    rsp = int.from_bytes(bytes.fromhex(r.send(b"p7").decode()), "little")
                    ret = r.send(b"m%x,8" % rsp)
                stop = r.send(b"vCont;s:1")
                check(stop.startswith(b"T05"), "step gave %r" % stop)
                check(r.send(b"p" + arch["pc"]) == ret, "the step did not execute the ret")
            r.send(b"c", reply=False)
            time.sleep(0.3)
            r.s.sendall(b"\x03")
            stop = r._packet()
            check(stop.startswith(b"T02"), "interrupt gave %r, want T02" % stop)
            check(r.send(b"D") == b"OK", "detach")
        finally:
            r.close()
    finally:
        procs.reap(q)
    for f in failures:
        print("FAIL:", f)
    if not failures:
        print("bare-metal stub: GDB session%s%s and raw interrupt%s checks passed" %
              (", hardware breakpoints" if a.hw else "", ", bridge (offset:0)" if a.bridge else "",
               ", hardware step" if a.step else ""))
        for n in os.listdir(tmp):
            os.unlink(os.path.join(tmp, n))
        os.rmdir(tmp)
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except procs.Skip as e:
        print("SKIP:", e)
        sys.exit(1 if os.environ.get("RSP_NO_SKIP") == "1" else procs.SKIP)
