"""QEMU's `info mem` and `info tlb` answered by rspbridge (runs inside GDB; runner.py
--bridge ...).

x86: the commands still reach QEMU, and the bridge's own rendering (`info mem --bridge`,
`info tlb --bridge`) equals QEMU's output byte for byte, with paging off and at the stop.
Every guest: the bridge's `info mem` is the text the layout implies (ranges of the same
effective user/write permission, QEMU's x86 line format and its 48/57-bit index space on
x86-64), and its `info tlb` lists exactly the layout's leaves with their PAs and own U/W
bits.  AArch64 and RISC-V: plain `monitor info mem` / `info tlb` are the bridge's; RISC-V's
own `info mem` stays reachable with --target.
"""

import re

import gdbside


def expected_mem(L):
    """The `info mem` text of the live root, from the layout alone."""
    root, mode = L.roots[0], L.mode
    bits = {"x86_64": 48, "x86_64_la57": 57}.get(mode.name)

    def key(va):
        return va & ((1 << bits) - 1) if bits else va

    def canon(a):
        if bits and a >> (bits - 1) & 1:
            return (a | -(1 << bits)) & ((1 << 64) - 1)
        return a

    ranges = []
    for m in sorted((m for m in L.maps if m.root == root), key=lambda m: key(m.va)):
        f = L.effective(m.va, root)
        prot = ("u" if "u" in f else "-", "w" if "w" in f else "-")
        k = key(m.va)
        if ranges and ranges[-1][1] == k and ranges[-1][2] == prot:
            ranges[-1][1] = k + m.size
        else:
            ranges.append([k, k + m.size, prot])
    return "".join(
        "%016x-%016x %016x %sr%s\r\n"
        % (canon(s), canon(e & ((1 << 64) - 1)), canon((e - s) & ((1 << 64) - 1)), p[0], p[1])
        for s, e, p in ranges
    )


def tlb_entries(t, text):
    """{va: (pa, flags)} of `info tlb` lines; any other line fails."""
    out = {}
    for line in text.replace("\r", "").splitlines():
        m = re.fullmatch(r"([0-9a-f]{16}): ([0-9a-f]{16}) ([-X][-G][-P][-D][-A][-C][-T][-U][-W])", line)
        if not t.check(m is not None, "info tlb: unexpected line %r" % line):
            continue
        out[int(m.group(1), 16)] = (int(m.group(2), 16), m.group(3))
    return out


def main(t):
    t.connect()
    L = t.layout
    x86 = L.mode.family == "x86"
    # Paging off at reset (x86: the BIOS; the others: _start).
    ours = t.gdb("monitor info mem --bridge")
    t.check(ours == "PG disabled\r\n", "info mem --bridge with paging off: %r" % ours)
    if x86:
        qemu = t.gdb("monitor info mem")
        t.check(qemu == ours, "paging off: QEMU says %r, the bridge %r" % (qemu, ours))

    t.to_stop()
    mem = t.gdb("monitor info mem --bridge")
    tlb = t.gdb("monitor info tlb --bridge")
    want = expected_mem(L)
    t.check(mem == want, "info mem --bridge:\n%s\nlayout:\n%s" % (mem, want))
    if x86:
        for cmd, ours in (("info mem", mem), ("info tlb", tlb)):
            # QEMU 7.2's `info mem` under LA57 tests PDPTEs and PDEs for presence the
            # wrong way round (mem_info_la57): it skips the mappings and walks PA 0 as
            # tables for seconds.  The layout is the reference there.
            if cmd == "info mem" and L.mode.name == "x86_64_la57":
                continue
            qemu = t.gdb("monitor " + cmd)
            if not t.check(qemu == ours, "%s: the bridge's rendering differs from QEMU's" % cmd):
                for a, b in zip(qemu.splitlines(), ours.splitlines()):
                    if a != b:
                        print("  QEMU   %r\n  bridge %r" % (a, b))
                        break
    else:
        # Plain commands are the bridge's on AArch64 and RISC-V.
        t.check(t.gdb("monitor info mem") == mem, "monitor info mem is not the bridge's rendering")
        t.check(t.gdb("monitor info tlb") == tlb, "monitor info tlb is not the bridge's rendering")
        if L.mode.family == "riscv":
            own = t.gdb("monitor info mem --target")
            t.check("vaddr" in own, "info mem --target: not QEMU's RISC-V info mem: %r" % own[:200])

    got = tlb_entries(t, tlb)
    leaves = {}
    for lf in L.leaf_list():
        leaves[lf.va] = lf
    t.check(sorted(got) == sorted(leaves), "info tlb VAs: %d lines, layout %d leaves; extra %s, missing %s" % (
        len(got), len(leaves),
        [hex(v) for v in sorted(set(got) - set(leaves))][:8],
        [hex(v) for v in sorted(set(leaves) - set(got))][:8]))
    for va, lf in leaves.items():
        if va not in got:
            continue
        pa, f = got[va]
        # QEMU's PA column: PAE keeps NX (bit 63) in it; 32-bit paging drops the PSE-36
        # bits of a 4 MiB page (PA 39:32).
        mask = {"i386_pae": (1 << 52) - 1, "i386": 0xFFFFFFFF}.get(L.mode.name, (1 << 64) - 1)
        t.check(pa & mask == lf.pa & mask, "info tlb %#x: PA %#x, layout %#x" % (va, pa, lf.pa))
        t.check((f[7] == "U") == ("u" in lf.flags), "info tlb %#x: U %s, layout flags %s" % (va, f, lf.flags))
        t.check((f[8] == "W") == ("w" in lf.flags), "info tlb %#x: W %s, layout flags %s" % (va, f, lf.flags))
    t.log("info mem: %d ranges as the layout says; info tlb: %d leaves" % (want.count("\n"), len(got)))


gdbside.run(main)
