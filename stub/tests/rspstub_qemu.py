#!/usr/bin/env python3
"""rspstub against the live guest it was dumped from.

Boots a qemu-tests guest (or, without one, plain QEMU at the BIOS reset vector), stops it,
makes an ELF core with QEMU's own dump-guest-memory over QMP, serves the core with rspstub,
and runs the same stock-GDB script against the live QEMU and against rspstub: registers,
virtual memory at every mapping and hole of the layout, physical memory through
Qqemu.PhyMemMode.  The transcripts must be equal.  Then checks that writes through rspstub
land in its overlay and never in the dump file.  With --bridge, the bridge's vtop, pte and
maps answers in front of both must be equal too.

    rspstub_qemu.py --rspstub PATH [--layout L --kernel IMG] [--bridge PATH] [--gdb gdb]

Exit status 0 pass, 1 fail, 77 skip (a failure when RSP_NO_SKIP=1).
"""

import argparse
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
HARNESS = os.path.join(HERE, "..", "..", "qemu-tests", "harness")
sys.path.insert(0, HARNESS)
import procs  # noqa: E402

try:
    import layout as layoutmod  # noqa: E402
except ImportError:  # the harness may be absent in a partial checkout
    layoutmod = None


QMP = procs.QMP


ARCHES = {
    "x86_64": ("i386:x86-64", ["rip", "rsp", "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "r8",
                               "r15", "eflags", "cs", "ss", "ds", "fs_base", "cr0", "cr3",
                               "cr4"]),
    "aarch64": ("aarch64", ["pc", "sp", "x0", "x1", "x2", "x19", "x29", "x30", "cpsr"]),
    "i386": ("i386", ["eip", "esp", "eax", "ebx", "ecx", "edx", "esi", "edi", "eflags", "cs",
                      "ss", "ds", "cr0", "cr3", "cr4"]),
    "riscv64": ("riscv:rv64", ["pc", "ra", "sp", "gp", "tp", "t0", "a0", "a1", "s0", "t6"]),
}
# QEMU's AArch64 and RISC-V dumps carry no system registers: the test reads them from the
# live guest and gives them to rspstub with --reg, as a user would from a log or a crash
# handler.
SYSREGS = {"aarch64": ["TTBR0_EL1", "TTBR1_EL1", "TCR_EL1", "SCTLR"], "riscv64": ["satp"]}


def gdb_script(arch, port, vas, pas, extra=""):
    gdb_arch, regs = ARCHES[arch]
    lines = ["set pagination off", "set confirm off", "set architecture " + gdb_arch,
             "target remote 127.0.0.1:%d" % port]
    for r in regs:
        lines.append("info registers %s" % r)
    # One command per address; errors do not stop a batch run of -ex commands, so each
    # read is wrapped to print the error text instead.
    for va in vas:
        lines.append("python\ntry:\n  print(gdb.execute('x/4xg %#x', to_string=True).strip())\n"
                     "except gdb.error as e:\n  print('error at %#x:', e)\nend" % (va, va))
    lines.append("maint packet Qqemu.PhyMemMode:1")
    for pa in pas:
        lines.append("x/4xg %#x" % pa)
    lines.append("maint packet Qqemu.PhyMemMode:0")
    lines.append(extra)
    # Last, the second CPU where the machine has one (-smp 2): threads are CPUs in both.
    lines.append("python\ntry:\n  gdb.execute('thread 2', to_string=True)\n"
                 "  print(gdb.execute('info registers %s', to_string=True).strip())\n"
                 "except gdb.error as e:\n  print('thread 2:', e)\nend" % regs[0])
    lines.append("disconnect")
    return "\n".join(lines) + "\n"


def run_gdb(gdb, script, tmp, name):
    path = os.path.join(tmp, name + ".gdb")
    with open(path, "w") as f:
        f.write(script)
    p = subprocess.run([gdb, "-nx", "-batch", "-x", path], capture_output=True, text=True,
                       timeout=120)
    out = p.stdout + p.stderr
    with open(os.path.join(tmp, name + ".out"), "w") as f:
        f.write(out)
    return out


