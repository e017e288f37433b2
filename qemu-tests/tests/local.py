"""The local physical backend (rspbridge --qemu-pid): guest RAM read straight from QEMU's
process.  With --qemu-pid 1 the backend must notice it is not the target's QEMU and stay
off, everything then going over RSP.  Physical reads of RAM agree with the layout's byte patterns and with QEMU's `xp`
and ask nothing upstream (the upstream request count stays put), a write is read back,
MMIO and holes answer as over RSP.  `phys read --file` saves the same bytes in --save-dir,
never overwriting, and a read into MMIO leaves no file."""

import os
import random

import gdbside


def stats(t):
    j, ok = t.monitor_json("cache stats")
    t.require(ok, "cache stats: %s" % j)
    return j["upstream_requests"]


def phys_json(t, pa, n):
    j, ok = t.monitor_json("phys read %#x %#x" % (pa, n))
    return j, ok


def main(t):
    t.connect()
    t.to_stop()
    L = t.layout
    base, size = L.patterns[0]
    # The first physical read of the connection sets the backend up (gpa2hva, a check read).
    j, ok = phys_json(t, base, 8)
    t.require(ok, "phys read: %s" % j)
    t.gdb("monitor cache flush")
    before = stats(t)
    j, ok = phys_json(t, base, size)
    after = stats(t)
    t.require(ok and int(j["len"], 16) == size, "phys read of the patterns: %s" % str(j)[:200])
    data = bytes.fromhex(j["data"])
    bad = [pa for pa in range(base, base + size, 8) if int.from_bytes(data[pa - base : pa - base + 8], "little") != L.pattern_word(pa)]
    t.check(not bad, "phys read: %d words differ from the layout's patterns (first at %#x)" % (len(bad), bad[0] if bad else 0))
    # Over RSP this read is 0x10000 / 0x800 = 32 requests and a mode switch; locally none
    # (cache stats itself is not counted: it answers from the bridge).
    # With --qemu-pid 1 (not this target's QEMU) the backend must stay off: all over RSP.
    wrong = "--qemu-pid 1" in os.environ.get("RSPT_BRIDGE_ARGS", "")
    if wrong:
        t.check(after - before >= size // 0x800, "--qemu-pid 1: only %d requests upstream" % (after - before))
    else:
        t.check(after - before < 4, "phys read of %#x bytes asked %d requests upstream: the local backend is off" % (size, after - before))
    t.log("phys read of %#x bytes: %d upstream requests" % (size, after - before))

    # A random sample of RAM against QEMU's own xp.
    rnd = random.Random(t.seed)
    rbase, rsize = max(L.ram, key=lambda r: r[1])
    for _ in range(8):
        pa = rbase + rnd.randrange(0, rsize - 0x100) & ~7
        j, ok = phys_json(t, pa, 0x40)
        t.check(ok, "phys read %#x: %s" % (pa, j))
        if ok:
            words = [int.from_bytes(bytes.fromhex(j["data"])[i : i + 8], "little") for i in range(0, 0x40, 8)]
            t.check(words == t.xp(pa, 8), "phys read %#x disagrees with xp" % pa)

    # Written over RSP, read back locally (and by xp); then restored.
    at = base + 0x100
    old = bytes.fromhex(phys_json(t, at, 8)[0]["data"])
    new = bytes(range(0xA0, 0xA8))
    out, ok = t.monitor_full("phys write %#x %s" % (at, new.hex()))
    t.check(ok, "phys write: %r" % out)
    j, ok = phys_json(t, at, 8)
    t.check(ok and bytes.fromhex(j["data"]) == new, "after phys write, phys read gave %s" % j)
    t.check(t.xp(at, 1)[0] == int.from_bytes(new, "little"), "after phys write, xp disagrees")
    t.monitor_full("phys write %#x %s" % (at, old.hex()))

    # Saved raw in --save-dir: the layout's patterns, QEMU's xp; no file from a read that stops.
    sd = os.environ["RSPT_SAVE_DIR"]
    out, ok = t.monitor_full("phys read %#x %#x --file pat.bin" % (base, size))
    t.check(ok and "saved in %s/pat.bin" % sd in out, "phys read --file: %r" % out)
    with open(os.path.join(sd, "pat.bin"), "rb") as f:
        saved = f.read()
    t.check(saved == data, "phys read --file saved %d bytes unlike phys read's %d" % (len(saved), len(data)))
    t.check(int.from_bytes(saved[0x200:0x208], "little") == t.xp(base + 0x200, 1)[0], "saved bytes disagree with xp")
    out, ok = t.monitor_full("phys read %#x 8 --file pat.bin" % base)
    t.check(not ok and "never overwritten" in out, "phys read --file over an existing file: %r" % out)
    dev = L.devices[0][0]
    out, ok = t.monitor_full("phys read %#x 0x10 --file dev.bin" % dev)
    t.check(not ok and "I/O region" in out and not os.path.exists(os.path.join(sd, "dev.bin")),
            "phys read --file of MMIO: %r" % out)
    t.log("phys read --file: %#x bytes saved, the same as phys read" % len(saved))

    # MMIO is never read, holes are not RAM: the same answers as over RSP.
    for pa, why in ((L.devices[0][0], "I/O region"), (0xE0000000, "no physical page")):
        j, ok = phys_json(t, pa, 0x10)
        t.check(not ok and "error" in j and why in j["error"], "phys read %#x: %s" % (pa, j))


gdbside.run(main)
