#!/usr/bin/env python3
"""End-to-end GDB File-I/O: an AArch64 guest makes semihosting calls (hlt #0xf000,
SYS_WRITE0) under QEMU -semihosting-config enable=on,target=gdb, so QEMU's gdbstub sends F
requests that stock GDB serves.  The GDB session through rspbridge must print exactly what
it prints connected to QEMU directly (before the fix GDB got "target timeout").

The guest is built here with clang and ld.lld.  Usage: e2e_fileio.py RSPBRIDGE.  Exit 77
(skip) without the tools unless RSP_NO_SKIP=1.  Every process is started through procs
(own process group, PDEATHSIG) and reaped by PID, also on failure.
"""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "qemu-tests", "harness"))
import procs  # noqa: E402

GUEST = r"""
    .text
    .globl _start
_start:
    mov x19, #3
1:  mov x0, #4          /* SYS_WRITE0 */
    adr x1, msg
    hlt #0xf000
    subs x19, x19, #1
    b.ne 1b
    .globl done
done:
    b done
msg:
    .asciz "hello from semihosting\n"
"""

SCRIPT = """set pagination off
set confirm off
break done
continue
info registers x19
print $pc == &done
"""


def build(tmp):
    cc = procs.require("clang", "clang")
    ld = procs.require("ld.lld", "ld.lld")
    src, obj, elf = (os.path.join(tmp, n) for n in ("g.S", "g.o", "g.elf"))
    with open(src, "w") as f:
        f.write(GUEST)
    subprocess.run([cc, "--target=aarch64-unknown-none-elf", "-c", src, "-o", obj], check=True)
    subprocess.run([ld, "-static", "-nostdlib", "-Ttext=0x40000000", "-e", "_start", "-o", elf, obj], check=True)
    return elf


def qemu(elf):
    q = procs.require("qemu-system-aarch64", "QEMU")
    return lambda port: [q, "-machine", "virt", "-cpu", "max", "-m", "64M", "-nodefaults",
                         "-display", "none", "-monitor", "none", "-serial", "none", "-S",
                         "-semihosting-config", "enable=on,target=gdb",
                         "-gdb", "tcp:127.0.0.1:%d" % port, "-kernel", elf]


def session(elf, script, bridge=None):
    qp, qport = procs.start_listener(qemu(elf), "QEMU")
    bp = None
    try:
        port = qport
        if bridge:
            bp, port = procs.start_listener(
                lambda p: [bridge, "--listen", "127.0.0.1:%d" % p, "--timeout", "500"] + os.environ.get("E2E_FILEIO_BRIDGE_ARGS", "").split() + [
                           "tcp:127.0.0.1:%d" % qport], "rspbridge", stderr=subprocess.DEVNULL)
        gdb = procs.require("gdb-multiarch", "gdb-multiarch")
        g = procs.spawn([gdb, "-nx", "-batch", "-ex", "file " + elf,
                         "-ex", "target remote 127.0.0.1:%d" % port, "-x", script],
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            out, _ = g.communicate(timeout=60)  # a hang guard
        finally:
            procs.reap(g)
        return "\n".join(l for l in out.splitlines() if not l.startswith("Remote debugging using"))
    finally:
        if bp:
            procs.reap(bp)
        procs.reap(qp)


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    bridge = sys.argv[1]
    try:
        with tempfile.TemporaryDirectory(prefix="rsp-fileio-") as tmp:
            elf = build(tmp)
            script = os.path.join(tmp, "s.gdb")
            with open(script, "w") as f:
                f.write(SCRIPT)
            direct = session(elf, script)
            bridged = session(elf, script, bridge)
    except procs.Skip as e:
        if os.environ.get("RSP_NO_SKIP") == "1":
            print("FAIL (RSP_NO_SKIP=1): %s" % e)
            return 1
        print("SKIP: %s" % e)
        return procs.SKIP
    finally:
        procs.reap_all()
    ok = True
    if direct.count("hello from semihosting") != 3 or not re.search(r"\$1 = 1", direct):
        print("FAIL: the direct session did not run as expected:\n" + direct)
        ok = False
    if bridged != direct:
        print("FAIL: through the bridge GDB printed:\n%s\n--- directly:\n%s" % (bridged, direct))
        ok = False
    if ok:
        print("ok: File-I/O through the bridge as directly (%d lines)" % len(direct.splitlines()))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
