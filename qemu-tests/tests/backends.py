"""The bridge's physical-access backends other than QEMU's PhyMemMode, end to end (runs
inside GDB; runner.py --bridge ... --bridge-arg=--phys --bridge-arg=BACKEND):

- offset:OFF  physical memory read at virtual PA+OFF, as with a bare-metal stub: the
              layout's `giant` mapping (PA 0, 1 GiB, a linear map) provides OFF.  vtop, pte
              and phys read must give the same answers as with QEMU's physical mode.
- none        physical commands fail with a message naming the options; `monitor phys
              backend qemu` then switches to QEMU's physical mode at run time.
"""

import os

import gdbside

SAMPLE = 40


def hexint(s):
    return int(s, 16)


def check_answers(t, vas):
    """vtop/pte/phys read as the layout and xp say, for RAM-backed addresses."""
    L = t.layout
    keep = ~L.mode.mmu_bits & ((1 << 64) - 1)
    n = 0
    for va in vas:
        want = L.translate(va)
        j, ok = t.monitor_json("vtop %#x" % va)
        if want is None:
            t.check(not ok, "vtop %#x: %s, but it is unmapped" % (va, j))
            continue
        if not L.is_ram(want):
            continue
        t.check(ok and hexint(j["pa"]) == want, "vtop %#x: %s, want %#x" % (va, j, want))
        j, ok = t.monitor_json("pte %#x" % va)
        steps = L.walk(va)
        raws = [hexint(g["raw"]) & keep for g in j.get("levels", [])]
        t.check(ok and raws == [s.raw & keep for s in steps], "pte %#x: %s" % (va, j))
        n += 1
    base = L.patterns[0][0]
    for pa in (base, base + 0x3450):
        j, ok = t.monitor_json("phys read %#x 0x20" % pa)
        xp = b"".join(w.to_bytes(8, "little") for w in t.xp(pa, 4, 8))
        t.check(ok and bytes.fromhex(j["data"]) == xp, "phys read %#x: %s" % (pa, j))
    return n


def main(t):
    t.connect()
    t.to_stop()
    L = t.layout
    args = os.environ.get("RSPT_BRIDGE_ARGS", "")
    vas = L.sample_vas(SAMPLE, t.seed)
    if "offset:" in args:
        giant = next(m for m in L.maps if m.name == "giant" and m.pa == 0)
        off = int(args.split("offset:")[1].split()[0], 16)
        t.require(off == giant.va, "the offset must be the linear map's VA %#x" % giant.va)
        out = t.monitor("phys backend")
        t.check("offset" in out and "%#x" % off in out, "phys backend: %r" % out)
        n = check_answers(t, vas)
        t.log("offset backend at %#x: %d VAs agree" % (off, n))
    elif "none" in args:
        out, ok = t.monitor_full("phys read %#x 0x10" % L.patterns[0][0])
        t.check(not ok and "qemu" in out and "offset" in out, "phys read with no backend: %r" % out)
        j, ok = t.monitor_json("vtop %#x" % L.maps[0].va)
        t.check(not ok, "vtop with no backend succeeded: %s" % j)
        t.monitor("phys backend qemu")
        n = check_answers(t, vas)
        t.log("no backend: clear errors; `phys backend qemu` at run time: %d VAs agree" % n)
    else:
        raise gdbside.Fail("backends.py needs --bridge-arg=--phys --bridge-arg=offset:OFF|none")


gdbside.run(main)