def normalise(out):
    keep = []
    for line in out.splitlines():
        # GDB's own chatter (and the port it connected to) is not part of the answer.
        if line.startswith(("Remote debugging", "Ending remote debugging")):
            continue
        if "in ?? ()" in line or line.startswith("warning:") or "determining executable" in line:
            continue
        # QEMU names threads p1.N (multiprocess), rspstub N.
        if "Try using the" in line or line.startswith(("[Inferior", "[Switching to thread")):
            continue
        w = line.split()
        if len(w) >= 3 and w[1].startswith("0x") and not w[0].endswith(":"):
            # "info registers": name and hex value; the third column is GDB's rendering,
            # which depends on the types in the target XML (QEMU declares flag types).
            line = "%s %s" % (w[0], w[1])
        keep.append(line.strip())
    return keep


def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def bridge_answers(bridge, port, gdb, tmp, name, vas):
    b, bport = procs.start_listener(
        lambda p: [bridge, "--listen", "127.0.0.1:%d" % p, "tcp:127.0.0.1:%d" % port], "rspbridge")
    try:
        lines = ["set pagination off", "target remote 127.0.0.1:%d" % bport]
        cmds = []
        for va in vas:
            cmds += ["monitor vtop %#x" % va, "monitor pte %#x" % va]
        cmds.append("monitor maps")
        for c in cmds:
            lines.append("python\ntry:\n  print(gdb.execute('%s', to_string=True).strip())\n"
                         "except gdb.error as e:\n  print('error: %s:', e)\nend" % (c, c))
        lines.append("disconnect")
        return normalise(run_gdb(gdb, "\n".join(lines) + "\n", tmp, name))
    finally:
        procs.reap(b)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rspstub", required=True)
    ap.add_argument("--layout")
    ap.add_argument("--kernel")
    ap.add_argument("--bridge")
    ap.add_argument("--bridge-dir", help="use DIR/rspbridge when it has been built")
    ap.add_argument("--gdb", default="gdb")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    a = ap.parse_args()

    procs.require(a.rspstub, "rspstub")
    if a.kernel and not os.path.exists(a.kernel):
        raise procs.Skip("guest image %s was not built (clang or ld.lld missing?)" % a.kernel)
    if a.kernel and not (a.layout and layoutmod):
        raise procs.Skip("the qemu-tests harness (layout.py) is missing")
    if a.bridge_dir and not a.bridge and os.access(os.path.join(a.bridge_dir, "rspbridge"),
                                                   os.X_OK):
        a.bridge = os.path.join(a.bridge_dir, "rspbridge")
    guest = bool(a.kernel)
    lay = layoutmod.Layout(a.layout) if guest else None
    arch = "x86_64"
    if lay and lay.mode.name.startswith("arm64"):
        arch = "aarch64"
    elif lay and lay.mode.name.startswith("sv"):
        arch = "riscv64"
    elif lay and lay.mode.name.startswith("i386"):
        arch = "i386"
    gdb = procs.require(lay.gdb if lay else a.gdb, "GDB")
    qemu = procs.require(lay.qemu[0] if lay else "qemu-system-x86_64", "QEMU")
    if not guest:
        print("note: no guest image; testing plain QEMU at the BIOS reset vector")

    tmp = tempfile.mkdtemp(prefix="rspstub_qemu_")
    qsock = os.path.join(tmp, "qmp.sock")
    core = os.path.join(tmp, "guest.core")
    base = lay.qemu[1:] if lay else ["-m", "64M"]

    def qemu_argv(port):
        argv = [qemu] + base + ["-nodefaults", "-display", "none", "-monitor", "none",
                                "-serial", "none", "-no-reboot",
                                "-qmp", "unix:%s,server=on,wait=off" % qsock,
                                "-gdb", "tcp:127.0.0.1:%d" % port]
        if guest:
            argv += ["-kernel", a.kernel]
        else:
            argv += ["-S"]
        return argv

    failures = []
    qlog = open(os.path.join(tmp, "qemu.log"), "w")
    q, qport = procs.start_listener(qemu_argv, "QEMU", stderr=qlog)
    try:
        qmp = QMP(qsock)
        if guest:
            time.sleep(1.0)  # boot, build nothing, reach the counter loop with paging on
            qmp.cmd("stop")
        qmp.cmd("dump-guest-memory", paging=False, protocol="file:" + core)
        os.chmod(core, 0o400)
        digest = sha(core)

        if guest:
            root = lay.roots[0]
            vas = []
            for m in lay.maps:
                # Device pages (the LAPIC) are not RAM: a dump has no bytes for them while
                # QEMU reads its registers, so they cannot compare.
                if m.root == root and not any(d[0] <= m.pa < d[0] + d[1] for d in lay.devices):
                    vas += [m.va, m.va + m.size - 32]
            vas += [h[1] for h in lay.holes if h[0] == root]
            pas = [lay.tables_base, lay.patterns[0][0]] if lay.patterns else [lay.tables_base]
        else:
            vas = [0xffff0, 0x7c00, 0xf0000]
            pas = [0xffff0, 0xfffffff0 - 0x20]

        # qemu-system-i386 writes EM_386 like qemu-system-x86_64 outside long mode.
        stub_args = ["--arch=i386"] if arch == "i386" else []
        if arch in SYSREGS:
            names = SYSREGS[arch]
            script = gdb_script(arch, qport, [], [], "\n".join("p/x $%s" % r for r in names))
            out = run_gdb(gdb, script, tmp, "sysregs")
            vals = [l.split("=")[1].strip() for l in out.splitlines() if l.startswith("$")]
            if len(vals) != len(names):
                raise RuntimeError("cannot read the system registers from QEMU:\n" + out)
            stub_args += ["--reg=%s=%s" % kv for kv in zip(names, vals)]
        slog = open(os.path.join(tmp, "rspstub.log"), "w")
        s, sport = procs.start_listener(
            lambda p: [a.rspstub, "--listen", "127.0.0.1:%d" % p] + stub_args + [core],
            "rspstub", stderr=slog)
        try:
            live = normalise(run_gdb(gdb, gdb_script(arch, qport, vas, pas), tmp, "live"))
            dump = normalise(run_gdb(gdb, gdb_script(arch, sport, vas, pas), tmp, "dump"))
            if not any(l.startswith(ARCHES[arch][1][0] + " ") for l in live):
                failures.append("GDB could not read registers from QEMU:\n" + "\n".join(live))
            if live != dump:
                import difflib
                failures.append("live and dump transcripts differ:\n" + "\n".join(
                    difflib.unified_diff(live, dump, "live", "dump", lineterm="")))
            else:
                print("live == dump: %d lines (registers, %d VAs, %d PAs)" %
                      (len(live), len(vas), len(pas)))

            # Writes go to the overlay: visible through the stub, absent from the file.
            va = vas[0]
            extra = ("set {unsigned char}%#x = 0x5a\nx/1xb %#x\nmonitor info\n" % (va, va))
            out = run_gdb(gdb, gdb_script(arch, sport, [], [], extra), tmp, "write")
            if "0x5a" not in out.split("set {unsigned char}")[-1]:
                failures.append("write through rspstub not visible:\n" + out)
            if "overlay: 1 page(s) written" not in out:
                failures.append("monitor info does not show the overlay page:\n" + out)
            if sha(core) != digest:
                failures.append("the dump file changed")
            else:
                print("the dump file is unchanged after a write")

            if a.bridge and guest:
                sample = [m.va for m in lay.maps if m.root == root][:6]
                sample += [h[1] for h in lay.holes if h[0] == root][:3]
                bl = bridge_answers(a.bridge, qport, gdb, tmp, "bridge_live", sample)
                bd = bridge_answers(a.bridge, sport, gdb, tmp, "bridge_dump", sample)
                if bl != bd or not bl:
                    import difflib
                    failures.append("bridge answers differ (live vs dump):\n" + "\n".join(
                        difflib.unified_diff(bl, bd, "live", "dump", lineterm="")))
                else:
                    print("bridge vtop/pte/maps: live == dump (%d lines)" % len(bl))
        finally:
            procs.reap(s)
        qmp.close()
    finally:
        procs.reap(q)
        if not a.keep and not failures:
            for n in os.listdir(tmp):
                os.unlink(os.path.join(tmp, n))
            os.rmdir(tmp)
    for f in failures:
        print("FAIL:", f)
    if failures:
        print("(transcripts in %s)" % tmp)
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except procs.Skip as e:
        print("SKIP:", e)
        sys.exit(1 if os.environ.get("RSP_NO_SKIP") == "1" else procs.SKIP)
